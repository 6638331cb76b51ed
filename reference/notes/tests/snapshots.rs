#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The note messages this crate writes, octet for octet (each CRLF shown as `\r` and a line
//! break), with a fixed clock and fixed UUIDs. The first is the example of `spec/notes.md`.

use mailpush_message::{CivilDate, DateTime};
use mailpush_notes::read::read_note;
use mailpush_notes::write::write_note;
use mailpush_notes::{Author, Limits, Note, NoteId};

fn date(day: u8, (h, m, s): (u8, u8, u8)) -> DateTime {
    DateTime::new(CivilDate::new(2026, 11, day).unwrap(), (h, m, s), 0).unwrap()
}

fn written(author: &Author, text: &str, preserved_from: Option<&[u8]>) -> String {
    let note = Note::from_text(
        NoteId::parse("2B8D4E5C-6F1A-4C3E-9D70-8E2F1A3B4C5D").unwrap(),
        text,
        date(23, (18, 2, 41)),
        date(24, (9, 14, 3)),
    )
    .unwrap();
    let preserved = preserved_from
        .map(|raw| read_note(raw, &Limits::default()).unwrap().header.preserved)
        .unwrap_or_default();
    let raw = write_note(
        &note,
        author,
        NoteId::parse("7F3A9C1E-5B2D-4E8F-A6C4-1D9E0B7F2A35").unwrap(),
        &preserved,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(read_note(&raw, &Limits::default()).unwrap().note, note);
    let text = String::from_utf8(raw).unwrap();
    assert_eq!(text.matches('\n').count(), text.matches("\r\n").count());
    assert_eq!(text.matches('\r').count(), text.matches("\r\n").count());
    // Each CRLF shown as `\r` at the end of its line.
    text.replace("\r\n", "\\r\n")
}

fn alice() -> Author {
    Author::new(Some("Alice"), "alice@example.org").unwrap()
}

//= spec/notes.md#NOTE-2
//# Writers write the
//# fields in the order of the example above, and `Subject` as RFC 2047 encoded words where the title
//# is not printable US-ASCII.
//= spec/notes.md#NOTE-3
//# Writers SHOULD use `quoted-printable`.
#[test]
fn the_spec_example() {
    insta::assert_snapshot!(written(&alice(), "Shopping\nmilk, bread", None));
}

//= spec/notes.md#NOTE-13
//# A writer MUST write the
//# title as `Subject` (empty when the title is)
#[test]
fn a_non_ascii_title_and_author() {
    let author = Author::new(Some("Benny Kjær Nielsen"), "benny@example.org").unwrap();
    insta::assert_snapshot!(written(
        &author,
        "  Crème brûlée  \n\n2 cups of cream\tand 1/2 cup sugar = dessert\n.\nFrom the oven at 160 °C",
        None
    ));
}

#[test]
fn an_empty_note_and_a_long_line() {
    insta::assert_snapshot!(written(&alice(), "", None));
    insta::assert_snapshot!(written(
        &alice(),
        &format!(
            "Long\n{}",
            "a very long line of text with <markup> & entities ".repeat(4)
        ),
        None
    ));
}

//= spec/notes.md#NOTE-16
//# A writer that stores a new version of a note MUST write again every extension field
//# of the version it replaces other than `X-Uniform-Type-Identifier`,
//# `X-Universally-Unique-Identifier` and `X-Mail-Created-Date`, unfolded, when its value is printable
//# US-ASCII (spaces and tabs included) of at most 900 octets, up to 32 such fields
#[test]
fn extension_fields_of_the_version_replaced() {
    let previous = b"Date: Tue, 24 Nov 2026 08:00:00 +0000\r\n\
X-Uniform-Type-Identifier: com.apple.mail-note\r\n\
X-Universally-Unique-Identifier: 2b8d4e5c-6f1a-4c3e-9d70-8e2f1a3b4c5d\r\n\
X-Mail-Created-Date: Mon, 23 Nov 2026 18:02:41 +0000\r\n\
X-Mail-Generated-Subject: YES\r\n\
X-Roundcube-Note-Version: 1\r\n\
X-Folded: one\r\n two\r\n\
X-Eight-Bit: caf\xc3\xa9\r\n\
Received: from somewhere\r\n\
Content-Type: text/html; charset=utf-8\r\n\r\n<div>Shopping</div>";
    insta::assert_snapshot!(written(&alice(), "Shopping\neggs", Some(previous)));
}
