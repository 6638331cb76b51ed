#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mailpush_imap_server::fuzzing::fuzz_message(data));
