//! The provider API (spec/provider-api.md) on hyper: the routes, requests and answers of
//! `mailpush-provider-api` over the hub.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, Response};
use mailpush_provider_api::{
    DeviceRegistration, DeviceSecret, DeviceToken, Error as ApiError, ErrorBody, ErrorCode,
    MAX_HEAD_LEN, MAX_PAYLOAD_LEN, Payload, PushHead, Route, Ttl, bearer, created, rate_limited,
    route,
};
use mailpush_push_proto::ring::DeviceRing;
use mailpush_push_proto::{Payload as RingPayload, ReasonCode};
use rand::RngCore;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::Clock;
use crate::hub::{Hub, SessionCommand, constant_time_eq, hash_secret, with_store};
use crate::store::DeviceRecord;
use crate::tls::TlsMaterial;

type HttpResponse = Response<Full<Bytes>>;

// What the provider API accepts, the device channel must carry (CHAN-5).
const _: () = assert!(MAX_PAYLOAD_LEN <= mailpush_push_proto::MAX_PAYLOAD_LEN);

/// Requests one HTTP/2 connection may have open at once; more are refused by the protocol
/// (`SETTINGS_MAX_CONCURRENT_STREAMS`).
pub const MAX_CONCURRENT_STREAMS: u32 = 256;

/// Flow-control window of one HTTP/2 request body: room for a whole payload, no more.
pub const STREAM_WINDOW: u32 = 2 * MAX_PAYLOAD_LEN as u32;

/// Flow-control window of one HTTP/2 connection: every stream's window at once.
pub const CONNECTION_WINDOW: u32 = MAX_CONCURRENT_STREAMS * STREAM_WINDOW;

fn refuse(code: ErrorCode, message: &str) -> Response<Bytes> {
    ErrorBody::new(code, message).to_response()
}

/// The answer to a request fault found by `mailpush-provider-api`.
fn refuse_for(error: &ApiError) -> Response<Bytes> {
    error
        .to_body()
        .map_or_else(internal, |body| body.to_response())
}

fn internal() -> Response<Bytes> {
    refuse(
        ErrorCode::InternalError,
        "the server failed; nothing was accepted",
    )
}

fn unauthorized(message: &str) -> Response<Bytes> {
    refuse(ErrorCode::Unauthorized, message)
}

fn bearer_matches(headers: &HeaderMap, tokens: &[String]) -> bool {
    let Some(given) = bearer(headers) else {
        return false;
    };
    // Check every token so the time taken does not say which one nearly matched.
    tokens.iter().fold(false, |found, t| {
        found | constant_time_eq(t.as_bytes(), given.as_bytes())
    })
}

/// The device token of a path: exactly `device-token`, 64 lowercase hexadecimal characters;
/// the refusal of anything else.
fn path_token(segment: &str) -> Result<DeviceToken, Box<Response<Bytes>>> {
    DeviceToken::parse(segment).map_err(|_| {
        Box::new(refuse(
            ErrorCode::BadRequest,
            "a device token is 64 lowercase hexadecimal characters",
        ))
    })
}

/// Routes one request (PROV-35) and answers it. Any body type, so that requests can be handed
/// in without a socket (the `fuzzing` feature does).
pub async fn handle<B>(hub: Arc<Hub>, clock: Clock, request: Request<B>) -> HttpResponse
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    //= spec/provider-api.md#PROV-34
    //# The route comes first
    let response = match route(&parts.method, parts.uri.path()) {
        Err(refusal) => refusal.to_response(),
        Ok(Route::Push { token }) => push(&hub, clock, token, headers, body).await,
        Ok(Route::Register) => register(&hub, clock, headers, body).await,
        Ok(Route::Unregister { token }) => unregister(&hub, clock, token, headers).await,
        Ok(Route::Metrics) => metrics(&hub, headers),
    };
    response.map(Full::new)
}

/// Why a body was not read whole.
enum BodyRefused {
    /// It has more than the limit.
    TooLarge,
    /// The connection failed while it arrived.
    Failed,
}

/// Reads a body of at most `limit` octets, stopping at the first octet beyond.
async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, BodyRefused>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(BodyRefused::TooLarge),
        Err(_) => Err(BodyRefused::Failed),
    }
}

