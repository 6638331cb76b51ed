#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The in-process server a test drives the core with: changes routed between the sessions of a
//! user (and only that user), deliveries written to the store directly, STARTTLS, timers on the
//! caller's clock, and the lost-changes path a driver takes when its change feed overflows.

use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use mailpush_imap_server::{Config, LocalServer, Now, Session};
use mailpush_mail_store::{Change, Flags, InternalDate, Store};

fn start() -> Now {
    Now {
        instant: Instant::now(),
        wall: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    }
}

/// Appends a message to fred's INBOX through the store, behind the sessions' back.
fn deliver(store: &Store) -> Vec<Change> {
    let fred = store.user_id("fred").unwrap().unwrap();
    let inbox = store.mailbox_id(fred, "INBOX").unwrap();
    store
        .append(
            inbox,
            b"Subject: x\r\n\r\ny\r\n",
            &Flags::new(),
            InternalDate::utc(0),
        )
        .unwrap()
        .changes
}

fn server() -> (Arc<Store>, LocalServer<Store>) {
    let store = Arc::new(Store::for_tests(&[("fred", "secret"), ("wilma", "pebbles")]).unwrap());
    let server = LocalServer::with_clock(Arc::clone(&store), Config::default(), start());
    (store, server)
}

#[test]
fn changes_reach_the_idle_sessions_of_the_same_user_only() {
    let (_, mut server) = server();
    let idler = server.connect();
    let writer = server.connect();
    let other = server.connect();
    assert!(server.take_output(idler).starts_with("* OK [CAPABILITY "));
    for (c, user, password) in [
        (idler, "fred", "secret"),
        (writer, "fred", "secret"),
        (other, "wilma", "pebbles"),
    ] {
        server.take_output(c);
        assert!(
            server
                .command(c, &format!("a LOGIN {user} {password}"))
                .starts_with("a OK")
        );
        assert!(
            server
                .command(c, "b SELECT INBOX")
                .contains("b OK [READ-WRITE]")
        );
    }
    assert_eq!(server.command(idler, "c IDLE"), "+ idling\r\n");
    assert_eq!(server.command(other, "c IDLE"), "+ idling\r\n");
    let appended = server.command(writer, "d APPEND INBOX {5+}\r\nhello");
    assert!(appended.contains("d OK [APPENDUID "), "{appended}");
    assert_eq!(server.take_output(idler), "* 1 EXISTS\r\n* 0 RECENT\r\n");
    assert_eq!(server.take_output(other), "");
    let changes = server.take_changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].mailbox_name, "INBOX");
    assert_eq!(server.command(idler, "DONE"), "c OK IDLE terminated\r\n");
}

#[test]
fn deliveries_written_to_the_store_are_routed_like_sessions_changes() {
    let (store, mut server) = server();
    let c = server.connect();
    server.command(c, "a LOGIN fred secret");
    server.command(c, "b SELECT INBOX");
    server.command(c, "c IDLE");
    server.deliver(&deliver(&store));
    assert_eq!(server.take_output(c), "* 1 EXISTS\r\n* 1 RECENT\r\n");
}

#[test]
fn starttls_completes_and_timers_follow_the_callers_clock() {
    let (_, mut server) = server();
    let c = server.connect_plain();
    assert!(server.take_output(c).contains(" STARTTLS LOGINDISABLED]"));
    assert_eq!(
        server.command(c, "a STARTTLS"),
        "a OK Begin TLS negotiation now\r\n"
    );
    let caps = server.command(c, "b CAPABILITY");
    assert!(
        caps.contains("AUTH=PLAIN") && !caps.contains("STARTTLS"),
        "{caps}"
    );
    server.advance(Duration::from_secs(59));
    assert!(!server.is_closed(c));
    server.advance(Duration::from_secs(1));
    assert_eq!(
        server.take_output(c),
        "* BYE Autologout: no command for too long\r\n"
    );
    assert!(server.is_closed(c));
    // A step beyond what the clock can hold is no step (it used to overflow).
    let before = server.now();
    server.advance(Duration::MAX);
    assert_eq!(server.now(), before);
}

/// A driver whose change feed dropped changes tells the session so: in IDLE it asks the store
/// at once and tells the client what it missed.
#[test]
fn lost_changes_are_found_in_the_store() {
    let store = Arc::new(Store::for_tests(&[("fred", "secret")]).unwrap());
    let config = Config {
        allow_plaintext_auth: true,
        ..Config::default()
    };
    let mut session = Session::new(Arc::clone(&store), config, false, start());
    for line in [
        "a LOGIN fred secret\r\n",
        "b SELECT INBOX\r\n",
        "c IDLE\r\n",
    ] {
        session.handle_input(line.as_bytes(), start());
    }
    while session.poll_output().is_some() {}
    // Changes made, never delivered to the session: it says nothing.
    deliver(&store);
    deliver(&store);
    assert_eq!(session.poll_output(), None);
    session.handle_changes_lost(start());
    let told = String::from_utf8(session.poll_output().unwrap_or_default()).unwrap();
    assert_eq!(told, "* 2 EXISTS\r\n* 2 RECENT\r\n");
}

/// Timers configured beyond what the clock can hold run no timer rather than overflow (a panic,
/// even in release builds).
#[test]
fn huge_timeouts_do_not_overflow_the_clock() {
    let store = Arc::new(Store::for_tests(&[("fred", "secret")]).unwrap());
    let config = Config {
        login_timeout: Duration::MAX,
        autologout: Duration::MAX,
        idle_timeout: Duration::MAX,
        ..Config::default()
    };
    let mut server = LocalServer::with_clock(store, config, start());
    let c = server.connect();
    server.command(c, "a LOGIN fred secret");
    server.advance(Duration::from_secs(365 * 24 * 3600));
    assert!(!server.is_closed(c));
    assert_eq!(server.command(c, "b NOOP"), "b OK NOOP completed\r\n");
}
