//! A stateright model of the whole mailpush protocol: the data-access daemon registering
//! mailboxes and receiving tokens, the mail client registering push with the mail server, the mail
//! server's pending sets and push requests, the push server's per-device ring with drop-oldest,
//! topic replacement and the `retained` mark, the device going offline and back, local
//! notifications with the retained fan-out, scheduled polls for mailboxes without push, and the
//! DA's syncs.
//!
//! The state machines and the properties checked are specified in `spec/properties.md`; every
//! property is named after its requirement ID. Broken variants of the protocol
//! ([`config::Broken`]) must each produce a counterexample.
//!
//! ```
//! use mailpush_model::{Config, MailpushModel};
//! use stateright::{Checker, Model};
//!
//! let config = Config { changes: 1, disconnects: 0, devices: 1, ..Config::CI };
//! let checker = MailpushModel::new(config).checker().symmetry().spawn_dfs().join();
//! checker.assert_properties();
//! ```
#![forbid(unsafe_code)]

pub mod config;
pub mod model;
pub mod state;
mod symmetry;
pub mod trace;

pub use config::{Broken, Config, ConfigError, RetainedMechanism, TopicPolicy};
pub use model::{Action, MailpushModel};
pub use state::State;

/// A lexicographic measure that every action strictly decreases (spec/properties.md SM-10):
/// budgets, then registration steps left, OFFLINE devices, due polls, pending sets, held
/// notifications and marks, pending retained broadcasts, pending local notifications. Since it is
/// well founded, no behaviour of the model is cyclic, which `eventually` properties rely on.
pub fn progress_measure(state: &State) -> [u32; 10] {
    let mut registration = 0u32;
    let mut offline = 0u32;
    let mut polls = 0u32;
    let mut pending = 0u32;
    let mut held = 0u32;
    let mut broadcasts = 0u32;
    let mut wakes = 0u32;
    for d in state.devices() {
        registration += match d.da {
            state::DaPhase::Unlisted => 2,
            state::DaPhase::Listed => 1,
            state::DaPhase::Registered => 0,
        };
        registration += match d.push {
            state::PushPhase::NotRequested => 2,
            state::PushPhase::Requested => 1,
            state::PushPhase::Active => 0,
        };
        offline += u32::from(!d.online);
        polls += d.polls_due.count_ones();
        pending += d.pending.count_ones();
        held += u32::from(d.ring_len) + u32::from(d.mark);
        broadcasts += u32::from(d.retained_broadcast);
        wakes += d.wakes.count_ones();
    }
    [
        u32::from(state.changes_left),
        u32::from(state.disconnects_left),
        u32::from(state.faults_left),
        registration,
        offline,
        polls,
        pending,
        held,
        broadcasts,
        wakes,
    ]
}
