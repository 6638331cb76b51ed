#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Several sessions on one store (IDLE, pending updates on NOOP), bad input, limits, timers,
//! and insta snapshots of whole sessions.

mod common;
use common::*;

use mailpush_imap_server::{Config, Event};

const NOTE: &str = "From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n";

fn logged_in(f: &Fixture) -> Client {
    let mut c = Client::new(f, loopback_config(), false);
    c.send("a LOGIN fred secret");
    c
}

/// RFC 2177 IDLE: another session's APPEND, STORE and EXPUNGE reach the idling client at once,
/// as EXISTS, FETCH and EXPUNGE; DONE ends it.
#[test]
fn idle_sees_other_sessions_changes() {
    let f = fixture();
    f.deliver("INBOX", NOTE, &[]);
    f.deliver("INBOX", NOTE, &[]);
    let mut idler = logged_in(&f);
    idler.send("s SELECT INBOX");
    let mut writer = logged_in(&f);
    writer.send("w1 SELECT INBOX");
    assert_eq!(idler.send("i IDLE"), "+ idling\r\n");

    writer.send("w2 APPEND INBOX {5+}\r\nhello");
    let changes = writer.take_changes();
    assert_eq!(changes.len(), 1);
    idler.session.handle_changes(&changes, now(2));
    // The writer was told of the new message first (in its APPEND answer), so it is recent
    // there; the idler's recent messages are still the two it claimed at SELECT.
    assert_eq!(idler.drain(), "* 3 EXISTS\r\n* 2 RECENT\r\n");

    writer.send("w3 STORE 1 +FLAGS (\\Deleted)");
    let changes = writer.take_changes();
    idler.session.handle_changes(&changes, now(3));
    assert_eq!(
        idler.drain(),
        "* 1 FETCH (UID 1 FLAGS (\\Deleted \\Recent))\r\n"
    );

    writer.send("w4 EXPUNGE");
    let changes = writer.take_changes();
    idler.session.handle_changes(&changes, now(4));
    assert_eq!(idler.drain(), "* 1 EXPUNGE\r\n");

    // Changes of another mailbox are not this session's business.
    writer.send("w5 CREATE Other");
    let changes = writer.take_changes();
    idler.session.handle_changes(&changes, now(5));
    assert_eq!(idler.drain(), "");

    assert_eq!(idler.send("DONE"), "i OK IDLE terminated\r\n");
    assert_eq!(
        idler.send("n FETCH 1:* (UID)"),
        "* 1 FETCH (UID 2)\r\n* 2 FETCH (UID 3)\r\nn OK FETCH completed\r\n"
    );
}

/// Without a driver delivering changes, NOOP still finds them (RFC 3501 §6.1.2), and FETCH
/// never carries EXPUNGE (RFC 3501 §7.4.1) while UID FETCH may.
#[test]
fn noop_reports_pending_updates_and_fetch_defers_expunges() {
    let f = fixture();
    f.deliver("INBOX", NOTE, &[]);
    f.deliver("INBOX", NOTE, &[]);
    let mut a = logged_in(&f);
    a.send("s SELECT INBOX");
    let mut b = logged_in(&f);
    b.send("s SELECT INBOX");
    b.send("t STORE 1 +FLAGS (\\Deleted)");
    b.send("u EXPUNGE");
    f.deliver("INBOX", NOTE, &[]);
    let changes = b.take_changes();
    a.session.handle_changes(&changes, now(2));
    // FETCH: new message announced, expunge held back (message 1 keeps its number; its data
    // is gone, so it is left out of the answer, RFC 2180 §4.1.3).
    assert_eq!(
        a.send("f FETCH 1:2 (UID)"),
        "* 2 FETCH (UID 2)\r\n* 3 EXISTS\r\n* 3 RECENT\r\nf OK FETCH completed\r\n"
    );
    assert_eq!(a.send("n NOOP"), "* 1 EXPUNGE\r\nn OK NOOP completed\r\n");
    assert_eq!(a.send("m NOOP"), "m OK NOOP completed\r\n");
}

#[test]
fn deleted_selected_mailbox_ends_the_session() {
    let f = fixture();
    f.store.create_mailbox(f.user, "Gone").unwrap();
    let mut a = logged_in(&f);
    a.send("s SELECT Gone");
    let mut b = logged_in(&f);
    b.send("d DELETE Gone");
    assert_eq!(
        a.send("n NOOP"),
        "* BYE The selected mailbox was deleted\r\n"
    );
    assert!(a.session.is_closed());
    assert!(a.events.contains(&Event::Closed));
}

