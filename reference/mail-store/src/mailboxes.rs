//! Mailboxes: create, delete, rename (with inferiors), list, subscriptions.

use rusqlite::{Connection, params};

use crate::error::Failure;
use crate::store::{
    canonical_mailbox_name, change, check_user, find_mailbox, insert_mailbox, load_mailbox, to_u32,
};
use crate::{
    Applied, ChangeKind, Error, HIERARCHY_DELIMITER, INBOX, MailboxId, MailboxInfo, ModSeq, Store,
    UserId,
};

fn validate_mailbox_name(name: &str, max_len: usize) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::InvalidMailboxName("empty"));
    }
    if name.len() > max_len {
        return Err(Error::InvalidMailboxName("too long"));
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(Error::InvalidMailboxName("control character"));
    }
    if name.contains(['*', '%']) {
        return Err(Error::InvalidMailboxName("wildcard character"));
    }
    if name.split(HIERARCHY_DELIMITER).any(str::is_empty) {
        return Err(Error::InvalidMailboxName("empty hierarchy level"));
    }
    Ok(())
}

/// Superior names of `name`, outermost first: `a/b/c` gives `a`, `a/b`.
fn superiors(name: &str) -> Vec<&str> {
    name.match_indices(HIERARCHY_DELIMITER)
        .map(|(i, _)| &name[..i])
        .collect()
}

impl Store {
    /// Creates a mailbox and any missing superior (`a/b/c` creates `a` and `a/b`). A trailing
    /// delimiter is ignored (RFC 3501 §6.3.3). The new mailbox gets a UIDVALIDITY no mailbox
    /// of this store had before.
    pub fn create_mailbox(&self, user: UserId, name: &str) -> Result<Applied<MailboxInfo>, Error> {
        let trimmed = name.strip_suffix(HIERARCHY_DELIMITER).unwrap_or(name);
        validate_mailbox_name(trimmed, self.config.limits.max_mailbox_name_len)?;
        let name = canonical_mailbox_name(trimmed);
        let limit = self.config.limits.max_mailboxes_per_user;
        self.write_changes(|tx| {
            check_user(tx, user)?;
            if find_mailbox(tx, user, &name)?.is_some() {
                return Err(Error::MailboxExists(name.clone()).into());
            }
            let mut changes = Vec::new();
            let missing = missing_superiors(tx, user, &name, None)?;
            if count_mailboxes(tx, user)? + missing.len() + 1 > limit {
                return Err(Error::TooManyMailboxes { limit }.into());
            }
            for superior in missing {
                let row = insert_mailbox(tx, user.raw(), &superior)?;
                changes.push(change(&row, ChangeKind::Created));
            }
            let row = insert_mailbox(tx, user.raw(), &name)?;
            changes.push(change(&row, ChangeKind::Created));
            let info = mailbox_info(tx, row.id)?;
            Ok(Applied {
                value: info,
                changes,
            })
        })
    }

    /// Deletes a mailbox and its messages. `INBOX` cannot be deleted. Inferior mailboxes stay.
    /// Push registrations keep the name, so that the deletion and a mailbox created again under
    /// it are pushed (XAPS-18); subscriptions stay (RFC 3501 §6.3.9).
    pub fn delete_mailbox(&self, user: UserId, name: &str) -> Result<Applied<()>, Error> {
        let name = canonical_mailbox_name(name);
        if name == INBOX {
            return Err(Error::CannotDeleteInbox);
        }
        self.write_changes(|tx| {
            let row =
                find_mailbox(tx, user, &name)?.ok_or_else(|| Error::NoSuchMailbox(name.clone()))?;
            //= spec/imap-push.md#XAPS-18
            //# the registration MUST keep that name until the client
            //# registers again without it
            tx.execute("DELETE FROM mailboxes WHERE id = ?1", [row.id])?;
            Ok(Applied {
                value: (),
                changes: vec![change(&row, ChangeKind::Deleted)],
            })
        })
    }

