//! # mailpush-testkit
//!
//! Helpers and fixtures the test suites of several mailpush crates share. A
//! dev-dependency only: nothing here is part of any crate's API, and the
//! crate is never published.
//!
//! Modules are named by what they help test:
//!
//! * [`fuzz_inputs`]: replays the inputs of a fuzz target (the seed corpus
//!   under `fuzz/corpus/<target>/` and the inputs a fuzzer once found
//!   failing, kept under `<crate>/tests/regressions/<target>/`) through the
//!   target's oracle, so that `cargo test` keeps every fixed crash fixed
//!   without cargo-fuzz.
//! * [`interop`]: real third-party IMAP servers (Debian's Dovecot and Cyrus
//!   imapd) started on loopback from a self-contained configuration, with a
//!   line-level client to talk to them.
#![forbid(unsafe_code)]

pub mod fuzz_inputs;
pub mod interop;
