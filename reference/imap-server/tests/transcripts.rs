#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! RFC example exchanges, adapted to this store's UIDs and mod-sequences, replayed as full
//! transcripts against a real SQLite store. Every server line is compared exactly; `$V(name)`
//! stands for the (random) UIDVALIDITY of a mailbox.

mod common;
use common::*;

const NOTE: &str = "From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n";

/// RFC 3501 §8, plus the APPEND example of §6.3.11 with a synchronizing literal.
#[test]
fn rfc3501_section_8() {
    let f = fixture();
    f.deliver("INBOX", NOTE, &["\\Seen"]);
    f.deliver("INBOX", NOTE, &[]);
    replay(
        &f,
        loopback_config(),
        r#"
S: * OK [CAPABILITY IMAP4rev1 LITERAL+ ENABLE IDLE UIDPLUS MOVE UNSELECT CONDSTORE QRESYNC STARTTLS AUTH=PLAIN SASL-IR] mailpush IMAP server ready
C: a001 login fred secret
S: a001 OK [CAPABILITY IMAP4rev1 LITERAL+ ENABLE IDLE UIDPLUS MOVE UNSELECT CONDSTORE QRESYNC XAPPLEPUSHSERVICE] LOGIN completed
C: a002 select inbox
S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft \*)] Limited
S: * 2 EXISTS
S: * 2 RECENT
S: * OK [UIDVALIDITY $V(INBOX)] UIDs valid
S: * OK [UIDNEXT 3] Predicted next UID
S: * OK [HIGHESTMODSEQ 3] Highest
S: a002 OK [READ-WRITE] SELECT completed
C: a003 fetch 2 full
S: * 2 FETCH (FLAGS (\Recent) INTERNALDATE "14-Nov-2023 22:13:20 +0000" RFC822.SIZE 43 ENVELOPE (NIL "hi" ((NIL NIL "a" "example.org")) ((NIL NIL "a" "example.org")) ((NIL NIL "a" "example.org")) NIL NIL NIL NIL NIL) BODY ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 7 1))
S: a003 OK FETCH completed
C: a004 fetch 2 body[header]
S: * 2 FETCH (FLAGS (\Seen \Recent) BODY[HEADER] {36}
S: From: a@example.org
S: Subject: hi
S: 
S: )
S: a004 OK FETCH completed
C: a005 store 2 +flags \deleted
S: * 2 FETCH (FLAGS (\Seen \Deleted \Recent))
S: a005 OK STORE completed
C: a006 APPEND inbox (\Seen) "07-Feb-1994 21:52:25 -0800" {324}
S: + Ready for literal data
C: Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)
C: From: Fred Foobar <foobar@Blurdybloop.example>
C: Subject: afternoon meeting
C: To: mooch@owatagu.siam.edu.example
C: Message-Id: <B27397-0100000@Blurdybloop.example>
C: MIME-Version: 1.0
C: Content-Type: TEXT/PLAIN; CHARSET=US-ASCII
C: 
C: Hello Joe, do you think we can meet at 3:30 tomorrow?
S: * 3 EXISTS
S: * 3 RECENT
S: a006 OK [APPENDUID $V(INBOX) 3] APPEND completed
C: a007 fetch 3 (uid internaldate rfc822.size)
S: * 3 FETCH (UID 3 INTERNALDATE " 7-Feb-1994 21:52:25 -0800" RFC822.SIZE 324)
S: a007 OK FETCH completed
C: a008 expunge
S: * 2 EXPUNGE
S: a008 OK EXPUNGE completed
C: a009 logout
S: * BYE Logging out
S: a009 OK LOGOUT completed
"#,
    );
}

