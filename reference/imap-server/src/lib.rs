//! # mailpush-imap-server
//!
//! The IMAP server of mailpush as a sans-IO core: one [`Session`] per connection takes bytes,
//! other sessions' changes and the time in, and gives bytes, [`Event`]s and a timer deadline
//! out. It owns no socket, no TLS, no clock and no storage engine: a driver (the tokio driver
//! of `mailpush-mail-server`, or [`LocalServer`] in tests) accepts connections, runs TLS, calls
//! the session (on a blocking pool: the store waits for the disk) and routes
//! [`Event::Changes`] to the other sessions and to the push notifier (unless the notifier hears
//! of them from the store, before their commit: PROV-38).
//!
//! * [`Session`]: framing with the codec's framer (caps from [`Config`]; `+` for synchronizing
//!   literals, LITERAL+, oversize literals refused before they are read), the commands of
//!   IMAP4rev1 with LITERAL+, ENABLE, IDLE, UIDPLUS, MOVE, UNSELECT, CONDSTORE and QRESYNC
//!   (each of the last two can be switched off in [`Config`]), and XAPPLEPUSHSERVICE.
//! * Message data: ENVELOPE, BODY, BODYSTRUCTURE, `BODY[section]<partial>` and SEARCH, read
//!   with the codec of `mailpush-message`.
//! * [`store`]: the store behind the [`MailBackend`] trait, the values it takes and gives, and
//!   [`StoreError`]. They are defined here, not in a storage crate, so that this crate depends
//!   on no storage engine: the SQLite store of `mailpush-mail-store` implements the trait (and
//!   re-exports these types), and a test or a driver may wrap it.
//! * [`LocalServer`]: sessions run in-process, changes routed between them, on a clock the
//!   caller moves: what a test needs to drive the core against a temporary store.
//!
//! With the `fuzzing` feature, `fuzzing` holds the oracles of the `mail_*` fuzz targets.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod dates;
mod list;
mod local;
mod search;
mod sections;
mod session;
pub mod store;
mod structure;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

pub use config::Config;
pub use local::{ConnectionId, LocalServer};
pub use session::{Concern, Event, Now, Session};
pub use store::{MailBackend, StoreError};
