#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! SEARCH text and date keys on a small mailbox with known headers and dates, and `\Recent`
//! across sessions.

mod common;
use common::*;

use mailpush_mail_store::{Flags, InternalDate};

const REPORT: &str = "From: Alice <alice@example.org>\r\n\
To: bob@example.com\r\n\
Cc: carol@example.net\r\n\
Subject: Quarterly report\r\n\
Date: Mon, 13 Nov 2023 09:00:00 +0100\r\n\
X-Priority: 1\r\n\
\r\n\
The numbers look GOOD this quarter.\r\n";

const CAFE: &str = "From: =?UTF-8?Q?Ren=C3=A9e?= <renee@example.org>\r\n\
To: alice@example.org\r\n\
Bcc: dave@example.com\r\n\
Subject: =?UTF-8?B?Q2Fmw6kgbWVldGluZw==?=\r\n\
Date: 15 Nov 23 18:00 -0800\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Let's meet at the caf=C3=A9 =\r\n\
at noon.\r\n";

const PLANS: &str = "From: bob@example.com\r\n\
Subject: Plans\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\
\r\n\
--b\r\n\
Content-Type: text/plain\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
U2VjcmV0IHBsYW5zIGluc2lkZQ==\r\n\
--b\r\n\
Content-Type: application/octet-stream\r\n\
\r\n\
zzz\r\n\
--b--\r\n";

const REPLY: &str = "From: carol@example.net\r\n\
Subject: re: quarterly REPORT\r\n\
Date: not a date\r\n\
\r\n\
ok\r\n";

/// Four messages: internal dates 14, 16, 16 (17 in UTC, but 16 in its own zone) and 18
/// November 2023; sent 13 and 15 November, then no Date field and an unreadable one.
fn mailbox() -> Fixture {
    let f = fixture();
    let inbox = f.store.mailbox(f.user, "INBOX").unwrap().id;
    let dates = [
        (REPORT, 1_700_000_000, 0),
        (CAFE, 1_700_100_000, 0),
        (PLANS, 1_700_200_000, -600),
        (REPLY, 1_700_300_000, 60),
    ];
    for (raw, secs, offset) in dates {
        let date = InternalDate {
            unix_seconds: secs,
            utc_offset_minutes: offset,
        };
        f.store
            .append(inbox, raw.as_bytes(), &Flags::new(), date)
            .unwrap();
    }
    f
}

fn logged_in(f: &Fixture) -> Client {
    let mut c = Client::new(f, loopback_config(), false);
    c.send("a LOGIN fred secret");
    c
}

fn search(c: &mut Client, keys: &str) -> String {
    let out = c.send(&format!("s SEARCH {keys}"));
    let mut lines = out.lines();
    let first = lines.next().unwrap_or_default().to_owned();
    assert_eq!(lines.next(), Some("s OK SEARCH completed"), "{out}");
    first
}

#[test]
fn search_header_keys() {
    let f = mailbox();
    let mut c = logged_in(&f);
    c.send("e EXAMINE INBOX");
    assert_eq!(search(&mut c, "FROM alice"), "* SEARCH 1");
    assert_eq!(search(&mut c, "FROM ALICE@EXAMPLE"), "* SEARCH 1");
    assert_eq!(search(&mut c, "TO alice"), "* SEARCH 2");
    assert_eq!(search(&mut c, "CC carol"), "* SEARCH 1");
    assert_eq!(search(&mut c, "BCC dave"), "* SEARCH 2");
    assert_eq!(search(&mut c, "SUBJECT report"), "* SEARCH 1 4");
    assert_eq!(
        search(&mut c, "SUBJECT \"quarterly report\""),
        "* SEARCH 1 4"
    );
    // RFC 2047 encoded words are decoded before comparing, in any letter case.
    assert_eq!(
        search(&mut c, "CHARSET UTF-8 FROM {6+}\r\nRENÉE"),
        "* SEARCH 2"
    );
    assert_eq!(
        search(&mut c, "CHARSET UTF-8 SUBJECT {5+}\r\ncafé"),
        "* SEARCH 2"
    );
    // HEADER with an empty string: every message that has the field.
    assert_eq!(search(&mut c, "HEADER X-Priority \"\""), "* SEARCH 1");
    assert_eq!(search(&mut c, "HEADER date \"\""), "* SEARCH 1 2 4");
    assert_eq!(search(&mut c, "HEADER X-Priority 2"), "* SEARCH");
    assert_eq!(search(&mut c, "NOT FROM alice"), "* SEARCH 2 3 4");
}

