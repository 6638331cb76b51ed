//! Content transfer encodings (RFC 2045 §6): quoted-printable (§6.7) and base64 (§6.8), both
//! ways; 7bit, 8bit and binary are identities.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::Error;

/// Standard alphabet, padding optional, trailing bits ignored: mail in the wild is sloppy.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Longest encoded line, without the CRLF (RFC 2045 §6.7 rule 5, §6.8).
pub const ENCODED_LINE_LEN: usize = 76;

/// A `Content-Transfer-Encoding` (RFC 2045 §6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferEncoding {
    /// `7bit`, also what an absent field means.
    SevenBit,
    /// `8bit`.
    EightBit,
    /// `binary`.
    Binary,
    /// `quoted-printable`.
    QuotedPrintable,
    /// `base64`.
    Base64,
    /// Anything else, as written: its bodies are read as they are.
    Other(String),
}

impl TransferEncoding {
    /// The encoding a field value names (any case, surrounding white space ignored); `None`
    /// (no field) is `7bit`.
    pub fn parse(value: Option<&[u8]>) -> Self {
        let Some(v) = value.map(<[u8]>::trim_ascii) else {
            return TransferEncoding::SevenBit;
        };
        let known = [
            ("7bit", TransferEncoding::SevenBit),
            ("8bit", TransferEncoding::EightBit),
            ("binary", TransferEncoding::Binary),
            ("quoted-printable", TransferEncoding::QuotedPrintable),
            ("base64", TransferEncoding::Base64),
        ];
        known
            .into_iter()
            .find(|(name, _)| v.eq_ignore_ascii_case(name.as_bytes()))
            .map_or_else(
                || TransferEncoding::Other(String::from_utf8_lossy(v).into_owned()),
                |(_, e)| e,
            )
    }

    /// The field value that names it.
    pub fn name(&self) -> &str {
        match self {
            TransferEncoding::SevenBit => "7bit",
            TransferEncoding::EightBit => "8bit",
            TransferEncoding::Binary => "binary",
            TransferEncoding::QuotedPrintable => "quoted-printable",
            TransferEncoding::Base64 => "base64",
            TransferEncoding::Other(name) => name,
        }
    }

    /// A body with this encoding undone. Base64 that does not decode, and unknown encodings,
    /// give the body as it is.
    pub fn decode<'a>(&self, body: &'a [u8]) -> Cow<'a, [u8]> {
        match self {
            TransferEncoding::Base64 => decode_base64(body).map_or(Cow::Borrowed(body), Cow::Owned),
            TransferEncoding::QuotedPrintable => Cow::Owned(decode_quoted_printable(body)),
            _ => Cow::Borrowed(body),
        }
    }

    /// Octets encoded for a body with this encoding: quoted-printable and base64 as
    /// [`encode_quoted_printable`] and [`encode_base64`] write them; the identities copy.
    pub fn encode(&self, data: &[u8]) -> Vec<u8> {
        match self {
            TransferEncoding::QuotedPrintable => encode_quoted_printable(data),
            TransferEncoding::Base64 => encode_base64(data),
            _ => data.to_vec(),
        }
    }
}

/// Base64 with line breaks and other octets outside the alphabet skipped (RFC 2045 §6.8),
/// padding optional.
pub fn decode_base64(data: &[u8]) -> Result<Vec<u8>, Error> {
    let clean: Vec<u8> = data
        .iter()
        .copied()
        .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/'))
        .collect();
    LENIENT.decode(clean).map_err(|_| Error::InvalidBase64)
}

/// Base64 in lines of [`ENCODED_LINE_LEN`] characters separated by CRLF, padded, with no line
/// break after the last line.
pub fn encode_base64(data: &[u8]) -> Vec<u8> {
    let text = base64::engine::general_purpose::STANDARD.encode(data);
    let mut out = Vec::with_capacity(text.len() + text.len() / ENCODED_LINE_LEN * 2);
    for (i, line) in text.as_bytes().chunks(ENCODED_LINE_LEN).enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(line);
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Quoted-printable (RFC 2045 §6.7): `=XX` (either case) is the octet, `=` before a line break
/// (white space between them allowed) is a soft line break, a `=` not followed by either stays
/// as it is.
pub fn decode_quoted_printable(data: &[u8]) -> Vec<u8> {
    quoted_printable(data, false)
}

/// Quoted-printable; `underscore_is_space` for the Q encoding of RFC 2047 §4.2.
pub(crate) fn quoted_printable(data: &[u8], underscore_is_space: bool) -> Vec<u8> {
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

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// `=XX` of an octet.
pub(crate) fn hex_escape(b: u8) -> [u8; 3] {
    [b'=', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0x0f)]]
}

