//! The `trace_reader` fuzz oracle over its seed corpus and the inputs a fuzzer once found failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[test]
fn trace_reader_inputs_pass() {
    mailpush_testkit::fuzz_inputs::assert_target_passes(
        env!("CARGO_MANIFEST_DIR"),
        "trace_reader",
        |data| {
            if let Err(violation) = mailpush_trace::fuzzing::check_reader(data) {
                panic!("{violation}");
            }
        },
    );
}
