//! The provider API (spec/provider-api.md) on hyper: the decisions of `mailpush-push-core`
//! over the hub, its devices and its store.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;
use hyper::header::HeaderMap;
use hyper::{Request, Response};
use mailpush_provider_api::{
    DeviceRegistration, DeviceSecret, DeviceToken, MAX_HEAD_LEN, MAX_PAYLOAD_LEN,
};
use mailpush_push_core::{
    BodyFault, DeviceStatus, Provider, Push, PushStart, Step, hash_secret, internal, metrics,
    registration_body, unregistered,
};
use mailpush_push_proto::ReasonCode;
use mailpush_push_proto::ring::DeviceRing;
use rand::RngCore;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::Clock;
use crate::hub::{Hub, SessionCommand, with_store};
use crate::store::DeviceRecord;
use crate::tls::TlsMaterial;

type HttpResponse = Response<Full<Bytes>>;

/// Requests one HTTP/2 connection may have open at once; more are refused by the protocol
/// (`SETTINGS_MAX_CONCURRENT_STREAMS`).
pub const MAX_CONCURRENT_STREAMS: u32 = 256;

/// Flow-control window of one HTTP/2 request body: room for a whole payload, no more.
pub const STREAM_WINDOW: u32 = 2 * MAX_PAYLOAD_LEN as u32;

/// Flow-control window of one HTTP/2 connection: every stream's window at once.
pub const CONNECTION_WINDOW: u32 = MAX_CONCURRENT_STREAMS * STREAM_WINDOW;

fn provider(hub: &Hub) -> Provider<'_> {
    Provider {
        provider_tokens: &hub.settings.provider_tokens,
        registration_tokens: &hub.settings.registration_tokens,
        max_ttl_secs: hub.settings.max_ttl_secs,
        max_devices: hub.settings.max_devices,
    }
}

/// Answers one request: the decisions are `mailpush-push-core`'s, this reads the body, looks
/// devices up in the hub and stores what is accepted. Any body type, so that requests can be
/// handed in without a socket.
pub async fn handle<B>(hub: Arc<Hub>, clock: Clock, request: Request<B>) -> HttpResponse
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = request.into_parts();
    let step = provider(&hub).request(&parts.method, parts.uri.path(), &parts.headers);
    let response = match step {
        Step::Answer(response) => response,
        Step::Push(start) => {
            let body = read_body(body, PushStart::BODY_LIMIT).await;
            match start.body(body) {
                Ok(push) => accept_push(&hub, clock, push).await,
                Err(refusal) => *refusal,
            }
        }
        Step::Register => {
            match registration_body(read_body(body, Step::REGISTRATION_BODY_LIMIT).await) {
                Ok(()) => register(&hub, clock).await,
                Err(refusal) => *refusal,
            }
        }
        Step::Unregister { token } => unregister(&hub, clock, token, &parts.headers).await,
        Step::Metrics => metrics_of(&hub),
    };
    response.map(Full::new)
}

/// Reads a body of at most `limit` octets, stopping at the first octet beyond.
async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, BodyFault>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(BodyFault::TooLarge),
        Err(_) => Err(BodyFault::Failed),
    }
}

fn status_of(record: &DeviceRecord) -> DeviceStatus {
    if record.unregistered_at.is_some() {
        DeviceStatus::Unregistered
    } else {
        DeviceStatus::Registered
    }
}

async fn accept_push(hub: &Arc<Hub>, clock: Clock, push: Push) -> Response<Bytes> {
    let token = push.token.clone();
    let entry = match hub.device(token.as_str()).await {
        Ok(Some(entry)) => entry,
        Ok(None) => {
            return push
                .admit(DeviceStatus::Unknown, || Ok(()))
                .err()
                .map_or_else(internal, |refusal| *refusal);
        }
        Err(_) => return internal(),
    };
    let mut device = entry.lock().await;
    let now = clock.now();
    let status = status_of(&device.record);
    if let Err(refusal) = push.admit(status, || device.rate_limit(&hub.settings, now)) {
        return *refusal;
    }
    let mark_before = device.ring.meta().mark;
    let traced_payload = hub.settings.trace.is_on().then(|| push.payload.clone());
    let accepted = match device.ring.accept(
        now,
        push.ttl.secs(),
        push.topic.clone(),
        push.payload.clone(),
    ) {
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
    push.created(accepted.id.get())
}

fn random_octets() -> [u8; 32] {
    let mut octets = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut octets);
    octets
}

async fn register(hub: &Arc<Hub>, clock: Clock) -> Response<Bytes> {
    //= spec/provider-api.md#PROV-33
    //# tokens remembered after their unregistration ([PROV-11](#PROV-11)) MUST
    //# NOT count towards it
    let count = match with_store(&hub.store, |store| store.active_device_count()).await {
        Ok(count) => count,
        Err(_) => return internal(),
    };
    if let Err(refusal) = provider(hub).registration_cap(count) {
        return *refusal;
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

async fn unregister(
    hub: &Arc<Hub>,
    clock: Clock,
    token: DeviceToken,
    headers: &HeaderMap,
) -> Response<Bytes> {
    let entry = match hub.device(token.as_str()).await {
        Ok(entry) => entry,
        Err(_) => return internal(),
    };
    let mut device = match &entry {
        Some(entry) => Some(entry.lock().await),
        None => None,
    };
    let facts = device
        .as_ref()
        .map(|d| (status_of(&d.record), d.record.secret_hash.as_str()));
    if let Err(refusal) = provider(hub).unregistration(headers, facts) {
        return *refusal;
    }
    if mailpush_mutants::active(mailpush_mutants::Mutant::UnregisterIgnored) {
        return unregistered();
    }
    let Some(device) = device.as_mut() else {
        return internal();
    };
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
    unregistered()
}

fn metrics_of(hub: &Hub) -> Response<Bytes> {
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
    ]
    .map(|(name, kind, value)| (name, kind, value.load(Ordering::Relaxed)));
    metrics(&counters)
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
