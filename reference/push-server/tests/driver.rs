#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The device-channel driver on 127.0.0.1:0: delivery, retention, replacement, isolation,
//! limits and timeouts (the timeouts on paused tokio time).

mod common;

use common::*;
use mailpush_push_proto::client::ClientEvent;
use mailpush_push_proto::{
    Credential, Frame, NotificationId, ReasonCode, VersionRange, frame_to_vec,
};
use tokio::net::TcpStream;

fn hello(token: &str, secret: &str, cursor: u64) -> Vec<u8> {
    frame_to_vec(&Frame::Hello {
        versions: VersionRange::new(1, 1).unwrap(),
        token: Credential::new(token).unwrap(),
        secret: Credential::new(secret).unwrap(),
        cursor,
    })
}

#[tokio::test]
async fn online_delivery_in_order_then_ack() {
    let server = server(settings()).await;
    let (token, secret) = register(&server).await;
    let mut dev = device(&server, &token, &secret, 0).await;
    for i in 0..3 {
        assert_eq!(
            push(&server, &token, "TTL: 60\r\n", &payload(&format!("a{i}")))
                .await
                .status,
            201
        );
    }
    for i in 0..3u64 {
        let (id, retained, body) = notification(&mut dev).await;
        //= spec/device-channel.md#CHAN-16
        //# On a session the server MUST send notifications in increasing id order
        assert_eq!(id, i + 1);
        assert!(!retained, "the device was online");
        //= spec/device-channel.md#CHAN-5
        //# The server MUST deliver the payload octets exactly as the provider sent
        //# them.
        assert_eq!(body, payload(&format!("a{i}")));
    }
    dev.ack(NotificationId::new(3).unwrap()).await;
    server.shutdown().await;
}

#[tokio::test]
async fn offline_ring_drops_oldest_and_flags_retained() {
    let mut settings = settings();
    settings.ring_capacity = 2;
    let server = server(settings).await;
    let (token, secret) = register(&server).await;
    for i in 0..3 {
        assert_eq!(
            push(&server, &token, "TTL: 60\r\n", &payload(&format!("a{i}")))
                .await
                .status,
            201
        );
    }
    let mut dev = device(&server, &token, &secret, 0).await;
    //= spec/architecture.md#ARCH-2
    //# A conforming push notification server MUST implement the server side
    //# of [provider-api.md](provider-api.md) and of [device-channel.md](device-channel.md), including
    //# offline retention.
    // Registered and pushed to over the provider API, held while away, delivered over the device
    // channel with what retention changed.
    //= spec/device-channel.md#RING-6
    //# Every `notify` the server sends while the device's mark is set MUST carry the
    //# `retained` flag.
    let first = notification(&mut dev).await;
    let second = notification(&mut dev).await;
    assert_eq!((first.0, first.1), (2, true));
    assert_eq!((second.0, second.1), (3, true));
    dev.ack(NotificationId::new(3).unwrap()).await;
    // Once the retained ones are acknowledged the mark is clear.
    assert_eq!(
        push(&server, &token, "TTL: 60\r\n", &payload("b"))
            .await
            .status,
        201
    );
    let third = notification(&mut dev).await;
    assert_eq!((third.0, third.1), (4, false));

    //= spec/device-channel.md#RING-9
    //# MUST expose the totals as metrics
    let metrics = http(
        server.http_addr,
        &format!("GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer {PROVIDER}\r\n\r\n"),
        b"",
    )
    .await;
    assert!(
        metrics.body.contains("mailpush_ring_dropped_total 1"),
        "{}",
        metrics.body
    );
    server.shutdown().await;
}

#[tokio::test]
async fn unacknowledged_notifications_are_redelivered() {
    let server = server(settings()).await;
    let (token, secret) = register(&server).await;
    let mut dev = device(&server, &token, &secret, 0).await;
    push(&server, &token, "TTL: 60\r\n", &payload("x")).await;
    push(&server, &token, "TTL: 60\r\n", &payload("y")).await;
    assert_eq!(notification(&mut dev).await.0, 1);
    assert_eq!(notification(&mut dev).await.0, 2);
    dev.ack(NotificationId::new(1).unwrap()).await;
    drop(dev);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    //= spec/device-channel.md#CHAN-18
    //# a notification that was in flight when
    //# a session ended MUST be sent again on the device's next session.
    //= spec/device-channel.md#CHAN-7
    //# The server MUST NOT deliver a notification whose id is at or below the cursor.
    //= spec/device-channel.md#CHAN-26
    //# Held notifications MUST survive a close of
    //# any kind.
    let mut dev = device(&server, &token, &secret, 1).await;
    let again = notification(&mut dev).await;
    assert_eq!(again.0, 2);
    server.shutdown().await;
}