/// RFC 7162 §3.1 (CONDSTORE): MODSEQ in FETCH, CHANGEDSINCE, UNCHANGEDSINCE with MODIFIED,
/// STATUS HIGHESTMODSEQ.
#[test]
fn rfc7162_condstore() {
    let f = fixture();
    for _ in 0..4 {
        f.deliver("INBOX", NOTE, &[]);
    }
    replay(
        &f,
        loopback_config(),
        r#"
S: * OK [CAPABILITY IMAP4rev1 LITERAL+ ENABLE IDLE UIDPLUS MOVE UNSELECT CONDSTORE QRESYNC STARTTLS AUTH=PLAIN SASL-IR] mailpush IMAP server ready
C: a LOGIN fred secret
S: a OK [CAPABILITY IMAP4rev1 LITERAL+ ENABLE IDLE UIDPLUS MOVE UNSELECT CONDSTORE QRESYNC XAPPLEPUSHSERVICE] LOGIN completed
C: a1 STATUS INBOX (MESSAGES UIDNEXT HIGHESTMODSEQ)
S: * STATUS INBOX (MESSAGES 4 UIDNEXT 5 HIGHESTMODSEQ 5)
S: a1 OK STATUS completed
C: a2 SELECT INBOX (CONDSTORE)
S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft \*)] Limited
S: * 4 EXISTS
S: * 4 RECENT
S: * OK [UIDVALIDITY $V(INBOX)] UIDs valid
S: * OK [UIDNEXT 5] Predicted next UID
S: * OK [HIGHESTMODSEQ 5] Highest
S: a2 OK [READ-WRITE] SELECT completed
C: a3 FETCH 1:* (FLAGS) (CHANGEDSINCE 3)
S: * 3 FETCH (FLAGS (\Recent) MODSEQ (4))
S: * 4 FETCH (FLAGS (\Recent) MODSEQ (5))
S: a3 OK FETCH completed
C: a4 STORE 2 +FLAGS.SILENT ($Important)
S: * 2 FETCH (UID 2 MODSEQ (6))
S: a4 OK STORE completed
# RFC 7162 §3.1.3 example a103: the messages changed since are left alone and named.
C: a5 UID STORE 1,2,4 (UNCHANGEDSINCE 5) +FLAGS.SILENT (\Deleted)
S: * 1 FETCH (UID 1 MODSEQ (7))
S: * 4 FETCH (UID 4 MODSEQ (7))
S: a5 OK [MODIFIED 2] Conditional STORE failed for some messages
C: a6 UID FETCH 1:* (FLAGS MODSEQ) (CHANGEDSINCE 6)
S: * 1 FETCH (UID 1 FLAGS (\Deleted \Recent) MODSEQ (7))
S: * 4 FETCH (UID 4 FLAGS (\Deleted \Recent) MODSEQ (7))
S: a6 OK FETCH completed
C: a7 STORE 3 (UNCHANGEDSINCE 4) FLAGS (\Seen)
S: * 3 FETCH (UID 3 FLAGS (\Seen \Recent) MODSEQ (8))
S: a7 OK STORE completed
C: a8 STORE 3 (UNCHANGEDSINCE 4) FLAGS ()
S: a8 OK [MODIFIED 3] Conditional STORE failed for some messages
"#,
    );
}