//= spec/provider-api.md#PROV-34
//# a push: its credentials ([PROV-2](#PROV-2)); the syntax of the device token (`400`
//# `bad-request`); `TTL` ([PROV-4](#PROV-4)); `Topic` ([PROV-5](#PROV-5)); `Urgency`
//# ([PROV-6](#PROV-6)); `Content-Type` ([PROV-8](#PROV-8)); a `Content-Length` over 4096
//# ([PROV-7](#PROV-7)); a body over 4096 octets ([PROV-7](#PROV-7)); the payload's shape
//# ([PROV-8](#PROV-8)); a device never registered ([PROV-10](#PROV-10)) or unregistered
//# ([PROV-11](#PROV-11)); the rate limit ([PROV-12](#PROV-12));
async fn push<B>(
    hub: &Arc<Hub>,
    clock: Clock,
    token: &str,
    headers: &HeaderMap,
    body: B,
) -> Response<Bytes>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    //= spec/provider-api.md#PROV-2
    //# A missing, malformed or unknown token MUST be answered `401` with a
    //# `WWW-Authenticate: Bearer` header and an error body
    if !bearer_matches(headers, &hub.settings.provider_tokens) {
        return unauthorized("a valid provider bearer token is required");
    }
    let token = match path_token(token) {
        Ok(token) => token,
        Err(refusal) => return *refusal,
    };
    let head = match PushHead::parse(headers) {
        Ok(head) => head,
        Err(error) => return refuse_for(&error),
    };
    //= spec/provider-api.md#PROV-7
    //# and otherwise MUST stop reading
    //# at the 4097th octet.
    let body = match read_body(body, MAX_PAYLOAD_LEN).await {
        Ok(body) => body,
        Err(BodyRefused::TooLarge) => return refuse_for(&ApiError::PayloadTooLarge),
        Err(BodyRefused::Failed) => {
            return refuse(ErrorCode::BadRequest, "the body could not be read");
        }
    };
    //= spec/provider-api.md#PROV-8
    //# The server MUST answer a payload that is not JSON or
    //# lacks this shape `400` with error `bad-payload`
    let payload = match Payload::parse(&body) {
        Ok(payload) => payload,
        Err(error) => return refuse_for(&error),
    };
    let Ok(payload) = RingPayload::new(payload.to_bytes().to_vec()) else {
        return refuse_for(&ApiError::PayloadTooLarge);
    };
    let ttl = head.ttl.min(Ttl::from_secs(hub.settings.max_ttl_secs));
    let entry = match hub.device(token.as_str()).await {
        Ok(Some(entry)) => entry,
        //= spec/provider-api.md#PROV-10
        //# A push to a device token that was never registered MUST be answered `404` with
        //# error `unknown-device`.
        Ok(None) => return refuse(ErrorCode::UnknownDevice, "no device has this token"),
        Err(_) => return internal(),
    };
    let mut device = entry.lock().await;
    //= spec/provider-api.md#PROV-11
    //# A push to a device token that was registered and then unregistered MUST
    //# be answered `410` with error `unregistered`.
    if device.record.unregistered_at.is_some() {
        return refuse(ErrorCode::Unregistered, "the device unregistered");
    }
    let now = clock.now();
    //= spec/provider-api.md#PROV-12
    //# A request over the limit MUST be answered
    //# `429` with error `rate-limited` and a `Retry-After` header (seconds), and MUST NOT be stored.
    if let Err(retry_after) = device.rate_limit(&hub.settings, now) {
        return rate_limited(retry_after);
    }
    let mark_before = device.ring.meta().mark;
    let traced_payload = hub.settings.trace.is_on().then(|| payload.clone());
    let accepted = match device.ring.accept(now, ttl.secs(), head.topic, payload) {
        Ok(accepted) => accepted,
        Err(_) => return internal(),
    };
    if let Some(payload) = &traced_payload {
        crate::trace::accepted(
            &hub.settings.trace,
            token.as_str(),
            accepted.id.get(),
            payload,
            accepted.expired_at_once,
            &accepted.effects,
            (mark_before, device.ring.meta().mark),
        );
    }
    // The device's lock is not held across the commit, so its further pushes share it.
    let submitted = hub.submit(token.as_str(), &mut device, accepted.effects);
    let pending = hub.settle_now(&mut device, submitted, Some(accepted.id.get()));
    drop(device);
    //= spec/provider-api.md#PROV-9
    //# The server MUST
    //# NOT answer `201` before the notification is stored durably
    if let Err(submitted) = pending {
        // On a task of its own, so that a client closing its stream cannot cut it short: the
        // notification is sent to the device only once this has marked it durable.
        let settled = tokio::spawn({
            let hub = Arc::clone(hub);
            let token = token.clone();
            let id = accepted.id.get();
            async move {
                hub.settle(token.as_str(), &entry, submitted, Some(id))
                    .await
            }
        });
        if !matches!(settled.await, Ok(Ok(()))) {
            return internal();
        }
    }
    hub.metrics.accepted.fetch_add(1, Ordering::Relaxed);
    created(&token, accepted.id.get(), ttl)
}

