//! The mutation score gate: faults built into the reference servers (crate `mailpush-mutants`,
//! compiled in because this crate's tests enable its `enabled` feature), each selected by
//! `MAILPUSH_MUTANT=<name>`. The switch is read once per process, so the gate runs every mutant
//! in a child process of this very test binary (the ignored test `mutation_child`), which
//! starts the reference servers in process and plays the corpus of the mutant's role. A mutant
//! is killed when at least one case FAILs or TIMEOUTs, so its child stops at the first such case
//! (`--fail-fast`); `MAILPUSH_MUTATION_EVERY_KILLER=1` plays every case instead, to list every
//! case that kills each mutant. The score (killed / total) is printed; the gate fails below
//! 90 %, and fails outright when the unmutated servers fail any case.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::VecDeque;
use std::process::Command;
use std::sync::Mutex;

use mailpush_conformance::runner::{Verdict, report};
use mailpush_mutants::{Mutant, Role as MutantRole};

/// Names the role a child plays; without it `mutation_child` does nothing.
const ROLE_VARIABLE: &str = "MAILPUSH_MUTATION_ROLE";
/// Set (to anything) to play each mutant's whole corpus rather than stop at its first kill.
const EVERY_KILLER_VARIABLE: &str = "MAILPUSH_MUTATION_EVERY_KILLER";
/// How a child reports a case: this prefix, the case id, its verdict, its milliseconds.
const CASE_LINE: &str = "MUTATION-CASE ";
/// Lowest acceptable share of killed mutants.
const GATE: f64 = 0.9;
/// Children at once; the machine's cores are shared.
const PARALLEL: usize = 2;
/// Cases a child plays at a time. Most of a case's time is its own deadlines, not work, and the
/// unmutated children play this way too: each role's corpus passing with this many jobs is
/// checked here, as passing with one is in tests/reference.rs and tests/device.rs.
const JOBS: usize = 4;

fn role_name(role: MutantRole) -> &'static str {
    match role {
        MutantRole::ImapServer => "imap-server",
        MutantRole::PushServer => "push-server",
        MutantRole::Device => "device",
    }
}

/// What a child reported of one case.
struct CaseResult {
    id: String,
    verdict: String,
    millis: u64,
}

/// One child's results.
fn run_child(role: MutantRole, mutant: Option<Mutant>) -> Vec<CaseResult> {
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
    let results: Vec<CaseResult> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix(CASE_LINE))
        .map(|l| {
            let mut words = l.split(' ');
            let (Some(id), Some(verdict), Some(millis), None) =
                (words.next(), words.next(), words.next(), words.next())
            else {
                panic!("a child's line is not `id verdict millis`: {l}");
            };
            CaseResult {
                id: id.to_owned(),
                verdict: verdict.to_owned(),
                millis: millis.parse().unwrap(),
            }
        })
        .collect();
    assert!(!results.is_empty(), "the child reported no case:\n{stdout}");
    results
}

fn is_kill(verdict: &str) -> bool {
    verdict == Verdict::Fail.as_str() || verdict == Verdict::Timeout.as_str()
}

#[test]
fn mutation_score_is_at_least_ninety_percent() {
    let roles = [
        MutantRole::ImapServer,
        MutantRole::PushServer,
        MutantRole::Device,
    ];
    let servers: Vec<Mutant> = Mutant::ALL.to_vec();
    // The unmutated children first: they play every case, so they are the longest.
    let children: Vec<(MutantRole, Option<Mutant>)> = roles
        .iter()
        .map(|r| (*r, None))
        .chain(servers.iter().map(|m| (m.role(), Some(*m))))
        .collect();
    let queue = Mutex::new(children.iter().copied().collect::<VecDeque<_>>());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL {
            scope.spawn(|| {
                loop {
                    let Some((role, mutant)) = queue.lock().unwrap().pop_front() else {
                        break;
                    };
                    let cases = run_child(role, mutant);
                    results.lock().unwrap().push((role, mutant, cases));
                }
            });
        }
    });
    let results = results.into_inner().unwrap();
    for (role, _, cases) in results.iter().filter(|(_, m, _)| m.is_none()) {
        let bad: Vec<String> = cases
            .iter()
            .filter(|c| c.verdict != Verdict::Pass.as_str())
            .map(|c| format!("{} {}", c.id, c.verdict))
            .collect();
        assert!(bad.is_empty(), "the unmutated {role} fails: {bad:?}");
        let mut slowest: Vec<&CaseResult> = cases.iter().collect();
        slowest.sort_by_key(|c| std::cmp::Reverse(c.millis));
        let shown: Vec<String> = slowest
            .iter()
            .take(5)
            .map(|c| format!("{} {} ms", c.id, c.millis))
            .collect();
        println!(
            "unmutated {role}: {} cases pass, {JOBS} at a time; slowest: {}",
            cases.len(),
            shown.join(", ")
        );
    }
    let mut survivors = Vec::new();
    let mut total = 0;
    for mutant in &servers {
        let (_, _, cases) = results
            .iter()
            .find(|(_, m, _)| *m == Some(*mutant))
            .unwrap();
        total += 1;
        let killers: Vec<&str> = cases
            .iter()
            .filter(|c| is_kill(&c.verdict))
            .map(|c| c.id.as_str())
            .collect();
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
    let killed = total - survivors.len();
    println!("mutation score: {killed}/{total}; survivors: {survivors:?}");
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
    // A mutant is killed by its first failing case; the unmutated servers must pass them all.
    let how = common::Play {
        jobs: JOBS,
        fail_fast: mutant.is_some() && std::env::var_os(EVERY_KILLER_VARIABLE).is_none(),
    };
    let (cases, outcomes) = if role == role_name(MutantRole::ImapServer) {
        assert!(mutant.is_none_or(|m| m.role() == MutantRole::ImapServer));
        common::run_imap_corpus_as(how).await
    } else if role == role_name(MutantRole::Device) {
        // The device under test is a grandchild (`device_child`), which inherits the mutant.
        assert!(mutant.is_none_or(|m| m.role() == MutantRole::Device));
        let (mut cases, mut outcomes) = common::device::run_device_corpus_as(how).await;
        // The cases that need a configured device, on a device configured as declared.
        let (configured, configured_outcomes) =
            common::device::run_configured_device_cases("", &[common::device::RENEWAL_DECLARED])
                .await;
        cases.extend(configured);
        outcomes.extend(configured_outcomes);
        (cases, outcomes)
    } else {
        assert_eq!(role, role_name(MutantRole::PushServer));
        assert!(mutant.is_none_or(|m| m.role() == MutantRole::PushServer));
        common::run_push_corpus_as(how).await
    };
    if mutant.is_none() {
        println!("{}", report::human(&cases, &outcomes));
    }
    for outcome in &outcomes {
        println!(
            "{CASE_LINE}{} {} {}",
            outcome.id,
            outcome.verdict.as_str(),
            outcome.elapsed.as_millis()
        );
    }
}
