#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Behaviour of every store operation.

use mailpush_mail_store::{
    ChangeKind, Config, Error, Flag, FlagOp, Flags, InternalDate, Limits, MailboxId, Store, UidSet,
    UserId,
};

fn store() -> Store {
    Store::open_in_memory(Config::for_tests()).unwrap()
}

fn flags(list: &[&str]) -> Flags {
    Flags::parse(list.iter().copied()).unwrap()
}

fn date() -> InternalDate {
    InternalDate {
        unix_seconds: 1_700_000_000,
        utc_offset_minutes: 120,
    }
}

fn with_inbox(store: &Store) -> (UserId, MailboxId) {
    let user = store.add_user("alice", b"secret").unwrap();
    let inbox = store.mailbox(user, "INBOX").unwrap().id;
    (user, inbox)
}

fn append(store: &Store, mailbox: MailboxId, body: &str, flag_list: &[&str]) -> u32 {
    store
        .append(mailbox, body.as_bytes(), &flags(flag_list), date())
        .unwrap()
        .value
        .uid
}

// ----- users -----

#[test]
fn add_user_and_verify_password() {
    let store = store();
    let user = store.add_user("alice", b"secret").unwrap();
    assert_eq!(
        store.verify_password("alice", b"secret").unwrap(),
        Some(user)
    );
    assert_eq!(store.verify_password("alice", b"Secret").unwrap(), None);
    assert_eq!(store.verify_password("bob", b"secret").unwrap(), None);
    assert_eq!(store.user_id("alice").unwrap(), Some(user));
    assert_eq!(store.users().unwrap(), vec!["alice".to_owned()]);
}

#[test]
fn passwords_are_stored_as_argon2id_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail.db");
    let store = Store::open(&path, Config::for_tests()).unwrap();
    store.add_user("alice", b"secret").unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let hash: String = conn
        .query_row("SELECT password_hash FROM users", [], |r| r.get(0))
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains("secret"));
}

#[test]
fn duplicate_and_invalid_user_names_are_refused() {
    let store = store();
    store.add_user("alice", b"x").unwrap();
    assert!(matches!(
        store.add_user("alice", b"y"),
        Err(Error::UserExists(_))
    ));
    assert!(matches!(
        store.add_user("", b"y"),
        Err(Error::InvalidUserName(_))
    ));
    assert!(matches!(
        store.add_user("a b", b"y"),
        Err(Error::InvalidUserName(_))
    ));
    assert!(matches!(
        store.add_user("a\nb", b"y"),
        Err(Error::InvalidUserName(_))
    ));
    let long = vec![b'p'; mailpush_mail_store::MAX_PASSWORD_LEN + 1];
    assert!(matches!(
        store.add_user("bob", &long),
        Err(Error::PasswordTooLong { .. })
    ));
    assert_eq!(store.verify_password("alice", &long).unwrap(), None);
    // The first password still works: failures changed nothing.
    assert!(store.verify_password("alice", b"x").unwrap().is_some());
}

#[test]
fn change_password() {
    let store = store();
    let user = store.add_user("alice", b"old").unwrap();
    store.set_password("alice", b"new").unwrap();
    assert_eq!(store.verify_password("alice", b"old").unwrap(), None);
    assert_eq!(store.verify_password("alice", b"new").unwrap(), Some(user));
    assert!(matches!(
        store.set_password("bob", b"x"),
        Err(Error::NoSuchUser)
    ));
}

#[test]
fn delete_user_removes_everything() {
    let store = store();
    let (user, inbox) = with_inbox(&store);
    append(&store, inbox, "hello", &[]);
    store.delete_user("alice").unwrap();
    assert_eq!(store.verify_password("alice", b"secret").unwrap(), None);
    assert!(matches!(store.mailboxes(user), Err(Error::NoSuchUser)));
    assert!(matches!(store.uids(inbox), Err(Error::NoSuchMailbox(_))));
    assert!(matches!(store.delete_user("alice"), Err(Error::NoSuchUser)));
    // The name can be used again, with a fresh INBOX.
    let again = store.add_user("alice", b"x").unwrap();
    assert_eq!(store.mailbox(again, "INBOX").unwrap().messages, 0);
}

// ----- mailboxes -----

