//! The oracle of the codec's part of the `mail_message` fuzz target (with the `fuzzing`
//! feature). It takes arbitrary bytes and panics only when a property breaks:
//!
//! * reading a message (fields, entities, transfer encodings, charsets, encoded words, dates,
//!   its text) never panics;
//! * every encoder is undone by its decoder: quoted-printable and base64 give the octets back,
//!   encoded words and folded text fields give the text back, ISO-8859-1 gives the octets back;
//! * a date that parses is written as one that parses to the same value, and a day count
//!   converts back to itself.

// Fuzz oracles report a broken property by panicking: that is their job.
#![allow(clippy::panic)]

use crate::charset::Charset;
use crate::date::{CivilDate, DateTime, date_of};
use crate::header::{Fields, write_text_field};
use crate::mime::Entity;
use crate::text::body_text;
use crate::transfer::{
    decode_base64, decode_quoted_printable, encode_base64, encode_quoted_printable,
};
use crate::{encoded_word, header};

fn read_entity(e: &Entity<'_>) {
    for field in e.fields.iter() {
        field.decoded();
        if field.is("date") {
            let _ = DateTime::parse(field.value());
            date_of(field.value());
        }
    }
    e.decoded_body();
    e.text();
    for part in &e.parts {
        read_entity(part);
    }
    if let Some(inner) = &e.enclosed {
        read_entity(inner);
    }
}

/// Whether `text` holds an encoded word with nothing encoded, `=?<charset>?<Q|B>??=` (RFC 2047
/// §2). Text that only resembles its end (`F?Q??=`, with no `=?<charset>` before it) is not one.
pub fn has_empty_encoded_word(text: &[u8]) -> bool {
    text.windows(2).enumerate().any(|(start, w)| {
        if w != b"=?" {
            return false;
        }
        let rest = &text[start + 2..];
        let Some(charset_end) = rest.iter().position(|&b| b == b'?') else {
            return false;
        };
        let charset = &rest[..charset_end];
        !charset.is_empty()
            && !charset.iter().any(u8::is_ascii_whitespace)
            && matches!(
                rest.get(charset_end + 1..charset_end + 5),
                Some(b"Q??=" | b"q??=" | b"B??=" | b"b??=")
            )
    })
}

/// Panics when a property of the codec breaks on `data`.
pub fn check_message(data: &[u8]) {
    let entity = Entity::parse(data);
    read_entity(&entity);
    body_text(&entity);
    if header::header_len(data) > data.len() {
        panic!("the header is longer than the message");
    }

    let qp = encode_quoted_printable(data);
    if decode_quoted_printable(&qp) != data {
        panic!(
            "quoted-printable does not read back: {:?}",
            String::from_utf8_lossy(&qp)
        );
    }
    if qp.split(|&b| b == b'\n').any(|l| l.len() > 77) {
        panic!("a quoted-printable line is too long");
    }
    if decode_base64(&encode_base64(data)).as_deref() != Ok(data) {
        panic!("base64 does not read back");
    }
    if Charset::Latin1
        .encode(&Charset::Latin1.decode(data))
        .as_deref()
        != Ok(data)
    {
        panic!("ISO-8859-1 does not read back");
    }

    let text: String = String::from_utf8_lossy(data).chars().take(300).collect();
    let encoded = encoded_word::encode(&text);
    if encoded_word::decode(encoded.as_bytes()) != text {
        panic!("{text:?} encoded as {encoded:?} does not read back");
    }
    // RFC 2047 §2: an encoded word has at least one encoded character.
    if has_empty_encoded_word(encoded.as_bytes()) {
        panic!("{text:?} encoded as {encoded:?} has an empty encoded word");
    }
    let mut field = Vec::new();
    match write_text_field(&mut field, "Subject", &text) {
        Ok(()) => {
            if has_empty_encoded_word(&field) {
                panic!("{text:?} written as {field:?} has an empty encoded word");
            }
            let read = Fields::parse(&field).get_decoded("subject");
            if read.as_deref() != Some(text.trim_matches(' ')) {
                panic!("{text:?} written as {field:?} reads back as {read:?}");
            }
        }
        Err(e) => panic!("{text:?} cannot be written as a text field: {e}"),
    }

    if let Ok(date) = DateTime::parse(data) {
        let written = date.to_rfc5322();
        if DateTime::parse(written.as_bytes()) != Ok(date) {
            panic!("{date:?} written as {written:?} does not read back");
        }
        if DateTime::from_unix_seconds(date.unix_seconds(), date.offset_minutes()) != Some(date)
            && date.time().2 != 60
        {
            panic!("{date:?} does not convert back from its instant");
        }
    }
    date_of(data);
    let mut raw = [0u8; 8];
    for (r, d) in raw.iter_mut().zip(data) {
        *r = *d;
    }
    let days = i64::from_le_bytes(raw) % (CivilDate::MAX_DAYS + 1);
    if let Some(d) = CivilDate::from_days_since_epoch(days)
        && d.days_since_epoch() != days
    {
        panic!(
            "day {days} converts to {d:?} and back to {}",
            d.days_since_epoch()
        );
    }
}
