//! The notifier task: store changes in, provider-API requests out (spec/provider-api.md §5).
//!
//! The decisions (debounce, payloads, retries) are the sans-IO [`Notifier`]'s; this task looks
//! up the registrations of each changed mailbox, sends the notifier's requests with a small
//! HTTP/1.1 client and carries out its events. The client keeps connections alive: a bounded
//! pool of idle connections per origin, a pooled connection that the service closed meanwhile
//! is retried once on a new connection (only when no byte of the response arrived, so a request
//! the service may have processed is never sent twice by this client). Sessions hand their
//! changes over a bounded queue that never blocks them: when it is full, changes are folded into
//! a set of changed mailboxes that the task drains as soon as it catches up, which loses nothing
//! since the notifier merges changes per registration anyway (PROV-19).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use mailpush_mail_notify::{
    Change as NotifyChange, ChangeKind as NotifyKind, Event as NotifyEvent, Notifier, Outcome,
    PushRequest, PushService, RegistrationKey, RequestId,
};
use mailpush_mail_store::{Change, ChangeKind, Store, UserId};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc, watch};
use tokio_rustls::TlsConnector;

use super::MailServerError;

/// Where and how the mail server pushes.
#[derive(Debug, Clone)]
pub struct PushSettings {
    /// Base URL of the push service (`http://` on loopback or `https://`); with no
    /// [`PushSettings::resource_template`], device tokens go to `<base>/v1/push/<token>`.
    pub url: String,
    /// The push resource template (PROV-27): an `http://` or `https://` URL with `{token}`
    /// exactly once, replaced by the device token in lowercase. `None` is
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
    /// Most change batches waiting for the notifier; beyond, changes are merged per mailbox.
    pub queue_capacity: usize,
}

/// Default of [`PushSettings::queue_capacity`].
pub const DEFAULT_QUEUE_CAPACITY: usize = 65_536;

