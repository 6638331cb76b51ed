#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Every broken variant is caught (spec/properties.md SM-12): checking finds a counterexample to
//! the property the variant's row names, the last state of the counterexample violates it, the
//! same counterexample replayed in the interleaved schedule violates it too, and the trace shows
//! the deviation at work.

use std::collections::BTreeSet;

use mailpush_model::properties::SAFE_5;
use mailpush_model::state::{Device, State};
use mailpush_model::{
    Action, Broken, Budgets, Config, Deviation, MailpushModel, RetainedMechanism, Schedule,
    schedule, trace,
};
use stateright::{Checker, HasDiscoveries, Model, Path, Property};

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The property `name` of `model`.
fn property(model: &MailpushModel, name: &str) -> Property<MailpushModel> {
    model
        .properties()
        .into_iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("{} checks {name}", model.config))
}

/// Checks `config` with `deviation` until the property its row names fails, and returns the
/// counterexample after checking it in both schedules.
fn caught(deviation: Deviation, config: Config) -> Path<State, Action> {
    let config = Config {
        broken: config.broken.with(deviation),
        ..config
    };
    let model = MailpushModel::new(config);
    let id = deviation.info().caught_by;
    let name = model
        .properties()
        .iter()
        .map(|p| p.name)
        .find(|n| n.strip_prefix(id).is_some_and(|rest| rest.starts_with(' ')))
        .unwrap_or_else(|| panic!("{config} checks {id}"));
    let checker = model
        .checker()
        .symmetry()
        .threads(threads())
        .finish_when(HasDiscoveries::AnyOf(BTreeSet::from([name])))
        .spawn_dfs()
        .join();
    let found = checker
        .discovery(name)
        .unwrap_or_else(|| panic!("no counterexample to {name} for {config}"));
    let path = trace::up_to_first_violation(checker.model(), &found, name);
    let condition = property(checker.model(), name).condition;
    assert!(!condition(checker.model(), path.last_state()), "{name}");

    let plain = MailpushModel::new(Config {
        schedule: Schedule::Interleaved,
        ..config
    });
    let replayed = schedule::interleaved(checker.model(), &path).expect("replays interleaved");
    assert!(
        !condition(&plain, replayed.last_state()),
        "{name}, interleaved"
    );
    let rendered = trace::render(checker.model(), &path);
    assert!(rendered.contains("  1. "), "{rendered}");
    path
}

/// Pairs of (state before, action) along a path.
fn steps(path: &Path<State, Action>) -> Vec<(State, Action)> {
    path.clone()
        .into_vec()
        .into_iter()
        .filter_map(|(state, action)| action.map(|a| (state, a)))
        .collect()
}

/// The last step of a path and the device it moved, as it was before the step.
fn last_step(path: &Path<State, Action>) -> (Action, Device) {
    let (state, action) = steps(path).pop().unwrap();
    let device = state.devices()[usize::from(action.device().unwrap())];
    (action, device)
}

fn any_step(path: &Path<State, Action>, test: impl Fn(&State, &Action) -> bool) -> bool {
    steps(path)
        .iter()
        .any(|(state, action)| test(state, action))
}

/// One device, two mailboxes with push and one without, N = 1, no change, no disconnect.
fn one_device(budgets: Budgets) -> Config {
    Config {
        devices: 1,
        budgets,
        ..Config::CI
    }
}

fn budgets(changes: u8, disconnects: u8) -> Budgets {
    Budgets {
        changes,
        disconnects,
        ..Budgets::default()
    }
}

