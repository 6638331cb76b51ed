//! Messages: append, copy, move, flags, expunge, and the queries of CONDSTORE and QRESYNC.

use rusqlite::{Connection, Row, params};

use crate::error::Failure;
use crate::store::{MailboxRow, changed, load_mailbox, to_i64, to_u32, to_u64};
use crate::{
    Appended, Applied, Change, ChangeKind, Copied, Error, Flag, FlagOp, Flags, InternalDate,
    MailboxId, Message, MessageMeta, ModSeq, Store, Stored, Uid, UidSet,
};

fn meta_from_row(row: &Row<'_>) -> Result<MessageMeta, Failure> {
    // Columns: uid, flags, modseq, internal_date, utc_offset, size.
    let flags: String = row.get(1)?;
    let offset: i64 = row.get(4)?;
    Ok(MessageMeta {
        uid: to_u32(row.get(0)?)?,
        flags: Flags::parse(flags.split(' ').filter(|s| !s.is_empty()))
            .map_err(|_| Error::Corrupt(format!("stored flags {flags:?}")))?,
        modseq: to_u64(row.get(2)?)?,
        internal_date: InternalDate {
            unix_seconds: row.get(3)?,
            utc_offset_minutes: i16::try_from(offset)
                .map_err(|_| Error::Corrupt(format!("zone offset {offset}")))?,
        },
        size: to_u64(row.get(5)?)?,
    })
}

const META_COLUMNS: &str = "uid, flags, modseq, internal_date, utc_offset, size";