#[tokio::test]
async fn reconnect_replaces_the_old_session() {
    let server = server(settings()).await;
    let (token, secret) = register(&server).await;
    let mut old = device(&server, &token, &secret, 0).await;
    let mut new = device(&server, &token, &secret, 0).await;
    //= spec/device-channel.md#CHAN-19
    //# the server MUST send `CLOSE` code `replaced` on the older session and close it.
    assert!(matches!(
        old.next_event().await,
        Some(ClientEvent::Closed {
            code: ReasonCode::Replaced,
            by_peer: true
        })
    ));
    push(&server, &token, "TTL: 60\r\n", &payload("to-new")).await;
    assert_eq!(notification(&mut new).await.2, payload("to-new"));
    server.shutdown().await;
}

#[tokio::test]
async fn adversarial_isolation() {
    let server = server(settings()).await;
    let (alice, alice_secret) = register(&server).await;
    let (bob, bob_secret) = register(&server).await;
    push(&server, &bob, "TTL: 60\r\n", &payload("for-bob")).await;

    // Bob's token with Alice's secret, a guessed token, an empty-looking one: all auth-failed,
    // and nothing else is ever sent.
    for (token, secret) in [
        (bob.as_str(), alice_secret.as_str()),
        ("f".repeat(64).as_str(), bob_secret.as_str()),
        (alice.as_str(), "guess"),
    ] {
        let frames = raw_exchange(server.device_addr, &hello(token, secret, 0)).await;
        //= spec/device-channel.md#CHAN-10
        //# An unknown token, an
        //# unregistered device and a wrong secret MUST all be answered with the same `ERROR` code
        //# `auth-failed` and a close
        assert_eq!(
            frames,
            vec![Frame::error(ReasonCode::AuthFailed, "auth-failed")],
            "{token}"
        );
    }
    // Frames before hello, and a hello followed by an ack of Bob's id: nothing leaks.
    let mut probe = frame_to_vec(&Frame::Ack {
        id: NotificationId::new(1).unwrap(),
    });
    probe.extend(hello(&bob, &bob_secret, 0));
    let frames = raw_exchange(server.device_addr, &probe).await;
    assert!(matches!(
        frames.as_slice(),
        [Frame::Error {
            code: ReasonCode::UnexpectedFrame,
            ..
        }]
    ));
    // A cursor ahead of the server deletes nothing.
    //= spec/device-channel.md#CHAN-12
    //# A `hello` whose cursor is greater than the highest id ever
    //# assigned to the device MUST be answered with `ERROR` code `bad-cursor` and a close
    let frames = raw_exchange(server.device_addr, &hello(&bob, &bob_secret, 99)).await;
    assert!(matches!(
        frames.as_slice(),
        [Frame::Error {
            code: ReasonCode::BadCursor,
            ..
        }]
    ));

    //= spec/device-channel.md#CHAN-21
    //# A session MUST only ever be sent notifications accepted for the device it
    //# authenticated as.
    let mut alice_device = device(&server, &alice, &alice_secret, 0).await;
    for i in 0..5 {
        push(&server, &bob, "TTL: 60\r\n", &payload(&format!("bob{i}"))).await;
    }
    push(&server, &alice, "TTL: 60\r\n", &payload("for-alice")).await;
    let (id, _, body) = notification(&mut alice_device).await;
    assert_eq!((id, body), (1, payload("for-alice")));
    // Bob still gets all of his.
    let mut bob_device = device(&server, &bob, &bob_secret, 0).await;
    let mut bodies = Vec::new();
    for _ in 0..6 {
        bodies.push(notification(&mut bob_device).await.2);
    }
    assert_eq!(bodies[0], payload("for-bob"));
    assert!(bodies.iter().all(|b| b.contains("bob")));
    server.shutdown().await;
}

#[tokio::test]
async fn oversize_and_malformed_frames_get_an_error_and_close() {
    let server = server(settings()).await;
    let frames = raw_exchange(server.device_addr, &u32::MAX.to_be_bytes()).await;
    assert!(matches!(
        frames.as_slice(),
        [Frame::Error {
            code: ReasonCode::FrameTooLarge,
            ..
        }]
    ));
    let frames = raw_exchange(server.device_addr, &[0, 0, 0, 2, 0x05, 0x00]).await;
    assert!(matches!(
        frames.as_slice(),
        [Frame::Error {
            code: ReasonCode::MalformedFrame,
            ..
        }]
    ));
    server.shutdown().await;
}