/// One test per row of SM-12: the test's name, the deviation, the configuration it is checked
/// in, and what the counterexample must show. Also asserts that every deviation has a row.
macro_rules! caught {
    ($($(#[$attr:meta])* $test:ident: $deviation:ident in $config:expr, shows $shows:expr;)*) => {
        $(
            $(#[$attr])*
            #[test]
            fn $test() {
                let path = caught(Deviation::$deviation, $config);
                let shows: fn(&Path<State, Action>) -> bool = $shows;
                assert!(shows(&path), "{}", trace::render(
                    &MailpushModel::new(Config {
                        broken: $config.broken.with(Deviation::$deviation),
                        ..$config
                    }),
                    &path,
                ));
            }
        )*

        #[test]
        fn every_deviation_has_a_test() {
            let tested = [$(Deviation::$deviation),*];
            for deviation in Deviation::ALL {
                assert!(tested.contains(&deviation), "{} has no test", deviation.info().name);
            }
        }
    };
}

caught! {
    //= spec/properties.md#SM-12
    //# The model MUST offer each of these deviations as a configuration
    //# flag, and for each one checking MUST find a counterexample to the property its row names
    da_ignoring_retained_fan_out_wakes_is_caught: DaIgnoresRetained in Config::CI,
        shows |p| any_step(p, |s, a| match a {
            Action::DaSync(d, t) => s.devices()[usize::from(*d)].fan_out_only & (1 << t) != 0,
            _ => false,
        });
    da_ignoring_the_retained_broadcast_is_caught: DaIgnoresRetained in Config {
            mechanism: RetainedMechanism::Broadcast,
            ..Config::CI
        },
        shows |p| any_step(p, |_, a| matches!(a, Action::RetainedBroadcast(_)));
    mail_client_without_fan_out_is_caught: NoFanOut in Config::CI,
        shows |p| any_step(p, |s, a| match a {
            Action::Deliver(d) => s.devices()[usize::from(*d)].mark,
            _ => false,
        });
    // Without disconnects nothing but a drop could set the mark, so no notification carries
    // `retained` when the drop does not set it.
    ring_dropping_the_newest_without_marking_is_caught: RingDropsNewest in Config { budgets: budgets(2, 0), ..Config::CI },
        shows |p| p.last_state().history.dropped && !any_step(p, |s, a| match a {
            Action::Deliver(d) => s.devices()[usize::from(*d)].mark,
            _ => false,
        });
    push_server_losing_the_retained_flag_across_reconnect_is_caught: LosesRetained in Config::CI,
        shows |p| any_step(p, |s, a| match a {
            Action::Reconnect(d) => s.devices()[usize::from(*d)].mark,
            _ => false,
        });
    mail_server_forgetting_a_registration_is_caught: ServerForgets in Config::CI,
        shows |p| any_step(p, |_, a| matches!(a, Action::ServerForgetsRegistration(..)));
    missing_scheduled_polls_are_caught: NoPolls in Config::CI,
        // Only the mailbox without push (C) can be stale.
        shows |p| p.last_state().devices().iter().all(|d| d.fresh & 0b011 == 0b011)
            && p.last_state().devices().iter().any(|d| d.fresh & 0b100 == 0);
    //= spec/device-local.md#LOCAL-3
    //= type=test
    //# MUST NOT be given to another (account, mailbox) pair
    //# while it is registered or afterwards
    reusing_a_token_is_caught: ReusesTokens in one_device(Budgets {
            renames: 1,
            ..Budgets::default()
        }),
        shows |p| {
            let (action, _) = last_step(p);
            let d = p.last_state().devices()[0];
            matches!(action, Action::ListAndRegister(..)) && d.token_set() & d.retired != 0
        };
    //= spec/device-local.md#LOCAL-6
    //= type=test
    //# After unregistering, the mail client MUST NOT raise
    //# local notifications for them
    waking_an_unregistered_token_is_caught: RaisesRetiredTokens in one_device(Budgets {
            unregisters: 1,
            ..Budgets::default()
        }),
        shows |p| {
            let (action, before) = last_step(p);
            matches!(action, Action::ServerRepliesPushSubset(..))
                && p.last_state().devices()[0].wakes & before.retired != 0
        };
    //= spec/device-local.md#LOCAL-7
    //= type=test
    //# A push MUST reach the DA only through the tokens
    //# of the account it names.
    a_push_waking_another_account_is_caught: WakesAcrossAccounts in Config {
            accounts: 2,
            push_mailboxes: 1,
            poll_mailboxes: 0,
            ..one_device(budgets(1, 0))
        },
        shows |p| {
            let (action, before) = last_step(p);
            let woken = p.last_state().devices()[0].wakes;
            matches!(action, Action::Deliver(_)) && !before.mark && woken.count_ones() == 2
        };
    //= spec/device-channel.md#RING-1
    //= type=test
    //# The ring MUST NOT hold more than N
    //# notifications.
    a_ring_beyond_n_is_caught: UnboundedRing in one_device(budgets(2, 1)),
        shows |p| p.last_state().devices()[0].ring_len == 2;
    //= spec/device-local.md#LOCAL-5
    //= type=test
    //# When the mail server's reply to a push registration arrives, the mail client MUST
    //# raise the local notification of every token of the account, with and without push.
    a_reply_without_the_initial_wake_is_caught: NoInitialWake in Config::CI,
        shows |p| {
            let s = p.last_state();
            s.devices().iter().any(|d| d.settled(&s.shape, s.log_len) && !d.consistent())
        };
    //= spec/properties.md#SM-10
    //= type=test
    //# Every source of repetition in the model MUST be bounded by a budget in its
    //# configuration
    endless_renewals_are_caught: RenewsForever in one_device(Budgets::default()),
        shows |p| {
            let model = MailpushModel::new(Config {
                broken: Broken::NONE.with(Deviation::RenewsForever),
                ..one_device(Budgets::default())
            });
            let mut enabled = Vec::new();
            model.actions(p.last_state(), &mut enabled);
            p.last_state().quiescent()
                && enabled.iter().any(|a| matches!(a, Action::RequestPush(..)))
        };
    //= spec/properties.md#SM-5
    //= type=test
    //# Per device, the ring MUST hold at most N notifications, MUST drop the
    //# oldest when a new one would exceed N
    //= spec/device-channel.md#RING-2
    //= type=test
    //# When accepting a notification would make the ring hold more than N, the server
    //# MUST drop the held notification with the lowest id (in flight or not) and accept the new one.
    a_ring_keeping_fewer_than_n_is_caught: RingKeepsFewer in Config {
            ring_capacity: 2,
            ..one_device(budgets(2, 1))
        },
        shows |p| {
            let (action, before) = last_step(p);
            matches!(action, Action::PushRequest(..))
                && before.ring_len == 1
                && p.last_state().devices()[0].ring_len == 1
        };
    //= spec/device-channel.md#RING-6
    //= type=test
    //# Every `notify` the server sends while the device's mark is set MUST carry the
    //# `retained` flag.
    retained_on_the_last_notification_only_is_caught: RetainedOnLast in Config {
            ring_capacity: 2,
            ..one_device(budgets(2, 1))
        },
        shows |p| {
            let (action, before) = last_step(p);
            matches!(action, Action::Deliver(_)) && before.mark && before.ring_len == 2
        };
    //= spec/device-local.md#LOCAL-10
    //= type=test
    //# On a notification flagged `retained`, the mail client MUST raise the
    //# local notification of every registered token of the device, in addition to those that
    //# LOCAL-7 raises for the payload
    a_fan_out_to_mailboxes_with_push_only_is_caught: FanOutPushOnly in one_device(budgets(2, 1)),
        shows |p| {
            let (action, before) = last_step(p);
            let c = before.tokens[2].unwrap();
            matches!(action, Action::Deliver(_))
                && before.mark
                && p.last_state().devices()[0].wakes & (1 << c) == before.wakes & (1 << c)
        };
    //= spec/properties.md#SM-4
    //= type=test
    //# the push server MUST deliver only to an
    //# ONLINE device
    delivery_to_an_offline_device_is_caught: DeliversOffline in one_device(budgets(1, 1)),
        shows |p| {
            let (action, before) = last_step(p);
            matches!(action, Action::Deliver(_)) && !before.online
        };
    //= spec/device-channel.md#RING-5
    //= type=test
    //# (a) it
    //# accepts a notification while the device has no established session
    no_mark_for_a_notification_held_while_away_is_caught: NoMarkOffline in one_device(budgets(1, 1)),
        shows |p| {
            let (action, before) = last_step(p);
            matches!(action, Action::PushRequest(..))
                && !before.online
                && !p.last_state().devices()[0].mark
        };
    //= spec/imap-push.md#XAPS-10
    //= type=test
    //# The server MUST acknowledge exactly those requested mailboxes that exist
    //# and that the authenticated user may read, and MUST NOT acknowledge any other.
    acknowledging_an_unrequested_mailbox_is_caught: AcksUnrequested in one_device(Budgets {
            unregisters: 1,
            ..Budgets::default()
        }),
        shows |p| {
            let (action, _) = last_step(p);
            let d = p.last_state().devices()[0];
            matches!(action, Action::RequestPush(..)) && d.registration & d.unmonitored != 0
        };
    //= spec/device-local.md#LOCAL-14
    //= type=test
    //# because wakes
    //# posted while it was not running are lost.
    a_da_restart_without_a_sync_is_caught: DaRestartWithoutSync in one_device(
            Budgets { da_restarts: 1, ..budgets(1, 0) }),
        shows |p| any_step(p, |s, a| {
            matches!(a, Action::DaRestart(_)) && s.devices()[0].wakes != 0
        });
    //= spec/sync.md#SYNC-3
    //= type=test
    //# It MUST NOT send cached UIDs or a cached
    //# mod-sequence in a request that concerns another UIDVALIDITY.
    a_da_ignoring_uidvalidity_is_caught: IgnoresUidvalidity in one_device(Budgets {
            recreations: 1,
            ..Budgets::default()
        }),
        shows |p| p.last_state().devices()[0].corrupt != 0;
    //= spec/properties.md#SM-13
    //= type=test
    //# when the mail client starts, it
    //# MUST raise the local notification of every registered token
    a_mail_client_restart_without_a_wake_is_caught: ClientRestartWithoutWake in one_device(
            Budgets { client_restarts: 1, ..budgets(1, 0) }),
        shows |p| any_step(p, |s, a| {
            matches!(a, Action::MailClientRestart(_)) && s.devices()[0].wakes != 0
        });
    //= spec/properties.md#SM-14
    //= type=test
    //# the mail server MUST request a push naming it
    no_push_for_a_recreated_mailbox_is_caught: NoPushOnMailboxEvents in one_device(Budgets {
            recreations: 1,
            ..Budgets::default()
        }),
        shows |p| any_step(p, |_, a| matches!(a, Action::MailboxRecreated(_)));
    //= spec/properties.md#SM-15
    //= type=test
    //# a mailbox
    //# created again under the name MUST get push under it
    forgetting_the_name_of_a_recreated_mailbox_is_caught: ForgetsDeletedNames in one_device(
            Budgets { recreations: 1, ..budgets(1, 0) }),
        shows |p| {
            let actions = p.clone().into_actions();
            let recreated = actions.iter().position(|a| matches!(a, Action::MailboxRecreated(_)));
            let changed = actions.iter().position(|a| matches!(a, Action::MailboxChange(_)));
            match (recreated, changed) {
                (Some(r), Some(c)) => {
                    r < c && matches!(
                        (actions[r], actions[c]),
                        (Action::MailboxRecreated(m), Action::MailboxChange(n)) if m == n
                    )
                }
                _ => false,
            }
        };
    //= spec/properties.md#SM-16
    //= type=test
    //# it MUST list the account's mailboxes again
    a_sync_that_finds_its_mailbox_gone_and_does_not_list_is_caught: NoRelist in one_device(
            Budgets { deletions: 1, ..Budgets::default() }),
        shows |p| any_step(p, |s, a| match a {
            Action::DaSync(d, t) => {
                let d = s.devices()[usize::from(*d)];
                d.da_mailbox_of(*t).is_some_and(|m| d.exists & (1 << m) == 0)
            }
            _ => false,
        });
}

/// The six deviations the model had first still fail convergence itself.
#[test]
fn convergence_deviations_end_quiescent_and_inconsistent() {
    for deviation in [Deviation::NoFanOut, Deviation::LosesRetained] {
        assert!(SAFE_5.starts_with(deviation.info().caught_by));
        let path = caught(deviation, Config::CI);
        let last = path.last_state();
        assert!(last.quiescent() && !last.consistent(), "{last:?}");
        let rendered = trace::render(
            &MailpushModel::new(Config {
                broken: Config::CI.broken.with(deviation),
                ..Config::CI
            }),
            &path,
        );
        assert!(rendered.ends_with("-> true / false\n"), "{rendered}");
    }
}

/// Every safety property has a deviation that it, and not only convergence, must catch.
#[test]
fn every_safety_property_catches_a_deviation() {
    let catching: BTreeSet<&str> = Deviation::ALL.iter().map(|d| d.info().caught_by).collect();
    for property in MailpushModel::new(Config::CI).properties() {
        let id = property.name.split(' ').next().unwrap();
        if property.expectation == stateright::Expectation::Always {
            assert!(catching.contains(id), "no deviation is caught by {id}");
        }
    }
}
