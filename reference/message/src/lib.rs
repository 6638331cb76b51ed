//! # mailpush-message
//!
//! Internet messages as mailpush reads and writes them, with no I/O and no IMAP: the codec a
//! server uses to answer ENVELOPE, BODYSTRUCTURE and SEARCH, and a notes application uses to
//! build and read its note messages.
//!
//! * [`header`]: where the header ends, the fields unfolded, lookup by name in any case
//!   ([`Fields`]), fields written folded (text values as RFC 2047 encoded words).
//! * [`mime`]: content types and their parameters, [`Entity`] trees (multipart bodies split,
//!   `message/rfc822` read, nesting capped at [`mime::MAX_DEPTH`]).
//! * [`transfer`]: quoted-printable and base64 (RFC 2045 §6), decoded leniently and encoded in
//!   lines of 76 characters; 7bit, 8bit and binary.
//! * [`charset`]: UTF-8, US-ASCII and ISO-8859-1 both ways; other charsets are read as UTF-8
//!   with replacement characters and cannot be written.
//! * [`encoded_word`]: RFC 2047 `=?charset?B|Q?…?=` words decoded in header values, and text
//!   encoded into them.
//! * [`date`]: RFC 5322 `date-time` read (obsolete forms included) and written, and civil-date
//!   arithmetic in years 0 to 9999, so a date a peer writes cannot make it overflow.
//! * [`text`]: the readable text of a message.
//! * [`MessageWriter`]: a message from fields and one body.
//!
//! Readers never fail on message text: mail in the wild is sloppy, and what cannot be read is
//! passed through or skipped, as each function says. Values that must be something (a date)
//! and writers given what they cannot write return [`Error`]. The limits of each reader are
//! written where it is documented.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod charset;
pub mod date;
pub mod encoded_word;
mod error;
pub mod header;
pub mod mime;
pub mod text;
pub mod transfer;
mod writer;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

pub use charset::Charset;
pub use date::{CivilDate, DateTime};
pub use error::Error;
pub use header::{Field, Fields};
pub use mime::{ContentType, Entity, Parameter};
pub use transfer::TransferEncoding;
pub use writer::MessageWriter;
