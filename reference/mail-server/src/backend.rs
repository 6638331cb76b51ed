//! The store as the session sees it.
//!
//! A trait rather than [`mailpush_mail_store::Store`] itself so that a driver can hand the
//! session an `Arc<Store>` (or a wrapper that counts, traces or injects faults) without the
//! session caring. Every call may block on the disk: a driver runs the session's input
//! handling on a blocking pool.

use std::sync::Arc;
use std::time::SystemTime;

use mailpush_mail_store::{
    Appended, Applied, Copied, Error, FlagOp, Flags, InternalDate, MailboxId, MailboxInfo, Message,
    MessageMeta, ModSeq, PushRequest, Store, Stored, Uid, UidSet, UserId,
};

/// Declares [`MailBackend`] from one list of methods and forwards it to [`Store`] and to
/// `Arc<impl MailBackend>`, so the three cannot drift apart.
macro_rules! mail_backend {
    ($($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        /// What the IMAP session needs from the mail store. Mutating calls are durable when they
        /// return `Ok` and return the change feed of what they did.
        pub trait MailBackend {
            $($(#[$doc])* fn $name(&self, $($arg: $ty),*) -> $ret;)*
        }

        impl MailBackend for Store {
            $(fn $name(&self, $($arg: $ty),*) -> $ret { Store::$name(self, $($arg),*) })*
        }

        impl<T: MailBackend + ?Sized> MailBackend for Arc<T> {
            $(fn $name(&self, $($arg: $ty),*) -> $ret { (**self).$name($($arg),*) })*
        }
    };
}

mail_backend! {
    /// The user whose password this is, if any.
    fn verify_password(name: &str, password: &[u8]) -> Result<Option<UserId>, Error>;
    /// Every mailbox of the user.
    fn mailboxes(user: UserId) -> Result<Vec<MailboxInfo>, Error>;
    /// One mailbox by name.
    fn mailbox(user: UserId, name: &str) -> Result<MailboxInfo, Error>;
    /// The id of one mailbox by name (no counts).
    fn mailbox_id(user: UserId, name: &str) -> Result<MailboxId, Error>;
    /// HIGHESTMODSEQ of one mailbox by id (no counts); `NoSuchMailbox` once it is deleted.
    fn highest_modseq(mailbox: MailboxId) -> Result<ModSeq, Error>;
    /// One mailbox by id (it may have been renamed or deleted since it was selected).
    fn mailbox_by_id(mailbox: MailboxId) -> Result<MailboxInfo, Error>;
    /// `CREATE`.
    fn create_mailbox(user: UserId, name: &str) -> Result<Applied<MailboxInfo>, Error>;
    /// `DELETE`.
    fn delete_mailbox(user: UserId, name: &str) -> Result<Applied<()>, Error>;
    /// `RENAME`.
    fn rename_mailbox(user: UserId, from: &str, to: &str) -> Result<Applied<()>, Error>;
    /// `SUBSCRIBE`.
    fn subscribe(user: UserId, name: &str) -> Result<(), Error>;
    /// `UNSUBSCRIBE`.
    fn unsubscribe(user: UserId, name: &str) -> Result<(), Error>;
    /// `APPEND`.
    fn append(mailbox: MailboxId, raw: &[u8], flags: &Flags, internal_date: InternalDate) -> Result<Applied<Appended>, Error>;
    /// `COPY`.
    fn copy(from: MailboxId, uids: &UidSet, to: MailboxId) -> Result<Applied<Copied>, Error>;
    /// `MOVE`.
    fn move_messages(from: MailboxId, uids: &UidSet, to: MailboxId) -> Result<Applied<Copied>, Error>;
    /// `STORE`.
    fn store_flags(mailbox: MailboxId, uids: &UidSet, op: FlagOp, flags: &Flags, unchanged_since: Option<ModSeq>) -> Result<Applied<Stored>, Error>;
    /// `EXPUNGE` / `UID EXPUNGE`.
    fn expunge(mailbox: MailboxId, uids: Option<&UidSet>) -> Result<Applied<Vec<Uid>>, Error>;
    /// Every UID, ascending.
    fn uids(mailbox: MailboxId) -> Result<Vec<Uid>, Error>;
    /// Metadata of the messages of `uids` that exist.
    fn messages(mailbox: MailboxId, uids: &UidSet) -> Result<Vec<MessageMeta>, Error>;
    /// Messages whose MODSEQ is above `modseq`.
    fn changed_since(mailbox: MailboxId, modseq: ModSeq) -> Result<Vec<MessageMeta>, Error>;
    /// UIDs expunged after `modseq`.
    fn expunged_since(mailbox: MailboxId, modseq: ModSeq) -> Result<Vec<Uid>, Error>;
    /// One message with its content.
    fn message(mailbox: MailboxId, uid: Uid) -> Result<Option<Message>, Error>;
    /// The lowest UID no session has claimed as recent.
    fn recent_watermark(mailbox: MailboxId) -> Result<Uid, Error>;
    /// How many messages no session has claimed as recent (`STATUS RECENT`).
    fn recent_count(mailbox: MailboxId) -> Result<u32, Error>;
    /// Claims the unclaimed messages below `upto` as recent; returns the first UID claimed.
    fn claim_recent(mailbox: MailboxId, upto: Uid) -> Result<Uid, Error>;
    /// `XAPPLEPUSHSERVICE`: stores a registration, returns the acknowledged mailboxes.
    fn register_push(user: UserId, request: &PushRequest, now: SystemTime) -> Result<Vec<String>, Error>;
}
