#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Push registrations (spec/imap-push.md XAPS-14..XAPS-19).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mailpush_mail_store::{
    Config, Error, Limits, REGISTRATION_LIFETIME, RegistrationRequest, Store, UserId,
};

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn request(account: &str, token: &str, mailboxes: &[&str]) -> RegistrationRequest {
    RegistrationRequest {
        account_id: account.to_owned(),
        device_token: token.to_owned(),
        subtopic: Some("com.apple.mobilemail".to_owned()),
        version: 2,
        mailboxes: mailboxes.iter().map(|m| (*m).to_owned()).collect(),
    }
}

fn setup() -> (Store, UserId) {
    let store = Store::open_in_memory(Config::for_tests()).unwrap();
    let user = store.add_user("alice", b"pw").unwrap();
    store.create_mailbox(user, "Notes").unwrap();
    store.create_mailbox(user, "Archive").unwrap();
    (store, user)
}

fn target_tokens(store: &Store, user: UserId, mailbox: &str, now: SystemTime) -> Vec<String> {
    store
        .push_targets(user, mailbox, now)
        .unwrap()
        .into_iter()
        .map(|t| t.registration.key.device_token)
        .collect()
}

#[test]
fn acknowledges_existing_mailboxes_in_request_order_with_client_spelling() {
    //= spec/imap-push.md#XAPS-10
    //# A requested mailbox
    //# that does not exist or may not be read is not an error: the server MUST leave it out of the reply
    let (store, user) = setup();
    let acked = store
        .register_push(
            user,
            &request("acct", "tok", &["Notes", "Missing", "inbox", "Notes"]),
            t0(),
        )
        .unwrap();
    assert_eq!(acked, ["Notes", "inbox"]);
    //= spec/imap-push.md#XAPS-13
    //# The server MUST remember every acknowledged mailbox under the name exactly
    //# as the client sent it
    let targets = store.push_targets(user, "INBOX", t0()).unwrap();
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0].spellings, ["inbox"]);
    let registration = &targets[0].registration;
    assert_eq!(registration.mailboxes, ["Notes", "inbox"]);
    assert_eq!(
        registration.subtopic.as_deref(),
        Some("com.apple.mobilemail")
    );
    assert_eq!(registration.version, 2);
    assert_eq!(registration.expires_at, t0() + REGISTRATION_LIFETIME);
    //= spec/provider-api.md#PROV-18
    //# It MUST
    //# NOT request a push for a mailbox that the registration did not register.
    assert!(
        store
            .push_targets(user, "Archive", t0())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn same_key_replaces_and_empty_set_deletes() {
    //= spec/imap-push.md#XAPS-14
    //# A new command with the same key MUST replace the stored set of acknowledged mailboxes, the
    //# subtopic and the version (it does not add to them) and MUST restart the expiry period. A
    //# registration whose acknowledged set is empty MUST be deleted.
    let (store, user) = setup();
    store
        .register_push(user, &request("acct", "tok", &["Notes", "INBOX"]), t0())
        .unwrap();
    let later = t0() + Duration::from_secs(3600);
    let mut replacement = request("acct", "tok", &["Archive"]);
    replacement.subtopic = None;
    replacement.version = 1;
    store.register_push(user, &replacement, later).unwrap();
    let all = store.registrations(user, later).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].mailboxes, ["Archive"]);
    assert_eq!((all[0].subtopic.clone(), all[0].version), (None, 1));
    assert_eq!(all[0].expires_at, later + REGISTRATION_LIFETIME);
    assert!(target_tokens(&store, user, "Notes", later).is_empty());
    // Another account ID or token is another registration.
    store
        .register_push(user, &request("acct2", "tok", &["Notes"]), later)
        .unwrap();
    assert_eq!(store.registrations(user, later).unwrap().len(), 2);
    // Nothing acknowledged: the registration is gone.
    let acked = store
        .register_push(user, &request("acct", "tok", &["Missing"]), later)
        .unwrap();
    assert!(acked.is_empty());
    let left: Vec<String> = store
        .registrations(user, later)
        .unwrap()
        .into_iter()
        .map(|r| r.key.account_id)
        .collect();
    assert_eq!(left, ["acct2"]);
}

