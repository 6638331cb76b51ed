//! # mailpush-mail-server
//!
//! The IMAP side of the mailpush reference mail server, as a sans-IO core: one [`Session`]
//! per connection takes bytes, other sessions' changes and the time in, and gives bytes,
//! [`Event`]s and a timer deadline out. It owns no socket, no TLS and no clock; a driver does
//! (accepting connections, running TLS, calling the blocking store on a blocking pool,
//! routing [`Event::Changes`] to other sessions and to the push notifier).
//!
//! The session frames input with the codec's framer (caps from [`Config`]; `+` for
//! synchronizing literals, LITERAL+ accepted, oversize literals refused before they are read),
//! parses commands with the codec, and talks to the store through [`MailBackend`], implemented
//! for [`mailpush_mail_store::Store`].
//!
//! [`driver`] is that driver: tokio listeners (IMAP with STARTTLS, IMAPS), rustls, the change
//! feed between sessions, the push notifier's HTTP client, and `mailpush mail-server` /
//! `mailpush user`. The session core does not depend on it.
//!
//! [`bench`] is `mailpush bench imap`, a load tool that drives any IMAP server over TCP.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backend;
pub mod bench;
mod config;
mod decode;
pub mod driver;
/// The oracles of the fuzz targets.
pub mod fuzzing;
mod message;
mod mime;
mod search;
mod session;

pub use backend::MailBackend;
pub use config::Config;
pub use session::{Concern, Event, Now, Session};
