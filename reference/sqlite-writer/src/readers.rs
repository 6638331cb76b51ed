//! Read connections beside the writer, kept open between reads.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use rusqlite::Connection;

use crate::in_savepoint;

/// Most idle read connections kept open.
const MAX_IDLE: usize = 8;

type Open = Box<dyn Fn(&std::path::Path) -> rusqlite::Result<Connection> + Send + Sync>;

/// A pool of read connections to one database file.
pub struct Readers {
    path: PathBuf,
    open: Open,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    /// Readers of the database at `path`, each opened and prepared by `open` when needed.
    pub fn new(
        path: PathBuf,
        open: impl Fn(&std::path::Path) -> rusqlite::Result<Connection> + Send + Sync + 'static,
    ) -> Self {
        Self {
            path,
            open: Box::new(open),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` in one read transaction, so that it sees one consistent state: every write that
    /// has been committed before it began, none after.
    pub fn read<T, E: From<rusqlite::Error>>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match idle {
            Some(conn) => conn,
            None => (self.open)(&self.path)?,
        };
        // The savepoint ends either way (a failed read rolls back), unless SQLite fails to end
        // it: then the connection is not reused.
        let result = in_savepoint(&conn, f)?;
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
        result
    }
}
