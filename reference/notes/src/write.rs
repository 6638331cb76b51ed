//! Writing note messages as iOS and macOS Notes write them (NOTE-2, NOTE-3, NOTE-14).

use mailpush_message::encoded_word::encode_phrase;
use mailpush_message::{MessageWriter, TransferEncoding};

use crate::error::{ConfigError, WriteError};
use crate::id::NoteId;
use crate::note::{Limits, Note};
use crate::read::{FIELD_CREATED, FIELD_ID, FIELD_TYPE, NOTE_TYPE, PreservedField};

/// Who notes are written by: the `From` of every note message, and the domain of its
/// `Message-Id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    name: Option<String>,
    address: String,
}

impl Author {
    /// An author with an optional display name and an address `local@domain` (printable
    /// US-ASCII without spaces or `<>()[],;:"\`, at most 254 octets).
    pub fn new(name: Option<&str>, address: &str) -> Result<Self, ConfigError> {
        let bad = |b: u8| !(33..=126).contains(&b) || b"<>()[],;:\"\\".contains(&b);
        let valid = address.len() <= 254
            && !address.bytes().any(bad)
            && matches!(address.split_once('@'),
                Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
        if !valid {
            return Err(ConfigError::Address(address.to_owned()));
        }
        let name = name.map(str::trim).filter(|n| !n.is_empty());
        if name.is_some_and(|n| n.chars().count() > 200 || n.chars().any(char::is_control)) {
            return Err(ConfigError::DisplayName);
        }
        Ok(Author {
            name: name.map(str::to_owned),
            address: address.to_owned(),
        })
    }

    /// The address.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The `From` value: `Name <address>` (the name as encoded words where it must be), or
    /// the address alone.
    fn mailbox_value(&self) -> String {
        match &self.name {
            Some(name) => format!("{} <{}>", encode_phrase(name), self.address),
            None => self.address.clone(),
        }
    }

    fn domain(&self) -> &str {
        self.address
            .split_once('@')
            .map_or(self.address.as_str(), |(_, d)| d)
    }
}

/// The note message of one version of `note`: the fields of NOTE-2 in the order Notes writes
/// them, `preserved` extension fields from the version it replaces (NOTE-16), and the body as
/// UTF-8 HTML in quoted-printable (NOTE-3). `message_id` makes this version's `Message-Id`
/// (`<UUID@domain>`, fresh for every version as Notes does). Refused when the message would
/// be larger than `limits` (NOTE-10).
//= spec/notes.md#NOTE-2
//# A note message MUST be an RFC 5322 message with MIME headers and MUST carry
//# `X-Uniform-Type-Identifier: com.apple.mail-note`, `X-Universally-Unique-Identifier` with the note's
//# UUID in the RFC 9562 textual form, `X-Mail-Created-Date` with the time the note was created as an
//# RFC 5322 date-time, `Date` with the time this version was written, and `Subject` with the note's
//# title (its first line of text).
pub fn write_note(
    note: &Note,
    author: &Author,
    message_id: NoteId,
    preserved: &[PreservedField],
    limits: &Limits,
) -> Result<Vec<u8>, WriteError> {
    let mut m = MessageWriter::new();
    m.raw_field("From", &author.mailbox_value())?
        .date(&note.modified())?
        .text_field("Subject", note.title())?
        .raw_field(FIELD_TYPE, NOTE_TYPE)?
        .raw_field(FIELD_ID, &note.id().to_string())?
        .raw_field(FIELD_CREATED, &note.created().to_rfc5322())?
        .raw_field("Message-Id", &format!("<{message_id}@{}>", author.domain()))?;
    for field in preserved {
        m.raw_field(field.name(), field.value())?;
    }
    //= spec/notes.md#NOTE-3
    //# The body of a note message MUST be HTML, declared as `Content-Type: text/html` with a
    //# `charset` parameter; writers MUST use UTF-8.
    let raw = m.body(
        "text/html; charset=utf-8",
        TransferEncoding::QuotedPrintable,
        note.html().as_bytes(),
    )?;
    //= spec/notes.md#NOTE-10
    //# a writer MUST NOT write one.
    if raw.len() > limits.max_message_octets() {
        return Err(WriteError::TooLarge {
            size: raw.len(),
            limit: limits.max_message_octets(),
        });
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authors_are_checked() {
        assert!(Author::new(None, "alice@example.org").is_ok());
        assert!(Author::new(Some("Benny Kjær Nielsen"), "b@freron.com").is_ok());
        for bad in [
            "alice",
            "@example.org",
            "a@",
            "a b@c",
            "<a@b>",
            "a@b@c",
            "a\r\n@b",
        ] {
            assert_eq!(
                Author::new(None, bad),
                Err(ConfigError::Address(bad.to_owned()))
            );
        }
        assert_eq!(
            Author::new(Some("a\nb"), "a@b"),
            Err(ConfigError::DisplayName)
        );
        let author = Author::new(Some("Smith, Zoë"), "z@example.org").unwrap();
        assert_eq!(
            author.mailbox_value(),
            "=?UTF-8?Q?Smith=2C_Zo=C3=AB?= <z@example.org>"
        );
        assert_eq!(author.domain(), "example.org");
    }
}
