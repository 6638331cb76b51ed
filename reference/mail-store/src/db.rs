//! The store's connections: the shared group-commit writer (`mailpush-sqlite-writer`: a write
//! runs in a savepoint of the open batch and returns once the batch is committed, so N
//! concurrent writes cost about one flush) and a pool of read connections beside it.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::time::Duration;

use mailpush_sqlite_writer::{GroupCommit, Readers, Staged, WriteError};
use rusqlite::Connection;

use crate::Error;
use crate::error::Failure;

/// How long a connection waits for a lock held by another connection.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

impl From<WriteError<Failure>> for Failure {
    fn from(e: WriteError<Failure>) -> Self {
        match e {
            WriteError::Failed(failure) => failure,
            WriteError::Sqlite(e) => Failure::Sql(e),
            WriteError::Commit(why) => Error::CommitFailed(why).into(),
            // Writes of this store carry no key and do not go through a queue.
            WriteError::Abandoned => Error::CommitFailed("write abandoned".to_owned()).into(),
            _ => Error::CommitFailed("the writer stopped".to_owned()).into(),
        }
    }
}

fn open_reader(path: &std::path::Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "query_only", "ON")?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// The connections of one store.
pub(crate) struct Db {
    writer: GroupCommit,
    /// `None` for an in-memory store, which reads through the writer.
    readers: Option<Readers>,
}

impl Db {
    /// A store whose writer is `conn` (already prepared); `path` names the file for read
    /// connections, `None` for an in-memory store.
    pub(crate) fn new(conn: Connection, path: Option<PathBuf>) -> Self {
        Self {
            writer: GroupCommit::new(conn),
            readers: path.map(|path| Readers::new(path, open_reader)),
        }
    }

    /// Runs `f` as one write and returns once it is durable (or failed, changing nothing).
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        Ok(self.writer.write(None, f)?)
    }

    /// Runs `f` as one write; once it has run, and before its commit, `announce` is called with
    /// what it returned when `announced` says it is to be told: every read that begins after
    /// that waits for the write's commit ([`GroupCommit::announce`]). Returns once the write is
    /// durable (or failed, changing nothing).
    pub(crate) fn write_announced<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, Failure>,
        announced: impl FnOnce(&T) -> bool,
        announce: impl FnOnce(&T),
    ) -> Result<T, Failure> {
        let staged: Staged<T> = self.writer.stage(None, f)?;
        if !announced(staged.value()) {
            return Ok(self.writer.settle(staged)?);
        }
        self.writer.announce(&staged);
        // The write is settled even if `announce` panics: readers wait for it from now on.
        let told = std::panic::catch_unwind(AssertUnwindSafe(|| announce(staged.value())));
        let settled = self.writer.settle(staged);
        if let Err(panic) = told {
            std::panic::resume_unwind(panic);
        }
        Ok(settled?)
    }

    /// Runs `f` as one write that is committed (atomic, and visible to every connection) but
    /// not flushed before it returns, for state whose loss in a crash is harmless (see
    /// [`GroupCommit::write_unflushed`]).
    pub(crate) fn write_unflushed<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        Ok(self.writer.write_unflushed(f)?)
    }

    /// Runs `f` in one read transaction, so that it sees one consistent state: every write that
    /// has returned or was announced before the read began (it waits for their commits), none
    /// that has not (for an in-memory store, which reads through the writer, also writes of
    /// other threads that are waiting for their commit).
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        self.writer.wait_announced();
        self.read_settled(f)
    }

    /// [`Db::read`] without waiting for the announced writes: for the push registrations, which
    /// the notifier looks up while the commit it was told of may still be flushing (a
    /// registration is never a change it is told of).
    pub(crate) fn read_settled<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        match &self.readers {
            None => self.writer.read(f),
            Some(readers) => readers.read(f),
        }
    }
}
