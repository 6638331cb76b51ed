//! The provider API (spec/provider-api.md) on hyper.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use mailpush_push_proto::ring::{DeviceRing, Topic};
use mailpush_push_proto::{MAX_PAYLOAD_LEN, Payload, ReasonCode};
use rand::RngCore;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::Clock;
use crate::hub::{Hub, SessionCommand, constant_time_eq, hash_secret, with_store};
use crate::store::DeviceRecord;
use crate::tls::TlsMaterial;

type HttpResponse = Response<Full<Bytes>>;

/// Bound on the request line and headers.
//= spec/provider-api.md#PROV-3
//# The server MUST bound the size of the request line and headers (16 KiB in
//# total by default)
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Requests one HTTP/2 connection may have open at once; more are refused by the protocol
/// (`SETTINGS_MAX_CONCURRENT_STREAMS`).
pub const MAX_CONCURRENT_STREAMS: u32 = 256;

/// Flow-control window of one HTTP/2 request body: room for a whole payload, no more.
pub const STREAM_WINDOW: u32 = 2 * MAX_PAYLOAD_LEN as u32;

/// Flow-control window of one HTTP/2 connection: every stream's window at once.
pub const CONNECTION_WINDOW: u32 = MAX_CONCURRENT_STREAMS * STREAM_WINDOW;

