#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Runs the fuzz oracles over the checked-in seed corpus and over every
//! input a fuzzer ever found failing (kept in `tests/regressions/<target>/`),
//! so a fixed crash stays fixed without needing cargo-fuzz.

use std::path::Path;

use mailpush_imap::fuzzing;

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
fn imap_command_inputs() {
    run("imap_command", fuzzing::fuzz_command);
}

#[test]
fn imap_response_inputs() {
    run("imap_response", fuzzing::fuzz_response);
}

#[test]
fn imap_greeting_inputs() {
    run("imap_greeting", fuzzing::fuzz_greeting);
}

#[test]
fn imap_framer_inputs() {
    run("imap_framer", fuzzing::fuzz_framer);
}

/// Every seed of the command and response corpora is a valid message: a
/// seed that stops decoding is a regression in the parser, not just a
/// weaker corpus. Seeds are named by 16 hex digits; inputs a local fuzzing
/// run adds (named by 40) are not seeds.
#[test]
fn seeds_decode() {
    use mailpush_imap::{AuthenticateData, Command, Decode, Decoded, IdleDone, Response};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    for (target, check) in [
        (
            "imap_command",
            (|d: &[u8]| {
                matches!(Command::decode(d), Decoded::Complete(_, n) if n == d.len())
                    || matches!(AuthenticateData::decode(d), Decoded::Complete(_, n) if n == d.len())
                    || matches!(IdleDone::decode(d), Decoded::Complete(_, n) if n == d.len())
            }) as fn(&[u8]) -> bool,
        ),
        (
            "imap_response",
            |d: &[u8]| matches!(Response::decode(d), Decoded::Complete(_, n) if n == d.len()),
        ),
    ] {
        for e in std::fs::read_dir(root.join(target)).unwrap() {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.len() != 16 {
                continue;
            }
            let data = std::fs::read(&path).unwrap();
            if target == "imap_command" && data.starts_with(b"A003 APPEND saved-messages") {
                continue; // deliberately short literal: LiteralFound
            }
            assert!(
                check(&data),
                "{} does not decode: {:?} / {:?}",
                path.display(),
                mailpush_imap::Command::decode(&data),
                mailpush_imap::Response::decode(&data)
            );
        }
    }
}
