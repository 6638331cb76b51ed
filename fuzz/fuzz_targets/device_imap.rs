#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mailpush_device_core::da::fuzzing::fuzz_device_imap(data));
