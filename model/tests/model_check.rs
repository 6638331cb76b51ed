#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Model checking in `cargo test`: the CI configuration exhaustively, the alternative mechanism,
//! the APNs-like deployment, and every broken variant's counterexample.
//!
//! Run in release (`cargo test --release -p mailpush-model`): the CI configuration has about 1.5
//! million unique states after symmetry reduction.

use std::collections::BTreeSet;

use mailpush_model::model::{
    LIVE_1, REACH_1, REACH_2, REACH_3, SAFE_1, SAFE_2, SAFE_3, SAFE_4, SAFE_5, SAFE_6, SAFE_7,
};
use mailpush_model::state::PushPhase;
use mailpush_model::{Action, Broken, Config, MailpushModel, RetainedMechanism, State, trace};
use stateright::{Checker, HasDiscoveries, Model, Path};

/// Unique states of [`Config::CI`] under DFS with symmetry reduction. A change here means the
/// protocol or the model changed: re-measure, and update model/README.md with the new figures.
const CI_UNIQUE_STATES: usize = 1_496_740;

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

//= spec/properties.md#SM-12
//# while the protocol as specified MUST find none
#[test]
fn ci_configuration_is_exhaustively_checked_and_every_property_holds() {
    let model = MailpushModel::new(Config::CI);
    let names: BTreeSet<&str> = model.properties().iter().map(|p| p.name).collect();
    for expected in [
        SAFE_1, SAFE_2, SAFE_3, SAFE_4, SAFE_5, SAFE_6, SAFE_7, LIVE_1, REACH_1, REACH_3,
    ] {
        assert!(
            names.contains(expected),
            "CI configuration checks {expected}"
        );
    }
    let checker = model
        .checker()
        .symmetry()
        .threads(threads())
        .spawn_dfs()
        .join();
    checker.assert_properties();
    assert_eq!(checker.unique_state_count(), CI_UNIQUE_STATES);

    // The examples are the scenarios the properties name, not accidents of the encoding.
    let drop = checker.discovery(REACH_1).unwrap();
    assert!(drop.last_state().history.dropped && drop.last_state().quiescent());
    let poll = checker.discovery(REACH_3).unwrap();
    assert!(
        poll.clone()
            .into_actions()
            .iter()
            .any(|a| matches!(a, Action::ScheduledPoll(..)))
    );
}

#[test]
fn apns_like_deployment_coalesces_and_converges() {
    // One topic per account: held notifications are replaced, never dropped. The poll mailbox
    // adds nothing to this scenario, so it is left out to keep the run short.
    let config = Config {
        poll_mailboxes: 0,
        ..Config::APNS
    };
    let model = MailpushModel::new(config);
    assert!(model.properties().iter().any(|p| p.name == REACH_2));
    let checker = model
        .checker()
        .symmetry()
        .threads(threads())
        .spawn_dfs()
        .join();
    checker.assert_properties();
    assert!(
        checker
            .discovery(REACH_2)
            .unwrap()
            .last_state()
            .history
            .coalesced
    );
}

//= spec/properties.md#SM-12
//# The model MUST also check the alternative to the fan-out described in
//# device-local.md (one retained broadcast on which the DA resyncs every monitored
//# mailbox) and find no counterexample for it
#[test]
fn the_alternative_retained_broadcast_also_converges() {
    let config = Config {
        mechanism: RetainedMechanism::Broadcast,
        disconnects: 0,
        ..Config::CI
    };
    let checker = MailpushModel::new(config)
        .checker()
        .symmetry()
        .threads(threads())
        .spawn_dfs()
        .join();
    checker.assert_properties();
}

/// Checks until SAFE-5 has a counterexample, and returns it after checking that the last state
/// really is quiescent and inconsistent.
fn counterexample(config: Config) -> Path<State, Action> {
    let checker = MailpushModel::new(config)
        .checker()
        .symmetry()
        .threads(threads())
        .finish_when(HasDiscoveries::AnyOf(BTreeSet::from([SAFE_5])))
        .spawn_dfs()
        .join();
    let path = checker
        .discovery(SAFE_5)
        .unwrap_or_else(|| panic!("no counterexample for {config}"));
    let last = path.last_state();
    assert!(last.quiescent() && !last.consistent(), "{config}: {last:?}");
    let rendered = trace::render(checker.model(), &path);
    assert!(rendered.ends_with("-> true / false\n"), "{rendered}");
    path
}

fn broken(set: fn(&mut Broken)) -> Config {
    let mut config = Config::CI;
    set(&mut config.broken);
    config
}

/// Pairs of (state before, action) along a path.
fn steps(path: &Path<State, Action>) -> Vec<(State, Action)> {
    path.clone()
        .into_vec()
        .into_iter()
        .filter_map(|(state, action)| action.map(|a| (state, a)))
        .collect()
}

