//! Errors of the codec. Decoders of message text are lenient and do not fail (mail in the wild
//! is sloppy, and a reader should show what it can); what fails is a value that is not what the
//! caller asked for (a date that is not a date) and a writer given what it cannot write.

/// Why a value could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A `date-time` (RFC 5322 §3.3) could not be read; the text names the part that is wrong.
    #[error("invalid date-time: {0}")]
    InvalidDate(&'static str),
    /// A civil date or time outside the supported range, or one that does not exist
    /// (31 February).
    #[error("date out of range: {0}")]
    DateOutOfRange(&'static str),
    /// Base64 text that does not decode even leniently.
    #[error("invalid base64")]
    InvalidBase64,
    /// A header field name that is empty, too long, or has octets RFC 5322 §3.6.8 does not
    /// allow (only printable US-ASCII except `:`).
    #[error("invalid header field name {0:?}")]
    InvalidFieldName(String),
    /// A raw header field value with a line break, a control character or non-ASCII text, which
    /// only a text value (written as encoded words) may carry.
    #[error("header field value cannot be written as is: {0}")]
    InvalidFieldValue(&'static str),
    /// Text with a character the charset cannot represent.
    #[error("{character:?} cannot be written in {charset}")]
    Unencodable {
        /// The charset's name.
        charset: &'static str,
        /// The first character it lacks.
        character: char,
    },
    /// A charset this crate cannot encode into.
    #[error("unsupported charset {0:?}")]
    UnsupportedCharset(String),
}
