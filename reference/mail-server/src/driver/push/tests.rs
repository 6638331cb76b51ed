//! The push client against scripted HTTP/1.1 services and the real push server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use bytes::Bytes;
use http::{Uri, Version};
use http_body_util::{BodyExt, Full};
use mailpush_provider_api::{
    AccountId, DeviceRegistration, DeviceToken, MailboxDigest, Payload, PushMessage, Ttl, Urgency,
    unregistration_outcome, unregistration_request,
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
            unregistration_request(&base.parse().unwrap(), &device.token, &device.secret).unwrap();
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
