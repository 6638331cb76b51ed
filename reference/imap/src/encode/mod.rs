//! The encoder: values to wire bytes the parser accepts.
//!
//! Strings are written as an atom where the grammar allows one and the
//! content fits, else as a quoted string when every octet is a 7-bit
//! `QUOTED-CHAR`, else as a literal.
//!
//! Laid out like [`crate::parse`]: [`Encoder`] and the basic rules in
//! `core`, commands in `command`, responses in `response`.

mod command;
mod core;
mod response;

pub use self::core::Encoder;

/// Encoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EncodeOptions {
    /// Write literals that the encoder chooses as non-synchronizing
    /// `{n+}` (only when the server announced LITERAL+, RFC 7888).
    pub literal_plus: bool,
}

/// Encoded bytes plus where a client must wait for a continuation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Encoded {
    /// The complete message.
    pub bytes: Vec<u8>,
    /// Offsets just after each synchronizing literal's `{n}` CRLF: a
    /// client sends `bytes[..offset]`, waits for `+`, then goes on.
    pub sync_points: Vec<usize>,
}

impl Encoded {
    /// The pieces a client sends between continuation requests.
    pub fn chunks(&self) -> Vec<&[u8]> {
        let mut out = Vec::with_capacity(self.sync_points.len() + 1);
        let mut start = 0;
        for &p in &self.sync_points {
            out.push(&self.bytes[start..p]);
            start = p;
        }
        out.push(&self.bytes[start..]);
        out
    }
}

/// Something the encoder writes.
pub trait Encode {
    /// Writes the value.
    fn encode_into(&self, e: &mut Encoder);
    /// Encodes with default options.
    fn encode(&self) -> Encoded {
        self.encode_with(EncodeOptions::default())
    }
    /// Encodes with the given options.
    fn encode_with(&self, options: EncodeOptions) -> Encoded {
        let mut e = Encoder::new(options);
        self.encode_into(&mut e);
        e.finish()
    }
    /// The complete bytes (all literals inline).
    fn to_bytes(&self) -> Vec<u8> {
        self.encode().bytes
    }
}