#[test]
fn inbox_exists_and_is_case_insensitive() {
    let store = store();
    let (user, inbox) = with_inbox(&store);
    for spelling in ["INBOX", "inbox", "InBoX"] {
        let info = store.mailbox(user, spelling).unwrap();
        assert_eq!(info.id, inbox);
        assert_eq!(info.name, "INBOX");
    }
    assert!(matches!(
        store.create_mailbox(user, "Inbox"),
        Err(Error::MailboxExists(_))
    ));
    assert!(matches!(
        store.delete_mailbox(user, "inbox"),
        Err(Error::CannotDeleteInbox)
    ));
    let info = store.mailbox(user, "INBOX").unwrap();
    assert_eq!(
        (info.uid_next, info.highest_modseq, info.messages),
        (1, 1, 0)
    );
    // Other names are case-sensitive.
    store.create_mailbox(user, "Notes").unwrap();
    store.create_mailbox(user, "notes").unwrap();
    assert_eq!(store.mailboxes(user).unwrap().len(), 3);
}

#[test]
fn create_makes_superiors_and_reports_each() {
    let store = store();
    let (user, _) = with_inbox(&store);
    let applied = store.create_mailbox(user, "a/b/c/").unwrap();
    assert_eq!(applied.value.name, "a/b/c");
    let created: Vec<&str> = applied
        .changes
        .iter()
        .inspect(|c| assert_eq!(c.kind, ChangeKind::Created))
        .map(|c| c.mailbox_name.as_str())
        .collect();
    assert_eq!(created, ["a", "a/b", "a/b/c"]);
    let names: Vec<String> = store
        .mailboxes(user)
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, ["INBOX", "a", "a/b", "a/b/c"]);
    assert!(matches!(
        store.create_mailbox(user, "a/b"),
        Err(Error::MailboxExists(_))
    ));
}

#[test]
fn invalid_mailbox_names_are_refused() {
    let store = store();
    let (user, _) = with_inbox(&store);
    for bad in ["", "/", "a//b", "/a", "a*", "a%b", "a\r\nb", "a\0"] {
        assert!(
            matches!(
                store.create_mailbox(user, bad),
                Err(Error::InvalidMailboxName(_))
            ),
            "{bad:?}"
        );
    }
    let long = "x".repeat(Limits::default().max_mailbox_name_len + 1);
    assert!(matches!(
        store.create_mailbox(user, &long),
        Err(Error::InvalidMailboxName(_))
    ));
    assert_eq!(store.mailboxes(user).unwrap().len(), 1);
}

#[test]
fn mailbox_count_is_limited() {
    let mut config = Config::for_tests();
    config.limits.max_mailboxes_per_user = 3;
    let store = Store::open_in_memory(config).unwrap();
    let (user, _) = with_inbox(&store);
    store.create_mailbox(user, "one").unwrap();
    // Would need "x" and "x/y": one too many, and nothing is created.
    assert!(matches!(
        store.create_mailbox(user, "x/y"),
        Err(Error::TooManyMailboxes { limit: 3 })
    ));
    assert!(store.mailbox(user, "x").is_err());
    store.create_mailbox(user, "two").unwrap();
    assert!(matches!(
        store.create_mailbox(user, "three"),
        Err(Error::TooManyMailboxes { .. })
    ));
}

#[test]
fn recreated_mailbox_gets_new_uidvalidity_and_fresh_uids() {
    let store = store();
    let (user, _) = with_inbox(&store);
    let first = store.create_mailbox(user, "Notes").unwrap().value;
    append(&store, first.id, "one", &[]);
    let applied = store.delete_mailbox(user, "Notes").unwrap();
    assert_eq!(applied.changes[0].kind, ChangeKind::Deleted);
    assert!(matches!(
        store.mailbox(user, "Notes"),
        Err(Error::NoSuchMailbox(_))
    ));
    assert!(matches!(store.uids(first.id), Err(Error::NoSuchMailbox(_))));
    let second = store.create_mailbox(user, "Notes").unwrap().value;
    assert_ne!(second.uid_validity, first.uid_validity);
    assert_ne!(second.id, first.id);
    assert_eq!((second.uid_next, second.messages), (1, 0));
    assert!(matches!(
        store.delete_mailbox(user, "Nope"),
        Err(Error::NoSuchMailbox(_))
    ));
}

#[test]
fn delete_keeps_inferiors() {
    let store = store();
    let (user, _) = with_inbox(&store);
    store.create_mailbox(user, "a/b").unwrap();
    store.delete_mailbox(user, "a").unwrap();
    assert!(store.mailbox(user, "a/b").is_ok());
}

