//! # mailpush-device
//!
//! The device daemon: tokio drivers of the sans-IO cores of `mailpush-device-core` (the mail
//! client and one data-access daemon engine per account), their state in SQLite, and the local
//! API for applications on a Unix socket. `mailpush device run --config device.toml` runs it.
#![forbid(unsafe_code)]

pub mod api;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod net;
pub mod provider;
pub mod store;
pub mod tls;

pub use config::{ConfigError, DeviceConfig};
pub use daemon::{DaemonError, run};
