//! Charsets that can be read without tables: UTF-8, US-ASCII and ISO-8859-1.

use std::borrow::Cow;

use crate::Error;

/// A charset named by a `charset` parameter or an encoded word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Charset {
    /// `UTF-8` (also spelled `utf8`).
    Utf8,
    /// `US-ASCII` (also `ascii`), the default of `text/*` (RFC 2046 §4.1.2).
    UsAscii,
    /// `ISO-8859-1` (also `latin1`, `iso_8859-1`).
    Latin1,
    /// Any other name, as written. Its text is read as UTF-8 with replacement characters, so a
    /// reader shows what it can; writing it is refused.
    Other(String),
}

impl Charset {
    /// The charset `name` names (any case, surrounding white space ignored).
    pub fn from_name(name: &[u8]) -> Self {
        let name = name.trim_ascii();
        let is = |names: &[&str]| {
            names
                .iter()
                .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
        };
        if is(&["utf-8", "utf8"]) {
            Charset::Utf8
        } else if is(&["us-ascii", "ascii"]) {
            Charset::UsAscii
        } else if is(&["iso-8859-1", "latin1", "iso_8859-1"]) {
            Charset::Latin1
        } else {
            Charset::Other(String::from_utf8_lossy(name).into_owned())
        }
    }

    /// The charset's preferred MIME name.
    pub fn name(&self) -> &str {
        match self {
            Charset::Utf8 => "UTF-8",
            Charset::UsAscii => "US-ASCII",
            Charset::Latin1 => "ISO-8859-1",
            Charset::Other(name) => name,
        }
    }

    /// Octets in this charset as text. ISO-8859-1 maps each octet to the character of that
    /// number; the others are read as UTF-8, with U+FFFD for what is not (US-ASCII is a subset
    /// of UTF-8, and octets above 127 in it are read as UTF-8 too).
    pub fn decode<'a>(&self, data: &'a [u8]) -> Cow<'a, str> {
        match self {
            Charset::Latin1 => Cow::Owned(data.iter().map(|&b| char::from(b)).collect()),
            _ => String::from_utf8_lossy(data),
        }
    }

    /// Text in this charset; refused when a character has no octet in it, and for
    /// [`Charset::Other`].
    pub fn encode(&self, text: &str) -> Result<Vec<u8>, Error> {
        let limit = match self {
            Charset::Utf8 => return Ok(text.as_bytes().to_vec()),
            Charset::UsAscii => 0x7f,
            Charset::Latin1 => 0xff,
            Charset::Other(name) => return Err(Error::UnsupportedCharset(name.clone())),
        };
        text.chars()
            .map(|c| {
                u8::try_from(u32::from(c))
                    .ok()
                    .filter(|&b| u32::from(b) <= limit)
                    .ok_or(Error::Unencodable {
                        charset: if limit == 0x7f {
                            "US-ASCII"
                        } else {
                            "ISO-8859-1"
                        },
                        character: c,
                    })
            })
            .collect()
    }
}

/// Octets in the charset a parameter names (`None`: no parameter, read as UTF-8) as text.
pub fn decode(charset: Option<&[u8]>, data: &[u8]) -> String {
    match charset {
        Some(name) => Charset::from_name(name).decode(data).into_owned(),
        None => String::from_utf8_lossy(data).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_round_trips() {
        assert_eq!(Charset::from_name(b" UTF8 "), Charset::Utf8);
        assert_eq!(Charset::from_name(b"Latin1"), Charset::Latin1);
        assert_eq!(Charset::from_name(b"koi8-r").name(), "koi8-r");
        assert_eq!(decode(Some(b"iso-8859-1"), b"gr\xfcn"), "grün");
        assert_eq!(decode(Some(b"koi8-r"), b"a\xff"), "a\u{fffd}");
        assert_eq!(Charset::Latin1.encode("grün").unwrap(), b"gr\xfcn");
        assert_eq!(
            Charset::UsAscii.encode("grün"),
            Err(Error::Unencodable {
                charset: "US-ASCII",
                character: 'ü'
            })
        );
        assert!(Charset::Latin1.encode("€").is_err());
        assert!(Charset::from_name(b"koi8-r").encode("a").is_err());
        for charset in [Charset::Utf8, Charset::UsAscii, Charset::Latin1] {
            let text = "plain text";
            assert_eq!(charset.decode(&charset.encode(text).unwrap()), text);
        }
    }
}
