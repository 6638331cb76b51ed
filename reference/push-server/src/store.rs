//! Durable state: devices, their rings, and the router record of which node holds a device's
//! session. The trait is shaped so that a shared backend (Redis) can implement it for several
//! nodes: everything is keyed by device token and every ring change is one atomic `apply`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;

use mailpush_push_proto::ring::{Held, Removal, RingEffects, RingMeta, Topic};
use mailpush_push_proto::{NotificationId, Payload, Timestamp};
use mailpush_sqlite_writer::{GroupCommit, Queue, Readers, WriteError};
use rusqlite::{Connection, OptionalExtension, params};

/// Store failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The SQLite backend failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored row does not hold a valid value.
    #[error("corrupt stored value: {0}")]
    Corrupt(&'static str),
    /// The device already exists.
    #[error("device exists")]
    Exists,
    /// A batch could not be committed.
    #[error("commit failed: {0}")]
    Commit(String),
    /// The writer thread is gone.
    #[error("store writer stopped")]
    WriterGone,
    /// A lock was poisoned by a panic elsewhere.
    #[error("store lock poisoned")]
    Poisoned,
    /// An earlier queued ring change of the same device failed, so this one, computed over it,
    /// was not applied.
    #[error("an earlier change of this device failed")]
    Abandoned,
}

/// A registered (or unregistered) device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRecord {
    /// The device token (64 lowercase hex).
    pub token: String,
    /// SHA-256 of the secret, lowercase hex.
    pub secret_hash: String,
    /// When it was registered.
    pub created_at: Timestamp,
    /// When it was unregistered, if it was.
    pub unregistered_at: Option<Timestamp>,
}

/// Persistence for the push server.
pub trait Store: Send + Sync + 'static {
    /// True when calls block on I/O, so async callers should move them off the reactor.
    fn is_blocking(&self) -> bool;
    /// Adds a device.
    fn create_device(&self, device: &DeviceRecord) -> Result<(), StoreError>;
    /// Looks a device up, unregistered ones included.
    fn device(&self, token: &str) -> Result<Option<DeviceRecord>, StoreError>;
    /// Number of registered (not unregistered) devices.
    fn active_device_count(&self) -> Result<u64, StoreError>;
    /// Marks a device unregistered and deletes its ring.
    fn unregister(&self, token: &str, at: Timestamp) -> Result<(), StoreError>;
    /// A device's ring.
    fn load_ring(&self, token: &str) -> Result<(RingMeta, Vec<Held>), StoreError>;
    /// Applies one ring change atomically and durably.
    fn apply(&self, token: &str, meta: &RingMeta, effects: &RingEffects) -> Result<(), StoreError>;
    /// Queues one ring change without blocking; the returned [`PendingWrite`] resolves once it
    /// is durable. Changes submitted one after another are applied in that order. The default
    /// applies it at once, for stores whose `apply` does not block.
    fn submit(&self, token: &str, meta: RingMeta, effects: RingEffects) -> PendingWrite {
        PendingWrite::ready(self.apply(token, &meta, &effects))
    }
    /// Once a queued ring change of a device fails, a store that queues changes fails every
    /// ring change of that device queued after it with [`StoreError::Abandoned`] (each was
    /// computed over the failed one) until this is queued; it resolves once every change queued
    /// before it has been settled, so that the ring read next is the one the store holds. The
    /// default does nothing, for stores that apply each change before `submit` returns.
    fn reset(&self, token: &str) -> PendingWrite {
        let _ = token;
        PendingWrite::ready(Ok(()))
    }
    /// Records which node holds the device's session.
    fn set_route(&self, token: &str, node: Option<&str>) -> Result<(), StoreError>;
    /// Which node holds the device's session.
    fn route(&self, token: &str) -> Result<Option<String>, StoreError>;
}

/// A ring change handed to [`Store::submit`], until it is durable.
#[derive(Debug)]
pub struct PendingWrite(Pending);

