#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Codec properties and snapshots.

use std::fmt::Write;

use mailpush_push_proto::fuzzing::check_roundtrip;
use mailpush_push_proto::{
    Credential, DecodeError, Frame, FrameDecoder, Keepalive, MAX_FRAME_LEN, NotificationId,
    Payload, ReasonCode, ReasonText, VersionRange, Window, decode_frame, frame_to_vec,
};
use quickcheck::{Arbitrary, Gen, QuickCheck};

#[derive(Clone, Debug)]
struct AnyFrame(Frame);

fn credential(g: &mut Gen) -> Credential {
    let len = usize::from(u8::arbitrary(g) % 40) + 1;
    let text: String = (0..len)
        .map(|_| char::from(0x21 + u8::arbitrary(g) % 94))
        .collect();
    Credential::new(text).unwrap()
}

fn id(g: &mut Gen) -> NotificationId {
    NotificationId::new(u64::arbitrary(g).max(1)).unwrap()
}

impl Arbitrary for AnyFrame {
    fn arbitrary(g: &mut Gen) -> Self {
        let code = ReasonCode::from_u16(u16::arbitrary(g) % 30);
        let text = ReasonText::truncated(&String::arbitrary(g));
        let frame = match u8::arbitrary(g) % 8 {
            0 => {
                let a = u8::arbitrary(g).max(1);
                let b = u8::arbitrary(g).max(1);
                Frame::Hello {
                    versions: VersionRange::new(a.min(b), a.max(b)).unwrap(),
                    token: credential(g),
                    secret: credential(g),
                    cursor: u64::arbitrary(g),
                }
            }
            1 => Frame::Welcome {
                version: u8::arbitrary(g).max(1),
                cursor: u64::arbitrary(g),
                window: Window::new(u16::arbitrary(g) % 1024 + 1).unwrap(),
                keepalive: Keepalive::from_secs(u16::arbitrary(g) % 3600 + 1).unwrap(),
            },
            2 => {
                let mut octets = Vec::<u8>::arbitrary(g);
                octets.truncate(4096);
                Frame::Notify {
                    id: id(g),
                    retained: bool::arbitrary(g),
                    payload: Payload::new(octets).unwrap(),
                }
            }
            3 => Frame::Ack { id: id(g) },
            4 => Frame::Ping,
            5 => Frame::Pong,
            6 => Frame::Error { code, text },
            _ => Frame::Close { code, text },
        };
        AnyFrame(frame)
    }
}

fn frame_roundtrips(frame: AnyFrame) -> bool {
    let encoded = frame_to_vec(&frame.0);
    assert!(encoded.len() <= 4 + MAX_FRAME_LEN as usize);
    let (decoded, used) = decode_frame(&encoded).unwrap();
    assert_eq!(used, encoded.len());
    assert_eq!(decoded, frame.0);
    check_roundtrip(&encoded).unwrap();
    true
}

#[test]
fn every_frame_roundtrips() {
    QuickCheck::new()
        .tests(3000)
        .quickcheck(frame_roundtrips as fn(AnyFrame) -> bool);
}

fn arbitrary_octets_never_break_properties(octets: Vec<u8>) -> bool {
    check_roundtrip(&octets).unwrap();
    true
}

#[test]
fn arbitrary_octets_never_break_properties_test() {
    QuickCheck::new()
        .tests(5000)
        .quickcheck(arbitrary_octets_never_break_properties as fn(Vec<u8>) -> bool);
}

fn mutated_frames_never_break_properties(frame: AnyFrame, at: usize, value: u8) -> bool {
    let mut encoded = frame_to_vec(&frame.0);
    let at = at % encoded.len();
    encoded[at] = value;
    check_roundtrip(&encoded).unwrap();
    true
}

#[test]
fn mutated_frames_never_break_properties_test() {
    QuickCheck::new()
        .tests(5000)
        .quickcheck(mutated_frames_never_break_properties as fn(AnyFrame, usize, u8) -> bool);
}

