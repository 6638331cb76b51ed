//! # mailpush-bench
//!
//! The load tools of `mailpush bench`. They measure servers from outside, as clients do, and
//! are no part of the servers:
//!
//! * [`imap`] (`mailpush bench imap`): K IMAP clients (APPEND, UID FETCH FLAGS, UID STORE,
//!   IDLE wake-ups) against any IMAP server over plain TCP, reading every response with the
//!   project's IMAP decoder (`mailpush-imap`).
//! * [`push`] (`mailpush bench push`): K device connections and pushes at rate R through the
//!   provider API of a mailpush push server, in this process or running elsewhere.
//! * [`sync`] (`mailpush bench sync`): the data-access daemon's initial, unchanged and
//!   incremental syncs of a mailbox of notes by QRESYNC, CONDSTORE and plain IMAP, against this
//!   project's mail server and Dovecot, next to mbsync.
//! * [`e2e`] (`mailpush bench e2e`): a note appended on one device until another device has
//!   synced it, through this project's mail server, push server and device daemon on loopback
//!   with K device connections open, and by IMAP IDLE against Debian's Dovecot for comparison.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::net::SocketAddr;

pub mod e2e;
pub mod imap;
pub mod push;
pub mod sync;

pub use e2e::BenchE2eArgs;
pub use imap::BenchImapArgs;
pub use push::BenchPushArgs;
pub use sync::BenchSyncArgs;

/// Why a load tool failed (a failed command or push is counted, not an error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// A connection to the server under load could not be made, or broke.
    #[error("{address}: {source}")]
    Io {
        /// The server.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Other I/O failure (a device connection, a provider connection).
    #[error("i/o: {0}")]
    Local(#[from] std::io::Error),
    /// The IMAP server answered in a way the tool cannot go on from (no greeting, LOGIN or
    /// SELECT refused, IDLE refused, a response that does not decode, the connection closed in
    /// the middle of a command).
    #[error("unexpected answer: {0}")]
    Protocol(String),
    /// The options make no workload.
    #[error("invalid options: {0}")]
    Options(String),
    /// The push server started in this process failed.
    #[error(transparent)]
    PushServer(#[from] mailpush_push_server::PushServerError),
    /// The push workload could not go on (devices not connected, a registration refused, the
    /// server closed a connection).
    #[error("bench: {0}")]
    Push(String),
}

/// The CPU model, from `/proc/cpuinfo`, for the machine line of a report.
pub(crate) fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// How many CPUs this process may use.
pub(crate) fn cpus() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}

/// `/proc/loadavg`'s first three fields: other work running meanwhile shows here.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split(' ').take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