#[test]
fn rename_moves_inferiors_and_keeps_uids() {
    let store = store();
    let (user, _) = with_inbox(&store);
    let a = store.create_mailbox(user, "a").unwrap().value;
    store.create_mailbox(user, "a/b").unwrap();
    store.create_mailbox(user, "ab").unwrap();
    let uid = append(&store, a.id, "kept", &["\\Seen"]);
    let applied = store.rename_mailbox(user, "a", "x/y").unwrap();
    let renamed: Vec<(String, ChangeKind)> = applied
        .changes
        .iter()
        .map(|c| (c.mailbox_name.clone(), c.kind.clone()))
        .collect();
    assert_eq!(
        renamed,
        [
            ("x/y".to_owned(), ChangeKind::Renamed { from: "a".into() }),
            (
                "x/y/b".to_owned(),
                ChangeKind::Renamed { from: "a/b".into() }
            ),
            ("x".to_owned(), ChangeKind::Created),
        ]
    );
    let moved = store.mailbox(user, "x/y").unwrap();
    assert_eq!((moved.id, moved.uid_validity), (a.id, a.uid_validity));
    assert_eq!(store.message(moved.id, uid).unwrap().unwrap().raw, b"kept");
    let names: Vec<String> = store
        .mailboxes(user)
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, ["INBOX", "ab", "x", "x/y", "x/y/b"]);
}

#[test]
fn rename_errors_change_nothing() {
    let store = store();
    let (user, _) = with_inbox(&store);
    store.create_mailbox(user, "a").unwrap();
    store.create_mailbox(user, "b").unwrap();
    assert!(matches!(
        store.rename_mailbox(user, "a", "b"),
        Err(Error::MailboxExists(_))
    ));
    assert!(matches!(
        store.rename_mailbox(user, "a", "inbox"),
        Err(Error::MailboxExists(_))
    ));
    assert!(matches!(
        store.rename_mailbox(user, "a", "a/c"),
        Err(Error::RenameBelowItself)
    ));
    assert!(matches!(
        store.rename_mailbox(user, "zz", "c"),
        Err(Error::NoSuchMailbox(_))
    ));
    assert!(matches!(
        store.rename_mailbox(user, "a", "c//d"),
        Err(Error::InvalidMailboxName(_))
    ));
    let names: Vec<String> = store
        .mailboxes(user)
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, ["INBOX", "a", "b"]);
}

#[test]
fn rename_inbox_moves_its_messages_and_leaves_a_new_empty_inbox() {
    let store = store();
    let (user, inbox) = with_inbox(&store);
    store.create_mailbox(user, "INBOX/child").unwrap();
    let before = store.mailbox(user, "INBOX").unwrap();
    let uid = append(&store, inbox, "old mail", &[]);
    let applied = store.rename_mailbox(user, "inbox", "Old").unwrap();
    assert!(applied.changes.iter().any(|c| c.kind
        == ChangeKind::Renamed {
            from: "INBOX".into()
        }));
    let old = store.mailbox(user, "Old").unwrap();
    assert_eq!(old.uid_validity, before.uid_validity);
    assert_eq!(
        store.message(old.id, uid).unwrap().unwrap().raw,
        b"old mail"
    );
    let inbox = store.mailbox(user, "INBOX").unwrap();
    assert_ne!(inbox.uid_validity, before.uid_validity);
    assert_eq!((inbox.messages, inbox.uid_next), (0, 1));
    // Inferiors of INBOX stay where they are.
    assert!(store.mailbox(user, "INBOX/child").is_ok());
}

#[test]
fn subscriptions_survive_deletion() {
    let store = store();
    let (user, _) = with_inbox(&store);
    store.create_mailbox(user, "Notes").unwrap();
    store.subscribe(user, "Notes").unwrap();
    store.subscribe(user, "inbox").unwrap();
    store.subscribe(user, "Notes").unwrap();
    assert!(store.mailbox(user, "Notes").unwrap().subscribed);
    assert_eq!(store.subscriptions(user).unwrap(), ["INBOX", "Notes"]);
    store.delete_mailbox(user, "Notes").unwrap();
    assert_eq!(store.subscriptions(user).unwrap(), ["INBOX", "Notes"]);
    store.unsubscribe(user, "Notes").unwrap();
    assert_eq!(store.subscriptions(user).unwrap(), ["INBOX"]);
    assert!(
        !store
            .create_mailbox(user, "Notes")
            .unwrap()
            .value
            .subscribed
    );
}

// ----- messages -----