/// RFC 7162 §3.2 (QRESYNC): ENABLE, SELECT with QRESYNC and VANISHED (EARLIER), UID FETCH with
/// CHANGEDSINCE and VANISHED, live VANISHED after EXPUNGE.
#[test]
fn rfc7162_qresync() {
    let f = fixture();
    for _ in 0..5 {
        f.deliver("INBOX", NOTE, &[]);
    }
    // What the client last saw: HIGHESTMODSEQ 6. Then 2 and 4 go away and 3 gets \Seen.
    let inbox = f.store.mailbox(f.user, "INBOX").unwrap().id;
    let seen = mailpush_mail_store::Flags::parse(["\\Deleted"]).unwrap();
    let set: mailpush_mail_store::UidSet = [2, 4].into_iter().collect();
    f.store
        .store_flags(inbox, &set, mailpush_mail_store::FlagOp::Add, &seen, None)
        .unwrap();
    f.store.expunge(inbox, None).unwrap();
    let seen = mailpush_mail_store::Flags::parse(["\\Seen"]).unwrap();
    f.store
        .store_flags(
            inbox,
            &[3].into_iter().collect(),
            mailpush_mail_store::FlagOp::Add,
            &seen,
            None,
        )
        .unwrap();
    replay(
        &f,
        loopback_config(),
        r#"
S: * OK [CAPABILITY IMAP4rev1 LITERAL+ ENABLE IDLE UIDPLUS MOVE UNSELECT CONDSTORE QRESYNC STARTTLS AUTH=PLAIN SASL-IR] mailpush IMAP server ready
C: a LOGIN fred secret
S: a OK [CAPABILITY IMAP4rev1 LITERAL+ ENABLE IDLE UIDPLUS MOVE UNSELECT CONDSTORE QRESYNC XAPPLEPUSHSERVICE] LOGIN completed
C: b SELECT INBOX (QRESYNC ($V(INBOX) 6 1:5))
S: b BAD QRESYNC parameter requires ENABLE QRESYNC first
C: c ENABLE QRESYNC
S: * ENABLED QRESYNC
S: c OK ENABLE completed
C: d SELECT INBOX (QRESYNC ($V(INBOX) 6 1:5))
S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft \*)] Limited
S: * 3 EXISTS
S: * 3 RECENT
S: * OK [UIDVALIDITY $V(INBOX)] UIDs valid
S: * OK [UIDNEXT 6] Predicted next UID
S: * OK [HIGHESTMODSEQ 9] Highest
S: * VANISHED (EARLIER) 2,4
S: * 2 FETCH (UID 3 FLAGS (\Seen \Recent) MODSEQ (9))
S: d OK [READ-WRITE] SELECT completed
C: e UID FETCH 1:* (FLAGS) (CHANGEDSINCE 6 VANISHED)
S: * VANISHED (EARLIER) 2,4
S: * 2 FETCH (UID 3 FLAGS (\Seen \Recent) MODSEQ (9))
S: e OK FETCH completed
C: f UID STORE 5 +FLAGS (\Deleted)
S: * 3 FETCH (UID 5 FLAGS (\Deleted \Recent) MODSEQ (10))
S: f OK STORE completed
C: g EXPUNGE
S: * VANISHED 5
S: g OK EXPUNGE completed
C: h SELECT INBOX (QRESYNC ($V(INBOX) 11))
S: * OK [CLOSED] Previous mailbox closed
S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft \*)] Limited
S: * 2 EXISTS
S: * 0 RECENT
S: * OK [UIDVALIDITY $V(INBOX)] UIDs valid
S: * OK [UIDNEXT 6] Predicted next UID
S: * OK [HIGHESTMODSEQ 11] Highest
S: h OK [READ-WRITE] SELECT completed
C: i FETCH 1 (BODY.PEEK[]<0.4>)
S: * 1 FETCH (BODY[]<0> "From")
S: i OK FETCH completed
"#,
    );
}

