//! Helpers shared by the integration tests: a raw HTTP/1.1 client and a device built on the
//! sans-IO client core.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;

use mailpush_push_proto::client::{ClientConnection, ClientEvent};
use mailpush_push_proto::{Credential, Frame, FrameDecoder, Timestamp};
use mailpush_push_server::{MemoryStore, RunningServer, Settings, start};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

pub const PROVIDER: &str = "provider-secret-token";
pub const REGISTRATION: &str = "registration-token";

pub fn settings() -> Settings {
    Settings {
        device_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        http_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        database: None,
        plain_loopback: true,
        provider_tokens: vec![PROVIDER.into()],
        registration_tokens: vec![REGISTRATION.into()],
        ..Settings::default()
    }
}

pub async fn server(settings: Settings) -> RunningServer {
    start(settings, std::sync::Arc::new(MemoryStore::new()))
        .await
        .unwrap()
}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request on a fresh connection and reads the response to EOF.
pub async fn http(addr: SocketAddr, request: &str, body: &[u8]) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    parse_response(&raw)
}

pub fn parse_response(raw: &[u8]) -> HttpResponse {
    let text = String::from_utf8_lossy(raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: body.to_owned(),
    }
}

pub fn push_request(token: &str, extra_headers: &str, body: &str) -> String {
    format!(
        "POST /v1/push/{token} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nAuthorization: Bearer {PROVIDER}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra_headers}\r\n",
        body.len()
    )
}

pub fn payload(account: &str) -> String {
    format!(
        "{{\"aps\":{{\"account-id\":\"{account}\",\"m\":[\"0123456789abcdef0123456789abcdef\"]}}}}"
    )
}

pub async fn push(server: &RunningServer, token: &str, headers: &str, body: &str) -> HttpResponse {
    http(
        server.http_addr,
        &push_request(token, headers, body),
        body.as_bytes(),
    )
    .await
}

/// Registers a device; returns (token, secret).
pub async fn register(server: &RunningServer) -> (String, String) {
    let response = http(
        server.http_addr,
        &format!(
            "POST /v1/devices HTTP/1.1\r\nHost: test\r\nConnection: close\r\nAuthorization: Bearer {REGISTRATION}\r\nContent-Length: 0\r\n\r\n"
        ),
        b"",
    )
    .await;
    assert_eq!(response.status, 201, "{response:?}");
    let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
    (
        body["token"].as_str().unwrap().to_owned(),
        body["secret"].as_str().unwrap().to_owned(),
    )
}

/// A device over any stream, driven by the sans-IO client core.
pub struct Device<S> {
    pub stream: S,
    pub client: ClientConnection,
    pub events: Vec<ClientEvent>,
}

pub fn now() -> Timestamp {
    Timestamp(0)
}

impl<S: AsyncRead + AsyncWrite + Unpin> Device<S> {
    pub async fn connect(stream: S, token: &str, secret: &str, cursor: u64) -> Self {
        let client = ClientConnection::new(
            Credential::new(token).unwrap(),
            Credential::new(secret).unwrap(),
            cursor,
            now(),
        );
        let mut device = Self {
            stream,
            client,
            events: Vec::new(),
        };
        device.flush().await;
        device
    }

    pub async fn flush(&mut self) {
        if let Some(out) = self.client.poll_transmit() {
            let _ = self.stream.write_all(&out).await;
        }
    }

    /// Reads until at least one event is available (or EOF); returns it.
    pub async fn next_event(&mut self) -> Option<ClientEvent> {
        let mut buffer = [0u8; 8192];
        loop {
            if let Some(event) = self.client.poll_event() {
                self.flush().await;
                return Some(event);
            }
            let n = self.stream.read(&mut buffer).await.ok()?;
            if n == 0 {
                return None;
            }
            self.client.handle_input(&buffer[..n], now());
        }
    }

    pub async fn ack(&mut self, id: mailpush_push_proto::NotificationId) {
        self.client.ack(id, now());
        self.flush().await;
    }
}

/// Connects a device and waits for its session to be established.
pub async fn device(
    server: &RunningServer,
    token: &str,
    secret: &str,
    cursor: u64,
) -> Device<TcpStream> {
    let stream = TcpStream::connect(server.device_addr).await.unwrap();
    let mut device = Device::connect(stream, token, secret, cursor).await;
    assert!(matches!(
        device.next_event().await,
        Some(ClientEvent::Established { .. })
    ));
    device
}

/// The next event, which must be a notification: (id, retained, payload as text).
pub async fn notification(device: &mut Device<TcpStream>) -> (u64, bool, String) {
    match device.next_event().await {
        Some(ClientEvent::Notification {
            id,
            retained,
            payload,
        }) => (
            id.get(),
            retained,
            String::from_utf8(payload.as_bytes().to_vec()).unwrap(),
        ),
        other => panic!("expected a notification, got {other:?}"),
    }
}

/// Waits up to `wait` for the next notification and checks that its payload (PROV-8) names
/// `account` and, as its only mailbox, the MD5 digest of `mailbox`; returns its `retained` flag.
pub async fn push_for(
    device: &mut Device<TcpStream>,
    wait: std::time::Duration,
    account: &str,
    mailbox: &[u8],
) -> bool {
    let (_, retained, payload) = tokio::time::timeout(wait, notification(device))
        .await
        .expect("no push reached the device");
    let payload: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(payload["aps"]["account-id"], account, "{payload}");
    assert_eq!(
        payload["aps"]["m"],
        serde_json::json!([mailpush_provider_api::MailboxDigest::of(mailbox).to_string()]),
        "{payload}"
    );
    retained
}

/// Sends raw octets and returns every frame received until EOF.
pub async fn raw_exchange(addr: SocketAddr, octets: &[u8]) -> Vec<Frame> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(octets).await;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let mut decoder = FrameDecoder::new();
    decoder.extend(&raw);
    let mut frames = Vec::new();
    while let Ok(Some(frame)) = decoder.next_frame() {
        frames.push(frame);
    }
    frames
}

/// Refuses, from inside SQLite, every notification whose payload contains `poison`.
pub fn inject_failures(path: &std::path::Path) {
    let connection = rusqlite::Connection::open(path).unwrap();
    connection
        .execute_batch(
            "CREATE TRIGGER IF NOT EXISTS refuse_poison BEFORE INSERT ON notifications
             WHEN CAST(NEW.payload AS TEXT) LIKE '%poison%'
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
        )
        .unwrap();
}
