#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The `\Recent` watermark: claims are exclusive, counts follow them, old databases upgrade.

mod common;

use std::sync::Arc;

use common::append;
use mailpush_mail_store::{Config, MailboxId, Store, UserId};

fn with_inbox(store: &Store) -> (UserId, MailboxId) {
    let user = store.add_user("alice", b"secret").unwrap();
    let inbox = store.mailbox(user, "INBOX").unwrap().id;
    (user, inbox)
}

#[test]
fn a_message_is_claimed_once() {
    let store = Store::open_in_memory(Config::for_tests()).unwrap();
    let (_, inbox) = with_inbox(&store);
    assert_eq!(store.recent_watermark(inbox).unwrap(), 1);
    let a = append(&store, inbox);
    let b = append(&store, inbox);
    assert_eq!(store.recent_count(inbox).unwrap(), 2);
    // The first claim gets both messages, the second none.
    assert_eq!(store.claim_recent(inbox, b + 1).unwrap(), a);
    assert!(store.claim_recent(inbox, b + 1).unwrap() > b);
    assert_eq!(store.recent_count(inbox).unwrap(), 0);
    let c = append(&store, inbox);
    assert_eq!(store.recent_count(inbox).unwrap(), 1);
    // A claim below the watermark never lowers it.
    assert!(store.claim_recent(inbox, a).unwrap() >= a);
    assert_eq!(store.recent_watermark(inbox).unwrap(), c);
    assert_eq!(store.claim_recent(inbox, c + 1).unwrap(), c);
    assert_eq!(store.recent_watermark(inbox).unwrap(), c + 1);
}

#[test]
fn concurrent_claims_are_disjoint() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path().join("mail.db"), Config::for_tests()).unwrap());
    let (_, inbox) = with_inbox(&store);
    let mut last = 0;
    for _ in 0..20 {
        last = append(&store, inbox);
    }
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                // Each thread claims up to a different point, several times.
                let mut mine = Vec::new();
                for step in 0..5u32 {
                    let upto = (i + 1 + step * 5).min(last + 1);
                    let from = store.claim_recent(inbox, upto).unwrap();
                    mine.extend(from..upto);
                }
                mine
            })
        })
        .collect();
    let mut all: Vec<u32> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort_unstable();
    let before = all.len();
    all.dedup();
    assert_eq!(all.len(), before, "a UID was claimed twice");
    assert_eq!(all, (1..=last).collect::<Vec<_>>());
}

#[test]
fn a_version_1_database_is_upgraded_and_counts_everything_as_recent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail.db");
    let inbox = {
        let store = Store::open(&path, Config::for_tests()).unwrap();
        let (_, inbox) = with_inbox(&store);
        append(&store, inbox);
        append(&store, inbox);
        inbox
    };
    // What a database written before the watermark existed looks like.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP TABLE recent; UPDATE meta SET value = 1 WHERE key = 'schema_version';",
    )
    .unwrap();
    drop(conn);
    let store = Store::open(&path, Config::for_tests()).unwrap();
    assert_eq!(store.recent_count(inbox).unwrap(), 2);
    assert_eq!(store.claim_recent(inbox, 3).unwrap(), 1);
    drop(store);
    let version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, 2);
    // The claim survived reopening.
    let store = Store::open(&path, Config::for_tests()).unwrap();
    assert_eq!(store.recent_count(inbox).unwrap(), 0);
}

#[test]
fn a_deleted_mailbox_has_no_watermark() {
    let store = Store::open_in_memory(Config::for_tests()).unwrap();
    let (user, _) = with_inbox(&store);
    let id = store.create_mailbox(user, "Work").unwrap().value.id;
    append(&store, id);
    store.claim_recent(id, 2).unwrap();
    store.delete_mailbox(user, "Work").unwrap();
    assert!(store.recent_watermark(id).is_err());
    assert!(store.claim_recent(id, 5).is_err());
}
