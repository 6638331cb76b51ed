//! The store's connections: one writer that commits concurrent writes together (group commit),
//! and a pool of read connections beside it.
//!
//! A write runs inside a savepoint of the writer's open transaction (the *batch*), then waits
//! until the batch is committed. The first writer of a batch to reach the commit step commits
//! everything the batch holds with one `COMMIT` (one flush of the WAL); writes that arrived
//! meanwhile join the next batch. So a write still returns only once it is durable, but N
//! concurrent writes cost about one flush instead of N. A write that fails rolls back its own
//! savepoint and leaves the rest of its batch alone; a batch that fails to commit fails every
//! write in it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use rusqlite::Connection;

use crate::Error;
use crate::error::Failure;

/// Most idle read connections kept open.
const MAX_IDLE_READERS: usize = 8;

/// How long a connection waits for a lock held by another connection.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

type Outcome = Arc<OnceLock<Result<(), String>>>;

struct Batch {
    outcome: Outcome,
    /// Writes in the batch that succeeded and wait for its commit.
    members: usize,
}

struct Writer {
    conn: Connection,
    batch: Option<Batch>,
}

impl Writer {
    /// Rolls the open batch back and fails every write waiting in it.
    fn abort(&mut self, why: String) {
        if let Some(batch) = self.batch.take() {
            let _ = self.conn.execute_batch("ROLLBACK");
            let _ = batch.outcome.set(Err(why));
        }
    }

    /// Commits the open batch and tells every write waiting in it.
    fn commit(&mut self) {
        let Some(batch) = self.batch.take() else {
            return;
        };
        let result = match self.conn.execute_batch("COMMIT") {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e.to_string())
            }
        };
        let _ = batch.outcome.set(result);
    }
}

struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReaderPool {
    fn take(&self) -> Result<Connection, Failure> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(conn) => Ok(conn),
            None => {
                let conn = Connection::open(&self.path)?;
                conn.pragma_update(None, "query_only", "ON")?;
                conn.busy_timeout(BUSY_TIMEOUT)?;
                Ok(conn)
            }
        }
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
    }
}

/// The connections of one store.
pub(crate) struct Db {
    writer: Mutex<Writer>,
    /// Serializes commits, so that each batch is committed by exactly one of its writes.
    commit: Mutex<()>,
    /// `None` for an in-memory store, which reads through the writer.
    readers: Option<ReaderPool>,
}

/// Runs `f` inside a savepoint of `conn`: its changes are kept when it succeeds and undone when
/// it fails. The outer error is SQLite failing to manage the savepoint itself.
fn in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, Failure>,
) -> Result<Result<T, Failure>, rusqlite::Error> {
    conn.execute_batch("SAVEPOINT op")?;
    match f(conn) {
        Ok(value) => {
            conn.execute_batch("RELEASE op")?;
            Ok(Ok(value))
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO op; RELEASE op")?;
            Ok(Err(e))
        }
    }
}

impl Db {
    /// A store whose writer is `conn` (already prepared); `path` names the file for read
    /// connections, `None` for an in-memory store.
    pub(crate) fn new(conn: Connection, path: Option<PathBuf>) -> Self {
        Self {
            writer: Mutex::new(Writer { conn, batch: None }),
            commit: Mutex::new(()),
            readers: path.map(|path| ReaderPool {
                path,
                idle: Mutex::new(Vec::new()),
            }),
        }
    }

    fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        match self.writer.lock() {
            Ok(guard) => guard,
            Err(poisoned) => {
                let mut guard = poisoned.into_inner();
                // A write panicked half-way: nothing in its batch can be trusted.
                guard.abort("a write in the same batch failed unexpectedly".to_owned());
                self.writer.clear_poison();
                guard
            }
        }
    }

    /// Runs `f` as one write and returns once it is durable (or failed, changing nothing).
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let (value, outcome) = {
            let mut writer = self.lock_writer();
            if writer.batch.is_none() {
                writer.conn.execute_batch("BEGIN IMMEDIATE")?;
                writer.batch = Some(Batch {
                    outcome: Arc::new(OnceLock::new()),
                    members: 0,
                });
            }
            match in_savepoint(&writer.conn, f) {
                Ok(Ok(value)) => match writer.batch.as_mut() {
                    Some(batch) => {
                        batch.members += 1;
                        (value, Arc::clone(&batch.outcome))
                    }
                    None => {
                        return Err(Error::CommitFailed("write batch vanished".to_owned()).into());
                    }
                },
                Ok(Err(e)) => {
                    // Nothing else waits on an empty batch: end it rather than hold it open.
                    if writer.batch.as_ref().is_some_and(|b| b.members == 0) {
                        writer.abort(String::new());
                    }
                    return Err(e);
                }
                Err(e) => {
                    // SQLite lost the transaction (for example after an I/O error or a full
                    // disk): every write of the batch is gone.
                    writer.abort(e.to_string());
                    return Err(e.into());
                }
            }
        };
        let _commit = self.commit.lock().unwrap_or_else(PoisonError::into_inner);
        if outcome.get().is_none() {
            // Unset means nobody committed or aborted it, so it is still the open batch.
            self.lock_writer().commit();
        }
        match outcome.get() {
            Some(Ok(())) => Ok(value),
            Some(Err(why)) => Err(Error::CommitFailed(why.clone()).into()),
            None => Err(Error::CommitFailed("write batch left open".to_owned()).into()),
        }
    }

    /// Runs `f` as one write that is committed (atomic, and visible to every connection) but
    /// not flushed before it returns: the next flushed commit carries it to disk, as the WAL is
    /// written in order. For state whose loss in a crash is harmless. When a batch is open the
    /// write joins it, which costs no flush of its own; otherwise it commits alone with
    /// `synchronous=NORMAL` (SQLite lets the level change only outside a transaction).
    pub(crate) fn write_unflushed<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let writer = self.lock_writer();
        if writer.batch.is_some() {
            drop(writer);
            return self.write(f);
        }
        writer.conn.pragma_update(None, "synchronous", "NORMAL")?;
        let result = (|| {
            writer.conn.execute_batch("BEGIN IMMEDIATE")?;
            match f(&writer.conn) {
                Ok(value) => match writer.conn.execute_batch("COMMIT") {
                    Ok(()) => Ok(value),
                    Err(e) => {
                        let _ = writer.conn.execute_batch("ROLLBACK");
                        Err(e.into())
                    }
                },
                Err(e) => {
                    let _ = writer.conn.execute_batch("ROLLBACK");
                    Err(e)
                }
            }
        })();
        // Every later commit must be flushed again: a writer that cannot promise that fails
        // this write rather than go on weaker.
        writer.conn.pragma_update(None, "synchronous", "FULL")?;
        result
    }

    /// Runs `f` in one read transaction, so that it sees one consistent state: every write that
    /// has returned, none that has not (for an in-memory store, which reads through the writer,
    /// also writes of other threads that are waiting for their commit).
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        match &self.readers {
            None => in_savepoint(&self.lock_writer().conn, f)?,
            Some(pool) => {
                let conn = pool.take()?;
                let result = in_savepoint(&conn, f);
                // The savepoint ended either way (a failed read rolled back), unless SQLite
                // failed to end it: then the connection is not reused.
                match result {
                    Ok(result) => {
                        pool.give_back(conn);
                        result
                    }
                    Err(e) => Err(e.into()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synchronous(db: &Db) -> i64 {
        db.lock_writer()
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap()
    }

    /// An unflushed write is committed and visible, and leaves the writer flushing every later
    /// commit again (`synchronous=FULL` is 2), whether it committed alone, failed, or joined an
    /// open batch.
    #[test]
    fn unflushed_writes_commit_and_restore_full_synchronous() {
        let dir =
            std::env::temp_dir().join(format!("mailpush-db-unflushed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db.sqlite3");
        let mut conn = Connection::open(&path).unwrap();
        crate::schema::prepare(&mut conn, true).unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER)").unwrap();
        let db = Db::new(conn, Some(path));
        assert_eq!(synchronous(&db), 2);

        db.write_unflushed(|c| Ok(c.execute("INSERT INTO t VALUES (1)", [])?))
            .unwrap();
        assert_eq!(synchronous(&db), 2);
        let failed: Result<(), Failure> = db.write_unflushed(|c| {
            c.execute("INSERT INTO t VALUES (2)", [])?;
            Err(Error::Corrupt("refused".to_owned()).into())
        });
        assert!(failed.is_err());
        assert_eq!(synchronous(&db), 2);

        let seen: Vec<i64> = db
            .read(|c| {
                let mut s = c.prepare("SELECT v FROM t ORDER BY v")?;
                let rows = s.query_map([], |r| r.get(0))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .unwrap();
        assert_eq!(seen, vec![1]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
