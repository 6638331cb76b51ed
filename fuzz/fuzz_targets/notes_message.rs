#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mailpush_notes::fuzzing::check_note_message(data));
