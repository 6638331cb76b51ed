#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mailpush_imap::fuzzing::fuzz_greeting(data));
