//! The mutation score gate: faults built into the reference servers (crate `mailpush-mutants`,
//! compiled in because this crate's tests enable its `enabled` feature), each selected by
//! `MAILPUSH_MUTANT=<name>`. The switch is read once per process, so the gate runs every mutant
//! in a child process of this very test binary (the ignored test `mutation_child`), which
//! starts the reference servers in process and plays the corpus of the mutant's role. A mutant
//! is killed when at least one case FAILs or TIMEOUTs. The score (killed / total) is printed; the
//! gate fails below 90 %, and fails outright when the unmutated servers fail any case.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::VecDeque;
use std::process::Command;
use std::sync::Mutex;

use mailpush_conformance::runner::{Verdict, report};
use mailpush_mutants::{Mutant, Role as MutantRole};

/// Names the role a child plays; without it `mutation_child` does nothing.
const ROLE_VARIABLE: &str = "MAILPUSH_MUTATION_ROLE";
/// How a child reports a case: this prefix, the case id, its verdict.
const CASE_LINE: &str = "MUTATION-CASE ";
/// Lowest acceptable share of killed mutants.
const GATE: f64 = 0.9;
/// Children at once; the machine's cores are shared.
const PARALLEL: usize = 2;

fn role_name(role: MutantRole) -> &'static str {
    match role {
        MutantRole::ImapServer => "imap-server",
        MutantRole::PushServer => "push-server",
        MutantRole::Device => "device",
    }
}

/// One child's verdicts, `(case id, verdict)`.
fn run_child(role: MutantRole, mutant: Option<Mutant>) -> Vec<(String, String)> {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["mutation_child", "--exact", "--ignored", "--nocapture"])
        .env(ROLE_VARIABLE, role_name(role))
        .env_remove(mailpush_mutants::VARIABLE);
    if let Some(mutant) = mutant {
        command.env(mailpush_mutants::VARIABLE, mutant.name());
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the child for {mutant:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let verdicts: Vec<(String, String)> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix(CASE_LINE))
        .map(|l| {
            let (id, verdict) = l.split_once(' ').unwrap();
            (id.to_owned(), verdict.to_owned())
        })
        .collect();
    assert!(
        !verdicts.is_empty(),
        "the child reported no case:\n{stdout}"
    );
    verdicts
}

fn is_kill(verdict: &str) -> bool {
    verdict == Verdict::Fail.as_str() || verdict == Verdict::Timeout.as_str()
}

#[test]
fn mutation_score_is_at_least_ninety_percent() {
    for role in [
        MutantRole::ImapServer,
        MutantRole::PushServer,
        MutantRole::Device,
    ] {
        let clean = run_child(role, None);
        let bad: Vec<_> = clean
            .iter()
            .filter(|(_, v)| v != Verdict::Pass.as_str())
            .collect();
        assert!(bad.is_empty(), "the unmutated {role} fails: {bad:?}");
    }
    let servers: Vec<Mutant> = Mutant::ALL.to_vec();
    let queue = Mutex::new(servers.iter().copied().collect::<VecDeque<_>>());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL {
            scope.spawn(|| {
                while let Some(mutant) = queue.lock().unwrap().pop_front() {
                    let verdicts = run_child(mutant.role(), Some(mutant));
                    let killers: Vec<String> = verdicts
                        .into_iter()
                        .filter(|(_, v)| is_kill(v))
                        .map(|(id, _)| id)
                        .collect();
                    results.lock().unwrap().push((mutant, killers));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(m, _)| servers.iter().position(|a| a == m));
    let mut survivors = Vec::new();
    for (mutant, killers) in &results {
        println!(
            "| {} | `{}` | {} | {} |",
            mutant.role(),
            mutant.name(),
            mutant.description(),
            if killers.is_empty() {
                "**survives**".to_owned()
            } else {
                killers.join(", ")
            }
        );
        if killers.is_empty() {
            survivors.push(mutant.name());
        }
    }
    let total = results.len();
    let killed = total - survivors.len();
    println!("mutation score: {killed}/{total}; survivors: {survivors:?}");
    assert_eq!(total, servers.len());
    assert!(total >= 15, "only {total} mutants");
    #[allow(clippy::cast_precision_loss)]
    let score = killed as f64 / total as f64;
    assert!(
        score >= GATE,
        "mutation score {killed}/{total} is below 90 %; survivors: {survivors:?}"
    );
}

/// The reference device started by a device-role child's runner (`--exec`).
#[test]
#[ignore = "started by the runner as the implementation under test"]
fn device_child() {
    common::device::device_child();
}

/// The child: the corpus of one role against the reference server, with whatever mutant
/// `MAILPUSH_MUTANT` selects; one `MUTATION-CASE` line per case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a child process of mutation_score_is_at_least_ninety_percent"]
async fn mutation_child() {
    let Ok(role) = std::env::var(ROLE_VARIABLE) else {
        println!("{ROLE_VARIABLE} is not set: nothing to do");
        return;
    };
    let mutant = mailpush_mutants::selected().unwrap();
    let (cases, outcomes) = if role == role_name(MutantRole::ImapServer) {
        assert!(mutant.is_none_or(|m| m.role() == MutantRole::ImapServer));
        common::run_imap_corpus().await
    } else if role == role_name(MutantRole::Device) {
        // The device under test is a grandchild (`device_child`), which inherits the mutant.
        assert!(mutant.is_none_or(|m| m.role() == MutantRole::Device));
        common::device::run_device_corpus().await
    } else {
        assert_eq!(role, role_name(MutantRole::PushServer));
        assert!(mutant.is_none_or(|m| m.role() == MutantRole::PushServer));
        // Four at a time, as tests/reference.rs shows gives the verdicts of one: most of the
        // corpus's time is its own deadlines.
        let (cases, outcomes, _) = common::run_push_corpus_parallel(4).await;
        (cases, outcomes)
    };
    if mutant.is_none() {
        println!("{}", report::human(&cases, &outcomes));
    }
    for outcome in &outcomes {
        println!("{CASE_LINE}{} {}", outcome.id, outcome.verdict.as_str());
    }
}
