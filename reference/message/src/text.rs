//! The readable text of a message, for searching and previews.

use crate::mime::Entity;

/// The text of a message as a reader sees it: every `text/*` part with its transfer encoding
/// and charset decoded ([`Entity::text`]), and for every enclosed message its header fields
/// (`name: value` with encoded words decoded) then its text, one after the other with a line
/// break after each. Parts of other types are not text and are skipped. What SEARCH BODY
/// looks in (RFC 3501 §6.4.4).
pub fn body_text(message: &Entity<'_>) -> String {
    let mut out = String::new();
    text_of(message, &mut out);
    out
}

fn text_of(e: &Entity<'_>, out: &mut String) {
    if !e.parts.is_empty() {
        for part in &e.parts {
            text_of(part, out);
        }
    } else if let Some(inner) = &e.enclosed {
        for field in inner.fields.iter() {
            out.push_str(&field.name().to_ascii_lowercase());
            out.push_str(": ");
            out.push_str(&field.decoded());
            out.push('\n');
        }
        text_of(inner, out);
    } else if let Some(text) = e.text() {
        out.push_str(&text);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_parts_are_decoded_and_others_skipped() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\
\r\n\
--b\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
caf=C3=A9 ol=\r\ne\r\n\
--b\r\n\
Content-Type: application/octet-stream\r\n\
\r\n\
secret-bytes\r\n\
--b\r\n\
Content-Type: text/html; charset=iso-8859-1\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
PGI+Z3L8bjwvYj4=\r\n\
--b\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
Subject: =?utf-8?q?inn=C3=A9r?=\r\n\
\r\n\
enclosed\r\n\
--b--\r\n";
        let text = body_text(&Entity::parse(raw));
        assert!(text.contains("café ole"), "{text}");
        assert!(text.contains("<b>grün</b>"), "{text}");
        assert!(text.contains("subject: innér\nenclosed"), "{text}");
        assert!(!text.contains("secret-bytes"), "{text}");
    }
}
