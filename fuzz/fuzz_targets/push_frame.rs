#![no_main]
//! Device-channel frame parser: no panic, parse → encode → parse equality, split input.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(violation) = mailpush_push_proto::fuzzing::check_roundtrip(data) {
        panic!("{violation}");
    }
});