/// Quoted-printable for a body (RFC 2045 §6.7): each CRLF of `data` is a line break of the
/// text; every other octet that is not printable US-ASCII (a lone CR or LF included), every
/// `=`, and a space or tab before a line break or at the end are written `=XX`; lines are cut
/// with soft line breaks so that none is longer than [`ENCODED_LINE_LEN`]. So
/// [`decode_quoted_printable`] gives `data` back octet for octet, and text lines of printable
/// ASCII stay readable.
pub fn encode_quoted_printable(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 8);
    let mut line = 0;
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(b"\r\n") {
            out.extend_from_slice(b"\r\n");
            line = 0;
            i += 2;
            continue;
        }
        let b = data[i];
        let at_line_end = matches!(data.get(i + 1..), Some([] | [b'\r', b'\n', ..]));
        let literal = match b {
            b' ' | b'\t' => !at_line_end,
            b'=' => false,
            33..=126 => true,
            _ => false,
        };
        let piece: &[u8] = if literal { &[b] } else { &hex_escape(b) };
        // Room for the piece and, unless the line ends right after it, a soft break `=`.
        let room = if at_line_end {
            ENCODED_LINE_LEN
        } else {
            ENCODED_LINE_LEN - 1
        };
        if line + piece.len() > room {
            out.extend_from_slice(b"=\r\n");
            line = 0;
        }
        out.extend_from_slice(piece);
        line += piece.len();
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        let qp = TransferEncoding::parse(Some(b" Quoted-Printable"));
        assert_eq!(qp, TransferEncoding::QuotedPrintable);
        assert_eq!(
            &*qp.decode(b"caf=C3=A9 =\r\nau lait=3D"),
            "café au lait=".as_bytes()
        );
        let b64 = TransferEncoding::parse(Some(b"base64"));
        assert_eq!(&*b64.decode(b"aGVsbG8g\r\nd29ybGQ=\r\n"), b"hello world");
        assert_eq!(&*b64.decode(b"a"), b"a");
        assert_eq!(
            &*TransferEncoding::parse(Some(b"7bit")).decode(b"a=3Db"),
            b"a=3Db"
        );
        assert_eq!(TransferEncoding::parse(None), TransferEncoding::SevenBit);
        assert_eq!(
            TransferEncoding::parse(Some(b"x-uuencode")).name(),
            "x-uuencode"
        );
    }

    #[test]
    fn quoted_printable_encoding_reads_back_and_keeps_lines_short() {
        let text = "Café au lait = 3 €, tab\tand trailing space \r\nnext line ends with tab\t\r\n\
                    a very long line of text that goes on and on well beyond the seventy-six \
                    characters a quoted-printable line may have, so it must be cut\r\nlone\nlf";
        let encoded = encode_quoted_printable(text.as_bytes());
        assert!(encoded.is_ascii());
        for line in encoded.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            assert!(line.len() <= ENCODED_LINE_LEN, "{}", line.len());
            assert!(!line.ends_with(b" ") && !line.ends_with(b"\t"));
        }
        assert_eq!(decode_quoted_printable(&encoded), text.as_bytes());
        assert!(String::from_utf8_lossy(&encoded).starts_with("Caf=C3=A9 au lait =3D 3 =E2=82=AC"));
        assert_eq!(encode_quoted_printable(b"a \r\n"), b"a=20\r\n");
        assert_eq!(encode_quoted_printable(b"end "), b"end=20");
    }

    #[test]
    fn base64_encoding_reads_back_in_short_lines() {
        let data: Vec<u8> = (0..=255).collect();
        let encoded = encode_base64(&data);
        assert!(encoded.split(|&b| b == b'\n').all(|l| l.len() <= 77));
        assert_eq!(decode_base64(&encoded).unwrap(), data);
        assert_eq!(encode_base64(b""), b"");
        assert_eq!(decode_base64(b"*"), Ok(Vec::new()));
        assert_eq!(decode_base64(b"a"), Err(Error::InvalidBase64));
    }
}