/// XAPPLEPUSHSERVICE, the example of spec/imap-push.md (two of three mailboxes exist).
#[test]
fn xaps_example() {
    let f = fixture();
    f.store.create_mailbox(f.user, "Notes").unwrap();
    //= spec/imap-push.md#XAPS-10
    //# A requested mailbox
    //# that does not exist or may not be read is not an error: the server MUST leave it out of the reply
    //# and still complete the command with `OK`.
    //= spec/imap-push.md#XAPS-11
    //# Under version 2 the server MUST send, before the tagged `OK`, one untagged
    //# `* XAPPLEPUSHSERVICE "mailbox" <name>` line per acknowledged mailbox, in the order of the request,
    //# with the name spelled exactly as the client sent it (after unquoting)
    //= spec/imap-push.md#XAPS-2
    //# A server MUST reply `BAD` to `XAPPLEPUSHSERVICE` in the not-authenticated state
    replay(
        &f,
        loopback_config(),
        r#"
S: * OK [CAPABILITY IMAP4rev1 LITERAL+ ENABLE IDLE UIDPLUS MOVE UNSELECT CONDSTORE QRESYNC STARTTLS AUTH=PLAIN SASL-IR] mailpush IMAP server ready
C: a6 XAPPLEPUSHSERVICE aps-account-id A aps-device-token T
S: a6 BAD XAPPLEPUSHSERVICE is not valid before authentication
C: a LOGIN fred secret
S: a OK [CAPABILITY IMAP4rev1 LITERAL+ ENABLE IDLE UIDPLUS MOVE UNSELECT CONDSTORE QRESYNC XAPPLEPUSHSERVICE] LOGIN completed
C: a7 XAPPLEPUSHSERVICE aps-version 2 aps-account-id 0715A26B-CA09-4730-A419-793000CA982E aps-device-token 2918390218931890821908309283098109381029309829018310983092892829 aps-subtopic com.apple.mobilemail mailboxes (INBOX "Notes" Archive)
S: * XAPPLEPUSHSERVICE "mailbox" "INBOX"
S: * XAPPLEPUSHSERVICE "mailbox" "Notes"
S: * XAPPLEPUSHSERVICE "aps-version" "2" "aps-topic" "com.mailpush.mail"
S: a7 OK XAPPLEPUSHSERVICE completed
C: a8 XAPPLEPUSHSERVICE aps-account-id A aps-device-token 00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF mailboxes (Notes)
S: * XAPPLEPUSHSERVICE "aps-version" "1" "aps-topic" "com.mailpush.mail"
S: a8 OK XAPPLEPUSHSERVICE completed
C: a9 XAPPLEPUSHSERVICE aps-account-id A aps-device-token T aps-account-id B
S: a9 BAD XAPPLEPUSHSERVICE key appears more than once
C: a10 XAPPLEPUSHSERVICE aps-device-token T x-unknown (1 2)
S: a10 NO aps-account-id is missing or empty
"#,
    );
    let regs = f.store.registrations(f.user, now(1).wall).unwrap();
    assert_eq!(regs.len(), 2);
    let v2 = regs.iter().find(|r| r.version == 2).unwrap();
    assert_eq!(v2.mailboxes, vec!["INBOX".to_owned(), "Notes".to_owned()]);
    assert_eq!(v2.subtopic.as_deref(), Some("com.apple.mobilemail"));
}

/// XAPPLEPUSHSERVICE device tokens: anything but 64 hexadecimal characters is refused and not
/// recorded; uppercase and lowercase spellings are one registration, stored in lowercase.
//= spec/imap-push.md#XAPS-20
//= type=test
//# A server MUST reply `NO` with a text naming the problem,
//# and record nothing, when the value of `aps-device-token` names no push resource of its push
//# service
//= spec/imap-push.md#XAPS-20
//= type=test
//# a mailpush mail server accepts exactly 64
//# hexadecimal characters, in either case, and stores and pushes the token in lowercase, so that the
//# same device registered with either spelling is one registration.
#[test]
fn xaps_device_tokens() {
    let f = fixture();
    f.store.create_mailbox(f.user, "Notes").unwrap();
    replay(
        &f,
        loopback_config(),
        r#"
S: * OK [CAPABILITY IMAP4rev1 LITERAL+ ENABLE IDLE UIDPLUS MOVE UNSELECT CONDSTORE QRESYNC STARTTLS AUTH=PLAIN SASL-IR] mailpush IMAP server ready
C: a LOGIN fred secret
S: a OK [CAPABILITY IMAP4rev1 LITERAL+ ENABLE IDLE UIDPLUS MOVE UNSELECT CONDSTORE QRESYNC XAPPLEPUSHSERVICE] LOGIN completed
C: b XAPPLEPUSHSERVICE aps-version 2 aps-account-id A aps-device-token T mailboxes (Notes)
S: b NO aps-device-token must be 64 hexadecimal characters
C: c XAPPLEPUSHSERVICE aps-version 2 aps-account-id A aps-device-token 00112233445566778899aabbccddeeff00112233445566778899aabbccddee mailboxes (Notes)
S: c NO aps-device-token must be 64 hexadecimal characters
C: d XAPPLEPUSHSERVICE aps-version 2 aps-account-id A aps-device-token 00112233445566778899aabbccddeeff00112233445566778899aabbccddeefg mailboxes (Notes)
S: d NO aps-device-token must be 64 hexadecimal characters
C: e XAPPLEPUSHSERVICE aps-version 2 aps-account-id A aps-device-token 00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF mailboxes (Notes)
S: * XAPPLEPUSHSERVICE "mailbox" "Notes"
S: * XAPPLEPUSHSERVICE "aps-version" "2" "aps-topic" "com.mailpush.mail"
S: e OK XAPPLEPUSHSERVICE completed
C: f XAPPLEPUSHSERVICE aps-version 2 aps-account-id A aps-device-token 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff mailboxes (INBOX)
S: * XAPPLEPUSHSERVICE "mailbox" "INBOX"
S: * XAPPLEPUSHSERVICE "aps-version" "2" "aps-topic" "com.mailpush.mail"
S: f OK XAPPLEPUSHSERVICE completed
"#,
    );
    let regs = f.store.registrations(f.user, now(1).wall).unwrap();
    assert_eq!(regs.len(), 1, "{regs:?}");
    assert_eq!(
        regs[0].key.device_token,
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
    );
    // The second spelling replaced the first registration (XAPS-14).
    assert_eq!(regs[0].mailboxes, vec!["INBOX".to_owned()]);
}