#[test]
fn oversize_length_is_rejected_from_four_octets() {
    //= spec/device-channel.md#CHAN-3
    //# A receiver MUST reject a frame
    //# whose length field exceeds 8192 as soon as the 4 length octets have been read, without buffering
    //# any of its body
    assert_eq!(
        decode_frame(&8193u32.to_be_bytes()),
        Err(DecodeError::TooLarge(8193))
    );
    let mut decoder = FrameDecoder::new();
    decoder.extend(&u32::MAX.to_be_bytes());
    assert!(decoder.next_frame().is_err());
    decoder.extend(&[0; 1000]);
    assert_eq!(decoder.buffered(), 0);
}

#[test]
fn malformed_frames_are_failed() {
    //= spec/device-channel.md#CHAN-2
    //# A length of 0 is malformed.
    //= spec/device-channel.md#CHAN-4
    //# A frame that does not match the grammar of section 3 (an unknown frame type,
    //# a body shorter or longer than its fields, a reserved flag bit set, an id of zero, a string longer
    //# than its limit, text that is not UTF-8 where UTF-8 is required)
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("zero length", vec![0, 0, 0, 0]),
        ("unknown type", vec![0, 0, 0, 1, 0x09]),
        ("ping with a body", vec![0, 0, 0, 2, 0x05, 0]),
        (
            "ack of id 0",
            vec![0, 0, 0, 9, 0x04, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
        ("ack too short", vec![0, 0, 0, 5, 0x04, 0, 0, 0, 1]),
        (
            "notify with reserved flag",
            vec![0, 0, 0, 12, 0x03, 0, 0, 0, 0, 0, 0, 0, 1, 0x02, 0, 0],
        ),
        (
            "payload length beyond frame",
            vec![0, 0, 0, 12, 0x03, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 9],
        ),
        ("hello min above max", {
            let mut f = vec![0, 0, 0, 15, 0x01, 2, 1, 1, b'a', 1, b'b'];
            f.extend_from_slice(&0u64.to_be_bytes());
            f
        }),
        ("hello token with a space", {
            let mut f = vec![0, 0, 0, 15, 0x01, 1, 1, 1, b' ', 1, b'b'];
            f.extend_from_slice(&0u64.to_be_bytes());
            f
        }),
        (
            "error text not utf-8",
            vec![0, 0, 0, 5, 0x07, 0, 16, 1, 0xff],
        ),
        ("welcome window 0", {
            let mut f = vec![0, 0, 0, 14, 0x02, 1];
            f.extend_from_slice(&0u64.to_be_bytes());
            f.extend_from_slice(&[0, 0, 0, 60]);
            f
        }),
    ];
    for (name, octets) in cases {
        assert_eq!(decode_frame(&octets), Err(DecodeError::Failed), "{name}");
    }
}

fn hex(octets: &[u8]) -> String {
    let mut out = String::new();
    for chunk in octets.chunks(16) {
        for b in chunk {
            write!(out, "{b:02x} ").unwrap();
        }
        out.push('\n');
    }
    out
}

#[test]
fn frame_encodings_snapshot() {
    let frames = vec![
        Frame::Hello {
            versions: VersionRange::new(1, 1).unwrap(),
            token: Credential::new("0123abcd").unwrap(),
            secret: Credential::new("s3cret").unwrap(),
            cursor: 41,
        },
        Frame::Welcome {
            version: 1,
            cursor: 41,
            window: Window::DEFAULT,
            keepalive: Keepalive::DEFAULT,
        },
        Frame::Notify {
            id: NotificationId::new(42).unwrap(),
            retained: true,
            payload: Payload::new(&b"{\"aps\":{}}"[..]).unwrap(),
        },
        Frame::Ack {
            id: NotificationId::new(42).unwrap(),
        },
        Frame::Ping,
        Frame::Pong,
        Frame::error(ReasonCode::AuthFailed, "auth failed"),
        Frame::close(ReasonCode::Replaced, "replaced"),
    ];
    let mut out = String::new();
    for frame in &frames {
        writeln!(out, "{frame:?}").unwrap();
        out.push_str(&hex(&frame_to_vec(frame)));
    }
    insta::assert_snapshot!(out);
}
