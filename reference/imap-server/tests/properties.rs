#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! quickcheck: no input panics the session, every line the client sends gets an answer, and
//! every answer is a well-formed IMAP response.

mod common;
use common::*;

use mailpush_imap::{Decode, Decoded, Response};
use mailpush_imap_server::Config;
use quickcheck::{QuickCheck, TestResult};

/// Lines that steer the session into interesting states, mixed with arbitrary ones.
const SEEDS: &[&str] = &[
    "a LOGIN fred secret",
    "b SELECT INBOX",
    "c FETCH 1:* (FLAGS UID BODY.PEEK[]<0.3>)",
    "d STORE 1 +FLAGS (\\Seen)",
    "e IDLE",
    "DONE",
    "f AUTHENTICATE PLAIN",
    "AGZyZWQAc2VjcmV0",
    "g ENABLE QRESYNC",
    "h UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)",
    "i EXPUNGE",
    "j XAPPLEPUSHSERVICE aps-account-id a aps-device-token 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
    "k CREATE x",
    "l NOOP",
    "m SEARCH ALL",
];

fn session_with_mail(config: Config) -> (Fixture, Client) {
    let f = fixture();
    f.deliver("INBOX", "Subject: x\r\n\r\nbody\r\n", &[]);
    f.deliver("INBOX", "Subject: y\r\n\r\nbody\r\n", &["\\Deleted"]);
    let c = Client::new(&f, config, false);
    (f, c)
}

/// Each answer line the session sends decodes as an IMAP response (literal data included).
fn all_responses_parse(mut out: &[u8]) -> bool {
    while !out.is_empty() {
        match Response::decode(out) {
            Decoded::Complete(_, n) => out = &out[n..],
            _ => return false,
        }
    }
    true
}

#[test]
fn arbitrary_bytes_never_panic_and_answers_are_well_formed() {
    fn prop(chunks: Vec<Vec<u8>>) -> TestResult {
        let config = Config {
            max_line: 64,
            max_literal: 16,
            max_command: 128,
            ..loopback_config()
        };
        let (_f, mut c) = session_with_mail(config);
        let mut out = Vec::new();
        for chunk in &chunks {
            c.session.handle_input(chunk, now(1));
            while let Some(b) = c.session.poll_output() {
                out.extend_from_slice(&b);
            }
        }
        TestResult::from_bool(all_responses_parse(&out))
    }
    QuickCheck::new()
        .tests(200)
        .quickcheck(prop as fn(Vec<Vec<u8>>) -> TestResult);
}

#[test]
fn every_line_gets_an_answer() {
    // Lines that do not announce a literal: each must get at least one answer line (`+`,
    // untagged or tagged) unless the session has ended.
    fn prop(picks: Vec<(bool, u8, String)>) -> TestResult {
        let (_f, mut c) = session_with_mail(loopback_config());
        for (seeded, seed, arbitrary) in picks {
            let line = if seeded {
                SEEDS[seed as usize % SEEDS.len()].to_owned()
            } else {
                arbitrary.replace(['\r', '\n'], " ")
            };
            if line.trim_end().ends_with('}') {
                continue;
            }
            let answer = c.send(&line);
            if c.session.is_closed() {
                return TestResult::passed();
            }
            if answer.is_empty() {
                return TestResult::error(format!("no answer to {line:?}; log:\n{}", c.log));
            }
            if !all_responses_parse(answer.as_bytes()) {
                return TestResult::error(format!("malformed answer {answer:?}"));
            }
        }
        TestResult::passed()
    }
    QuickCheck::new()
        .tests(100)
        .quickcheck(prop as fn(Vec<(bool, u8, String)>) -> TestResult);
}