#[derive(Debug)]
enum Pending {
    Ready(Result<(), StoreError>),
    Queued(tokio::sync::oneshot::Receiver<Result<(), StoreError>>),
}

impl PendingWrite {
    /// A change whose outcome is already known.
    pub fn ready(result: Result<(), StoreError>) -> Self {
        Self(Pending::Ready(result))
    }

    /// A change that completes elsewhere (a writer thread, a remote backend), which reports
    /// its outcome through `outcome`; a dropped sender reads as [`StoreError::WriterGone`].
    pub fn queued(outcome: tokio::sync::oneshot::Receiver<Result<(), StoreError>>) -> Self {
        Self(Pending::Queued(outcome))
    }

    /// Whether the change is already known to be durable (a store that writes synchronously,
    /// such as the memory store), so that the caller need not wait for it.
    pub fn is_durable(&self) -> bool {
        matches!(self.0, Pending::Ready(Ok(())))
    }

    /// Waits until the change is durable, or failed.
    pub async fn durable(self) -> Result<(), StoreError> {
        match self.0 {
            Pending::Ready(result) => result,
            Pending::Queued(outcome) => outcome.await.map_err(|_| StoreError::WriterGone)?,
        }
    }
}

#[derive(Default)]
struct MemoryDevice {
    record: Option<DeviceRecord>,
    meta: RingMeta,
    held: BTreeMap<u64, Held>,
    route: Option<String>,
}

