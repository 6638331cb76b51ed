#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The device-by-device schedule checks what the interleaved one checks: every device goes
//! through exactly the same states in both, every property gets the same verdict, and each
//! device-by-device counterexample replays as an interleaved one.

mod common;

use std::collections::{BTreeSet, HashSet};

use mailpush_model::state::{Device, ServerEvent, State};
use mailpush_model::{
    Broken, Budgets, Config, Deviation, MailpushModel, Schedule, TopicPolicy, schedule,
};
use stateright::{Checker, Model};

/// What one device is in a state: its own parts, and how many mail server events of each kind
/// are still to come for it (recorded and not taken in, or not happened yet).
type Projection = (Device, [u8; 4]);

fn project(state: &State, d: &Device) -> Projection {
    let e = state.events_left;
    let mut to_come = [e.changes, e.recreations, e.deletions, e.renames];
    for byte in state
        .log
        .iter()
        .take(usize::from(state.log_len))
        .skip(usize::from(d.taken_in))
    {
        let kind = match ServerEvent::decode(*byte) {
            ServerEvent::Change(_) => 0,
            ServerEvent::Recreated(_) => 1,
            ServerEvent::Deleted(_) => 2,
            ServerEvent::Renamed(..) => 3,
        };
        to_come[kind] += 1;
    }
    (Device { taken_in: 0, ..*d }, to_come)
}

/// The projections of every device of every reachable state, per device.
fn projections(config: Config, schedule: Schedule) -> Vec<HashSet<Projection>> {
    let states = common::reachable(config, schedule);
    (0..usize::from(config.devices))
        .map(|i| states.iter().map(|s| project(s, &s.devices()[i])).collect())
        .collect()
}

fn verdicts(config: Config, schedule: Schedule) -> BTreeSet<&'static str> {
    let checker = MailpushModel::new(Config { schedule, ..config })
        .checker()
        .spawn_dfs()
        .join();
    checker.discoveries().into_keys().collect()
}

fn agree(config: Config) {
    let interleaved = projections(config, Schedule::Interleaved);
    let by_device = projections(config, Schedule::DeviceByDevice);
    assert_eq!(interleaved.len(), by_device.len());
    for (i, (a, b)) in interleaved.iter().zip(&by_device).enumerate() {
        assert!(a.len() > 10, "{config}");
        let missing = a.difference(b).count();
        let extra = b.difference(a).count();
        assert!(
            missing == 0 && extra == 0,
            "{config}: device {i}: {missing} states only interleaved, {extra} only device by device"
        );
    }
    assert_eq!(
        verdicts(config, Schedule::Interleaved),
        verdicts(config, Schedule::DeviceByDevice),
        "{config}"
    );
}

fn budgets(changes: u8, disconnects: u8) -> Budgets {
    Budgets {
        changes,
        disconnects,
        ..Budgets::default()
    }
}

/// Two devices, one mailbox with push and one without.
fn two(budgets: Budgets) -> Config {
    Config {
        devices: 2,
        push_mailboxes: 1,
        poll_mailboxes: 1,
        budgets,
        ..Config::CI
    }
}

//= spec/properties.md#SM-17
//# the result is compared with the plain,
//# interleaved model on configurations small enough for both
#[test]
fn both_schedules_reach_the_same_device_states_and_verdicts() {
    agree(two(budgets(1, 1)));
    agree(Config {
        push_mailboxes: 2,
        poll_mailboxes: 0,
        topic: TopicPolicy::PerAccount,
        ..two(budgets(2, 0))
    });
}

#[test]
fn both_schedules_agree_on_every_behaviour() {
    for extra in [
        Budgets {
            deletions: 1,
            ..budgets(0, 0)
        },
        Budgets {
            renames: 1,
            ..budgets(0, 0)
        },
        Budgets {
            recreations: 1,
            ..budgets(0, 0)
        },
        Budgets {
            da_restarts: 1,
            client_restarts: 1,
            ..budgets(1, 0)
        },
        Budgets {
            expiries: 1,
            ttl_expiries: 1,
            ..budgets(1, 0)
        },
        Budgets {
            unregisters: 1,
            ..budgets(1, 0)
        },
    ] {
        agree(two(extra));
    }
}

#[test]
fn both_schedules_agree_on_broken_variants() {
    for deviation in [
        Deviation::NoFanOut,
        Deviation::RetainedOnLast,
        Deviation::ForgetsDeletedNames,
    ] {
        agree(Config {
            poll_mailboxes: 0,
            ring_capacity: 2,
            broken: Broken::NONE.with(deviation),
            ..two(Budgets {
                recreations: 1,
                ..budgets(1, 1)
            })
        });
    }
}

#[test]
fn a_device_by_device_counterexample_replays_interleaved() {
    let config = Config {
        devices: 3,
        broken: Broken::NONE.with(Deviation::NoFanOut),
        ..Config::CI
    };
    let model = MailpushModel::new(config);
    let checker = model.checker().symmetry().spawn_dfs().join();
    let path = checker
        .discovery(mailpush_model::properties::SAFE_5)
        .unwrap();
    let replayed = schedule::interleaved(checker.model(), &path).unwrap();
    assert_eq!(
        replayed.clone().into_actions().len() + count_take_ins(&path),
        path.clone().into_actions().len()
    );
    let last = replayed.last_state();
    assert!(last.quiescent() && !last.consistent());
    // Each mail server event happens where the devices take it in, not at the start.
    let actions = replayed.into_actions();
    assert!(actions.first().is_some_and(|a| a.device().is_some()));
}

fn count_take_ins(path: &stateright::Path<State, mailpush_model::Action>) -> usize {
    path.clone()
        .into_actions()
        .iter()
        .filter(|a| matches!(a, mailpush_model::Action::TakeIn(_)))
        .count()
}