#[test]
fn registrations_are_durable() {
    //= spec/imap-push.md#XAPS-15
    //# a registration answered `OK` MUST survive a restart of the server.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail.db");
    let user = {
        let store = Store::open(&path, Config::for_tests()).unwrap();
        let user = store.add_user("alice", b"pw").unwrap();
        store
            .register_push(user, &request("acct", "tok", &["INBOX"]), t0())
            .unwrap();
        user
    };
    let store = Store::open(&path, Config::for_tests()).unwrap();
    assert_eq!(target_tokens(&store, user, "INBOX", t0()), ["tok"]);
}

#[test]
fn registrations_expire_after_thirty_days() {
    //= spec/imap-push.md#XAPS-16
    //# A registration MUST expire 30 days after it was last stored. An expired registration
    //# MUST NOT cause any push request
    let (store, user) = setup();
    store
        .register_push(user, &request("acct", "tok", &["INBOX"]), t0())
        .unwrap();
    let just_before = t0() + REGISTRATION_LIFETIME - Duration::from_millis(1);
    let at_expiry = t0() + REGISTRATION_LIFETIME;
    assert_eq!(REGISTRATION_LIFETIME, Duration::from_secs(30 * 86_400));
    assert_eq!(target_tokens(&store, user, "INBOX", just_before), ["tok"]);
    assert!(target_tokens(&store, user, "INBOX", at_expiry).is_empty());
    assert!(store.registrations(user, at_expiry).unwrap().is_empty());
    assert_eq!(store.purge_expired_registrations(just_before).unwrap(), 0);
    assert_eq!(store.purge_expired_registrations(at_expiry).unwrap(), 1);
    // Registering again restarts the period.
    store
        .register_push(user, &request("acct", "tok", &["INBOX"]), at_expiry)
        .unwrap();
    assert_eq!(
        target_tokens(
            &store,
            user,
            "INBOX",
            at_expiry + Duration::from_secs(86_400)
        ),
        ["tok"]
    );
}

#[test]
fn registrations_per_user_are_capped_but_replacement_is_allowed() {
    //= spec/imap-push.md#XAPS-17
    //# The server MUST limit the number of live registrations per user (default 50).
    //# A command that would create a registration beyond the limit MUST get
    //# `NO [LIMIT]` (RFC 5530) and MUST NOT change or evict any stored registration; replacing an existing
    //# registration is always allowed.
    assert_eq!(Limits::default().max_registrations_per_user, 50);
    let mut config = Config::for_tests();
    config.limits.max_registrations_per_user = 3;
    let store = Store::open_in_memory(config).unwrap();
    let user = store.add_user("alice", b"pw").unwrap();
    store.create_mailbox(user, "Notes").unwrap();
    for i in 0..3 {
        store
            .register_push(user, &request("acct", &format!("tok{i}"), &["INBOX"]), t0())
            .unwrap();
    }
    let over = store.register_push(user, &request("acct", "tok3", &["INBOX"]), t0());
    assert!(matches!(over, Err(Error::RegistrationLimit { limit: 3 })));
    assert_eq!(store.registrations(user, t0()).unwrap().len(), 3);
    // Replacing one of the three is fine, even at the cap.
    store
        .register_push(user, &request("acct", "tok1", &["Notes"]), t0())
        .unwrap();
    assert_eq!(target_tokens(&store, user, "Notes", t0()), ["tok1"]);
    // Expired registrations do not count.
    let later = t0() + REGISTRATION_LIFETIME;
    store
        .register_push(user, &request("acct", "tok3", &["INBOX"]), later)
        .unwrap();
    // The cap is per user.
    let bob = store.add_user("bob", b"pw").unwrap();
    store
        .register_push(bob, &request("acct", "tok9", &["INBOX"]), t0())
        .unwrap();
}

