#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The fuzz oracles over the committed seed corpora and over every input a fuzzer found
//! failing (`tests/regressions/<target>/`), so `cargo test` replays them.

use mailpush_push_proto::fuzzing;
use mailpush_testkit::fuzz_inputs::assert_target_passes;

const CRATE_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// The target's oracle as the fuzzer runs it: a broken property is a panic.
fn target(check: fn(&[u8]) -> Result<(), String>) -> impl Fn(&[u8]) {
    move |input| {
        if let Err(violation) = check(input) {
            panic!("{violation}");
        }
    }
}

#[test]
fn push_frame_corpus() {
    assert_target_passes(CRATE_DIR, "push_frame", target(fuzzing::check_roundtrip));
}

#[test]
fn push_server_conn_corpus() {
    assert_target_passes(
        CRATE_DIR,
        "push_server_conn",
        target(fuzzing::check_server_connection),
    );
}

#[test]
fn push_client_conn_corpus() {
    assert_target_passes(
        CRATE_DIR,
        "push_client_conn",
        target(fuzzing::check_client_connection),
    );
}
