#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Runs the `notes_message` fuzz oracle over the checked-in seed corpus and over every input a
//! fuzzer ever found failing (kept in `tests/regressions/notes_message/`), so a fixed crash
//! stays fixed without cargo-fuzz.

use std::path::Path;

fn run_dir(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for e in entries {
        let path = e.unwrap().path();
        if path.is_file() {
            let data = std::fs::read(&path).unwrap();
            let r = std::panic::catch_unwind(|| mailpush_notes::fuzzing::check_note_message(&data));
            assert!(r.is_ok(), "oracle failed on {}", path.display());
            n += 1;
        }
    }
    n
}

#[test]
fn notes_message_inputs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = run_dir(&root.join("../../fuzz/corpus/notes_message"));
    let regressions = run_dir(&root.join("tests/regressions/notes_message"));
    assert!(corpus + regressions > 0, "no inputs for notes_message");
}
