//! # mailpush-notes
//!
//! The notes application of mailpush (`spec/notes.md`): notes kept as messages in an IMAP
//! mailbox in the format iOS and macOS Notes use, so that the mail server, the push server and
//! the sync rules carry them between devices, and notes written here appear in Apple's Notes
//! and the reverse. No I/O: the application talks to the device's data-access daemon through
//! the [`MailboxAccess`] trait, and time and randomness come in from the caller.
//!
//! * [`NoteId`], [`Note`]: identity (a UUID, NOTE-5) and a note whose text, HTML and title
//!   agree by construction.
//! * [`html`]: plain text to the HTML Notes writes, and any HTML to text (NOTE-14, NOTE-15).
//! * [`read`], [`write`]: note messages recognised (NOTE-4) and read in every transfer
//!   encoding and charset (NOTE-2, NOTE-3), and written as Notes writes them.
//! * [`listing`]: a mailbox view to its notes, one version per note (NOTE-7, NOTE-11), the
//!   messages that cannot be read set apart (NOTE-10, NOTE-19).
//! * [`NotesApp`]: launch with a sync (NOTE-22), list, show, add (NOTE-1, NOTE-9), edit
//!   (NOTE-6, NOTE-20), delete (NOTE-8), watch.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod access;
mod app;
mod error;
pub mod html;
mod id;
pub mod listing;
mod note;
pub mod read;
pub mod write;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;
#[cfg(feature = "test-access")]
pub mod memory;

pub use access::{
    Content, MailboxAccess, MailboxView, SEEN, Uid, UidValidity, ViewChanged, ViewMessage,
};
pub use app::{
    DEFAULT_MAILBOX, Deleted, NoteChange, NotesApp, NotesConfig, Opened, Watch, Written, diff,
};
pub use error::{AppError, ConfigError, NoteError, ReadError, WriteError};
pub use id::{NoteId, NoteIdError};
pub use listing::{ListedNote, Listing, Unreadable};
pub use note::{DEFAULT_MAX_MESSAGE_OCTETS, Limits, MIN_MAX_MESSAGE_OCTETS, Note};
pub use read::{ReadNote, read_note};
pub use write::{Author, write_note};
