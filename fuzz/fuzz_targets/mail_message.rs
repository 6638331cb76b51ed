#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mailpush_mail_server::fuzzing::fuzz_message(data));
