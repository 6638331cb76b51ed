//! The runner: plays transcripts against an implementation over the network and judges what
//! comes back. It plays every other component of the system: IMAP clients and the push service
//! for a mail server, providers and devices for a push server.

mod case;
pub mod device;
pub mod http;
pub mod imap;
pub mod net;
pub mod report;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::transcript::{Level, Role, Transcript, TranscriptError, parse};

pub use case::run_case;

/// What the runner knows about the implementation under test.
#[derive(Clone, Debug, Default)]
pub struct Target {
    /// The IMAP server (`imap-server` role).
    pub imap: Option<SocketAddr>,
    /// A user of the IMAP server.
    pub user: String,
    /// Its password.
    pub password: String,
    /// The push server's provider API (`push-server` role).
    pub api: Option<SocketAddr>,
    /// The push server's device channel (`push-server` role).
    pub device: Option<SocketAddr>,
    /// A provider token the push server accepts.
    pub provider_token: String,
    /// A registration token the push server accepts.
    pub registration_token: String,
    /// The push server's ring capacity N (RING-1), bound as `$ring`; `None` is the default
    /// the spec requires, 100.
    pub ring_capacity: Option<usize>,
    /// How long connecting and setting a case up may take.
    pub connect_timeout: Duration,
    /// Speak TLS from the first octet to every address of the implementation; `None`: plain.
    pub tls: Option<net::TlsClient>,
    /// Run SHOULD and MAY cases as if they were MUST cases (failures are FAIL).
    pub strict: bool,
}

/// The verdict on one case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// Everything the case expects happened.
    Pass,
    /// The implementation did something the case forbids, or not what it requires.
    Fail,
    /// A SHOULD or MAY case failed, and the run is not `--strict`.
    NonStrict,
    /// The implementation lacks a capability the case requires, or an `assume` did not hold.
    Unsupported,
    /// The case did not finish within its timeout.
    Timeout,
    /// The runner could not play the case (setup failed, a transcript's expression failed, the
    /// role lacks an address).
    Error,
    /// Failed, and listed as a known failure.
    KnownFail,
}

impl Verdict {
    /// The word reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::NonStrict => "NON-STRICT",
            Verdict::Unsupported => "UNSUPPORTED",
            Verdict::Timeout => "TIMEOUT",
            Verdict::Error => "ERROR",
            Verdict::KnownFail => "KNOWN-FAIL",
        }
    }
}

/// Why a case did not pass, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The transcript line.
    pub line: usize,
    /// What went wrong.
    pub message: String,
    /// What was expected, with the variables bound so far expanded.
    pub expected: Option<String>,
    /// The closest thing that arrived.
    pub actual: Option<String>,
}

/// The result of one case.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The case id.
    pub id: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Why, unless it passed.
    pub finding: Option<Finding>,
    /// The variables bound when it ended, rendered.
    pub vars: Vec<(String, String)>,
    /// The wire log.
    pub log: Vec<String>,
    /// How long it took.
    pub elapsed: Duration,
}

/// Reads every `*.case` file below `dir`, sorted by path.
pub fn load_dir(dir: &Path) -> Result<Vec<Transcript>, LoadError> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).map_err(|e| LoadError::Io {
                path: path.display().to_string(),
                error: e.to_string(),
            })?;
            parse(&path.display().to_string(), &text).map_err(LoadError::Syntax)
        })
        .collect()
}

fn collect(dir: &Path, files: &mut Vec<std::path::PathBuf>) -> Result<(), LoadError> {
    let io = |e: std::io::Error| LoadError::Io {
        path: dir.display().to_string(),
        error: e.to_string(),
    };
    if dir.is_file() {
        files.push(dir.to_owned());
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_dir() {
            collect(&path, files)?;
        } else if path.extension().is_some_and(|e| e == "case") {
            files.push(path);
        }
    }
    Ok(())
}

/// Why the corpus could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A file or directory could not be read.
    #[error("{path}: {error}")]
    Io {
        /// The path.
        path: String,
        /// The error.
        error: String,
    },
    /// A transcript is malformed.
    #[error("{0}")]
    Syntax(TranscriptError),
}

/// Case selection: by role, and by id globs (`*` matches any run of characters).
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Only cases of this role.
    pub role: Option<Role>,
    /// Only cases whose id matches one of these (all when empty).
    pub include: Vec<String>,
    /// No case whose id matches one of these.
    pub exclude: Vec<String>,
    /// Also SHOULD and MAY cases.
    pub strict: bool,
}

impl Selection {
    /// Whether a case is selected.
    pub fn selects(&self, t: &Transcript) -> bool {
        self.role.is_none_or(|r| r == t.header.role)
            && (self.include.is_empty() || self.include.iter().any(|g| glob(g, &t.header.id)))
            && !self.exclude.iter().any(|g| glob(g, &t.header.id))
            && (self.strict || t.header.level == Level::Must)
    }
}

/// `*` matches any run of characters, everything else itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .filter(|i| rest.is_char_boundary(*i))
                .any(|i| glob(tail, &rest[i..]))
        }
    }
}

/// Runs the selected cases one after another.
pub async fn run_suite(
    cases: &[Transcript],
    target: &Target,
    push: Option<&http::PushService>,
    known: &[String],
    mut progress: impl FnMut(&Outcome),
) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    for case in cases {
        let mut outcome = run_case(case, target, push).await;
        if matches!(
            outcome.verdict,
            Verdict::Fail | Verdict::NonStrict | Verdict::Timeout
        ) && known.iter().any(|g| glob(g, &outcome.id))
        {
            outcome.verdict = Verdict::KnownFail;
        }
        progress(&outcome);
        outcomes.push(outcome);
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs_match_runs() {
        assert!(glob("xaps-*", "xaps-11.reply-form"));
        assert!(glob("*reply*", "xaps-11.reply-form"));
        assert!(!glob("xaps-1", "xaps-11"));
        assert!(glob("*", ""));
        assert!(!glob("a*b", "ac"));
    }
}
