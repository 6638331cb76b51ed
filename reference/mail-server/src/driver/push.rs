//! The notifier task: store changes in, provider-API requests out (spec/provider-api.md §5).
//!
//! The decisions (debounce, payloads, retries) are the sans-IO [`Notifier`]'s, the requests and
//! answers are `mailpush-provider-api`'s; this task looks up the registrations of each changed
//! mailbox, sends the notifier's requests with hyper-util's pooled client over rustls, and
//! carries out the notifier's events. The client keeps connections alive and speaks HTTP/2 to a
//! service that offers `h2` in ALPN (the mailpush push server does), HTTP/1.1 otherwise; a
//! request that a pooled connection closed before taking is retried on a new one. The push
//! resource template is parsed once, when the client is built, so a wrong push URL stops the
//! server at start. Sessions hand their changes over a bounded queue that never blocks them:
//! when it is full, changes are folded into a set of changed mailboxes that the task drains as
//! soon as it catches up, which loses nothing since the notifier merges changes per
//! registration anyway (PROV-19).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderValue, Uri, Version};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use mailpush_mail_notify::{
    Change as NotifyChange, ChangeKind as NotifyKind, Event as NotifyEvent, Notifier, Outcome,
    PushService, RegistrationKey, RequestId,
};
use mailpush_mail_store::{Change, ChangeKind, Store, UserId};
use mailpush_provider_api::{ErrorBody, PushResponse, authorization};
use tokio::sync::{Notify, Semaphore, mpsc, watch};

use super::MailServerError;

/// Where and how the mail server pushes.
#[derive(Debug, Clone)]
pub struct PushSettings {
    /// Base URL of the push service (`http://` on loopback or `https://`); with no
    /// [`PushSettings::resource_template`], device tokens go to `<base>/v1/push/<token>`.
    pub url: String,
    /// The push resource template (PROV-27): an `http://` or `https://` URL with `{token}`
    /// exactly once in its path, replaced by the device token in lowercase. `None` is
    /// `<url>/v1/push/{token}`, the mailpush push server's resource.
    pub resource_template: Option<String>,
    /// The provider token sent as `Authorization: Bearer` (PROV-2).
    pub provider_token: Option<String>,
    /// PEM certificates trusted for an `https://` push service besides the public certificate
    /// authorities (a private CA, a self-signed certificate).
    pub trust: Option<PathBuf>,
    /// Debounce and retry policy.
    pub notifier: mailpush_mail_notify::Config,
    /// Longest a request may take, connection included.
    pub request_timeout: Duration,
    /// Most idle connections kept open per origin of the push service.
    pub max_idle_per_origin: usize,
    /// Most requests in flight at once.
    pub max_in_flight: usize,
    /// Offer HTTP/2 in ALPN to an `https://` push service, besides HTTP/1.1.
    pub http2: bool,
    /// Most change batches waiting for the notifier; beyond, changes are merged per mailbox.
    pub queue_capacity: usize,
}

/// Default of [`PushSettings::queue_capacity`].
pub const DEFAULT_QUEUE_CAPACITY: usize = 65_536;

/// An idle pooled connection older than this is closed rather than reused: services close
/// theirs after a while, and a connection found closed costs a retry.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Most octets of a response body read; error bodies are far smaller (PROV-13).
const MAX_RESPONSE_BODY: usize = 64 * 1024;

// Every account ID a registration may hold fits a payload (XAPS-7, PROV-8).
const _: () = assert!(
    mailpush_mail_store::MAX_REGISTRATION_FIELD_LEN <= mailpush_provider_api::MAX_ACCOUNT_ID_LEN
);

impl PushSettings {
    /// Push settings for the push server at `url` with the default policy.
    pub fn new(url: &str, provider_token: Option<String>) -> Self {
        PushSettings {
            url: url.to_owned(),
            resource_template: None,
            provider_token,
            trust: None,
            notifier: mailpush_mail_notify::Config::default(),
            request_timeout: Duration::from_secs(10),
            max_idle_per_origin: 4,
            max_in_flight: 256,
            http2: true,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
        }
    }