/// An error response with the JSON body of PROV-13.
//= spec/provider-api.md#PROV-13
//# Every response with a status of 400 or above MUST carry `Content-Type:
//# application/json` and a body of this shape
pub fn error_response(status: StatusCode, error: &str, message: &str) -> HttpResponse {
    let body = serde_json::json!({
        "code": status.as_u16(),
        "error": error,
        "message": message,
    });
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn unauthorized(message: &str) -> HttpResponse {
    let mut response = error_response(StatusCode::UNAUTHORIZED, "unauthorized", message);
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

fn internal() -> HttpResponse {
    error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal-error",
        "the server failed; nothing was accepted",
    )
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
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

fn is_device_token(token: &str) -> bool {
    token.len() == 64
        && token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Routes one request.
pub async fn handle(hub: Arc<Hub>, clock: Clock, request: Request<Incoming>) -> HttpResponse {
    let path = request.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (request.method(), segments.as_slice()) {
        (&Method::POST, ["v1", "push", token]) => {
            let token = (*token).to_owned();
            push(&hub, clock, &token, request).await
        }
        (&Method::POST, ["v1", "devices"]) => register(&hub, clock, request.headers()).await,
        (&Method::DELETE, ["v1", "devices", token]) => {
            unregister(&hub, clock, token, request.headers()).await
        }
        (&Method::GET, ["metrics"]) => metrics(&hub, request.headers()),
        (_, ["v1", "push", _]) | (_, ["v1", "devices", ..]) | (_, ["metrics"]) => error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "method not defined for this resource",
        ),
        _ => error_response(StatusCode::NOT_FOUND, "not-found", "no such resource"),
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ()> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value.to_str().map(|v| Some(v.trim())).map_err(|_| ()),
    }
}

fn bad_request(error: &str, message: &str) -> HttpResponse {
    error_response(StatusCode::BAD_REQUEST, error, message)
}

/// Checks the payload shape of PROV-8.
//= spec/provider-api.md#PROV-8
//# The server MUST answer a payload that is not JSON or
//# lacks this shape `400` with error `bad-payload`
pub fn valid_payload(body: &[u8]) -> bool {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    let Some(aps) = value.get("aps").and_then(|a| a.as_object()) else {
        return false;
    };
    let account_ok = aps
        .get("account-id")
        .and_then(|a| a.as_str())
        .is_some_and(|a| (1..=255).contains(&a.chars().count()));
    let mailboxes_ok = aps.get("m").and_then(|m| m.as_array()).is_some_and(|m| {
        m.iter().all(|entry| {
            entry.as_str().is_some_and(|digest| {
                digest.len() == 32
                    && digest
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            })
        })
    });
    account_ok && mailboxes_ok
}

async fn push(
    hub: &Arc<Hub>,
    clock: Clock,
    token: &str,
    request: Request<Incoming>,
) -> HttpResponse {
    let headers = request.headers();
    //= spec/provider-api.md#PROV-2
    //# A missing, malformed or unknown token MUST be answered `401` with a
    //# `WWW-Authenticate: Bearer` header and an error body
    if !bearer_matches(headers, &hub.settings.provider_tokens) {
        return unauthorized("a valid provider bearer token is required");
    }
    if !is_device_token(token) {
        return bad_request(
            "bad-request",
            "a device token is 64 lowercase hex characters",
        );
    }
    //= spec/provider-api.md#PROV-4
    //# A request without it, or with a malformed one, MUST be answered `400` with error
    //# `missing-ttl` or `bad-ttl`.
    let ttl = match header_str(headers, "ttl") {
        Ok(None) => return bad_request("missing-ttl", "the TTL header is required"),
        Ok(Some(v)) if (1..=10).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit()) => {
            match v.parse::<u64>() {
                Ok(ttl) if ttl <= u64::from(u32::MAX) => ttl as u32,
                _ => return bad_request("bad-ttl", "TTL must be 0 to 4294967295 seconds"),
            }
        }
        _ => return bad_request("bad-ttl", "TTL must be a decimal number of seconds"),
    };
    let ttl = ttl.min(hub.settings.max_ttl_secs);
    //= spec/provider-api.md#PROV-5
    //# A malformed topic MUST be answered `400` with error `bad-topic`.
    let topic = match header_str(headers, "topic") {
        Ok(None) => None,
        Ok(Some(v)) => match Topic::new(v) {
            Ok(topic) => Some(topic),
            Err(_) => {
                return bad_request(
                    "bad-topic",
                    "Topic is 1 to 32 characters of A-Z a-z 0-9 - _",
                );
            }
        },
        Err(()) => {
            return bad_request(
                "bad-topic",
                "Topic is 1 to 32 characters of A-Z a-z 0-9 - _",
            );
        }
    };
    //= spec/provider-api.md#PROV-6
    //# A malformed urgency MUST be answered `400` with error `bad-urgency`.
    match header_str(headers, "urgency") {
        Ok(None | Some("very-low" | "low" | "normal" | "high")) => {}
        _ => return bad_request("bad-urgency", "Urgency is very-low, low, normal or high"),
    }
    let json = header_str(headers, "content-type")
        .ok()
        .flatten()
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    if !json {
        return bad_request("bad-content-type", "the payload must be application/json");
    }
    //= spec/provider-api.md#PROV-7
    //# when `Content-Length` announces more
    //# than 4096 octets the server MUST answer without reading the body, and otherwise MUST stop reading
    //# at the 4097th octet.
    let announced = header_str(headers, "content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_PAYLOAD_LEN as u64) {
        return too_large();
    }
    let body = match Limited::new(request.into_body(), MAX_PAYLOAD_LEN)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            if error
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return too_large();
            }
            return bad_request("bad-request", "the body could not be read");
        }
    };
    if !valid_payload(&body) {
        return bad_request(
            "bad-payload",
            "the payload must be {\"aps\":{\"account-id\":\"...\",\"m\":[\"<md5 hex>\", ...]}}",
        );
    }
    let Ok(payload) = Payload::new(body.to_vec()) else {
        return too_large();
    };
    let entry = match hub.device(token).await {
        Ok(Some(entry)) => entry,
        //= spec/provider-api.md#PROV-10
        //# A push to a device token that was never registered MUST be answered `404` with
        //# error `unknown-device`.
        Ok(None) => {
            return error_response(
                StatusCode::NOT_FOUND,
                "unknown-device",
                "no device has this token",
            );
        }
        Err(_) => return internal(),
    };
    let mut device = entry.lock().await;
    //= spec/provider-api.md#PROV-11
    //# A push to a device token that was registered and then unregistered MUST
    //# be answered `410` with error `unregistered`.
    if device.record.unregistered_at.is_some() {
        return error_response(StatusCode::GONE, "unregistered", "the device unregistered");
    }
    let now = clock.now();
    //= spec/provider-api.md#PROV-12
    //# A request over the limit MUST be answered
    //# `429` with error `rate-limited` and a `Retry-After` header (seconds), and MUST NOT be stored.
    if let Err(retry_after) = device.rate_limit(&hub.settings, now) {
        let mut response = error_response(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "too many pushes for this device",
        );
        if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    let accepted = match device.ring.accept(now, ttl, topic, payload) {
        Ok(accepted) => accepted,
        Err(_) => return internal(),
    };
    // The device's lock is not held across the commit, so its further pushes share it.
    let submitted = hub.submit(token, &mut device, accepted.effects);
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
            let token = token.to_owned();
            let id = accepted.id.get();
            async move { hub.settle(&token, &entry, submitted, Some(id)).await }
        });
        if !matches!(settled.await, Ok(Ok(()))) {
            return internal();
        }
    }
    hub.metrics.accepted.fetch_add(1, Ordering::Relaxed);
    created(token, accepted.id.get(), ttl)
}

