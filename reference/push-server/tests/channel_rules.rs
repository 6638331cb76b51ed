#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The device-channel driver against the decisions of spec/device-channel.md that a reader had to
//! guess before they were written down: frames before hello, the window after a drop, the
//! dead-peer deadline, when an acknowledgement is durable, markers while online, and expiry on
//! the server's own clock. Timing on paused tokio time.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use mailpush_push_proto::client::ClientEvent;
use mailpush_push_proto::ring::{Held, RingEffects, RingMeta};
use mailpush_push_proto::{
    Credential, Frame, FrameDecoder, NotificationId, ReasonCode, Timestamp, VersionRange, Window,
    frame_to_vec,
};
use mailpush_push_server::store::{DeviceRecord, MemoryStore, PendingWrite, Store, StoreError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

fn id(id: u64) -> NotificationId {
    NotificationId::new(id).unwrap()
}

/// Asserts that the server has sent nothing more to the device. On paused time the caller first
/// lets every ready task run (a sleep), so whatever the server would send is in the socket.
fn nothing_sent(device: &mut Device<TcpStream>) {
    let mut probe = [0u8; 64];
    match device.stream.try_read(&mut probe) {
        Err(error) => assert_eq!(error.kind(), std::io::ErrorKind::WouldBlock),
        Ok(n) => panic!("the server sent {n} octets"),
    }
}

#[tokio::test]
async fn a_close_before_hello_gets_no_answer() {
    let server = server(settings()).await;
    //= spec/device-channel.md#CHAN-29
    //# except `close` and `error`: after either the
    //# server MUST send nothing and close
    for first in [
        Frame::close(ReasonCode::ClientClose, "bye"),
        Frame::error(ReasonCode::InternalError, "oops"),
    ] {
        assert_eq!(
            raw_exchange(server.device_addr, &frame_to_vec(&first)).await,
            vec![]
        );
    }
    let frames = raw_exchange(server.device_addr, &frame_to_vec(&Frame::Ping)).await;
    assert!(matches!(
        frames.as_slice(),
        [Frame::Error {
            code: ReasonCode::UnexpectedFrame,
            ..
        }]
    ));
    server.shutdown().await;
}

/// Waits for the server to close the session as dead, and checks that it did so two keepalive
/// intervals (120 s) after `since`, within the second the spec allows.
async fn closed_as_dead(device: &mut Device<TcpStream>, since: Instant) {
    assert_eq!(
        device.next_event().await,
        Some(ClientEvent::Closed {
            code: ReasonCode::Timeout,
            by_peer: true
        })
    );
    let elapsed = since.elapsed();
    assert!(elapsed >= Duration::from_secs(120), "{elapsed:?}");
    assert!(elapsed <= Duration::from_secs(121), "{elapsed:?}");
}

#[tokio::test(start_paused = true)]
async fn the_dead_peer_deadline_counts_from_the_last_complete_frame() {
    let server = server(settings()).await;
    let (token, secret) = register(&server).await;
    let ping = frame_to_vec(&Frame::Ping);
    //= spec/device-channel.md#CHAN-31
    //# It MUST NOT close the session as
    //# dead before two `keepalive` intervals have passed since then, and MUST close it no later than one
    //# second after that.
    // Silent but for half a frame: closed two intervals after welcome.
    let mut dev = device(&server, &token, &secret, 0).await;
    let welcomed = Instant::now();
    tokio::time::sleep(Duration::from_secs(100)).await;
    dev.stream.write_all(&ping[..3]).await.unwrap();
    closed_as_dead(&mut dev, welcomed).await;

    //= spec/device-channel.md#CHAN-31
    //# from the later of two moments: when it sent `welcome`, and when it last received a complete frame
    //# on the session (octets of a frame not yet complete do not count).
    let mut dev = device(&server, &token, &secret, 0).await;
    tokio::time::sleep(Duration::from_secs(100)).await;
    let pinged = Instant::now();
    dev.stream.write_all(&ping).await.unwrap();
    closed_as_dead(&mut dev, pinged).await;
    server.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_notification_dropped_in_flight_keeps_its_place_in_the_window() {
    let mut settings = settings();
    settings.ring_capacity = 1;
    settings.window = Window::new(1).unwrap();
    let server = server(settings).await;
    let (token, secret) = register(&server).await;
    let mut dev = device(&server, &token, &secret, 0).await;
    let ttl = "TTL: 60\r\n";
    assert_eq!(push(&server, &token, ttl, &payload("a")).await.status, 201);
    assert_eq!(notification(&mut dev).await.0, 1);
    // The ring holds one: this push drops the first, which the device has not acknowledged.
    assert_eq!(push(&server, &token, ttl, &payload("b")).await.status, 201);
    tokio::time::sleep(Duration::from_secs(1)).await;
    //= spec/device-channel.md#CHAN-30
    //# A server MUST therefore not
    //# send a `notify` while `window` notifications sent on the session are unacknowledged, whatever
    //# happened to them since.
    nothing_sent(&mut dev);
    dev.ack(id(1)).await;
    let (second, retained, body) = notification(&mut dev).await;
    assert_eq!((second, retained, body), (2, true, payload("b")));
    server.shutdown().await;
}

#[tokio::test]
async fn a_marker_follows_an_expiry_while_the_device_is_online() {
    let mut settings = settings();
    settings.window = Window::new(1).unwrap();
    let server = server(settings).await;
    let (token, secret) = register(&server).await;
    let mut dev = device(&server, &token, &secret, 0).await;
    assert_eq!(
        push(&server, &token, "TTL: 60\r\n", &payload("a"))
            .await
            .status,
        201
    );
    assert_eq!(notification(&mut dev).await, (1, false, payload("a")));
    // The window is full, so a TTL-0 push expires at once although the device is connected.
    assert_eq!(
        push(&server, &token, "TTL: 0\r\n", &payload("now-or-never"))
            .await
            .status,
        201
    );
    dev.ack(id(1)).await;
    //= spec/device-channel.md#RING-13
    //# A device that stays connected thus also learns of a notification that expired,
    //# was dropped or was replaced while it was online.
    assert_eq!(notification(&mut dev).await, (3, true, String::new()));
    server.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn expiry_runs_on_the_server_clock_whatever_the_provider_says() {
    let server = server(settings()).await;
    let (token, secret) = register(&server).await;
    //= spec/architecture.md#ARCH-6
    //# A component MUST NOT rely on another component's clock: expiry and retention
    //# periods cross the network as durations (for example `TTL`), never as points in time.
    // A provider whose clock says 1990: the TTL still counts from acceptance here.
    let stale_date = "TTL: 60\r\nDate: Mon, 01 Jan 1990 00:00:00 GMT\r\n";
    assert_eq!(
        push(&server, &token, stale_date, &payload("a"))
            .await
            .status,
        201
    );
    tokio::time::sleep(Duration::from_secs(59)).await;
    let mut dev = device(&server, &token, &secret, 0).await;
    assert_eq!(notification(&mut dev).await, (1, true, payload("a")));
    dev.ack(id(1)).await;
    drop(dev);
    // And one whose clock says 2100: expired 60 seconds after acceptance all the same.
    let future_date = "TTL: 60\r\nDate: Fri, 01 Jan 2100 00:00:00 GMT\r\n";
    assert_eq!(
        push(&server, &token, future_date, &payload("b"))
            .await
            .status,
        201
    );
    tokio::time::sleep(Duration::from_secs(61)).await;
    let mut dev = device(&server, &token, &secret, 1).await;
    assert_eq!(notification(&mut dev).await, (3, true, String::new()));
    server.shutdown().await;
}

/// A store whose ring changes can be held back: while the gate is closed they queue, and
/// opening it applies them in order, the way a slow disk would commit them.
#[derive(Default)]
struct GatedStore {
    inner: MemoryStore,
    gate: Mutex<Gate>,
}

#[derive(Default)]
struct Gate {
    closed: bool,
    queue: VecDeque<QueuedChange>,
}

type QueuedChange = (
    String,
    RingMeta,
    RingEffects,
    tokio::sync::oneshot::Sender<Result<(), StoreError>>,
);

impl GatedStore {
    fn close(&self) {
        self.gate.lock().unwrap().closed = true;
    }

    fn open(&self) {
        let mut gate = self.gate.lock().unwrap();
        gate.closed = false;
        while let Some((token, meta, effects, done)) = gate.queue.pop_front() {
            let _ = done.send(self.inner.apply(&token, &meta, &effects));
        }
    }

    async fn wait_queued(&self, count: usize) {
        while self.gate.lock().unwrap().queue.len() < count {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Store for GatedStore {
    fn is_blocking(&self) -> bool {
        false
    }
    fn create_device(&self, device: &DeviceRecord) -> Result<(), StoreError> {
        self.inner.create_device(device)
    }
    fn device(&self, token: &str) -> Result<Option<DeviceRecord>, StoreError> {
        self.inner.device(token)
    }
    fn active_device_count(&self) -> Result<u64, StoreError> {
        self.inner.active_device_count()
    }
    fn unregister(&self, token: &str, at: Timestamp) -> Result<(), StoreError> {
        self.inner.unregister(token, at)
    }
    fn load_ring(&self, token: &str) -> Result<(RingMeta, Vec<Held>), StoreError> {
        self.inner.load_ring(token)
    }
    fn apply(&self, token: &str, meta: &RingMeta, effects: &RingEffects) -> Result<(), StoreError> {
        self.inner.apply(token, meta, effects)
    }
    fn submit(&self, token: &str, meta: RingMeta, effects: RingEffects) -> PendingWrite {
        let mut gate = self.gate.lock().unwrap();
        if !gate.closed {
            return PendingWrite::ready(self.inner.apply(token, &meta, &effects));
        }
        let (done, outcome) = tokio::sync::oneshot::channel();
        gate.queue
            .push_back((token.to_owned(), meta, effects, done));
        PendingWrite::queued(outcome)
    }
    fn set_route(&self, token: &str, node: Option<&str>) -> Result<(), StoreError> {
        self.inner.set_route(token, node)
    }
    fn route(&self, token: &str) -> Result<Option<String>, StoreError> {
        self.inner.route(token)
    }
}

#[tokio::test]
async fn an_acknowledgement_is_durable_before_anything_reports_it() {
    let store = Arc::new(GatedStore::default());
    let server = mailpush_push_server::start(settings(), Arc::clone(&store) as Arc<dyn Store>)
        .await
        .unwrap();
    let (token, secret) = register(&server).await;
    let mut dev = device(&server, &token, &secret, 0).await;
    let ttl = "TTL: 60\r\n";
    assert_eq!(push(&server, &token, ttl, &payload("a")).await.status, 201);
    assert_eq!(notification(&mut dev).await.0, 1);

    // The disk stalls: the acknowledgement is applied in memory, its deletion is not durable.
    store.close();
    dev.ack(id(1)).await;
    store.wait_queued(1).await;
    //= spec/device-channel.md#CHAN-32
    //# and before
    //# it answers `201` to a push for the device that it accepted after the `ack`.
    let second_push = tokio::spawn({
        let (addr, token) = (server.http_addr, token.clone());
        async move {
            http(
                addr,
                &push_request(&token, ttl, &payload("b")),
                payload("b").as_bytes(),
            )
            .await
            .status
        }
    });
    store.wait_queued(2).await;
    assert!(!second_push.is_finished());
    //= spec/device-channel.md#CHAN-32
    //# The deletion an `ack` causes ([CHAN-14](#CHAN-14)) MUST be
    //# durable before the server does anything that reports it or builds on it: before it sends
    //# `welcome` on a later session of the device (whose cursor reports the acknowledgement)
    // The device lost its cursor and connects again from 0.
    let mut again = TcpStream::connect(server.device_addr).await.unwrap();
    again
        .write_all(&frame_to_vec(&Frame::Hello {
            versions: VersionRange::new(1, 1).unwrap(),
            token: Credential::new(token.as_str()).unwrap(),
            secret: Credential::new(secret.as_str()).unwrap(),
            cursor: 0,
        }))
        .await
        .unwrap();
    store.wait_queued(3).await;
    let mut buffer = [0u8; 256];
    assert!(
        tokio::time::timeout(Duration::from_millis(100), again.read(&mut buffer))
            .await
            .is_err(),
        "welcome before the acknowledgement is durable"
    );
    assert!(!second_push.is_finished());

    store.open();
    assert_eq!(second_push.await.unwrap(), 201);
    let mut decoder = FrameDecoder::new();
    let welcome = loop {
        if let Some(frame) = decoder.next_frame().unwrap() {
            break frame;
        }
        let n = again.read(&mut buffer).await.unwrap();
        assert!(n > 0, "closed before welcome");
        decoder.extend(&buffer[..n]);
    };
    assert!(
        matches!(welcome, Frame::Welcome { cursor: 1, .. }),
        "{welcome:?}"
    );
    assert_eq!(store.load_ring(&token).unwrap().0.cursor, 1);
    server.shutdown().await;
}
