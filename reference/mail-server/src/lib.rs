//! # mailpush-mail-server
//!
//! The mailpush reference mail server: the driver of the sans-IO IMAP server core
//! (`mailpush-imap-server`). [`driver`] owns what the core does not: tokio listeners (IMAP with
//! STARTTLS, IMAPS), rustls, the clocks, the blocking pool the sessions' store calls run on,
//! the change feed between sessions, the push notifier's HTTP client, and `mailpush
//! mail-server` / `mailpush user`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod driver;
