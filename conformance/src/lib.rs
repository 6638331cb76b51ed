//! The mailpush conformance suite: a transcript format for IMAP, provider-API and
//! device-channel exchanges, a runner that plays them against any implementation of the mail
//! server, the push server (and, later, the device), a recorder that writes transcripts from real
//! traffic, and the corpus of cases that cite the spec's requirements.
//!
//! The runner drives implementations over the network only: it never links them. See
//! `conformance/README.md` for the format, the runner's command line and the report schema.
//!
//! The runner (and the `mailpush-conform` binary) sit behind the default `runner` feature: without
//! it the crate is the transcript format alone, with no async runtime, sockets or TLS.
#![forbid(unsafe_code)]

pub mod frames;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod imap_syntax;
#[cfg(feature = "runner")]
pub mod recorder;
#[cfg(feature = "runner")]
pub mod runner;
pub mod transcript;
