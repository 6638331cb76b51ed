#![no_main]
//! Client side of the device channel: arbitrary server octets never make it misbehave.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(violation) = mailpush_push_proto::fuzzing::check_client_connection(data) {
        panic!("{violation}");
    }
});