//= spec/imap-push.md#XAPS-1
//# A server that supports this extension MUST list
//# `XAPPLEPUSHSERVICE` in its capabilities in the authenticated and selected states, and MUST NOT list
//# it before authentication (neither in the greeting's nor in a pre-authentication CAPABILITY
//# response).
/// RFC 4959 / RFC 4616: AUTHENTICATE PLAIN with an initial response and with a continuation;
/// RFC 3501 §6.2.1 STARTTLS and LOGINDISABLED on an unprotected connection.
#[test]
fn authentication_and_starttls() {
    let f = fixture();
    replay(
        &f,
        mailpush_imap_server::Config::default(),
        r#"
S: * OK [CAPABILITY IMAP4rev1 LITERAL+ ENABLE IDLE UIDPLUS MOVE UNSELECT CONDSTORE QRESYNC STARTTLS LOGINDISABLED] mailpush IMAP server ready
C: a LOGIN fred secret
S: a NO [PRIVACYREQUIRED] Plaintext authentication is disabled on an unprotected connection: use STARTTLS first
C: b AUTHENTICATE PLAIN AGZyZWQAc2VjcmV0
S: b NO [PRIVACYREQUIRED] Plaintext authentication is disabled on an unprotected connection: use STARTTLS first
C: b2 CAPABILITY
S: * CAPABILITY IMAP4rev1 LITERAL+ ENABLE IDLE UIDPLUS MOVE UNSELECT CONDSTORE QRESYNC STARTTLS LOGINDISABLED
S: b2 OK CAPABILITY completed
C: c STARTTLS
S: c OK Begin TLS negotiation now
C: d NOOP
"#,
    );
    replay(
        &f,
        loopback_config(),
        r#"
S: * OK [CAPABILITY IMAP4rev1 LITERAL+ ENABLE IDLE UIDPLUS MOVE UNSELECT CONDSTORE QRESYNC STARTTLS AUTH=PLAIN SASL-IR] mailpush IMAP server ready
C: a AUTHENTICATE PLAIN AGZyZWQAd3Jvbmc=
S: a NO [AUTHENTICATIONFAILED] Invalid user name or password
C: b AUTHENTICATE PLAIN
S: + 
C: *
S: b BAD AUTHENTICATE cancelled
C: c AUTHENTICATE PLAIN
S: + 
C: AGZyZWQAc2VjcmV0
S: c OK [CAPABILITY IMAP4rev1 LITERAL+ ENABLE IDLE UIDPLUS MOVE UNSELECT CONDSTORE QRESYNC XAPPLEPUSHSERVICE] AUTHENTICATE completed
C: d CAPABILITY
S: * CAPABILITY IMAP4rev1 LITERAL+ ENABLE IDLE UIDPLUS MOVE UNSELECT CONDSTORE QRESYNC XAPPLEPUSHSERVICE
S: d OK CAPABILITY completed
"#,
    );
}
