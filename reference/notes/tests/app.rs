#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The notes application over the in-memory data-access daemon: launch, list, add, edit,
//! delete and watch, with the DA's failures injected.

mod common;

use common::{app, at, author, other_device, other_device_with_access};
use mailpush_notes::listing::list;
use mailpush_notes::memory::{MemoryError, MemoryServer, Request};
use mailpush_notes::{
    AppError, Content, Limits, MailboxAccess, NoteChange, NoteId, NotesApp, NotesConfig, ReadError,
    SEEN, Uid, ViewMessage, read_note,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// A message in the notes mailbox that is not a note.
const MAIL: &[u8] = b"From: bob@example.org\r\nSubject: lunch?\r\n\
X-Uniform-Type-Identifier: com.apple.mail-draft\r\n\r\nat noon\r\n";

fn uids(server: &MemoryServer) -> Vec<Uid> {
    server.messages("Notes").into_iter().map(|m| m.0).collect()
}

/// The note messages the server holds for `id`.
fn versions(server: &MemoryServer, id: NoteId) -> usize {
    server
        .messages("Notes")
        .iter()
        .filter(|m| read_note(&m.2, &Limits::default()).is_ok_and(|r| r.note.id() == id))
        .count()
}

//= spec/notes.md#NOTE-1
//# Notes MUST be stored in the mailbox named `Notes` unless the user configures another
//# name. An application that finds no such mailbox MUST create it before it stores its first note.
#[test]
fn the_notes_mailbox_is_created_before_the_first_note() {
    let (mut app, access, server) = app();
    assert_eq!(app.config().mailbox(), "Notes");
    // Launching with no mailbox shows nothing and creates nothing.
    let opened = app.open().unwrap();
    assert!(opened.listing.notes.is_empty());
    assert!(server.mailboxes().is_empty());
    let written = app.add("Shopping\nmilk", at(9, 0, 0)).unwrap();
    assert_eq!(server.mailboxes(), ["Notes"]);
    let log = access.log();
    let create = log.iter().position(|r| *r == Request::Create).unwrap();
    let append = log.iter().position(|r| *r == Request::Append).unwrap();
    assert!(create < append, "{log:?}");
    assert_eq!(app.list().unwrap().notes[0].read.note, written.note);
    // A second note does not create it again.
    app.add("Second", at(9, 1, 0)).unwrap();
    assert_eq!(
        access
            .log()
            .iter()
            .filter(|r| **r == Request::Create)
            .count(),
        1
    );

    // Another name, when configured.
    let server = MemoryServer::new();
    let config = NotesConfig::new(author())
        .with_mailbox("Work/Notes")
        .unwrap();
    let mut app = NotesApp::new(
        mailpush_notes::memory::MemoryAccess::new(&server),
        config,
        StdRng::seed_from_u64(1),
    );
    app.add("x", at(9, 0, 0)).unwrap();
    assert_eq!(server.mailboxes(), ["Work/Notes"]);
    for bad in ["", "a\r\nb", "nul\0"] {
        assert!(NotesConfig::new(author()).with_mailbox(bad).is_err());
    }
}

//= spec/notes.md#NOTE-22
//# When the notes application is launched it MUST ask the data-access daemon to synchronize the
//# notes mailbox and MUST present the view that sync leaves, having first asked it to monitor that
//# mailbox when it exists
#[test]
fn launching_monitors_and_syncs_before_listing() {
    let (mut writer, _, server) = app();
    writer.add("From another device", at(8, 0, 0)).unwrap();
    let (mut app, access) = other_device_with_access(&server, 2);
    let opened = app.open().unwrap();
    let log = access.log();
    let first = |r| log.iter().position(|x| *x == r).unwrap();
    assert!(first(Request::Monitor) < first(Request::Sync), "{log:?}");
    assert!(first(Request::Sync) < first(Request::View), "{log:?}");
    assert!(opened.sync_error.is_none());
    assert_eq!(opened.listing.notes.len(), 1);
    assert_eq!(opened.listing.notes[0].read.title(), "From another device");
}

//= spec/notes.md#NOTE-22
//# When the sync fails it MUST present the data-access daemon's last
//# view and say that it may be out of date.
#[test]
fn a_failed_launch_sync_shows_the_last_view_and_says_so() {
    let (mut app, access, server) = app();
    app.add("first", at(8, 0, 0)).unwrap();
    let mut other = other_device(&server, 3);
    other.add("second", at(8, 5, 0)).unwrap();
    access.fail_next(Request::Sync);
    let opened = app.open().unwrap();
    assert_eq!(
        opened.sync_error,
        Some(MemoryError::Injected(Request::Sync))
    );
    let titles: Vec<_> = opened
        .listing
        .notes
        .iter()
        .map(|n| n.read.title().to_owned())
        .collect();
    assert_eq!(titles, ["first"]);
    assert_eq!(app.open().unwrap().listing.notes.len(), 2);
}

//= spec/notes.md#NOTE-5
//# A note's identity MUST be its UUID, never its UID: an edit gives the note a new UID,
//# and a UIDVALIDITY change renumbers every message. A new note MUST get a fresh random (version 4)
//# UUID.
#[test]
fn identity_is_the_uuid_across_edits_and_uidvalidity_changes() {
    let (mut app, _, server) = app();
    let a = app.add("a", at(9, 0, 0)).unwrap().note.id();
    let b = app.add("b", at(9, 0, 1)).unwrap().note.id();
    assert_ne!(a, b);
    assert_eq!((a.version(), b.version()), (4, 4));
    let before = app.list().unwrap().note(a).unwrap().uid;
    app.edit(a, "a2", at(9, 1, 0)).unwrap();
    let after = app.list().unwrap().note(a).unwrap().uid;
    assert_ne!(before, after);

    server.reset_uidvalidity("Notes").unwrap();
    let opened = app.open().unwrap();
    assert_eq!(opened.listing.note(a).unwrap().read.note.text(), "a2");
    app.edit(a, "a3", at(9, 2, 0)).unwrap();
    app.delete(b).unwrap();
    let listing = app.list().unwrap();
    assert_eq!(listing.notes.len(), 1);
    assert_eq!(listing.note(a).unwrap().read.note.text(), "a3");
}

//= spec/notes.md#NOTE-9
//# A writer SHOULD append notes with the `\Seen` flag
#[test]
fn notes_are_appended_seen() {
    let (mut app, _, server) = app();
    app.add("x", at(9, 0, 0)).unwrap();
    let id = app.list().unwrap().notes[0].id();
    app.edit(id, "y", at(9, 1, 0)).unwrap();
    for (_, flags, _) in server.messages("Notes") {
        assert_eq!(flags, [SEEN]);
    }
}

//= spec/notes.md#NOTE-6
//# To store a new version of a note, a writer MUST first `APPEND` the new version, with
//# the same UUID and `X-Mail-Created-Date` and a new `Date`, and only after the `APPEND` succeeds
//# expunge the previous versions, every one it has seen with that UUID
#[test]
fn an_edit_appends_then_expunges_every_earlier_version() {
    let (mut app, access, server) = app();
    let created = app.add("Groceries\nmilk", at(9, 0, 0)).unwrap().note;
    // An edit interrupted between its two steps leaves two versions.
    access.fail_next(Request::Expunge);
    app.edit(created.id(), "Groceries\nmilk\neggs", at(9, 5, 0))
        .unwrap();
    assert_eq!(versions(&server, created.id()), 2);
    let start = access.log().len();
    let written = app
        .edit(created.id(), "Groceries\nbread", at(9, 10, 0))
        .unwrap();
    let log = &access.log()[start..];
    let append = log.iter().position(|r| *r == Request::Append).unwrap();
    let expunge = log.iter().position(|r| *r == Request::Expunge).unwrap();
    assert!(append < expunge, "{log:?}");
    assert!(written.cleanup_error.is_none());
    assert_eq!(written.removed, 2);
    assert_eq!(versions(&server, created.id()), 1);
    let shown = &app.list().unwrap().notes[0].read;
    assert_eq!(shown.note.id(), created.id());
    assert_eq!(shown.note.text(), "Groceries\nbread");
    assert_eq!(shown.note.created(), created.created());
    assert_eq!(shown.note.modified(), at(9, 10, 0));
}

#[test]
fn a_failed_append_expunges_nothing() {
    let (mut app, access, server) = app();
    let id = app.add("keep me", at(9, 0, 0)).unwrap().note.id();
    access.fail_next(Request::Append);
    let err = app.edit(id, "lost", at(9, 1, 0)).unwrap_err();
    assert!(matches!(
        err,
        AppError::Access(MemoryError::Injected(Request::Append))
    ));
    assert_eq!(versions(&server, id), 1);
    assert_eq!(app.list().unwrap().notes[0].read.note.text(), "keep me");
}

//= spec/notes.md#NOTE-20
//# The `Date` of a new version MUST be later than the `Date` of every version it replaces,
//# so that it wins
#[test]
fn a_failed_expunge_leaves_a_duplicate_the_new_version_beats() {
    let (mut app, access, server) = app();
    let id = app.add("old", at(9, 30, 0)).unwrap().note.id();
    access.fail_next(Request::Expunge);
    // The clock is behind the version it replaces.
    let written = app.edit(id, "new", at(9, 0, 0)).unwrap();
    assert_eq!(
        written.cleanup_error,
        Some(MemoryError::Injected(Request::Expunge))
    );
    assert_eq!(written.note.modified(), at(9, 30, 1));
    assert_eq!(versions(&server, id), 2);
    let listing = app.list().unwrap();
    assert_eq!(listing.notes.len(), 1);
    assert_eq!(listing.notes[0].read.note.text(), "new");
    assert_eq!(listing.notes[0].losers.len(), 1);
}

//= spec/notes.md#NOTE-7
//# a reader MUST present one note: the version
//# with the latest `Date`, and of those the one with the highest UID. A writer that sees such
//# duplicates SHOULD expunge the versions that lost
//= spec/notes.md#NOTE-23
//# A writer that expunges versions that lost ([NOTE-7](#NOTE-7)) without editing or deleting their note
//# MUST do so only after a sync of the notes mailbox has succeeded, MUST name them by UID under the
//# UIDVALIDITY it saw them with
#[test]
fn duplicates_show_the_latest_and_launch_removes_the_losers() {
    let (mut a, access, server) = app();
    let id = a.add("v1", at(9, 0, 0)).unwrap().note.id();
    // Two devices edit at once: a's expunge fails, b only knew v1.
    let mut b = other_device(&server, 5);
    b.open().unwrap();
    access.fail_next(Request::Expunge);
    a.edit(id, "from a", at(9, 10, 0)).unwrap();
    b.edit(id, "from b", at(9, 5, 0)).unwrap();
    assert_eq!(versions(&server, id), 2);

    // A failed launch sync removes nothing.
    access.fail_next(Request::Sync);
    let opened = a.open().unwrap();
    assert_eq!(opened.removed, 0);
    assert_eq!(versions(&server, id), 2);

    // After a good sync, the latest Date wins and the loser goes.
    let opened = a.open().unwrap();
    assert_eq!(opened.listing.notes[0].read.note.text(), "from a");
    assert_eq!(opened.removed, 1);
    assert_eq!(versions(&server, id), 1);
    assert_eq!(
        a.open().unwrap().listing.notes[0].read.note.text(),
        "from a"
    );
}

#[test]
fn cleanup_under_a_changed_uidvalidity_is_refused_and_loses_nothing() {
    let (mut app, access, server) = app();
    let id = app.add("v1", at(9, 0, 0)).unwrap().note.id();
    access.fail_next(Request::Expunge);
    app.edit(id, "v2", at(9, 1, 0)).unwrap();
    // The server renumbers the mailbox behind the view's back, and the launch sync fails.
    server.reset_uidvalidity("Notes").unwrap();
    access.fail_next(Request::Sync);
    let opened = app.open().unwrap();
    assert_eq!(
        (opened.removed, opened.listing.notes[0].losers.len()),
        (0, 1)
    );
    // The edit's expunge names UIDs of the old UIDVALIDITY: refused, not applied to the
    // renumbered messages.
    let written = app.edit(id, "v3", at(9, 2, 0)).unwrap();
    assert!(matches!(
        written.cleanup_error,
        Some(MemoryError::UidValidityChanged(_))
    ));
    assert_eq!(versions(&server, id), 3);
    let opened = app.open().unwrap();
    assert_eq!(opened.listing.notes[0].read.note.text(), "v3");
    assert_eq!(opened.removed, 2);
    assert_eq!(versions(&server, id), 1);
}

//= spec/notes.md#NOTE-8
//# To delete a note a writer MUST expunge every message that carries its UUID.
#[test]
fn deleting_expunges_every_version_and_nothing_else() {
    let (mut app, access, server) = app();
    let id = app.add("doomed", at(9, 0, 0)).unwrap().note.id();
    let keep = app.add("kept", at(9, 0, 1)).unwrap().note.id();
    server.append("Notes", &[], MAIL).unwrap();
    // A second version, too large for this device's DA to keep whole.
    let (mut other, other_access) = other_device_with_access(&server, 6);
    other.open().unwrap();
    other_access.fail_next(Request::Expunge);
    other
        .edit(id, &format!("doomed\n{}", "x".repeat(5000)), at(9, 2, 0))
        .unwrap();
    access.keep_headers_only_above(4096);
    app.open().unwrap();
    assert_eq!(app.list().unwrap().versions_of(id).len(), 2);
    let deleted = app.delete(id).unwrap();
    assert_eq!(deleted.removed, 2);
    assert_eq!(versions(&server, id), 0);
    assert_eq!(versions(&server, keep), 1);
    assert!(server.messages("Notes").iter().any(|m| m.2 == MAIL));
    assert!(matches!(app.delete(id), Err(AppError::NotFound(i)) if i == id));
}

//= spec/notes.md#NOTE-4
//# MUST leave every other message in the
//# mailbox alone (neither show it as a note nor delete it)
#[test]
fn other_messages_are_never_shown_or_deleted() {
    let (mut app, access, server) = app();
    let id = app.add("note", at(9, 0, 0)).unwrap().note.id();
    let mail = server.append("Notes", &[], MAIL).unwrap();
    access.fail_next(Request::Expunge);
    app.edit(id, "note 2", at(9, 1, 0)).unwrap();
    let opened = app.open().unwrap();
    assert_eq!(opened.listing.notes.len(), 1);
    assert!(opened.listing.unreadable.is_empty());
    app.edit(id, "note 3", at(9, 2, 0)).unwrap();
    app.delete(id).unwrap();
    assert_eq!(uids(&server), [mail]);
}

//= spec/notes.md#NOTE-10
//# A reader MUST reject, without failing the rest of the sync, a note message larger than its
//# configured limit (default 1 MiB), and a writer MUST NOT write one.
#[test]
fn oversized_notes_are_rejected_alone_and_never_written() {
    let (mut app, access, server) = app();
    let small = app.add("small", at(9, 0, 0)).unwrap().note.id();
    // Written by a device with a larger limit.
    let mut big_writer = NotesApp::new(
        mailpush_notes::memory::MemoryAccess::new(&server),
        NotesConfig::new(author()).with_limits(Limits::new(4 << 20).unwrap()),
        StdRng::seed_from_u64(8),
    );
    let big = big_writer
        .add(&format!("big\n{}", "y".repeat(1 << 20)), at(9, 1, 0))
        .unwrap()
        .note
        .id();
    let listing = app.open().unwrap().listing;
    assert_eq!(listing.notes.len(), 1);
    assert_eq!(listing.notes[0].id(), small);
    assert_eq!(listing.unreadable.len(), 1);
    assert_eq!(listing.unreadable[0].id, Some(big));
    assert!(matches!(
        listing.unreadable[0].reason,
        ReadError::TooLarge { .. }
    ));
    // The same when the DA kept only its header.
    access.keep_headers_only_above(64 << 10);
    let listing = app.open().unwrap().listing;
    assert_eq!(listing.unreadable[0].id, Some(big));

    let before = uids(&server);
    let err = app.add(&"z".repeat(1 << 20), at(9, 2, 0)).unwrap_err();
    assert!(matches!(
        err,
        AppError::Write(mailpush_notes::WriteError::TooLarge { .. })
    ));
    assert!(matches!(
        app.edit(small, &"z".repeat(1 << 20), at(9, 2, 0)),
        Err(AppError::Write(_))
    ));
    assert_eq!(uids(&server), before);
    // A limit can be configured, not below what a note needs.
    assert!(Limits::new(100).is_err());
}

//= spec/notes.md#NOTE-10
//# A reader that has no header of a message knows nothing
//# of it and leaves it alone
#[test]
fn a_too_large_message_without_its_header_is_left_alone() {
    let (mut app, _, server) = app();
    let id = app.add("kept", at(9, 0, 0)).unwrap().note.id();
    let mut view = app.into_access().view("Notes").unwrap();
    let shown = view.messages[0].uid;
    view.messages.push(ViewMessage {
        uid: Uid::new(shown.get() + 1).unwrap(),
        flags: vec![],
        content: Content::HeaderOnly {
            header: Vec::new(),
            size: (1 << 20) + 1,
        },
    });
    let listing = list(&view, &Limits::default());
    assert_eq!(listing.notes.len(), 1);
    assert_eq!(listing.notes[0].id(), id);
    assert_eq!(listing.notes[0].losers, []);
    assert!(listing.unreadable.is_empty());
    assert_eq!(server.messages("Notes").len(), 1);
}

//= spec/notes.md#NOTE-19
//# When the latest version of a note cannot be read, a reader MUST NOT show an older version
//# in its place
//= spec/notes.md#NOTE-19
//# A writer MUST NOT expunge any version of
//# such a note except to delete it
#[test]
fn an_unreadable_latest_version_hides_the_note_and_keeps_its_versions() {
    let (mut app, access, server) = app();
    let id = app.add("readable", at(9, 0, 0)).unwrap().note.id();
    let (mut other, other_access) = other_device_with_access(&server, 9);
    other.open().unwrap();
    other_access.fail_next(Request::Expunge);
    other
        .edit(id, &format!("readable\n{}", "q".repeat(5000)), at(9, 5, 0))
        .unwrap();
    access.keep_headers_only_above(4096);
    let opened = app.open().unwrap();
    assert!(opened.listing.notes.is_empty());
    assert_eq!(opened.listing.unreadable[0].id, Some(id));
    assert_eq!(opened.removed, 0);
    assert_eq!(server.messages("Notes").len(), 2);
    assert!(matches!(app.show(id), Err(AppError::Unreadable { .. })));
    assert!(matches!(
        app.edit(id, "x", at(10, 0, 0)),
        Err(AppError::Unreadable { .. })
    ));
    assert_eq!(server.messages("Notes").len(), 2);
    assert_eq!(app.delete(id).unwrap().removed, 2);
    assert!(server.messages("Notes").is_empty());
}

//= spec/notes.md#NOTE-13
//# A writer MUST write the
//# title as `Subject` (empty when the title is), and a reader MUST take the title from the text, not
//# from `Subject`.
#[test]
fn titles_come_from_the_text_and_fall_back_to_the_subject() {
    let (mut app, _, server) = app();
    let id = app
        .add("\n   \n  Plans  \nmore", at(9, 0, 0))
        .unwrap()
        .note
        .id();
    let raw = &server.messages("Notes")[0].2;
    assert!(raw.windows(16).any(|w| w == b"\r\nSubject: Plans"));
    assert_eq!(app.show(id).unwrap().read.title(), "Plans");
    app.edit(id, " \n ", at(9, 1, 0)).unwrap();
    let raw = &server.messages("Notes")[0].2;
    assert!(raw.windows(12).any(|w| w == b"\r\nSubject:\r\n"));
    // A note from elsewhere whose Subject says otherwise: the text wins; an empty text shows
    // the Subject.
    server
        .append(
            "Notes",
            &[],
            b"Date: Tue, 24 Nov 2026 10:00:00 +0000\r\nSubject: Subject title\r\n\
X-Uniform-Type-Identifier: com.apple.mail-note\r\n\
X-Universally-Unique-Identifier: 11111111-2222-4333-8444-555555555555\r\n\
Content-Type: text/html; charset=utf-8\r\n\r\n<div>Body title</div>",
        )
        .unwrap();
    server
        .append(
            "Notes",
            &[],
            b"Date: Tue, 24 Nov 2026 10:00:00 +0000\r\nSubject: Only the subject\r\n\
X-Uniform-Type-Identifier: com.apple.mail-note\r\n\
X-Universally-Unique-Identifier: 11111111-2222-4333-8444-666666666666\r\n\
Content-Type: text/html; charset=utf-8\r\n\r\n<div><br></div>",
        )
        .unwrap();
    let listing = app.open().unwrap().listing;
    let titles: Vec<_> = listing
        .notes
        .iter()
        .map(|n| n.read.title().to_owned())
        .collect();
    assert_eq!(titles, ["Only the subject", "Body title", ""]);
}

//= spec/notes.md#NOTE-11
//# Versions MUST be ordered by the instant their `Date` field names (not by its
//# text), a version whose `Date` is missing or cannot be read ordering before every version whose
//# `Date` can be read; versions with the same instant, or none, are ordered by UID.
#[test]
fn dates_order_by_instant_then_uid() {
    let (mut app, _, server) = app();
    server.create("Notes");
    let note = |date: &str, body: &str| {
        format!(
            "{date}X-Mail-Created-Date: Tue, 24 Nov 2026 08:00:00 +0000\r\n\
X-Uniform-Type-Identifier: com.apple.mail-note\r\n\
X-Universally-Unique-Identifier: 11111111-2222-4333-8444-555555555555\r\n\
Content-Type: text/html; charset=utf-8\r\n\r\n{body}"
        )
    };
    // Later in text, earlier as an instant.
    server
        .append(
            "Notes",
            &[],
            note("Date: Tue, 24 Nov 2026 10:00:00 +0200\r\n", "zoned").as_bytes(),
        )
        .unwrap();
    server
        .append(
            "Notes",
            &[],
            note("Date: Tue, 24 Nov 2026 09:00:00 +0000\r\n", "utc").as_bytes(),
        )
        .unwrap();
    server
        .append(
            "Notes",
            &[],
            note("Date: yesterday\r\n", "unreadable date").as_bytes(),
        )
        .unwrap();
    server
        .append("Notes", &[], note("", "no date").as_bytes())
        .unwrap();
    assert_eq!(app.open().unwrap().listing.notes[0].read.note.text(), "utc");
    // Same instant: the higher UID.
    server
        .append(
            "Notes",
            &[],
            note("Date: Tue, 24 Nov 2026 11:00:00 +0200\r\n", "same instant").as_bytes(),
        )
        .unwrap();
    assert_eq!(
        app.open().unwrap().listing.notes[0].read.note.text(),
        "same instant"
    );
}

//= spec/notes.md#NOTE-21
//# A reader MUST treat a message as a note message when, and only when, the value of its first
//# `X-Uniform-Type-Identifier` field, without the white space at its ends, equals `com.apple.mail-note`
//# compared without regard to ASCII case.
#[test]
fn the_type_is_compared_trimmed_and_in_any_case() {
    use mailpush_notes::read::{Recognition, recognise};
    let with = |uti: &str| {
        recognise(
            format!(
                "Date: Tue, 24 Nov 2026 10:00:00 +0000\r\n{uti}\
X-Universally-Unique-Identifier: 11111111-2222-4333-8444-555555555555\r\n\r\n"
            )
            .as_bytes(),
        )
    };
    for note in [
        "X-Uniform-Type-Identifier: com.apple.mail-note\r\n",
        "x-uniform-type-identifier:\t Com.Apple.Mail-Note \r\n",
        "X-Uniform-Type-Identifier:\r\n com.apple.mail-note\r\n",
        "X-Uniform-Type-Identifier: com.apple.mail-note\r\nX-Uniform-Type-Identifier: x\r\n",
    ] {
        assert!(matches!(with(note), Recognition::Note(_)), "{note:?}");
    }
    for other in [
        "",
        "X-Uniform-Type-Identifier: com.apple.mail-notes\r\n",
        "X-Uniform-Type-Identifier: com.apple.mail-draft\r\nX-Uniform-Type-Identifier: com.apple.mail-note\r\n",
        "X-Uniform-Type: com.apple.mail-note\r\n",
    ] {
        assert_eq!(with(other), Recognition::NotANote, "{other:?}");
    }
}

#[test]
fn watch_reports_what_other_devices_change() {
    let (mut app, access, server) = app();
    let kept = app.add("kept", at(9, 0, 0)).unwrap().note.id();
    let gone = app.add("gone", at(9, 0, 1)).unwrap().note.id();
    let mut other = other_device(&server, 10);
    other.open().unwrap();
    // This device's DA, as a push would wake it.
    let mut da = access.clone();
    let mut watch = app.watch().unwrap();
    assert!(watch.next().is_none(), "nothing changed yet");
    let added = other.add("added", at(9, 1, 0)).unwrap().note.id();
    da.sync("Notes").unwrap();
    let changes = watch.next().unwrap().unwrap();
    assert!(matches!(&changes[..], [NoteChange::Added(n)] if n.id() == added));
    other.edit(kept, "kept, edited", at(9, 2, 0)).unwrap();
    other.delete(gone).unwrap();
    da.sync("Notes").unwrap();
    let changes = watch.next().unwrap().unwrap();
    assert_eq!(changes.len(), 2);
    assert!(matches!(&changes[0], NoteChange::Changed(n) if n.read.note.text() == "kept, edited"));
    assert_eq!(changes[1], NoteChange::Removed(gone));
    // A sync that changes nothing announces nothing.
    da.sync("Notes").unwrap();
    assert!(watch.next().is_none());
}