#[test]
fn append_returns_increasing_uids_and_keeps_the_bytes() {
    let store = store();
    let (_, inbox) = with_inbox(&store);
    let info = store.mailbox_by_id(inbox).unwrap();
    let body = b"From: a@example.org\r\nSubject: \xff binary\r\n\r\n\0body\r\n";
    let first = store
        .append(inbox, body, &flags(&["\\Seen", "$Forwarded"]), date())
        .unwrap();
    assert_eq!(first.value.uid, 1);
    assert_eq!(first.value.uid_validity, info.uid_validity);
    assert_eq!(first.value.modseq, 2);
    assert_eq!(
        first.changes[0].kind,
        ChangeKind::Appended { uids: vec![1] }
    );
    assert_eq!(first.changes[0].highest_modseq, 2);
    assert_eq!(append(&store, inbox, "second", &[]), 2);
    let message = store.message(inbox, 1).unwrap().unwrap();
    assert_eq!(message.raw, body);
    assert_eq!(message.meta.size, body.len() as u64);
    assert_eq!(message.meta.internal_date, date());
    assert_eq!(message.meta.flags, flags(&["$forwarded", "\\SEEN"]));
    assert!(store.message(inbox, 3).unwrap().is_none());
    let info = store.mailbox_by_id(inbox).unwrap();
    assert_eq!(
        (
            info.messages,
            info.unseen,
            info.uid_next,
            info.highest_modseq
        ),
        (2, 1, 3, 3)
    );
}

#[test]
fn oversized_messages_and_bad_flags_are_refused() {
    let mut config = Config::for_tests();
    config.limits.max_message_size = 10;
    let store = Store::open_in_memory(config).unwrap();
    let (_, inbox) = with_inbox(&store);
    assert!(matches!(
        store.append(inbox, b"12345678901", &Flags::new(), date()),
        Err(Error::MessageTooLarge {
            size: 11,
            limit: 10
        })
    ));
    store
        .append(inbox, b"1234567890", &Flags::new(), date())
        .unwrap();
    assert!(matches!(
        Flag::parse("\\Recent"),
        Err(Error::InvalidFlag(_))
    ));
    assert!(matches!(
        Flag::parse("\\Whatever"),
        Err(Error::InvalidFlag(_))
    ));
    assert!(matches!(Flag::parse("a b"), Err(Error::InvalidFlag(_))));
    assert!(matches!(Flag::parse("a(b"), Err(Error::InvalidFlag(_))));
    assert!(matches!(Flag::parse(""), Err(Error::InvalidFlag(_))));
    let too_many: Flags = (0..=Flags::MAX)
        .map(|i| Flag::parse(&format!("k{i}")).unwrap())
        .collect();
    assert!(matches!(
        store.append(inbox, b"x", &too_many, date()),
        Err(Error::InvalidFlag(_))
    ));
    assert_eq!(store.uids(inbox).unwrap(), [1]);
}

#[test]
fn append_to_missing_mailbox_fails() {
    let store = store();
    let (user, _) = with_inbox(&store);
    let gone = store.create_mailbox(user, "gone").unwrap().value.id;
    store.delete_mailbox(user, "gone").unwrap();
    assert!(matches!(
        store.append(gone, b"x", &Flags::new(), date()),
        Err(Error::NoSuchMailbox(_))
    ));
}

#[test]
fn copy_maps_uids_and_keeps_flags_and_dates() {
    let store = store();
    let (user, inbox) = with_inbox(&store);
    let notes = store.create_mailbox(user, "Notes").unwrap().value;
    append(&store, notes.id, "existing", &[]);
    for i in 0..4 {
        append(
            &store,
            inbox,
            &format!("m{i}"),
            if i == 1 { &["\\Flagged"] } else { &[] },
        );
    }
    let applied = store
        .copy(inbox, &UidSet::from_iter([2, 4, 9]), notes.id)
        .unwrap();
    assert_eq!(applied.value.uid_validity, notes.uid_validity);
    assert_eq!(applied.value.mapping, [(2, 2), (4, 3)]);
    assert_eq!(applied.changes.len(), 1);
    assert_eq!(applied.changes[0].mailbox, notes.id);
    assert_eq!(
        applied.changes[0].kind,
        ChangeKind::Appended { uids: vec![2, 3] }
    );
    let copy = store.message(notes.id, 2).unwrap().unwrap();
    assert_eq!(copy.raw, b"m1");
    assert_eq!(copy.meta.flags, flags(&["\\Flagged"]));
    assert_eq!(copy.meta.internal_date, date());
    // The source is untouched.
    assert_eq!(store.uids(inbox).unwrap(), [1, 2, 3, 4]);
    // Nothing to copy: no change, no new MODSEQ.
    let before = store.mailbox_by_id(notes.id).unwrap().highest_modseq;
    let none = store
        .copy(inbox, &UidSet::from_iter([7]), notes.id)
        .unwrap();
    assert!(none.value.mapping.is_empty() && none.changes.is_empty());
    assert_eq!(
        store.mailbox_by_id(notes.id).unwrap().highest_modseq,
        before
    );
}

