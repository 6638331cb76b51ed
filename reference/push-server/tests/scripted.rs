#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The device-channel driver against scripted streams (tokio-test): exact octets on the wire.

use std::sync::Arc;

use mailpush_push_proto::{
    Credential, Frame, Keepalive, NotificationId, Payload, ReasonCode, Timestamp, VersionRange,
    Window, frame_to_vec,
};
use mailpush_push_server::hub::{Hub, hash_secret};
use mailpush_push_server::store::{DeviceRecord, MemoryStore, Store};
use mailpush_push_server::{Clock, Settings, channel::serve_device};

const TOKEN: &str = "0000000000000000000000000000000000000000000000000000000000000001";

fn hub_with_device() -> Arc<Hub> {
    let store = Arc::new(MemoryStore::new());
    store
        .create_device(&DeviceRecord {
            token: TOKEN.into(),
            secret_hash: hash_secret("s3cret"),
            created_at: Timestamp(0),
            unregistered_at: None,
        })
        .unwrap();
    Hub::new(Settings::default(), store)
}

fn hello(secret: &str) -> Vec<u8> {
    frame_to_vec(&Frame::Hello {
        versions: VersionRange::new(1, 1).unwrap(),
        token: Credential::new(TOKEN).unwrap(),
        secret: Credential::new(secret).unwrap(),
        cursor: 0,
    })
}

#[tokio::test]
async fn scripted_session() {
    let hub = hub_with_device();
    let welcome = frame_to_vec(&Frame::Welcome {
        version: 1,
        cursor: 0,
        window: Window::DEFAULT,
        keepalive: Keepalive::DEFAULT,
    });
    let mut stream = tokio_test::io::Builder::new()
        .read(&hello("s3cret"))
        .write(&welcome)
        .read(&frame_to_vec(&Frame::Ping))
        .write(&frame_to_vec(&Frame::Pong))
        .read(&frame_to_vec(&Frame::close(ReasonCode::ClientClose, "bye")))
        .build();
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    serve_device(&mut stream, hub, Clock::new(), shutdown).await;
}

#[tokio::test]
async fn scripted_wrong_secret_gets_only_auth_failed() {
    let hub = hub_with_device();
    // Held notification for the device: it must not leak to a failed hello.
    {
        let entry = hub.device(TOKEN).await.unwrap().unwrap();
        let mut device = entry.lock().await;
        let accepted = device
            .ring
            .accept(
                Timestamp(0),
                60,
                None,
                Payload::new(&b"secret payload"[..]).unwrap(),
            )
            .unwrap();
        assert_eq!(accepted.id, NotificationId::new(1).unwrap());
    }
    //= spec/device-channel.md#CHAN-11
    //# Before it has sent `welcome`, a server MUST NOT send anything
    //# but `error` or `close` on a connection, and it MUST NOT send any notification to it.
    let mut stream = tokio_test::io::Builder::new()
        .read(&hello("wrong"))
        .write(&frame_to_vec(&Frame::error(
            ReasonCode::AuthFailed,
            "auth-failed",
        )))
        .build();
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    serve_device(&mut stream, hub, Clock::new(), shutdown).await;
}