    /// The push service that the resource template names, its URL parsed (PROV-27).
    pub(crate) fn service(&self) -> Result<PushService, MailServerError> {
        let template = self
            .resource_template
            .clone()
            .unwrap_or_else(|| PushService::default_template(&self.url));
        PushService::from_template(&template)
            .map_err(|e| MailServerError::Config(format!("push: {e}")))
    }

    /// Checks everything (policy, resource template, provider token, trusted certificates) and
    /// builds the HTTP client.
    pub(crate) fn client(&self) -> Result<HttpClient, MailServerError> {
        let config = |what: String| MailServerError::Config(format!("push: {what}"));
        self.notifier
            .validate()
            .map_err(|e| config(e.to_string()))?;
        let service = self.service()?;
        if self.queue_capacity == 0 || self.max_in_flight == 0 {
            return Err(config(
                "push_queue_capacity and the requests in flight must be at least 1".into(),
            ));
        }
        let authorization = match &self.provider_token {
            Some(token) => {
                Some(authorization(token).map_err(|e| config(format!("provider token: {e}")))?)
            }
            None => None,
        };
        let extra = match &self.trust {
            Some(path) => super::tls::read_certificates(path)?,
            None => Vec::new(),
        };
        let tls = mailpush_tls::connector_with_public_roots(&extra)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(self.request_timeout));
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls.config().as_ref().clone())
            .https_or_http()
            .enable_http1();
        let https = if self.http2 {
            builder.enable_http2().wrap_connector(http)
        } else {
            builder.wrap_connector(http)
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_max_idle_per_host(self.max_idle_per_origin)
            .pool_timer(TokioTimer::new())
            .build(https);
        Ok(HttpClient {
            client,
            service,
            authorization,
            timeout: self.request_timeout,
            in_flight: Arc::new(Semaphore::new(self.max_in_flight)),
            answered: Arc::new(AtomicU64::new(0)),
        })
    }
}

/// The sessions' end of the bounded queue to the notifier task.
#[derive(Clone)]
pub(crate) struct PushQueue {
    tx: mpsc::Sender<Vec<Change>>,
    overflow: Arc<Overflow>,
}

/// The notifier task's end of the queue.
pub(crate) struct QueueReceiver {
    rx: mpsc::Receiver<Vec<Change>>,
    overflow: Arc<Overflow>,
}

/// Changes that did not fit in the queue, merged per mailbox: at most one entry per mailbox
/// of the store, however many changes there were.
#[derive(Default)]
struct Overflow {
    dirty: Mutex<BTreeMap<(UserId, String), NotifyKind>>,
    wake: Notify,
    /// Change batches merged here rather than queued.
    merged: AtomicU64,
}

/// A change of a mailbox as the notifier sees it.
type Dirty = (UserId, String, NotifyKind);

fn push_kind(kind: &ChangeKind) -> Option<NotifyKind> {
    match kind {
        ChangeKind::Appended { .. } => Some(NotifyKind::NewMessage),
        ChangeKind::FlagsChanged { .. } => Some(NotifyKind::Flags),
        ChangeKind::Expunged { .. } => Some(NotifyKind::Expunge),
        _ => None,
    }
}

impl PushQueue {
    /// A queue holding at most `capacity` batches (at least one).
    pub(crate) fn new(capacity: usize) -> (PushQueue, QueueReceiver) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let overflow = Arc::new(Overflow::default());
        (
            PushQueue {
                tx,
                overflow: Arc::clone(&overflow),
            },
            QueueReceiver { rx, overflow },
        )
    }

    /// Hands `changes` to the notifier without waiting.
    pub(crate) fn send(&self, changes: Vec<Change>) {
        match self.tx.try_send(changes) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(changes)) => self.overflow.absorb(&changes),
            // The notifier is gone only when the server stops.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

