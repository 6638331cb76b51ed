#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The model's own soundness conditions: every behaviour is finite (which `eventually` relies
//! on), symmetry reduction only merges states that differ by naming, and the command line works.

use std::collections::{HashSet, VecDeque};
use std::process::Command;

use mailpush_model::{Broken, Config, MailpushModel, RetainedMechanism, State, progress_measure};
use stateright::{Model, Representative};

/// Every reachable state of `config`, found without the checker.
fn reachable(config: Config) -> Vec<State> {
    let model = MailpushModel::new(config);
    let mut seen: HashSet<State> = HashSet::new();
    let mut queue: VecDeque<State> = model.init_states().into();
    let mut out = Vec::new();
    while let Some(state) = queue.pop_front() {
        if !seen.insert(state) {
            continue;
        }
        out.push(state);
        queue.extend(model.next_states(&state));
    }
    out
}

fn small(devices: u8, changes: u8) -> Config {
    Config {
        devices,
        changes,
        ..Config::CI
    }
}

//= spec/properties.md#SM-10
//# Every action MUST decrease a well-founded measure of the state
#[test]
fn every_action_decreases_the_progress_measure() {
    let mut all_broken = Broken {
        da_ignores_retained: true,
        loses_retained: true,
        server_forgets: true,
        ..Broken::default()
    };
    let configs = [
        small(1, 2),
        small(2, 1),
        Config {
            mechanism: RetainedMechanism::Broadcast,
            broken: all_broken,
            ..small(1, 2)
        },
        {
            all_broken.ring_drops_newest = true;
            all_broken.no_fan_out = true;
            all_broken.no_polls = true;
            Config {
                broken: all_broken,
                ..small(1, 2)
            }
        },
        Config {
            ring_capacity: 2,
            changes: 3,
            ..small(1, 3)
        },
    ];
    for config in configs {
        let model = MailpushModel::new(config);
        let states = reachable(config);
        assert!(states.len() > 100, "{config} explores something");
        for state in &states {
            let before = progress_measure(state);
            for (action, next) in model.next_steps(state) {
                assert!(
                    progress_measure(&next) < before,
                    "{config}: {action} does not decrease the measure from {state:?}"
                );
            }
        }
    }
}

/// All permutations of `0..n`.
fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for i in 0..n {
            let mut q: Vec<usize> = p.iter().map(|&x| if x >= i { x + 1 } else { x }).collect();
            q.push(i);
            out.push(q);
        }
    }
    out
}

/// Permutations of `0..push + poll` that keep mailboxes with push among themselves.
fn mailbox_permutations(push: usize, poll: usize) -> Vec<Vec<usize>> {
    permutations(push)
        .into_iter()
        .flat_map(|a| {
            permutations(poll).into_iter().map(move |b| {
                let mut p = a.clone();
                p.extend(b.iter().map(|x| x + push));
                p
            })
        })
        .collect()
}

/// Checks every `stride`-th reachable state of `config` against every renaming.
fn check_symmetry(config: Config, stride: usize) {
    let model = MailpushModel::new(config);
    let device_perms = permutations(usize::from(config.devices));
    let mailbox_perms = mailbox_permutations(
        usize::from(config.push_mailboxes),
        usize::from(config.poll_mailboxes),
    );
    let states = reachable(config);
    let mut representatives = HashSet::new();
    for state in states.iter().step_by(stride) {
        let representative = state.representative();
        representatives.insert(representative);
        for d in &device_perms {
            for m in &mailbox_perms {
                let renamed = state.renamed(d, m);
                assert_eq!(
                    renamed.representative(),
                    representative,
                    "{state:?} {d:?} {m:?}"
                );
                assert_eq!(renamed.quiescent(), state.quiescent());
                assert_eq!(renamed.consistent(), state.consistent());
                for property in model.properties() {
                    assert_eq!(
                        (property.condition)(&model, &renamed),
                        (property.condition)(&model, state),
                        "{} is invariant under renaming",
                        property.name
                    );
                }
            }
        }
    }
    // The reduction is real (orbits have several members) and bounded by the group's size.
    let checked = states.len().div_ceil(stride);
    assert!(representatives.len() < checked, "{config}");
    assert!(representatives.len() * device_perms.len() * mailbox_perms.len() >= checked);
}

#[test]
fn symmetry_merges_exactly_the_renamings_of_a_state() {
    // Every reachable state, with devices and mailboxes with push exchanged.
    check_symmetry(small(2, 1), 1);
    // Two mailboxes of each kind, so both classes are permuted; a sample of the states.
    let both_kinds = Config {
        poll_mailboxes: 2,
        disconnects: 0,
        ..small(2, 1)
    };
    check_symmetry(both_kinds, 11);
}

fn cli(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_mailpush-model"))
        .args(args)
        .output()
        .unwrap();
    let text =
        String::from_utf8(output.stdout).unwrap() + &String::from_utf8(output.stderr).unwrap();
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn cli_check_reports_a_passing_configuration() {
    let (code, text) = cli(&[
        "check",
        "--devices",
        "1",
        "--changes",
        "1",
        "--disconnects",
        "0",
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("strategy: DFS with symmetry"), "{text}");
    assert!(text.contains("done: "), "{text}");
    assert!(
        text.contains("holds            SAFE-5 quiescent implies consistent"),
        "{text}"
    );
    assert!(!text.contains("COUNTEREXAMPLE"), "{text}");
}

#[test]
fn cli_check_prints_a_counterexample_trace_in_spec_vocabulary() {
    let (code, text) = cli(&[
        "check",
        "--devices",
        "1",
        "--changes",
        "1",
        "--disconnects",
        "0",
        "--broken",
        "no-polls",
    ]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("COUNTEREXAMPLE   SAFE-5 quiescent implies consistent"),
        "{text}"
    );
    assert!(text.contains("counterexample for \"SAFE-5"), "{text}");
    assert!(text.contains("mailbox change of C"), "{text}");
    assert!(
        text.contains("mail server replies with the push subset"),
        "{text}"
    );
    assert!(
        text.contains("quiescent / consistent: false / true -> true / false"),
        "{text}"
    );
}

#[test]
fn cli_rejects_a_configuration_beyond_its_limits() {
    let (code, text) = cli(&["check", "--devices", "9"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("devices must be 1 to"), "{text}");
}

#[test]
fn cli_simulate_walks_from_a_seed() {
    let (code, text) = cli(&["simulate", "--seed", "7", "--states", "5000"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("random walks from seed 7"), "{text}");
    assert!(
        text.contains("not violated     SAFE-1 tokens unique per mailbox"),
        "{text}"
    );
}
