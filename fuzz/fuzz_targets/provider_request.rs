#![no_main]
//! The provider API core fed arbitrary requests in process: never a 5xx, the status the spec
//! names.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(violation) = mailpush_push_core::fuzzing::check_provider_requests(data) {
        panic!("{violation}");
    }
});
