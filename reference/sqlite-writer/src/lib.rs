//! The SQLite writer of the mailpush stores: one connection that commits concurrent writes
//! together (group commit), a queue thread in front of it for callers that must not block, and
//! a pool of read connections beside it.
//!
//! A write runs inside a savepoint of the writer's open transaction (the *batch*), then waits
//! until the batch is committed. Whoever reaches the commit step first commits everything the
//! batch holds with one `COMMIT` (one flush of the WAL); writes that arrive meanwhile join the
//! next batch. So a write still returns only once it is durable, but N concurrent writes cost
//! about one flush instead of N. A write that fails rolls back its own savepoint and leaves the
//! rest of its batch alone; a batch that fails to commit fails every write in it.
//!
//! A write may be *announced* between its staging and its commit ([`GroupCommit::announce`]),
//! for a caller that tells others of it before its flush has returned (the mail server's push
//! request): a reader that calls [`GroupCommit::wait_announced`] before it begins waits until
//! every write announced so far is settled, so nobody told of a write can read the state before
//! it. Since SQLite makes a commit visible only once its flush returned, a read that did not wait
//! could miss a write it was told of.
//!
//! A write may carry a *key* (the push server uses the device token): once a write of a key
//! fails, later writes of that key are answered [`WriteError::Abandoned`] without running,
//! because each was computed over the failed one, until the key is [`GroupCommit::reset`].

#![forbid(unsafe_code)]

mod queue;
mod readers;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use rusqlite::Connection;

pub use queue::Queue;
pub use readers::Readers;

/// Why a write did not become durable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError<E> {
    /// The write itself failed: its savepoint was rolled back, the rest of its batch is kept.
    #[error("{0}")]
    Failed(E),
    /// SQLite failed to manage the transaction or a savepoint (an I/O error, a full disk):
    /// every write of the batch is lost.
    #[error("sqlite: {0}")]
    Sqlite(rusqlite::Error),
    /// The batch the write was in failed to commit.
    #[error("commit failed: {0}")]
    Commit(String),
    /// An earlier write of the same key failed and the key was not reset since.
    #[error("an earlier write of the same key failed")]
    Abandoned,
    /// The queue's writer thread is gone.
    #[error("the writer stopped")]
    Stopped,
}

type Outcome = Arc<OnceLock<Result<(), String>>>;

struct Batch {
    outcome: Outcome,
    /// Writes in the batch that succeeded and wait for its commit.
    members: usize,
    /// Keys of those writes: they fail with the batch if it fails.
    keys: Vec<String>,
}

struct State {
    conn: Connection,
    batch: Option<Batch>,
    /// Keys whose last write failed and that were not reset since.
    failed: HashSet<String>,
}

impl State {
    /// Rolls the open batch back and fails every write waiting in it.
    fn abort(&mut self, why: String) {
        if let Some(batch) = self.batch.take() {
            let _ = self.conn.execute_batch("ROLLBACK");
            self.failed.extend(batch.keys);
            let _ = batch.outcome.set(Err(why));
        }
    }

    /// Commits the open batch and tells every write waiting in it.
    fn commit(&mut self) -> Result<(), String> {
        let Some(batch) = self.batch.take() else {
            return Ok(());
        };
        let result = match self.conn.execute_batch("COMMIT") {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                self.failed.extend(batch.keys);
                Err(e.to_string())
            }
        };
        let _ = batch.outcome.set(result.clone());
        result
    }
}

