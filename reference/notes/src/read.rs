//! Reading note messages: recognising them (NOTE-4), their header fields (NOTE-2, NOTE-12),
//! and their body in any transfer encoding and charset the message codec reads (NOTE-3).

use mailpush_message::{DateTime, Entity, Field, Fields};

use crate::error::ReadError;
use crate::html::{allowed_in_text, text_to_html};
use crate::id::NoteId;
use crate::note::{Limits, Note, normalise_line_breaks};

/// `X-Uniform-Type-Identifier` of a note message.
pub const NOTE_TYPE: &str = "com.apple.mail-note";

/// The field that marks a note message.
pub const FIELD_TYPE: &str = "X-Uniform-Type-Identifier";
/// The field with the note's UUID.
pub const FIELD_ID: &str = "X-Universally-Unique-Identifier";
/// The field with the note's creation time.
pub const FIELD_CREATED: &str = "X-Mail-Created-Date";

/// Most extension fields carried from one version to the next (NOTE-16).
pub const MAX_PRESERVED_FIELDS: usize = 32;
/// Longest extension field value carried from one version to the next (NOTE-16).
pub const MAX_PRESERVED_VALUE: usize = 900;

/// An extension field (`X-…`) of a note message that is not one of the note's own, kept so
/// that an edit writes it again (NOTE-16): name and unfolded value, printable US-ASCII.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreservedField {
    name: String,
    value: String,
}

impl PreservedField {
    /// The field name as written.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The unfolded value.
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// What the header of a note message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteHeader {
    /// The note's identity.
    pub id: NoteId,
    /// `Date`, when readable: the time this version was written, which orders versions
    /// (NOTE-7, NOTE-11).
    pub date: Option<DateTime>,
    /// `X-Mail-Created-Date`, when readable.
    pub created: Option<DateTime>,
    /// `Subject`, encoded words decoded.
    pub subject: String,
    /// Extension fields an edit carries over (NOTE-16).
    pub preserved: Vec<PreservedField>,
}

/// Whether a message is a note, from its header alone (a whole message may be given: reading
/// stops at the empty line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recognition {
    /// Not a note: to be left alone (NOTE-4).
    NotANote,
    /// A note message with its identity.
    Note(NoteHeader),
    /// A note message whose identity or dates cannot be read: neither shown nor changed.
    Unidentified(ReadError),
}

/// Whether the message whose header is `header` is a note (NOTE-4), and what its header says.
//= spec/notes.md#NOTE-4
//# A reader MUST treat as a note exactly the messages whose
//# `X-Uniform-Type-Identifier` is `com.apple.mail-note`
pub fn recognise(header: &[u8]) -> Recognition {
    let fields = Fields::parse(header);
    if !is_note(&fields) {
        return Recognition::NotANote;
    }
    match note_header(&fields) {
        Ok(h) => Recognition::Note(h),
        Err(e) => Recognition::Unidentified(e),
    }
}

/// The first `X-Uniform-Type-Identifier`, trimmed, is `com.apple.mail-note` in any case.
//= spec/notes.md#NOTE-21
//# the value of its first `X-Uniform-Type-Identifier` field, without the white space at its
//# ends, equals `com.apple.mail-note` compared without regard to ASCII case
fn is_note(fields: &Fields) -> bool {
    fields
        .get(FIELD_TYPE)
        .is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(NOTE_TYPE.as_bytes()))
}

fn note_header(fields: &Fields) -> Result<NoteHeader, ReadError> {
    //= spec/notes.md#NOTE-12
    //# A reader MUST NOT show, change or delete a note message whose
    //# `X-Universally-Unique-Identifier` is missing or is not a UUID
    let raw_id = fields.get(FIELD_ID).ok_or(ReadError::MissingId)?;
    let raw_id = String::from_utf8_lossy(raw_id);
    let id = NoteId::parse(&raw_id).map_err(|reason| ReadError::InvalidId {
        value: raw_id.chars().take(80).collect(),
        reason,
    })?;
    let date_of = |name| fields.get(name).and_then(|v| DateTime::parse(v).ok());
    let date = date_of("Date");
    let created = date_of(FIELD_CREATED);
    //= spec/notes.md#NOTE-24
    //# A note message with neither
    //# readable MUST be left alone like one without a UUID
    if date.is_none() && created.is_none() {
        return Err(ReadError::NoDate);
    }
    let preserved = fields
        .iter()
        .filter(|f| is_preserved(f))
        .take(MAX_PRESERVED_FIELDS)
        .map(|f| PreservedField {
            name: f.name().to_owned(),
            // Whitespace at the ends of an unfolded value (a continuation line of nothing but a
            // tab, say) does not survive being written again: it is not part of the value.
            value: String::from_utf8_lossy(f.value())
                .trim_matches([' ', '\t'])
                .to_owned(),
        })
        .collect();
    Ok(NoteHeader {
        id,
        date,
        created,
        subject: fields.get_decoded("subject").unwrap_or_default(),
        preserved,
    })
}

