#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! kill -9 restart with the SQLite store: nothing answered 201 and not acknowledged is lost.
//!
//! The server runs in a child process: this test binary re-executes itself, running only the
//! ignored `server_child` test, which serves until it is killed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use common::*;
use mailpush_push_proto::client::ClientEvent;
use mailpush_push_server::{Settings, SqliteStore, Store, start};
use tokio::net::TcpStream;

const DIR_VAR: &str = "MAILPUSH_PUSH_KILL9_DIR";

#[tokio::test]
#[ignore = "run by kill9_restart_loses_nothing as a child process"]
async fn server_child() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let settings = Settings {
        database: Some(dir.join("push.sqlite3")),
        ..settings()
    };
    let store = std::sync::Arc::new(SqliteStore::open(&dir.join("push.sqlite3")).unwrap());
    let server = start(settings, store).await.unwrap();
    let addresses = format!("{} {}", server.device_addr, server.http_addr);
    std::fs::write(dir.join("addr.tmp"), addresses).unwrap();
    std::fs::rename(dir.join("addr.tmp"), dir.join("addr")).unwrap();
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

struct ChildServer {
    child: Child,
    device: std::net::SocketAddr,
    http: std::net::SocketAddr,
}

async fn spawn_server(dir: &Path) -> ChildServer {
    let _ = std::fs::remove_file(dir.join("addr"));
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["server_child", "--exact", "--ignored", "--nocapture"])
        .env(DIR_VAR, dir)
        .spawn()
        .unwrap();
    // The guard owns the child from here on, so a failure below still kills and reaps it.
    let mut server = ChildServer {
        child,
        device: ([127, 0, 0, 1], 0).into(),
        http: ([127, 0, 0, 1], 0).into(),
    };
    for _ in 0..600 {
        if let Ok(text) = std::fs::read_to_string(dir.join("addr")) {
            let mut parts = text.split_whitespace();
            server.device = parts.next().unwrap().parse().unwrap();
            server.http = parts.next().unwrap().parse().unwrap();
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("child server did not start");
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        // std's Child::kill sends SIGKILL on Unix: no shutdown code runs. Dropping on a failed
        // assertion kills the child too, so no server outlives the test.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn kill9(server: ChildServer) {
    drop(server);
}

async fn register_at(http_addr: std::net::SocketAddr) -> (String, String) {
    let response = http(
        http_addr,
        &format!("POST /v1/devices HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer {REGISTRATION}\r\nContent-Length: 0\r\n\r\n"),
        b"",
    )
    .await;
    assert_eq!(response.status, 201);
    let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
    (
        body["token"].as_str().unwrap().to_owned(),
        body["secret"].as_str().unwrap().to_owned(),
    )
}

/// Receives `count` notifications, acknowledging each one at or below `ack_upto` (the in-flight
/// window is smaller than `count`).
async fn receive(
    server: &ChildServer,
    token: &str,
    secret: &str,
    cursor: u64,
    count: usize,
    ack_upto: u64,
) -> (Device<TcpStream>, Vec<(u64, bool, String)>) {
    let stream = TcpStream::connect(server.device).await.unwrap();
    let mut device = Device::connect(stream, token, secret, cursor).await;
    assert!(matches!(
        device.next_event().await,
        Some(ClientEvent::Established { .. })
    ));
    let mut got = Vec::new();
    while got.len() < count {
        match device.next_event().await {
            Some(ClientEvent::Notification {
                id,
                retained,
                payload,
            }) => {
                got.push((
                    id.get(),
                    retained,
                    String::from_utf8(payload.as_bytes().to_vec()).unwrap(),
                ));
                if id.get() <= ack_upto {
                    device.ack(id).await;
                }
            }
            other => panic!("{other:?}"),
        }
    }
    (device, got)
}

#[tokio::test]
async fn kill9_restart_loses_nothing() {
    let dir = std::env::temp_dir().join(format!(
        "mailpush-push-kill9-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();

    let server = spawn_server(&dir).await;
    let (token, secret) = register_at(server.http).await;
    for i in 0..20 {
        let body = payload(&format!("n{i}"));
        let response = http(
            server.http,
            &push_request(&token, "TTL: 3600\r\n", &body),
            body.as_bytes(),
        )
        .await;
        assert_eq!(response.status, 201);
    }
    kill9(server);

    //= spec/device-channel.md#RING-8
    //# a notification answered `201` and
    //# neither acknowledged nor removed by this section MUST be delivered after a restart.
    let server = spawn_server(&dir).await;
    let (_device, got) = receive(&server, &token, &secret, 0, 20, 10).await;
    let ids: Vec<u64> = got.iter().map(|g| g.0).collect();
    assert_eq!(ids, (1..=20).collect::<Vec<_>>());
    assert!(got[0].1, "held while away: retained");
    assert_eq!(got[7].2, payload("n7"));
    // Wait until the acknowledgement is committed, read from the database itself.
    let observer = SqliteStore::open(&dir.join("push.sqlite3")).unwrap();
    let mut committed = false;
    for _ in 0..400 {
        if observer.load_ring(&token).unwrap().0.cursor == 10 {
            committed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(committed, "the server never committed the acknowledgement");
    drop(observer);
    kill9(server);

    let server = spawn_server(&dir).await;
    let (_device, got) = receive(&server, &token, &secret, 0, 10, 0).await;
    let ids: Vec<u64> = got.iter().map(|g| g.0).collect();
    //= spec/device-channel.md#CHAN-15
    //# never reused for that device, across
    //# restarts of the server included.
    assert_eq!(ids, (11..=20).collect::<Vec<_>>());
    let body = payload("after");
    let response = http(
        server.http,
        &push_request(&token, "TTL: 3600\r\n", &body),
        body.as_bytes(),
    )
    .await;
    assert_eq!(
        response.header("location"),
        Some(format!("/v1/message/{token}/21").as_str())
    );
    kill9(server);
    let _ = std::fs::remove_dir_all(&dir);
}