fn too_large() -> HttpResponse {
    error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload-too-large",
        "the payload exceeds 4096 octets",
    )
}

fn created(token: &str, id: u64, ttl: u32) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::CREATED;
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/message/{token}/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response.headers_mut().insert("ttl", HeaderValue::from(ttl));
    response
}

fn random_hex() -> String {
    let mut octets = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut octets);
    hex::encode(octets)
}

async fn register(hub: &Arc<Hub>, clock: Clock, headers: &HeaderMap) -> HttpResponse {
    if !bearer_matches(headers, &hub.settings.registration_tokens) {
        return unauthorized("a valid registration bearer token is required");
    }
    let max = hub.settings.max_devices;
    let count = match with_store(&hub.store, |store| store.active_device_count()).await {
        Ok(count) => count,
        Err(_) => return internal(),
    };
    //= spec/provider-api.md#PROV-17
    //# and MUST answer a registration over the cap `503` with error
    //# `registration-limit`.
    if count >= max {
        return error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "registration-limit",
            "the server holds as many devices as it may",
        );
    }
    //= spec/provider-api.md#PROV-15
    //# The token MUST
    //# be 64 lowercase hexadecimal characters and the secret 64 lowercase hexadecimal characters, both
    //# from 256 random bits of a cryptographically secure generator.
    let token = random_hex();
    let secret = random_hex();
    let record = DeviceRecord {
        token: token.clone(),
        secret_hash: hash_secret(&secret),
        created_at: clock.now(),
        unregistered_at: None,
    };
    if hub.register(record).await.is_err() {
        return internal();
    }
    let body = serde_json::json!({
        "token": token,
        "secret": secret,
        "push": format!("/v1/push/{token}"),
    });
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = StatusCode::CREATED;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/devices/{token}")) {
        headers.insert(header::LOCATION, location);
    }
    response
}

async fn unregister(
    hub: &Arc<Hub>,
    clock: Clock,
    token: &str,
    headers: &HeaderMap,
) -> HttpResponse {
    if !is_device_token(token) {
        return bad_request(
            "bad-request",
            "a device token is 64 lowercase hex characters",
        );
    }
    let entry = match hub.device(token).await {
        Ok(Some(entry)) => entry,
        Ok(None) => {
            return error_response(
                StatusCode::NOT_FOUND,
                "unknown-device",
                "no device has this token",
            );
        }
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
        return error_response(StatusCode::GONE, "unregistered", "the device unregistered");
    }
    let now = clock.now();
    let owned = token.to_owned();
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
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

//= spec/provider-api.md#PROV-26
//# The server SHOULD answer `GET /metrics`, authenticated as in [PROV-2](#PROV-2), with
//# counters in the Prometheus text format
fn metrics(hub: &Hub, headers: &HeaderMap) -> HttpResponse {
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
    let mut response = Response::new(Full::new(Bytes::from(text)));
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
    builder
        .http1()
        .max_buf_size(MAX_HEADER_BYTES)
        // Pipelined requests get their responses in one write.
        .pipeline_flush(true);
    //= spec/provider-api.md#PROV-3
    //# The server MUST bound the size of the request line and headers (16 KiB in
    //# total by default) and of every body
    builder
        .http2()
        .max_header_list_size(MAX_HEADER_BYTES as u32)
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        // A body is read only up to its bound, so a stream's window need not be larger than
        // one body: unread octets a client may push ahead stay bounded per stream and, through
        // the connection window, per connection.
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW);
    builder
}