fn random_octets() -> [u8; 32] {
    let mut octets = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut octets);
    octets
}

//= spec/provider-api.md#PROV-34
//# a registration: its credentials ([PROV-31](#PROV-31)); its body ([PROV-32](#PROV-32)); the cap
//# ([PROV-17](#PROV-17));
async fn register<B>(hub: &Arc<Hub>, clock: Clock, headers: &HeaderMap, body: B) -> Response<Bytes>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    //= spec/provider-api.md#PROV-31
    //# A registration whose `Authorization` is missing, malformed or
    //# names no registration token configured on the server MUST be answered `401` with error
    //# `unauthorized` and a `WWW-Authenticate: Bearer` header
    if !bearer_matches(headers, &hub.settings.registration_tokens) {
        return unauthorized("a valid registration bearer token is required");
    }
    //= spec/provider-api.md#PROV-32
    //# The server MUST
    //# answer a registration with a body `400` with error `bad-request`: without reading the body when
    //# `Content-Length` announces one, and otherwise at its first octet.
    if let Err(error) = DeviceRegistration::check_request(headers) {
        return refuse_for(&error);
    }
    match read_body(body, 0).await {
        Ok(_) => {}
        Err(BodyRefused::TooLarge) => return refuse_for(&ApiError::RegistrationBody),
        Err(BodyRefused::Failed) => {
            return refuse(ErrorCode::BadRequest, "the body could not be read");
        }
    }
    //= spec/provider-api.md#PROV-33
    //# tokens remembered after their unregistration ([PROV-11](#PROV-11)) MUST
    //# NOT count towards it
    let count = match with_store(&hub.store, |store| store.active_device_count()).await {
        Ok(count) => count,
        Err(_) => return internal(),
    };
    //= spec/provider-api.md#PROV-17
    //# and MUST answer a registration over the cap `503` with error
    //# `registration-limit`.
    if count >= hub.settings.max_devices {
        return refuse(
            ErrorCode::RegistrationLimit,
            "the server holds as many devices as it may",
        );
    }
    //= spec/provider-api.md#PROV-15
    //# The token MUST
    //# be 64 lowercase hexadecimal characters and the secret 64 lowercase hexadecimal characters, both
    //# from 256 random bits of a cryptographically secure generator.
    let registration = DeviceRegistration {
        token: DeviceToken::from_octets(random_octets()),
        secret: DeviceSecret::from_octets(random_octets()),
    };
    let record = DeviceRecord {
        token: registration.token.as_str().to_owned(),
        secret_hash: hash_secret(registration.secret.as_str()),
        created_at: clock.now(),
        unregistered_at: None,
    };
    if hub.register(record).await.is_err() {
        return internal();
    }
    registration.to_response()
}

//= spec/provider-api.md#PROV-34
//# an unregistration: the syntax of the device token (`400` `bad-request`); a token never
//# registered (`404` `unknown-device`); the secret ([PROV-16](#PROV-16)); a token already
//# unregistered (`410` `unregistered`);
async fn unregister(
    hub: &Arc<Hub>,
    clock: Clock,
    token: &str,
    headers: &HeaderMap,
) -> Response<Bytes> {
    let token = match path_token(token) {
        Ok(token) => token,
        Err(refusal) => return *refusal,
    };
    let entry = match hub.device(token.as_str()).await {
        Ok(Some(entry)) => entry,
        Ok(None) => return refuse(ErrorCode::UnknownDevice, "no device has this token"),
        Err(_) => return internal(),
    };
    let mut device = entry.lock().await;
    //= spec/provider-api.md#PROV-16
    //# a wrong or missing secret MUST be answered `401`.
    let secret_ok = bearer(headers).is_some_and(|secret| {
        constant_time_eq(
            hash_secret(secret).as_bytes(),
            device.record.secret_hash.as_bytes(),
        )
    });
    if !secret_ok {
        return unauthorized("the device secret is required");
    }
    if device.record.unregistered_at.is_some() {
        return refuse(ErrorCode::Unregistered, "the device unregistered");
    }
    if mailpush_mutants::active(mailpush_mutants::Mutant::UnregisterIgnored) {
        return no_content();
    }
    let now = clock.now();
    let owned = token.as_str().to_owned();
    if with_store(&hub.store, move |store| store.unregister(&owned, now))
        .await
        .is_err()
    {
        return internal();
    }
    //= spec/provider-api.md#PROV-16
    //# On success the
    //# server MUST answer `204`, delete the device's ring ([RING-10](device-channel.md#RING-10)), close
    //# its session with `CLOSE` code `unregistered`, and from then on answer pushes to the token `410`.
    device.record.unregistered_at = Some(now);
    device.ring = DeviceRing::new(hub.settings.ring_capacity);
    if let Some(session) = device.session.take() {
        hub.metrics.sessions.fetch_sub(1, Ordering::Relaxed);
        let _ = session
            .commands
            .send(SessionCommand::Close(ReasonCode::Unregistered));
    }
    no_content()
}

