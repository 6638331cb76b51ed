//! Errors of the notes crate. Reading a mailbox never fails as a whole: each message that
//! cannot be read as a note carries its own [`ReadError`] and the others are read.

use crate::id::{NoteId, NoteIdError};

/// Why a note cannot be made from the text given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// The text has a control character other than a line break or a tab; HTML cannot carry
    /// it, so it would not read back.
    #[error("line {line} has the control character {character:?}, which a note cannot hold")]
    ControlCharacter {
        /// The line, from 1.
        line: usize,
        /// The character.
        character: char,
    },
}

/// Why a message in the notes mailbox is not shown as a note.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The message is not a note: its `X-Uniform-Type-Identifier` is absent or is not
    /// `com.apple.mail-note` (NOTE-4).
    #[error("not a note message")]
    NotANote,
    /// A note message without `X-Universally-Unique-Identifier` (NOTE-12).
    #[error("note message without X-Universally-Unique-Identifier")]
    MissingId,
    /// A note message whose `X-Universally-Unique-Identifier` is not a UUID (NOTE-12).
    #[error("X-Universally-Unique-Identifier {value:?} is not a UUID: {reason}")]
    InvalidId {
        /// The value as written (at most 80 characters of it).
        value: String,
        /// What is wrong with it.
        reason: NoteIdError,
    },
    /// A note message with neither a readable `Date` nor a readable `X-Mail-Created-Date`.
    #[error("note message without a readable Date or X-Mail-Created-Date")]
    NoDate,
    /// A note message larger than the configured limit (NOTE-10).
    #[error("note message of {size} octets is larger than the limit of {limit}")]
    TooLarge {
        /// Its size in octets.
        size: u64,
        /// The limit in octets.
        limit: usize,
    },
    /// A note message with no `text/html` (or `text/plain`) part.
    #[error("note message without a text/html body")]
    NoTextBody,
}

/// Why a note message cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The message would be larger than the configured limit (NOTE-10).
    #[error("the note message would take {size} octets, more than the limit of {limit}")]
    TooLarge {
        /// The size it would have.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The message codec refused a field (a name or value it cannot write).
    #[error("cannot write the note message: {0}")]
    Message(#[from] mailpush_message::Error),
}

/// A configuration value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A mailbox name is 1 to 1000 octets without CR, LF or NUL (the `mailbox-name` rule of
    /// `spec/device-local.md`).
    #[error("a mailbox name has 1 to 1000 octets and no CR, LF or NUL: {0:?}")]
    MailboxName(String),
    /// An address is `local@domain` in printable US-ASCII without spaces or `<>()[],;:"\`, at
    /// most 254 octets.
    #[error("not an address a note can be written from: {0:?}")]
    Address(String),
    /// A display name has at most 200 characters and no control characters.
    #[error("a display name has at most 200 characters and no control characters")]
    DisplayName,
    /// The size limit is below the smallest that can hold a note.
    #[error("a message size limit of {0} octets is too small (at least 4096)")]
    LimitTooSmall(usize),
}

/// Why the notes application could not do what was asked. `E` is the error of the
/// data-access daemon's API ([`crate::MailboxAccess::Error`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError<E: std::error::Error + 'static> {
    /// The data-access daemon refused or failed a request.
    #[error("data-access daemon: {0}")]
    Access(#[source] E),
    /// No message in the notes mailbox carries this identity.
    #[error("no note {0}")]
    NotFound(NoteId),
    /// The note's latest version cannot be read (NOTE-19), so it cannot be edited or shown;
    /// it can be deleted.
    #[error("note {id} cannot be read: {reason}")]
    Unreadable {
        /// The note.
        id: NoteId,
        /// Why its latest version cannot be read.
        reason: ReadError,
    },
    /// The note has attachments, which an edit would lose (NOTE-18); it can be deleted.
    #[error("note {0} has attachments; mailpush does not edit such notes")]
    HasAttachments(NoteId),
    /// The text cannot be a note.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The note message cannot be written (too large).
    #[error(transparent)]
    Write(#[from] WriteError),
}
