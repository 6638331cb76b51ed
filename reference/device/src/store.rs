//! The daemon's durable state in one SQLite database: the mail client's records (token table,
//! next serial, device credentials, channel cursor) and, per account and monitored mailbox, the
//! DA's view and message contents.
//!
//! Every write the cores ask for is one transaction, so a process killed at any point finds
//! either the state before a write or the state after it:
//!
//! * a mail-client batch (`PersistBatch`) is applied whole (LOCAL-18, LOCAL-24);
//! * a completed sync's `ViewUpdate` is committed whole, messages with their HIGHESTMODSEQ,
//!   UIDNEXT and count (SYNC-7); content written before the commit is invisible until a
//!   committed message references it (SYNC-13), and unreferenced content is deleted at open.
//!
//! The mail client's records are flushed to disk before a write returns (`synchronous=FULL`);
//! the DA's view writes are not (`synchronous=NORMAL`, SYNC-24): a crash of the machine may set
//! the views back to an earlier commit, whole, and the sync of every mailbox at start (LOCAL-14)
//! brings them up to date. The WAL is written in order, so a flushed record also carries every
//! view write before it to disk.

use std::num::NonZeroU32;
use std::path::Path;

use mailpush_device_core::da::{Flags, MailboxView, MessageContent, MessageMeta, ViewUpdate};
use mailpush_device_core::mail_client::{
    DeviceCredentials, MailboxName, Record, Restored, TokenEntry,
};
use mailpush_device_core::{AccountId, Token};
use mailpush_imap::{Flag, Mailbox};
use mailpush_push_proto::Credential;
use rusqlite::{Connection, OptionalExtension, params};

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed (the file, the disk, a constraint).
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored value cannot be right (the file was changed by something else, or is corrupt).
    #[error("corrupt database: {0}")]
    Corrupt(String),
    /// A value too large for the database's integers.
    #[error("a value is out of the database's range: {0}")]
    Range(&'static str),
}

/// One message of a committed view, for applications.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    /// Its UID.
    pub uid: u32,
    /// Its flags, as IMAP spells them.
    pub flags: Vec<String>,
    /// Its mod-sequence, when known.
    pub modseq: Option<u64>,
    /// Its content length, `None` when it was too large to keep (SYNC-14).
    pub octets: Option<u64>,
    /// For a message too large to keep, the length of its header section when that was kept
    /// (SYNC-14).
    pub header_octets: Option<u64>,
}

/// The state of a mailbox besides its messages, for status reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxSummary {
    /// The mailbox.
    pub mailbox: Mailbox,
    /// UIDVALIDITY, once synchronized.
    pub uid_validity: Option<u32>,
    /// HIGHESTMODSEQ of the last sync (none after a plain sync).
    pub highest_modseq: Option<u64>,
    /// UIDNEXT of the last sync.
    pub uid_next: Option<u32>,
    /// Message count of the last sync.
    pub count: Option<u32>,
    /// When the last sync completed (milliseconds since the epoch).
    pub synced_at: Option<u64>,
    /// Messages in the view.
    pub messages: u64,
}

