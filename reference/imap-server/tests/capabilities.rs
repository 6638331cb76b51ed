#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! CONDSTORE, QRESYNC and UIDPLUS switched off: the server behaves as one without them (what a client is
//! tested against when it must also work with plain RFC 3501 servers). Full transcripts: every
//! server line is compared.

mod common;
use common::*;

use mailpush_imap_server::Config;

const NOTE: &str = "From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n";

fn without(condstore: bool, qresync: bool) -> Config {
    Config {
        condstore,
        qresync,
        ..loopback_config()
    }
}

/// Without CONDSTORE: not advertised, not enabled, SELECT without HIGHESTMODSEQ, and every
/// command or parameter of RFC 7162 gets BAD; the rest of the session is untouched.
#[test]
fn without_condstore_the_server_is_plain_rfc3501() {
    let f = fixture();
    f.deliver("INBOX", NOTE, &[]);
    replay(
        &f,
        without(false, true),
        r#"
S: * OK [CAPABILITY IMAP4rev1 LITERAL+ ENABLE IDLE UIDPLUS MOVE UNSELECT STARTTLS AUTH=PLAIN SASL-IR] mailpush IMAP server ready
C: a LOGIN fred secret
S: a OK [CAPABILITY IMAP4rev1 LITERAL+ ENABLE IDLE UIDPLUS MOVE UNSELECT XAPPLEPUSHSERVICE] LOGIN completed
C: b ENABLE CONDSTORE QRESYNC
S: * ENABLED
S: b OK ENABLE completed
C: c SELECT INBOX (CONDSTORE)
S: c BAD CONDSTORE is not supported by this server
C: d STATUS INBOX (MESSAGES HIGHESTMODSEQ)
S: d BAD HIGHESTMODSEQ is not supported by this server
C: e SELECT INBOX
S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft \*)] Limited
S: * 1 EXISTS
S: * 1 RECENT
S: * OK [UIDVALIDITY $V(INBOX)] UIDs valid
S: * OK [UIDNEXT 2] Predicted next UID
S: e OK [READ-WRITE] SELECT completed
C: f FETCH 1 (FLAGS MODSEQ)
S: f BAD MODSEQ and CHANGEDSINCE are not supported by this server
C: g FETCH 1:* (FLAGS) (CHANGEDSINCE 1)
S: g BAD MODSEQ and CHANGEDSINCE are not supported by this server
C: h STORE 1 (UNCHANGEDSINCE 5) +FLAGS (\Seen)
S: h BAD UNCHANGEDSINCE is not supported by this server
C: i SEARCH MODSEQ 1
S: i BAD MODSEQ is not supported by this server
C: j STORE 1 +FLAGS (\Flagged)
S: * 1 FETCH (FLAGS (\Flagged \Recent))
S: j OK STORE completed
C: k STATUS INBOX (MESSAGES UIDNEXT)
S: * STATUS INBOX (MESSAGES 1 UIDNEXT 2)
S: k OK STATUS completed
"#,
    );
}

/// Without QRESYNC (CONDSTORE still on): QRESYNC is not advertised nor enabled, its SELECT
/// parameter and VANISHED get BAD, CONDSTORE works as before.
#[test]
fn without_qresync_condstore_still_works() {
    let f = fixture();
    f.deliver("INBOX", NOTE, &[]);
    replay(
        &f,
        without(true, false),
        r#"
S: * OK [CAPABILITY IMAP4rev1 LITERAL+ ENABLE IDLE UIDPLUS MOVE UNSELECT CONDSTORE STARTTLS AUTH=PLAIN SASL-IR] mailpush IMAP server ready
C: a LOGIN fred secret
S: a OK [CAPABILITY IMAP4rev1 LITERAL+ ENABLE IDLE UIDPLUS MOVE UNSELECT CONDSTORE XAPPLEPUSHSERVICE] LOGIN completed
C: b ENABLE QRESYNC CONDSTORE
S: * ENABLED CONDSTORE
S: b OK ENABLE completed
C: c SELECT INBOX (QRESYNC ($V(INBOX) 1))
S: c BAD QRESYNC is not supported by this server
C: d SELECT INBOX
S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft \*)] Limited
S: * 1 EXISTS
S: * 1 RECENT
S: * OK [UIDVALIDITY $V(INBOX)] UIDs valid
S: * OK [UIDNEXT 2] Predicted next UID
S: * OK [HIGHESTMODSEQ 2] Highest
S: d OK [READ-WRITE] SELECT completed
C: e UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)
S: e BAD VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC (RFC 7162 §3.2.6)
C: f UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1)
S: * 1 FETCH (UID 1 FLAGS (\Recent) MODSEQ (2))
S: f OK FETCH completed
"#,
    );
}

