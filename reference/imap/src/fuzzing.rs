//! Oracles shared by the cargo-fuzz targets in `fuzz/` and the regression
//! tests: each takes arbitrary bytes and panics only when a property of
//! the codec is broken.
//!
//! * no panic while decoding anything;
//! * `decode(encode(x)) == x` for every value decoded;
//! * the split-input property: every proper prefix of a decoded message
//!   decodes as `Incomplete` or `LiteralFound`, and the whole as the same
//!   value;
//! * the framer frames the same whatever the chunking.

// Fuzz oracles report a broken property by panicking: that is their job.
#![allow(clippy::panic)]

use std::fmt::Debug;

use crate::framer::{Frame, Framer, FramerConfig};
use crate::{AuthenticateData, Command, Decode, Decoded, Encode, Greeting, IdleDone, Response};

/// Checks one message type on `data`.
pub fn roundtrip<T: Decode + Encode + PartialEq + Debug>(data: &[u8]) {
    let Decoded::Complete(value, used) = T::decode(data) else {
        return;
    };
    if used == 0 || used > data.len() {
        panic!("consumed {used} of {} bytes", data.len());
    }
    split_property::<T>(&data[..used], &value);
    let encoded = value.to_bytes();
    match T::decode(&encoded) {
        Decoded::Complete(again, n) if n == encoded.len() && again == value => {}
        other => panic!(
            "decode(encode(x)) != x\n  x = {value:?}\n  encoded = {:?}\n  got = {other:?}",
            String::from_utf8_lossy(&encoded)
        ),
    }
    // The encoder's own output must satisfy the split property too.
    split_property::<T>(&encoded, &value);
}

/// Every proper prefix of `msg` needs more input; the whole gives `value`.
pub fn split_property<T: Decode + PartialEq + Debug>(msg: &[u8], value: &T) {
    let n = msg.len();
    let cuts: Vec<usize> = if n <= 300 {
        (0..n).collect()
    } else {
        // Every cut near both ends and a spread in between.
        (0..64)
            .chain(n - 64..n)
            .chain((1..64).map(|k| k * n / 64))
            .collect()
    };
    for k in cuts {
        let d = T::decode(&msg[..k]);
        if !d.needs_more() {
            panic!(
                "prefix of {k}/{n} bytes gave {d:?}, expected Incomplete or LiteralFound\n  msg = {:?}",
                String::from_utf8_lossy(msg)
            );
        }
    }
    match T::decode(msg) {
        Decoded::Complete(v, used) if used == n && &v == value => {}
        other => panic!("whole message gave {other:?}, expected {value:?}"),
    }
}

/// Fuzz oracle for commands (and the AUTHENTICATE and DONE lines).
pub fn fuzz_command(data: &[u8]) {
    roundtrip::<Command>(data);
    roundtrip::<AuthenticateData>(data);
    roundtrip::<IdleDone>(data);
}

/// Fuzz oracle for server responses.
pub fn fuzz_response(data: &[u8]) {
    roundtrip::<Response>(data);
}

/// Fuzz oracle for greetings.
pub fn fuzz_greeting(data: &[u8]) {
    roundtrip::<Greeting>(data);
}

/// Fuzz oracle for the framer: the first bytes choose the caps and the
/// chunk sizes; frames must not depend on chunking, messages must be
/// bounded by the caps, and every framed message is fed to the decoders.
pub fn fuzz_framer(data: &[u8]) {
    if data.len() < 4 {
        return;
    }
    let config = FramerConfig {
        max_line: 8 + usize::from(data[0]) * 4,
        max_literal: u32::from(data[1]) * 8,
        max_message: 16 + usize::from(data[2]) * 16,
    };
    let chunk_seed = usize::from(data[3]);
    let stream = &data[4..];

    let mut whole = Framer::new(config);
    whole.push(stream);
    let a: Vec<Frame> = std::iter::from_fn(|| whole.next_frame()).collect();

    let mut chunked = Framer::new(config);
    let mut b = Vec::new();
    let mut pos = 0;
    let mut step = 1 + chunk_seed % 7;
    while pos < stream.len() {
        let end = (pos + step).min(stream.len());
        chunked.push(&stream[pos..end]);
        b.extend(std::iter::from_fn(|| chunked.next_frame()));
        // Bounded memory: never more than one message plus one chunk.
        if chunked.buffered() > config.max_message + config.max_line + 64 {
            panic!("framer holds {} bytes", chunked.buffered());
        }
        pos = end;
        step = 1 + (step * 5 + chunk_seed) % 13;
    }
    if a != b {
        panic!("framing depends on chunking:\n whole   = {a:?}\n chunked = {b:?}");
    }
    for f in &a {
        if let Frame::Message(m) = f {
            if m.len() > config.max_message {
                panic!(
                    "message of {} bytes over the cap {}",
                    m.len(),
                    config.max_message
                );
            }
            match Command::decode(m) {
                Decoded::Complete(..) | Decoded::Failed { .. } => {}
                other => panic!("a framed message decoded as {other:?}"),
            }
            roundtrip::<Command>(m);
            roundtrip::<Response>(m);
        }
    }
}
