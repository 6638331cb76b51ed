#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Both store backends behave alike, and SQLite keeps everything across reopening.

use mailpush_push_proto::ring::{DeviceRing, Topic};
use mailpush_push_proto::{Payload, Timestamp, Window};
use mailpush_push_server::store::{DeviceRecord, MemoryStore, SqliteStore, Store};

mod common;
use common::inject_failures;

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

/// Ring changes queued together with a change that fails are committed all the same, and the
/// failing one reports its own error: a batch is never failed as a whole for one change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_change_fails_alone_in_its_batch() {
    let path = std::env::temp_dir().join(format!(
        "mailpush-push-store-batch-{}.sqlite3",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    let store = std::sync::Arc::new(SqliteStore::open(&path).unwrap());
    store.create_device(&record("d3")).unwrap();
    let mut ring = DeviceRing::new(10);
    let mut pending = Vec::new();
    for i in 0..3u8 {
        let accepted = ring
            .accept(Timestamp(0), 60, None, Payload::new(vec![i]).unwrap())
            .unwrap();
        pending.push(store.submit("d3", ring.meta(), accepted.effects));
    }
    let duplicate = {
        let store = std::sync::Arc::clone(&store);
        tokio::task::spawn_blocking(move || store.create_device(&record("d3")))
    };
    let more = ring
        .accept(Timestamp(0), 60, None, Payload::new(vec![3]).unwrap())
        .unwrap();
    pending.push(store.submit("d3", ring.meta(), more.effects));
    assert!(matches!(
        duplicate.await.unwrap(),
        Err(mailpush_push_server::store::StoreError::Exists)
    ));
    for write in pending {
        write.durable().await.unwrap();
    }
    let (meta, held) = store.load_ring("d3").unwrap();
    assert_eq!(meta, ring.meta());
    assert_eq!(held, ring.held().cloned().collect::<Vec<_>>());
    assert_eq!(held.len(), 4);
    drop(store);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// Once a ring change of a device fails, the changes of that device queued after it, which
/// were computed over it, are not applied either, until the device is reset; other devices'
/// changes are not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_queued_after_a_failed_one_are_abandoned_until_reset() {
    let path = std::env::temp_dir().join(format!(
        "mailpush-push-store-abandon-{}.sqlite3",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    let store = SqliteStore::open(&path).unwrap();
    inject_failures(&path);
    store.create_device(&record("d4")).unwrap();
    store.create_device(&record("d5")).unwrap();
    let mut ring = DeviceRing::new(10);
    let mut other = DeviceRing::new(10);
    let accept = |ring: &mut DeviceRing, octets: &[u8]| {
        let accepted = ring
            .accept(
                Timestamp(0),
                60,
                None,
                Payload::new(octets.to_vec()).unwrap(),
            )
            .unwrap();
        (ring.meta(), accepted.effects)
    };
    let (meta, effects) = accept(&mut ring, b"first");
    let first = store.submit("d4", meta, effects);
    let (meta, effects) = accept(&mut ring, b"poison");
    let failing = store.submit("d4", meta, effects);
    let (meta, effects) = accept(&mut ring, b"after");
    let after = store.submit("d4", meta, effects);
    let (meta, effects) = accept(&mut other, b"elsewhere");
    let elsewhere = store.submit("d5", meta, effects);
    first.durable().await.unwrap();
    assert!(failing.durable().await.is_err());
    assert!(matches!(
        after.durable().await,
        Err(mailpush_push_server::store::StoreError::Abandoned)
    ));
    elsewhere.durable().await.unwrap();
    // Still abandoned, in a later batch, until reset.
    let (meta, effects) = accept(&mut ring, b"later");
    assert!(matches!(
        store.submit("d4", meta, effects).durable().await,
        Err(mailpush_push_server::store::StoreError::Abandoned)
    ));
    store.reset("d4").durable().await.unwrap();
    let (meta, held) = store.load_ring("d4").unwrap();
    assert_eq!(meta.last_id, 1, "only the first was applied");
    let (mut ring, _) = DeviceRing::restore(10, meta, held);
    let (meta, effects) = accept(&mut ring, b"after reset");
    store.submit("d4", meta, effects).durable().await.unwrap();
    let (meta, held) = store.load_ring("d4").unwrap();
    assert_eq!(meta.last_id, 2);
    assert_eq!(
        held.iter().map(|h| h.id.get()).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(store.load_ring("d5").unwrap().0.last_id, 1);
    drop(store);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
