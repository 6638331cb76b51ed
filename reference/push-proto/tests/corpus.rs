#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The fuzz oracles over the committed seed corpora, so `cargo test` replays them.

use std::path::Path;

fn each_input(target: &str, check: impl Fn(&[u8]) -> Result<(), String>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let octets = std::fs::read(&path).unwrap();
        check(&octets).unwrap_or_else(|v| panic!("{}: {v}", path.display()));
        seen += 1;
    }
    assert!(seen > 0, "no seeds in {}", dir.display());
}

#[test]
fn push_frame_corpus() {
    each_input("push_frame", mailpush_push_proto::fuzzing::check_roundtrip);
}

#[test]
fn push_server_conn_corpus() {
    each_input(
        "push_server_conn",
        mailpush_push_proto::fuzzing::check_server_connection,
    );
}

#[test]
fn push_client_conn_corpus() {
    each_input(
        "push_client_conn",
        mailpush_push_proto::fuzzing::check_client_connection,
    );
}