/// Runs `f` inside a savepoint of `conn`: its changes are kept when it succeeds and undone when
/// it fails. The outer error is SQLite failing to manage the savepoint itself.
pub fn in_savepoint<T, E>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, E>,
) -> Result<Result<T, E>, rusqlite::Error> {
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

/// A write that ran in the open batch and waits for the batch's commit.
#[must_use = "a staged write is durable only once settled"]
pub struct Staged<T> {
    value: T,
    outcome: Outcome,
}

impl<T> Staged<T> {
    /// What the write returned; it counts only once the write is settled.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// Whether its batch was committed or failed already.
    pub fn is_settled(&self) -> bool {
        self.outcome.get().is_some()
    }

    /// The write's result once its batch is settled.
    fn result<E>(self) -> Result<T, WriteError<E>> {
        match self.outcome.get() {
            Some(Ok(())) => Ok(self.value),
            Some(Err(why)) => Err(WriteError::Commit(why.clone())),
            None => Err(WriteError::Commit("write batch left open".to_owned())),
        }
    }
}

/// The writer connection and its open batch.
pub struct GroupCommit {
    state: Mutex<State>,
    /// Serializes commits, so that each batch is committed by exactly one of its writes.
    commit: Mutex<()>,
    /// Batches with an announced write that may not be settled yet.
    announced: Mutex<Vec<Outcome>>,
}

impl GroupCommit {
    /// A writer over `conn`, prepared by the store (pragmas, schema); it is expected to flush
    /// every commit (`synchronous=FULL` in WAL mode) for a settled write to be durable.
    pub fn new(conn: Connection) -> Self {
        Self {
            state: Mutex::new(State {
                conn,
                batch: None,
                failed: HashSet::new(),
            }),
            commit: Mutex::new(()),
            announced: Mutex::new(Vec::new()),
        }
    }

    fn unsettled_announced(&self) -> MutexGuard<'_, Vec<Outcome>> {
        let mut announced = self
            .announced
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        announced.retain(|outcome| outcome.get().is_none());
        announced
    }

    /// Records that `staged` is about to be made known before it is settled: every
    /// [`GroupCommit::wait_announced`] that begins after this returns waits for its batch. The
    /// caller must go on to [`GroupCommit::settle`] it without waiting for a read, or the
    /// readers wait for a commit nobody makes.
    pub fn announce<T>(&self, staged: &Staged<T>) {
        let mut announced = self.unsettled_announced();
        if !staged.is_settled() && !announced.iter().any(|o| Arc::ptr_eq(o, &staged.outcome)) {
            announced.push(Arc::clone(&staged.outcome));
        }
    }

    /// Waits until every write announced before this call is settled (committed or failed), so
    /// that a read begun after it sees each of them that was committed.
    pub fn wait_announced(&self) {
        let pending: Vec<Outcome> = self.unsettled_announced().clone();
        for outcome in pending {
            outcome.wait();
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => {
                let mut guard = poisoned.into_inner();
                // A write panicked half-way: nothing in its batch can be trusted.
                guard.abort("a write in the same batch failed unexpectedly".to_owned());
                self.state.clear_poison();
                guard
            }
        }
    }

    /// Runs `f` in the open batch (opening one if none is), inside a savepoint, without
    /// committing; [`GroupCommit::settle`] or [`GroupCommit::commit`] ends the batch.
    pub fn stage<T, E>(
        &self,
        key: Option<&str>,
        f: impl FnOnce(&Connection) -> Result<T, E>,
    ) -> Result<Staged<T>, WriteError<E>> {
        let mut guard = self.lock();
        let state = &mut *guard;
        if key.is_some_and(|key| state.failed.contains(key)) {
            return Err(WriteError::Abandoned);
        }
        if state.batch.is_none() {
            state
                .conn
                .execute_batch("BEGIN IMMEDIATE")
                .map_err(WriteError::Sqlite)?;
            state.batch = Some(Batch {
                outcome: Arc::new(OnceLock::new()),
                members: 0,
                keys: Vec::new(),
            });
        }
        match in_savepoint(&state.conn, f) {
            Ok(Ok(value)) => match state.batch.as_mut() {
                Some(batch) => {
                    batch.members += 1;
                    batch.keys.extend(key.map(str::to_owned));
                    Ok(Staged {
                        value,
                        outcome: Arc::clone(&batch.outcome),
                    })
                }
                None => Err(WriteError::Commit("write batch vanished".to_owned())),
            },
            Ok(Err(e)) => {
                state.failed.extend(key.map(str::to_owned));
                // Nothing else waits on an empty batch: end it rather than hold it open.
                if state.batch.as_ref().is_some_and(|b| b.members == 0) {
                    state.abort(String::new());
                }
                Err(WriteError::Failed(e))
            }
            Err(e) => {
                // SQLite lost the transaction: every write of the batch is gone.
                state.abort(e.to_string());
                Err(WriteError::Sqlite(e))
            }
        }
    }

    /// Commits the open batch, if any, and tells every write waiting in it; the error says why
    /// the batch failed to commit.
    pub fn commit(&self) -> Result<(), String> {
        let _commit = self.commit.lock().unwrap_or_else(PoisonError::into_inner);
        self.lock().commit()
    }

    /// Waits until the batch of a staged write is settled, committing it if nobody else has.
    pub fn settle<T, E>(&self, staged: Staged<T>) -> Result<T, WriteError<E>> {
        let _commit = self.commit.lock().unwrap_or_else(PoisonError::into_inner);
        if !staged.is_settled() {
            // Unset means nobody committed or aborted it, so it is still the open batch.
            let _ = self.lock().commit();
        }
        staged.result()
    }

    /// Runs `f` as one write and returns once it is durable (or failed, changing nothing).
    pub fn write<T, E>(
        &self,
        key: Option<&str>,
        f: impl FnOnce(&Connection) -> Result<T, E>,
    ) -> Result<T, WriteError<E>> {
        let staged = self.stage(key, f)?;
        self.settle(staged)
    }

    /// Lets writes of `key` run again after one of them failed.
    pub fn reset(&self, key: &str) {
        self.lock().failed.remove(key);
    }

    /// Runs `f` as one write that is committed (atomic, and visible to every connection) but
    /// not flushed before it returns: the next flushed commit carries it to disk, as the WAL is
    /// written in order. For state whose loss in a crash is harmless. When a batch is open the
    /// write joins it, which costs no flush of its own; otherwise it commits alone with
    /// `synchronous=NORMAL` (SQLite lets the level change only outside a transaction), and the
    /// writer's level is restored after.
    pub fn write_unflushed<T, E>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E>,
    ) -> Result<T, WriteError<E>> {
        let state = self.lock();
        if state.batch.is_some() {
            drop(state);
            return self.write(None, f);
        }
        let conn = &state.conn;
        let level: i64 = conn
            .query_row("PRAGMA synchronous", [], |row| row.get(0))
            .map_err(WriteError::Sqlite)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(WriteError::Sqlite)?;
        let result = (|| {
            conn.execute_batch("BEGIN IMMEDIATE")
                .map_err(WriteError::Sqlite)?;
            match f(conn) {
                Ok(value) => match conn.execute_batch("COMMIT") {
                    Ok(()) => Ok(value),
                    Err(e) => {
                        let _ = conn.execute_batch("ROLLBACK");
                        Err(WriteError::Sqlite(e))
                    }
                },
                Err(e) => {
                    let _ = conn.execute_batch("ROLLBACK");
                    Err(WriteError::Failed(e))
                }
            }
        })();
        // Every later commit must be flushed as before: a writer that cannot promise that fails
        // this write rather than go on weaker.
        conn.pragma_update(None, "synchronous", level)
            .map_err(WriteError::Sqlite)?;
        result
    }

    /// Runs `f` on the writer's connection in a savepoint that is rolled back if it fails: for
    /// a store without read connections (in memory). It sees the writes of the open batch too.
    pub fn read<T, E: From<rusqlite::Error>>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        in_savepoint(&self.lock().conn, f)?
    }
}

#[cfg(test)]
mod tests;
