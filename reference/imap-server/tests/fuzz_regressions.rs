#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Runs the fuzz oracles over the checked-in seed corpora and over every input a fuzzer ever
//! found failing (kept in `tests/regressions/<target>/`), so a fixed crash stays fixed without
//! needing cargo-fuzz.

use mailpush_imap_server::fuzzing;
use mailpush_mail_store::Store;
use mailpush_testkit::fuzz_inputs::{assert_target_passes, corpus_dir, input_files};

mod common;
use common::*;

const CRATE_DIR: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn mail_message_inputs() {
    assert_target_passes(CRATE_DIR, "mail_message", fuzzing::fuzz_message);
}

#[test]
fn mail_session_inputs() {
    assert_target_passes(CRATE_DIR, "mail_session", |data| {
        let store = Store::for_tests(&[("fred", "secret")]).unwrap();
        fuzzing::fuzz_session(store, data);
    });
}

/// The session seeds reach authenticated commands: after the login the oracle sends, the
/// first command of every seed is answered `OK`, so the fuzzer starts from sessions that do
/// something rather than from refused input.
#[test]
fn session_seeds_pass_the_login() {
    let mut seeds = 0;
    for path in input_files(&corpus_dir("mail_session")) {
        let data = std::fs::read(&path).unwrap();
        let f = fixture();
        let mut c = Client::new(&f, loopback_config(), false);
        assert!(c.send("a LOGIN fred secret").contains("a OK"));
        let answer = c.send_raw(&data[1..]);
        assert!(
            answer.contains("\r\nb OK") || answer.starts_with("b OK"),
            "{}: the first command failed:\n{}",
            path.display(),
            c.log
        );
        seeds += 1;
    }
    assert!(seeds >= 8, "only {seeds} session seeds");
}