    /// Renames a mailbox and its inferiors, creating missing superiors of the new name. The
    /// mailbox keeps its UIDVALIDITY, UIDs and MODSEQs. Renaming `INBOX` moves its messages to a
    /// new mailbox of that name and leaves an empty `INBOX` with a new UIDVALIDITY (RFC 3501
    /// §6.3.5); inferiors of `INBOX` are not renamed. Push registrations keep the old names, so
    /// that the rename and a mailbox created again under an old name are pushed (XAPS-18).
    pub fn rename_mailbox(&self, user: UserId, from: &str, to: &str) -> Result<Applied<()>, Error> {
        let from = canonical_mailbox_name(from);
        let trimmed = to.strip_suffix(HIERARCHY_DELIMITER).unwrap_or(to);
        validate_mailbox_name(trimmed, self.config.limits.max_mailbox_name_len)?;
        let to = canonical_mailbox_name(trimmed);
        let limit = self.config.limits.max_mailboxes_per_user;
        let max_len = self.config.limits.max_mailbox_name_len;
        self.write_changes(|tx| {
            let row =
                find_mailbox(tx, user, &from)?.ok_or_else(|| Error::NoSuchMailbox(from.clone()))?;
            if find_mailbox(tx, user, &to)?.is_some() {
                return Err(Error::MailboxExists(to.clone()).into());
            }
            let prefix = format!("{from}{HIERARCHY_DELIMITER}");
            if from != INBOX && to.starts_with(&prefix) {
                return Err(Error::RenameBelowItself.into());
            }
            // Inferiors move with the mailbox, except under INBOX.
            let mut moves: Vec<(i64, String, String)> = vec![(row.id, from.clone(), to.clone())];
            if from != INBOX {
                for (id, name) in all_mailboxes(tx, user)? {
                    if let Some(rest) = name.strip_prefix(&prefix) {
                        let new = format!("{to}{HIERARCHY_DELIMITER}{rest}");
                        if new.len() > max_len {
                            return Err(Error::InvalidMailboxName("too long").into());
                        }
                        if find_mailbox(tx, user, &new)?.is_some() {
                            return Err(Error::MailboxExists(new).into());
                        }
                        moves.push((id, name, new));
                    }
                }
            }
            let missing = missing_superiors(tx, user, &to, Some(&from))?;
            let new_inbox = usize::from(from == INBOX);
            if count_mailboxes(tx, user)? + missing.len() + new_inbox > limit {
                return Err(Error::TooManyMailboxes { limit }.into());
            }
            let mut changes = Vec::new();
            for (id, old, new) in &moves {
                tx.execute(
                    "UPDATE mailboxes SET name = ?2 WHERE id = ?1",
                    params![id, new],
                )?;
                let moved = load_mailbox(tx, *id)?;
                changes.push(change(&moved, ChangeKind::Renamed { from: old.clone() }));
            }
            for superior in &missing {
                let created = insert_mailbox(tx, user.raw(), superior)?;
                changes.push(change(&created, ChangeKind::Created));
            }
            if from == INBOX {
                let inbox = insert_mailbox(tx, user.raw(), INBOX)?;
                changes.push(change(&inbox, ChangeKind::Created));
            }
            Ok(Applied { value: (), changes })
        })
    }

    /// Every mailbox of `user`, sorted by name.
    pub fn mailboxes(&self, user: UserId) -> Result<Vec<MailboxInfo>, Error> {
        self.read(|tx| {
            check_user(tx, user)?;
            all_mailboxes(tx, user)?
                .into_iter()
                .map(|(id, _)| mailbox_info(tx, id))
                .collect()
        })
    }

    /// The mailbox `name` of `user` (`INBOX` case-insensitively).
    pub fn mailbox(&self, user: UserId, name: &str) -> Result<MailboxInfo, Error> {
        let name = canonical_mailbox_name(name);
        self.read(|tx| {
            let row =
                find_mailbox(tx, user, &name)?.ok_or_else(|| Error::NoSuchMailbox(name.clone()))?;
            mailbox_info(tx, row.id)
        })
    }

    /// The mailbox with this id.
    pub fn mailbox_by_id(&self, mailbox: MailboxId) -> Result<MailboxInfo, Error> {
        self.read(|tx| mailbox_info(tx, mailbox.raw()))
    }

    /// The id of the mailbox `name` of `user`, without the counts of [`Store::mailbox`] (which
    /// read every message of the mailbox).
    pub fn mailbox_id(&self, user: UserId, name: &str) -> Result<MailboxId, Error> {
        let name = canonical_mailbox_name(name);
        self.read(|tx| {
            let row =
                find_mailbox(tx, user, &name)?.ok_or_else(|| Error::NoSuchMailbox(name.clone()))?;
            Ok(MailboxId::from_raw(row.id))
        })
    }

