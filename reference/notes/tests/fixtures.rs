#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Real note messages as iOS and macOS write them (see `tests/fixtures/README.md` for their
//! sources and what was restored), and cases derived from them by changing only the encoding.

mod common;

use common::{all_fixtures, app, at, fixture};
use mailpush_notes::read::{Recognition, recognise};
use mailpush_notes::{AppError, Limits, NoteId, ReadError, read_note};

#[test]
fn ios_4_note_from_gmail_reads() {
    let read = read_note(&fixture("ios-4.2-gmail.eml"), &Limits::default()).unwrap();
    assert_eq!(
        read.note.id(),
        NoteId::parse("E3861089-EAD5-4DB0-BBDB-E4138ED2DD48").unwrap()
    );
    assert_eq!((read.note.title(), read.note.text()), ("Note 1", "Note 1"));
    assert_eq!(read.header.subject, "Note 1");
    assert_eq!(
        read.note.modified().to_string(),
        "Thu, 6 Jan 2011 18:15:14 -0800"
    );
    assert_eq!(
        read.note.created().to_string(),
        "Tue, 4 Jan 2011 10:51:19 -0800"
    );
    assert_eq!(read.attachments, 0);
}

#[test]
fn ios_5_note_without_charset_reads() {
    let read = read_note(&fixture("ios-5-mailmate.eml"), &Limits::default()).unwrap();
    assert_eq!(read.note.title(), "My first note...");
    // The title is bare text, then an empty line (`<div><br></div>`).
    assert_eq!(read.note.text(), "My first note...\n");
    assert_eq!(
        read.note.id().to_string(),
        "0811AAB1-6B98-4236-A762-AC8CCDEAB7D4"
    );
}

#[test]
fn macos_notes_3_3_note_in_us_ascii_reads_and_edits() {
    let raw = fixture("macos-10.10-notes-3.3.eml");
    let read = read_note(&raw, &Limits::default()).unwrap();
    assert_eq!(
        read.note.id().to_string(),
        "C95C4B45-ECDB-4C8A-890C-AC663B8BC802"
    );
    assert_eq!(read.note.text(), "just a few words in a note");
    assert_eq!(read.title(), "just a few words in a note");
    assert_eq!(
        read.note.created().to_string(),
        "Wed, 4 Nov 2015 22:36:27 +0100"
    );
    assert_eq!(
        read.note.modified().to_string(),
        "Wed, 4 Nov 2015 22:36:32 +0100"
    );

    // Edited here, the new version keeps its identity and creation time and replaces it.
    let (mut app, _, server) = app();
    server.create("Notes");
    let old = server.append("Notes", &[], &raw).unwrap();
    let id = app.open().unwrap().listing.notes[0].id();
    app.edit(id, "just a few more words in a note", at(9, 0, 0))
        .unwrap();
    let stored = server.messages("Notes");
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0].0, old);
    let again = read_note(&stored[0].2, &Limits::default()).unwrap();
    assert_eq!(again.note.id(), id);
    assert_eq!(again.note.created(), read.note.created());
    assert_eq!(again.note.text(), "just a few more words in a note");
}

//= spec/notes.md#NOTE-12
//# A reader MUST NOT show, change or delete a note message whose
//# `X-Universally-Unique-Identifier` is missing or is not a UUID
#[test]
fn ios_6_note_with_a_redacted_uuid_is_left_alone() {
    let raw = fixture("ios-6-icloud.eml");
    assert!(matches!(
        recognise(&raw),
        Recognition::Unidentified(ReadError::InvalidId { .. })
    ));
    // With a UUID where the author redacted it, the quoted-printable body reads.
    let fixed = String::from_utf8(raw).unwrap().replacen(
        "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX",
        "8A0C2E4F-6B8D-4F0A-9C2E-4B6D8F0A2C4E",
        1,
    );
    let read = read_note(fixed.as_bytes(), &Limits::default()).unwrap();
    assert_eq!(read.note.text(), "An uninteresting note");

    // Among notes, it is neither shown nor deleted, not even by a launch that cleans up.
    let (mut app, _, server) = app();
    server.create("Notes");
    let redacted = server
        .append("Notes", &[], &fixture("ios-6-icloud.eml"))
        .unwrap();
    server
        .append("Notes", &[], &fixture("ios-4.2-gmail.eml"))
        .unwrap();
    let opened = app.open().unwrap();
    assert_eq!(opened.listing.notes.len(), 1);
    assert_eq!(opened.listing.unreadable.len(), 1);
    assert_eq!(opened.listing.unreadable[0].uid, redacted);
    app.delete(opened.listing.notes[0].id()).unwrap();
    let left: Vec<_> = server
        .messages("Notes")
        .into_iter()
        .map(|(uid, _, _)| uid)
        .collect();
    assert_eq!(left, [redacted]);
}

