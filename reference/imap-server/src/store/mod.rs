//! The store behind the session: the [`MailBackend`] trait, the values it takes and gives, and
//! [`StoreError`].
//!
//! They live here, in the sans-IO core, and not in a storage crate: the session is written
//! against what it needs from a store, and a backend (the SQLite store of
//! `mailpush-mail-store`, or a wrapper that counts, traces or injects faults) implements it.
//! So this crate depends on no storage engine and compiles without one, the dependency points
//! from the store to the core that defines its contract, and a backend's failures are told in
//! the one vocabulary the session answers with RFC 5530 codes.

mod error;
mod types;

use std::sync::Arc;
use std::time::SystemTime;

pub use error::StoreError;
pub use types::{
    Appended, Applied, Change, ChangeKind, Copied, Flag, FlagOp, Flags, HIERARCHY_DELIMITER, INBOX,
    InternalDate, Keyword, MailboxId, MailboxInfo, Message, MessageMeta, ModSeq,
    RegistrationRequest, Stored, Uid, UidSet, UserId,
};

/// Declares [`MailBackend`] from one list of methods and forwards it through `Arc`, so that a
/// driver can share one backend between sessions.
macro_rules! mail_backend {
    ($($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        /// What the IMAP session needs from the mail store. Mutating calls are durable when
        /// they return `Ok` and return the change feed of what they did; every call may block
        /// on the disk (a driver runs the session on a blocking pool).
        pub trait MailBackend {
            $($(#[$doc])* fn $name(&self, $($arg: $ty),*) -> $ret;)*
        }

        impl<T: MailBackend + ?Sized> MailBackend for Arc<T> {
            $(fn $name(&self, $($arg: $ty),*) -> $ret { (**self).$name($($arg),*) })*
        }
    };
}

mail_backend! {
    /// The user whose password this is, if any.
    fn verify_password(name: &str, password: &[u8]) -> Result<Option<UserId>, StoreError>;
    /// Every mailbox of the user.
    fn mailboxes(user: UserId) -> Result<Vec<MailboxInfo>, StoreError>;
    /// One mailbox by name.
    fn mailbox(user: UserId, name: &str) -> Result<MailboxInfo, StoreError>;
    /// The id of one mailbox by name (no counts).
    fn mailbox_id(user: UserId, name: &str) -> Result<MailboxId, StoreError>;
    /// HIGHESTMODSEQ of one mailbox by id (no counts); `NoSuchMailbox` once it is deleted.
    fn highest_modseq(mailbox: MailboxId) -> Result<ModSeq, StoreError>;
    /// One mailbox by id (it may have been renamed or deleted since it was selected).
    fn mailbox_by_id(mailbox: MailboxId) -> Result<MailboxInfo, StoreError>;
    /// `CREATE`.
    fn create_mailbox(user: UserId, name: &str) -> Result<Applied<MailboxInfo>, StoreError>;
    /// `DELETE`.
    fn delete_mailbox(user: UserId, name: &str) -> Result<Applied<()>, StoreError>;
    /// `RENAME`.
    fn rename_mailbox(user: UserId, from: &str, to: &str) -> Result<Applied<()>, StoreError>;
    /// `SUBSCRIBE`.
    fn subscribe(user: UserId, name: &str) -> Result<(), StoreError>;
    /// `UNSUBSCRIBE`.
    fn unsubscribe(user: UserId, name: &str) -> Result<(), StoreError>;
    /// `APPEND`.
    fn append(mailbox: MailboxId, raw: &[u8], flags: &Flags, internal_date: InternalDate) -> Result<Applied<Appended>, StoreError>;
    /// `COPY`.
    fn copy(from: MailboxId, uids: &UidSet, to: MailboxId) -> Result<Applied<Copied>, StoreError>;
    /// `MOVE`.
    fn move_messages(from: MailboxId, uids: &UidSet, to: MailboxId) -> Result<Applied<Copied>, StoreError>;
    /// `STORE`.
    fn store_flags(mailbox: MailboxId, uids: &UidSet, op: FlagOp, flags: &Flags, unchanged_since: Option<ModSeq>) -> Result<Applied<Stored>, StoreError>;
    /// `EXPUNGE` / `UID EXPUNGE`.
    fn expunge(mailbox: MailboxId, uids: Option<&UidSet>) -> Result<Applied<Vec<Uid>>, StoreError>;
    /// Every UID, ascending.
    fn uids(mailbox: MailboxId) -> Result<Vec<Uid>, StoreError>;
    /// Metadata of the messages of `uids` that exist.
    fn messages(mailbox: MailboxId, uids: &UidSet) -> Result<Vec<MessageMeta>, StoreError>;
    /// Messages whose MODSEQ is above `modseq`.
    fn changed_since(mailbox: MailboxId, modseq: ModSeq) -> Result<Vec<MessageMeta>, StoreError>;
    /// UIDs expunged after `modseq`.
    fn expunged_since(mailbox: MailboxId, modseq: ModSeq) -> Result<Vec<Uid>, StoreError>;
    /// One message with its content.
    fn message(mailbox: MailboxId, uid: Uid) -> Result<Option<Message>, StoreError>;
    /// The lowest UID no session has claimed as recent.
    fn recent_watermark(mailbox: MailboxId) -> Result<Uid, StoreError>;
    /// How many messages no session has claimed as recent (`STATUS RECENT`).
    fn recent_count(mailbox: MailboxId) -> Result<u32, StoreError>;
    /// Claims the unclaimed messages below `upto` as recent; returns the first UID claimed.
    fn claim_recent(mailbox: MailboxId, upto: Uid) -> Result<Uid, StoreError>;
    /// `XAPPLEPUSHSERVICE`: stores a registration, returns the acknowledged mailboxes.
    fn register_push(user: UserId, request: &RegistrationRequest, now: SystemTime) -> Result<Vec<String>, StoreError>;
}