#[test]
fn deleted_or_renamed_mailboxes_keep_their_registered_names() {
    //= spec/imap-push.md#XAPS-18
    //# the registration MUST keep that name until the client
    //# registers again without it
    let (store, user) = setup();
    store.create_mailbox(user, "Notes/Sub").unwrap();
    store
        .register_push(
            user,
            &request("acct", "tok", &["Notes", "Notes/Sub", "INBOX"]),
            t0(),
        )
        .unwrap();
    store
        .register_push(user, &request("acct", "only-archive", &["Archive"]), t0())
        .unwrap();
    store.rename_mailbox(user, "Notes", "Journal").unwrap();
    // The old names still reach the registration, for the rename's own push.
    assert_eq!(target_tokens(&store, user, "Notes", t0()), ["tok"]);
    assert_eq!(target_tokens(&store, user, "Notes/Sub", t0()), ["tok"]);
    //= spec/imap-push.md#XAPS-18
    //# A renamed mailbox gets push under its new name only after the client
    //# registers that name.
    assert!(target_tokens(&store, user, "Journal", t0()).is_empty());
    assert_eq!(target_tokens(&store, user, "INBOX", t0()), ["tok"]);
    //= spec/imap-push.md#XAPS-18
    //# A mailbox created again under the name, or renamed onto it, MUST get push under it, its
    //# creation first.
    let created = store.create_mailbox(user, "Notes").unwrap();
    assert!(
        created
            .changes
            .iter()
            .any(|c| c.kind.pushed_names(&c.mailbox_name) == ["Notes"])
    );
    assert_eq!(target_tokens(&store, user, "Notes", t0()), ["tok"]);
    store.delete_mailbox(user, "Journal/Sub").unwrap();
    store.rename_mailbox(user, "Journal", "Notes/Sub").unwrap();
    assert_eq!(target_tokens(&store, user, "Notes/Sub", t0()), ["tok"]);
    // Deleting the only acknowledged mailbox keeps the registration and its name.
    store.delete_mailbox(user, "Archive").unwrap();
    assert_eq!(
        target_tokens(&store, user, "Archive", t0()),
        ["only-archive"]
    );
    // Registering again without the names drops them (XAPS-14); a name that does not exist is
    // not acknowledged again (XAPS-10).
    store
        .register_push(user, &request("acct", "only-archive", &["Archive"]), t0())
        .unwrap();
    assert!(target_tokens(&store, user, "Archive", t0()).is_empty());
    let tokens: Vec<String> = store
        .registrations(user, t0())
        .unwrap()
        .into_iter()
        .map(|r| r.key.device_token)
        .collect();
    assert_eq!(tokens, ["tok"]);
}

#[test]
fn registrations_belong_to_their_user() {
    //= spec/imap-push.md#XAPS-19
    //# a registration MUST NOT be visible to, replaced by or
    //# deleted by any other user.
    let (store, alice) = setup();
    let bob = store.add_user("bob", b"pw").unwrap();
    store.create_mailbox(bob, "Notes").unwrap();
    store
        .register_push(alice, &request("acct", "tok", &["Notes"]), t0())
        .unwrap();
    // Same account ID and token, other user: a separate registration.
    store
        .register_push(bob, &request("acct", "tok", &["INBOX"]), t0())
        .unwrap();
    assert!(
        store
            .registrations(bob, t0())
            .unwrap()
            .iter()
            .all(|r| r.key.user == bob)
    );
    assert_eq!(target_tokens(&store, alice, "Notes", t0()), ["tok"]);
    assert!(target_tokens(&store, bob, "Notes", t0()).is_empty());
    assert_eq!(target_tokens(&store, bob, "INBOX", t0()), ["tok"]);
    // Bob emptying his registration leaves Alice's.
    store
        .register_push(bob, &request("acct", "tok", &[]), t0())
        .unwrap();
    assert_eq!(target_tokens(&store, alice, "Notes", t0()), ["tok"]);
    // Deleting a user deletes only its registrations.
    store.delete_user("bob").unwrap();
    assert_eq!(store.registrations(alice, t0()).unwrap().len(), 1);
}

