//! The store: users, mailboxes and messages.

use std::path::Path;
use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use rand::RngCore;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::db::Db;
use crate::types::{
    Appended, Applied, Change, ChangeKind, Copied, Flag, FlagOp, Flags, HIERARCHY_DELIMITER, INBOX,
    InternalDate, MailboxId, MailboxInfo, Message, MessageMeta, ModSeq, Stored, Uid, UidSet,
    UserId,
};
use crate::{Error, schema};

/// Size and count limits of a store. Every limit is enforced before anything is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest message `append` accepts, in octets (default 50 MiB).
    pub max_message_size: u64,
    /// Most mailboxes a user may have, `INBOX` included (default 1000).
    pub max_mailboxes_per_user: usize,
    /// Longest mailbox name, in octets (default 1024).
    pub max_mailbox_name_len: usize,
    /// Most live push registrations per user (XAPS-17, default 50).
    pub max_registrations_per_user: usize,
    /// Most mailboxes per push registration (XAPS-7, default 1000).
    pub max_mailboxes_per_registration: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_size: 50 * 1024 * 1024,
            max_mailboxes_per_user: 1000,
            max_mailbox_name_len: 1024,
            max_registrations_per_user: 50,
            max_mailboxes_per_registration: 1000,
        }
    }
}

/// Argon2id cost parameters for new password hashes. Verification reads the parameters stored
/// in each hash, so changing these does not lock anybody out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordHashing {
    /// Memory in KiB (default 19456, the OWASP recommendation).
    pub memory_kib: u32,
    /// Passes (default 2).
    pub iterations: u32,
    /// Lanes (default 1).
    pub parallelism: u32,
}

impl PasswordHashing {
    /// The lowest cost argon2 accepts (8 KiB, one pass, one lane): for tests and fuzzing, which
    /// check behaviour, not hashing strength. Never for real accounts.
    pub const CHEAPEST: Self = Self {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    };
}

impl Default for PasswordHashing {
    fn default() -> Self {
        Self {
            memory_kib: Params::DEFAULT_M_COST,
            iterations: Params::DEFAULT_T_COST,
            parallelism: Params::DEFAULT_P_COST,
        }
    }
}

/// Configuration of a [`Store`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// Limits.
    pub limits: Limits,
    /// Cost of new password hashes.
    pub password_hashing: PasswordHashing,
}

/// Longest password accepted, in octets.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Longest user name accepted, in octets.
pub const MAX_USER_NAME_LEN: usize = 255;

/// The mail server's store: one SQLite database in WAL mode.
///
/// Every mutating call is atomic and returns only after SQLite has committed it with
/// `synchronous=FULL`: when it returns `Ok`, the change survives a crash of the process or of the
/// machine, so the session may send its tagged `OK`. A failed call changed nothing. Concurrent
/// calls share commits (group commit), so N sessions writing at once cost about one disk flush.
///
/// Calls block (they may wait for the disk); an async driver runs them on a blocking thread.
/// `Store` is `Send + Sync`. Writes run one after another on one connection; reads of a file
/// store run on a small pool of read connections beside it, each in one read transaction, and
/// see every write that has returned.
pub struct Store {
    db: Db,
    config: Config,
    dummy_hash: OnceLock<String>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

pub(crate) struct MailboxRow {
    pub(crate) id: i64,
    pub(crate) user: i64,
    pub(crate) name: String,
    pub(crate) uid_validity: u32,
    pub(crate) uid_next: Uid,
    pub(crate) highest_modseq: ModSeq,
}

pub(crate) fn to_i64(value: u64) -> Result<i64, Error> {
    i64::try_from(value).map_err(|_| Error::Corrupt(format!("value {value} out of range")))
}

fn to_u32(value: i64) -> Result<u32, Error> {
    u32::try_from(value).map_err(|_| Error::Corrupt(format!("value {value} out of range")))
}

fn to_u64(value: i64) -> Result<u64, Error> {
    u64::try_from(value).map_err(|_| Error::Corrupt(format!("value {value} out of range")))
}

/// The name as stored: `INBOX` in any case becomes `INBOX` (RFC 3501 §5.1).
pub(crate) fn canonical_mailbox_name(name: &str) -> String {
    if name.eq_ignore_ascii_case(INBOX) {
        INBOX.to_owned()
    } else {
        name.to_owned()
    }
}

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

fn validate_user_name(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::InvalidUserName("empty"));
    }
    if name.len() > MAX_USER_NAME_LEN {
        return Err(Error::InvalidUserName("too long"));
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Error::InvalidUserName("control character or white space"));
    }
    Ok(())
}