#[test]
fn search_body_and_text() {
    let f = mailbox();
    let mut c = logged_in(&f);
    c.send("e EXAMINE INBOX");
    assert_eq!(search(&mut c, "BODY good"), "* SEARCH 1");
    // Quoted-printable (with a soft line break) and base64 are decoded.
    assert_eq!(
        search(&mut c, "CHARSET UTF-8 BODY {13+}\r\ncafé at noon"),
        "* SEARCH 2"
    );
    assert_eq!(search(&mut c, "BODY \"secret plans\""), "* SEARCH 3");
    // Only text parts are text.
    assert_eq!(search(&mut c, "BODY zzz"), "* SEARCH");
    // The body is not the header.
    assert_eq!(search(&mut c, "BODY quarterly"), "* SEARCH");
    assert_eq!(search(&mut c, "TEXT quarterly"), "* SEARCH 1 4");
    assert_eq!(search(&mut c, "TEXT bob"), "* SEARCH 1 3");
    assert_eq!(search(&mut c, "TEXT noon"), "* SEARCH 2");
    assert_eq!(search(&mut c, "OR SUBJECT plans BODY good"), "* SEARCH 1 3");
    assert_eq!(search(&mut c, "UID 2:4 TEXT ok"), "* SEARCH 4");
}

#[test]
fn search_dates() {
    let f = mailbox();
    let mut c = logged_in(&f);
    c.send("e EXAMINE INBOX");
    // Internal dates, each in its own zone, time of day ignored.
    assert_eq!(search(&mut c, "BEFORE 16-Nov-2023"), "* SEARCH 1");
    assert_eq!(search(&mut c, "ON 16-Nov-2023"), "* SEARCH 2 3");
    assert_eq!(search(&mut c, "SINCE 17-Nov-2023"), "* SEARCH 4");
    assert_eq!(search(&mut c, "SINCE 14-Nov-2023"), "* SEARCH 1 2 3 4");
    // Date fields; a message without a readable one matches none of them.
    assert_eq!(search(&mut c, "SENTBEFORE 14-Nov-2023"), "* SEARCH 1");
    assert_eq!(search(&mut c, "SENTON 15-Nov-2023"), "* SEARCH 2");
    assert_eq!(search(&mut c, "SENTSINCE 1-Jan-2000"), "* SEARCH 1 2");
    assert_eq!(search(&mut c, "NOT SENTSINCE 1-Jan-2000"), "* SEARCH 3 4");
    assert_eq!(
        search(&mut c, "SENTSINCE 14-Nov-2023 SINCE 15-Nov-2023"),
        "* SEARCH 2"
    );
}

#[test]
fn search_charsets() {
    let f = mailbox();
    let mut c = logged_in(&f);
    c.send("e EXAMINE INBOX");
    assert_eq!(
        search(&mut c, "CHARSET US-ASCII SUBJECT plans"),
        "* SEARCH 3"
    );
    assert_eq!(
        c.send("t SEARCH CHARSET ISO-8859-2 SUBJECT plans"),
        "t NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset\r\n"
    );
}