/// Every malformed or misplaced command gets BAD with a clear text and the session goes on.
#[test]
fn bad_input_gets_bad_and_the_session_goes_on() {
    let f = fixture();
    let mut c = Client::new(&f, loopback_config(), false);
    for line in [
        "a1 FROBNICATE",
        "a2 SELECT INBOX",
        "a3 LOGIN",
        "a4 FETCH 1 FLAGS",
        "a5 IDLE",
        "*bad",
        "",
        "a6 NOOP extra",
    ] {
        c.send(line);
    }
    c.send("a LOGIN fred secret");
    for line in [
        "b1 FETCH 1 (FLAGS)",
        "b2 SELECT",
        "b3 SELECT INBOX",
        "b4 FETCH 9 (FLAGS)",
        "b5 STORE 1 +FLAGS (\\Recent)",
        "b6 FETCH 1:* (BODY[0])",
        "b7 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)",
        "b8 STORE 1:* FLAGS (\\Seen",
        "b9 ENABLE",
        "b10 COPY 1 Nowhere",
        "b11 CREATE INBOX",
        "b12 DELETE INBOX",
        "b13 LOGIN fred secret",
        "b14 AUTHENTICATE CRAM-MD5",
        "b15 SEARCH BODY hello",
    ] {
        c.send(line);
    }
    c.send("z NOOP");
    insta::assert_snapshot!("bad_input", f.unfill(&c.log));
    assert!(c.log.ends_with("S: z OK NOOP completed\n"));
}

/// A synchronizing literal over the limit gets NO [TOOBIG] and no `+`; a non-synchronizing
/// one is skipped without being buffered; the session goes on with the next command.
#[test]
fn oversize_literals_are_refused_before_they_are_read() {
    let f = fixture();
    let config = Config {
        max_literal: 100,
        max_line: 200,
        ..loopback_config()
    };
    let mut c = Client::new(&f, config, false);
    c.send("a LOGIN fred secret");
    assert_eq!(
        c.send("b APPEND INBOX {101}"),
        "b NO [TOOBIG] Literal refused: literal of 101 octets exceeds the limit of 100\r\n"
    );
    let mut big = b"c APPEND INBOX {1000+}\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'x', 1000));
    big.extend_from_slice(b"\r\nd NOOP\r\n");
    assert_eq!(
        String::from_utf8(c.send_raw(&big).into_bytes()).unwrap(),
        "c NO [TOOBIG] Literal refused: literal of 1000 octets exceeds the limit of 100\r\nd OK NOOP completed\r\n"
    );
    let long = format!("e NOOP {}", "x".repeat(300));
    assert_eq!(
        c.send(&long),
        "e BAD Command refused: line longer than 200 octets\r\n"
    );
    assert_eq!(c.send("f NOOP"), "f OK NOOP completed\r\n");
    // Within the limits: `+` for {n}, nothing for {n+}.
    assert_eq!(c.send("g APPEND INBOX {5}"), "+ Ready for literal data\r\n");
    assert!(c.send("hello").starts_with("g OK [APPENDUID "));
}

#[test]
fn too_many_authentication_failures_disconnect() {
    let f = fixture();
    let config = Config {
        max_auth_failures: 2,
        ..loopback_config()
    };
    let mut c = Client::new(&f, config, false);
    assert_eq!(
        c.send("a LOGIN fred nope"),
        "a NO [AUTHENTICATIONFAILED] Invalid user name or password\r\n"
    );
    assert_eq!(
        c.send("b LOGIN nobody nope"),
        "* BYE Too many authentication failures\r\n"
    );
    assert!(c.session.is_closed());
    assert_eq!(c.send("c LOGIN fred secret"), "");
}

#[test]
fn starttls_discards_plaintext_sent_after_it() {
    let f = fixture();
    let mut c = Client::new(&f, Config::default(), false);
    let out = c.send_raw(b"a STARTTLS\r\nb LOGIN fred secret\r\n");
    assert_eq!(out, "a OK Begin TLS negotiation now\r\n");
    assert!(c.events.contains(&Event::StartTls));
    c.session.tls_established();
    assert_eq!(
        c.send("c CAPABILITY"),
        "* CAPABILITY IMAP4rev1 LITERAL+ ENABLE IDLE UIDPLUS MOVE UNSELECT CONDSTORE QRESYNC AUTH=PLAIN SASL-IR\r\nc OK CAPABILITY completed\r\n"
    );
    assert!(c.send("d LOGIN fred secret").starts_with("d OK "));
    assert!(c.send("e STARTTLS").starts_with("e BAD "));
}

#[test]
fn timers_log_out_silent_sessions() {
    let f = fixture();
    let mut c = Client::new(&f, loopback_config(), false);
    let deadline = c.session.poll_timeout().unwrap();
    assert_eq!(deadline, now(60).instant);
    c.session.handle_timeout(now(59));
    assert!(!c.session.is_closed());
    c.session.handle_timeout(now(60));
    assert_eq!(c.drain(), "* BYE Autologout: no command for too long\r\n");
    assert!(c.session.is_closed());
    assert_eq!(c.session.poll_timeout(), None);
}

