#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Runs the fuzz oracles over the checked-in seed corpora and over every input a fuzzer ever
//! found failing (kept in `tests/regressions/<target>/`), so a fixed crash stays fixed without
//! needing cargo-fuzz.

use std::path::Path;

use mailpush_imap_server::fuzzing;
use mailpush_mail_store::Store;

mod common;
use common::*;

fn run_dir(dir: &Path, oracle: fn(&[u8])) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for e in entries {
        let path = e.unwrap().path();
        if path.is_file() {
            let data = std::fs::read(&path).unwrap();
            let r = std::panic::catch_unwind(|| oracle(&data));
            assert!(r.is_ok(), "oracle failed on {}", path.display());
            n += 1;
        }
    }
    n
}

fn run(target: &str, oracle: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = run_dir(&root.join("../../fuzz/corpus").join(target), oracle);
    let regressions = run_dir(&root.join("tests/regressions").join(target), oracle);
    assert!(corpus + regressions > 0, "no inputs for {target}");
}

#[test]
fn mail_message_inputs() {
    run("mail_message", fuzzing::fuzz_message);
}

#[test]
fn mail_session_inputs() {
    run("mail_session", |data| {
        let store = Store::for_tests(&[("fred", "secret")]).unwrap();
        fuzzing::fuzz_session(store, data);
    });
}

/// The session seeds reach authenticated commands: after the login the oracle sends, the
/// first command of every seed is answered `OK`, so the fuzzer starts from sessions that do
/// something rather than from refused input.
#[test]
fn session_seeds_pass_the_login() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/mail_session");
    let mut seeds = 0;
    for e in std::fs::read_dir(root).unwrap() {
        let path = e.unwrap().path();
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
