#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Numbers from a peer are bounded to the ranges of their ABNF rules:
//! `number` is 32-bit (RFC 3501 §9), `mod-sequence-value` 63-bit
//! (RFC 7162 §7); and the framer reads a literal's length the way the
//! parser does.

use mailpush_imap::framer::{Frame, FrameError, Framer, FramerConfig, literal_announcement};
use mailpush_imap::*;

const MAX: u64 = MAX_MOD_SEQUENCE;

fn failed_with<T: Decode + std::fmt::Debug>(input: &str, what: &str) {
    match T::decode(input.as_bytes()) {
        Decoded::Failed { message, .. } => {
            assert!(message.contains(what), "{input:?}: {message}")
        }
        other => panic!("{input:?} gave {other:?}, expected a failure naming {what:?}"),
    }
}

fn complete<T: Decode + std::fmt::Debug>(input: &str) -> T {
    match T::decode(input.as_bytes()) {
        Decoded::Complete(v, n) if n == input.len() => v,
        other => panic!("{input:?} gave {other:?}"),
    }
}

#[test]
fn mod_sequence_max_is_the_63_bit_maximum() {
    assert_eq!(MAX, i64::MAX.unsigned_abs());
    assert_eq!(MAX.to_string(), "9223372036854775807");
}

/// Every command that carries a mod-sequence takes 2^63 - 1 and refuses
/// 2^63: before the bound, 2^63 and above reached a server as a `u64` that
/// its 63-bit store could not hold.
#[test]
fn commands_refuse_mod_sequences_beyond_63_bits() {
    for template in [
        "a UID FETCH 1:* (FLAGS) (CHANGEDSINCE {})\r\n",
        "a STORE 1 (UNCHANGEDSINCE {}) +FLAGS (\\Seen)\r\n",
        "a SEARCH MODSEQ {}\r\n",
        "a SEARCH MODSEQ \"/flags/\\\\draft\" all {}\r\n",
        "a SELECT INBOX (QRESYNC (1 {}))\r\n",
    ] {
        let ok = template.replace("{}", &MAX.to_string());
        let c: Command = complete(&ok);
        assert!(format!("{c:?}").contains(&MAX.to_string()), "{c:?}");
        for beyond in [
            "9223372036854775808",
            "18446744073709551615",
            "18446744073709551616",
        ] {
            failed_with::<Command>(
                &template.replace("{}", beyond),
                "mod-sequence-value within 63 bits",
            );
        }
    }
}

#[test]
fn responses_refuse_mod_sequences_beyond_63_bits() {
    for template in [
        "* 1 FETCH (MODSEQ ({}))\r\n",
        "* SEARCH 1 2 (MODSEQ {})\r\n",
        "* STATUS INBOX (HIGHESTMODSEQ {})\r\n",
    ] {
        let _: Response = complete(&template.replace("{}", &MAX.to_string()));
        failed_with::<Response>(
            &template.replace("{}", "9223372036854775808"),
            "mod-sequence-value within 63 bits",
        );
    }
    // A response code whose arguments do not parse is kept verbatim.
    let r: Response = complete("* OK [HIGHESTMODSEQ 9223372036854775808] x\r\n");
    let Response::Data(Data::Status(Status {
        text: RespText {
            code: Some(Code::Other(other)),
            ..
        },
        ..
    })) = r
    else {
        panic!("{r:?}")
    };
    assert_eq!(other.atom().as_str(), "HIGHESTMODSEQ");
    assert_eq!(other.text(), Some("9223372036854775808"));
    let r: Response = complete(&format!("* OK [HIGHESTMODSEQ {MAX}] x\r\n"));
    assert!(format!("{r:?}").contains(&format!("HighestModSeq({MAX})")));
}