impl Store {
    /// Appends a message (`APPEND`). Returns its UID for `APPENDUID` (RFC 4315).
    pub fn append(
        &self,
        mailbox: MailboxId,
        raw: &[u8],
        flags: &Flags,
        internal_date: InternalDate,
    ) -> Result<Applied<Appended>, Error> {
        let limit = self.config.limits.max_message_size;
        let size = raw.len() as u64;
        if size > limit {
            return Err(Error::MessageTooLarge { size, limit });
        }
        check_flag_count(flags)?;
        self.write_changes(|tx| {
            let row = load_mailbox(tx, mailbox.raw())?;
            let uid = row.uid_next;
            let next = next_uid(uid, 1)?;
            let modseq = row.highest_modseq + 1;
            tx.prepare_cached(
                "INSERT INTO messages (mailbox_id, uid, modseq, internal_date, utc_offset, size, \
                 seen, deleted, flags, raw) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                row.id,
                uid,
                to_i64(modseq)?,
                internal_date.unix_seconds,
                internal_date.utc_offset_minutes,
                to_i64(size)?,
                flags.contains(&Flag::Seen),
                flags.contains(&Flag::Deleted),
                flags.to_text(),
                raw
            ])?;
            set_counters(tx, row.id, next, modseq)?;
            let value = Appended {
                uid_validity: row.uid_validity,
                uid,
                modseq,
            };
            let change = changed(&row, ChangeKind::Appended { uids: vec![uid] }, modseq);
            Ok(Applied {
                value,
                changes: vec![change],
            })
        })
    }

    /// Copies the messages of `uids` in `from` to `to` (`COPY`), keeping flags and internal
    /// dates. Returns the UID mapping for `COPYUID` (RFC 4315). UIDs that do not exist are
    /// skipped.
    pub fn copy(
        &self,
        from: MailboxId,
        uids: &UidSet,
        to: MailboxId,
    ) -> Result<Applied<Copied>, Error> {
        self.write_changes(|tx| {
            let (copied, change) = copy_messages(tx, from, uids, to)?;
            Ok(Applied {
                value: copied,
                changes: change.into_iter().collect(),
            })
        })
    }

    /// Moves the messages of `uids` from `from` to `to` (`MOVE`, RFC 6851): a copy and an
    /// expunge in one transaction.
    pub fn move_messages(
        &self,
        from: MailboxId,
        uids: &UidSet,
        to: MailboxId,
    ) -> Result<Applied<Copied>, Error> {
        self.write_changes(|tx| {
            let (copied, appended) = copy_messages(tx, from, uids, to)?;
            let mut changes: Vec<Change> = appended.into_iter().collect();
            let moved: UidSet = copied.mapping.iter().map(|(src, _)| *src).collect();
            if !moved.is_empty() {
                let row = load_mailbox(tx, from.raw())?;
                let (expunged, change) = expunge_uids(tx, &row, &moved, false)?;
                debug_assert_eq!(expunged.len(), copied.mapping.len());
                changes.extend(change);
            }
            Ok(Applied {
                value: copied,
                changes,
            })
        })
    }

    /// Changes flags (`STORE`). With `unchanged_since` (RFC 7162 `UNCHANGEDSINCE`), messages
    /// whose MODSEQ is above it are left alone and reported in [`Stored::modified`]. Messages
    /// whose flags do not change keep their MODSEQ. All changed messages share one new MODSEQ.
    pub fn store_flags(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<ModSeq>,
    ) -> Result<Applied<Stored>, Error> {
        self.write_changes(|tx| {
            let row = load_mailbox(tx, mailbox.raw())?;
            let mut stored = Stored::default();
            let candidates = metas_in(tx, row.id, uids)?;
            let modseq = row.highest_modseq + 1;
            let mut updates = Vec::new();
            for meta in candidates {
                if unchanged_since.is_some_and(|limit| meta.modseq > limit) {
                    stored.modified.push(meta.uid);
                    continue;
                }
                let new_flags = meta.flags.apply(op, flags);
                if new_flags == meta.flags {
                    continue;
                }
                check_flag_count(&new_flags)?;
                updates.push(MessageMeta {
                    flags: new_flags,
                    modseq,
                    ..meta
                });
            }
            if updates.is_empty() {
                return Ok(Applied {
                    value: stored,
                    changes: Vec::new(),
                });
            }
            {
                let mut stmt = tx.prepare_cached(
                    "UPDATE messages SET flags = ?3, seen = ?4, deleted = ?5, modseq = ?6 \
                     WHERE mailbox_id = ?1 AND uid = ?2",
                )?;
                for meta in &updates {
                    stmt.execute(params![
                        row.id,
                        meta.uid,
                        meta.flags.to_text(),
                        meta.flags.contains(&Flag::Seen),
                        meta.flags.contains(&Flag::Deleted),
                        to_i64(modseq)?
                    ])?;
                }
            }
            set_counters(tx, row.id, row.uid_next, modseq)?;
            let uids = updates.iter().map(|m| m.uid).collect();
            stored.updated = updates;
            let change = changed(&row, ChangeKind::FlagsChanged { uids }, modseq);
            Ok(Applied {
                value: stored,
                changes: vec![change],
            })
        })
    }

    /// Removes the messages flagged `\Deleted` (`EXPUNGE`), or only those of them in `uids`
    /// (`UID EXPUNGE`, RFC 4315). Returns the expunged UIDs, ascending. Raises HIGHESTMODSEQ and
    /// records the UIDs in the expunge history (RFC 7162 §3.2.10).
    pub fn expunge(
        &self,
        mailbox: MailboxId,
        uids: Option<&UidSet>,
    ) -> Result<Applied<Vec<Uid>>, Error> {
        self.write_changes(|tx| {
            let row = load_mailbox(tx, mailbox.raw())?;
            let all = UidSet::all();
            let (expunged, change) = expunge_uids(tx, &row, uids.unwrap_or(&all), true)?;
            Ok(Applied {
                value: expunged,
                changes: change.into_iter().collect(),
            })
        })
    }

    /// Every UID of the mailbox, ascending.
    pub fn uids(&self, mailbox: MailboxId) -> Result<Vec<Uid>, Error> {
        self.read(|tx| {
            load_mailbox(tx, mailbox.raw())?;
            let mut stmt =
                tx.prepare_cached("SELECT uid FROM messages WHERE mailbox_id = ?1 ORDER BY uid")?;
            let rows = stmt.query_map([mailbox.raw()], |r| r.get::<_, i64>(0))?;
            rows.map(|r| Ok(to_u32(r?)?)).collect()
        })
    }

    /// Metadata of the messages of `uids` that exist, ascending UIDs.
    pub fn messages(&self, mailbox: MailboxId, uids: &UidSet) -> Result<Vec<MessageMeta>, Error> {
        self.read(|tx| {
            load_mailbox(tx, mailbox.raw())?;
            metas_in(tx, mailbox.raw(), uids)
        })
    }

    /// Messages whose MODSEQ is above `modseq` (`CHANGEDSINCE`, and the `FETCH` part of a
    /// QRESYNC `SELECT`), ascending UIDs. New messages are included.
    pub fn changed_since(
        &self,
        mailbox: MailboxId,
        modseq: ModSeq,
    ) -> Result<Vec<MessageMeta>, Error> {
        self.read(|tx| {
            load_mailbox(tx, mailbox.raw())?;
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {META_COLUMNS} FROM messages WHERE mailbox_id = ?1 AND modseq > ?2 \
                 ORDER BY uid"
            ))?;
            let mut rows = stmt.query(params![mailbox.raw(), to_i64(modseq)?])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(meta_from_row(row)?);
            }
            Ok(out)
        })
    }

    /// UIDs expunged after `modseq` (`VANISHED (EARLIER)`, RFC 7162 §3.2.5.1), ascending.
    pub fn expunged_since(&self, mailbox: MailboxId, modseq: ModSeq) -> Result<Vec<Uid>, Error> {
        self.read(|tx| {
            load_mailbox(tx, mailbox.raw())?;
            let mut stmt = tx.prepare_cached(
                "SELECT uid FROM expunged WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY uid",
            )?;
            let rows = stmt.query_map(params![mailbox.raw(), to_i64(modseq)?], |r| {
                r.get::<_, i64>(0)
            })?;
            rows.map(|r| Ok(to_u32(r?)?)).collect()
        })
    }

    /// One message with its content.
    pub fn message(&self, mailbox: MailboxId, uid: Uid) -> Result<Option<Message>, Error> {
        self.read(|tx| {
            load_mailbox(tx, mailbox.raw())?;
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {META_COLUMNS}, raw FROM messages WHERE mailbox_id = ?1 AND uid = ?2"
            ))?;
            let mut rows = stmt.query(params![mailbox.raw(), uid])?;
            match rows.next()? {
                Some(row) => Ok(Some(Message {
                    meta: meta_from_row(row)?,
                    raw: row.get(6)?,
                })),
                None => Ok(None),
            }
        })
    }
}