#[test]
fn copy_across_users_is_refused() {
    let store = store();
    let (_, inbox) = with_inbox(&store);
    let bob = store.add_user("bob", b"x").unwrap();
    let bobs = store.mailbox(bob, "INBOX").unwrap().id;
    append(&store, inbox, "private", &[]);
    assert!(matches!(
        store.copy(inbox, &UidSet::all(), bobs),
        Err(Error::NoSuchMailbox(_))
    ));
    assert!(store.uids(bobs).unwrap().is_empty());
}

#[test]
fn move_copies_then_expunges_with_history() {
    let store = store();
    let (user, inbox) = with_inbox(&store);
    let archive = store.create_mailbox(user, "Archive").unwrap().value;
    for i in 0..3 {
        append(&store, inbox, &format!("m{i}"), &[]);
    }
    let before = store.mailbox_by_id(inbox).unwrap().highest_modseq;
    let applied = store
        .move_messages(inbox, &UidSet::range(1, 2), archive.id)
        .unwrap();
    assert_eq!(applied.value.mapping, [(1, 1), (2, 2)]);
    let kinds: Vec<(MailboxId, ChangeKind)> = applied
        .changes
        .iter()
        .map(|c| (c.mailbox, c.kind.clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            (archive.id, ChangeKind::Appended { uids: vec![1, 2] }),
            (inbox, ChangeKind::Expunged { uids: vec![1, 2] }),
        ]
    );
    assert_eq!(store.uids(inbox).unwrap(), [3]);
    assert_eq!(store.expunged_since(inbox, before).unwrap(), [1, 2]);
    assert!(store.mailbox_by_id(inbox).unwrap().highest_modseq > before);
    assert_eq!(store.message(archive.id, 2).unwrap().unwrap().raw, b"m1");
}

#[test]
fn move_within_one_mailbox_renumbers() {
    let store = store();
    let (_, inbox) = with_inbox(&store);
    append(&store, inbox, "m", &[]);
    let applied = store.move_messages(inbox, &UidSet::all(), inbox).unwrap();
    assert_eq!(applied.value.mapping, [(1, 2)]);
    assert_eq!(store.uids(inbox).unwrap(), [2]);
    assert_eq!(store.expunged_since(inbox, 0).unwrap(), [1]);
}

#[test]
fn store_flags_add_remove_replace_with_modseq() {
    let store = store();
    let (_, inbox) = with_inbox(&store);
    for _ in 0..3 {
        append(&store, inbox, "m", &[]);
    }
    let hms = store.mailbox_by_id(inbox).unwrap().highest_modseq;
    let added = store
        .store_flags(
            inbox,
            &UidSet::range(1, 2),
            FlagOp::Add,
            &flags(&["\\Seen", "Work"]),
            None,
        )
        .unwrap();
    let modseq = hms + 1;
    assert_eq!(added.value.updated.len(), 2);
    for meta in &added.value.updated {
        assert_eq!(meta.modseq, modseq);
        assert_eq!(meta.flags, flags(&["\\Seen", "work"]));
    }
    assert_eq!(
        added.changes[0].kind,
        ChangeKind::FlagsChanged { uids: vec![1, 2] }
    );
    assert_eq!(added.changes[0].highest_modseq, modseq);
    let removed = store
        .store_flags(
            inbox,
            &UidSet::all(),
            FlagOp::Remove,
            &flags(&["WORK"]),
            None,
        )
        .unwrap();
    assert_eq!(
        removed
            .value
            .updated
            .iter()
            .map(|m| m.uid)
            .collect::<Vec<_>>(),
        [1, 2]
    );
    let replaced = store
        .store_flags(
            inbox,
            &UidSet::from_iter([3]),
            FlagOp::Replace,
            &flags(&["\\Draft"]),
            None,
        )
        .unwrap();
    assert_eq!(replaced.value.updated[0].flags, flags(&["\\Draft"]));
    let metas = store.messages(inbox, &UidSet::all()).unwrap();
    let seen: Vec<Flags> = metas.iter().map(|m| m.flags.clone()).collect();
    assert_eq!(
        seen,
        [flags(&["\\Seen"]), flags(&["\\Seen"]), flags(&["\\Draft"])]
    );
    assert_eq!(store.mailbox_by_id(inbox).unwrap().unseen, 1);
    assert_eq!(store.mailbox_by_id(inbox).unwrap().highest_modseq, hms + 3);
}

