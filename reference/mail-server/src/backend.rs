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

/// What the IMAP session needs from the mail store. Mutating calls are durable when they return
/// `Ok` and return the change feed of what they did.
pub trait MailBackend {
    /// The user whose password this is, if any.
    fn verify_password(&self, name: &str, password: &[u8]) -> Result<Option<UserId>, Error>;
    /// Every mailbox of the user.
    fn mailboxes(&self, user: UserId) -> Result<Vec<MailboxInfo>, Error>;
    /// One mailbox by name.
    fn mailbox(&self, user: UserId, name: &str) -> Result<MailboxInfo, Error>;
    /// One mailbox by id (it may have been renamed or deleted since it was selected).
    fn mailbox_by_id(&self, mailbox: MailboxId) -> Result<MailboxInfo, Error>;
    /// `CREATE`.
    fn create_mailbox(&self, user: UserId, name: &str) -> Result<Applied<MailboxInfo>, Error>;
    /// `DELETE`.
    fn delete_mailbox(&self, user: UserId, name: &str) -> Result<Applied<()>, Error>;
    /// `RENAME`.
    fn rename_mailbox(&self, user: UserId, from: &str, to: &str) -> Result<Applied<()>, Error>;
    /// `SUBSCRIBE`.
    fn subscribe(&self, user: UserId, name: &str) -> Result<(), Error>;
    /// `UNSUBSCRIBE`.
    fn unsubscribe(&self, user: UserId, name: &str) -> Result<(), Error>;
    /// `APPEND`.
    fn append(
        &self,
        mailbox: MailboxId,
        raw: &[u8],
        flags: &Flags,
        internal_date: InternalDate,
    ) -> Result<Applied<Appended>, Error>;
    /// `COPY`.
    fn copy(&self, from: MailboxId, uids: &UidSet, to: MailboxId)
    -> Result<Applied<Copied>, Error>;
    /// `MOVE`.
    fn move_messages(
        &self,
        from: MailboxId,
        uids: &UidSet,
        to: MailboxId,
    ) -> Result<Applied<Copied>, Error>;
    /// `STORE`.
    fn store_flags(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<ModSeq>,
    ) -> Result<Applied<Stored>, Error>;
    /// `EXPUNGE` / `UID EXPUNGE`.
    fn expunge(
        &self,
        mailbox: MailboxId,
        uids: Option<&UidSet>,
    ) -> Result<Applied<Vec<Uid>>, Error>;
    /// Every UID, ascending.
    fn uids(&self, mailbox: MailboxId) -> Result<Vec<Uid>, Error>;
    /// Metadata of the messages of `uids` that exist.
    fn messages(&self, mailbox: MailboxId, uids: &UidSet) -> Result<Vec<MessageMeta>, Error>;
    /// Messages whose MODSEQ is above `modseq`.
    fn changed_since(&self, mailbox: MailboxId, modseq: ModSeq) -> Result<Vec<MessageMeta>, Error>;
    /// UIDs expunged after `modseq`.
    fn expunged_since(&self, mailbox: MailboxId, modseq: ModSeq) -> Result<Vec<Uid>, Error>;
    /// One message with its content.
    fn message(&self, mailbox: MailboxId, uid: Uid) -> Result<Option<Message>, Error>;
    /// `XAPPLEPUSHSERVICE`: stores a registration, returns the acknowledged mailboxes.
    fn register_push(
        &self,
        user: UserId,
        request: &PushRequest,
        now: SystemTime,
    ) -> Result<Vec<String>, Error>;
}

macro_rules! forward {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        $(fn $name(&self, $($arg: $ty),*) -> $ret { Store::$name(self, $($arg),*) })*
    };
}

