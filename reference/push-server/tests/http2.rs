#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The provider API over HTTP/2: h2c with prior knowledge on plain loopback, `h2` by ALPN on
//! TLS, concurrent streams on one connection, and the request bounds of PROV-3 and PROV-7.

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::SendRequest;
use hyper::{Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

type Body = BoxBody<Bytes, Infallible>;

const WAIT: Duration = Duration::from_secs(10);

async fn h2<S>(stream: S) -> SendRequest<Body>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    sender
}

fn push_request(token: &str, content_length: Option<usize>, body: Body) -> Request<Body> {
    let mut builder = Request::post(format!("http://127.0.0.1/v1/push/{token}"))
        .header("authorization", format!("Bearer {PROVIDER}"))
        .header("content-type", "application/json")
        .header("ttl", "60");
    if let Some(length) = content_length {
        builder = builder.header("content-length", length);
    }
    builder.body(body).unwrap()
}

fn full(octets: impl Into<Bytes>) -> Body {
    Full::new(octets.into()).boxed()
}

struct Answer {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

async fn send(sender: &mut SendRequest<Body>, request: Request<Body>) -> Answer {
    sender.ready().await.unwrap();
    let response = tokio::time::timeout(WAIT, sender.send_request(request))
        .await
        .expect("the server must answer")
        .unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        location,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn id_of(answer: &Answer) -> u64 {
    answer
        .location
        .as_deref()
        .and_then(|l| l.rsplit('/').next())
        .and_then(|id| id.parse().ok())
        .unwrap()
}

#[tokio::test]
async fn streams_of_one_connection_are_served_concurrently() {
    let server = server(settings()).await;
    let (token, secret) = register(&server).await;
    let body = payload("acct");
    let mut sender = h2(TcpStream::connect(server.http_addr).await.unwrap()).await;

    // A push whose body has not arrived yet holds its stream open; on HTTP/1.1 it would hold
    // the whole connection.
    let (mut slow_body, channel) = http_body_util::channel::Channel::<Bytes, Infallible>::new(1);
    let mut slow_sender = sender.clone();
    slow_sender.ready().await.unwrap();
    let slow = tokio::spawn(slow_sender.send_request(push_request(&token, None, channel.boxed())));
    let quick = send(
        &mut sender,
        push_request(&token, Some(body.len()), full(body.clone())),
    )
    .await;
    assert_eq!(quick.status, StatusCode::CREATED, "{}", quick.body);
    assert_eq!(id_of(&quick), 1);
    assert!(!slow.is_finished());
    slow_body
        .send_data(Bytes::from(body.clone()))
        .await
        .unwrap();
    drop(slow_body);
    let slow = tokio::time::timeout(WAIT, slow)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(slow.status(), StatusCode::CREATED);

    // Many pushes in flight on the one connection: every one is stored once, in some order.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let mut sender = sender.clone();
        let token = token.clone();
        let body = body.clone();
        tasks.spawn(async move {
            send(
                &mut sender,
                push_request(&token, Some(body.len()), full(body)),
            )
            .await
        });
    }
    let mut ids = Vec::new();
    while let Some(answer) = tasks.join_next().await {
        let answer = answer.unwrap();
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        ids.push(id_of(&answer));
    }
    ids.sort_unstable();
    assert_eq!(ids, (3..=42).collect::<Vec<_>>());

    // The device receives all 42, in id order.
    let tcp = TcpStream::connect(server.device_addr).await.unwrap();
    let mut device = Device::connect(tcp, &token, &secret, 0).await;
    let mut received = Vec::new();
    while received.len() < 42 {
        match tokio::time::timeout(WAIT, device.next_event())
            .await
            .unwrap()
        {
            Some(mailpush_push_proto::client::ClientEvent::Notification { id, .. }) => {
                received.push(id.get());
                device.ack(id).await;
            }
            Some(_) => {}
            None => panic!("session closed after {received:?}"),
        }
    }
    assert_eq!(received, (1..=42).collect::<Vec<_>>());
    server.shutdown().await;
}

/// The SETTINGS frame the server opens an h2c connection with.
async fn server_settings(addr: std::net::SocketAddr) -> Vec<(u16, u32)> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let mut header = [0u8; 9];
    tokio::time::timeout(WAIT, stream.read_exact(&mut header))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(header[3], 0x4, "the server's first frame is SETTINGS");
    let length =
        usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
    let mut payload = vec![0u8; length];
    stream.read_exact(&mut payload).await.unwrap();
    payload
        .chunks_exact(6)
        .map(|p| {
            (
                u16::from_be_bytes([p[0], p[1]]),
                u32::from_be_bytes([p[2], p[3], p[4], p[5]]),
            )
        })
        .collect()
}

