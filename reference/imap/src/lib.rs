//! # mailpush-imap
//!
//! The IMAP vocabulary of mailpush: types that cannot be built invalid, a
//! nom streaming parser and an encoder, for commands and responses, client
//! and server side. No I/O.
//!
//! * Decoding: [`Decode::decode`] on [`Command`], [`Response`],
//!   [`Greeting`], [`AuthenticateData`] and [`IdleDone`] returns a
//!   [`Decoded`]: the value and the bytes consumed, or `Incomplete`, or
//!   `LiteralFound` (a literal was announced and its octets have not all
//!   arrived: a server sends `+` for a synchronizing one, or refuses), or
//!   `Failed` with a message and a byte position.
//! * Encoding: [`Encode::encode`] gives the bytes and the points where a
//!   client must wait for a continuation request.
//! * Framing: [`framer::Framer`] cuts a byte stream into complete messages
//!   (lines and literals) under caps, rejecting oversize input without
//!   losing its place.
//!
//! Test support comes behind features: `quickcheck` adds
//! `quickcheck::Arbitrary` for every command and response type, `fuzzing`
//! the fuzz oracles that the targets in `fuzz/` and this crate's tests run.
//!
//! Parser functions in [`parse`] are named after the ABNF rule they
//! implement (RFC 3501/9051 §9, RFC 7162 §7, RFC 2177, RFC 4315, RFC 7888,
//! RFC 6851 and `spec/imap-push.md`).

pub mod command;
pub mod encode;
pub mod framer;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod parse;
pub mod response;
pub mod types;
pub mod utf7;
pub mod xaps;

#[cfg(feature = "quickcheck")]
pub mod arbitrary;

pub use command::*;
pub use encode::{Encode, EncodeOptions, Encoded, Encoder};
pub use response::*;
pub use types::*;
pub use xaps::{XapsParam, XapsRegistration, XapsResponse, XapsValue};

use parse::core::{PError, PErrorKind, PResult};

/// The outcome of decoding the start of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<T> {
    /// A value, and how many bytes it took.
    Complete(T, usize),
    /// More bytes are needed.
    Incomplete,
    /// A literal `{length}` (or `{length+}`) was announced and its octets
    /// have not all arrived.
    LiteralFound {
        /// Announced length in octets.
        length: u32,
        /// `{n}`: the peer waits for a continuation request.
        synchronizing: bool,
    },
    /// The bytes do not match the grammar.
    Failed {
        /// What was expected and what was found.
        message: String,
        /// Byte offset of the problem.
        position: usize,
    },
}

impl<T> Decoded<T> {
    /// The value, if complete.
    pub fn complete(self) -> Option<(T, usize)> {
        match self {
            Decoded::Complete(v, n) => Some((v, n)),
            _ => None,
        }
    }
    /// Whether the input could still become valid with more bytes.
    pub fn needs_more(&self) -> bool {
        matches!(self, Decoded::Incomplete | Decoded::LiteralFound { .. })
    }
}

/// Something decodable from the start of a byte buffer.
pub trait Decode: Sized {
    /// Decodes one message from the start of `input`.
    fn decode(input: &[u8]) -> Decoded<Self>;
}

pub(crate) fn run<'a, T>(
    input: &'a [u8],
    p: impl FnOnce(&'a [u8]) -> PResult<'a, T>,
) -> Decoded<T> {
    match p(input) {
        Ok((rest, v)) => Decoded::Complete(v, input.len() - rest.len()),
        Err(nom::Err::Incomplete(_)) => Decoded::Incomplete,
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => failed(input, e),
    }
}

fn failed<T>(input: &[u8], e: PError<'_>) -> Decoded<T> {
    let position = input.len().saturating_sub(e.input.len());
    let what = match e.kind {
        PErrorKind::Literal {
            length,
            synchronizing,
        } => {
            return Decoded::LiteralFound {
                length,
                synchronizing,
            };
        }
        PErrorKind::Expected(w) => w.to_string(),
        PErrorKind::Nom(k) => format!("{k:?}"),
    };
    let found: String = match e.input.first() {
        None => "end of input".into(),
        Some(_) => {
            let n = e.input.len().min(16);
            format!("{:?}", String::from_utf8_lossy(&e.input[..n]))
        }
    };
    Decoded::Failed {
        message: format!("expected {what} at byte {position}, found {found}"),
        position,
    }
}

impl Decode for Command {
    fn decode(input: &[u8]) -> Decoded<Self> {
        run(input, parse::command::command)
    }
}

impl Decode for Response {
    fn decode(input: &[u8]) -> Decoded<Self> {
        run(input, parse::response::response)
    }
}

impl Decode for Greeting {
    fn decode(input: &[u8]) -> Decoded<Self> {
        run(input, parse::response::greeting)
    }
}

impl Decode for AuthenticateData {
    fn decode(input: &[u8]) -> Decoded<Self> {
        run(input, parse::command::authenticate_data)
    }
}

impl Decode for IdleDone {
    fn decode(input: &[u8]) -> Decoded<Self> {
        run(input, parse::command::idle_done)
    }
}
