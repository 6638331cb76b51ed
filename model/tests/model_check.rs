#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Model checking in `cargo test`: the CI configuration, the scale target, every behaviour of
//! the patent in a configuration of its own, the alternative mechanism and the APNs-like
//! deployment, each exhaustively, with its state count pinned.
//!
//! Run in release (`cargo test --release -p mailpush-model`). A pinned count that changes means
//! the protocol or the model changed: re-measure, and update the table of model/README.md, whose
//! rows `check` compares with the counts.

mod common;

use std::collections::BTreeSet;

use mailpush_model::properties::{
    LIVE_1, REACH_1, REACH_2, REACH_3, REACH_4, REACH_5, SAFE_1, SAFE_2, SAFE_3, SAFE_4, SAFE_5,
    SAFE_6, SAFE_7, SAFE_8, SAFE_9, SAFE_10, SAFE_11, SAFE_12, SAFE_13,
};
use mailpush_model::state::PushPhase;
use mailpush_model::{Action, Budgets, Config, Deviation, MailpushModel, RetainedMechanism};
use stateright::{Checker, Model};

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The unique states the figures of model/README.md give for the configuration `label`, checked
/// device by device on two threads.
fn readme_states(label: &str) -> usize {
    let rows = common::table_after(&common::document("model/README.md"), "## Figures");
    let row = rows
        .iter()
        .find(|row| row[0].replace("**", "") == label && row[1] == "dbd" && row[2] == "2")
        .unwrap_or_else(|| panic!("model/README.md has figures for {label}"));
    row[3].replace(['*', ','], "").parse().unwrap()
}

/// Checks `config` exhaustively (DFS with symmetry), asserts every property and the pinned
/// number of unique states, which the figures of model/README.md give for `label`, and returns
/// the checker for a look at its examples.
fn check(label: &str, config: Config, unique_states: usize) -> impl Checker<MailpushModel> {
    assert_eq!(
        readme_states(label),
        unique_states,
        "model/README.md: {label}"
    );
    let checker = MailpushModel::new(config)
        .checker()
        .symmetry()
        .threads(threads())
        .spawn_dfs()
        .join();
    checker.assert_properties();
    assert_eq!(checker.unique_state_count(), unique_states, "{config}");
    checker
}

fn with(budgets: Budgets) -> Config {
    Config {
        budgets,
        ..Config::CI
    }
}

//= spec/properties.md#SM-12
//# while the protocol as specified MUST find none
#[test]
fn ci_configuration_is_exhaustively_checked_and_every_property_holds() {
    let model = MailpushModel::new(Config::CI);
    let names: BTreeSet<&str> = model.properties().iter().map(|p| p.name).collect();
    for expected in [
        SAFE_1, SAFE_2, SAFE_3, SAFE_4, SAFE_5, SAFE_6, SAFE_7, SAFE_8, SAFE_9, SAFE_10, SAFE_11,
        SAFE_12, SAFE_13, LIVE_1, REACH_1, REACH_3,
    ] {
        assert!(
            names.contains(expected),
            "CI configuration checks {expected}"
        );
    }
    let checker = check("CI", Config::CI, 51_955);
    // The examples are the scenarios the properties name, not accidents of the encoding.
    let drop = checker.discovery(REACH_1).unwrap();
    assert!(drop.last_state().history.dropped && drop.last_state().quiescent());
    let poll = checker.discovery(REACH_3).unwrap();
    assert!(
        poll.into_actions()
            .iter()
            .any(|a| matches!(a, Action::ScheduledPoll(..)))
    );
}

/// The scale target: three devices, N = 2, three changes, a disconnect per device.
#[test]
fn three_devices_with_a_ring_of_two_and_three_changes() {
    check("scale: 3 devices, N = 2, 3 changes", Config::SCALE, 751_554);
}

#[test]
fn apns_like_deployment_coalesces_and_converges() {
    let checker = check("`--config apns`", Config::APNS, 83_224);
    let coalesced = checker.discovery(REACH_2).unwrap();
    assert!(coalesced.last_state().history.coalesced);
}

//= spec/properties.md#SM-12
//# The model MUST also check the alternative to the fan-out described in
//# device-local.md (one retained broadcast on which the DA resyncs every monitored
//# mailbox) and find no counterexample for it
#[test]
fn the_alternative_retained_broadcast_also_converges() {
    let config = Config {
        mechanism: RetainedMechanism::Broadcast,
        ..Config::CI
    };
    assert!(
        !MailpushModel::new(config)
            .properties()
            .iter()
            .any(|p| p.name == SAFE_10)
    );
    check("CI `--mechanism broadcast`", config, 67_660);
}

//= spec/device-local.md#LOCAL-14
//= type=test
//# and then synchronize each of them once before relying on wakes
#[test]
fn da_restarts_converge() {
    check(
        "CI `--da-restarts 1`",
        with(Budgets {
            da_restarts: 1,
            ..Config::CI.budgets
        }),
        144_653,
    );
}

//= spec/device-local.md#LOCAL-3
//= type=test
//# MUST NOT be given to another (account, mailbox) pair while it is registered or afterwards,
//# restarts of the mail client included.
#[test]
fn mail_client_restarts_converge() {
    check(
        "CI `--client-restarts 1`",
        with(Budgets {
            client_restarts: 1,
            ..Config::CI.budgets
        }),
        162_032,
    );
}

