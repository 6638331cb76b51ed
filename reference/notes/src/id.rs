//! Note identity: the UUID of `X-Universally-Unique-Identifier` (NOTE-5), held as its 128 bits
//! so that two spellings of one UUID are one identity.

use std::fmt;

use rand::RngCore;

/// Why a text is not a UUID in the RFC 9562 §4 textual form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteIdError {
    /// The form is `8-4-4-4-12` hexadecimal digits, 36 characters with the hyphens.
    #[error("a UUID has 36 characters (8-4-4-4-12 hex digits), not {0}")]
    Length(usize),
    /// A character that is neither a hexadecimal digit nor a hyphen in its place.
    #[error("a UUID has hex digits in groups of 8-4-4-4-12 separated by hyphens")]
    Form,
}

/// A note's identity: a UUID, compared by value, so `2b8d…` and `2B8D…` are the same note.
/// Written as Apple writes it, in uppercase (`2B8D4E5C-6F1A-4C3E-9D70-8E2F1A3B4C5D`).
//= spec/notes.md#NOTE-5
//# A note's identity MUST be its UUID, never its UID
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NoteId([u8; 16]);

/// Where the hyphens of the textual form are.
const HYPHENS: [usize; 4] = [8, 13, 18, 23];

impl NoteId {
    /// Reads the RFC 9562 §4 textual form in either case (`8-4-4-4-12` hex digits); white
    /// space around it is ignored. Any version and variant is accepted: readers take the
    /// identity other writers chose.
    //= spec/notes.md#NOTE-12
    //# A reader MUST accept a UUID in upper or lower case
    pub fn parse(text: &str) -> Result<Self, NoteIdError> {
        let text = text.trim();
        if text.len() != 36 {
            return Err(NoteIdError::Length(text.chars().count()));
        }
        let mut bytes = [0u8; 16];
        let mut digits = text
            .bytes()
            .enumerate()
            .filter(|(i, _)| !HYPHENS.contains(i));
        for (i, b) in text.bytes().enumerate() {
            if HYPHENS.contains(&i) && b != b'-' {
                return Err(NoteIdError::Form);
            }
        }
        for byte in &mut bytes {
            let (Some((_, hi)), Some((_, lo))) = (digits.next(), digits.next()) else {
                return Err(NoteIdError::Form);
            };
            let (Some(hi), Some(lo)) = (hex_value(hi), hex_value(lo)) else {
                return Err(NoteIdError::Form);
            };
            *byte = hi << 4 | lo;
        }
        Ok(NoteId(bytes))
    }

    /// A version 4 (random) UUID from 16 random octets: RFC 9562 §5.4 sets the version and
    /// variant bits and keeps the other 122.
    pub fn from_random_bytes(mut bytes: [u8; 16]) -> Self {
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        NoteId(bytes)
    }

    /// A fresh version 4 UUID drawn from `rng`.
    //= spec/notes.md#NOTE-5
    //# A new note MUST get a fresh random (version 4) UUID.
    pub fn random(rng: &mut impl RngCore) -> Self {
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes);
        Self::from_random_bytes(bytes)
    }

    /// The version number (RFC 9562 §4.2): 4 for the identities this crate draws.
    pub fn version(&self) -> u8 {
        self.0[6] >> 4
    }

    /// The 128 bits.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

impl fmt::Display for NoteId {
    /// The uppercase textual form Apple writes.
    //= spec/notes.md#NOTE-12
    //# writers MUST write it in upper case
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for NoteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteId({self})")
    }
}

impl std::str::FromStr for NoteId {
    type Err = NoteIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_cases_are_one_identity_written_in_uppercase() {
        let upper = NoteId::parse("2B8D4E5C-6F1A-4C3E-9D70-8E2F1A3B4C5D").unwrap();
        let lower = NoteId::parse(" 2b8d4e5c-6f1a-4c3e-9d70-8e2f1a3b4c5d\t").unwrap();
        assert_eq!(upper, lower);
        assert_eq!(lower.to_string(), "2B8D4E5C-6F1A-4C3E-9D70-8E2F1A3B4C5D");
        assert_eq!(upper.version(), 4);
    }

    #[test]
    fn malformed_text_is_refused() {
        for bad in [
            "",
            "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX",
            "2B8D4E5C6F1A4C3E9D708E2F1A3B4C5D",
            "2B8D4E5C-6F1A-4C3E-9D70_8E2F1A3B4C5D",
            "{2B8D4E5C-6F1A-4C3E-9D70-8E2F1A3B4C5}",
            "2B8D4E5C-6F1A-4C3E-9D70-8E2F1A3B4C5D0",
            "2B8D4E5C-6F1A-4C3E-9D7é-8E2F1A3B4C5",
        ] {
            assert!(NoteId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn random_identities_are_version_4_and_rfc_9562_variant() {
        let id = NoteId::from_random_bytes([0xff; 16]);
        assert_eq!(id.version(), 4);
        assert_eq!(id.as_bytes()[8] >> 6, 0b10);
        assert_eq!(id.to_string(), "FFFFFFFF-FFFF-4FFF-BFFF-FFFFFFFFFFFF");
        assert_eq!(NoteId::parse(&id.to_string()), Ok(id));
    }
}
