//! The notifier task: store changes in, provider-API requests out (spec/provider-api.md §5).
//!
//! The decisions (debounce, payloads, retries) are the sans-IO [`Notifier`]'s; this task looks
//! up the registrations of each changed mailbox, sends the notifier's requests with a small
//! HTTP/1.1 client (one connection per request, `Connection: close`) and carries out its events.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mailpush_mail_notify::{
    Change as NotifyChange, ChangeKind as NotifyKind, Event as NotifyEvent, Notifier, Outcome,
    PushRequest, PushService, RegistrationKey, RequestId,
};
use mailpush_mail_store::{Change, ChangeKind, Store};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsConnector;

use super::MailServerError;

/// Where and how the mail server pushes.
#[derive(Debug, Clone)]
pub struct PushSettings {
    /// Base URL of the mailpush push server (`http://` on loopback or `https://`); device tokens
    /// are appended as `<base>/v1/push/<token>`.
    pub url: String,
    /// The provider token sent as `Authorization: Bearer` (PROV-2).
    pub provider_token: Option<String>,
    /// PEM certificates trusted for an `https://` push service.
    pub trust: Option<PathBuf>,
    /// Debounce and retry policy.
    pub notifier: mailpush_mail_notify::Config,
    /// Longest a request may take, connection included.
    pub request_timeout: Duration,
}

impl PushSettings {
    /// Push settings for the push server at `url` with the default policy.
    pub fn new(url: &str, provider_token: Option<String>) -> Self {
        PushSettings {
            url: url.to_owned(),
            provider_token,
            trust: None,
            notifier: mailpush_mail_notify::Config::default(),
            request_timeout: Duration::from_secs(10),
        }
    }

    /// Checks the policy and the URL, and builds the TLS connector for an `https://` service.
    pub(crate) fn client(&self) -> Result<HttpClient, MailServerError> {
        self.notifier
            .validate()
            .map_err(|e| MailServerError::Config(format!("push: {e}")))?;
        let tls = if self.url.starts_with("https://") {
            let Some(trust) = &self.trust else {
                return Err(MailServerError::Config(
                    "push: an https:// push URL needs a trusted certificate file (push_ca)".into(),
                ));
            };
            Some(super::tls::connector_trusting(
                &super::tls::read_certificates(trust)?,
            )?)
        } else if self.url.starts_with("http://") {
            None
        } else {
            return Err(MailServerError::Config(format!(
                "push: the push URL {:?} is neither http:// nor https://",
                self.url
            )));
        };
        Ok(HttpClient {
            tls,
            authorization: self.provider_token.clone(),
            timeout: self.request_timeout,
        })
    }
}

/// One-request-per-connection HTTP/1.1 client, enough for the provider API.
pub(crate) struct HttpClient {
    tls: Option<TlsConnector>,
    authorization: Option<String>,
    timeout: Duration,
}

/// Longest response head read.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;

impl HttpClient {
    async fn post(&self, url: &str, headers: &[(&'static str, String)], body: &[u8]) -> Outcome {
        match tokio::time::timeout(self.timeout, self.try_post(url, headers, body)).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(error)) => {
                tracing::debug!(%error, url, "push request failed");
                Outcome::ConnectionFailed
            }
            Err(_) => Outcome::ConnectionFailed,
        }
    }

    async fn try_post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: &[u8],
    ) -> std::io::Result<Outcome> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
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
            _ => (authority, if tls { 443 } else { 80 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Length: {}\r\n",
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
        let tcp = TcpStream::connect((host, port)).await?;
        tcp.set_nodelay(true)?;
        match (&self.tls, tls) {
            (Some(connector), true) => {
                let name = ServerName::try_from(host.to_owned())
                    .map_err(|_| std::io::Error::other("bad host name in push URL"))?;
                let stream = connector.connect(name, tcp).await?;
                exchange(stream, request.as_bytes(), body).await
            }
            (None, false) => exchange(tcp, request.as_bytes(), body).await,
            _ => Err(std::io::Error::other(
                "push URL scheme differs from the configured one",
            )),
        }
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    head: &[u8],
    body: &[u8],
) -> std::io::Result<Outcome> {
    stream.write_all(head).await?;
    stream.write_all(body).await?;
    stream.flush().await?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if raw.len() > MAX_RESPONSE_HEAD {
            return Err(std::io::Error::other("response head too long"));
        }
    }
    parse_response_head(&raw).ok_or_else(|| std::io::Error::other("malformed HTTP response"))
}

/// The status and `Retry-After` (delta-seconds form) of a response head.
fn parse_response_head(raw: &[u8]) -> Option<Outcome> {
    let text = std::str::from_utf8(raw).ok()?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next()?;
    let mut parts = status_line.split(' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status: u16 = parts.next()?.parse().ok()?;
    let retry_after = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("retry-after"))
        .and_then(|(_, value)| value.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    Some(Outcome::Status {
        status,
        retry_after,
    })
}

/// The notifier's changes for the registrations of the mailboxes that `changes` touch.
fn notify_changes(store: &Store, changes: &[Change], now: SystemTime) -> Vec<NotifyChange> {
    let mut out = Vec::new();
    for change in changes {
        let kind = match &change.kind {
            ChangeKind::Appended { .. } => NotifyKind::NewMessage,
            ChangeKind::FlagsChanged { .. } => NotifyKind::Flags,
            ChangeKind::Expunged { .. } => NotifyKind::Expunge,
            _ => continue,
        };
        let targets = match store.push_targets(change.user, &change.mailbox_name, now) {
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
                    kind,
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
    mut changes: mpsc::UnboundedReceiver<Vec<Change>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut notifier = match Notifier::new(settings.notifier.clone()) {
        Ok(notifier) => notifier,
        Err(error) => {
            // `PushSettings::client` validated the policy before the server started.
            tracing::error!(%error, "push notifier not started");
            return;
        }
    };
    let service = PushService::mailpush(&settings.url);
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
        tokio::select! {
            received = changes.recv() => {
                let Some(list) = received else { return };
                let store = Arc::clone(&store);
                let wall = SystemTime::now();
                let looked_up =
                    tokio::task::spawn_blocking(move || notify_changes(&store, &list, wall)).await;
                if let Ok(list) = looked_up {
                    let now = instant();
                    for change in list {
                        notifier.handle_change(now, change);
                    }
                }
            }
            Some((id, outcome)) = answers.recv() => notifier.handle_response(instant(), id, outcome),
            () = super::sleep_until(deadline) => notifier.handle_timeout(instant()),
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_heads() {
        assert_eq!(
            parse_response_head(b"HTTP/1.1 201 Created\r\nLocation: /x\r\n\r\n"),
            Some(Outcome::Status {
                status: 201,
                retry_after: None
            })
        );
        assert_eq!(
            parse_response_head(b"HTTP/1.1 503 Busy\r\nretry-after: 7\r\n\r\n"),
            Some(Outcome::Status {
                status: 503,
                retry_after: Some(Duration::from_secs(7))
            })
        );
        assert_eq!(parse_response_head(b"garbage\r\n\r\n"), None);
    }
}