/// Superior names of `name`, outermost first: `a/b/c` gives `a`, `a/b`.
fn superiors(name: &str) -> Vec<&str> {
    name.match_indices(HIERARCHY_DELIMITER)
        .map(|(i, _)| &name[..i])
        .collect()
}

fn meta_from_row(row: &Row<'_>) -> Result<MessageMeta, Error> {
    // Columns: uid, flags, modseq, internal_date, utc_offset, size.
    let flags: String = row.get(1)?;
    let offset: i64 = row.get(4)?;
    Ok(MessageMeta {
        uid: to_u32(row.get(0)?)?,
        flags: Flags::from_db(&flags)?,
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
    /// Opens (creating if needed) the store at `path`, in WAL mode.
    pub fn open(path: impl AsRef<Path>, config: Config) -> Result<Self, Error> {
        let path = path.as_ref();
        let mut conn = Connection::open(path)?;
        schema::prepare(&mut conn, true)?;
        Ok(Self::with_db(Db::new(conn, Some(path.to_owned())), config))
    }

    /// A store in memory, gone when dropped; for tests and tools.
    pub fn open_in_memory(config: Config) -> Result<Self, Error> {
        let mut conn = Connection::open_in_memory()?;
        schema::prepare(&mut conn, false)?;
        Ok(Self::with_db(Db::new(conn, None), config))
    }

    fn with_db(db: Db, config: Config) -> Self {
        Self {
            db,
            config,
            dummy_hash: OnceLock::new(),
        }
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Runs `f` as one durable write (see `db`).
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.db.write(f)
    }

    /// Runs `f` as one write that is committed but not flushed before it returns (see
    /// `Db::write_unflushed`).
    pub(crate) fn write_unflushed<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.db.write_unflushed(f)
    }

    /// Runs `f` in one read transaction.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.db.read(f)
    }

    // ----- users -----

    fn argon2(&self) -> Result<Argon2<'static>, Error> {
        let p = self.config.password_hashing;
        let params = Params::new(p.memory_kib, p.iterations, p.parallelism, None)
            .map_err(|e| Error::PasswordHash(e.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    fn hash_password(&self, password: &[u8]) -> Result<String, Error> {
        if password.len() > MAX_PASSWORD_LEN {
            return Err(Error::PasswordTooLong {
                limit: MAX_PASSWORD_LEN,
            });
        }
        let mut salt = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|e| Error::PasswordHash(e.to_string()))?;
        let hash = self
            .argon2()?
            .hash_password(password, &salt)
            .map_err(|e| Error::PasswordHash(e.to_string()))?;
        Ok(hash.to_string())
    }

    /// Adds a user with an argon2id hash of `password`, and its `INBOX`.
    pub fn add_user(&self, name: &str, password: &[u8]) -> Result<UserId, Error> {
        validate_user_name(name)?;
        // Hash outside the lock: it is deliberately slow.
        let hash = self.hash_password(password)?;
        self.write(|tx| {
            let exists: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM users WHERE name = ?1)",
                [name],
                |r| r.get(0),
            )?;
            if exists {
                return Err(Error::UserExists(name.to_owned()));
            }
            tx.execute(
                "INSERT INTO users (name, password_hash) VALUES (?1, ?2)",
                [name, &hash],
            )?;
            let user = tx.last_insert_rowid();
            insert_mailbox(tx, user, INBOX)?;
            Ok(UserId(user))
        })
    }

    /// Replaces a user's password.
    pub fn set_password(&self, name: &str, password: &[u8]) -> Result<(), Error> {
        let hash = self.hash_password(password)?;
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE users SET password_hash = ?2 WHERE name = ?1",
                [name, &hash],
            )?;
            if n == 0 {
                Err(Error::NoSuchUser)
            } else {
                Ok(())
            }
        })
    }

    /// Deletes a user with all its mailboxes, messages, subscriptions and push registrations.
    pub fn delete_user(&self, name: &str) -> Result<(), Error> {
        self.write(|tx| {
            let n = tx.execute("DELETE FROM users WHERE name = ?1", [name])?;
            if n == 0 {
                Err(Error::NoSuchUser)
            } else {
                Ok(())
            }
        })
    }

    /// Checks a password. Returns the user when it matches, `None` when the user does not exist
    /// or the password is wrong; both take about the same time (a hash is verified either way),
    /// and the comparison inside argon2 is constant-time.
    pub fn verify_password(&self, name: &str, password: &[u8]) -> Result<Option<UserId>, Error> {
        if password.len() > MAX_PASSWORD_LEN {
            return Ok(None);
        }
        let found: Option<(i64, String)> = self.read(|tx| {
            Ok(tx
                .query_row(
                    "SELECT id, password_hash FROM users WHERE name = ?1",
                    [name],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?)
        })?;
        let (user, hash) = match found {
            Some((user, hash)) => (Some(user), hash),
            None => (None, self.dummy_hash()?),
        };
        let parsed =
            PasswordHash::new(&hash).map_err(|_| Error::Corrupt("password hash".into()))?;
        // Argon2::default() reads the algorithm and costs from the stored hash.
        let matches = Argon2::default().verify_password(password, &parsed).is_ok();
        Ok(user.filter(|_| matches).map(UserId))
    }

    fn dummy_hash(&self) -> Result<String, Error> {
        if let Some(hash) = self.dummy_hash.get() {
            return Ok(hash.clone());
        }
        let hash = self.hash_password(b"not a password of anybody")?;
        Ok(self.dummy_hash.get_or_init(|| hash).clone())
    }

    /// The id of the user called `name`.
    pub fn user_id(&self, name: &str) -> Result<Option<UserId>, Error> {
        self.read(|tx| {
            Ok(tx
                .query_row("SELECT id FROM users WHERE name = ?1", [name], |r| r.get(0))
                .optional()?
                .map(UserId))
        })
    }

    /// Names of every user, sorted.
    pub fn users(&self) -> Result<Vec<String>, Error> {
        self.read(|tx| {
            let mut stmt = tx.prepare("SELECT name FROM users ORDER BY name")?;
            let names = stmt
                .query_map([], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok(names)
        })
    }

    // ----- mailboxes -----

    /// Creates a mailbox and any missing superior (`a/b/c` creates `a` and `a/b`). A trailing
    /// delimiter is ignored (RFC 3501 §6.3.3). The new mailbox gets a UIDVALIDITY no mailbox
    /// of this store had before.
    pub fn create_mailbox(&self, user: UserId, name: &str) -> Result<Applied<MailboxInfo>, Error> {
        let trimmed = name.strip_suffix(HIERARCHY_DELIMITER).unwrap_or(name);
        validate_mailbox_name(trimmed, self.config.limits.max_mailbox_name_len)?;
        let name = canonical_mailbox_name(trimmed);
        let limit = self.config.limits.max_mailboxes_per_user;
        self.write(|tx| {
            check_user(tx, user)?;
            if find_mailbox(tx, user, &name)?.is_some() {
                return Err(Error::MailboxExists(name.clone()));
            }
            let mut changes = Vec::new();
            let missing = missing_superiors(tx, user, &name, None)?;
            if count_mailboxes(tx, user)? + missing.len() + 1 > limit {
                return Err(Error::TooManyMailboxes { limit });
            }
            for superior in missing {
                let row = insert_mailbox(tx, user.0, &superior)?;
                changes.push(change(&row, ChangeKind::Created));
            }
            let row = insert_mailbox(tx, user.0, &name)?;
            changes.push(change(&row, ChangeKind::Created));
            let info = mailbox_info(tx, row.id)?;
            Ok(Applied {
                value: info,
                changes,
            })
        })
    }

    /// Deletes a mailbox and its messages. `INBOX` cannot be deleted. Inferior mailboxes stay.
    /// Push registrations stop covering the name (XAPS-18); subscriptions stay (RFC 3501
    /// §6.3.9).
    pub fn delete_mailbox(&self, user: UserId, name: &str) -> Result<Applied<()>, Error> {
        let name = canonical_mailbox_name(name);
        if name == INBOX {
            return Err(Error::CannotDeleteInbox);
        }
        self.write(|tx| {
            let row =
                find_mailbox(tx, user, &name)?.ok_or_else(|| Error::NoSuchMailbox(name.clone()))?;
            tx.execute("DELETE FROM mailboxes WHERE id = ?1", [row.id])?;
            crate::push::forget_mailbox(tx, user, &row.name)?;
            Ok(Applied {
                value: (),
                changes: vec![change(&row, ChangeKind::Deleted)],
            })
        })
    }

    /// Renames a mailbox and its inferiors, creating missing superiors of the new name. The
    /// mailbox keeps its UIDVALIDITY, UIDs and MODSEQs. Renaming `INBOX` moves its messages to a
    /// new mailbox of that name and leaves an empty `INBOX` with a new UIDVALIDITY (RFC 3501
    /// §6.3.5); inferiors of `INBOX` are not renamed. Push registrations stop covering the old
    /// names (XAPS-18).
    pub fn rename_mailbox(&self, user: UserId, from: &str, to: &str) -> Result<Applied<()>, Error> {
        let from = canonical_mailbox_name(from);
        let trimmed = to.strip_suffix(HIERARCHY_DELIMITER).unwrap_or(to);
        validate_mailbox_name(trimmed, self.config.limits.max_mailbox_name_len)?;
        let to = canonical_mailbox_name(trimmed);
        let limit = self.config.limits.max_mailboxes_per_user;
        let max_len = self.config.limits.max_mailbox_name_len;
        self.write(|tx| {
            let row =
                find_mailbox(tx, user, &from)?.ok_or_else(|| Error::NoSuchMailbox(from.clone()))?;
            if find_mailbox(tx, user, &to)?.is_some() {
                return Err(Error::MailboxExists(to.clone()));
            }
            let prefix = format!("{from}{HIERARCHY_DELIMITER}");
            if from != INBOX && to.starts_with(&prefix) {
                return Err(Error::RenameBelowItself);
            }
            // Inferiors move with the mailbox, except under INBOX.
            let mut moves: Vec<(i64, String, String)> = vec![(row.id, from.clone(), to.clone())];
            if from != INBOX {
                for (id, name) in all_mailboxes(tx, user)? {
                    if let Some(rest) = name.strip_prefix(&prefix) {
                        let new = format!("{to}{HIERARCHY_DELIMITER}{rest}");
                        if new.len() > max_len {
                            return Err(Error::InvalidMailboxName("too long"));
                        }
                        if find_mailbox(tx, user, &new)?.is_some() {
                            return Err(Error::MailboxExists(new));
                        }
                        moves.push((id, name, new));
                    }
                }
            }
            let missing = missing_superiors(tx, user, &to, Some(&from))?;
            let new_inbox = usize::from(from == INBOX);
            if count_mailboxes(tx, user)? + missing.len() + new_inbox > limit {
                return Err(Error::TooManyMailboxes { limit });
            }
            let mut changes = Vec::new();
            for (id, old, new) in &moves {
                tx.execute(
                    "UPDATE mailboxes SET name = ?2 WHERE id = ?1",
                    params![id, new],
                )?;
                crate::push::forget_mailbox(tx, user, old)?;
                let moved = load_mailbox(tx, *id)?;
                changes.push(change(&moved, ChangeKind::Renamed { from: old.clone() }));
            }
            for superior in &missing {
                let created = insert_mailbox(tx, user.0, superior)?;
                changes.push(change(&created, ChangeKind::Created));
            }
            if from == INBOX {
                let inbox = insert_mailbox(tx, user.0, INBOX)?;
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
        self.read(|tx| mailbox_info(tx, mailbox.0))
    }

    /// The id of the mailbox `name` of `user`, without the counts of [`Store::mailbox`] (which
    /// read every message of the mailbox).
    pub fn mailbox_id(&self, user: UserId, name: &str) -> Result<MailboxId, Error> {
        let name = canonical_mailbox_name(name);
        self.read(|tx| {
            let row =
                find_mailbox(tx, user, &name)?.ok_or_else(|| Error::NoSuchMailbox(name.clone()))?;
            Ok(MailboxId(row.id))
        })
    }

    /// HIGHESTMODSEQ of the mailbox with this id, without the counts of
    /// [`Store::mailbox_by_id`]: what a session asks after every command to learn whether
    /// anything changed.
    pub fn highest_modseq(&self, mailbox: MailboxId) -> Result<ModSeq, Error> {
        self.read(|tx| Ok(load_mailbox(tx, mailbox.0)?.highest_modseq))
    }

    /// Subscribes `user` to `name`; the mailbox need not exist (RFC 3501 §6.3.6).
    pub fn subscribe(&self, user: UserId, name: &str) -> Result<(), Error> {
        validate_mailbox_name(name, self.config.limits.max_mailbox_name_len)?;
        let name = canonical_mailbox_name(name);
        self.write(|tx| {
            check_user(tx, user)?;
            tx.execute(
                "INSERT OR IGNORE INTO subscriptions (user_id, name) VALUES (?1, ?2)",
                params![user.0, name],
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
                params![user.0, name],
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
                .query_map([user.0], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok(names)
        })
    }

    // ----- messages -----

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
        self.write(|tx| {
            let row = load_mailbox(tx, mailbox.0)?;
            let uid = row.uid_next;
            let next = next_uid(uid, 1)?;
            let modseq = row.highest_modseq + 1;
            tx.execute(
                "INSERT INTO messages (mailbox_id, uid, modseq, internal_date, utc_offset, size, \
                 seen, deleted, flags, raw) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    row.id,
                    uid,
                    to_i64(modseq)?,
                    internal_date.unix_seconds,
                    internal_date.utc_offset_minutes,
                    to_i64(size)?,
                    flags.contains(&Flag::Seen),
                    flags.contains(&Flag::Deleted),
                    flags.to_db(),
                    raw
                ],
            )?;
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
        self.write(|tx| {
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
        self.write(|tx| {
            let (copied, appended) = copy_messages(tx, from, uids, to)?;
            let mut changes: Vec<Change> = appended.into_iter().collect();
            let moved: UidSet = copied.mapping.iter().map(|(src, _)| *src).collect();
            if !moved.is_empty() {
                let row = load_mailbox(tx, from.0)?;
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
        self.write(|tx| {
            let row = load_mailbox(tx, mailbox.0)?;
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
                        meta.flags.to_db(),
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
        self.write(|tx| {
            let row = load_mailbox(tx, mailbox.0)?;
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
            load_mailbox(tx, mailbox.0)?;
            let mut stmt =
                tx.prepare_cached("SELECT uid FROM messages WHERE mailbox_id = ?1 ORDER BY uid")?;
            let rows = stmt.query_map([mailbox.0], |r| r.get::<_, i64>(0))?;
            rows.map(|r| to_u32(r?)).collect()
        })
    }

    /// Metadata of the messages of `uids` that exist, ascending UIDs.
    pub fn messages(&self, mailbox: MailboxId, uids: &UidSet) -> Result<Vec<MessageMeta>, Error> {
        self.read(|tx| {
            load_mailbox(tx, mailbox.0)?;
            metas_in(tx, mailbox.0, uids)
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
            load_mailbox(tx, mailbox.0)?;
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {META_COLUMNS} FROM messages WHERE mailbox_id = ?1 AND modseq > ?2 \
                 ORDER BY uid"
            ))?;
            let mut rows = stmt.query(params![mailbox.0, to_i64(modseq)?])?;
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
            load_mailbox(tx, mailbox.0)?;
            let mut stmt = tx.prepare_cached(
                "SELECT uid FROM expunged WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY uid",
            )?;
            let rows =
                stmt.query_map(params![mailbox.0, to_i64(modseq)?], |r| r.get::<_, i64>(0))?;
            rows.map(|r| to_u32(r?)).collect()
        })
    }

    /// One message with its content.
    pub fn message(&self, mailbox: MailboxId, uid: Uid) -> Result<Option<Message>, Error> {
        self.read(|tx| {
            load_mailbox(tx, mailbox.0)?;
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {META_COLUMNS}, raw FROM messages WHERE mailbox_id = ?1 AND uid = ?2"
            ))?;
            let mut rows = stmt.query(params![mailbox.0, uid])?;
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

/// Superiors of `name` that do not exist yet, outermost first; `except` is a name about to be
/// freed or reused (the source of a rename).
fn missing_superiors(
    tx: &Connection,
    user: UserId,
    name: &str,
    except: Option<&str>,
) -> Result<Vec<String>, Error> {
    let mut missing = Vec::new();
    for superior in superiors(name) {
        if Some(superior) != except && find_mailbox(tx, user, superior)?.is_none() {
            missing.push(superior.to_owned());
        }
    }
    Ok(missing)
}

fn change(row: &MailboxRow, kind: ChangeKind) -> Change {
    changed(row, kind, row.highest_modseq)
}

fn changed(row: &MailboxRow, kind: ChangeKind, modseq: ModSeq) -> Change {
    Change {
        user: UserId(row.user),
        mailbox: MailboxId(row.id),
        mailbox_name: row.name.clone(),
        kind,
        highest_modseq: modseq,
    }
}

fn check_user(tx: &Connection, user: UserId) -> Result<(), Error> {
    let exists: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM users WHERE id = ?1)",
        [user.0],
        |r| r.get(0),
    )?;
    if exists {
        Ok(())
    } else {
        Err(Error::NoSuchUser)
    }
}

fn mailbox_row(row: &Row<'_>) -> Result<MailboxRow, Error> {
    Ok(MailboxRow {
        id: row.get(0)?,
        user: row.get(1)?,
        name: row.get(2)?,
        uid_validity: to_u32(row.get(3)?)?,
        uid_next: to_u32(row.get(4)?)?,
        highest_modseq: to_u64(row.get(5)?)?,
    })
}

const MAILBOX_COLUMNS: &str = "id, user_id, name, uidvalidity, uidnext, highestmodseq";

pub(crate) fn find_mailbox(
    tx: &Connection,
    user: UserId,
    name: &str,
) -> Result<Option<MailboxRow>, Error> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE user_id = ?1 AND name = ?2"
    ))?;
    let mut rows = stmt.query(params![user.0, name])?;
    match rows.next()? {
        Some(row) => Ok(Some(mailbox_row(row)?)),
        None => Ok(None),
    }
}

fn load_mailbox(tx: &Connection, id: i64) -> Result<MailboxRow, Error> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE id = ?1"
    ))?;
    let mut rows = stmt.query([id])?;
    match rows.next()? {
        Some(row) => mailbox_row(row),
        None => Err(Error::NoSuchMailbox(format!("#{id}"))),
    }
}

fn all_mailboxes(tx: &Connection, user: UserId) -> Result<Vec<(i64, String)>, Error> {
    let mut stmt =
        tx.prepare_cached("SELECT id, name FROM mailboxes WHERE user_id = ?1 ORDER BY name")?;
    let rows = stmt.query_map([user.0], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn count_mailboxes(tx: &Connection, user: UserId) -> Result<usize, Error> {
    let n: i64 = tx.query_row(
        "SELECT COUNT(*) FROM mailboxes WHERE user_id = ?1",
        [user.0],
        |r| r.get(0),
    )?;
    usize::try_from(n).map_err(|_| Error::Corrupt("mailbox count".into()))
}

fn insert_mailbox(tx: &Connection, user: i64, name: &str) -> Result<MailboxRow, Error> {
    let uid_validity: i64 = tx.query_row(
        "SELECT value FROM meta WHERE key = 'next_uidvalidity'",
        [],
        |r| r.get(0),
    )?;
    // UIDVALIDITY is a non-zero 32-bit number; after 2^32 - 1 creations it wraps to 1.
    let following = if uid_validity >= i64::from(u32::MAX) {
        1
    } else {
        uid_validity + 1
    };
    tx.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'next_uidvalidity'",
        [following],
    )?;
    tx.execute(
        "INSERT INTO mailboxes (user_id, name, uidvalidity, uidnext, highestmodseq) \
         VALUES (?1, ?2, ?3, 1, 1)",
        params![user, name, uid_validity],
    )?;
    Ok(MailboxRow {
        id: tx.last_insert_rowid(),
        user,
        name: name.to_owned(),
        uid_validity: to_u32(uid_validity)?,
        uid_next: 1,
        highest_modseq: 1,
    })
}

fn mailbox_info(tx: &Connection, id: i64) -> Result<MailboxInfo, Error> {
    let row = load_mailbox(tx, id)?;
    let (messages, unseen, subscribed): (i64, i64, bool) = tx.query_row(
        "SELECT (SELECT COUNT(*) FROM messages WHERE mailbox_id = ?1), \
                (SELECT COUNT(*) FROM messages WHERE mailbox_id = ?1 AND seen = 0), \
                EXISTS (SELECT 1 FROM subscriptions WHERE user_id = ?2 AND name = ?3)",
        params![id, row.user, row.name],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    Ok(MailboxInfo {
        id: MailboxId(row.id),
        user: UserId(row.user),
        name: row.name,
        uid_validity: row.uid_validity,
        uid_next: row.uid_next,
        highest_modseq: row.highest_modseq,
        messages: to_u32(messages)?,
        unseen: to_u32(unseen)?,
        subscribed,
    })
}

fn set_counters(tx: &Connection, id: i64, uid_next: Uid, modseq: ModSeq) -> Result<(), Error> {
    tx.execute(
        "UPDATE mailboxes SET uidnext = ?2, highestmodseq = ?3 WHERE id = ?1",
        params![id, uid_next, to_i64(modseq)?],
    )?;
    Ok(())
}

fn metas_in(tx: &Connection, mailbox: i64, uids: &UidSet) -> Result<Vec<MessageMeta>, Error> {
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
) -> Result<(Copied, Option<Change>), Error> {
    let src = load_mailbox(tx, from.0)?;
    let dst = load_mailbox(tx, to.0)?;
    if src.user != dst.user {
        return Err(Error::NoSuchMailbox(dst.name));
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
) -> Result<(Vec<Uid>, Option<Change>), Error> {
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
