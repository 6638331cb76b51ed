#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The model's own soundness conditions: every behaviour is finite (which `eventually` relies
//! on), symmetry reduction only merges states that differ by naming, and the command line works.

mod common;

use std::collections::HashSet;
use std::process::Command;

use mailpush_model::{
    Broken, Budgets, Config, Deviation, MailpushModel, RetainedMechanism, Schedule,
    mailbox_permutations, progress_measure,
};
use stateright::{Model, Representative};

fn small(devices: u8, budgets: Budgets) -> Config {
    Config {
        devices,
        budgets,
        ..Config::CI
    }
}

fn changes(changes: u8) -> Budgets {
    Budgets {
        changes,
        disconnects: 1,
        ..Budgets::default()
    }
}

//= spec/properties.md#SM-10
//# Every action MUST decrease a well-founded measure of the state
#[test]
fn every_action_decreases_the_progress_measure() {
    // Every deviation but the one that renews without end, which SAFE-7 exists to catch.
    let all_broken = Deviation::ALL
        .into_iter()
        .filter(|d| *d != Deviation::RenewsForever)
        .fold(Broken::NONE, Broken::with);
    let every_behaviour = Budgets {
        changes: 1,
        da_restarts: 1,
        client_restarts: 1,
        renewals: 1,
        expiries: 1,
        ttl_expiries: 1,
        unregisters: 1,
        ..changes(1)
    };
    let configs = [
        small(1, changes(2)),
        small(
            2,
            Budgets {
                changes: 1,
                ..Budgets::default()
            },
        ),
        Config {
            mechanism: RetainedMechanism::Broadcast,
            broken: all_broken,
            ..small(1, changes(2))
        },
        Config {
            broken: all_broken,
            ..small(1, every_behaviour)
        },
        small(1, every_behaviour),
        Config {
            push_mailboxes: 1,
            ..small(
                1,
                Budgets {
                    deletions: 1,
                    renames: 1,
                    recreations: 1,
                    ..Budgets::default()
                },
            )
        },
        Config {
            accounts: 2,
            push_mailboxes: 1,
            poll_mailboxes: 1,
            topic: mailpush_model::TopicPolicy::PerAccount,
            ..small(1, changes(2))
        },
        Config {
            ring_capacity: 2,
            ..small(1, changes(3))
        },
    ];
    for config in configs {
        config.validate().unwrap();
        let model = MailpushModel::new(Config {
            schedule: Schedule::Interleaved,
            ..config
        });
        let states = common::reachable(config, Schedule::Interleaved);
        assert!(states.len() > 100, "{config} explores something");
        for state in &states {
            let before = progress_measure(state);
            for (action, next) in model.next_steps(state) {
                assert!(
                    progress_measure(&next) < before,
                    "{config}: {action:?} does not decrease the measure from {state:?}"
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

/// Checks every `stride`-th reachable state of `config` against every renaming.
fn check_symmetry(config: Config, stride: usize) {
    let model = MailpushModel::new(config);
    let device_perms = permutations(usize::from(config.devices));
    let mailbox_perms = mailbox_permutations(&model.shape());
    assert!(mailbox_perms.len() > 1, "{config} renames mailboxes");
    let states = common::reachable(config, Schedule::Interleaved);
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
    check_symmetry(
        small(
            2,
            Budgets {
                changes: 1,
                ..Budgets::default()
            },
        ),
        1,
    );
    // Two mailboxes of each kind, so both classes are permuted; a sample of the states.
    let both_kinds = Config {
        poll_mailboxes: 2,
        ..small(
            2,
            Budgets {
                changes: 1,
                ..Budgets::default()
            },
        )
    };
    check_symmetry(both_kinds, 11);
    // Two accounts, exchanged as wholes.
    let accounts = Config {
        accounts: 2,
        push_mailboxes: 1,
        poll_mailboxes: 1,
        ..small(1, changes(1))
    };
    check_symmetry(accounts, 3);
    // A spare name is a mailbox with push; tokens renumbered after a rename.
    let renamed = small(
        1,
        Budgets {
            renames: 1,
            unregisters: 1,
            ..changes(0)
        },
    );
    check_symmetry(renamed, 7);
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
    assert!(text.contains("schedule=device-by-device"), "{text}");
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
    assert!(text.contains("in interleaved order"), "{text}");
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
    let (code, text) = cli(&["check", "--broken", "no-such-thing"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("known: da-ignores-retained"), "{text}");
}

#[test]
fn cli_simulate_walks_from_a_seed() {
    let (code, text) = cli(&["simulate", "--seed", "7", "--states", "5000"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("random walks from seed 7"), "{text}");
    assert!(text.contains("schedule=interleaved"), "{text}");
    assert!(
        text.contains("not violated     SAFE-1 tokens unique per mailbox"),
        "{text}"
    );
}
