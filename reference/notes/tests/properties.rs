#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! quickcheck: notes of arbitrary text read back as written; any HTML reads as text that
//! writes back to itself; which version wins does not depend on the order of the view; an edit
//! never leaves a note without a version, whatever fails.

mod common;

use common::{app, at, author};
use mailpush_message::DateTime;
use mailpush_notes::html::{html_to_text, text_to_html};
use mailpush_notes::listing::list;
use mailpush_notes::memory::Request;
use mailpush_notes::write::write_note;
use mailpush_notes::{
    Content, Limits, MailboxView, Note, NoteError, NoteId, Uid, UidValidity, ViewMessage, read_note,
};
use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};

/// Text a user might type, built from pieces that are hard for mail and HTML: non-ASCII,
/// lines starting with `From ` or a dot, trailing and repeated spaces, tabs, markup, long
/// lines, empty lines, CRLF and lone CR.
#[derive(Debug, Clone)]
struct NoteText(String);

impl Arbitrary for NoteText {
    fn arbitrary(g: &mut Gen) -> Self {
        const PIECES: &[&str] = &[
            "From ",
            ".",
            "..",
            "\n",
            "\r\n",
            "\r",
            " ",
            "  ",
            "\t",
            "=",
            "=3D",
            "&amp;",
            "<b>",
            "</div>",
            "<",
            ">",
            "&",
            "café",
            "日本語",
            "👩‍👩‍👧",
            "\u{a0}",
            "\u{2028}",
            "x",
            "line",
            "=?utf-8?q?x?=",
            "\u{fffd}",
            "-- ",
        ];
        let mut text = String::new();
        for _ in 0..usize::arbitrary(g) % 40 {
            if u8::arbitrary(g) % 8 == 0 {
                // A long line, longer than a quoted-printable line.
                text.push_str(&"long ".repeat(usize::arbitrary(g) % 60));
            } else if u8::arbitrary(g) % 4 == 0 {
                text.push_str(&String::arbitrary(g));
            } else {
                text.push_str(g.choose(PIECES).copied().unwrap_or("x"));
            }
        }
        NoteText(text)
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        Box::new(self.0.shrink().map(NoteText))
    }
}

//= spec/notes.md#NOTE-14
//# This is the HTML Notes writes for plain text, and what
//# [NOTE-15](#NOTE-15) reads back to the same text.
#[test]
fn notes_of_any_text_read_back_as_written() {
    fn prop(text: NoteText, seconds: u32, offset: i16) -> TestResult {
        let id = NoteId::from_random_bytes([9; 16]);
        let offset = offset % (14 * 60);
        let Some(when) = DateTime::from_unix_seconds(i64::from(seconds), offset) else {
            return TestResult::discard();
        };
        let note = match Note::from_text(id, &text.0, when, when) {
            Ok(note) => note,
            Err(NoteError::ControlCharacter { character, .. }) => {
                assert!(character.is_control() && !matches!(character, '\n' | '\t' | '\r'));
                return TestResult::passed();
            }
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            note.text(),
            text.0.replace("\r\n", "\n").replace('\r', "\n")
        );
        let raw = write_note(
            &note,
            &author(),
            NoteId::from_random_bytes([3; 16]),
            &[],
            &Limits::default(),
        )
        .unwrap();
        assert!(
            raw.is_ascii(),
            "quoted-printable and encoded words keep the message ASCII"
        );
        for line in raw.split(|&b| b == b'\n') {
            assert!(line.len() <= 79, "{:?}", String::from_utf8_lossy(line));
        }
        let read = read_note(&raw, &Limits::default()).unwrap();
        assert_eq!(read.note, note);
        assert_eq!(read.header.subject, note.title());
        TestResult::passed()
    }
    QuickCheck::new()
        .tests(3000)
        .quickcheck(prop as fn(NoteText, u32, i16) -> TestResult);
}

//= spec/notes.md#NOTE-15
//# The reader MUST accept any octets: HTML that is
//# not well formed is read as far as it goes
#[test]
fn any_html_reads_as_text_that_writes_back_to_itself() {
    fn prop(html: NoteText, raw: Vec<u8>) -> bool {
        for input in [html.0, String::from_utf8_lossy(&raw).into_owned()] {
            let text = html_to_text(&input);
            assert!(
                text.chars()
                    .all(|c| !c.is_control() || c == '\n' || c == '\t'),
                "{text:?}"
            );
            assert_eq!(html_to_text(&text_to_html(&text)), text);
        }
        true
    }
    QuickCheck::new()
        .tests(3000)
        .quickcheck(prop as fn(NoteText, Vec<u8>) -> bool);
}

/// A version of one of three notes: which note, its `Date` (none, or minutes after 09:00 in
/// one of two zones), and whether it can be read.
#[derive(Debug, Clone)]
struct Version {
    note: u8,
    date: Option<(u8, bool)>,
    readable: bool,
}

impl Arbitrary for Version {
    fn arbitrary(g: &mut Gen) -> Self {
        Version {
            note: u8::arbitrary(g) % 3,
            date: Option::<(u8, bool)>::arbitrary(g).map(|(m, z)| (m % 8, z)),
            readable: u8::arbitrary(g) % 5 != 0,
        }
    }
}