/// Without UIDPLUS (CONDSTORE and QRESYNC still on): UIDPLUS is not advertised, `UID EXPUNGE`
/// gets BAD and expunges nothing (RFC 4315 §2.1 defines the command), APPEND, COPY and MOVE
/// answer without APPENDUID / COPYUID (RFC 4315 §3, RFC 6851 §4.3); plain EXPUNGE works.
#[test]
fn without_uidplus_uid_expunge_is_unknown_and_no_uid_codes_are_sent() {
    let f = fixture();
    f.store.create_mailbox(f.user, "Notes").unwrap();
    f.deliver("INBOX", NOTE, &["\\Deleted"]);
    f.deliver("INBOX", NOTE, &[]);
    replay(
        &f,
        Config {
            uidplus: false,
            ..loopback_config()
        },
        r#"
S: * OK [CAPABILITY IMAP4rev1 LITERAL+ ENABLE IDLE MOVE UNSELECT CONDSTORE QRESYNC STARTTLS AUTH=PLAIN SASL-IR] mailpush IMAP server ready
C: a LOGIN fred secret
S: a OK [CAPABILITY IMAP4rev1 LITERAL+ ENABLE IDLE MOVE UNSELECT CONDSTORE QRESYNC XAPPLEPUSHSERVICE] LOGIN completed
C: b CAPABILITY
S: * CAPABILITY IMAP4rev1 LITERAL+ ENABLE IDLE MOVE UNSELECT CONDSTORE QRESYNC XAPPLEPUSHSERVICE
S: b OK CAPABILITY completed
C: c APPEND Notes {5+}
C: hello
S: c OK APPEND completed
C: d SELECT INBOX
S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft \*)] Limited
S: * 2 EXISTS
S: * 2 RECENT
S: * OK [UIDVALIDITY $V(INBOX)] UIDs valid
S: * OK [UIDNEXT 3] Predicted next UID
S: * OK [HIGHESTMODSEQ 3] Highest
S: d OK [READ-WRITE] SELECT completed
C: e UID EXPUNGE 1
S: e BAD UID EXPUNGE is not supported by this server
C: f UID COPY 2 Notes
S: f OK COPY completed
C: g UID MOVE 2 Notes
S: * 2 EXPUNGE
S: g OK MOVE completed
C: h EXPUNGE
S: * 1 EXPUNGE
S: h OK EXPUNGE completed
"#,
    );
}

/// Without XAPPLEPUSHSERVICE: not advertised after login, and the command gets BAD and records
/// nothing; a device then polls the server's mailboxes.
#[test]
fn without_xaps_the_extension_is_neither_advertised_nor_served() {
    let f = fixture();
    replay(
        &f,
        Config {
            xaps: false,
            ..loopback_config()
        },
        r#"
S: * OK [CAPABILITY IMAP4rev1 LITERAL+ ENABLE IDLE UIDPLUS MOVE UNSELECT CONDSTORE QRESYNC STARTTLS AUTH=PLAIN SASL-IR] mailpush IMAP server ready
C: a LOGIN fred secret
S: a OK [CAPABILITY IMAP4rev1 LITERAL+ ENABLE IDLE UIDPLUS MOVE UNSELECT CONDSTORE QRESYNC] LOGIN completed
C: b XAPPLEPUSHSERVICE aps-version 2 aps-account-id A1 aps-device-token 0000000000000000000000000000000000000000000000000000000000000000 aps-subtopic com.apple.mobilemail mailboxes (INBOX)
S: b BAD XAPPLEPUSHSERVICE is not offered by this server
"#,
    );
}