    /// HIGHESTMODSEQ of the mailbox with this id, without the counts of
    /// [`Store::mailbox_by_id`]: what a session asks after every command to learn whether
    /// anything changed.
    pub fn highest_modseq(&self, mailbox: MailboxId) -> Result<ModSeq, Error> {
        self.read(|tx| Ok(load_mailbox(tx, mailbox.raw())?.highest_modseq))
    }

    /// Subscribes `user` to `name`; the mailbox need not exist (RFC 3501 §6.3.6).
    pub fn subscribe(&self, user: UserId, name: &str) -> Result<(), Error> {
        validate_mailbox_name(name, self.config.limits.max_mailbox_name_len)?;
        let name = canonical_mailbox_name(name);
        self.write(|tx| {
            check_user(tx, user)?;
            tx.execute(
                "INSERT OR IGNORE INTO subscriptions (user_id, name) VALUES (?1, ?2)",
                params![user.raw(), name],
            )?;
            Ok(())
        })
    }

    /// Unsubscribes `user` from `name`.
    pub fn unsubscribe(&self, user: UserId, name: &str) -> Result<(), Error> {
        let name = canonical_mailbox_name(name);
        self.write(|tx| {
            check_user(tx, user)?;
            tx.execute(
                "DELETE FROM subscriptions WHERE user_id = ?1 AND name = ?2",
                params![user.raw(), name],
            )?;
            Ok(())
        })
    }

    /// The names `user` is subscribed to, sorted, including names of mailboxes that no longer
    /// exist.
    pub fn subscriptions(&self, user: UserId) -> Result<Vec<String>, Error> {
        self.read(|tx| {
            let mut stmt =
                tx.prepare("SELECT name FROM subscriptions WHERE user_id = ?1 ORDER BY name")?;
            let names = stmt
                .query_map([user.raw()], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok(names)
        })
    }
}

/// Superiors of `name` that do not exist yet, outermost first; `except` is a name about to be
/// freed or reused (the source of a rename).
fn missing_superiors(
    tx: &Connection,
    user: UserId,
    name: &str,
    except: Option<&str>,
) -> Result<Vec<String>, Failure> {
    let mut missing = Vec::new();
    for superior in superiors(name) {
        if Some(superior) != except && find_mailbox(tx, user, superior)?.is_none() {
            missing.push(superior.to_owned());
        }
    }
    Ok(missing)
}

fn all_mailboxes(tx: &Connection, user: UserId) -> Result<Vec<(i64, String)>, Failure> {
    let mut stmt =
        tx.prepare_cached("SELECT id, name FROM mailboxes WHERE user_id = ?1 ORDER BY name")?;
    let rows = stmt.query_map([user.raw()], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn count_mailboxes(tx: &Connection, user: UserId) -> Result<usize, Failure> {
    let n: i64 = tx.query_row(
        "SELECT COUNT(*) FROM mailboxes WHERE user_id = ?1",
        [user.raw()],
        |r| r.get(0),
    )?;
    usize::try_from(n).map_err(|_| Error::Corrupt("mailbox count".into()).into())
}

fn mailbox_info(tx: &Connection, id: i64) -> Result<MailboxInfo, Failure> {
    let row = load_mailbox(tx, id)?;
    let (messages, unseen, subscribed): (i64, i64, bool) = tx.query_row(
        "SELECT (SELECT COUNT(*) FROM messages WHERE mailbox_id = ?1), \
                (SELECT COUNT(*) FROM messages WHERE mailbox_id = ?1 AND seen = 0), \
                EXISTS (SELECT 1 FROM subscriptions WHERE user_id = ?2 AND name = ?3)",
        params![id, row.user, row.name],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    Ok(MailboxInfo {
        id: MailboxId::from_raw(row.id),
        user: UserId::from_raw(row.user),
        name: row.name,
        uid_validity: row.uid_validity,
        uid_next: row.uid_next,
        highest_modseq: row.highest_modseq,
        messages: to_u32(messages)?,
        unseen: to_u32(unseen)?,
        subscribed,
    })
}