#[test]
fn gone_device_token_deletes_its_registrations_of_every_user() {
    //= spec/provider-api.md#PROV-23
    //# On
    //# `404` or `410` it MUST delete every registration of that device token.
    let (store, alice) = setup();
    let bob = store.add_user("bob", b"pw").unwrap();
    store
        .register_push(alice, &request("a1", "gone", &["INBOX"]), t0())
        .unwrap();
    store
        .register_push(alice, &request("a2", "gone", &["Notes"]), t0())
        .unwrap();
    store
        .register_push(alice, &request("a1", "kept", &["INBOX"]), t0())
        .unwrap();
    store
        .register_push(bob, &request("b", "gone", &["INBOX"]), t0())
        .unwrap();
    assert_eq!(store.delete_device_registrations("gone").unwrap(), 3);
    assert_eq!(target_tokens(&store, alice, "INBOX", t0()), ["kept"]);
    assert!(store.registrations(bob, t0()).unwrap().is_empty());
    assert_eq!(store.delete_device_registrations("gone").unwrap(), 0);
}

#[test]
fn malformed_registrations_record_nothing() {
    //= spec/imap-push.md#XAPS-6
    //# A server MUST reply `NO` and record nothing when `aps-account-id` or
    //# `aps-device-token` is absent or empty.
    //= spec/imap-push.md#XAPS-7
    //# A server MUST reply `BAD` and record nothing when the account ID, the device token or the
    //# subtopic is longer than 256 octets
    let (store, user) = setup();
    let long = "x".repeat(257);
    let mut bad = vec![
        request("", "tok", &["INBOX"]),
        request("acct", "", &["INBOX"]),
    ];
    bad.push(request(&long, "tok", &["INBOX"]));
    bad.push(request("acct", &long, &["INBOX"]));
    let mut long_subtopic = request("acct", "tok", &["INBOX"]);
    long_subtopic.subtopic = Some(long.clone());
    bad.push(long_subtopic);
    let too_many: Vec<String> = (0..1001).map(|i| format!("m{i}")).collect();
    let mut many = request("acct", "tok", &[]);
    many.mailboxes = too_many;
    bad.push(many);
    for request in bad {
        assert!(matches!(
            store.register_push(user, &request, t0()),
            Err(Error::InvalidRegistration(_))
        ));
    }
    assert!(store.registrations(user, t0()).unwrap().is_empty());
    // 256 octets is still fine.
    let edge = "y".repeat(256);
    store
        .register_push(user, &request(&edge, &edge, &["INBOX"]), t0())
        .unwrap();
}

/// What a start pushes (PROV-36): each mailbox a live registration registered, once per user
/// and mailbox whatever the spellings and the number of registrations; expired ones left out.
#[test]
fn registered_mailboxes_are_listed_once() {
    let (store, user) = setup();
    let bob = store.add_user("bob", b"pw").unwrap();
    store.create_mailbox(bob, "Notes").unwrap();
    store
        .register_push(user, &request("acct", "tok1", &["Notes", "inbox"]), t0())
        .unwrap();
    store
        .register_push(user, &request("acct", "tok2", &["INBOX", "Notes"]), t0())
        .unwrap();
    store
        .register_push(bob, &request("b", "tok3", &["Notes"]), t0())
        .unwrap();
    let mut listed = store.registered_mailboxes(t0()).unwrap();
    listed.sort();
    let mut expected = vec![
        (user, "INBOX".to_owned()),
        (user, "Notes".to_owned()),
        (bob, "Notes".to_owned()),
    ];
    expected.sort();
    assert_eq!(listed, expected);
    assert!(
        store
            .registered_mailboxes(t0() + REGISTRATION_LIFETIME)
            .unwrap()
            .is_empty()
    );
}