/// A whole session over mailboxes, copy/move and UIDPLUS codes, reviewed as a snapshot.
#[test]
fn mailbox_management_session() {
    let f = fixture();
    f.deliver("INBOX", NOTE, &["\\Seen"]);
    f.deliver("INBOX", NOTE, &[]);
    f.deliver("INBOX", NOTE, &["$Note"]);
    let mut c = logged_in(&f);
    for line in [
        "b CREATE Notes/",
        "c CREATE Archive/2024",
        "d LIST \"\" *",
        "e LIST \"\" %",
        "f LIST \"\" \"\"",
        "g RENAME Archive Old",
        "h LIST \"\" Old/*",
        "i SUBSCRIBE Notes",
        "j UNSUBSCRIBE Notes",
        "k STATUS Notes (MESSAGES UIDNEXT UNSEEN)",
        "l SELECT INBOX",
        "m0 COPY 1 Nowhere",
        "m UID COPY 1:2 Notes",
        "n MOVE 3 Notes",
        "o SEARCH UNSEEN",
        "p UID SEARCH KEYWORD $Note",
        "q STATUS Notes (MESSAGES UNSEEN)",
        "r EXAMINE Notes",
        "s STORE 1 +FLAGS (\\Flagged)",
        "t FETCH 1:* (UID FLAGS)",
        "t2 FETCH 1 (ENVELOPE BODYSTRUCTURE BODY.PEEK[1] BODY.PEEK[1.MIME] BODY.PEEK[2])",
        "t3 FETCH 2 ALL",
        "u SEARCH OR SEEN KEYWORD $Note",
        "v UNSELECT",
        "w DELETE Old",
        "x LOGOUT",
    ] {
        c.send(line);
    }
    insta::assert_snapshot!("mailbox_management", f.unfill(&c.log));
}

/// The remaining refusal paths: SASL errors, unsupported mechanisms, IDLE ended by something
/// other than DONE, mailbox names that are not UTF-8, flags that cannot be stored, APPEND to a
/// mailbox that does not exist.
#[test]
fn more_refusals() {
    let f = fixture();
    let mut c = Client::new(&f, loopback_config(), false);
    for line in [
        "a1 AUTHENTICATE CRAM-MD5",
        "a2 AUTHENTICATE PLAIN",
        "!!!not base64!!!",
        // authzid "joe" differs from authcid "fred".
        "a3 AUTHENTICATE PLAIN am9lAGZyZWQAc2VjcmV0",
        // No NUL separators.
        "a4 AUTHENTICATE PLAIN ZnJlZA==",
        "a5 LOGIN fred secret",
        "b1 IDLE",
        "b2 NOOP",
        "b3 APPEND Nowhere {2+}\r\nhi",
        "b4 APPEND INBOX (\\Recent) {2+}\r\nhi",
        "b5 APPEND INBOX (\\Seen $Label) \"31-Feb-2024 00:00:00 +0000\" {2+}\r\nhi",
        "b6 STATUS Nowhere (MESSAGES)",
        "b7 RENAME Nowhere Somewhere",
        "b8 EXPUNGE",
        "b9 ENABLE CONDSTORE X-UNKNOWN",
    ] {
        c.send(line);
    }
    c.send_raw(b"c1 CREATE {2+}\r\n\xff\xfe\r\n");
    c.send("z NOOP");
    insta::assert_snapshot!("more_refusals", f.unfill(&c.log));
    assert!(c.log.ends_with("S: z OK NOOP completed\n"));
}

/// What a driver may skip or handle without the store: changes of another mailbox concern a
/// session not at all, changes of its selected mailbox outside IDLE are only remembered (told
/// at the next command), and in IDLE they are told at once.
#[test]
fn concern_follows_the_selected_mailbox_and_idle() {
    use mailpush_imap_server::Concern;
    let f = fixture();
    let mut reader = logged_in(&f);
    let mut writer = logged_in(&f);
    writer.send("w0 CREATE Other");
    writer.take_changes();
    writer.send("w1 APPEND INBOX {5+}\r\nhello");
    let inbox_changes = writer.take_changes();
    writer.send("w2 APPEND Other {5+}\r\nhello");
    let other_changes = writer.take_changes();
    assert_eq!(reader.session.concerned_by(&inbox_changes), Concern::None);
    reader.send("s SELECT INBOX");
    assert_eq!(reader.session.concerned_by(&other_changes), Concern::None);
    assert_eq!(
        reader.session.concerned_by(&inbox_changes),
        Concern::Remember
    );
    writer.send("w3 APPEND INBOX {5+}\r\nagain");
    let more = writer.take_changes();
    assert_eq!(reader.session.concerned_by(&more), Concern::Remember);
    reader.session.handle_changes(&more, now(2));
    assert_eq!(reader.drain(), "");
    // The remembered change is told as soon as the session may speak.
    let idling = reader.send("i IDLE");
    assert!(idling.starts_with("+ idling\r\n"), "{idling}");
    assert!(idling.contains("* 2 EXISTS\r\n"), "{idling}");
    assert_eq!(reader.session.concerned_by(&more), Concern::Store);
    assert_eq!(reader.session.concerned_by(&other_changes), Concern::None);
}