//= spec/notes.md#NOTE-17
//# A reader MUST read the body of a note message from its first `text/html` part (depth
//# first), or, when it has none, from its first `text/plain` part
//= spec/notes.md#NOTE-18
//# MUST NOT store a new version of such a note; it MAY delete it
#[test]
fn ios_26_note_with_an_image_reads_its_html_part_and_is_not_edited() {
    let raw = fixture("ios-26-attachment-reconstructed.eml");
    let read = read_note(&raw, &Limits::default()).unwrap();
    assert_eq!(read.note.title(), "new from iphone เพิ่มภาษาไทย(bold italic)");
    assert_eq!(
        read.header.subject,
        "new from iphone เพิ่มภาษาไทย(bold italic)"
    );
    assert_eq!(
        read.note.text(),
        "new from iphone เพิ่มภาษาไทย(bold italic)\nunderline strike"
    );
    assert!(read.note.html().contains("data=\"cid:03D58874"));
    assert_eq!(read.attachments, 1);

    let (mut app, _, server) = app();
    server.create("Notes");
    server.append("Notes", &[], &raw).unwrap();
    let id = app.open().unwrap().listing.notes[0].id();
    assert!(matches!(
        app.edit(id, "replaced", at(10, 0, 0)),
        Err(AppError::HasAttachments(i)) if i == id
    ));
    assert_eq!(server.messages("Notes").len(), 1);
    assert_eq!(app.delete(id).unwrap().removed, 1);
    assert!(server.messages("Notes").is_empty());
}

/// The body of `raw` replaced by `body` under the header `raw` has, with `from`, `to` in the
/// header replaced (one occurrence).
fn rebody(raw: &[u8], from: &str, to: &str, body: &[u8]) -> Vec<u8> {
    let (header, _) = mailpush_message::header::split(raw);
    let header = String::from_utf8_lossy(header).replacen(from, to, 1);
    assert!(header.contains(to), "{to:?} not in the header");
    let mut out = header.into_bytes();
    out.extend_from_slice(body);
    out
}

//= spec/notes.md#NOTE-2
//# Header names are case-insensitive when read.
//= spec/notes.md#NOTE-3
//# A reader MUST accept `7bit`, `8bit`,
//# `quoted-printable` and `base64` transfer encodings.
#[test]
fn derived_encodings_and_charsets_read_the_same() {
    let limits = Limits::default();
    let gmail = fixture("ios-4.2-gmail.eml");
    let expected = read_note(&gmail, &limits).unwrap().note;

    // Derived: the same body in base64.
    let b64 = rebody(
        &gmail,
        "Content-Transfer-Encoding: 7bit",
        "Content-Transfer-Encoding: base64",
        b"PGRpdj5Ob3RlIDE8L2Rpdj4=\r\n",
    );
    assert_eq!(read_note(&b64, &limits).unwrap().note, expected);

    // Derived: bare line feeds, as the pages show it.
    let lf = String::from_utf8(gmail.clone())
        .unwrap()
        .replace("\r\n", "\n");
    assert_eq!(read_note(lf.as_bytes(), &limits).unwrap().note, expected);

    // Derived: header names in other cases.
    let lower = String::from_utf8(gmail.clone())
        .unwrap()
        .replace(
            "X-Universally-Unique-Identifier",
            "x-universally-unique-identifier",
        )
        .replace("X-Uniform-Type-Identifier", "X-UNIFORM-TYPE-IDENTIFIER")
        .replace("Content-Transfer-Encoding", "content-transfer-encoding");
    assert_eq!(read_note(lower.as_bytes(), &limits).unwrap().note, expected);

    // Derived: the iOS 5 note with the author's name (from its `From`) added to the body in
    // ISO-8859-1, as 8bit and as quoted-printable.
    let mailmate = fixture("ios-5-mailmate.eml");
    let latin1 = rebody(
        &mailmate,
        "Content-Type: text/html;",
        "Content-Type: text/html; charset=ISO-8859-1",
        b"My first note...<div>Benny Kj\xe6r Nielsen</div>",
    );
    let read = read_note(&latin1, &limits).unwrap();
    assert_eq!(read.note.text(), "My first note...\nBenny Kjær Nielsen");
    let eight_bit = rebody(
        &latin1,
        "Content-Transfer-Encoding: 7bit",
        "Content-Transfer-Encoding: 8bit",
        b"My first note...<div>Benny Kj\xe6r Nielsen</div>",
    );
    assert_eq!(read_note(&eight_bit, &limits).unwrap().note, read.note);
    let qp = rebody(
        &latin1,
        "Content-Transfer-Encoding: 7bit",
        "Content-Transfer-Encoding: Quoted-Printable",
        b"My first note...<div>Benny Kj=E6r =\r\nNielsen</div>",
    );
    assert_eq!(read_note(&qp, &limits).unwrap().note, read.note);

    // Derived: a charset the codec does not know reads as UTF-8, replacing what is not.
    let koi8 = rebody(
        &mailmate,
        "Content-Type: text/html;",
        "Content-Type: text/html; charset=koi8-r",
        b"<div>Caf\xc3\xa9 \xff</div>",
    );
    assert_eq!(
        read_note(&koi8, &limits).unwrap().note.text(),
        "Café \u{fffd}"
    );
}