#[tokio::test]
async fn connections_per_ip_are_limited() {
    let mut settings = settings();
    settings.max_connections_per_ip = 2;
    let server = server(settings).await;
    //= spec/device-channel.md#CHAN-28
    //# A connection over a limit MUST be answered
    //# with `ERROR` code `too-many-connections` and closed before anything else is read from it.
    let _a = TcpStream::connect(server.device_addr).await.unwrap();
    let _b = TcpStream::connect(server.device_addr).await.unwrap();
    while server
        .hub
        .metrics
        .connections
        .load(std::sync::atomic::Ordering::Relaxed)
        < 2
    {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let frames = raw_exchange(server.device_addr, &[]).await;
    assert!(matches!(
        frames.as_slice(),
        [Frame::Error {
            code: ReasonCode::TooManyConnections,
            ..
        }]
    ));
    server.shutdown().await;
}

#[tokio::test]
async fn unregistration_closes_the_session() {
    let server = server(settings()).await;
    let (token, secret) = register(&server).await;
    let mut dev = device(&server, &token, &secret, 0).await;
    let request = format!(
        "DELETE /v1/devices/{token} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer {secret}\r\n\r\n"
    );
    assert_eq!(http(server.http_addr, &request, b"").await.status, 204);
    assert!(matches!(
        dev.next_event().await,
        Some(ClientEvent::Closed {
            code: ReasonCode::Unregistered,
            ..
        })
    ));
    //= spec/device-channel.md#RING-10
    //# When a device is unregistered the server MUST delete its ring.
    let frames = raw_exchange(server.device_addr, &hello(&token, &secret, 0)).await;
    assert_eq!(
        frames,
        vec![Frame::error(ReasonCode::AuthFailed, "auth-failed")]
    );
    server.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn dead_peer_is_closed_on_paused_time() {
    let server = server(settings()).await;
    let (token, secret) = register(&server).await;
    let mut dev = device(&server, &token, &secret, 0).await;
    // The device goes silent; paused time jumps to the server's dead-peer deadline.
    //= spec/device-channel.md#CHAN-24
    //# The server MUST close a session on which it has received nothing for two
    //# `keepalive` intervals, sending `CLOSE` code `timeout` first.
    let started = tokio::time::Instant::now();
    assert!(matches!(
        dev.next_event().await,
        Some(ClientEvent::Closed {
            code: ReasonCode::Timeout,
            by_peer: true
        })
    ));
    assert!(started.elapsed() >= std::time::Duration::from_secs(120));
    server.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn hello_timeout_on_paused_time() {
    let server = server(settings()).await;
    let started = tokio::time::Instant::now();
    let frames = raw_exchange(server.device_addr, &[]).await;
    assert!(matches!(
        frames.as_slice(),
        [Frame::Error {
            code: ReasonCode::Timeout,
            ..
        }]
    ));
    assert!(started.elapsed() >= std::time::Duration::from_secs(10));
    server.shutdown().await;
}

#[tokio::test]
async fn tls_with_a_generated_certificate() {
    let mut settings = settings();
    settings.plain_loopback = false;
    let server = server(settings).await;
    let tls = server.tls.clone().unwrap();
    // Register over HTTPS.
    let connector = tls.connector().unwrap();
    let tcp = TcpStream::connect(server.http_addr).await.unwrap();
    let mut https = connector
        .connect(mailpush_push_server::tls::localhost(), tcp)
        .await
        .unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    https
        .write_all(format!("POST /v1/devices HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer {REGISTRATION}\r\nContent-Length: 0\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut raw = Vec::new();
    let _ = https.read_to_end(&mut raw).await;
    let response = parse_response(&raw);
    assert_eq!(response.status, 201);
    let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
    let (token, secret) = (
        body["token"].as_str().unwrap().to_owned(),
        body["secret"].as_str().unwrap().to_owned(),
    );
    let tcp = TcpStream::connect(server.device_addr).await.unwrap();
    let stream = connector
        .connect(mailpush_push_server::tls::localhost(), tcp)
        .await
        .unwrap();
    let mut dev = Device::connect(stream, &token, &secret, 0).await;
    assert!(matches!(
        dev.next_event().await,
        Some(ClientEvent::Established { .. })
    ));
    // Plain TCP is refused on a TLS server: the bytes are not a TLS handshake.
    let frames = raw_exchange(server.device_addr, &hello(&token, &secret, 0)).await;
    assert!(frames.is_empty());
    server.shutdown().await;
}

//= spec/device-channel.md#CHAN-1
//# A server MUST NOT accept the device channel over plain TCP unless plain TCP was
//# explicitly enabled by its operator, and then only on a loopback address.
//= spec/provider-api.md#PROV-1
//# A server MUST NOT serve it over plain HTTP unless plain HTTP was explicitly enabled by its
//# operator, and then only on a loopback address.
#[test]
fn plain_tcp_is_refused_off_loopback() {
    let mut settings = settings();
    settings.device_listen = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
    assert!(settings.validate().is_err());
}

#[tokio::test]
async fn sqlite_backed_delivery() {
    let path = std::env::temp_dir().join(format!(
        "mailpush-push-driver-{}.sqlite3",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    let store = std::sync::Arc::new(mailpush_push_server::SqliteStore::open(&path).unwrap());
    let server = mailpush_push_server::start(settings(), store)
        .await
        .unwrap();
    let (token, secret) = register(&server).await;
    assert_eq!(
        push(&server, &token, "TTL: 60\r\n", &payload("a"))
            .await
            .status,
        201
    );
    server.shutdown().await;
    // A new server on the same database: the ring is loaded from the store.
    let store = std::sync::Arc::new(mailpush_push_server::SqliteStore::open(&path).unwrap());
    let server = mailpush_push_server::start(settings(), store)
        .await
        .unwrap();
    let mut dev = device(&server, &token, &secret, 0).await;
    let (id, retained, _) = notification(&mut dev).await;
    assert_eq!((id, retained), (1, true));
    server.shutdown().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