/// Whether an edit carries `f` over (NOTE-16): an extension field that is not one of the
/// note's own, whose value is printable US-ASCII short enough to write again.
fn is_preserved(f: &Field) -> bool {
    // The name is checked to be printable US-ASCII before its first two octets are compared:
    // a field name read from a message may begin with any character.
    mailpush_message::header::check_name(f.name()).is_ok()
        && f.name().len() > 2
        && f.name().as_bytes()[..2].eq_ignore_ascii_case(b"x-")
        && ![FIELD_TYPE, FIELD_ID, FIELD_CREATED]
            .iter()
            .any(|own| f.is(own))
        && f.value().len() <= MAX_PRESERVED_VALUE
        && f.value()
            .iter()
            .all(|&b| b == b'\t' || (32..=126).contains(&b))
}

/// A note message, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadNote {
    /// What its header says.
    pub header: NoteHeader,
    /// The note: created at `X-Mail-Created-Date` (else `Date`), modified at `Date` (else
    /// `X-Mail-Created-Date`).
    pub note: Note,
    /// How many parts the message has besides the body that was read (NOTE-17).
    pub attachments: usize,
}

impl ReadNote {
    /// The title to show: the note's (NOTE-13), else the `Subject` when the text has none.
    pub fn title(&self) -> &str {
        match self.note.title() {
            "" => self.header.subject.trim(),
            title => title,
        }
    }
}

/// Reads a whole note message. Messages larger than `limits` are refused before anything
/// else is read (NOTE-10).
pub fn read_note(raw: &[u8], limits: &Limits) -> Result<ReadNote, ReadError> {
    //= spec/notes.md#NOTE-10
    //# A reader MUST reject, without failing the rest of the sync, a note message larger than its
    //# configured limit
    if raw.len() > limits.max_message_octets() {
        return Err(ReadError::TooLarge {
            size: u64::try_from(raw.len()).unwrap_or(u64::MAX),
            limit: limits.max_message_octets(),
        });
    }
    let header = match recognise(raw) {
        Recognition::NotANote => return Err(ReadError::NotANote),
        Recognition::Unidentified(e) => return Err(e),
        Recognition::Note(h) => h,
    };
    read_body(raw, header)
}

/// The body of a message whose header has been read.
fn read_body(raw: &[u8], header: NoteHeader) -> Result<ReadNote, ReadError> {
    let entity = Entity::parse(raw);
    let mut leaves = Vec::new();
    collect_leaves(&entity, &mut leaves);
    //= spec/notes.md#NOTE-17
    //# A reader MUST read the body of a note message from its first `text/html` part (depth
    //# first), or, when it has none, from its first `text/plain` part
    let html = if let Some(i) = leaves
        .iter()
        .position(|e| e.content_type.is("text", "html"))
    {
        //= spec/notes.md#NOTE-3
        //# A reader MUST accept `7bit`, `8bit`,
        //# `quoted-printable` and `base64` transfer encodings.
        leaves[i].text().unwrap_or_default()
    } else if let Some(i) = leaves
        .iter()
        .position(|e| e.content_type.is("text", "plain"))
    {
        let text: String = normalise_line_breaks(&leaves[i].text().unwrap_or_default())
            .chars()
            .map(|c| if allowed_in_text(c) { c } else { '\u{fffd}' })
            .collect();
        text_to_html(&text)
    } else {
        return Err(ReadError::NoTextBody);
    };
    //= spec/notes.md#NOTE-24
    //# A reader MUST take the creation time of a note from `X-Mail-Created-Date`, or from `Date` when
    //# that field is missing or cannot be read, and the time of a version from `Date`, or from
    //# `X-Mail-Created-Date` when `Date` is missing or cannot be read.
    let (created, modified) = match (header.created, header.date) {
        (Some(c), Some(d)) => (c, d),
        (Some(c), None) => (c, c),
        (None, Some(d)) => (d, d),
        (None, None) => return Err(ReadError::NoDate),
    };
    let note = Note::from_html(header.id, html, created, modified);
    Ok(ReadNote {
        header,
        note,
        attachments: leaves.len() - 1,
    })
}