/// A store in memory, for tests and benchmarks. Loses everything on exit.
#[derive(Default)]
pub struct MemoryStore {
    devices: Mutex<HashMap<String, MemoryDevice>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Store for MemoryStore {
    fn is_blocking(&self) -> bool {
        false
    }

    fn create_device(&self, device: &DeviceRecord) -> Result<(), StoreError> {
        let mut devices = self.devices.lock().map_err(|_| StoreError::Poisoned)?;
        let entry = devices.entry(device.token.clone()).or_default();
        if entry.record.is_some() {
            return Err(StoreError::Exists);
        }
        entry.record = Some(device.clone());
        Ok(())
    }

    fn device(&self, token: &str) -> Result<Option<DeviceRecord>, StoreError> {
        let devices = self.devices.lock().map_err(|_| StoreError::Poisoned)?;
        Ok(devices.get(token).and_then(|d| d.record.clone()))
    }

    fn active_device_count(&self) -> Result<u64, StoreError> {
        let devices = self.devices.lock().map_err(|_| StoreError::Poisoned)?;
        Ok(devices
            .values()
            .filter(|d| {
                d.record
                    .as_ref()
                    .is_some_and(|r| r.unregistered_at.is_none())
            })
            .count() as u64)
    }

    fn unregister(&self, token: &str, at: Timestamp) -> Result<(), StoreError> {
        let mut devices = self.devices.lock().map_err(|_| StoreError::Poisoned)?;
        if let Some(device) = devices.get_mut(token) {
            if let Some(record) = &mut device.record {
                record.unregistered_at = Some(at);
            }
            device.held.clear();
        }
        Ok(())
    }

    fn load_ring(&self, token: &str) -> Result<(RingMeta, Vec<Held>), StoreError> {
        let devices = self.devices.lock().map_err(|_| StoreError::Poisoned)?;
        Ok(devices
            .get(token)
            .map(|d| (d.meta, d.held.values().cloned().collect()))
            .unwrap_or_default())
    }

    fn apply(&self, token: &str, meta: &RingMeta, effects: &RingEffects) -> Result<(), StoreError> {
        let mut devices = self.devices.lock().map_err(|_| StoreError::Poisoned)?;
        let device = devices.entry(token.to_owned()).or_default();
        for held in &effects.inserted {
            device.held.insert(held.id.get(), held.clone());
        }
        for (id, _) in &effects.removed {
            device.held.remove(&id.get());
        }
        device.meta = *meta;
        Ok(())
    }

    fn set_route(&self, token: &str, node: Option<&str>) -> Result<(), StoreError> {
        let mut devices = self.devices.lock().map_err(|_| StoreError::Poisoned)?;
        devices.entry(token.to_owned()).or_default().route = node.map(str::to_owned);
        Ok(())
    }

    fn route(&self, token: &str) -> Result<Option<String>, StoreError> {
        let devices = self.devices.lock().map_err(|_| StoreError::Poisoned)?;
        Ok(devices.get(token).and_then(|d| d.route.clone()))
    }
}

/// The embedded durable store: SQLite in WAL mode with `synchronous = FULL`, so a committed
/// change survives a crash of the process or the machine.
///
/// Writes go to the shared group-commit writer (`mailpush-sqlite-writer`) through its queue
/// thread, which commits whatever is queued in a single transaction: each caller still learns of
/// its change only once it is durable, but concurrent pushes share one fsync. Ring changes,
/// nearly all of the writes, answer through a oneshot channel an async caller awaits, so a push
/// costs no blocking-pool thread. Every change runs in a savepoint of its own, so that one
/// failing change fails alone; a ring change carries its device token as the writer's key, so
/// the later queued changes of a device whose change failed are abandoned. Reads use a pool of
/// connections.
pub struct SqliteStore {
    readers: Readers,
    writer: Queue<StoreError>,
}

impl From<WriteError<StoreError>> for StoreError {
    fn from(error: WriteError<StoreError>) -> Self {
        match error {
            WriteError::Failed(error) => error,
            WriteError::Sqlite(error) => StoreError::Sqlite(error),
            WriteError::Commit(why) => StoreError::Commit(why),
            WriteError::Abandoned => StoreError::Abandoned,
            _ => StoreError::WriterGone,
        }
    }
}

/// Most changes committed together.
const MAX_BATCH: usize = 1024;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS devices (
    token TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    unregistered_at INTEGER,
    last_id INTEGER NOT NULL DEFAULT 0,
    cursor INTEGER NOT NULL DEFAULT 0,
    mark INTEGER NOT NULL DEFAULT 0,
    dropped INTEGER NOT NULL DEFAULT 0,
    expired INTEGER NOT NULL DEFAULT 0,
    replaced INTEGER NOT NULL DEFAULT 0,
    route TEXT
);
CREATE TABLE IF NOT EXISTS notifications (
    token TEXT NOT NULL,
    id INTEGER NOT NULL,
    expires_at INTEGER,
    topic TEXT,
    payload BLOB NOT NULL,
    PRIMARY KEY (token, id)
) WITHOUT ROWID;
";

/// SQLite integers are signed: a `u64` is stored as its bit pattern and read back unchanged.
/// Ids, cursors and times stay far below 2^63 (an id per notification, milliseconds since
/// 1970), so comparisons inside SQL (`id <= cursor`) order them as unsigned numbers would;
/// only the counters may reach the top (they saturate), and they are never compared.
fn to_sql(value: u64) -> i64 {
    value.cast_signed()
}

fn from_sql(value: i64) -> u64 {
    value.cast_unsigned()
}

/// Page cache bound per connection, in KiB (SQLite's default is 2000). The devices table of a
/// large installation is far bigger than any cache, and a row is read once per `hello`, so a
/// large cache mostly holds rows of idle devices; the operating system's file cache serves the
/// rest.
const CACHE_KIB: i64 = 512;

fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "cache_size", -CACHE_KIB)?;
    //= spec/device-channel.md#RING-8
    //# A server MUST keep the ring, the mark, the last assigned id, the cursor and the
    //# drop count of every device across restarts, crashes included
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(connection)
}