impl Overflow {
    fn absorb(&self, changes: &[Change]) {
        let merged = self.merged.fetch_add(1, Ordering::Relaxed) + 1;
        let mut dirty = self
            .dirty
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if dirty.is_empty() {
            tracing::warn!(
                merged_batches = merged,
                "push queue full: merging changes per mailbox until the notifier catches up"
            );
        }
        for change in changes {
            let Some(kind) = push_kind(&change.kind) else {
                continue;
            };
            let entry = dirty
                .entry((change.user, change.mailbox_name.clone()))
                .or_insert(kind);
            // A new message makes the push `normal` (PROV-24): keep it over other kinds.
            if kind == NotifyKind::NewMessage {
                *entry = kind;
            }
        }
        drop(dirty);
        self.wake.notify_one();
    }

    fn drain(&self) -> Vec<Dirty> {
        let mut dirty = self
            .dirty
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::take(&mut *dirty)
            .into_iter()
            .map(|((user, mailbox), kind)| (user, mailbox, kind))
            .collect()
    }
}

/// The provider API's client: hyper-util's pooled client over rustls, and where pushes go.
pub(crate) struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    service: PushService,
    authorization: Option<HeaderValue>,
    timeout: Duration,
    in_flight: Arc<Semaphore>,
    /// Requests answered so far, for logs.
    answered: Arc<AtomicU64>,
}

/// What one request gave.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sent {
    outcome: Outcome,
    /// The HTTP version the answer came in.
    version: Option<Version>,
}

impl HttpClient {
    /// Sends `request` and reads its answer, within the request timeout.
    async fn send(&self, request: http::Request<Bytes>) -> Sent {
        // The semaphore is never closed.
        let _permit = self.in_flight.acquire().await;
        let uri = request.uri().clone();
        let exchange = async {
            let response = self.client.request(request.map(Full::new)).await?;
            let (parts, body) = response.into_parts();
            let answer = PushResponse::from_parts(&parts, SystemTime::now());
            // Reading the body lets an HTTP/1.1 connection carry the next request.
            let body = Limited::new(body, MAX_RESPONSE_BODY)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Ok::<_, hyper_util::client::legacy::Error>((answer, parts.version, body))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok((answer, version, body))) => {
                let n = self.answered.fetch_add(1, Ordering::Relaxed) + 1;
                let status = answer.status.as_u16();
                if answer.status.is_client_error() || answer.status.is_server_error() {
                    let error = ErrorBody::parse(answer.status, &body).ok();
                    tracing::info!(%uri, status, ?version, error = ?error, "push refused");
                } else {
                    tracing::debug!(%uri, status, ?version, requests = n, "push answered");
                }
                Sent {
                    outcome: Outcome::from_response(&answer),
                    version: Some(version),
                }
            }
            Ok(Err(error)) => {
                log_failure(&error, &uri);
                Sent {
                    outcome: Outcome::ConnectionFailed,
                    version: None,
                }
            }
            Err(_) => {
                tracing::warn!(%uri, timeout = ?self.timeout, "push request timed out");
                Sent {
                    outcome: Outcome::ConnectionFailed,
                    version: None,
                }
            }
        }
    }
}

/// The rustls error behind a client error, if TLS is why it failed.
fn tls_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        // An I/O error's source skips the error it wraps: look at that one first.
        next = match error
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => error.source(),
        };
    }
    None
}

/// Logs why a request got no response; a certificate the client does not trust is a
/// configuration matter, so it is said loudly and with the remedy.
fn log_failure(error: &hyper_util::client::legacy::Error, uri: &Uri) {
    match tls_error(error) {
        Some(rustls::Error::InvalidCertificate(why)) => tracing::error!(
            %uri,
            reason = ?why,
            "push service certificate not trusted: give its certificate or CA as push_ca, or use a certificate of a public CA"
        ),
        Some(other) => tracing::warn!(%uri, error = %other, "TLS with the push service failed"),
        None => {
            tracing::warn!(%uri, error = %error, source = ?std::error::Error::source(error), "push request failed")
        }
    }
}

