#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mailpush_device_core::mail_client::fuzzing::fuzz_device_mail_client(data)
});