#[test]
fn store_that_changes_nothing_keeps_modseq() {
    let store = store();
    let (_, inbox) = with_inbox(&store);
    append(&store, inbox, "m", &["\\Seen"]);
    let before = store.mailbox_by_id(inbox).unwrap().highest_modseq;
    let applied = store
        .store_flags(
            inbox,
            &UidSet::all(),
            FlagOp::Add,
            &flags(&["\\Seen"]),
            None,
        )
        .unwrap();
    assert!(applied.value.updated.is_empty() && applied.changes.is_empty());
    assert_eq!(store.mailbox_by_id(inbox).unwrap().highest_modseq, before);
}

#[test]
fn unchanged_since_reports_modified_messages() {
    let store = store();
    let (_, inbox) = with_inbox(&store);
    append(&store, inbox, "a", &[]); // modseq 2
    append(&store, inbox, "b", &[]); // modseq 3
    let applied = store
        .store_flags(
            inbox,
            &UidSet::all(),
            FlagOp::Add,
            &flags(&["\\Flagged"]),
            Some(2),
        )
        .unwrap();
    assert_eq!(applied.value.modified, [2]);
    assert_eq!(
        applied
            .value
            .updated
            .iter()
            .map(|m| m.uid)
            .collect::<Vec<_>>(),
        [1]
    );
    assert!(
        !store
            .message(inbox, 2)
            .unwrap()
            .unwrap()
            .meta
            .flags
            .contains(&Flag::Flagged)
    );
    // RFC 7162 §3.1.3: UNCHANGEDSINCE 0 always fails.
    let zero = store
        .store_flags(
            inbox,
            &UidSet::all(),
            FlagOp::Add,
            &flags(&["\\Seen"]),
            Some(0),
        )
        .unwrap();
    assert_eq!(zero.value.modified, [1, 2]);
    assert!(zero.changes.is_empty());
}

#[test]
fn expunge_removes_deleted_messages_and_raises_modseq() {
    let store = store();
    let (_, inbox) = with_inbox(&store);
    append(&store, inbox, "a", &["\\Deleted"]);
    append(&store, inbox, "b", &[]);
    append(&store, inbox, "c", &["\\Deleted"]);
    append(&store, inbox, "d", &["\\Deleted"]);
    let before = store.mailbox_by_id(inbox).unwrap().highest_modseq;
    // UID EXPUNGE only touches the given UIDs.
    let some = store.expunge(inbox, Some(&UidSet::range(2, 3))).unwrap();
    assert_eq!(some.value, [3]);
    assert_eq!(some.changes[0].kind, ChangeKind::Expunged { uids: vec![3] });
    assert_eq!(some.changes[0].highest_modseq, before + 1);
    let rest = store.expunge(inbox, None).unwrap();
    assert_eq!(rest.value, [1, 4]);
    assert_eq!(store.uids(inbox).unwrap(), [2]);
    assert_eq!(
        store.mailbox_by_id(inbox).unwrap().highest_modseq,
        before + 2
    );
    assert_eq!(store.expunged_since(inbox, before).unwrap(), [1, 3, 4]);
    assert_eq!(store.expunged_since(inbox, before + 1).unwrap(), [1, 4]);
    assert!(store.expunged_since(inbox, before + 2).unwrap().is_empty());
    // Nothing to expunge: no change.
    let none = store.expunge(inbox, None).unwrap();
    assert!(none.value.is_empty() && none.changes.is_empty());
    // Expunged UIDs are never handed out again.
    assert_eq!(append(&store, inbox, "e", &[]), 5);
}

#[test]
fn changed_since_lists_new_and_changed_messages() {
    let store = store();
    let (_, inbox) = with_inbox(&store);
    append(&store, inbox, "a", &[]);
    append(&store, inbox, "b", &[]);
    let mark = store.mailbox_by_id(inbox).unwrap().highest_modseq;
    assert!(store.changed_since(inbox, mark).unwrap().is_empty());
    store
        .store_flags(
            inbox,
            &UidSet::from_iter([1]),
            FlagOp::Add,
            &flags(&["\\Seen"]),
            None,
        )
        .unwrap();
    append(&store, inbox, "c", &[]);
    let changed: Vec<u32> = store
        .changed_since(inbox, mark)
        .unwrap()
        .iter()
        .map(|m| m.uid)
        .collect();
    assert_eq!(changed, [1, 3]);
    assert_eq!(store.changed_since(inbox, 0).unwrap().len(), 3);
}

