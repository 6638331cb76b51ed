//! # mailpush-device
//!
//! The device daemon: tokio drivers of the sans-IO cores of `mailpush-device-core` (the mail
//! client and one data-access daemon engine per account), their state in SQLite, and the local
//! API for applications on a Unix socket.
#![forbid(unsafe_code)]

pub mod clock;
pub mod config;
pub mod tls;