/// RFC 3501 §2.3.2: a message is recent in the one session that is told about it first.
#[test]
fn recent_in_exactly_one_session() {
    let f = fixture();
    f.deliver("INBOX", REPLY, &[]);
    f.deliver("INBOX", REPLY, &[]);
    let mut a = logged_in(&f);
    let mut b = logged_in(&f);
    assert!(a.send("s SELECT INBOX").contains("* 2 RECENT\r\n"));
    assert!(b.send("s SELECT INBOX").contains("* 0 RECENT\r\n"));
    f.deliver("INBOX", REPLY, &[]);
    // b looks first: the new message is recent there, and only there.
    assert_eq!(
        b.send("n NOOP"),
        "* 3 EXISTS\r\n* 1 RECENT\r\nn OK NOOP completed\r\n"
    );
    assert_eq!(
        a.send("n NOOP"),
        "* 3 EXISTS\r\n* 2 RECENT\r\nn OK NOOP completed\r\n"
    );
    assert_eq!(
        a.send("f FETCH 1:* (FLAGS)"),
        "* 1 FETCH (FLAGS (\\Recent))\r\n* 2 FETCH (FLAGS (\\Recent))\r\n\
         * 3 FETCH (FLAGS ())\r\nf OK FETCH completed\r\n"
    );
    assert_eq!(
        b.send("f FETCH 3 (FLAGS)"),
        "* 3 FETCH (FLAGS (\\Recent))\r\nf OK FETCH completed\r\n"
    );
    assert_eq!(search(&mut a, "RECENT"), "* SEARCH 1 2");
    assert_eq!(search(&mut a, "OLD"), "* SEARCH 3");
    assert_eq!(search(&mut b, "NEW"), "* SEARCH 3");
    // \Seen ends NEW, not RECENT; STORE cannot touch \Recent.
    b.send("t STORE 3 +FLAGS (\\Seen)");
    assert_eq!(search(&mut b, "NEW"), "* SEARCH");
    assert_eq!(search(&mut b, "RECENT"), "* SEARCH 3");
    assert_eq!(
        b.send("t STORE 3 -FLAGS (\\Recent)"),
        "t BAD flag \\Recent cannot be stored\r\n"
    );

    // STATUS counts what nobody has claimed; EXAMINE shows it without claiming it.
    let mut c = logged_in(&f);
    assert_eq!(
        c.send("t STATUS INBOX (RECENT)"),
        "* STATUS INBOX (RECENT 0)\r\nt OK STATUS completed\r\n"
    );
    f.deliver("INBOX", REPLY, &[]);
    assert_eq!(
        c.send("t STATUS INBOX (RECENT MESSAGES)"),
        "* STATUS INBOX (RECENT 1 MESSAGES 4)\r\nt OK STATUS completed\r\n"
    );
    assert!(c.send("e EXAMINE INBOX").contains("* 1 RECENT\r\n"));
    assert_eq!(search(&mut c, "RECENT"), "* SEARCH 4");
    let mut d = logged_in(&f);
    assert!(d.send("s SELECT INBOX").contains("* 1 RECENT\r\n"));
    assert_eq!(search(&mut d, "RECENT"), "* SEARCH 4");
    // Claimed by d, so a and b see it as not recent.
    assert_eq!(
        a.send("n NOOP"),
        "* 4 EXISTS\r\n* 2 RECENT\r\n* 3 FETCH (UID 3 FLAGS (\\Seen))\r\nn OK NOOP completed\r\n"
    );
    assert_eq!(
        b.send("n NOOP"),
        "* 4 EXISTS\r\n* 1 RECENT\r\nn OK NOOP completed\r\n"
    );
    assert_eq!(
        c.send("t STATUS INBOX (RECENT)"),
        "* STATUS INBOX (RECENT 0)\r\nt OK STATUS completed\r\n"
    );
    // An expunged recent message leaves the recent set.
    d.send("t STORE 4 +FLAGS (\\Deleted)");
    d.send("x EXPUNGE");
    assert_eq!(search(&mut d, "RECENT"), "* SEARCH");
}

/// LIST with `*` and `%` patterns over a small hierarchy.
#[test]
fn list_patterns() {
    let f = fixture();
    let mut c = logged_in(&f);
    for name in ["Work", "Work/2023", "Work/2023/Q4", "Home"] {
        c.send(&format!("c CREATE {name}"));
    }
    let names = |c: &mut Client, pattern: &str| -> Vec<String> {
        c.send(&format!("l LIST \"\" {pattern}"))
            .lines()
            .filter_map(|l| l.strip_prefix("* LIST "))
            .map(|l| l.rsplit(' ').next().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(names(&mut c, "%"), ["Home", "INBOX", "Work"]);
    assert_eq!(names(&mut c, "Work/%"), ["Work/2023"]);
    assert_eq!(names(&mut c, "Work/*"), ["Work/2023", "Work/2023/Q4"]);
    assert_eq!(names(&mut c, "*4"), ["Work/2023/Q4"]);
    assert_eq!(names(&mut c, "%/%/%"), ["Work/2023/Q4"]);
    assert_eq!(names(&mut c, "*o%"), ["Home", "Work"]);
    // A pattern made of many wildcards is answered like any other.
    let hostile = "*%".repeat(2000) + "Q%";
    assert_eq!(names(&mut c, &format!("\"{hostile}\"")), ["Work/2023/Q4"]);
    let hostile = "%*".repeat(2000) + "Q";
    assert!(names(&mut c, &format!("\"{hostile}\"")).is_empty());
}