#[tokio::test]
async fn http2_requests_are_bounded() {
    let server = server(settings()).await;
    let (token, _) = register(&server).await;

    //= spec/provider-api.md#PROV-3
    //= type=test
    //# The server MUST bound the size of the request line and headers (16 KiB in
    //# total by default) and of every body
    let settings = server_settings(server.http_addr).await;
    let setting = |id: u16| settings.iter().find(|(i, _)| *i == id).map(|(_, v)| *v);
    // SETTINGS_MAX_CONCURRENT_STREAMS, SETTINGS_INITIAL_WINDOW_SIZE, SETTINGS_MAX_HEADER_LIST_SIZE
    assert_eq!(
        setting(0x3),
        Some(mailpush_push_server::http::MAX_CONCURRENT_STREAMS)
    );
    assert_eq!(
        setting(0x4),
        Some(mailpush_push_server::http::STREAM_WINDOW)
    );
    assert_eq!(setting(0x6), Some(16 * 1024));

    let mut sender = h2(TcpStream::connect(server.http_addr).await.unwrap()).await;
    let body = payload("acct");
    let mut oversize = push_request(&token, Some(body.len()), full(body.clone()));
    oversize
        .headers_mut()
        .insert("x-filler", "x".repeat(20 * 1024).parse().unwrap());
    let refused = send(&mut sender, oversize).await;
    assert_eq!(refused.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    //= spec/provider-api.md#PROV-30
    //= type=test
    //# Over HTTP/2 the size
    //# is that of the header list as `SETTINGS_MAX_HEADER_LIST_SIZE` counts it (RFC 9113 §6.5.2), the
    //# server MUST advertise its bound in that setting, and it answers on the stream once the header
    //# block ends, keeping of it no more than the bound; the connection goes on.
    // A long `:path`, HTTP/2's request line, is refused alike.
    let long_path = push_request(&"a".repeat(20 * 1024), Some(body.len()), full(body.clone()));
    let refused = send(&mut sender, long_path).await;
    assert_eq!(refused.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);

    //= spec/provider-api.md#PROV-7
    //= type=test
    //# when `Content-Length` announces more
    //# than 4096 octets the server MUST answer without reading the body, and otherwise MUST stop reading
    //# at the 4097th octet.
    // Announced: answered while the body is still being withheld.
    let (_withheld, channel) = http_body_util::channel::Channel::<Bytes, Infallible>::new(1);
    let announced = send(
        &mut sender,
        push_request(&token, Some(5000), channel.boxed()),
    )
    .await;
    assert_eq!(announced.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        announced.body.contains("payload-too-large"),
        "{}",
        announced.body
    );
    // Not announced: refused at the 4097th octet although the body goes on.
    let (mut streamed, channel) = http_body_util::channel::Channel::<Bytes, Infallible>::new(8);
    let feeder = tokio::spawn(async move {
        for _ in 0..5 {
            if streamed
                .send_data(Bytes::from(vec![b' '; 1024]))
                .await
                .is_err()
            {
                return;
            }
        }
        // Keep the stream open: the answer must not wait for its end.
        std::future::pending::<()>().await;
    });
    let unannounced = send(&mut sender, push_request(&token, None, channel.boxed())).await;
    assert_eq!(unannounced.status, StatusCode::PAYLOAD_TOO_LARGE);
    feeder.abort();

    // The connection still serves.
    let accepted = send(
        &mut sender,
        push_request(&token, Some(body.len()), full(body)),
    )
    .await;
    assert_eq!(accepted.status, StatusCode::CREATED, "{}", accepted.body);
    assert_eq!(id_of(&accepted), 1);
    server.shutdown().await;
}

fn alpn_connector(
    server: &mailpush_push_server::RunningServer,
    protocol: &[u8],
) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(server.tls.as_ref().unwrap().certificate.clone())
        .unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![protocol.to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[tokio::test]
async fn tls_offers_h2_and_http1_by_alpn() {
    let mut settings = settings();
    settings.plain_loopback = false;
    let server = server(settings).await;

    //= spec/provider-api.md#PROV-1
    //= type=test
    //# The provider API MUST be served over HTTPS (HTTP/1.1 or later over TLS 1.2 or
    //# later).
    let tcp = TcpStream::connect(server.http_addr).await.unwrap();
    let tls = alpn_connector(&server, b"h2")
        .connect(mailpush_push_server::tls::localhost(), tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let mut sender = h2(tls).await;
    let registration = Request::post("https://localhost/v1/devices")
        .header("authorization", format!("Bearer {REGISTRATION}"))
        .body(full(Bytes::new()))
        .unwrap();
    let registered = send(&mut sender, registration).await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.body
    );
    let token: serde_json::Value = serde_json::from_str(&registered.body).unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    let body = payload("acct");
    let pushed = send(
        &mut sender,
        push_request(&token, Some(body.len()), full(body.clone())),
    )
    .await;
    assert_eq!(pushed.status, StatusCode::CREATED, "{}", pushed.body);

    // A client that asks for HTTP/1.1 gets it on the same listener.
    let tcp = TcpStream::connect(server.http_addr).await.unwrap();
    let mut tls = alpn_connector(&server, b"http/1.1")
        .connect(mailpush_push_server::tls::localhost(), tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    tls.write_all(common::push_request(&token, "TTL: 60\r\n", &body).as_bytes())
        .await
        .unwrap();
    tls.write_all(body.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let _ = tls.read_to_end(&mut raw).await;
    let response = parse_response(&raw);
    assert_eq!(response.status, 201, "{response:?}");
    assert_eq!(
        response.header("location"),
        Some(format!("/v1/message/{token}/2").as_str())
    );
    server.shutdown().await;
}

/// Pushes to one device in flight together while some of them fail in the store: the lock of
/// the device is not held across a commit, yet every push answered 201 is stored, none
/// answered 500 is, memory ends as the store holds it, and the device receives exactly the
/// accepted notifications, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_commits_leave_memory_as_the_store_holds_it() {
    let path = std::env::temp_dir().join(format!(
        "mailpush-push-http2-failures-{}.sqlite3",
        std::process::id()
    ));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let mut settings = settings();
    settings.database = Some(path.clone());
    let store = mailpush_push_server::open_store(&settings).unwrap();
    inject_failures(&path);
    let server = mailpush_push_server::start(settings, store).await.unwrap();
    let (token, secret) = register(&server).await;
    let sender = h2(TcpStream::connect(server.http_addr).await.unwrap()).await;

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..60 {
        let mut sender = sender.clone();
        let token = token.clone();
        let poisoned = i % 4 == 1;
        let body = payload(if poisoned { "poison" } else { "fine" });
        tasks.spawn(async move {
            let answer = send(
                &mut sender,
                push_request(&token, Some(body.len()), full(body)),
            )
            .await;
            (poisoned, answer)
        });
    }
    let mut accepted = Vec::new();
    let mut refused = 0;
    while let Some(done) = tasks.join_next().await {
        let (poisoned, answer) = done.unwrap();
        match answer.status {
            StatusCode::CREATED => {
                assert!(!poisoned, "a push the store refused was answered 201");
                accepted.push(id_of(&answer));
            }
            StatusCode::INTERNAL_SERVER_ERROR => refused += 1,
            other => panic!("unexpected {other}: {}", answer.body),
        }
    }
    assert!(refused >= 15, "every poisoned push fails: {refused}");
    accepted.sort_unstable();
    let mut unique = accepted.clone();
    unique.dedup();
    assert_eq!(unique, accepted, "no id was given to two accepted pushes");

    let (stored_meta, stored) = server.hub.store.load_ring(&token).unwrap();
    let stored: Vec<u64> = stored.iter().map(|h| h.id.get()).collect();
    assert_eq!(stored, accepted);
    let entry = server.hub.device(&token).await.unwrap().unwrap();
    {
        let device = entry.lock().await;
        assert_eq!(device.ring.meta(), stored_meta);
        let held: Vec<u64> = device.ring.held().map(|h| h.id.get()).collect();
        assert_eq!(held, accepted);
    }

    let tcp = TcpStream::connect(server.device_addr).await.unwrap();
    let mut device = Device::connect(tcp, &token, &secret, 0).await;
    let mut received = Vec::new();
    while received.len() < accepted.len() {
        match tokio::time::timeout(WAIT, device.next_event())
            .await
            .unwrap()
        {
            Some(mailpush_push_proto::client::ClientEvent::Notification {
                id, payload, ..
            }) => {
                assert!(!String::from_utf8_lossy(payload.as_bytes()).contains("poison"));
                received.push(id.get());
                device.ack(id).await;
            }
            Some(_) => {}
            None => panic!("session closed after {received:?}"),
        }
    }
    assert_eq!(received, accepted);
    server.shutdown().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
