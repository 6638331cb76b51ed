#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Announced changes (spec/provider-api.md PROV-38): the announcer hears a write's changes
//! before the write's commit, the registrations can be looked up at that moment, and every read
//! that begins after it sees the change.

mod common;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use common::append;
use mailpush_mail_store::{
    Change, ChangeKind, Config, MailboxId, RegistrationRequest, Store, UserId,
};

/// Longest a test waits for an answer that a hang would never give; it measures nothing.
const HANG: Duration = Duration::from_secs(60);

fn store_with_notes() -> (tempfile::TempDir, Arc<Store>, UserId, MailboxId) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path().join("mail.db"), Config::for_tests()).unwrap());
    let user = store.add_user("alice", b"pw").unwrap();
    let notes = store.create_mailbox(user, "Notes").unwrap().value.id;
    (dir, store, user, notes)
}

/// A reader started by the announcement itself, before the commit it runs ahead of, sees the
/// appended message: a device told of a change and asking at once is never shown the state
/// before it.
#[test]
fn a_read_begun_after_the_announcement_sees_the_change() {
    //= spec/provider-api.md#PROV-38
    //# every IMAP command that begins after the request was sent MUST see the change
    let (_dir, store, user, notes) = store_with_notes();
    let (seen_tx, seen) = mpsc::channel::<(Vec<Change>, u32)>();
    let seen_tx = Mutex::new(seen_tx);
    let reader_store = Arc::clone(&store);
    store.announce_changes(Some(Arc::new(move |changes: &[Change]| {
        let store = Arc::clone(&reader_store);
        let changes = changes.to_vec();
        let tx = seen_tx.lock().unwrap().clone();
        // On a thread of its own: the announcing thread goes on to the commit.
        std::thread::spawn(move || {
            let uid_next = store.mailbox_by_id(notes).unwrap().uid_next;
            let _ = tx.send((changes, uid_next));
        });
    })));
    for round in 1..=20 {
        let uid = append(&store, notes);
        let (changes, uid_next) = seen.recv_timeout(HANG).unwrap();
        assert_eq!(changes.len(), 1, "round {round}: {changes:?}");
        assert!(
            matches!(&changes[0].kind, ChangeKind::Appended { uids } if uids == &vec![uid]),
            "round {round}: {changes:?}"
        );
        assert_eq!(
            uid_next,
            uid + 1,
            "round {round}: the read missed the change"
        );
    }
    // A write that changes no mailbox announces nothing; without an announcer nothing is heard.
    store.subscribe(user, "Notes").unwrap();
    store.announce_changes(None);
    append(&store, notes);
    assert!(seen.try_recv().is_err());
}

/// The announcer can look the push registrations up on the announcing thread, before the
/// commit: that read does not wait for the commit it runs ahead of.
#[test]
fn registrations_are_looked_up_before_the_commit() {
    let (_dir, store, user, notes) = store_with_notes();
    let now = SystemTime::now();
    let request = RegistrationRequest {
        account_id: "acct".to_owned(),
        device_token: "tok".to_owned(),
        subtopic: None,
        version: 2,
        mailboxes: vec!["Notes".to_owned()],
    };
    store.register_push(user, &request, now).unwrap();
    let (found_tx, found) = mpsc::channel::<Vec<String>>();
    let found_tx = Mutex::new(found_tx);
    let lookup_store = Arc::clone(&store);
    store.announce_changes(Some(Arc::new(move |changes: &[Change]| {
        for change in changes {
            let tokens = lookup_store
                .push_targets(change.user, &change.mailbox_name, now)
                .unwrap()
                .into_iter()
                .map(|t| t.registration.key.device_token)
                .collect();
            let _ = found_tx.lock().unwrap().send(tokens);
        }
    })));
    let writer = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || append(&store, notes))
    };
    assert_eq!(found.recv_timeout(HANG).unwrap(), ["tok"]);
    assert_eq!(writer.join().unwrap(), 1);
}

/// An announcer that panics fails the call, but the write is settled all the same: the readers
/// that wait for it go on, and see it committed.
#[test]
fn a_panicking_announcer_holds_no_reader_back() {
    let (_dir, store, _user, notes) = store_with_notes();
    store.announce_changes(Some(Arc::new(|_: &[Change]| {
        panic!("the announcer failed")
    })));
    let appended = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| append(&store, notes)));
    assert!(appended.is_err());
    store.announce_changes(None);
    let (read_tx, read) = mpsc::channel();
    let reader = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || {
            let _ = read_tx.send(store.mailbox_by_id(notes).unwrap().uid_next);
        })
    };
    assert_eq!(read.recv_timeout(HANG).unwrap(), 2);
    reader.join().unwrap();
}