/// The database.
#[derive(Debug)]
pub struct Store {
    db: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY, account TEXT NOT NULL, mailbox BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS mailboxes (
    account TEXT NOT NULL, mailbox BLOB NOT NULL,
    uid_validity INTEGER, highest_modseq INTEGER, uid_next INTEGER, count INTEGER,
    synced_at INTEGER,
    PRIMARY KEY (account, mailbox));
CREATE TABLE IF NOT EXISTS messages (
    account TEXT NOT NULL, mailbox BLOB NOT NULL, uid INTEGER NOT NULL,
    flags TEXT NOT NULL, modseq INTEGER, too_large INTEGER NOT NULL,
    PRIMARY KEY (account, mailbox, uid));
CREATE TABLE IF NOT EXISTS contents (
    account TEXT NOT NULL, mailbox BLOB NOT NULL, uid_validity INTEGER NOT NULL,
    uid INTEGER NOT NULL, octets BLOB NOT NULL,
    PRIMARY KEY (account, mailbox, uid_validity, uid));
CREATE TABLE IF NOT EXISTS monitoring (
    account TEXT NOT NULL, mailbox BLOB NOT NULL, monitored INTEGER NOT NULL,
    PRIMARY KEY (account, mailbox));
";

fn sql_u64(v: u64, what: &'static str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Range(what))
}

fn from_sql_u64(v: Option<i64>, what: &str) -> Result<Option<u64>, StoreError> {
    v.map(|v| u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative {what}"))))
        .transpose()
}

fn from_sql_nz(v: Option<i64>, what: &str) -> Result<Option<NonZeroU32>, StoreError> {
    v.map(|v| {
        u32::try_from(v)
            .ok()
            .and_then(NonZeroU32::new)
            .ok_or_else(|| StoreError::Corrupt(format!("{what} {v} is not 1 to 2^32-1")))
    })
    .transpose()
}

fn flags_text(flags: &Flags) -> String {
    flags
        .as_slice()
        .iter()
        .map(|f| f.as_str().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn flags_of(text: &str) -> Result<Flags, StoreError> {
    let flags = text
        .split(' ')
        .filter(|f| !f.is_empty())
        .map(|f| Flag::new(f).map_err(|e| StoreError::Corrupt(format!("flag {f:?}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Flags::new(flags))
}

/// `synchronous` of every write but the DA's view writes: flushed before it returns.
const FLUSHED: &str = "FULL";
/// `synchronous` of the DA's view writes: committed in order, flushed by a later flushed write
/// or a checkpoint.
const UNFLUSHED: &str = "NORMAL";

fn meta_get(db: &Connection, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(db
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

fn meta_put(db: &Connection, key: &str, value: &[u8]) -> Result<(), StoreError> {
    db.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

fn text(value: Vec<u8>, what: &str) -> Result<String, StoreError> {
    String::from_utf8(value).map_err(|_| StoreError::Corrupt(format!("{what} is not UTF-8")))
}

/// A number kept in `meta` as decimal text (0 when absent).
fn meta_u64(db: &Connection, key: &str) -> Result<u64, StoreError> {
    match meta_get(db, key)? {
        Some(v) => text(v, key)?
            .parse()
            .map_err(|_| StoreError::Corrupt(key.into())),
        None => Ok(0),
    }
}

/// How long a connection waits for the other one's transaction before it fails: the two
/// connections of the daemon (the loop's and the record writer's) take the database's write
/// lock in turn.
const BUSY_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Waits between two tries for the write lock. SQLite's own busy timeout sleeps 1 ms and more
/// between tries, longer than the other connection usually holds the lock (one flush).
const BUSY_POLL: std::time::Duration = std::time::Duration::from_micros(20);

/// SQLite's busy handler of both connections: polls every [`BUSY_POLL`] until [`BUSY_LIMIT`].
fn wait_for_lock(tries: i32) -> bool {
    let limit = BUSY_LIMIT.as_micros() / BUSY_POLL.as_micros().max(1);
    if u128::try_from(tries).unwrap_or(u128::MAX) >= limit {
        return false;
    }
    std::thread::sleep(BUSY_POLL);
    true
}

/// A connection to the daemon's database in WAL mode with FULL sync: every committed
/// transaction survives a crash of the process and of the machine, unless it is a view write
/// (`Store::unflushed`).
fn connect(path: &Path) -> Result<Connection, StoreError> {
    let db = Connection::open(path)?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.pragma_update(None, "synchronous", FLUSHED)?;
    db.busy_handler(Some(wait_for_lock))?;
    Ok(db)
}

/// The connection that stores the mail client's records ([`apply_records`]) beside the loop's
/// [`Store`], so that their flushes do not hold up the loop; open it after [`Store::open`],
/// which creates the schema.
pub fn record_writer(path: &Path) -> Result<Connection, StoreError> {
    connect(path)
}

/// Writes one batch of the mail client's records on `db`, inside the caller's transaction (or
/// savepoint), so that the batch is stored whole or not at all.
pub fn apply_records(db: &Connection, records: &[Record]) -> Result<(), StoreError> {
    for record in records {
        match record {
            Record::TokenAdded(entry) => {
                db.execute(
                    "INSERT INTO tokens (token, account, mailbox) VALUES (?1, ?2, ?3)",
                    params![
                        entry.token.as_str(),
                        entry.account.as_str(),
                        entry.mailbox.as_bytes()
                    ],
                )?;
            }
            Record::TokenRemoved(token) => {
                db.execute("DELETE FROM tokens WHERE token = ?1", [token.as_str()])?;
            }
            Record::NextSerial(n) => meta_put(db, "next_serial", n.to_string().as_bytes())?,
            Record::Device(credentials) => {
                meta_put(db, "device_token", credentials.token.as_str().as_bytes())?;
                meta_put(db, "device_secret", credentials.secret.as_str().as_bytes())?;
                meta_put(db, "cursor", b"0")?;
            }
            Record::Cursor(c) => meta_put(db, "cursor", c.to_string().as_bytes())?,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "the mail client asked to store an unknown record {other:?}"
                )));
            }
        }
    }
    Ok(())
}

impl Store {
    /// Opens (or creates) the database and deletes content no committed view references.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = connect(path)?;
        db.execute_batch(SCHEMA)?;
        //= spec/sync.md#SYNC-13
        //# content that no published view references is discarded.
        db.execute(
            "DELETE FROM contents WHERE NOT EXISTS (
                 SELECT 1 FROM messages m JOIN mailboxes b
                   ON b.account = m.account AND b.mailbox = m.mailbox
                 WHERE m.account = contents.account AND m.mailbox = contents.mailbox
                   AND m.uid = contents.uid AND b.uid_validity = contents.uid_validity)",
            [],
        )?;
        Ok(Self { db })
    }

    /// What the mail client stored, for `MailClient::new`.
    pub fn restored(&self) -> Result<Restored, StoreError> {
        let mut tokens = Vec::new();
        let mut stmt = self
            .db
            .prepare("SELECT token, account, mailbox FROM tokens ORDER BY rowid")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })?;
        for row in rows {
            let (token, account, mailbox) = row?;
            tokens.push(TokenEntry {
                token: Token::new(token).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                account: AccountId::new(account).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                mailbox: MailboxName::new(mailbox)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            });
        }
        let next_serial = match meta_get(&self.db, "next_serial")? {
            Some(v) => text(v, "next_serial")?
                .parse()
                .map_err(|_| StoreError::Corrupt("next_serial".into()))?,
            None => 0,
        };
        let device = match (
            meta_get(&self.db, "device_token")?,
            meta_get(&self.db, "device_secret")?,
        ) {
            (Some(token), Some(secret)) => {
                let credential = |v: Vec<u8>, what: &str| {
                    Credential::new(text(v, what)?)
                        .map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
                };
                Some((
                    DeviceCredentials {
                        token: credential(token, "device_token")?,
                        secret: credential(secret, "device_secret")?,
                    },
                    self.cursor()?,
                ))
            }
            _ => None,
        };
        Ok(Restored {
            tokens,
            next_serial,
            device,
        })
    }

    /// The stored device-channel cursor (0 when none).
    pub fn cursor(&self) -> Result<u64, StoreError> {
        meta_u64(&self.db, "cursor")
    }

    /// The view version: a number that grows by one with every committed sync that changed a
    /// view of this device (0 before the first).
    pub fn view_version(&self) -> Result<u64, StoreError> {
        meta_u64(&self.db, "view_version")
    }

    /// The mailboxes applications asked to monitor (`true`) or not to monitor (`false`),
    /// which override the configuration of the account.
    pub fn monitoring(&self, account: &AccountId) -> Result<Vec<(Mailbox, bool)>, StoreError> {
        let mut stmt = self
            .db
            .prepare("SELECT mailbox, monitored FROM monitoring WHERE account = ?1")?;
        let rows = stmt.query_map([account.as_str()], |r| {
            Ok((Mailbox::from_wire(r.get::<_, Vec<u8>>(0)?), r.get(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records that an application asked to monitor a mailbox, or to stop.
    pub fn set_monitoring(
        &mut self,
        account: &AccountId,
        mailbox: &Mailbox,
        monitored: bool,
    ) -> Result<(), StoreError> {
        self.db.execute(
            "INSERT INTO monitoring (account, mailbox, monitored) VALUES (?1, ?2, ?3)
             ON CONFLICT (account, mailbox) DO UPDATE SET monitored = excluded.monitored",
            params![account.as_str(), mailbox.as_wire(), monitored],
        )?;
        Ok(())
    }

    /// Applies one batch of the mail client in one transaction.
    pub fn apply(&mut self, records: &[Record]) -> Result<(), StoreError> {
        let tx = self.db.transaction()?;
        apply_records(&tx, records)?;
        tx.commit()?;
        Ok(())
    }

    /// The stored views of an account (without contents), for `Engine::new`.
    pub fn views(&self, account: &AccountId) -> Result<Vec<MailboxView>, StoreError> {
        let mut stmt = self
            .db
            .prepare("SELECT mailbox FROM mailboxes WHERE account = ?1 ORDER BY mailbox")?;
        let names = stmt
            .query_map([account.as_str()], |r| r.get::<_, Vec<u8>>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        names
            .into_iter()
            .map(|n| self.view(account, &Mailbox::from_wire(n)))
            .collect()
    }

    /// The stored view of one mailbox (an empty one when none is stored).
    pub fn view(&self, account: &AccountId, mailbox: &Mailbox) -> Result<MailboxView, StoreError> {
        let mut view = MailboxView::empty(mailbox.clone());
        let row = self
            .db
            .query_row(
                "SELECT uid_validity, highest_modseq, uid_next, count FROM mailboxes
                 WHERE account = ?1 AND mailbox = ?2",
                params![account.as_str(), mailbox.as_wire()],
                |r| {
                    Ok((
                        r.get::<_, Option<i64>>(0)?,
                        r.get::<_, Option<i64>>(1)?,
                        r.get::<_, Option<i64>>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                    ))
                },
            )
            .optional()?;
        let Some((validity, modseq, next, count)) = row else {
            return Ok(view);
        };
        view.uid_validity = from_sql_nz(validity, "UIDVALIDITY")?;
        view.highest_modseq = from_sql_u64(modseq, "HIGHESTMODSEQ")?;
        view.uid_next = from_sql_nz(next, "UIDNEXT")?;
        view.count = count
            .map(|c| u32::try_from(c).map_err(|_| StoreError::Corrupt("count".into())))
            .transpose()?;
        let mut stmt = self.db.prepare(
            "SELECT uid, flags, modseq FROM messages WHERE account = ?1 AND mailbox = ?2",
        )?;
        let rows = stmt.query_map(params![account.as_str(), mailbox.as_wire()], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<i64>>(2)?,
            ))
        })?;
        for row in rows {
            let (uid, flags, modseq) = row?;
            let uid =
                from_sql_nz(Some(uid), "UID")?.ok_or_else(|| StoreError::Corrupt("UID".into()))?;
            view.messages.insert(
                uid,
                MessageMeta {
                    flags: flags_of(&flags)?,
                    modseq: from_sql_u64(modseq, "MODSEQ")?,
                },
            );
        }
        Ok(view)
    }

    /// Writes messages' contents as they arrive, in one transaction; invisible until a commit
    /// references them.
    pub fn put_contents(
        &mut self,
        account: &AccountId,
        contents: &[MessageContent],
    ) -> Result<(), StoreError> {
        if contents.is_empty() {
            return Ok(());
        }
        self.unflushed(|db| {
            let tx = db.transaction()?;
            insert_contents(&tx, account, contents)?;
            tx.commit()?;
            Ok(())
        })
    }

    /// The HIGHESTMODSEQ of a mailbox's stored view, without reading the view's messages.
    pub fn highest_modseq(
        &self,
        account: &AccountId,
        mailbox: &Mailbox,
    ) -> Result<Option<u64>, StoreError> {
        let modseq = self
            .db
            .prepare_cached(
                "SELECT highest_modseq FROM mailboxes WHERE account = ?1 AND mailbox = ?2",
            )?
            .query_row(params![account.as_str(), mailbox.as_wire()], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .optional()?
            .flatten();
        from_sql_u64(modseq, "HIGHESTMODSEQ")
    }

    /// Runs `write`, a view write, committed atomically but not flushed to disk before it
    /// returns; every other write of the store stays flushed.
    //= spec/sync.md#SYNC-24
    //# A DA that persists its view MUST make each write of it atomic ([SYNC-7](#SYNC-7)), but
    //# need not make it durable before it goes on
    //= spec/sync.md#SYNC-24
    //# The mail client's records MUST
    //# NOT be weakened with it
    fn unflushed<T>(
        &mut self,
        write: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.db.pragma_update(None, "synchronous", UNFLUSHED)?;
        let result = write(&mut self.db);
        // A store that cannot go back to flushing fails the write rather than weaken the
        // records that follow.
        self.db.pragma_update(None, "synchronous", FLUSHED)?;
        result
    }

    /// Commits a completed sync in one transaction (SYNC-7, SYNC-13), as
    /// `MailboxView::apply` defines it, with the contents that arrived since the last write of
    /// contents: a sync of a few messages is one transaction, not one for its contents and one
    /// for its view.
    pub fn commit(
        &mut self,
        account: &AccountId,
        contents: &[MessageContent],
        update: &ViewUpdate,
        synced_at: u64,
    ) -> Result<(), StoreError> {
        self.unflushed(|db| Self::commit_view(db, account, contents, update, synced_at))
    }

    fn commit_view(
        db: &mut Connection,
        account: &AccountId,
        contents: &[MessageContent],
        update: &ViewUpdate,
        synced_at: u64,
    ) -> Result<(), StoreError> {
        let a = account.as_str();
        let m = update.mailbox.as_wire();
        let tx = db.transaction()?;
        insert_contents(&tx, account, contents)?;
        if update.reset {
            tx.prepare_cached("DELETE FROM messages WHERE account = ?1 AND mailbox = ?2")?
                .execute(params![a, m])?;
            tx.prepare_cached(
                "DELETE FROM contents WHERE account = ?1 AND mailbox = ?2 AND uid_validity <> ?3",
            )?
            .execute(params![a, m, update.uid_validity.get()])?;
        }
        for uid in &update.removed {
            tx.prepare_cached(
                "DELETE FROM messages WHERE account = ?1 AND mailbox = ?2 AND uid = ?3",
            )?
            .execute(params![a, m, uid.get()])?;
            tx.prepare_cached(
                "DELETE FROM contents WHERE account = ?1 AND mailbox = ?2 AND uid = ?3",
            )?
            .execute(params![a, m, uid.get()])?;
        }
        let modseq = |v: Option<u64>| v.map(|v| sql_u64(v, "MODSEQ")).transpose();
        for (uid, meta) in &update.changed {
            tx.prepare_cached(
                "UPDATE messages SET flags = ?4, modseq = ?5
                 WHERE account = ?1 AND mailbox = ?2 AND uid = ?3",
            )?
            .execute(params![
                a,
                m,
                uid.get(),
                flags_text(&meta.flags),
                modseq(meta.modseq)?
            ])?;
        }
        for added in &update.added {
            let too_large = added.content.is_too_large();
            tx.prepare_cached(
                "INSERT OR REPLACE INTO messages (account, mailbox, uid, flags, modseq, too_large)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                a,
                m,
                added.uid.get(),
                flags_text(&added.meta.flags),
                modseq(added.meta.modseq)?,
                too_large
            ])?;
        }
        //= spec/sync.md#SYNC-7
        //# a DA that persists its view MUST
        //# write a new HIGHESTMODSEQ, UIDNEXT and count in the same atomic write as the changes they cover
        tx.prepare_cached(
            "INSERT INTO mailboxes
                 (account, mailbox, uid_validity, highest_modseq, uid_next, count, synced_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (account, mailbox) DO UPDATE SET
                 uid_validity = excluded.uid_validity, highest_modseq = excluded.highest_modseq,
                 uid_next = excluded.uid_next, count = excluded.count,
                 synced_at = excluded.synced_at",
        )?
        .execute(params![
            a,
            m,
            update.uid_validity.get(),
            modseq(update.highest_modseq)?,
            update.uid_next.map(NonZeroU32::get),
            update.count,
            sql_u64(synced_at, "time")?
        ])?;
        if !update.is_empty() {
            let version = meta_u64(&tx, "view_version")? + 1;
            meta_put(&tx, "view_version", version.to_string().as_bytes())?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Deletes the view and content of a mailbox the DA no longer monitors.
    pub fn delete_mailbox(
        &mut self,
        account: &AccountId,
        mailbox: &Mailbox,
    ) -> Result<(), StoreError> {
        let tx = self.db.transaction()?;
        for table in ["messages", "contents", "mailboxes"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE account = ?1 AND mailbox = ?2"),
                params![account.as_str(), mailbox.as_wire()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The stored mailboxes of an account, for status reports.
    pub fn summaries(&self, account: &AccountId) -> Result<Vec<MailboxSummary>, StoreError> {
        let mut stmt = self.db.prepare(
            "SELECT b.mailbox, b.uid_validity, b.highest_modseq, b.uid_next, b.count, b.synced_at,
                    (SELECT COUNT(*) FROM messages m
                      WHERE m.account = b.account AND m.mailbox = b.mailbox)
             FROM mailboxes b WHERE b.account = ?1 ORDER BY b.mailbox",
        )?;
        let rows = stmt.query_map([account.as_str()], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, Option<i64>>(4)?,
                r.get::<_, Option<i64>>(5)?,
                r.get::<_, i64>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (mailbox, validity, modseq, next, count, synced, messages) = row?;
            out.push(MailboxSummary {
                mailbox: Mailbox::from_wire(mailbox),
                uid_validity: from_sql_nz(validity, "UIDVALIDITY")?.map(NonZeroU32::get),
                highest_modseq: from_sql_u64(modseq, "HIGHESTMODSEQ")?,
                uid_next: from_sql_nz(next, "UIDNEXT")?.map(NonZeroU32::get),
                count: count.and_then(|c| u32::try_from(c).ok()),
                synced_at: from_sql_u64(synced, "time")?,
                messages: u64::try_from(messages).unwrap_or(0),
            });
        }
        Ok(out)
    }

    /// The committed messages of a mailbox, in UID order.
    pub fn messages(
        &self,
        account: &AccountId,
        mailbox: &Mailbox,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let mut stmt = self.db.prepare(
            "SELECT m.uid, m.flags, m.modseq, m.too_large, LENGTH(c.octets)
             FROM messages m JOIN mailboxes b ON b.account = m.account AND b.mailbox = m.mailbox
             LEFT JOIN contents c ON c.account = m.account AND c.mailbox = m.mailbox
                  AND c.uid = m.uid AND c.uid_validity = b.uid_validity
             WHERE m.account = ?1 AND m.mailbox = ?2 ORDER BY m.uid",
        )?;
        let rows = stmt.query_map(params![account.as_str(), mailbox.as_wire()], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, bool>(3)?,
                r.get::<_, Option<i64>>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (uid, flags, modseq, too_large, length) = row?;
            out.push(StoredMessage {
                uid: u32::try_from(uid).map_err(|_| StoreError::Corrupt("UID".into()))?,
                flags: flags
                    .split(' ')
                    .filter(|f| !f.is_empty())
                    .map(str::to_owned)
                    .collect(),
                modseq: from_sql_u64(modseq, "MODSEQ")?,
                octets: if too_large {
                    None
                } else {
                    from_sql_u64(length, "length")?
                },
                header_octets: if too_large {
                    from_sql_u64(length, "length")?
                } else {
                    None
                },
            });
        }
        Ok(out)
    }

    /// The committed content of one message (`None`: no such message, or kept without content).
    pub fn content(
        &self,
        account: &AccountId,
        mailbox: &Mailbox,
        uid: u32,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.kept(account, mailbox, uid, false)
    }

    /// The header section kept of a message too large to keep whole (`None`: no such message,
    /// not too large, or its header was not kept either; SYNC-14).
    pub fn header(
        &self,
        account: &AccountId,
        mailbox: &Mailbox,
        uid: u32,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.kept(account, mailbox, uid, true)
    }

    /// What is kept of a committed message: all of it, or (`too_large`) its header section.
    fn kept(
        &self,
        account: &AccountId,
        mailbox: &Mailbox,
        uid: u32,
        too_large: bool,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT c.octets FROM contents c
                 JOIN mailboxes b ON b.account = c.account AND b.mailbox = c.mailbox
                      AND b.uid_validity = c.uid_validity
                 JOIN messages m ON m.account = c.account AND m.mailbox = c.mailbox
                      AND m.uid = c.uid
                 WHERE c.account = ?1 AND c.mailbox = ?2 AND c.uid = ?3 AND m.too_large = ?4",
                params![account.as_str(), mailbox.as_wire(), uid, too_large],
                |r| r.get(0),
            )
            .optional()?)
    }
}

/// Inserts contents inside the caller's transaction.
fn insert_contents(
    tx: &rusqlite::Transaction<'_>,
    account: &AccountId,
    contents: &[MessageContent],
) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT OR REPLACE INTO contents (account, mailbox, uid_validity, uid, octets)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for content in contents {
        insert.execute(params![
            account.as_str(),
            content.mailbox.as_wire(),
            content.uid_validity.get(),
            content.uid.get(),
            content.octets
        ])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use mailpush_device_core::da::{AddedMessage, ContentState};

    fn level(db: &Connection) -> i64 {
        db.query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap()
    }

    //= spec/sync.md#SYNC-24
    //= type=test
    //# A DA that persists its view MUST make each write of it atomic ([SYNC-7](#SYNC-7)), but
    //# need not make it durable before it goes on
    //= spec/sync.md#SYNC-24
    //= type=test
    //# The mail client's records MUST
    //# NOT be weakened with it
    //= spec/sync.md#SYNC-13
    //= type=test
    //# A sync that does not
    //# complete publishes nothing.
    #[test]
    fn contents_are_committed_with_the_view_that_references_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("device.db")).unwrap();
        let account = AccountId::new("A1".to_owned()).unwrap();
        let mailbox = Mailbox::from("Notes");
        let validity = NonZeroU32::new(7).unwrap();
        let content = |uid: u32, text: &str| MessageContent {
            mailbox: mailbox.clone(),
            uid_validity: validity,
            uid: NonZeroU32::new(uid).unwrap(),
            octets: text.as_bytes().to_vec(),
        };
        let added = |uid: u32| AddedMessage {
            uid: NonZeroU32::new(uid).unwrap(),
            meta: MessageMeta {
                flags: Flags::new([]),
                modseq: Some(5),
            },
            content: ContentState::Downloaded { octets: 5 },
        };
        // Content 2 was written alone, in an earlier turn of the same sync.
        store.put_contents(&account, &[content(2, "two")]).unwrap();
        assert_eq!(store.highest_modseq(&account, &mailbox).unwrap(), None);
        let update = ViewUpdate {
            mailbox: mailbox.clone(),
            uid_validity: validity,
            reset: true,
            removed: Vec::new(),
            changed: Vec::new(),
            added: vec![added(1), added(2)],
            highest_modseq: Some(5),
            uid_next: NonZeroU32::new(3),
            count: Some(2),
        };
        store
            .commit(&account, &[content(1, "one")], &update, 0)
            .unwrap();
        assert_eq!(
            store.content(&account, &mailbox, 1).unwrap().as_deref(),
            Some(&b"one"[..])
        );
        assert_eq!(
            store.content(&account, &mailbox, 2).unwrap().as_deref(),
            Some(&b"two"[..])
        );
        assert_eq!(store.highest_modseq(&account, &mailbox).unwrap(), Some(5));
        assert_eq!(store.view(&account, &mailbox).unwrap().messages.len(), 2);
        // A commit that fails takes its contents with it.
        let broken = ViewUpdate {
            uid_next: None,
            count: None,
            highest_modseq: Some(u64::MAX),
            added: vec![added(3)],
            ..update
        };
        assert!(
            store
                .commit(&account, &[content(3, "three")], &broken, 0)
                .is_err()
        );
        assert_eq!(store.content(&account, &mailbox, 3).unwrap(), None);
        assert_eq!(store.highest_modseq(&account, &mailbox).unwrap(), Some(5));
    }

    #[test]
    fn view_writes_are_unflushed_and_the_records_stay_flushed() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("device.db")).unwrap();
        // SQLite's levels: NORMAL is 1, FULL is 2.
        assert_eq!(level(&store.db), 2);
        assert_eq!(store.unflushed(|db| Ok(level(db))).unwrap(), 1);
        assert_eq!(level(&store.db), 2);
        // A failed view write leaves the level flushed too.
        let failed = store.unflushed(|db| -> Result<(), StoreError> {
            db.execute("INSERT INTO no_such_table VALUES (1)", [])?;
            Ok(())
        });
        assert!(matches!(failed, Err(StoreError::Sqlite(_))));
        assert_eq!(level(&store.db), 2);
        store.apply(&[Record::Cursor(7)]).unwrap();
        assert_eq!(store.cursor().unwrap(), 7);
        assert_eq!(level(&store.db), 2);
    }

    //= spec/sync.md#SYNC-24
    //= type=test
    //# The mail client's records MUST
    //# NOT be weakened with it
    #[test]
    fn the_record_writer_flushes_and_waits_for_the_loop_s_write_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.db");
        let mut store = Store::open(&path).unwrap();
        let writer = record_writer(&path).unwrap();
        assert_eq!(level(&writer), 2);
        // A view write on the loop's connection leaves the writer's level alone.
        assert_eq!(store.unflushed(|db| Ok(level(db))).unwrap(), 1);
        assert_eq!(level(&writer), 2);
        // The loop holds the write lock, as during a view commit: the writer's batch waits for
        // it instead of failing with SQLITE_BUSY.
        store.db.execute_batch("BEGIN IMMEDIATE").unwrap();
        store
            .db
            .execute("INSERT INTO meta (key, value) VALUES ('probe', x'01')", [])
            .unwrap();
        let batch = std::thread::spawn(move || -> Result<(), StoreError> {
            writer.execute_batch("BEGIN IMMEDIATE")?;
            apply_records(&writer, &[Record::Cursor(9), Record::NextSerial(4)])?;
            writer.execute_batch("COMMIT")?;
            Ok(())
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
        store.db.execute_batch("COMMIT").unwrap();
        batch.join().unwrap().unwrap();
        assert_eq!(store.cursor().unwrap(), 9);
        assert_eq!(store.restored().unwrap().next_serial, 4);
    }
}
