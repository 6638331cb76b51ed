//! Replaying fuzz inputs through a fuzz oracle.
//!
//! A fuzz oracle is a function over arbitrary bytes that panics when a
//! property breaks; the cargo-fuzz targets in `fuzz/` are one line over
//! one. Each target's inputs live in two places:
//!
//! * `fuzz/corpus/<target>/`: the seed corpus, at the workspace root;
//! * `<crate>/tests/regressions/<target>/`: every input a fuzzer found
//!   failing, copied there from `fuzz/artifacts/<target>/` once fixed.
//!
//! [`assert_target_passes`] runs an oracle over both and fails the test
//! with the name of every file it failed on (not only the first).

// A test helper reports a failing oracle by panicking: that is its job.
#![allow(clippy::panic)]

use std::fmt;
use std::panic::{self, RefUnwindSafe};
use std::path::{Path, PathBuf};

/// The workspace root, found from this crate's place in it
/// (`reference/testkit`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The seed corpus of a fuzz target: `fuzz/corpus/<target>/`.
pub fn corpus_dir(target: &str) -> PathBuf {
    workspace_root().join("fuzz/corpus").join(target)
}

/// Where a crate keeps the inputs a fuzzer found failing for `target`:
/// `<crate_dir>/tests/regressions/<target>/`.
pub fn regressions_dir(crate_dir: &Path, target: &str) -> PathBuf {
    crate_dir.join("tests/regressions").join(target)
}

/// The files directly in `dir`, sorted by name; none when `dir` does not
/// exist.
///
/// # Panics
///
/// When `dir` exists but cannot be read.
pub fn input_files(dir: &Path) -> Vec<PathBuf> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => panic!("cannot read {}: {e}", dir.display()),
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| match entry {
            Ok(entry) => entry.path(),
            Err(e) => panic!("cannot read {}: {e}", dir.display()),
        })
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// An input the oracle failed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The input file.
    pub path: PathBuf,
    /// The oracle's panic message.
    pub message: String,
}

/// What a replay found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replay {
    /// Inputs run.
    pub inputs: usize,
    /// Inputs the oracle failed on, in the order run.
    pub failures: Vec<Failure>,
}

impl fmt::Display for Replay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} inputs failed",
            self.failures.len(),
            self.inputs
        )?;
        for failure in &self.failures {
            write!(f, "\n  {}: {}", failure.path.display(), failure.message)?;
        }
        Ok(())
    }
}

/// Runs `oracle` on every file directly in each of `dirs` (a missing
/// directory has no inputs), catching its panics.
///
/// # Panics
///
/// When a directory or a file in it cannot be read.
pub fn replay<F>(dirs: &[PathBuf], oracle: F) -> Replay
where
    F: Fn(&[u8]) + RefUnwindSafe,
{
    let mut replay = Replay::default();
    for dir in dirs {
        for path in input_files(dir) {
            let data = match std::fs::read(&path) {
                Ok(data) => data,
                Err(e) => panic!("cannot read {}: {e}", path.display()),
            };
            replay.inputs += 1;
            if let Err(payload) = panic::catch_unwind(|| oracle(&data)) {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(a panic without a message)".to_owned());
                replay.failures.push(Failure { path, message });
            }
        }
    }
    replay
}

/// Runs `oracle` over the seed corpus of `target` and over the regression
/// inputs the crate at `crate_dir` keeps for it (pass
/// `env!("CARGO_MANIFEST_DIR")`).
///
/// # Panics
///
/// When the oracle fails on any input (the message names every such
/// file), or when the target has no input at all (a misspelt target name
/// would otherwise pass without testing anything).
pub fn assert_target_passes<F>(crate_dir: impl AsRef<Path>, target: &str, oracle: F)
where
    F: Fn(&[u8]) + RefUnwindSafe,
{
    let dirs = [
        corpus_dir(target),
        regressions_dir(crate_dir.as_ref(), target),
    ];
    let replay = replay(&dirs, oracle);
    assert!(
        replay.inputs > 0,
        "no inputs for fuzz target {target} in {} or {}",
        dirs[0].display(),
        dirs[1].display()
    );
    assert!(replay.failures.is_empty(), "fuzz target {target}: {replay}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("mailpush-testkit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn reports_every_failing_file_by_name() {
        let dir = scratch("failures");
        std::fs::write(dir.join("a-good"), b"ok").unwrap();
        std::fs::write(dir.join("b-bad"), b"boom").unwrap();
        std::fs::write(dir.join("c-bad"), b"boom!").unwrap();
        std::fs::create_dir(dir.join("d-subdirectory")).unwrap();
        let replay = replay(&[dir.clone(), dir.join("missing")], |data: &[u8]| {
            assert!(
                !data.starts_with(b"boom"),
                "oracle broke on {} bytes",
                data.len()
            );
        });
        assert_eq!(replay.inputs, 3);
        let names: Vec<_> = replay
            .failures
            .iter()
            .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["b-bad", "c-bad"]);
        assert_eq!(replay.failures[1].message, "oracle broke on 5 bytes");
        let report = replay.to_string();
        assert!(report.starts_with("2 of 3 inputs failed"), "{report}");
        assert!(
            report.contains("c-bad: oracle broke on 5 bytes"),
            "{report}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    #[should_panic(expected = "no inputs for fuzz target")]
    fn a_target_without_inputs_fails() {
        let dir = scratch("empty");
        assert_target_passes(&dir, "no_such_target", |_: &[u8]| {});
    }

    #[test]
    #[should_panic(expected = "fuzz target")]
    fn a_failing_input_fails_the_target() {
        let dir = scratch("target");
        let regressions = regressions_dir(&dir, "t");
        std::fs::create_dir_all(&regressions).unwrap();
        std::fs::write(regressions.join("crash"), b"x").unwrap();
        assert_target_passes(&dir, "t", |_: &[u8]| panic!("broken"));
    }

    #[test]
    fn finds_the_workspace_corpora() {
        assert!(corpus_dir("imap_command").is_dir());
    }
}
