//! What several test binaries of the store share.

use mailpush_mail_store::{Flags, InternalDate, MailboxId, Store};

/// Appends a small message without flags; returns its UID.
pub fn append(store: &Store, mailbox: MailboxId) -> u32 {
    store
        .append(
            mailbox,
            b"Subject: x\r\n\r\nx\r\n",
            &Flags::new(),
            InternalDate::utc(0),
        )
        .unwrap()
        .value
        .uid
}
