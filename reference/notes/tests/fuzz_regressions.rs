//! Runs the `notes_message` fuzz oracle over the checked-in seed corpus and over every input a
//! fuzzer ever found failing (kept in `tests/regressions/notes_message/`), so a fixed crash
//! stays fixed without cargo-fuzz.

use mailpush_notes::fuzzing::check_note_message;
use mailpush_testkit::fuzz_inputs::assert_target_passes;

#[test]
fn notes_message_inputs() {
    assert_target_passes(
        env!("CARGO_MANIFEST_DIR"),
        "notes_message",
        check_note_message,
    );
}
