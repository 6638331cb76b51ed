#![no_main]
//! Conformance transcript parser (and the runner's response and frame readers): no panic, errors
//! inside the text.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(violation) = mailpush_conformance::fuzzing::check_transcript(data) {
        panic!("{violation}");
    }
});