//= spec/properties.md#SM-12
//# The model MUST offer each of these deviations as a configuration
//# flag, and for each one checking MUST find a counterexample to SAFE-5
#[test]
fn da_ignoring_retained_fan_out_wakes_is_caught() {
    let path = counterexample(broken(|b| b.da_ignores_retained = true));
    let skipped = steps(&path).iter().any(|(before, action)| match action {
        Action::DaSync(d, t) => before.devices()[usize::from(*d)].fan_out_only & (1 << t) != 0,
        _ => false,
    });
    assert!(skipped, "the counterexample skips a fan-out wake");
}

#[test]
fn da_ignoring_the_retained_broadcast_is_caught() {
    let mut config = broken(|b| b.da_ignores_retained = true);
    config.mechanism = RetainedMechanism::Broadcast;
    let path = counterexample(config);
    assert!(
        steps(&path)
            .iter()
            .any(|(_, a)| matches!(a, Action::RetainedBroadcast(_)))
    );
}

#[test]
fn mail_client_without_fan_out_is_caught() {
    let path = counterexample(broken(|b| b.no_fan_out = true));
    let retained_delivered = steps(&path).iter().any(|(before, action)| match action {
        Action::Deliver(d) => before.devices()[usize::from(*d)].mark,
        _ => false,
    });
    assert!(
        retained_delivered,
        "the counterexample delivers a retained notification"
    );
}

#[test]
fn ring_dropping_the_newest_without_marking_is_caught() {
    let path = counterexample(broken(|b| b.ring_drops_newest = true));
    assert!(path.last_state().history.dropped);
    assert!(
        !steps(&path).iter().any(|(before, action)| match action {
            Action::Deliver(d) => before.devices()[usize::from(*d)].mark,
            _ => false,
        }),
        "nothing tells the device that it missed a notification"
    );
}

#[test]
fn push_server_losing_the_retained_flag_across_reconnect_is_caught() {
    let path = counterexample(broken(|b| b.loses_retained = true));
    let lost = steps(&path).iter().any(|(before, action)| match action {
        Action::Reconnect(d) => before.devices()[usize::from(*d)].mark,
        _ => false,
    });
    assert!(
        lost,
        "the counterexample reconnects a device whose mark was set"
    );
}

#[test]
fn mail_server_forgetting_a_registration_is_caught() {
    let path = counterexample(broken(|b| b.server_forgets = true));
    assert!(
        steps(&path)
            .iter()
            .any(|(_, a)| matches!(a, Action::ServerForgetsRegistration(_)))
    );
}

#[test]
fn missing_scheduled_polls_are_caught() {
    let path = counterexample(broken(|b| b.no_polls = true));
    let last = path.last_state();
    // Only the mailbox without push (C, index 2) can be stale.
    let stale: Vec<usize> = last
        .devices()
        .iter()
        .flat_map(|d| {
            (0..usize::from(last.mailboxes)).filter(move |&m| d.views[m] != Some(last.versions[m]))
        })
        .collect();
    assert!(
        !stale.is_empty() && stale.iter().all(|&m| m == 2),
        "{stale:?}"
    );
}

/// The fan-out scenario of spec/device-local.md step by step on one device: two changes while
/// offline overflow a ring of one, the reconnect delivers the newest flagged `retained`, and only
/// the fan-out brings the dropped change to the DA.
#[test]
fn retained_fan_out_recovers_a_dropped_change() {
    let config = Config {
        devices: 1,
        push_mailboxes: 2,
        poll_mailboxes: 0,
        ..Config::CI
    };
    let scenario = [
        Action::ListMailboxes(0),
        Action::RegisterWithMailClient(0),
        Action::RequestPush(0),
        Action::ServerRepliesPushSubset(0),
        Action::DaSync(0, 0),
        Action::DaSync(0, 1),
        Action::Disconnect(0),
        Action::MailboxChange(0),
        Action::PushRequest(0),
        Action::MailboxChange(1),
        Action::PushRequest(0),
        Action::Reconnect(0),
        Action::Deliver(0),
    ];
    let run = |config: Config| {
        let model = MailpushModel::new(config);
        let mut state = model.init_states().remove(0);
        for action in scenario {
            let mut enabled = Vec::new();
            model.actions(&state, &mut enabled);
            assert!(enabled.contains(&action), "{action} is enabled");
            state = model.next_state(&state, action).unwrap();
        }
        // Let the DA handle everything it was woken for.
        while let Some(token) = (0..8).find(|t| state.devices()[0].wakes & (1 << t) != 0) {
            state = model.next_state(&state, Action::DaSync(0, token)).unwrap();
        }
        state
    };

    let state = run(config);
    assert!(state.history.dropped);
    assert_eq!(state.devices()[0].push, PushPhase::Active);
    assert!(state.quiescent() && state.consistent(), "{state:?}");

    let without_fan_out = run(broken_from(config, |b| b.no_fan_out = true));
    assert!(without_fan_out.quiescent() && !without_fan_out.consistent());
    let ignoring_fan_out = run(broken_from(config, |b| b.da_ignores_retained = true));
    assert!(ignoring_fan_out.quiescent() && !ignoring_fan_out.consistent());
}

fn broken_from(mut config: Config, set: fn(&mut Broken)) -> Config {
    set(&mut config.broken);
    config
}