fn apply_ring(
    connection: &Connection,
    token: &str,
    meta: &RingMeta,
    effects: &RingEffects,
) -> Result<(), StoreError> {
    if !effects.inserted.is_empty() {
        let mut insert = connection.prepare_cached(
            "INSERT OR REPLACE INTO notifications (token, id, expires_at, topic, payload) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for held in &effects.inserted {
            insert.execute(params![
                token,
                to_sql(held.id.get()),
                held.expires_at.map(|t| to_sql(t.0)),
                held.topic.as_ref().map(Topic::as_str),
                held.payload.as_bytes(),
            ])?;
        }
    }
    // An acknowledgement removes every id at or below the cursor (CHAN-14: acks are
    // cumulative), so one range delete replaces a delete per id; rows at or below the cursor
    // are never loaded again anyway.
    if effects
        .removed
        .iter()
        .any(|(_, why)| *why == Removal::Acked)
    {
        connection
            .prepare_cached("DELETE FROM notifications WHERE token = ?1 AND id <= ?2")?
            .execute(params![token, to_sql(meta.cursor)])?;
    }
    let mut others = effects
        .removed
        .iter()
        .filter(|(_, why)| *why != Removal::Acked)
        .peekable();
    if others.peek().is_some() {
        let mut delete =
            connection.prepare_cached("DELETE FROM notifications WHERE token = ?1 AND id = ?2")?;
        for (id, _) in others {
            delete.execute(params![token, to_sql(id.get())])?;
        }
    }
    connection
        .prepare_cached(
            "UPDATE devices SET last_id = ?2, cursor = ?3, mark = ?4, dropped = ?5, expired = ?6, replaced = ?7 WHERE token = ?1",
        )?
        .execute(params![
            token,
            to_sql(meta.last_id),
            to_sql(meta.cursor),
            i64::from(meta.mark),
            to_sql(meta.dropped),
            to_sql(meta.expired),
            to_sql(meta.replaced),
        ])?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and starts its writer thread.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let write_connection = open_connection(path)?;
        write_connection.execute_batch(SCHEMA)?;
        let writer = Queue::start(
            GroupCommit::new(write_connection),
            "mailpush-sqlite-writer",
            MAX_BATCH,
        )
        .map_err(|e| StoreError::Commit(e.to_string()))?;
        Ok(Self {
            readers: Readers::new(path.to_owned(), open_connection),
            writer,
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.readers.read(f)
    }

    /// Queues a change (of device `key`, for a ring change) and waits until it is committed
    /// durably.
    fn write(
        &self,
        key: Option<&str>,
        op: impl FnOnce(&Connection) -> Result<(), StoreError> + Send + 'static,
    ) -> Result<(), StoreError> {
        let (done, outcome) = std::sync::mpsc::sync_channel(1);
        self.writer
            .write(key.map(str::to_owned), op, move |result| {
                // A caller that gave up waiting no longer needs the outcome.
                let _ = done.send(result);
            });
        outcome.recv().map_err(|_| StoreError::WriterGone)??;
        Ok(())
    }

    /// Queues a ring change; the returned write resolves once it is durable.
    fn queue_ring(&self, token: &str, meta: RingMeta, effects: RingEffects) -> PendingWrite {
        let (done, outcome) = tokio::sync::oneshot::channel();
        let owned = token.to_owned();
        self.writer.write(
            Some(token.to_owned()),
            move |c| apply_ring(c, &owned, &meta, &effects),
            move |result| {
                let _ = done.send(result.map_err(StoreError::from));
            },
        );
        PendingWrite::queued(outcome)
    }
}

impl Store for SqliteStore {
    fn is_blocking(&self) -> bool {
        true
    }

    fn create_device(&self, device: &DeviceRecord) -> Result<(), StoreError> {
        let device = device.clone();
        self.write(None, move |c| {
            let inserted = c.execute(
                "INSERT OR IGNORE INTO devices (token, secret_hash, created_at) VALUES (?1, ?2, ?3)",
                params![device.token, device.secret_hash, to_sql(device.created_at.0)],
            )?;
            if inserted == 0 {
                return Err(StoreError::Exists);
            }
            Ok(())
        })
    }

    fn device(&self, token: &str) -> Result<Option<DeviceRecord>, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT token, secret_hash, created_at, unregistered_at FROM devices WHERE token = ?1",
                params![token],
                |row| {
                    Ok(DeviceRecord {
                        token: row.get(0)?,
                        secret_hash: row.get(1)?,
                        created_at: Timestamp(from_sql(row.get(2)?)),
                        unregistered_at: row.get::<_, Option<i64>>(3)?.map(|t| Timestamp(from_sql(t))),
                    })
                },
            )
            .optional()?)
        })
    }

    fn active_device_count(&self) -> Result<u64, StoreError> {
        self.with(|c| {
            let count: i64 = c.query_row(
                "SELECT COUNT(*) FROM devices WHERE unregistered_at IS NULL",
                [],
                |row| row.get(0),
            )?;
            Ok(from_sql(count))
        })
    }

    fn unregister(&self, token: &str, at: Timestamp) -> Result<(), StoreError> {
        let token = token.to_owned();
        self.write(None, move |c| {
            c.execute(
                "UPDATE devices SET unregistered_at = ?2 WHERE token = ?1",
                params![token, to_sql(at.0)],
            )?;
            c.execute("DELETE FROM notifications WHERE token = ?1", params![token])?;
            Ok(())
        })
    }

    fn load_ring(&self, token: &str) -> Result<(RingMeta, Vec<Held>), StoreError> {
        self.with(|c| {
            let meta = c
                .query_row(
                    "SELECT last_id, cursor, mark, dropped, expired, replaced FROM devices WHERE token = ?1",
                    params![token],
                    |row| {
                        Ok(RingMeta {
                            last_id: from_sql(row.get(0)?),
                            cursor: from_sql(row.get(1)?),
                            mark: row.get::<_, i64>(2)? != 0,
                            dropped: from_sql(row.get(3)?),
                            expired: from_sql(row.get(4)?),
                            replaced: from_sql(row.get(5)?),
                        })
                    },
                )
                .optional()?
                .unwrap_or_default();
            let mut statement = c.prepare_cached(
                "SELECT id, expires_at, topic, payload FROM notifications WHERE token = ?1 ORDER BY id",
            )?;
            let rows = statement.query_map(params![token], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, Option<i64>>(1)?,
                    row.get::<_, Option<String>>(2)?,
                    row.get::<_, Vec<u8>>(3)?,
                ))
            })?;
            let mut held = Vec::new();
            for row in rows {
                let (id, expires_at, topic, payload) = row?;
                held.push(Held {
                    id: NotificationId::new(from_sql(id)).ok_or(StoreError::Corrupt("id 0"))?,
                    expires_at: expires_at.map(|t| Timestamp(from_sql(t))),
                    topic: topic
                        .map(Topic::new)
                        .transpose()
                        .map_err(|_| StoreError::Corrupt("topic"))?,
                    payload: Payload::new(payload).map_err(|_| StoreError::Corrupt("payload"))?,
                });
            }
            Ok((meta, held))
        })
    }

    fn apply(&self, token: &str, meta: &RingMeta, effects: &RingEffects) -> Result<(), StoreError> {
        let owned = token.to_owned();
        let (meta, effects) = (*meta, effects.clone());
        self.write(Some(token), move |c| apply_ring(c, &owned, &meta, &effects))
    }

    fn submit(&self, token: &str, meta: RingMeta, effects: RingEffects) -> PendingWrite {
        self.queue_ring(token, meta, effects)
    }

    fn reset(&self, token: &str) -> PendingWrite {
        let (done, outcome) = tokio::sync::oneshot::channel();
        self.writer.reset(token.to_owned(), move |result| {
            let _ = done.send(result.map_err(StoreError::from));
        });
        PendingWrite::queued(outcome)
    }

    fn set_route(&self, token: &str, node: Option<&str>) -> Result<(), StoreError> {
        let token = token.to_owned();
        let node = node.map(str::to_owned);
        self.write(None, move |c| {
            c.execute(
                "UPDATE devices SET route = ?2 WHERE token = ?1",
                params![token, node],
            )?;
            Ok(())
        })
    }

    fn route(&self, token: &str) -> Result<Option<String>, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT route FROM devices WHERE token = ?1",
                params![token],
                |row| row.get::<_, Option<String>>(0),
            )
            .optional()?
            .flatten())
        })
    }
}
