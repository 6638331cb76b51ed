//! # mailpush-device-core
//!
//! The device half of mailpush as sans-IO state machines: they take octets, local events and the
//! time in (`handle_*`) and give octets, events and timer deadlines out (`poll_*`). They own no
//! socket, no clock and no storage; the tokio driver (`mailpush-device`) does, and persists what
//! the cores tell it to.
//!
//! Time is one type throughout: [`Timestamp`], milliseconds on a clock the driver chooses (one
//! that counts suspended time, since renewals and expiry are days apart), passed into every
//! `handle_*` call and given back by every `poll_timeout`. No core reads a clock.
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

pub use mailpush_push_proto::Timestamp;
pub use token::{AccountId, Token, TokenError};

/// `t` plus `d`, saturating: the cores keep configured delays as [`std::time::Duration`].
pub(crate) fn after(t: Timestamp, d: std::time::Duration) -> Timestamp {
    t.plus_ms(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
