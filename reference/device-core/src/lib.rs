//! # mailpush-device-core
//!
//! The device half of mailpush as sans-IO state machines: they take octets, local events and the
//! time in (`handle_*`) and give octets, events and timer deadlines out (`poll_*`). They own no
//! socket, no clock and no storage; the tokio driver (`mailpush-device`) does, and persists what
//! the cores tell it to.
//!
//! The vocabulary shared by the mail client and the data-access daemon (DA) is here: an
//! [`AccountId`] names a mail account towards the mail server, and a [`Token`] names one
//! monitored mailbox of one account on this device (`spec/device-local.md`).
#![forbid(unsafe_code)]

pub mod bus;
pub mod da;
pub mod imap_client;
pub mod mail_client;
mod token;

pub use token::{AccountId, Token, TokenError};
