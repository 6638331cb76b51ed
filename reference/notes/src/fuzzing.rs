//! The oracle of the `notes_message` fuzz target (feature `fuzzing`). It takes arbitrary
//! octets and panics only when a property breaks:
//!
//! * reading them as a note message, recognising them and reading them as HTML never panic;
//! * the text read from any HTML has no control character but `\n` and `\t`, and written as
//!   Notes writes it, reads back as the same text;
//! * a note message that reads, written again with its identity, times and extension fields,
//!   reads back as the same note;
//! * text that makes a note, written and read, is the same text;
//! * a UUID that parses prints as one that parses to the same.

// Fuzz oracles report a broken property by panicking: that is their job.
#![allow(clippy::panic)]

use crate::error::WriteError;
use crate::html::{allowed_in_text, html_to_text, text_to_html};
use crate::id::NoteId;
use crate::note::{Limits, Note};
use crate::read::{read_note, recognise};
use crate::write::{Author, write_note};

/// Panics when a property of the note format breaks on `data`.
pub fn check_note_message(data: &[u8]) {
    let limits = Limits::default();
    let Ok(author) = Author::new(Some("Fuzz Écrivain"), "fuzz@example.org") else {
        panic!("the oracle's author is valid");
    };
    recognise(data);

    if let Ok(read) = read_note(data, &limits) {
        let note = &read.note;
        check_text(note.text());
        let Ok(again) = Note::from_text(note.id(), note.text(), note.created(), note.modified())
        else {
            panic!("text read from a note makes a note: {:?}", note.text());
        };
        match write_note(&again, &author, note.id(), &read.header.preserved, &limits) {
            Ok(raw) => match read_note(&raw, &limits) {
                Ok(back) => {
                    if back.note != again || back.header.preserved != read.header.preserved {
                        panic!("{again:?} written again reads back as {:?}", back.note);
                    }
                }
                Err(e) => panic!("a written note does not read: {e}"),
            },
            Err(WriteError::TooLarge { .. }) => {}
            Err(e) => panic!("a note read cannot be written again: {e}"),
        }
    }

    let text = String::from_utf8_lossy(data);
    let shown = html_to_text(&text);
    check_text(&shown);
    let rewritten = html_to_text(&text_to_html(&shown));
    if rewritten != shown {
        panic!("{shown:?} written as HTML reads back as {rewritten:?}");
    }

    let id = NoteId::from_random_bytes([0x5a; 16]);
    let Some(when) = mailpush_message::DateTime::from_unix_seconds(1_790_000_000, 60) else {
        panic!("the oracle's time is a date");
    };
    if let Ok(note) = Note::from_text(id, &text, when, when) {
        match write_note(&note, &author, id, &[], &limits) {
            Ok(raw) => match read_note(&raw, &limits) {
                Ok(back) if back.note == note => {}
                Ok(back) => panic!("{:?} reads back as {:?}", note.text(), back.note.text()),
                Err(e) => panic!("a written note does not read: {e}"),
            },
            Err(WriteError::TooLarge { .. }) => {}
            Err(e) => panic!("a note cannot be written: {e}"),
        }
    }

    if let Ok(id) = NoteId::parse(&text)
        && NoteId::parse(&id.to_string()) != Ok(id)
    {
        panic!("{id} does not read back");
    }
}

fn check_text(text: &str) {
    if let Some(c) = text.chars().find(|c| !allowed_in_text(*c)) {
        panic!("text read from HTML has the control character {c:?}");
    }
}