//= spec/imap-push.md#XAPS-16
//= type=test
//# A client MUST register again at least once in every 30-day period while it wants push
#[test]
fn renewals_and_expiries_of_the_push_registration_converge() {
    check(
        "CI `--renewals 1`",
        with(Budgets {
            renewals: 1,
            ..Config::CI.budgets
        }),
        164_069,
    );
    check(
        "CI `--expiries 1`",
        with(Budgets {
            expiries: 1,
            ..Config::CI.budgets
        }),
        211_517,
    );
}

//= spec/device-channel.md#RING-7
//= type=test
//# When the device's mark is set, a session is established, and the ring
//# holds nothing to send, the server MUST accept a marker notification for the device
#[test]
fn ttl_expiry_and_markers_converge() {
    let checker = check(
        "CI `--ttl-expiries 1`",
        with(Budgets {
            ttl_expiries: 1,
            ..Config::CI.budgets
        }),
        184_089,
    );
    // A mark outlives the notifications that carried it when one expires, or when a new
    // session's cursor acknowledges the carrier, which clears no mark (CHAN-7, RING-6).
    let marker = checker.discovery(REACH_4).unwrap();
    assert!(marker.last_state().history.marker);
    assert!(
        marker
            .into_actions()
            .iter()
            .any(|a| matches!(a, Action::NotificationExpires(..) | Action::Reconnect(_)))
    );
}

//= spec/device-local.md#LOCAL-6
//= type=test
//# The DA MAY unregister tokens. After unregistering, the mail client MUST NOT raise
//# local notifications for them, and MUST register push again without those mailboxes
#[test]
fn unregistering_a_token_converges() {
    check(
        "CI `--unregisters 1`",
        with(Budgets {
            unregisters: 1,
            ..Config::CI.budgets
        }),
        729_916,
    );
}

//= spec/sync.md#SYNC-3
//= type=test
//# When the UIDVALIDITY reported by `SELECT` differs from the view's, or the view has
//# none, the DA MUST discard the whole view of that mailbox
#[test]
fn a_mailbox_recreated_with_a_new_uidvalidity_converges() {
    check(
        "CI `--recreations 1`",
        with(Budgets {
            recreations: 1,
            ..Config::CI.budgets
        }),
        1_385_891,
    );
}

//= spec/imap-push.md#XAPS-18
//= type=test
//# When an acknowledged mailbox is deleted or renamed, the server MUST
//# request a push naming it under the name the registration holds
#[test]
fn deleted_and_renamed_mailboxes_converge() {
    let deleted = check(
        "CI `--changes 1 --deletions 1`",
        with(Budgets {
            changes: 1,
            deletions: 1,
            ..Config::CI.budgets
        }),
        248_857,
    );
    let relisted = deleted.discovery(REACH_5).unwrap();
    assert!(
        relisted
            .into_actions()
            .iter()
            .any(|a| matches!(a, Action::MailboxDeleted(_)))
    );
    let renamed = check(
        "CI `--changes 1 --renames 1`",
        with(Budgets {
            changes: 1,
            renames: 1,
            ..Config::CI.budgets
        }),
        531_108,
    );
    let relisted = renamed.discovery(REACH_5).unwrap();
    assert!(
        relisted
            .into_actions()
            .iter()
            .any(|a| matches!(a, Action::MailboxRenamed(..)))
    );
}

/// Two accounts on every device share its ring; a retained fan-out wakes the tokens of both.
//= spec/device-local.md#LOCAL-7
//= type=test
//# it MUST
//# select the account whose account id equals `account-id`
#[test]
fn several_accounts_on_one_device_converge() {
    let config = Config {
        accounts: 2,
        push_mailboxes: 1,
        poll_mailboxes: 1,
        ..Config::CI
    };
    check("CI, 2 accounts of 1 + 1 mailboxes", config, 593_450);
}

/// The fan-out scenario of spec/device-local.md step by step on one device: two changes while
/// offline overflow a ring of one, the reconnect delivers the newest flagged `retained`, and only
/// the fan-out brings the dropped change to the DA.
#[test]
fn retained_fan_out_recovers_a_dropped_change() {
    let config = Config {
        devices: 1,
        poll_mailboxes: 0,
        ..Config::CI
    };
    let scenario = [
        Action::ListAndRegister(0, 0),
        Action::RequestPush(0, 0),
        Action::ServerRepliesPushSubset(0, 0),
        Action::DaSync(0, 0),
        Action::DaSync(0, 1),
        Action::Disconnect(0),
        Action::MailboxChange(0),
        Action::PushRequest(0, 0),
        Action::MailboxChange(1),
        Action::PushRequest(0, 0),
        Action::Reconnect(0),
        Action::Deliver(0),
        Action::Acknowledge(0),
    ];
    let run = |config: Config| {
        let config = Config {
            schedule: mailpush_model::Schedule::Interleaved,
            ..config
        };
        let model = MailpushModel::new(config);
        let mut state = model.init_states().remove(0);
        for action in scenario {
            let mut enabled = Vec::new();
            model.actions(&state, &mut enabled);
            assert!(enabled.contains(&action), "{action:?} is enabled");
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
    assert_eq!(state.devices()[0].push[0], PushPhase::Active);
    assert!(state.quiescent() && state.consistent(), "{state:?}");

    let without_fan_out = run(Config {
        broken: config.broken.with(Deviation::NoFanOut),
        ..config
    });
    assert!(without_fan_out.quiescent() && !without_fan_out.consistent());
    let ignoring_fan_out = run(Config {
        broken: config.broken.with(Deviation::DaIgnoresRetained),
        ..config
    });
    assert!(ignoring_fan_out.quiescent() && !ignoring_fan_out.consistent());
}
