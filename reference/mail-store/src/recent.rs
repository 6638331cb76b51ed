//! The `\Recent` watermark of each mailbox (RFC 3501 §2.3.2).
//!
//! A message is recent in exactly one session: the first to be told about it. The store keeps,
//! per mailbox, the lowest UID that no session has claimed yet; a session claims every message
//! below a UID it now knows about by raising the watermark in one write, so two sessions never
//! both claim a message. A mailbox without a watermark row has its watermark at UID 1: after an
//! upgrade from a database without watermarks, every message counts as recent once, which is
//! what RFC 3501 asks when the server cannot tell.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Failure;
use crate::store::to_i64;
use crate::{Error, MailboxId, Store, Uid};

fn watermark(tx: &Connection, mailbox: MailboxId) -> Result<Uid, Failure> {
    let exists: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM mailboxes WHERE id = ?1)",
        [mailbox.raw()],
        |r| r.get(0),
    )?;
    if !exists {
        return Err(Error::NoSuchMailbox(format!("#{}", mailbox.raw())).into());
    }
    let found: Option<i64> = tx
        .query_row(
            "SELECT watermark FROM recent WHERE mailbox_id = ?1",
            [mailbox.raw()],
            |r| r.get(0),
        )
        .optional()?;
    let value = found.unwrap_or(1);
    Uid::try_from(value).map_err(|_| Error::Corrupt(format!("recent watermark {value}")).into())
}

impl Store {
    /// The lowest UID of `mailbox` that no session has claimed as recent: every message with
    /// this UID or a higher one is recent for the next session that claims it.
    pub fn recent_watermark(&self, mailbox: MailboxId) -> Result<Uid, Error> {
        self.read(|tx| watermark(tx, mailbox))
    }

    /// How many messages of `mailbox` no session has claimed as recent yet (`STATUS RECENT`).
    pub fn recent_count(&self, mailbox: MailboxId) -> Result<u32, Error> {
        self.read(|tx| {
            let from = watermark(tx, mailbox)?;
            let n: i64 = tx.query_row(
                "SELECT COUNT(*) FROM messages WHERE mailbox_id = ?1 AND uid >= ?2",
                params![mailbox.raw(), from],
                |r| r.get(0),
            )?;
            u32::try_from(n).map_err(|_| Error::Corrupt(format!("message count {n}")).into())
        })
    }

    /// Claims as recent, for the calling session, every message of `mailbox` with a UID below
    /// `upto` that no session claimed before, and returns the first UID claimed: the session's
    /// recent messages are those it knows with UIDs in `returned..upto` (none when the returned
    /// UID is `upto` or above). The claim is one atomic write, so a message is claimed by one
    /// session only; when there is nothing to claim nothing is written.
    pub fn claim_recent(&self, mailbox: MailboxId, upto: Uid) -> Result<Uid, Error> {
        if self.recent_watermark(mailbox)? >= upto {
            return Ok(upto);
        }
        // Losing a claim in a crash only makes its messages recent once more, which RFC 3501
        // allows ("SHOULD be considered recent"), so the claim does not wait for a flush.
        self.write_unflushed(|tx| {
            let from = watermark(tx, mailbox)?;
            if from < upto {
                tx.execute(
                    "INSERT INTO recent (mailbox_id, watermark) VALUES (?1, ?2) \
                     ON CONFLICT (mailbox_id) DO UPDATE SET watermark = excluded.watermark",
                    params![mailbox.raw(), to_i64(u64::from(upto))?],
                )?;
            }
            Ok(from)
        })
    }
}
