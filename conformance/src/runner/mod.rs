//! The runner: plays transcripts against an implementation over the network and judges what
//! comes back. It plays every other component of the system: IMAP clients and the push service
//! for a mail server, providers and devices for a push server.

mod case;
pub mod client;
pub mod device;
pub mod http;
pub mod imap;
pub mod net;
pub mod push_service;
pub mod report;
pub mod restart;

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
    /// A second user of the IMAP server and its password (the `second-user` harness ability),
    /// bound as `$user2` and `$password2`; `None`: cases that need it are UNSUPPORTED.
    pub second_user: Option<(String, String)>,
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
    /// The implementation a device case starts (`device` role, `--exec`).
    pub exec: Option<client::DeviceExec>,
    /// The command that drives the device's application (`--app`, the `app` harness ability);
    /// `None`: cases that need it are UNSUPPORTED.
    pub app: Option<String>,
    /// How to restart the implementation (the `restart` harness ability); `None`: cases that
    /// need it are UNSUPPORTED.
    pub restart: Option<restart::Restart>,
    /// Start no case after the first that fails the run ([`Verdict::fails_run`], `--fail-fast`):
    /// a run that needs only to know whether the implementation fails at all ends sooner. The
    /// cases already running finish; the outcomes leave out the cases never started.
    pub fail_fast: bool,
    /// What the operator declared of the implementation's configuration (`--config`), checked
    /// against a case's `config:` needs and bound as `$config_<name>`; the last declaration of
    /// a name counts.
    pub config: Vec<crate::transcript::ConfigNeed>,
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

    /// Whether this verdict fails a run (exit status 1): the implementation did something a
    /// case forbids, or not in time. What `--fail-fast` stops at.
    pub fn fails_run(self) -> bool {
        matches!(self, Verdict::Fail | Verdict::Timeout)
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

/// Runs the selected cases one after another (with [`Target::fail_fast`], until one fails the
/// run).
pub async fn run_suite(
    cases: &[Transcript],
    target: &Target,
    push: Option<&http::PushService>,
    known: &[String],
    mut progress: impl FnMut(&Outcome),
) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    for case in cases {
        let outcome = known_failure(run_case(case, target, push).await, known);
        progress(&outcome);
        let stop = target.fail_fast && outcome.verdict.fails_run();
        outcomes.push(outcome);
        if stop {
            break;
        }
    }
    outcomes
}

/// A failure listed in the expectations becomes KNOWN-FAIL.
fn known_failure(mut outcome: Outcome, known: &[String]) -> Outcome {
    if matches!(
        outcome.verdict,
        Verdict::Fail | Verdict::NonStrict | Verdict::Timeout
    ) && known.iter().any(|g| glob(g, &outcome.id))
    {
        outcome.verdict = Verdict::KnownFail;
    }
    outcome
}

/// Whether the cases of `role` may run side by side, and if not, why.
pub fn parallel_allowed(role: Role) -> Result<(), SuiteError> {
    match role {
        // Every case registers devices of its own (or draws a random token), and the push
        // server keeps its state per device.
        Role::PushServer => Ok(()),
        // Every case binds its own ports and starts its own device in its own directory.
        Role::Device => Ok(()),
        // Every case registers its own random device token and creates its own mailboxes; the
        // runner's push service hands each case only the requests for its token.
        Role::ImapServer => Ok(()),
    }
}

/// Runs the selected cases of a role that allows it (`parallel_allowed`), up to `jobs` at a
/// time; a case marked `exclusive:` runs alone. `progress` sees each outcome as its case
/// finishes; the outcomes come back in the order of `cases`, whatever order they finished in.
/// With [`Target::fail_fast`] no case starts once one has failed the run.
pub async fn run_suite_parallel(
    cases: &[Transcript],
    target: &Target,
    known: &[String],
    jobs: usize,
    progress: impl FnMut(&Outcome),
) -> Result<Vec<Outcome>, SuiteError> {
    run_suite_parallel_with_push(cases, target, None, known, jobs, progress).await
}

