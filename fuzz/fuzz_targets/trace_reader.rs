#![no_main]
//! Protocol trace reader: no panic, stops at the first fault, what it accepts writes and reads back.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(violation) = mailpush_trace::fuzzing::check_reader(data) {
        panic!("{violation}");
    }
});