fn no_content() -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = hyper::StatusCode::NO_CONTENT;
    response
}

//= spec/provider-api.md#PROV-26
//# The server SHOULD answer `GET /metrics`, authenticated as in [PROV-2](#PROV-2), with
//# counters in the Prometheus text format
fn metrics(hub: &Hub, headers: &HeaderMap) -> Response<Bytes> {
    if !bearer_matches(headers, &hub.settings.provider_tokens) {
        return unauthorized("a valid provider bearer token is required");
    }
    let m = &hub.metrics;
    let counters = [
        ("mailpush_push_accepted_total", "counter", &m.accepted),
        ("mailpush_push_delivered_total", "counter", &m.delivered),
        ("mailpush_push_acked_total", "counter", &m.acked),
        ("mailpush_ring_dropped_total", "counter", &m.dropped),
        ("mailpush_ring_expired_total", "counter", &m.expired),
        ("mailpush_ring_replaced_total", "counter", &m.replaced),
        ("mailpush_sessions", "gauge", &m.sessions),
        ("mailpush_device_connections", "gauge", &m.connections),
    ];
    let mut text = String::new();
    for (name, kind, value) in counters {
        text.push_str(&format!(
            "# TYPE {name} {kind}\n{name} {}\n",
            value.load(Ordering::Relaxed)
        ));
    }
    let mut response = Response::new(Bytes::from(text));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

/// Serves the provider API until `shutdown` turns true.
pub async fn run_listener(
    listener: TcpListener,
    tls: Option<TlsMaterial>,
    hub: Arc<Hub>,
    clock: Clock,
    shutdown: watch::Receiver<bool>,
) {
    crate::accept_loop(
        listener,
        "provider api",
        shutdown,
        move |socket, _, shutdown| {
            let hub = Arc::clone(&hub);
            let tls = tls.clone();
            async move {
                match tls {
                    Some(tls) => {
                        if let Ok(stream) = tls.acceptor.accept(socket).await {
                            serve_http(stream, hub, clock, shutdown).await;
                        }
                    }
                    None => serve_http(socket, hub, clock, shutdown).await,
                }
            }
        },
    )
    .await;
}

async fn serve_http<S>(stream: S, hub: Arc<Hub>, clock: Clock, mut shutdown: watch::Receiver<bool>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| {
        let hub = Arc::clone(&hub);
        async move { Ok::<_, Infallible>(handle(hub, clock, request).await) }
    });
    let builder = connection_builder();
    let connection = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = shutdown.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// HTTP/1.1 and HTTP/2 on one listener: after TLS with ALPN `h2` or `http/1.1`, and on plain
/// loopback HTTP/2 with prior knowledge, told apart by the connection preface. The streams of
/// one HTTP/2 connection are served concurrently, so the pushes of one provider connection share
/// a commit of the store instead of queueing behind each other's.
//= spec/provider-api.md#PROV-1
//# The provider API MUST be served over HTTPS (HTTP/1.1 or later over TLS 1.2 or
//# later).
fn connection_builder() -> hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor> {
    let mut builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    //= spec/provider-api.md#PROV-3
    //# The server MUST bound the size of the request line and headers (16 KiB in
    //# total by default) and of every body
    //= spec/provider-api.md#PROV-30
    //# Over HTTP/1.1 the size of a head is that of its request line and header
    //# section as received, and the server MUST answer as soon as it holds more of an unfinished head
    //# than the bound, without waiting for the rest; it then closes the connection.
    // hyper answers `431` once its read buffer holds this much of an unfinished head. No
    // `pipeline_flush`: with it, hyper drops that answer (and any pipelined answer still
    // buffered) when it closes the connection after a head it could not parse.
    builder.http1().max_buf_size(MAX_HEAD_LEN);
    //= spec/provider-api.md#PROV-30
    //# Over HTTP/2 the size
    //# is that of the header list as `SETTINGS_MAX_HEADER_LIST_SIZE` counts it (RFC 9113 §6.5.2), the
    //# server MUST advertise its bound in that setting
    builder
        .http2()
        .max_header_list_size(MAX_HEAD_LEN as u32)
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        // A body is read only up to its bound, so a stream's window need not be larger than
        // one body: unread octets a client may push ahead stay bounded per stream and, through
        // the connection window, per connection.
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW);
    builder
}
