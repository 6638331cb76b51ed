//! The store as the IMAP session's backend: `MailBackend` forwarded to the methods of
//! [`Store`] of the same names.

use std::time::SystemTime;

use mailpush_imap_server::MailBackend;

use crate::{
    Appended, Applied, Copied, Error, FlagOp, Flags, InternalDate, MailboxId, MailboxInfo, Message,
    MessageMeta, ModSeq, RegistrationRequest, Store, Stored, Uid, UidSet, UserId,
};

/// Forwards each method to the inherent method of the same name, so the two cannot drift.
macro_rules! forward {
    ($(fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        impl MailBackend for Store {
            $(fn $name(&self, $($arg: $ty),*) -> $ret { Store::$name(self, $($arg),*) })*
        }
    };
}

forward! {
    fn verify_password(name: &str, password: &[u8]) -> Result<Option<UserId>, Error>;
    fn mailboxes(user: UserId) -> Result<Vec<MailboxInfo>, Error>;
    fn mailbox(user: UserId, name: &str) -> Result<MailboxInfo, Error>;
    fn mailbox_id(user: UserId, name: &str) -> Result<MailboxId, Error>;
    fn highest_modseq(mailbox: MailboxId) -> Result<ModSeq, Error>;
    fn mailbox_by_id(mailbox: MailboxId) -> Result<MailboxInfo, Error>;
    fn create_mailbox(user: UserId, name: &str) -> Result<Applied<MailboxInfo>, Error>;
    fn delete_mailbox(user: UserId, name: &str) -> Result<Applied<()>, Error>;
    fn rename_mailbox(user: UserId, from: &str, to: &str) -> Result<Applied<()>, Error>;
    fn subscribe(user: UserId, name: &str) -> Result<(), Error>;
    fn unsubscribe(user: UserId, name: &str) -> Result<(), Error>;
    fn append(mailbox: MailboxId, raw: &[u8], flags: &Flags, internal_date: InternalDate) -> Result<Applied<Appended>, Error>;
    fn copy(from: MailboxId, uids: &UidSet, to: MailboxId) -> Result<Applied<Copied>, Error>;
    fn move_messages(from: MailboxId, uids: &UidSet, to: MailboxId) -> Result<Applied<Copied>, Error>;
    fn store_flags(mailbox: MailboxId, uids: &UidSet, op: FlagOp, flags: &Flags, unchanged_since: Option<ModSeq>) -> Result<Applied<Stored>, Error>;
    fn expunge(mailbox: MailboxId, uids: Option<&UidSet>) -> Result<Applied<Vec<Uid>>, Error>;
    fn uids(mailbox: MailboxId) -> Result<Vec<Uid>, Error>;
    fn messages(mailbox: MailboxId, uids: &UidSet) -> Result<Vec<MessageMeta>, Error>;
    fn changed_since(mailbox: MailboxId, modseq: ModSeq) -> Result<Vec<MessageMeta>, Error>;
    fn expunged_since(mailbox: MailboxId, modseq: ModSeq) -> Result<Vec<Uid>, Error>;
    fn message(mailbox: MailboxId, uid: Uid) -> Result<Option<Message>, Error>;
    fn recent_watermark(mailbox: MailboxId) -> Result<Uid, Error>;
    fn recent_count(mailbox: MailboxId) -> Result<u32, Error>;
    fn claim_recent(mailbox: MailboxId, upto: Uid) -> Result<Uid, Error>;
    fn register_push(user: UserId, request: &RegistrationRequest, now: SystemTime) -> Result<Vec<String>, Error>;
}