//= spec/notes.md#NOTE-12
//# A reader MUST accept a UUID in
//# upper or lower case and compare UUIDs by value
//= spec/notes.md#NOTE-16
//# A writer that stores a new version of a note MUST write again every extension field
//= spec/notes.md#NOTE-24
//# A reader MUST take the creation time of a note from `X-Mail-Created-Date`, or from `Date` when
//# that field is missing or cannot be read
#[test]
fn header_lines_mail_on_mac_os_x_wrote_are_read_and_kept() {
    // The four header lines quoted from Mail on Mac OS X 10.5 (f-utility.tumblr.com, 2009),
    // in a note message of our own.
    let raw = b"From: a@example.org\r\n\
Date: Sat, 11 Apr 2009 13:05:00 +0200\r\n\
Subject: Old note\r\n\
X-Uniform-Type-Identifier: com.apple.mail-note\r\n\
X-Mail-Created-Date: 2009-04-11 12:57:37 +0200\r\n\
X-Mail-Generated-Subject: YES\r\n\
X-Universally-Unique-Identifier: 5ba16de5-6c6d-4e9e-a24e-09aaa2b9cfd8\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<div>Old note</div>";
    let read = read_note(raw, &Limits::default()).unwrap();
    assert_eq!(
        read.note.id(),
        NoteId::parse("5BA16DE5-6C6D-4E9E-A24E-09AAA2B9CFD8").unwrap()
    );
    assert_eq!(read.header.created, None);
    assert_eq!(read.note.created(), read.note.modified());

    let (mut app, _, server) = app();
    server.create("Notes");
    server.append("Notes", &[], raw).unwrap();
    let id = app.open().unwrap().listing.notes[0].id();
    app.edit(id, "Old note\nnew line", at(9, 0, 0)).unwrap();
    let stored = server.messages("Notes");
    assert_eq!(stored.len(), 1);
    let text = String::from_utf8(stored[0].2.clone()).unwrap();
    assert!(
        text.contains("\r\nX-Mail-Generated-Subject: YES\r\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "\r\nX-Universally-Unique-Identifier: 5BA16DE5-6C6D-4E9E-A24E-09AAA2B9CFD8\r\n"
        )
    );
    assert!(text.contains("\r\nX-Mail-Created-Date: Sat, 11 Apr 2009 13:05:00 +0200\r\n"));
}

#[test]
fn every_fixture_keeps_the_fuzz_oracle_properties() {
    for (name, raw) in all_fixtures() {
        mailpush_notes::fuzzing::check_note_message(&raw);
        assert!(
            !matches!(recognise(&raw), Recognition::NotANote),
            "{name} is a note message"
        );
    }
}
