//! Why a store operation failed: one vocabulary for the session (which answers each with the
//! RFC 5530 code it calls for) and for the backends that implement it.

/// Why a store operation failed. A failed operation changed nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The storage engine failed (I/O error, full disk, corrupt file, locked database).
    #[error("storage failure: {0}")]
    Storage(Box<dyn std::error::Error + Send + Sync>),
    /// The write succeeded but the commit it shared with concurrent writes failed (I/O error,
    /// full disk), so it did not happen.
    #[error("commit failed: {0}")]
    CommitFailed(String),
    /// The database was written by an incompatible version of the backend.
    #[error("database schema version {found} is not supported (this build reads {expected})")]
    SchemaVersion {
        /// Version found in the file.
        found: i64,
        /// Version this build reads and writes.
        expected: i64,
    },
    /// A stored value cannot be read back; the database was altered outside the backend.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Hashing a password failed (for example, invalid hashing parameters in the configuration).
    #[error("password hashing failed: {0}")]
    PasswordHash(String),
    /// A user name is empty, too long, or contains control characters or white space.
    #[error("invalid user name: {0}")]
    InvalidUserName(&'static str),
    /// A password is longer than the store accepts.
    #[error("password longer than {limit} octets")]
    PasswordTooLong {
        /// Longest password accepted, in octets.
        limit: usize,
    },
    /// A user with this name already exists.
    #[error("user {0:?} already exists")]
    UserExists(String),
    /// No such user (or it was deleted while a session was using it).
    #[error("no such user")]
    NoSuchUser,
    /// A mailbox name is empty, too long, contains control characters or wildcards, or has an
    /// empty hierarchy level.
    #[error("invalid mailbox name: {0}")]
    InvalidMailboxName(&'static str),
    /// The mailbox to create or rename to already exists.
    #[error("mailbox {0:?} already exists")]
    MailboxExists(String),
    /// No such mailbox (or it was deleted while a session had it selected).
    #[error("no such mailbox {0:?}")]
    NoSuchMailbox(String),
    /// `INBOX` cannot be deleted (RFC 3501 §6.3.4).
    #[error("INBOX cannot be deleted")]
    CannotDeleteInbox,
    /// A mailbox cannot be renamed to a name below itself.
    #[error("cannot rename a mailbox below itself")]
    RenameBelowItself,
    /// Creating the mailbox (and the missing superiors) would exceed the per-user limit.
    #[error("too many mailboxes (limit {limit})")]
    TooManyMailboxes {
        /// Most mailboxes a user may have.
        limit: usize,
    },
    /// A message exceeds the configured maximum size.
    #[error("message of {size} octets exceeds the limit of {limit}")]
    MessageTooLarge {
        /// Its size in octets.
        size: u64,
        /// Largest message accepted, in octets.
        limit: u64,
    },
    /// A flag cannot be stored: `\Recent`, an unknown system flag, or a keyword that is not an
    /// atom; or a message would carry more than [`super::Flags::MAX`] flags.
    #[error("invalid flag: {0}")]
    InvalidFlag(String),
    /// The mailbox has used every UID of its UIDVALIDITY; it must be re-created.
    #[error("mailbox has no UIDs left")]
    UidsExhausted,
    /// A push registration is malformed (XAPS-6, XAPS-7): empty or oversized account ID, device
    /// token or subtopic, or too many mailboxes.
    #[error("invalid push registration: {0}")]
    InvalidRegistration(&'static str),
    /// The user already has the maximum number of live registrations (XAPS-17: `NO [LIMIT]`).
    #[error("push registration limit of {limit} reached")]
    RegistrationLimit {
        /// Most live registrations a user may have.
        limit: usize,
    },
}