/// [`run_suite_parallel`], with the push service the `imap-server` cases need: it hands each
/// case the requests for the device token of that case. A case that restarts the
/// implementation runs alone, as does one marked `exclusive:`.
pub async fn run_suite_parallel_with_push(
    cases: &[Transcript],
    target: &Target,
    push: Option<std::sync::Arc<http::PushService>>,
    known: &[String],
    jobs: usize,
    mut progress: impl FnMut(&Outcome),
) -> Result<Vec<Outcome>, SuiteError> {
    for case in cases {
        parallel_allowed(case.header.role)?;
        if case.header.role == Role::ImapServer && push.is_none() {
            return Err(SuiteError::NotParallel {
                role: case.header.role,
                why: "its cases in parallel need the push service the runner plays \
                      (--push-listen), which keeps each case's push requests apart",
            });
        }
    }
    let jobs = jobs.max(1);
    let target = std::sync::Arc::new(target.clone());
    let mut running = tokio::task::JoinSet::new();
    let mut index_of = std::collections::HashMap::new();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; cases.len()];
    let mut finish =
        |joined: Result<(tokio::task::Id, Outcome), tokio::task::JoinError>,
         outcomes: &mut Vec<Option<Outcome>>,
         index_of: &mut std::collections::HashMap<tokio::task::Id, usize>| {
            let (id, outcome) = match joined {
                Ok((id, outcome)) => (id, outcome),
                Err(e) => {
                    let id = e.id();
                    let case = index_of.get(&id).and_then(|i| cases.get(*i));
                    let outcome = Outcome {
                        id: case.map(|c| c.header.id.clone()).unwrap_or_default(),
                        verdict: Verdict::Error,
                        finding: Some(Finding {
                            line: 1,
                            message: format!("the runner's task for this case ended: {e}"),
                            expected: None,
                            actual: None,
                        }),
                        vars: Vec::new(),
                        log: Vec::new(),
                        elapsed: Duration::ZERO,
                    };
                    (id, outcome)
                }
            };
            let outcome = known_failure(outcome, known);
            progress(&outcome);
            let failed = outcome.verdict.fails_run();
            if let Some(slot) = index_of.remove(&id).and_then(|i| outcomes.get_mut(i)) {
                *slot = Some(outcome);
            }
            failed
        };
    let mut failed = false;
    for (index, case) in cases.iter().enumerate() {
        let exclusive = case.header.exclusive || case.header.harness.iter().any(|h| h == "restart");
        let limit = if exclusive { 1 } else { jobs };
        while running.len() >= limit {
            let Some(joined) = running.join_next_with_id().await else {
                break;
            };
            failed |= finish(joined, &mut outcomes, &mut index_of);
        }
        // Cases that ended while this one waited for its turn may have failed the run.
        while let Some(joined) = running.try_join_next_with_id() {
            failed |= finish(joined, &mut outcomes, &mut index_of);
        }
        if failed && target.fail_fast {
            break;
        }
        let case = case.clone();
        let target = std::sync::Arc::clone(&target);
        let push = push.clone();
        let handle = running.spawn(async move { run_case(&case, &target, push.as_deref()).await });
        index_of.insert(handle.id(), index);
        if exclusive {
            while let Some(joined) = running.join_next_with_id().await {
                failed |= finish(joined, &mut outcomes, &mut index_of);
            }
        }
    }
    while let Some(joined) = running.join_next_with_id().await {
        finish(joined, &mut outcomes, &mut index_of);
    }
    Ok(outcomes.into_iter().flatten().collect())
}

/// Why a suite could not be run as asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SuiteError {
    /// More than one job was asked for cases of a role whose cases cannot run side by side,
    /// or without what they need to.
    #[error("--jobs above 1 is not possible for the {role} role: {why}")]
    NotParallel {
        /// The role.
        role: Role,
        /// Why its cases interfere.
        why: &'static str,
    },
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