impl MailBackend for Store {
    forward! {
        verify_password(name: &str, password: &[u8]) -> Result<Option<UserId>, Error>;
        mailboxes(user: UserId) -> Result<Vec<MailboxInfo>, Error>;
        mailbox(user: UserId, name: &str) -> Result<MailboxInfo, Error>;
        mailbox_by_id(mailbox: MailboxId) -> Result<MailboxInfo, Error>;
        create_mailbox(user: UserId, name: &str) -> Result<Applied<MailboxInfo>, Error>;
        delete_mailbox(user: UserId, name: &str) -> Result<Applied<()>, Error>;
        rename_mailbox(user: UserId, from: &str, to: &str) -> Result<Applied<()>, Error>;
        subscribe(user: UserId, name: &str) -> Result<(), Error>;
        unsubscribe(user: UserId, name: &str) -> Result<(), Error>;
        append(mailbox: MailboxId, raw: &[u8], flags: &Flags, internal_date: InternalDate) -> Result<Applied<Appended>, Error>;
        copy(from: MailboxId, uids: &UidSet, to: MailboxId) -> Result<Applied<Copied>, Error>;
        move_messages(from: MailboxId, uids: &UidSet, to: MailboxId) -> Result<Applied<Copied>, Error>;
        store_flags(mailbox: MailboxId, uids: &UidSet, op: FlagOp, flags: &Flags, unchanged_since: Option<ModSeq>) -> Result<Applied<Stored>, Error>;
        expunge(mailbox: MailboxId, uids: Option<&UidSet>) -> Result<Applied<Vec<Uid>>, Error>;
        uids(mailbox: MailboxId) -> Result<Vec<Uid>, Error>;
        messages(mailbox: MailboxId, uids: &UidSet) -> Result<Vec<MessageMeta>, Error>;
        changed_since(mailbox: MailboxId, modseq: ModSeq) -> Result<Vec<MessageMeta>, Error>;
        expunged_since(mailbox: MailboxId, modseq: ModSeq) -> Result<Vec<Uid>, Error>;
        message(mailbox: MailboxId, uid: Uid) -> Result<Option<Message>, Error>;
        register_push(user: UserId, request: &PushRequest, now: SystemTime) -> Result<Vec<String>, Error>;
    }
}

macro_rules! forward_deref {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        $(fn $name(&self, $($arg: $ty),*) -> $ret { (**self).$name($($arg),*) })*
    };
}

impl<T: MailBackend + ?Sized> MailBackend for Arc<T> {
    forward_deref! {
        verify_password(name: &str, password: &[u8]) -> Result<Option<UserId>, Error>;
        mailboxes(user: UserId) -> Result<Vec<MailboxInfo>, Error>;
        mailbox(user: UserId, name: &str) -> Result<MailboxInfo, Error>;
        mailbox_by_id(mailbox: MailboxId) -> Result<MailboxInfo, Error>;
        create_mailbox(user: UserId, name: &str) -> Result<Applied<MailboxInfo>, Error>;
        delete_mailbox(user: UserId, name: &str) -> Result<Applied<()>, Error>;
        rename_mailbox(user: UserId, from: &str, to: &str) -> Result<Applied<()>, Error>;
        subscribe(user: UserId, name: &str) -> Result<(), Error>;
        unsubscribe(user: UserId, name: &str) -> Result<(), Error>;
        append(mailbox: MailboxId, raw: &[u8], flags: &Flags, internal_date: InternalDate) -> Result<Applied<Appended>, Error>;
        copy(from: MailboxId, uids: &UidSet, to: MailboxId) -> Result<Applied<Copied>, Error>;
        move_messages(from: MailboxId, uids: &UidSet, to: MailboxId) -> Result<Applied<Copied>, Error>;
        store_flags(mailbox: MailboxId, uids: &UidSet, op: FlagOp, flags: &Flags, unchanged_since: Option<ModSeq>) -> Result<Applied<Stored>, Error>;
        expunge(mailbox: MailboxId, uids: Option<&UidSet>) -> Result<Applied<Vec<Uid>>, Error>;
        uids(mailbox: MailboxId) -> Result<Vec<Uid>, Error>;
        messages(mailbox: MailboxId, uids: &UidSet) -> Result<Vec<MessageMeta>, Error>;
        changed_since(mailbox: MailboxId, modseq: ModSeq) -> Result<Vec<MessageMeta>, Error>;
        expunged_since(mailbox: MailboxId, modseq: ModSeq) -> Result<Vec<Uid>, Error>;
        message(mailbox: MailboxId, uid: Uid) -> Result<Option<Message>, Error>;
        register_push(user: UserId, request: &PushRequest, now: SystemTime) -> Result<Vec<String>, Error>;
    }
}
