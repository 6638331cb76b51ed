//! # The data-access daemon (DA), sans-IO
//!
//! One [`Engine`] per mail account. It lists the account's mailboxes, asks the mail client to
//! register the monitored ones (one token each, `spec/device-local.md`), and synchronizes a
//! mailbox whenever its token is woken, by `spec/sync.md`: QRESYNC, else CONDSTORE, else plain
//! IMAP, over one IMAP connection it drives through the codec of `mailpush-imap`.
//!
//! The engine owns no socket, clock or storage. The driver:
//!
//! * opens and closes the connection when told ([`Event::Connect`], [`Event::StartTls`],
//!   [`Event::Close`]) and moves octets ([`Engine::handle_input`], [`Engine::poll_transmit`]);
//! * passes the time in and calls [`Engine::handle_timeout`] at [`Engine::poll_timeout`];
//! * carries registrations to the mail client and back ([`Event::Register`],
//!   [`Engine::handle_registered`]) and wakes to the engine ([`Engine::handle_wake`]);
//! * persists: content as it arrives ([`Event::Content`]) and each completed sync's
//!   [`ViewUpdate`] in one transaction ([`Event::SyncCompleted`]), and gives the persisted
//!   [`MailboxView`]s back to [`Engine::new`] after a restart.
//!
//! A sync publishes nothing until it is complete, so a connection lost, a malformed reply or a
//! `kill -9` at any point leaves the stored view as the last completed sync left it, with the
//! HIGHESTMODSEQ that sync stored: the next sync asks again from there (SYNC-7, SYNC-13).

mod config;
mod engine;
mod error;
mod link;
mod seq;
mod sync;
mod uids;
mod view;
mod write;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

pub use config::{AuthMechanism, Credentials, EngineConfig, Limits, RetrySchedule, Security};
pub use engine::{Engine, Event, ListedMailbox, SyncReport, WakeOutcome};
pub use error::{Error, RegistrationError};
pub use sync::Method;
pub use view::{
    AddedMessage, ContentState, Flags, MailboxView, MessageContent, MessageMeta, Uid, ViewUpdate,
};
pub use write::{FlagChange, OperationId, WriteError, WriteOutcome, WriteRequest};