/// An idle pooled connection older than this is closed rather than reused: services close
/// theirs after a while, and a connection found closed costs a retry.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest `Retry-After` taken from a response; the notifier caps it further
/// (`max_retry_after`).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

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
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
        }
    }

    /// The push service that the resource template names.
    pub(crate) fn service(&self) -> Result<PushService, MailServerError> {
        let template = self
            .resource_template
            .clone()
            .unwrap_or_else(|| PushService::default_template(&self.url));
        PushService::from_template(&template)
            .map_err(|e| MailServerError::Config(format!("push: {e}")))
    }

    /// Checks the policy and the resource template, and builds the HTTP client.
    pub(crate) fn client(&self) -> Result<HttpClient, MailServerError> {
        self.notifier
            .validate()
            .map_err(|e| MailServerError::Config(format!("push: {e}")))?;
        self.service()?;
        if self.queue_capacity == 0 {
            return Err(MailServerError::Config(
                "push: push_queue_capacity must be at least 1".into(),
            ));
        }
        let extra = match &self.trust {
            Some(path) => super::tls::read_certificates(path)?,
            None => Vec::new(),
        };
        Ok(HttpClient {
            tls: mailpush_tls::connector_with_public_roots(&extra)?,
            authorization: self.provider_token.clone(),
            timeout: self.request_timeout,
            max_idle_per_origin: self.max_idle_per_origin,
            idle: Mutex::new(HashMap::new()),
            opened: AtomicU64::new(0),
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

/// HTTP/1.1 client for the provider API that keeps connections alive.
pub(crate) struct HttpClient {
    tls: TlsConnector,
    authorization: Option<String>,
    timeout: Duration,
    max_idle_per_origin: usize,
    idle: Mutex<HashMap<Origin, Vec<(Instant, Io)>>>,
    /// TCP connections opened so far.
    opened: AtomicU64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Origin {
    https: bool,
    host: String,
    port: u16,
}

struct Target {
    origin: Origin,
    authority: String,
    path: String,
}

fn parse_url(url: &str) -> std::io::Result<Target> {
    let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(std::io::Error::other("unsupported URL scheme"));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => (
            host,
            port.parse::<u16>()
                .map_err(|_| std::io::Error::other("bad port in push URL"))?,
        ),
        _ => (authority, if https { 443 } else { 80 }),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok(Target {
        origin: Origin {
            https,
            host: host.to_owned(),
            port,
        },
        authority: authority.to_owned(),
        path: path.to_owned(),
    })
}

/// A connection to the push service, plain or under TLS.
enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Longest response head read.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;
/// Longest chunk-size line (with extensions) or trailer line.
const MAX_LINE: usize = 4096;
/// Largest response body read to keep the connection; a larger one closes it.
const MAX_BODY: u64 = 1024 * 1024;

/// What one request/response exchange gave.
#[derive(Debug, PartialEq, Eq)]
struct Response {
    outcome: Outcome,
    /// The connection may carry another request.
    reusable: bool,
}

/// Why an exchange failed, and whether the service had begun to answer.
#[derive(Debug)]
struct ExchangeError {
    error: std::io::Error,
    response_started: bool,
}

impl HttpClient {
    /// TCP connections opened so far (for tests of connection reuse).
    #[cfg(test)]
    fn connections_opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    async fn post(&self, url: &str, headers: &[(&'static str, String)], body: &[u8]) -> Outcome {
        match tokio::time::timeout(self.timeout, self.try_post(url, headers, body)).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(error)) => {
                log_failure(&error, url);
                Outcome::ConnectionFailed
            }
            Err(_) => {
                tracing::debug!(url, "push request timed out");
                Outcome::ConnectionFailed
            }
        }
    }

    async fn try_post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: &[u8],
    ) -> std::io::Result<Outcome> {
        let target = parse_url(url)?;
        let mut request = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            target.path,
            target.authority,
            body.len()
        );
        //= spec/provider-api.md#PROV-2
        //# Every push request and every metrics request MUST carry
        //# `Authorization: Bearer <provider-token>`
        if let Some(token) = &self.authorization {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        let mut request = request.into_bytes();
        request.extend_from_slice(body);
        if let Some(mut io) = self.take_idle(&target.origin) {
            match exchange(&mut io, &request).await {
                Ok(response) => {
                    self.put_back(target.origin, io, &response);
                    return Ok(response.outcome);
                }
                // The service closed the idle connection before it read the request: the
                // request is known not to have been processed, so it may go again.
                Err(e) if !e.response_started => {
                    tracing::debug!(error = %e.error, url, "pooled push connection closed; reconnecting");
                }
                Err(e) => return Err(e.error),
            }
        }
        let mut io = self.connect(&target.origin).await?;
        let response = exchange(&mut io, &request).await.map_err(|e| e.error)?;
        self.put_back(target.origin, io, &response);
        Ok(response.outcome)
    }

    fn take_idle(&self, origin: &Origin) -> Option<Io> {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let list = idle.get_mut(origin)?;
        let now = Instant::now();
        while let Some((since, io)) = list.pop() {
            if now.duration_since(since) < IDLE_TIMEOUT {
                return Some(io);
            }
        }
        None
    }

    fn put_back(&self, origin: Origin, io: Io, response: &Response) {
        if !response.reusable || self.max_idle_per_origin == 0 {
            return;
        }
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let list = idle.entry(origin).or_default();
        if list.len() < self.max_idle_per_origin {
            list.push((Instant::now(), io));
        }
    }

    async fn connect(&self, origin: &Origin) -> std::io::Result<Io> {
        let tcp = TcpStream::connect((origin.host.as_str(), origin.port)).await?;
        self.opened.fetch_add(1, Ordering::Relaxed);
        tcp.set_nodelay(true)?;
        if !origin.https {
            return Ok(Io::Plain(tcp));
        }
        let name = ServerName::try_from(origin.host.clone())
            .map_err(|_| std::io::Error::other("bad host name in push URL"))?;
        Ok(Io::Tls(Box::new(self.tls.connect(name, tcp).await?)))
    }
}

/// Logs why a request got no response; a certificate the client does not trust is a
/// configuration matter, so it is said loudly and with the remedy.
fn log_failure(error: &std::io::Error, url: &str) {
    let tls = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(rustls::Error::InvalidCertificate(why)) => tracing::error!(
            url,
            reason = ?why,
            "push service certificate not trusted: give its certificate or CA as push_ca, or use a certificate of a public CA"
        ),
        Some(other) => tracing::warn!(url, error = %other, "TLS with the push service failed"),
        None => tracing::debug!(%error, url, "push request failed"),
    }
}

/// Reads a response from a connection, keeping what came after what was asked for.
struct Reader<'a> {
    io: &'a mut Io,
    buf: Vec<u8>,
    received: bool,
}

impl Reader<'_> {
    async fn fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 4096];
        let n = self.io.read(&mut chunk).await?;
        if n > 0 {
            self.received = true;
            self.buf.extend_from_slice(&chunk[..n]);
        }
        Ok(n)
    }

    /// The octets before `delim` (consumed with it), at most `max` of them.
    async fn until(&mut self, delim: &[u8], max: usize) -> std::io::Result<Vec<u8>> {
        loop {
            if let Some(i) = self.buf.windows(delim.len()).position(|w| w == delim) {
                let out = self.buf[..i].to_vec();
                self.buf.drain(..i + delim.len());
                return Ok(out);
            }
            if self.buf.len() > max {
                return Err(std::io::Error::other("response line or head too long"));
            }
            if self.fill().await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    async fn skip(&mut self, mut n: u64) -> std::io::Result<()> {
        loop {
            let take = usize::try_from(n).unwrap_or(usize::MAX).min(self.buf.len());
            self.buf.drain(..take);
            n -= take as u64;
            if n == 0 {
                return Ok(());
            }
            if self.fill().await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    async fn skip_to_eof(&mut self) -> std::io::Result<()> {
        let mut total = self.buf.len() as u64;
        self.buf.clear();
        loop {
            let n = self.fill().await?;
            if n == 0 {
                return Ok(());
            }
            total += n as u64;
            self.buf.clear();
            if total > MAX_BODY {
                // The status is known; the connection is not reused anyway.
                return Ok(());
            }
        }
    }
}

/// A parsed response head.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    http11: bool,
    status: u16,
    retry_after: Option<Duration>,
    content_length: Option<u64>,
    chunked: bool,
    close: bool,
}

/// The response head `raw` (without its final empty line), `Retry-After` measured from `now`.
fn parse_head(raw: &[u8], now: SystemTime) -> Option<Head> {
    let text = std::str::from_utf8(raw).ok()?;
    let mut lines = text.split("\r\n");
    let mut parts = lines.next()?.split(' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let status: u16 = parts.next()?.parse().ok()?;
    let mut head = Head {
        http11: version != "HTTP/1.0",
        status,
        retry_after: None,
        content_length: None,
        chunked: false,
        close: false,
    };
    for (name, value) in lines.filter_map(|l| l.split_once(':')) {
        let value = value.trim();
        let name = name.trim();
        if name.eq_ignore_ascii_case("retry-after") {
            head.retry_after = retry_after(value, now);
        } else if name.eq_ignore_ascii_case("content-length") {
            let length = value.parse::<u64>().ok()?;
            // Differing lengths make the framing ambiguous (RFC 9112 §6.3).
            if head.content_length.is_some_and(|l| l != length) {
                return None;
            }
            head.content_length = Some(length);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
            if !head.chunked {
                // Any other coding last means the body runs to the end of the connection.
                head.close = true;
            }
        } else if name.eq_ignore_ascii_case("connection") {
            head.close |= value
                .split(',')
                .any(|o| o.trim().eq_ignore_ascii_case("close"));
        }
    }
    Some(head)
}

/// `Retry-After` (RFC 9110 §10.2.3): delay-seconds, or an HTTP-date (IMF-fixdate or the
/// obsolete RFC 850 and asctime forms) turned into a delay from `now`; a date in the past is no
/// delay. At most a day.
fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let delay = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u64 is still a delay, and a long one.
        Duration::from_secs(value.parse::<u64>().unwrap_or(u64::MAX))
    } else {
        let date = httpdate::parse_http_date(value).ok()?;
        date.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// Sends `request` and reads the whole response (body discarded).
async fn exchange(io: &mut Io, request: &[u8]) -> Result<Response, ExchangeError> {
    let sent = async {
        io.write_all(request).await?;
        io.flush().await
    }
    .await;
    if let Err(error) = sent {
        return Err(ExchangeError {
            error,
            response_started: false,
        });
    }
    let mut reader = Reader {
        io,
        buf: Vec::new(),
        received: false,
    };
    match read_response(&mut reader).await {
        Ok(response) => Ok(response),
        Err(error) => Err(ExchangeError {
            error,
            response_started: reader.received,
        }),
    }
}

async fn read_response(reader: &mut Reader<'_>) -> std::io::Result<Response> {
    let head = loop {
        let raw = reader.until(b"\r\n\r\n", MAX_RESPONSE_HEAD).await?;
        let head = parse_head(&raw, SystemTime::now())
            .ok_or_else(|| std::io::Error::other("malformed HTTP response"))?;
        // Interim responses (100 Continue and the like) precede the real one.
        if !(100..200).contains(&head.status) || head.status == 101 {
            break head;
        }
    };
    let outcome = Outcome::Status {
        status: head.status,
        retry_after: head.retry_after,
    };
    let mut reusable = head.http11 && !head.close;
    if head.status == 204 || head.status == 304 {
        // No body, whatever the head says (RFC 9112 §6.3).
    } else if head.chunked {
        let mut total = 0u64;
        loop {
            let line = reader.until(b"\r\n", MAX_LINE).await?;
            let line =
                std::str::from_utf8(&line).map_err(|_| std::io::Error::other("bad chunk size"))?;
            let size = line.split(';').next().unwrap_or_default().trim();
            let size = u64::from_str_radix(size, 16)
                .map_err(|_| std::io::Error::other("bad chunk size"))?;
            if size == 0 {
                break;
            }
            total = total.saturating_add(size);
            if total > MAX_BODY {
                return Ok(Response {
                    outcome,
                    reusable: false,
                });
            }
            reader.skip(size).await?;
            if !reader.until(b"\r\n", 2).await?.is_empty() {
                return Err(std::io::Error::other("chunk not followed by CRLF"));
            }
        }
        // Trailer fields, up to the empty line.
        while !reader.until(b"\r\n", MAX_LINE).await?.is_empty() {}
    } else if let Some(length) = head.content_length {
        if length > MAX_BODY {
            return Ok(Response {
                outcome,
                reusable: false,
            });
        }
        reader.skip(length).await?;
    } else {
        // Delimited by the end of the connection.
        reusable = false;
        reader.skip_to_eof().await?;
    }
    // Octets nobody asked for mean the framing is not understood: do not reuse.
    if !reader.buf.is_empty() {
        reusable = false;
    }
    Ok(Response { outcome, reusable })
}

/// The notifier's changes for the registrations of the changed mailboxes.
fn notify_changes(store: &Store, changes: &[Dirty], now: SystemTime) -> Vec<NotifyChange> {
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
            let registration = RegistrationKey {
                user: format!("{:?}", key.user),
                account_id: key.account_id.clone(),
                device_token: key.device_token.clone(),
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
    let (mut notifier, service) =
        match (Notifier::new(settings.notifier.clone()), settings.service()) {
            (Ok(notifier), Ok(service)) => (notifier, service),
            (Err(error), _) => {
                // `PushSettings::client` validated the policy before the server started.
                tracing::error!(%error, "push notifier not started");
                return;
            }
            (_, Err(error)) => {
                tracing::error!(%error, "push notifier not started");
                return;
            }
        };
    let client = Arc::new(client);
    let (answers_tx, mut answers) = mpsc::unbounded_channel::<(RequestId, Outcome)>();
    loop {
        while let Some(request) = notifier.poll_request() {
            let PushRequest {
                id,
                ref registration,
                ref payload,
                ..
            } = request;
            //= spec/provider-api.md#PROV-27
            //# The mail server MUST send the pushes of a registration to
            //# the push resource that its device token names
            let url = service.resource(&registration.device_token);
            let headers = request.headers();
            let body = payload.clone();
            let client = Arc::clone(&client);
            let answers = answers_tx.clone();
            tokio::spawn(async move {
                let outcome = client.post(&url, &headers, &body).await;
                let _ = answers.send((id, outcome));
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
                        store.delete_device_registrations(&device_token)
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

    use super::*;
    use tokio::net::TcpListener;

    const CREATED: &[u8] = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";

    fn status(status: u16, retry_after: Option<u64>) -> Outcome {
        Outcome::Status {
            status,
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    fn at(date: &str) -> SystemTime {
        httpdate::parse_http_date(date).unwrap()
    }

    #[test]
    fn response_heads() {
        let now = SystemTime::UNIX_EPOCH;
        let head = parse_head(
            b"HTTP/1.1 201 Created\r\nLocation: /x\r\nContent-Length: 0",
            now,
        )
        .unwrap();
        assert_eq!((head.status, head.content_length), (201, Some(0)));
        assert!(head.http11 && !head.close && !head.chunked);
        let head = parse_head(b"HTTP/1.1 503 Busy\r\nretry-after: 7", now).unwrap();
        assert_eq!(head.retry_after, Some(Duration::from_secs(7)));
        let head = parse_head(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nConnection: keep-alive, Close",
            now,
        )
        .unwrap();
        assert!(head.chunked && head.close);
        assert!(!parse_head(b"HTTP/1.0 200 OK", now).unwrap().http11);
        assert_eq!(parse_head(b"garbage", now), None);
        assert_eq!(
            parse_head(
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2",
                now
            ),
            None
        );
    }

    /// RFC 9110 §10.2.3: `Retry-After` as delay-seconds or as an HTTP-date.
    #[test]
    fn retry_after_as_seconds_or_date() {
        let now = at("Fri, 31 Dec 1999 23:57:59 GMT");
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        // IMF-fixdate, and the obsolete RFC 850 and asctime forms.
        for date in [
            "Fri, 31 Dec 1999 23:59:59 GMT",
            "Friday, 31-Dec-99 23:59:59 GMT",
            "Fri Dec 31 23:59:59 1999",
        ] {
            assert_eq!(
                retry_after(date, now),
                Some(Duration::from_secs(120)),
                "{date}"
            );
        }
        // A date already past asks for no delay.
        assert_eq!(
            retry_after("Fri, 31 Dec 1999 23:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        // Far future dates and huge numbers are clamped.
        assert_eq!(
            retry_after("Sat, 31 Dec 2050 23:59:59 GMT", now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            retry_after("99999999999999999999999", now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("", now), None);
        let head = parse_head(
            b"HTTP/1.1 429 Too Many\r\nRetry-After: Fri, 31 Dec 1999 23:59:59 GMT",
            now,
        )
        .unwrap();
        assert_eq!(head.retry_after, Some(Duration::from_secs(120)));
    }

    /// A scripted HTTP/1.1 service: reads each request (head and `Content-Length` body) and
    /// answers `answer(n)` for the n-th request of a connection; closes the connection after it
    /// when `close_after` says so. Counts connections and requests.
    struct Service {
        addr: std::net::SocketAddr,
        connections: Arc<AtomicU64>,
        requests: Arc<AtomicU64>,
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

    fn client(settings: &PushSettings) -> HttpClient {
        settings.client().unwrap()
    }

    async fn post_n(client: &HttpClient, url: &str, n: u64) -> Vec<Outcome> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(client.post(url, &[("TTL", "60".into())], b"{}").await);
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
            let settings = PushSettings::new(&format!("http://{}", service.addr), None);
            let client = client(&settings);
            let outcomes = post_n(&client, &format!("http://{}/v1/push/ab", service.addr), 5).await;
            let expected = if answer.starts_with(b"HTTP/1.1 204") {
                204
            } else {
                201
            };
            assert_eq!(outcomes, vec![status(expected, None); 5]);
            assert_eq!(client.connections_opened(), 1);
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
            let settings = PushSettings::new(&format!("http://{}", service.addr), None);
            let client = client(&settings);
            let outcomes = post_n(&client, &format!("http://{}/v1/push/ab", service.addr), 3).await;
            assert_eq!(outcomes, vec![status(503, Some(3)); 3]);
            assert_eq!(client.connections_opened(), 3);
            assert_eq!(service.requests.load(Ordering::Relaxed), 3);
        }
    }

    /// A pooled connection the service closed without saying so is retried once on a new
    /// connection, and each request still reaches the service exactly once.
    #[tokio::test]
    async fn a_stale_pooled_connection_is_retried_on_a_new_one() {
        let service = service(CREATED, true).await;
        let settings = PushSettings::new(&format!("http://{}", service.addr), None);
        let client = client(&settings);
        let url = format!("http://{}/v1/push/ab", service.addr);
        for n in 1..=3 {
            assert_eq!(post_n(&client, &url, 1).await, vec![status(201, None)]);
            assert_eq!(service.requests.load(Ordering::Relaxed), n);
        }
        assert_eq!(service.connections.load(Ordering::Relaxed), 3);
    }

    /// A response cut short after its first octets is a failure, never sent again.
    #[tokio::test]
    async fn a_response_cut_short_is_not_retried() {
        let service = service(b"HTTP/1.1 201 Cre", true).await;
        let settings = PushSettings::new(&format!("http://{}", service.addr), None);
        let client = client(&settings);
        let url = format!("http://{}/v1/push/ab", service.addr);
        assert_eq!(
            post_n(&client, &url, 1).await,
            vec![Outcome::ConnectionFailed]
        );
        assert_eq!(service.requests.load(Ordering::Relaxed), 1);
        assert_eq!(service.connections.load(Ordering::Relaxed), 1);
    }

    fn pem(der: &[u8]) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut b64 = String::new();
        for chunk in der.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
            for i in 0..4 {
                if i <= chunk.len() {
                    b64.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
                } else {
                    b64.push('=');
                }
            }
        }
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
        let material = mailpush_tls::TlsMaterial::self_signed(&[b"http/1.1"]).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = material.acceptor.clone();
        tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(socket).await else {
                        return;
                    };
                    let mut buf = [0u8; 4096];
                    let mut raw = Vec::new();
                    while !raw.windows(6).any(|w| w == b"\r\n\r\n{}") {
                        let n = tls.read(&mut buf).await.unwrap();
                        if n == 0 {
                            return;
                        }
                        raw.extend_from_slice(&buf[..n]);
                    }
                    tls.write_all(CREATED).await.unwrap();
                    tls.flush().await.unwrap();
                });
            }
        });
        let url = format!("https://127.0.0.1:{}/v1/push/ab", addr.port());
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("push-ca.pem");
        std::fs::write(&ca, pem(&material.certificate)).unwrap();
        let mut settings = PushSettings::new(&format!("https://127.0.0.1:{}", addr.port()), None);
        settings.trust = Some(ca);
        let trusting = client(&settings);
        assert_eq!(post_n(&trusting, &url, 1).await, vec![status(201, None)]);

        settings.trust = None;
        let public_only = client(&settings);
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish();
        let outcome = {
            let _guard = tracing::subscriber::set_default(subscriber);
            post_n(&public_only, &url, 1).await
        };
        assert_eq!(outcome, vec![Outcome::ConnectionFailed]);
        let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        assert!(
            log.contains("ERROR")
                && log.contains("push service certificate not trusted")
                && log.contains("push_ca"),
            "{log}"
        );
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