fn check_flag_count(flags: &Flags) -> Result<(), Error> {
    if flags.len() > Flags::MAX {
        return Err(Error::InvalidFlag(format!(
            "more than {} flags",
            Flags::MAX
        )));
    }
    Ok(())
}

fn next_uid(uid: Uid, count: usize) -> Result<Uid, Error> {
    // UIDs stop at u32::MAX - 1 so that UIDNEXT still fits in 32 bits.
    u32::try_from(count)
        .ok()
        .and_then(|n| uid.checked_add(n))
        .ok_or(Error::UidsExhausted)
}

fn set_counters(tx: &Connection, id: i64, uid_next: Uid, modseq: ModSeq) -> Result<(), Failure> {
    tx.prepare_cached("UPDATE mailboxes SET uidnext = ?2, highestmodseq = ?3 WHERE id = ?1")?
        .execute(params![id, uid_next, to_i64(modseq)?])?;
    Ok(())
}

fn metas_in(tx: &Connection, mailbox: i64, uids: &UidSet) -> Result<Vec<MessageMeta>, Failure> {
    let Some((lo, hi)) = uids.bounds() else {
        return Ok(Vec::new());
    };
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {META_COLUMNS} FROM messages WHERE mailbox_id = ?1 AND uid BETWEEN ?2 AND ?3 \
         ORDER BY uid"
    ))?;
    let mut rows = stmt.query(params![mailbox, lo, hi])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let meta = meta_from_row(row)?;
        if uids.contains(meta.uid) {
            out.push(meta);
        }
    }
    Ok(out)
}

fn copy_messages(
    tx: &Connection,
    from: MailboxId,
    uids: &UidSet,
    to: MailboxId,
) -> Result<(Copied, Option<Change>), Failure> {
    let src = load_mailbox(tx, from.raw())?;
    let dst = load_mailbox(tx, to.raw())?;
    if src.user != dst.user {
        return Err(Error::NoSuchMailbox(dst.name).into());
    }
    let sources: Vec<Uid> = metas_in(tx, src.id, uids)?
        .into_iter()
        .map(|m| m.uid)
        .collect();
    if sources.is_empty() {
        return Ok((
            Copied {
                uid_validity: dst.uid_validity,
                mapping: Vec::new(),
            },
            None,
        ));
    }
    let next = next_uid(dst.uid_next, sources.len())?;
    let modseq = dst.highest_modseq + 1;
    let mut mapping = Vec::with_capacity(sources.len());
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO messages (mailbox_id, uid, modseq, internal_date, utc_offset, size, \
             seen, deleted, flags, raw) \
             SELECT ?1, ?2, ?3, internal_date, utc_offset, size, seen, deleted, flags, raw \
             FROM messages WHERE mailbox_id = ?4 AND uid = ?5",
        )?;
        // `next_uid` checked above that these UIDs fit.
        for (uid, source) in (dst.uid_next..).zip(&sources) {
            stmt.execute(params![dst.id, uid, to_i64(modseq)?, src.id, source])?;
            mapping.push((*source, uid));
        }
    }
    set_counters(tx, dst.id, next, modseq)?;
    let uids = mapping.iter().map(|(_, d)| *d).collect();
    let change = changed(&dst, ChangeKind::Appended { uids }, modseq);
    Ok((
        Copied {
            uid_validity: dst.uid_validity,
            mapping,
        },
        Some(change),
    ))
}

/// Expunges the messages of `uids` (only those flagged `\Deleted` when `deleted_only`).
fn expunge_uids(
    tx: &Connection,
    row: &MailboxRow,
    uids: &UidSet,
    deleted_only: bool,
) -> Result<(Vec<Uid>, Option<Change>), Failure> {
    let expunged: Vec<Uid> = metas_in(tx, row.id, uids)?
        .into_iter()
        .filter(|m| !deleted_only || m.flags.contains(&Flag::Deleted))
        .map(|m| m.uid)
        .collect();
    if expunged.is_empty() {
        return Ok((expunged, None));
    }
    let modseq = row.highest_modseq + 1;
    {
        let mut delete =
            tx.prepare_cached("DELETE FROM messages WHERE mailbox_id = ?1 AND uid = ?2")?;
        let mut record = tx
            .prepare_cached("INSERT INTO expunged (mailbox_id, uid, modseq) VALUES (?1, ?2, ?3)")?;
        for uid in &expunged {
            delete.execute(params![row.id, uid])?;
            record.execute(params![row.id, uid, to_i64(modseq)?])?;
        }
    }
    set_counters(tx, row.id, row.uid_next, modseq)?;
    let change = changed(
        row,
        ChangeKind::Expunged {
            uids: expunged.clone(),
        },
        modseq,
    );
    Ok((expunged, Some(change)))
}
