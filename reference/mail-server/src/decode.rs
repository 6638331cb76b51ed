//! Decoding of message text for SEARCH: content transfer encodings (RFC 2045 §6.7, §6.8),
//! encoded words in header values (RFC 2047) and the charsets that can be decoded without
//! tables (UTF-8, US-ASCII, ISO-8859-1). Anything else is read as UTF-8 with replacement
//! characters, so a search never fails on a message, it may only miss inside an unknown charset.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Standard alphabet, padding optional, trailing bits ignored: mail in the wild is sloppy.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Base64 with line breaks and other non-alphabet octets skipped (RFC 2045 §6.8); `None` when
/// what remains is not base64.
fn base64(data: &[u8]) -> Option<Vec<u8>> {
    let clean: Vec<u8> = data
        .iter()
        .copied()
        .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/'))
        .collect();
    LENIENT.decode(clean).ok()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Quoted-printable (RFC 2045 §6.7); `underscore_is_space` for the Q encoding of RFC 2047
/// §4.2. A `=` not followed by two hex digits or a line break stays as it is.
fn quoted_printable(data: &[u8], underscore_is_space: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        if b == b'=' {
            let rest = &data[i + 1..];
            if let [h, l, ..] = rest
                && let (Some(h), Some(l)) = (hex(*h), hex(*l))
            {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
            // A soft line break: `=` then optional white space then CRLF or LF.
            let pad = rest
                .iter()
                .take_while(|c| matches!(c, b' ' | b'\t'))
                .count();
            match &rest[pad..] {
                [b'\r', b'\n', ..] => {
                    i += 1 + pad + 2;
                    continue;
                }
                [b'\n', ..] => {
                    i += 1 + pad + 1;
                    continue;
                }
                _ => {}
            }
        }
        out.push(if underscore_is_space && b == b'_' {
            b' '
        } else {
            b
        });
        i += 1;
    }
    out
}

/// A part's body with its `Content-Transfer-Encoding` undone (7bit, 8bit, binary and unknown
/// encodings are returned as they are).
pub(crate) fn transfer_decoded<'a>(encoding: Option<&[u8]>, body: &'a [u8]) -> Cow<'a, [u8]> {
    match encoding.map(<[u8]>::trim_ascii) {
        Some(e) if e.eq_ignore_ascii_case(b"base64") => {
            base64(body).map_or(Cow::Borrowed(body), Cow::Owned)
        }
        Some(e) if e.eq_ignore_ascii_case(b"quoted-printable") => {
            Cow::Owned(quoted_printable(body, false))
        }
        _ => Cow::Borrowed(body),
    }
}

/// Octets in a charset as text.
pub(crate) fn charset_decoded(charset: Option<&[u8]>, data: &[u8]) -> String {
    let latin1 = charset.is_some_and(|c| {
        let c = c.trim_ascii();
        c.eq_ignore_ascii_case(b"iso-8859-1")
            || c.eq_ignore_ascii_case(b"latin1")
            || c.eq_ignore_ascii_case(b"iso_8859-1")
    });
    if latin1 {
        data.iter().map(|&b| char::from(b)).collect()
    } else {
        String::from_utf8_lossy(data).into_owned()
    }
}

/// One `=?charset?encoding?text?=` word (RFC 2047 §2), decoded; `None` when it is not one.
fn encoded_word(word: &[u8]) -> Option<String> {
    let inner = word.strip_prefix(b"=?")?.strip_suffix(b"?=")?;
    let mut parts = inner.splitn(3, |&b| b == b'?');
    let charset = parts.next()?;
    let encoding = parts.next()?;
    let text = parts.next()?;
    // RFC 2231 §5: a language may follow the charset after `*`.
    let charset = charset.split(|&b| b == b'*').next().unwrap_or(charset);
    let bytes = if encoding.eq_ignore_ascii_case(b"B") {
        base64(text)?
    } else if encoding.eq_ignore_ascii_case(b"Q") {
        quoted_printable(text, true)
    } else {
        return None;
    };
    Some(charset_decoded(Some(charset), &bytes))
}

/// A header value with its encoded words decoded (RFC 2047); white space between two encoded
/// words is dropped (§6.2), everything else is kept.
pub(crate) fn header_decoded(value: &[u8]) -> String {
    let mut out = String::new();
    let mut pending_space = String::new();
    let mut last_was_word = false;
    let mut rest = value;
    while !rest.is_empty() {
        let space = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
        if space > 0 {
            pending_space = String::from_utf8_lossy(&rest[..space]).into_owned();
            rest = &rest[space..];
            continue;
        }
        let len = rest.iter().take_while(|b| !b.is_ascii_whitespace()).count();
        let token = &rest[..len];
        rest = &rest[len..];
        match encoded_word(token) {
            Some(decoded) => {
                if !last_was_word {
                    out.push_str(&pending_space);
                }
                out.push_str(&decoded);
                last_was_word = true;
            }
            None => {
                out.push_str(&pending_space);
                out.push_str(&String::from_utf8_lossy(token));
                last_was_word = false;
            }
        }
        pending_space.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_encodings() {
        assert_eq!(
            &*transfer_decoded(Some(b"Quoted-Printable"), b"caf=C3=A9 =\r\nau lait=3D"),
            "café au lait=".as_bytes()
        );
        assert_eq!(
            &*transfer_decoded(Some(b"base64"), b"aGVsbG8g\r\nd29ybGQ=\r\n"),
            b"hello world"
        );
        assert_eq!(&*transfer_decoded(Some(b"7bit"), b"a=3Db"), b"a=3Db");
        assert_eq!(&*transfer_decoded(None, b"plain"), b"plain");
    }

    #[test]
    fn encoded_words() {
        assert_eq!(
            header_decoded(b"=?UTF-8?Q?Caf=C3=A9_cr=C3=A8me?= tonight"),
            "Café crème tonight"
        );
        assert_eq!(
            header_decoded(b"=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFk?= =?iso-8859-1?q?_this=E9?="),
            "If you can read thisé"
        );
        assert_eq!(header_decoded(b"no =?words here"), "no =?words here");
        assert_eq!(header_decoded(b"=?utf-8?x?bad?="), "=?utf-8?x?bad?=");
    }
}