fn message(v: &Version, uid: u32) -> ViewMessage {
    let id = NoteId::from_random_bytes([v.note; 16]);
    let date = match v.date {
        // The same instant written in two zones.
        Some((m, false)) => format!("Date: Tue, 24 Nov 2026 09:{m:02}:00 +0000\r\n"),
        Some((m, true)) => format!("Date: Tue, 24 Nov 2026 10:{m:02}:00 +0100\r\n"),
        None => String::new(),
    };
    let header = format!(
        "{date}X-Mail-Created-Date: Mon, 23 Nov 2026 08:00:00 +0000\r\n\
X-Uniform-Type-Identifier: com.apple.mail-note\r\n\
X-Universally-Unique-Identifier: {id}\r\n\
Content-Type: text/html; charset=utf-8\r\n\r\n"
    );
    let uid = Uid::new(uid).unwrap();
    let content = if v.readable {
        Content::Full(format!("{header}<div>version {}</div>", uid.get()).into_bytes())
    } else {
        Content::HeaderOnly {
            header: header.into_bytes(),
            size: 2 << 20,
        }
    };
    ViewMessage {
        uid,
        flags: vec![],
        content,
    }
}

//= spec/notes.md#NOTE-7
//# a reader MUST present one note: the version
//# with the latest `Date`, and of those the one with the highest UID.
#[test]
fn which_version_wins_does_not_depend_on_the_order_of_the_view() {
    fn prop(versions: Vec<Version>, rotation: usize, reverse: bool) -> bool {
        let messages: Vec<ViewMessage> = versions
            .iter()
            .enumerate()
            .map(|(i, v)| message(v, u32::try_from(i).unwrap() + 1))
            .collect();
        let view = |messages: Vec<ViewMessage>| MailboxView {
            uidvalidity: UidValidity::new(7),
            messages,
        };
        let listing = list(&view(messages.clone()), &Limits::default());
        let mut other = messages.clone();
        if !other.is_empty() {
            let len = other.len();
            other.rotate_left(rotation % len);
        }
        if reverse {
            other.reverse();
        }
        assert_eq!(list(&view(other), &Limits::default()), listing);
        // The winner is the latest (instant, UID) of its note, and every other version lost.
        for shown in &listing.notes {
            let key = |v: &Version, uid: u32| (v.date.map(|(m, _)| i64::from(m)), uid);
            let best = versions
                .iter()
                .enumerate()
                .filter(|(_, v)| NoteId::from_random_bytes([v.note; 16]) == shown.id())
                .map(|(i, v)| key(v, u32::try_from(i).unwrap() + 1))
                .max()
                .unwrap();
            assert_eq!(shown.uid.get(), best.1);
            let all = listing.versions_of(shown.id()).len();
            assert_eq!(shown.losers.len() + 1, all);
        }
        true
    }
    QuickCheck::new()
        .tests(2000)
        .quickcheck(prop as fn(Vec<Version>, usize, bool) -> bool);
}

/// What may fail during one edit.
#[derive(Debug, Clone, Copy)]
enum Fault {
    None,
    Append,
    /// Between the APPEND and the expunge: the edit stops after storing the new version.
    Expunge,
    Sync,
    View,
}

impl Arbitrary for Fault {
    fn arbitrary(g: &mut Gen) -> Self {
        *g.choose(&[
            Fault::None,
            Fault::Append,
            Fault::Expunge,
            Fault::Sync,
            Fault::View,
        ])
        .unwrap()
    }
}

//= spec/notes.md#NOTE-6
//# Appending first means a failure between the two steps leaves two versions, never none
#[test]
fn edits_never_leave_a_note_without_a_version() {
    fn prop(edits: Vec<(Fault, i8)>) -> bool {
        let (mut app, access, server) = app();
        let id = app.add("v0", at(12, 0, 0)).unwrap().note.id();
        let mut expected = "v0".to_owned();
        for (n, (fault, skew)) in edits.into_iter().take(12).enumerate() {
            let request = match fault {
                Fault::None => None,
                Fault::Append => Some(Request::Append),
                Fault::Expunge => Some(Request::Expunge),
                Fault::Sync => Some(Request::Sync),
                Fault::View => Some(Request::View),
            };
            if let Some(r) = request {
                access.fail_next(r);
            }
            // Clocks that go back as well as forward.
            let seconds = at(12, 0, 0).unix_seconds() + i64::from(skew) * 60;
            let now = DateTime::from_unix_seconds(seconds, 0).unwrap();
            let text = format!("v{}", n + 1);
            if app.edit(id, &text, now).is_ok() {
                expected = text;
            }
            let on_server = server
                .messages("Notes")
                .iter()
                .filter(|m| read_note(&m.2, &Limits::default()).is_ok_and(|r| r.note.id() == id))
                .count();
            assert!(on_server >= 1, "no version left after {fault:?}");
            // Once synchronized, the note shows the last edit that was stored.
            let opened = app.open().unwrap();
            assert_eq!(opened.listing.notes.len(), 1);
            assert_eq!(opened.listing.notes[0].read.note.text(), expected);
        }
        true
    }
    QuickCheck::new()
        .tests(300)
        .quickcheck(prop as fn(Vec<(Fault, i8)>) -> bool);
}
