//! The mail server's embedded store: users, mailboxes, messages and push registrations of the
//! mailpush reference mail server, on SQLite in WAL mode.
//!
//! It is the backend of the IMAP server core (`mailpush-imap-server`): it implements the
//! core's `MailBackend` trait and speaks its vocabulary (the value types and [`Error`] are the
//! core's, re-exported here), so the core needs no storage engine.
//!
//! It models what IMAP4rev1 with UIDPLUS (RFC 4315), CONDSTORE and QRESYNC (RFC 7162), MOVE
//! (RFC 6851) and `XAPPLEPUSHSERVICE` (spec/imap-push.md) need:
//!
//! - users with argon2id password hashes ([`Store::add_user`], [`Store::verify_password`]);
//! - mailboxes with UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ ([`Store::create_mailbox`],
//!   [`Store::rename_mailbox`], [`Store::mailbox`]);
//! - messages with per-message MODSEQ and an expunge history ([`Store::append`],
//!   [`Store::store_flags`], [`Store::expunge`], [`Store::changed_since`],
//!   [`Store::expunged_since`]);
//! - the `\Recent` watermark of each mailbox, claimed by one session at a time
//!   ([`Store::claim_recent`], [`Store::recent_count`]);
//! - push registrations of `XAPPLEPUSHSERVICE` ([`Store::register_push`] of a
//!   [`RegistrationRequest`], [`Store::push_targets`]).
//!
//! Every mutating call is atomic and durable when it returns, and returns an [`Applied`]: its result plus
//! the [`Change`]s it made, in order. The IMAP session layer turns those into untagged
//! `EXISTS`/`EXPUNGE`/`FETCH` responses for IDLE sessions, and into calls of the push notifier
//! (the `mailpush-mail-notify` crate) for each [`PushTarget`] of a change that
//! [pushes](ChangeKind::pushes). The store has no callbacks and no clock: times are parameters.
//!
//! Mailboxes are addressed by name when a user names them (`CREATE`, `SELECT`) and by
//! [`MailboxId`] afterwards, so that a selected mailbox stays the same mailbox when another
//! session renames it.
//!
//! Invariants (tested by properties in `tests/`): UIDs strictly increase and are never reused
//! within a UIDVALIDITY; every change raises HIGHESTMODSEQ, expunges included, and every
//! message's MODSEQ is at most HIGHESTMODSEQ; replaying [`Store::changed_since`] and
//! [`Store::expunged_since`] for a mod-sequence `M` onto the state seen at `M` gives the
//! current state.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backend;
mod config;
mod db;
mod error;
mod mailboxes;
mod messages;
mod push;
mod recent;
mod schema;
mod store;
mod users;

pub use config::{Config, Limits, MAX_PASSWORD_LEN, MAX_USER_NAME_LEN, PasswordHashing};
pub use error::Error;
pub use mailpush_imap_server::store::{
    Appended, Applied, Change, ChangeKind, Copied, Flag, FlagOp, Flags, HIERARCHY_DELIMITER, INBOX,
    InternalDate, Keyword, MailboxId, MailboxInfo, Message, MessageMeta, ModSeq,
    RegistrationRequest, Stored, Uid, UidSet, UserId,
};
pub use push::{
    MAX_REGISTRATION_FIELD_LEN, PushTarget, REGISTRATION_LIFETIME, Registration, RegistrationKey,
};
pub use store::{Announcer, Store};
