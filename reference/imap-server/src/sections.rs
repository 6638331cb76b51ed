//! Message sections of FETCH (RFC 3501 §6.4.5): `BODY[…]` of a whole message, of its parts
//! and of enclosed messages, and `<origin.length>`.

use mailpush_imap::{IString, PartText, Section, SectionText};
use mailpush_message::Entity;
use mailpush_message::header::split;

/// The octets of a `section-msgtext` of the message whose header (with its empty line) and body
/// are given.
pub fn msgtext(header: &[u8], body: &[u8], text: &SectionText) -> Vec<u8> {
    match text {
        SectionText::Header => header.to_vec(),
        SectionText::Text => body.to_vec(),
        SectionText::HeaderFields { not, fields } => header_fields(header, fields, *not),
    }
}

/// `HEADER.FIELDS (…)` / `HEADER.FIELDS.NOT (…)`: the matching header lines (folded lines kept
/// with their field), then the empty line (RFC 3501 §6.4.5).
fn header_fields(header: &[u8], fields: &[IString], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut keep = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        let continuation = matches!(line.first(), Some(b' ' | b'\t'));
        if !continuation {
            let name = line.split(|&b| b == b':').next().unwrap_or(&[]);
            let listed = fields
                .iter()
                .any(|f| f.as_bytes().eq_ignore_ascii_case(name.trim_ascii()));
            keep = listed != not;
        }
        if keep {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// `<origin.length>` applied to section data (RFC 3501 §6.4.5: an origin past the end gives the
/// empty string).
pub fn partial(data: Vec<u8>, origin: u32, length: u32) -> Vec<u8> {
    let start = usize::try_from(origin).map_or(data.len(), |o| o.min(data.len()));
    let length = usize::try_from(length).unwrap_or(usize::MAX);
    let end = start.saturating_add(length).min(data.len());
    data[start..end].to_vec()
}

/// The data of any section of `raw`, or `None` when the part it names does not exist: the
/// body of a part, its header (`MIME`), or a message text of the message a part encloses.
pub fn section(raw: &[u8], section: &Section) -> Option<Vec<u8>> {
    match section {
        Section::Full => Some(raw.to_vec()),
        Section::Text(t) => {
            let (header, body) = split(raw);
            Some(msgtext(header, body, t))
        }
        Section::Part { part, text } => {
            let root = Entity::parse(raw);
            let e = root.part(part.as_slice())?;
            Some(match text {
                None => e.body.to_vec(),
                Some(PartText::Mime) => e.header.to_vec(),
                Some(PartText::Msg(t)) => {
                    let inner = e.enclosed.as_deref()?;
                    msgtext(inner.header, inner.body, t)
                }
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_keep_folded_lines() {
        let raw = b"From: a\r\nSubject: one\r\n two\r\nTo: b\r\n\r\nbody";
        let (header, body) = split(raw);
        let fields = [IString::from("subject")];
        assert_eq!(
            header_fields(header, &fields, false),
            b"Subject: one\r\n two\r\n\r\n"
        );
        assert_eq!(
            header_fields(header, &fields, true),
            b"From: a\r\nTo: b\r\n\r\n"
        );
        assert_eq!(msgtext(header, body, &SectionText::Text), b"body");
    }

    #[test]
    fn partials_stay_within_the_data() {
        assert_eq!(partial(b"hello".to_vec(), 1, 3), b"ell");
        assert_eq!(partial(b"hello".to_vec(), 9, 3), b"");
        assert_eq!(partial(b"hello".to_vec(), 3, u32::MAX), b"lo");
        assert_eq!(partial(b"hello".to_vec(), u32::MAX, u32::MAX), b"");
    }
}
