#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Both store backends behave alike, and SQLite keeps everything across reopening.

use mailpush_push_proto::ring::{DeviceRing, Topic};
use mailpush_push_proto::{Payload, Timestamp, Window};
use mailpush_push_server::store::{DeviceRecord, MemoryStore, SqliteStore, Store};

fn record(token: &str) -> DeviceRecord {
    DeviceRecord {
        token: token.into(),
        secret_hash: "h".into(),
        created_at: Timestamp(1),
        unregistered_at: None,
    }
}

fn exercise(store: &dyn Store) {
    store.create_device(&record("d1")).unwrap();
    assert!(store.create_device(&record("d1")).is_err());
    let mut ring = DeviceRing::new(3);
    for i in 0..5u8 {
        let topic = (i == 4).then(|| Topic::new("t").unwrap());
        let accepted = ring
            .accept(Timestamp(10), 60, topic, Payload::new(vec![i]).unwrap())
            .unwrap();
        store.apply("d1", &ring.meta(), &accepted.effects).unwrap();
    }
    ring.open_session(0, Window::DEFAULT).unwrap();
    let (out, effects) = ring.poll_send(Timestamp(11));
    store.apply("d1", &ring.meta(), &effects).unwrap();
    let effects = ring.ack(out.unwrap().id).unwrap();
    store.apply("d1", &ring.meta(), &effects).unwrap();

    let (meta, held) = store.load_ring("d1").unwrap();
    assert_eq!(meta, ring.meta());
    assert_eq!(held, ring.held().cloned().collect::<Vec<_>>());
    assert_eq!(held.len(), 2);
    assert_eq!(store.active_device_count().unwrap(), 1);
    store.set_route("d1", Some("node-a")).unwrap();
    assert_eq!(store.route("d1").unwrap().as_deref(), Some("node-a"));
    //= spec/device-channel.md#RING-10
    //# When a device is unregistered the server MUST delete its ring.
    store.unregister("d1", Timestamp(99)).unwrap();
    assert_eq!(store.load_ring("d1").unwrap().1, vec![]);
    assert_eq!(
        store.device("d1").unwrap().unwrap().unregistered_at,
        Some(Timestamp(99))
    );
    assert_eq!(store.active_device_count().unwrap(), 0);
}

#[test]
fn memory_store() {
    exercise(&MemoryStore::new());
}

#[test]
fn sqlite_store_and_reopen() {
    let path = std::env::temp_dir().join(format!(
        "mailpush-push-store-{}.sqlite3",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    exercise(&SqliteStore::open(&path).unwrap());
    let store = SqliteStore::open(&path).unwrap();
    store.create_device(&record("d2")).unwrap();
    let mut ring = DeviceRing::new(10);
    let accepted = ring
        .accept(Timestamp(0), 60, None, Payload::new(&b"x"[..]).unwrap())
        .unwrap();
    store.apply("d2", &ring.meta(), &accepted.effects).unwrap();
    drop(store);
    let store = SqliteStore::open(&path).unwrap();
    let (meta, held) = store.load_ring("d2").unwrap();
    assert_eq!(meta.last_id, 1);
    assert_eq!(held.len(), 1);
    assert!(store.device("d1").unwrap().is_some());
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