/// The parts of `e` that are not multipart containers, depth first.
fn collect_leaves<'e, 'a>(e: &'e Entity<'a>, out: &mut Vec<&'e Entity<'a>>) {
    if e.parts.is_empty() {
        out.push(e);
    } else {
        for part in &e.parts {
            collect_leaves(part, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTE: &[u8] = b"From: a@example.org\r\n\
Date: Tue, 24 Nov 2026 09:14:03 +0000\r\n\
Subject: =?utf-8?q?Caf=C3=A9?=\r\n\
x-uniform-type-identifier:  COM.APPLE.MAIL-NOTE \r\n\
X-UNIVERSALLY-UNIQUE-IDENTIFIER: 2b8d4e5c-6f1a-4c3e-9d70-8e2f1a3b4c5d\r\n\
X-Mail-Created-Date: Mon, 23 Nov 2026\r\n 18:02:41 +0000\r\n\
X-Katna-Pin: yes\r\n\
X-Binary: caf\xc3\xa9\r\n\
Content-Type: text/html;\r\n\tcharset=iso-8859-1\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
<div>Caf=E9</div><div>au =\r\nlait</div>";

    #[test]
    fn header_names_and_the_type_are_read_in_any_case() {
        let read = read_note(NOTE, &Limits::default()).unwrap();
        assert_eq!(
            read.header.id.to_string(),
            "2B8D4E5C-6F1A-4C3E-9D70-8E2F1A3B4C5D"
        );
        assert_eq!(read.header.subject, "Café");
        assert_eq!(read.note.text(), "Café\nau lait");
        assert_eq!(
            read.note.created().to_string(),
            "Mon, 23 Nov 2026 18:02:41 +0000"
        );
        assert_eq!(
            read.note.modified().to_string(),
            "Tue, 24 Nov 2026 09:14:03 +0000"
        );
        assert_eq!(read.attachments, 0);
        let preserved: Vec<_> = read.header.preserved.iter().map(|f| f.name()).collect();
        assert_eq!(preserved, ["X-Katna-Pin"]);
    }

    /// Found by the `notes_message` fuzz target: a field name that begins with a character of
    /// more than one octet was cut inside it.
    #[test]
    fn a_field_name_that_begins_outside_ascii_is_not_carried_over() {
        let mut raw = NOTE.to_vec();
        let at = raw.windows(13).position(|w| w == b"X-Katna-Pin: ").unwrap();
        raw.splice(at..at + 1, *b"\xc3\xa9");
        let read = read_note(&raw, &Limits::default()).unwrap();
        assert!(read.header.preserved.is_empty());
        raw[at] = 0xa8;
        let read = read_note(&raw, &Limits::default()).unwrap();
        assert!(read.header.preserved.is_empty());
    }

    #[test]
    fn other_messages_and_broken_notes_are_told_apart() {
        assert_eq!(
            recognise(b"Subject: hi\r\nX-Uniform-Type-Identifier: com.apple.mail-draft\r\n\r\n"),
            Recognition::NotANote
        );
        assert_eq!(
            recognise(b"X-Uniform-Type-Identifier: com.apple.mail-note\r\nDate: Tue, 24 Nov 2026 09:14:03 +0000\r\n"),
            Recognition::Unidentified(ReadError::MissingId)
        );
        assert_eq!(
            recognise(
                b"X-Uniform-Type-Identifier: com.apple.mail-note\r\n\
                  X-Universally-Unique-Identifier: 2b8d4e5c-6f1a-4c3e-9d70-8e2f1a3b4c5d\r\n"
            ),
            Recognition::Unidentified(ReadError::NoDate)
        );
        let small = Limits::new(4096).unwrap();
        let mut big = NOTE.to_vec();
        big.resize(5000, b'x');
        assert_eq!(
            read_note(&big, &small),
            Err(ReadError::TooLarge {
                size: 5000,
                limit: 4096
            })
        );
    }
}
