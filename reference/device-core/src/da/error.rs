//! Why a connection or a sync failed.

use std::time::Duration;

/// Why the engine gave up a connection or a sync. Every failure leaves the view as it was
/// (SYNC-12, SYNC-13) and is retried on the schedule of [`RetrySchedule`](super::RetrySchedule).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server's octets are not IMAP: a line or a message the codec cannot parse.
    #[error("malformed server reply: {0}")]
    Malformed(String),
    /// A well-formed reply that breaks the protocol: an unknown tag, a continuation request
    /// nobody asked for, a `SELECT` without `UIDVALIDITY`, a search that never answers.
    #[error("server broke the protocol: {0}")]
    Protocol(String),
    /// A reply crossed one of the [`Limits`](super::Limits).
    #[error("server reply over a limit: {0}")]
    Limit(String),
    /// The greeting was `BYE`.
    #[error("server refused the connection: {0}")]
    Refused(String),
    /// [`Security::StartTls`](super::Security::StartTls) is configured and the server does
    /// not offer STARTTLS (or greeted with PREAUTH, which leaves no room for it).
    #[error("the server does not offer STARTTLS, which the configuration requires")]
    StartTlsUnavailable,
    /// The server advertises `LOGINDISABLED`, or not `AUTH=PLAIN` when PLAIN is configured.
    #[error("the server does not accept this authentication mechanism: {0}")]
    AuthUnavailable(String),
    /// `NO` (or `BAD`) to LOGIN or AUTHENTICATE.
    #[error("authentication failed: {0}")]
    AuthenticationFailed(String),
    /// A command of a sync, or LIST, got `NO` or `BAD`.
    #[error("{command} failed: {text}")]
    CommandFailed {
        /// Which command.
        command: &'static str,
        /// The server's status and text.
        text: String,
    },
    /// Nothing arrived for this long while the engine was waiting for the server.
    #[error("no reply from the server for {0:?}")]
    Timeout(Duration),
    /// The driver reported the connection lost (or the connect failed).
    #[error("connection lost")]
    ConnectionLost,
    /// The server said `BYE` outside LOGOUT.
    #[error("server closed the connection: {0}")]
    Bye(String),
    /// A message whose content the sync asked for was neither sent nor reported expunged.
    #[error("the content of UID {0} did not arrive")]
    ContentMissing(u32),
    /// A write's `SELECT` reported another UIDVALIDITY than the one its UIDs belong to: they
    /// name other messages now, and nothing was changed (SYNC-21).
    #[error("the mailbox's UIDVALIDITY is {found:?}, not {expected}: the UIDs are stale")]
    UidValidityChanged {
        /// The UIDVALIDITY the write named.
        expected: u32,
        /// The one the server reported, if any.
        found: Option<u32>,
    },
    /// The driver could not commit a view update
    /// ([`Engine::handle_commit_failed`](super::Engine::handle_commit_failed)).
    #[error("the view update could not be committed")]
    CommitFailed,
}

/// Why [`Engine::handle_registered`](super::Engine::handle_registered) refused an answer of the
/// mail client.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrationError {
    /// No registration was asked for.
    #[error("no registration is outstanding")]
    NotRequested,
    /// A mailbox the DA did not ask to register.
    #[error("mailbox {0:?} was not in the registration request")]
    Unrequested(String),
    /// A mailbox of the request got no token (LOCAL-2).
    #[error("mailbox {0:?} got no token")]
    MissingToken(String),
    /// Two mailboxes got the same token (LOCAL-3).
    #[error("token {0} was given to two mailboxes")]
    DuplicateToken(String),
}
