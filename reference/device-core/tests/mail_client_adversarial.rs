//! Servers that send anything at all: the mail client must not panic, must close what it was
//! told nonsense on, must send nothing on a connection after closing it, and must keep its token
//! table and credentials whatever the servers say. The oracle is the `device_mail_client` fuzz
//! target's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mailpush_device_core::mail_client::fuzzing::check_mail_client;
use quickcheck::{QuickCheck, TestResult};

fn survives(input: Vec<u8>) -> TestResult {
    match check_mail_client(&input) {
        Ok(()) => TestResult::passed(),
        Err(violation) => TestResult::error(violation),
    }
}

#[test]
fn arbitrary_server_octets_are_survived() {
    QuickCheck::new()
        .tests(2000)
        .quickcheck(survives as fn(Vec<u8>) -> TestResult);
}

#[test]
fn well_formed_starts_then_garbage_are_dropped() {
    // Bits 6 and 7 of the first octet: both connections start well-formed; pieces of 16.
    for garbage in [
        &b"\x00\x00\x00\x01\x09"[..],
        b"\x00\x00\xff\xff",
        b"* XAPPLEPUSHSERVICE \"mailbox\"\r\n",
        b"A1 what\r\n",
        b"hello\r\n",
    ] {
        let mut input = vec![0xc0 | 15];
        for _ in 0..4 {
            input.extend_from_slice(&garbage.repeat(4)[..16.min(garbage.len() * 4)]);
        }
        assert_eq!(check_mail_client(&input), Ok(()), "{garbage:?}");
    }
    // Garbage from the first octet on.
    assert_eq!(check_mail_client(b"\x03HTTP/1.1 200 OK\r\n\r\n"), Ok(()));
}

#[test]
fn fuzz_corpus_and_regressions() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in [
        root.join("../../fuzz/corpus/device_mail_client"),
        root.join("tests/regressions/device_mail_client"),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let data = std::fs::read(entry.path()).unwrap();
            assert_eq!(check_mail_client(&data), Ok(()), "{:?}", entry.path());
        }
    }
}
