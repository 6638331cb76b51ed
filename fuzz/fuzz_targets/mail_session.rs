#![no_main]
// The session runs over a store in memory with the user the oracle logs in as.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let store = mailpush_mail_store::Store::for_tests(&[("fred", "secret")]);
    mailpush_imap_server::fuzzing::fuzz_session(store.expect("an in-memory store opens"), data);
});
