#![no_main]
//! Server side of the device channel: arbitrary client octets never make it misbehave.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(violation) = mailpush_push_proto::fuzzing::check_server_connection(data) {
        panic!("{violation}");
    }
});
