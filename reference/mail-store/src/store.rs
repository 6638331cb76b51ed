//! The store: its connections, and what its users, mailboxes and messages share (mailbox rows,
//! the change feed, conversions of stored integers).

use std::path::Path;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use rusqlite::{Connection, Row, params};

use crate::config::Config;
use crate::db::Db;
use crate::error::Failure;
use crate::{Applied, Change, ChangeKind, Error, INBOX, MailboxId, ModSeq, Uid, UserId, schema};

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
///
/// With an [`Announcer`] ([`Store::announce_changes`]), a write that changes mailboxes tells
/// its changes before its commit is flushed, so that the push request is on its way while the
/// disk works (PROV-38); every read that begins after that waits for the commit, so whoever
/// was told of a change and asks sees it, unless the write failed.
pub struct Store {
    db: Db,
    pub(crate) config: Config,
    pub(crate) dummy_hash: OnceLock<String>,
    announcer: RwLock<Option<Announcer>>,
}

/// Hears the changes of each write that changes mailboxes once the write has run, before its
/// commit: it must not block, and must not read the store in a way that waits for the commit.
pub type Announcer = Arc<dyn Fn(&[Change]) + Send + Sync>;

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("config", &self.config)
            .field("announces", &self.announcer().is_some())
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

pub(crate) fn to_u32(value: i64) -> Result<u32, Error> {
    u32::try_from(value).map_err(|_| Error::Corrupt(format!("value {value} out of range")))
}

pub(crate) fn to_u64(value: i64) -> Result<u64, Error> {
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

impl Store {
    /// Opens (creating if needed) the store at `path`, in WAL mode.
    pub fn open(path: impl AsRef<Path>, config: Config) -> Result<Self, Error> {
        let path = path.as_ref();
        let mut conn = Connection::open(path).map_err(Failure::from)?;
        schema::prepare(&mut conn, true)?;
        Ok(Self::with_db(Db::new(conn, Some(path.to_owned())), config))
    }

    /// A store in memory, gone when dropped; for tests and tools.
    pub fn open_in_memory(config: Config) -> Result<Self, Error> {
        let mut conn = Connection::open_in_memory().map_err(Failure::from)?;
        schema::prepare(&mut conn, false)?;
        Ok(Self::with_db(Db::new(conn, None), config))
    }

    /// A store in memory ([`Config::for_tests`]: the cheapest password hashing) with these users
    /// (name, password), each with its `INBOX`: for tests, such as sessions of the IMAP server
    /// core run in-process (`mailpush_imap_server::LocalServer`), and fuzzing. Never for real
    /// accounts.
    pub fn for_tests(users: &[(&str, &str)]) -> Result<Self, Error> {
        let store = Self::open_in_memory(Config::for_tests())?;
        for (name, password) in users {
            store.add_user(name, password.as_bytes())?;
        }
        Ok(store)
    }

    fn with_db(db: Db, config: Config) -> Self {
        Self {
            db,
            config,
            dummy_hash: OnceLock::new(),
            announcer: RwLock::new(None),
        }
    }

    /// From now on, tells `announcer` the changes of every write that changes mailboxes before
    /// the write's commit (see [`Store`]); `None` stops telling.
    pub fn announce_changes(&self, announcer: Option<Announcer>) {
        *self
            .announcer
            .write()
            .unwrap_or_else(PoisonError::into_inner) = announcer;
    }

    fn announcer(&self) -> Option<Announcer> {
        self.announcer
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Runs `f` as one durable write (see `db`).
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, Failure>,
    ) -> Result<T, Error> {
        Ok(self.db.write(f)?)
    }

    /// Runs `f` as one durable write that changes mailboxes: its changes are announced before
    /// its commit (see [`Store`]).
    pub(crate) fn write_changes<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<Applied<T>, Failure>,
    ) -> Result<Applied<T>, Error> {
        let Some(announcer) = self.announcer() else {
            return self.write(f);
        };
        Ok(self.db.write_announced(
            f,
            |applied| !applied.changes.is_empty(),
            |applied| announcer(&applied.changes),
        )?)
    }

    /// Runs `f` as one write that is committed but not flushed before it returns (see
    /// `Db::write_unflushed`).
    pub(crate) fn write_unflushed<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, Failure>,
    ) -> Result<T, Error> {
        Ok(self.db.write_unflushed(f)?)
    }

    /// Runs `f` in one read transaction, after the commits of the writes announced before it.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, Failure>,
    ) -> Result<T, Error> {
        Ok(self.db.read(f)?)
    }

    /// Runs `f` in one read transaction without waiting for announced writes (see
    /// `Db::read_settled`).
    pub(crate) fn read_settled<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, Failure>,
    ) -> Result<T, Error> {
        Ok(self.db.read_settled(f)?)
    }
}

pub(crate) fn change(row: &MailboxRow, kind: ChangeKind) -> Change {
    changed(row, kind, row.highest_modseq)
}

pub(crate) fn changed(row: &MailboxRow, kind: ChangeKind, modseq: ModSeq) -> Change {
    Change {
        user: UserId::from_raw(row.user),
        mailbox: MailboxId::from_raw(row.id),
        mailbox_name: row.name.clone(),
        kind,
        highest_modseq: modseq,
    }
}

pub(crate) fn check_user(tx: &Connection, user: UserId) -> Result<(), Failure> {
    let exists: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM users WHERE id = ?1)",
        [user.raw()],
        |r| r.get(0),
    )?;
    if exists {
        Ok(())
    } else {
        Err(Error::NoSuchUser.into())
    }
}

pub(crate) fn mailbox_row(row: &Row<'_>) -> Result<MailboxRow, Failure> {
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
) -> Result<Option<MailboxRow>, Failure> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE user_id = ?1 AND name = ?2"
    ))?;
    let mut rows = stmt.query(params![user.raw(), name])?;
    match rows.next()? {
        Some(row) => Ok(Some(mailbox_row(row)?)),
        None => Ok(None),
    }
}

pub(crate) fn load_mailbox(tx: &Connection, id: i64) -> Result<MailboxRow, Failure> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE id = ?1"
    ))?;
    let mut rows = stmt.query([id])?;
    match rows.next()? {
        Some(row) => mailbox_row(row),
        None => Err(Error::NoSuchMailbox(format!("#{id}")).into()),
    }
}

pub(crate) fn insert_mailbox(
    tx: &Connection,
    user: i64,
    name: &str,
) -> Result<MailboxRow, Failure> {
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