#[test]
fn uid_sets_merge_and_skip_zero() {
    let mut set = UidSet::range(5, 3);
    set.insert(6);
    set.insert(1);
    set.insert_range(0, 0);
    assert_eq!(set.ranges(), [1..=1, 3..=6]);
    assert!(set.contains(4) && !set.contains(2) && !set.contains(0));
    assert_eq!(UidSet::all().ranges(), [1..=u32::MAX]);
}

#[test]
fn keywords_compare_case_insensitively_but_keep_spelling() {
    let store = store();
    let (_, inbox) = with_inbox(&store);
    append(&store, inbox, "a", &["$Forwarded"]);
    let applied = store
        .store_flags(
            inbox,
            &UidSet::all(),
            FlagOp::Add,
            &flags(&["$FORWARDED"]),
            None,
        )
        .unwrap();
    assert!(applied.changes.is_empty());
    let meta = &store.messages(inbox, &UidSet::all()).unwrap()[0];
    assert_eq!(
        meta.flags.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
        ["$Forwarded"]
    );
}

#[test]
fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail.db");
    let (user, uid_validity) = {
        let store = Store::open(&path, Config::for_tests()).unwrap();
        let (user, inbox) = with_inbox(&store);
        append(&store, inbox, "persisted", &["\\Seen"]);
        (user, store.mailbox_by_id(inbox).unwrap().uid_validity)
    };
    let store = Store::open(&path, Config::for_tests()).unwrap();
    let inbox = store.mailbox(user, "INBOX").unwrap();
    assert_eq!(
        (inbox.uid_validity, inbox.messages, inbox.uid_next),
        (uid_validity, 1, 2)
    );
    assert_eq!(
        store.message(inbox.id, 1).unwrap().unwrap().raw,
        b"persisted"
    );
    // A name re-created after reopening still gets a new UIDVALIDITY.
    let a = store.create_mailbox(user, "a").unwrap().value.uid_validity;
    store.delete_mailbox(user, "a").unwrap();
    drop(store);
    let store = Store::open(&path, Config::for_tests()).unwrap();
    assert_ne!(
        store.create_mailbox(user, "a").unwrap().value.uid_validity,
        a
    );
    let mode: String = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn a_database_of_another_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail.db");
    drop(Store::open(&path, Config::for_tests()).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE meta SET value = 99 WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
    assert!(matches!(
        Store::open(&path, Config::for_tests()),
        Err(Error::SchemaVersion {
            found: 99,
            expected: 2
        })
    ));
}

#[test]
fn inbox_can_be_renamed_below_itself() {
    let store = store();
    let (user, inbox) = with_inbox(&store);
    append(&store, inbox, "old", &[]);
    store.rename_mailbox(user, "INBOX", "INBOX/2025").unwrap();
    let archived = store.mailbox(user, "INBOX/2025").unwrap();
    assert_eq!((archived.id, archived.messages), (inbox, 1));
    let fresh = store.mailbox(user, "INBOX").unwrap();
    assert_ne!(fresh.id, inbox);
    assert_eq!(fresh.messages, 0);
}

#[test]
fn concurrent_sessions_see_every_acknowledged_write() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("mail.db"), Config::for_tests()).unwrap();
    let (user, inbox) = with_inbox(&store);
    std::thread::scope(|scope| {
        for writer in 0..4 {
            let store = &store;
            scope.spawn(move || {
                for i in 0..25 {
                    // A failing write in the same batch as others changes nothing but itself.
                    let dup = store.create_mailbox(user, "shared");
                    assert!(dup.is_ok() || matches!(dup, Err(Error::MailboxExists(_))));
                    let body = format!("writer {writer} message {i}");
                    let uid = append(store, inbox, &body, &[]);
                    // A read right after the acknowledged write sees it, on any connection.
                    assert_eq!(
                        store.message(inbox, uid).unwrap().unwrap().raw,
                        body.as_bytes()
                    );
                    let info = store.mailbox(user, "INBOX").unwrap();
                    assert!(info.uid_next > uid);
                }
            });
        }
    });
    let uids = store.uids(inbox).unwrap();
    assert_eq!(uids, (1..=100).collect::<Vec<u32>>());
    assert_eq!(store.mailbox_by_id(inbox).unwrap().highest_modseq, 101);
    assert_eq!(store.mailboxes(user).unwrap().len(), 2);
    drop(store);
    let reopened = Store::open(dir.path().join("mail.db"), Config::for_tests()).unwrap();
    assert_eq!(reopened.uids(inbox).unwrap().len(), 100);
}