#[test]
fn numbers_are_32_bit() {
    let c: Command = complete("a SEARCH LARGER 4294967295\r\n");
    assert!(matches!(
        &c.body,
        CommandBody::Search { criteria, .. } if criteria[0] == SearchKey::Larger(u32::MAX)
    ));
    failed_with::<Command>("a SEARCH LARGER 4294967296\r\n", "number within 32 bits");
    failed_with::<Command>(
        "a SEARCH LARGER 99999999999999999999999\r\n",
        "number within 32 bits",
    );
    failed_with::<Response>("* 4294967296 EXISTS\r\n", "number within 32 bits");
    failed_with::<Command>("a LOGIN {4294967296}\r\n", "number within 32 bits");
    // Leading zeros do not count against the range.
    let c: Command = complete("a SEARCH LARGER 000000000000000000004294967295\r\n");
    assert!(format!("{c:?}").contains("4294967295"));
}

/// The framer and the parser agree on where a literal is: a length written
/// with more than 19 digits (leading zeros) used to pass the framer as a
/// complete line, whose literal octets then framed as the next command.
#[test]
fn literal_lengths_with_leading_zeros_are_literals() {
    let line = b"a LOGIN {00000000000000000000005}\r\n";
    assert_eq!(literal_announcement(line), Some((5, true)));
    assert_eq!(
        Command::decode(line),
        Decoded::LiteralFound {
            length: 5,
            synchronizing: true
        }
    );
    let mut framer = Framer::new(FramerConfig::default());
    framer.push(b"a LOGIN {00000000000000000000005}\r\nhello {0000000000000000000003+}\r\nabc\r\n");
    let frames: Vec<Frame> = std::iter::from_fn(|| framer.next_frame()).collect();
    let [
        Frame::LiteralAnnounced {
            length: 5,
            synchronizing: true,
        },
        Frame::LiteralAnnounced {
            length: 3,
            synchronizing: false,
        },
        Frame::Message(m),
    ] = frames.as_slice()
    else {
        panic!("{frames:?}")
    };
    let c: Command = complete(std::str::from_utf8(m).unwrap());
    assert_eq!(
        c.body,
        CommandBody::Login {
            username: "hello".into(),
            password: "abc".into()
        }
    );
}

/// A length beyond 64 bits is a literal no cap admits, not a line.
#[test]
fn literal_lengths_beyond_64_bits_are_refused() {
    let line = b"a LOGIN {123456789012345678901234567890+}\r\n";
    assert_eq!(literal_announcement(line), Some((u64::MAX, false)));
    let mut framer = Framer::new(FramerConfig::default());
    framer.push(line);
    assert!(matches!(
        framer.next_frame(),
        Some(Frame::Rejected {
            error: FrameError::LiteralTooLarge {
                length: u64::MAX,
                synchronizing: false,
                ..
            },
            ..
        })
    ));
}

/// A peer names four billion UIDs in 22 octets (`VANISHED 1:4294967295`): the set answers
/// questions about them range by range, and listing them is refused up front instead of
/// walking every value.
#[test]
fn a_hostile_uid_set_is_never_walked() {
    let Response::Data(Data::Vanished { earlier, uids }) =
        complete::<Response>("* VANISHED 1:4294967295,7,9:3\r\n")
    else {
        panic!("not a VANISHED response");
    };
    assert!(!earlier);
    assert_eq!(
        uids.iter_ranges().collect::<Vec<_>>(),
        [1..=u32::MAX, 7..=7, 3..=9]
    );
    assert_eq!(uids.count(), u64::from(u32::MAX) + 1 + 7);
    assert!(uids.contains(u32::MAX) && uids.contains(1));
    assert_eq!(uids.first().get(), 1);
    let refused = uids.uids_at_most(1 << 20).unwrap_err();
    assert_eq!(refused.what, "uid set");
    // A set within the bound is listed in the order written.
    let Response::Data(Data::Vanished { uids: small, .. }) =
        complete::<Response>("* VANISHED (EARLIER) 9:7,2\r\n")
    else {
        panic!("not a VANISHED response");
    };
    assert_eq!(small.uids_at_most(4).unwrap(), [7, 8, 9, 2]);
    assert!(small.uids_at_most(3).is_err());
    assert_eq!(small.first().get(), 7);
}
