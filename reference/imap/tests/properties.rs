#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! quickcheck properties: `parse(encode(x)) == x` for arbitrary values of
//! every command and response type, and the split-input property (every
//! proper prefix of a message needs more input; the whole decodes to the
//! same value).

use mailpush_imap::fuzzing::split_property;
use mailpush_imap::{
    AuthenticateData, Command, Decode, Decoded, Encode, Greeting, IdleDone, Mailbox, Response,
};
use quickcheck::{QuickCheck, TestResult};

fn roundtrip<T: Decode + Encode + PartialEq + std::fmt::Debug>(x: T) -> TestResult {
    let enc = x.to_bytes();
    match T::decode(&enc) {
        Decoded::Complete(y, n) if n == enc.len() && y == x => TestResult::passed(),
        other => TestResult::error(format!(
            "x = {x:?}\nencoded = {:?}\ndecoded = {other:?}",
            String::from_utf8_lossy(&enc)
        )),
    }
}

fn split<T: Decode + Encode + PartialEq + std::fmt::Debug>(x: T) -> TestResult {
    let enc = x.to_bytes();
    split_property::<T>(&enc, &x);
    TestResult::passed()
}

fn qc() -> QuickCheck {
    QuickCheck::new().tests(2000).max_tests(4000)
}

#[test]
fn command_roundtrip() {
    qc().quickcheck(roundtrip::<Command> as fn(Command) -> TestResult);
}

#[test]
fn response_roundtrip() {
    qc().quickcheck(roundtrip::<Response> as fn(Response) -> TestResult);
}

#[test]
fn greeting_roundtrip() {
    qc().quickcheck(roundtrip::<Greeting> as fn(Greeting) -> TestResult);
}

#[test]
fn authenticate_data_roundtrip() {
    qc().quickcheck(roundtrip::<AuthenticateData> as fn(AuthenticateData) -> TestResult);
}

#[test]
fn idle_done_roundtrip() {
    assert!(!roundtrip(IdleDone).is_failure());
}

#[test]
fn command_split_input() {
    QuickCheck::new()
        .tests(300)
        .quickcheck(split::<Command> as fn(Command) -> TestResult);
}

#[test]
fn response_split_input() {
    QuickCheck::new()
        .tests(300)
        .quickcheck(split::<Response> as fn(Response) -> TestResult);
}

#[test]
fn greeting_split_input() {
    QuickCheck::new()
        .tests(300)
        .quickcheck(split::<Greeting> as fn(Greeting) -> TestResult);
}

#[test]
fn mailbox_unicode_roundtrip() {
    fn prop(s: String) -> bool {
        let m = Mailbox::from_unicode(&s);
        let back = m.to_unicode();
        if s.eq_ignore_ascii_case("INBOX") {
            m == Mailbox::Inbox
        } else {
            back.as_deref() == Some(s.as_str())
        }
    }
    qc().quickcheck(prop as fn(String) -> bool);
}

/// Encoded commands streamed back to back come out of the framer as the
/// same messages, one per command, whatever the chunking, with every
/// synchronizing literal announced.
#[test]
fn framer_splits_encoded_commands() {
    use mailpush_imap::framer::{Frame, Framer, FramerConfig};
    fn prop(commands: Vec<Command>, chunk: u8) -> TestResult {
        let encoded: Vec<Vec<u8>> = commands.iter().map(|c| c.to_bytes()).collect();
        let stream: Vec<u8> = encoded.concat();
        let mut framer = Framer::new(FramerConfig::default());
        let mut frames = Vec::new();
        for piece in stream.chunks(1 + chunk as usize % 17) {
            framer.push(piece);
            frames.extend(std::iter::from_fn(|| framer.next_frame()));
        }
        let messages: Vec<Vec<u8>> = frames
            .iter()
            .filter_map(|f| match f {
                Frame::Message(m) => Some(m.clone()),
                Frame::LiteralAnnounced { .. } => None,
                Frame::Rejected { .. } => Some(b"rejected".to_vec()),
            })
            .collect();
        let literals = frames
            .iter()
            .filter(|f| matches!(f, Frame::LiteralAnnounced { .. }))
            .count();
        // Every synchronizing literal is announced (a server answers each with "+").
        let synchronizing: usize = commands.iter().map(|c| c.encode().sync_points.len()).sum();
        if messages != encoded || literals < synchronizing || framer.buffered() != 0 {
            return TestResult::error(format!("{frames:?}"));
        }
        for (m, c) in messages.iter().zip(&commands) {
            if Command::decode(m) != Decoded::Complete(c.clone(), m.len()) {
                return TestResult::error(format!("{c:?} re-framed does not decode"));
            }
        }
        TestResult::passed()
    }
    QuickCheck::new()
        .tests(500)
        .quickcheck(prop as fn(Vec<Command>, u8) -> TestResult);
}