#[test]
fn new_messages_flag_changes_expunges_and_mailbox_events_push() {
    //= spec/provider-api.md#PROV-18
    //# the mail server
    //# MUST request a push when a registered mailbox of that registration changes by: a new message (a
    //# delivery, `APPEND`, `COPY` or `MOVE` into it), a flag change (`STORE`, including `\Deleted` and
    //# `\Seen`), or an expunge (`EXPUNGE`, `UID EXPUNGE`, `MOVE` out of it, `CLOSE` that expunges).
    let store = store();
    let (user, inbox) = with_inbox(&store);
    let other = store.create_mailbox(user, "Other").unwrap();
    let mut pushing = Vec::new();
    let mut record = |changes: Vec<mailpush_mail_store::Change>| {
        for c in changes.into_iter().filter(|c| c.kind.pushes()) {
            pushing.push((c.mailbox_name, format!("{:?}", c.kind)));
        }
    };
    record(
        store
            .append(inbox, b"a", &Flags::new(), date())
            .unwrap()
            .changes,
    );
    record(
        store
            .copy(inbox, &UidSet::all(), other.value.id)
            .unwrap()
            .changes,
    );
    let deleted = flags(&["\\Deleted"]);
    record(
        store
            .store_flags(inbox, &UidSet::all(), FlagOp::Add, &deleted, None)
            .unwrap()
            .changes,
    );
    record(store.expunge(inbox, None).unwrap().changes);
    record(
        store
            .move_messages(other.value.id, &UidSet::all(), inbox)
            .unwrap()
            .changes,
    );
    //= spec/provider-api.md#PROV-18
    //# It MUST also request a
    //# push, naming the mailbox under the name the registration holds, when a registered mailbox is deleted,
    //# renamed (the push names its old name) or created again under that name
    let renamed = store.rename_mailbox(user, "Other", "Renamed").unwrap();
    let names: Vec<Vec<&str>> = renamed
        .changes
        .iter()
        .map(|c| c.kind.pushed_names(&c.mailbox_name))
        .collect();
    assert_eq!(names, [["Other", "Renamed"]]);
    record(renamed.changes);
    record(store.delete_mailbox(user, "Renamed").unwrap().changes);
    record(store.create_mailbox(user, "Other").unwrap().changes);
    // A subscription is no change of a mailbox.
    store.subscribe(user, "Other").unwrap();
    let expected: Vec<(String, String)> = [
        ("INBOX", "Appended { uids: [1] }"),
        ("Other", "Appended { uids: [1] }"),
        ("INBOX", "FlagsChanged { uids: [1] }"),
        ("INBOX", "Expunged { uids: [1] }"),
        ("INBOX", "Appended { uids: [2] }"),
        ("Other", "Expunged { uids: [1] }"),
        ("Renamed", "Renamed { from: \"Other\" }"),
        ("Renamed", "Deleted"),
        ("Other", "Created"),
    ]
    .iter()
    .map(|(m, k)| ((*m).to_owned(), (*k).to_owned()))
    .collect();
    assert_eq!(pushing, expected);
}

#[test]
fn mailbox_id_and_highest_modseq_match_the_full_mailbox_info() {
    let store = store();
    let (user, inbox) = with_inbox(&store);
    assert_eq!(store.mailbox_id(user, "inbox").unwrap(), inbox);
    assert!(matches!(
        store.mailbox_id(user, "Missing"),
        Err(Error::NoSuchMailbox(_))
    ));
    let before = store.highest_modseq(inbox).unwrap();
    assert_eq!(before, store.mailbox_by_id(inbox).unwrap().highest_modseq);
    let uid = append(&store, inbox, "Subject: a\r\n\r\nbody\r\n", &[]);
    let after_append = store.highest_modseq(inbox).unwrap();
    assert!(after_append > before);
    store
        .store_flags(
            inbox,
            &UidSet::range(uid, uid),
            FlagOp::Add,
            &flags(&["\\Seen"]),
            None,
        )
        .unwrap();
    let after_store = store.highest_modseq(inbox).unwrap();
    assert!(after_store > after_append);
    assert_eq!(
        after_store,
        store.mailbox_by_id(inbox).unwrap().highest_modseq
    );
    store.create_mailbox(user, "Gone").unwrap();
    let gone = store.mailbox_id(user, "Gone").unwrap();
    store.delete_mailbox(user, "Gone").unwrap();
    assert!(matches!(
        store.highest_modseq(gone),
        Err(Error::NoSuchMailbox(_))
    ));
}