/// The notifier's changes for the registrations of the changed mailboxes.
fn notify_changes(store: &Store, changes: &[Dirty], now: SystemTime) -> Vec<NotifyChange<UserId>> {
    let mut out = Vec::new();
    for (user, mailbox, kind) in changes {
        let targets = match store.push_targets(*user, mailbox, now) {
            Ok(targets) => targets,
            Err(error) => {
                tracing::warn!(%error, "cannot read push registrations");
                continue;
            }
        };
        for target in targets {
            let key = &target.registration.key;
            // The session registers only what the provider API can carry (XAPS-7, XAPS-20).
            let Ok(registration) =
                RegistrationKey::parse(key.user, &key.account_id, &key.device_token)
            else {
                tracing::warn!(registration = ?key, "stored registration cannot be pushed");
                continue;
            };
            let expires_in = target
                .registration
                .expires_at
                .duration_since(now)
                .unwrap_or(Duration::ZERO);
            for spelling in target.spellings {
                out.push(NotifyChange {
                    registration: registration.clone(),
                    mailbox: spelling,
                    kind: *kind,
                    expires_in,
                });
            }
        }
    }
    out
}

fn instant() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// Runs the notifier until `stop` turns true.
pub(crate) async fn run_notifier(
    client: HttpClient,
    settings: PushSettings,
    store: Arc<Store>,
    queue: QueueReceiver,
    mut stop: watch::Receiver<bool>,
) {
    let QueueReceiver {
        rx: mut changes,
        overflow,
    } = queue;
    let mut notifier = match Notifier::<UserId>::new(settings.notifier.clone()) {
        Ok(notifier) => notifier,
        Err(error) => {
            // `PushSettings::client` validated the policy before the server started.
            tracing::error!(%error, "push notifier not started");
            return;
        }
    };
    let client = Arc::new(client);
    let (answers_tx, mut answers) = mpsc::unbounded_channel::<(RequestId, Outcome)>();
    loop {
        while let Some(request) = notifier.poll_request() {
            let id = request.id;
            let http = request.to_http(&client.service, client.authorization.as_ref());
            let client = Arc::clone(&client);
            let answers = answers_tx.clone();
            tokio::spawn(async move {
                let sent = client.send(http).await;
                let _ = answers.send((id, sent.outcome));
            });
        }
        while let Some(event) = notifier.poll_event() {
            match event {
                //= spec/provider-api.md#PROV-23
                //# On
                //# `404` or `410` it MUST delete every registration of that device token.
                NotifyEvent::DeleteDevice { device_token } => {
                    let store = Arc::clone(&store);
                    let deleted = tokio::task::spawn_blocking(move || {
                        store.delete_device_registrations(device_token.as_str())
                    })
                    .await;
                    match deleted {
                        Ok(Ok(n)) => {
                            tracing::info!(registrations = n, "device gone: registrations deleted")
                        }
                        Ok(Err(error)) => tracing::warn!(%error, "cannot delete registrations"),
                        Err(error) => tracing::warn!(%error, "cannot delete registrations"),
                    }
                }
                other => tracing::info!(event = ?other, "push not delivered"),
            }
        }
        let deadline = notifier.poll_timeout().map(tokio::time::Instant::from_std);
        let dirty: Vec<Dirty> = tokio::select! {
            received = changes.recv() => {
                let Some(list) = received else { return };
                list.iter()
                    .filter_map(|c| Some((c.user, c.mailbox_name.clone(), push_kind(&c.kind)?)))
                    .collect()
            }
            () = overflow.wake.notified() => overflow.drain(),
            Some((id, outcome)) = answers.recv() => {
                notifier.handle_response(instant(), id, outcome);
                continue;
            }
            () = super::sleep_until(deadline) => {
                notifier.handle_timeout(instant());
                continue;
            }
            _ = stop.changed() => return,
        };
        if dirty.is_empty() {
            continue;
        }
        let store = Arc::clone(&store);
        let wall = SystemTime::now();
        let looked_up =
            tokio::task::spawn_blocking(move || notify_changes(&store, &dirty, wall)).await;
        if let Ok(list) = looked_up {
            let now = instant();
            for change in list {
                notifier.handle_change(now, change);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

    use base64::Engine;
    use mailpush_provider_api::{
        AccountId, DeviceRegistration, DeviceToken, MailboxDigest, Payload, PushMessage, Ttl,
        Urgency, unregistration_outcome, unregistration_request,
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    const CREATED: &[u8] = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
    const PROVIDER: &str = "provider-secret-token";
    const REGISTRATION: &str = "registration-token";

    fn status(status: u16, retry_after: Option<u64>) -> Outcome {
        Outcome::Status {
            status,
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    fn message() -> PushMessage {
        let account = AccountId::new("acct").unwrap();
        PushMessage {
            ttl: Ttl::from_secs(60),
            topic: None,
            urgency: Urgency::Normal,
            payload: Payload::new(account, [MailboxDigest::of(b"INBOX")]).unwrap(),
        }
    }

    /// The push of [`message`] to `token`, as the notifier task sends it.
    fn push_to(client: &HttpClient, token: &DeviceToken) -> http::Request<Bytes> {
        message().to_request(
            client.service.resource(token),
            client.authorization.as_ref(),
        )
    }

    /// The push resource of a token on a scripted service.
    fn scripted_push(client: &HttpClient) -> http::Request<Bytes> {
        push_to(client, &DeviceToken::from_octets([0xab; 32]))
    }

    //= spec/provider-api.md#PROV-27
    //= type=test
    //# The mail server MUST send the pushes of a registration to
    //# the push resource that its device token names
    /// A push URL is parsed once, at start: one that names no push resource is refused there
    /// with a message that says why, never at each push.
    #[test]
    fn push_urls_are_checked_at_start() {
        for (url, why) in [
            ("http://[::1", "not a URL"),
            ("http://[::1]:port/", "not a URL"),
            ("http://push.example:99999", "not a URL"),
            (
                "ftp://push.example",
                "neither an http:// nor an https:// URL",
            ),
            ("", "not a URL"),
            ("https://user:secret@push.example", "credentials"),
        ] {
            let error = PushSettings::new(url, None)
                .client()
                .err()
                .unwrap()
                .to_string();
            assert!(error.contains(why), "{url}: {error}");
            assert!(error.contains(url), "{url}: {error}");
        }
        let mut settings = PushSettings::new("https://push.example", Some("two words".into()));
        assert!(
            settings.client().is_err(),
            "a provider token no header can carry"
        );
        settings.provider_token = None;
        for url in [
            "http://[::1]:8080/",
            "https://PUSH.example:443",
            "http://127.0.0.1:1",
        ] {
            settings.url = url.to_owned();
            assert!(settings.client().is_ok(), "{url}");
        }
        let client = PushSettings::new("http://[::1]:8080/", None)
            .client()
            .unwrap();
        let resource = client.service.resource(&DeviceToken::from_octets([1; 32]));
        assert_eq!(resource.host(), Some("[::1]"));
        assert_eq!(resource.port_u16(), Some(8080));
    }

    /// A scripted HTTP/1.1 service: reads each request (head and `Content-Length` body) and
    /// answers `answer` to each; closes the connection after it when `close_after` says so.
    /// Counts connections and requests.
    struct Service {
        addr: SocketAddr,
        connections: Arc<AtomicU64>,
        requests: Arc<AtomicU64>,
    }

    impl Service {
        fn settings(&self) -> PushSettings {
            PushSettings::new(&format!("http://{}", self.addr), None)
        }
    }

    async fn read_request(socket: &mut TcpStream) -> Option<Vec<u8>> {
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if raw.len() >= end + 4 + length {
                    return Some(raw);
                }
            }
            let n = socket.read(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            raw.extend_from_slice(&buf[..n]);
        }
    }

    async fn service(answer: &'static [u8], close_after: bool) -> Service {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicU64::new(0));
        let requests = Arc::new(AtomicU64::new(0));
        let (c, r) = (Arc::clone(&connections), Arc::clone(&requests));
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                c.fetch_add(1, Ordering::Relaxed);
                let r = Arc::clone(&r);
                tokio::spawn(async move {
                    while let Some(request) = read_request(&mut socket).await {
                        assert!(request.starts_with(b"POST /v1/push/"));
                        r.fetch_add(1, Ordering::Relaxed);
                        socket.write_all(answer).await.unwrap();
                        if close_after {
                            // Closed without a word, as an idle timeout would.
                            return;
                        }
                    }
                });
            }
        });
        Service {
            addr,
            connections,
            requests,
        }
    }

    async fn post_n(client: &HttpClient, n: u64) -> Vec<Outcome> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(client.send(scripted_push(client)).await.outcome);
        }
        out
    }

    #[tokio::test]
    async fn connections_are_reused() {
        for answer in [
            CREATED,
            &b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nhello"[..],
            &b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n3\r\nabc\r\n0\r\nTrailer: z\r\n\r\n"[..],
            &b"HTTP/1.1 204 No Content\r\n\r\n"[..],
        ] {
            let service = service(answer, false).await;
            let client = service.settings().client().unwrap();
            let outcomes = post_n(&client, 5).await;
            let expected = if answer.starts_with(b"HTTP/1.1 204") {
                204
            } else {
                201
            };
            assert_eq!(outcomes, vec![status(expected, None); 5]);
            assert_eq!(service.connections.load(Ordering::Relaxed), 1);
            assert_eq!(service.requests.load(Ordering::Relaxed), 5);
        }
    }

    #[tokio::test]
    async fn connections_the_service_closes_are_not_reused() {
        for answer in [
            &b"HTTP/1.1 503 Busy\r\nConnection: close\r\nRetry-After: 3\r\nContent-Length: 0\r\n\r\n"[..],
            &b"HTTP/1.0 503 Busy\r\nRetry-After: 3\r\nContent-Length: 0\r\n\r\n"[..],
        ] {
            let service = service(answer, true).await;
            let client = service.settings().client().unwrap();
            assert_eq!(post_n(&client, 3).await, vec![status(503, Some(3)); 3]);
            assert_eq!(service.connections.load(Ordering::Relaxed), 3);
            assert_eq!(service.requests.load(Ordering::Relaxed), 3);
        }
    }

    /// RFC 9110 §10.2.3: `Retry-After` as an HTTP-date is a delay from when the answer came.
    #[tokio::test]
    async fn retry_after_as_a_date() {
        let at = SystemTime::now() + Duration::from_secs(120);
        let answer = format!(
            "HTTP/1.1 429 Too Many Requests\r\nRetry-After: {}\r\nContent-Length: 0\r\n\r\n",
            httpdate::fmt_http_date(at)
        );
        let service = service(Box::leak(answer.into_bytes().into_boxed_slice()), false).await;
        let client = service.settings().client().unwrap();
        let outcome = client.send(scripted_push(&client)).await.outcome;
        let Outcome::Status {
            status: 429,
            retry_after: Some(delay),
        } = outcome
        else {
            panic!("{outcome:?}");
        };
        assert!(
            (Duration::from_secs(110)..=Duration::from_secs(120)).contains(&delay),
            "{delay:?}"
        );
    }

    /// A pooled connection the service closed without saying so is retried once on a new
    /// connection, and each request still reaches the service exactly once.
    #[tokio::test]
    async fn a_stale_pooled_connection_is_retried_on_a_new_one() {
        let service = service(CREATED, true).await;
        let client = service.settings().client().unwrap();
        for n in 1..=3 {
            assert_eq!(post_n(&client, 1).await, vec![status(201, None)]);
            assert_eq!(service.requests.load(Ordering::Relaxed), n);
            // Let the client see the close before the next request.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(service.connections.load(Ordering::Relaxed), 3);
    }

    /// A response cut short after its first octets is a failure, never sent again.
    #[tokio::test]
    async fn a_response_cut_short_is_not_retried() {
        let service = service(b"HTTP/1.1 201 Cre", true).await;
        let client = service.settings().client().unwrap();
        assert_eq!(post_n(&client, 1).await, vec![Outcome::ConnectionFailed]);
        assert_eq!(service.requests.load(Ordering::Relaxed), 1);
        assert_eq!(service.connections.load(Ordering::Relaxed), 1);
    }

    fn pem(der: &[u8]) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|l| std::str::from_utf8(l).unwrap())
            .collect();
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        )
    }

    /// The real push server on `ip`, port 0: with TLS (its generated certificate) or plain.
    async fn push_server(
        ip: IpAddr,
        tls: bool,
    ) -> std::io::Result<mailpush_push_server::RunningServer> {
        mailpush_push_server::start(
            mailpush_push_server::Settings {
                device_listen: SocketAddr::new(ip, 0),
                http_listen: SocketAddr::new(ip, 0),
                database: None,
                plain_loopback: !tls,
                provider_tokens: vec![PROVIDER.into()],
                registration_tokens: vec![REGISTRATION.into()],
                ..mailpush_push_server::Settings::default()
            },
            Arc::new(mailpush_push_server::MemoryStore::new()),
        )
        .await
        .map_err(std::io::Error::other)
    }

    /// Sends a request that is not a push (a device's registration, say) on the client.
    async fn exchange(
        client: &HttpClient,
        request: http::Request<Bytes>,
    ) -> (http::response::Parts, Bytes) {
        let response = client.client.request(request.map(Full::new)).await.unwrap();
        let (parts, body) = response.into_parts();
        (parts, body.collect().await.unwrap().to_bytes())
    }

    async fn register(client: &HttpClient, base: &Uri) -> DeviceRegistration {
        let (parts, body) = exchange(
            client,
            DeviceRegistration::request(base, REGISTRATION).unwrap(),
        )
        .await;
        DeviceRegistration::from_response(&parts, &body).unwrap()
    }

    /// Against the real push server over TLS: HTTP/2 when the client offers it, HTTP/1.1 when
    /// it does not; pushes accepted, 404 for a token never registered, 410 once unregistered,
    /// 401 with a wrong provider token.
    #[tokio::test]
    async fn pushes_reach_the_push_server_over_tls_with_http2_and_http1() {
        let server = push_server(IpAddr::V4(Ipv4Addr::LOCALHOST), true)
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("push-ca.pem");
        std::fs::write(&ca, pem(&server.tls.as_ref().unwrap().certificate)).unwrap();
        let base = format!("https://127.0.0.1:{}", server.http_addr.port());
        for (http2, version) in [(true, Version::HTTP_2), (false, Version::HTTP_11)] {
            let mut settings = PushSettings::new(&base, Some(PROVIDER.into()));
            settings.trust = Some(ca.clone());
            settings.http2 = http2;
            let client = settings.client().unwrap();
            let device = register(&client, &base.parse().unwrap()).await;
            for _ in 0..3 {
                let sent = client.send(push_to(&client, &device.token)).await;
                assert_eq!(sent.outcome, status(201, None));
                assert_eq!(sent.version, Some(version));
            }
            let unknown = DeviceToken::from_octets([9; 32]);
            assert_eq!(
                client.send(push_to(&client, &unknown)).await.outcome,
                status(404, None)
            );
            let request =
                unregistration_request(&base.parse().unwrap(), &device.token, &device.secret)
                    .unwrap();
            let (parts, body) = exchange(&client, request).await;
            assert_eq!(unregistration_outcome(&parts, &body), Ok(()));
            assert_eq!(
                client.send(push_to(&client, &device.token)).await.outcome,
                status(410, None)
            );
            let mut wrong = settings.clone();
            wrong.provider_token = Some("wrong".into());
            let wrong = wrong.client().unwrap();
            assert_eq!(
                wrong.send(push_to(&wrong, &device.token)).await.outcome,
                status(401, None)
            );
        }
        server.shutdown().await;
    }

    /// `http://[::1]:port/` reaches a push server on the IPv6 loopback address.
    #[tokio::test]
    async fn an_ipv6_push_url_reaches_the_push_server() {
        let server = match push_server(IpAddr::V6(Ipv6Addr::LOCALHOST), false).await {
            Ok(server) => server,
            Err(error) => {
                eprintln!("no IPv6 loopback here ({error}): only the URL is checked");
                assert!(PushSettings::new("http://[::1]:1/", None).client().is_ok());
                return;
            }
        };
        let base = format!("http://[::1]:{}/", server.http_addr.port());
        let client = PushSettings::new(&base, Some(PROVIDER.into()))
            .client()
            .unwrap();
        let device = register(&client, &base.parse().unwrap()).await;
        let sent = client.send(push_to(&client, &device.token)).await;
        assert_eq!(sent.outcome, status(201, None));
        server.shutdown().await;
    }

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// `https://` with the public roots and the self-signed certificate given as `push_ca`;
    /// without it the certificate is refused and the log says why and what to do.
    #[tokio::test]
    async fn https_trusts_push_ca_and_refuses_an_unknown_certificate() {
        let server = push_server(IpAddr::V4(Ipv4Addr::LOCALHOST), true)
            .await
            .unwrap();
        let base = format!("https://127.0.0.1:{}", server.http_addr.port());
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("push-ca.pem");
        std::fs::write(&ca, pem(&server.tls.as_ref().unwrap().certificate)).unwrap();
        let mut settings = PushSettings::new(&base, Some(PROVIDER.into()));
        settings.trust = Some(ca);
        let trusting = settings.client().unwrap();
        let unknown = DeviceToken::from_octets([9; 32]);
        assert_eq!(
            trusting.send(push_to(&trusting, &unknown)).await.outcome,
            status(404, None)
        );

        settings.trust = None;
        let public_only = settings.client().unwrap();
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish();
        let outcome = {
            let _guard = tracing::subscriber::set_default(subscriber);
            public_only
                .send(push_to(&public_only, &unknown))
                .await
                .outcome
        };
        assert_eq!(outcome, Outcome::ConnectionFailed);
        let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        assert!(
            log.contains("ERROR")
                && log.contains("push service certificate not trusted")
                && log.contains("push_ca"),
            "{log}"
        );
        server.shutdown().await;
    }

    /// A full queue merges changes per mailbox: memory stays bounded by the mailboxes, and once
    /// drained every changed mailbox is there, a new message winning over other kinds.
    #[tokio::test]
    async fn a_full_queue_merges_changes_per_mailbox() {
        let store = Store::open_in_memory(mailpush_mail_store::Config::default()).unwrap();
        let user = store.add_user("fred", b"secret").unwrap();
        let mut batches = Vec::new();
        for name in ["A", "B", "C"] {
            let id = store.create_mailbox(user, name).unwrap().value.id;
            for _ in 0..100 {
                let applied = store
                    .append(
                        id,
                        b"Subject: x\r\n\r\nx\r\n",
                        &mailpush_mail_store::Flags::default(),
                        mailpush_mail_store::InternalDate::utc(1_700_000_000),
                    )
                    .unwrap();
                batches.push(applied.changes);
            }
        }
        let (queue, mut receiver) = PushQueue::new(2);
        for batch in &batches {
            queue.send(batch.clone());
        }
        assert_eq!(receiver.overflow.merged.load(Ordering::Relaxed), 298);
        let dirty = receiver.overflow.drain();
        assert_eq!(
            dirty,
            vec![
                (user, "A".to_owned(), NotifyKind::NewMessage),
                (user, "B".to_owned(), NotifyKind::NewMessage),
                (user, "C".to_owned(), NotifyKind::NewMessage),
            ]
        );
        // The two queued batches are the first two, whole.
        assert_eq!(receiver.rx.recv().await.unwrap(), batches[0]);
        assert_eq!(receiver.rx.recv().await.unwrap(), batches[1]);
        assert!(receiver.rx.try_recv().is_err());
        assert!(receiver.overflow.drain().is_empty());
    }
}
