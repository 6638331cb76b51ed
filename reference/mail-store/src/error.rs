//! Errors. [`Error`] is the store error of the IMAP server core (`StoreError`), so that a
//! session answers every failure of this store with the reply it calls for; inside an
//! operation, SQLite's own errors travel beside it as a [`Failure`] until the operation ends.

pub use mailpush_imap_server::StoreError as Error;

/// Why an operation failed, while it runs: SQLite, or the store refusing it.
#[derive(Debug)]
pub(crate) enum Failure {
    /// SQLite failed.
    Sql(rusqlite::Error),
    /// The store refused the operation, or a stored value is wrong.
    Store(Error),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        Failure::Sql(e)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Store(e)
    }
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Sql(e) => Error::Storage(Box::new(e)),
            Failure::Store(e) => e,
        }
    }
}
