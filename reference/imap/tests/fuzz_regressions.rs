#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Runs the fuzz oracles over the checked-in seed corpus and over every
//! input a fuzzer ever found failing (kept in `tests/regressions/<target>/`),
//! so a fixed crash stays fixed without needing cargo-fuzz.

use mailpush_imap::fuzzing;
use mailpush_imap::{AuthenticateData, Command, Decode, Decoded, IdleDone, Response};
use mailpush_testkit::fuzz_inputs::{assert_target_passes, corpus_dir, input_files};

const CRATE_DIR: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn imap_command_inputs() {
    assert_target_passes(CRATE_DIR, "imap_command", fuzzing::fuzz_command);
}

#[test]
fn imap_response_inputs() {
    assert_target_passes(CRATE_DIR, "imap_response", fuzzing::fuzz_response);
}

#[test]
fn imap_greeting_inputs() {
    assert_target_passes(CRATE_DIR, "imap_greeting", fuzzing::fuzz_greeting);
}

#[test]
fn imap_framer_inputs() {
    assert_target_passes(CRATE_DIR, "imap_framer", fuzzing::fuzz_framer);
}

fn decodes_whole<T: Decode>(d: &[u8]) -> bool {
    matches!(T::decode(d), Decoded::Complete(_, n) if n == d.len())
}

/// Every seed of the command and response corpora is a valid message: a
/// seed that stops decoding is a regression in the parser, not just a
/// weaker corpus. Seeds are named by 16 hex digits; inputs a local fuzzing
/// run adds (named by 40) are not seeds.
#[test]
fn seeds_decode() {
    for (target, check) in [
        (
            "imap_command",
            (|d: &[u8]| {
                decodes_whole::<Command>(d)
                    || decodes_whole::<AuthenticateData>(d)
                    || decodes_whole::<IdleDone>(d)
            }) as fn(&[u8]) -> bool,
        ),
        ("imap_response", decodes_whole::<Response>),
    ] {
        for path in input_files(&corpus_dir(target)) {
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
                Command::decode(&data),
                Response::decode(&data)
            );
        }
    }
}
