//! A stateright model of the whole mailpush protocol: the data-access daemon listing mailboxes,
//! registering them and receiving tokens, the mail client registering push with the mail server
//! (renewals and expiry included), the mail server's pending sets and push requests, the push
//! server's per-device ring with drop-oldest, topic replacement, TTL expiry, markers and the
//! `retained` mark, the device going offline and back, local notifications with the retained
//! fan-out, scheduled polls for mailboxes without push, the DA's syncs, restarts of the DA and
//! of the mail client, several accounts on a device, and mailboxes that are unregistered,
//! recreated, deleted or renamed.
//!
//! The state machines and the properties checked are specified in `spec/properties.md`; every
//! property is named after its requirement ID. Broken variants of the protocol
//! ([`Deviation`]) must each produce a counterexample.
//!
//! ```
//! use mailpush_model::{Budgets, Config, MailpushModel};
//! use stateright::{Checker, Model};
//!
//! let budgets = Budgets { changes: 1, ..Budgets::default() };
//! let config = Config { devices: 1, budgets, ..Config::CI };
//! let checker = MailpushModel::new(config).checker().symmetry().spawn_dfs().join();
//! checker.assert_properties();
//! ```
#![forbid(unsafe_code)]

pub mod config;
mod deviation;
pub mod duties;
pub mod model;
pub mod properties;
mod protocol;
mod replay;
pub mod schedule;
pub mod state;
mod symmetry;
pub mod trace;
pub mod validate;

pub use config::{Budgets, Config, ConfigError, RetainedMechanism, Schedule, TopicPolicy};
pub use deviation::{Broken, Deviation, DeviationInfo};
pub use model::{Action, MailpushModel};
pub use state::State;
pub use symmetry::mailbox_permutations;

/// A lexicographic measure that every action strictly decreases (spec/properties.md SM-10):
/// budgets and mail server events not yet taken in, then registered mailboxes found gone and not
/// yet noticed, DA registration steps, push registration steps, OFFLINE devices, due polls,
/// pending sets, notifications left to send (a marker due counting as one), notifications in
/// flight with the unacknowledged sends and marks, pending retained broadcasts, pending local
/// notifications. Since it is well founded, no behaviour of the model is cyclic, which
/// `eventually` properties rely on.
pub fn progress_measure(state: &State) -> [u32; 11] {
    let shape = &state.shape;
    let e = state.events_left;
    // A mail server event that is recorded leaves one event to take in per device: weighing the
    // events left by one more than the devices makes recording one decrease the measure.
    let mut budgets = [e.changes, e.recreations, e.deletions, e.renames]
        .iter()
        .map(|b| u32::from(*b))
        .sum::<u32>()
        * (u32::from(shape.devices) + 1);
    let mut gone = 0;
    let mut listing = 0;
    let mut push = 0;
    let mut offline = 0;
    let mut polls = 0;
    let mut pending = 0;
    let mut unsent = 0;
    let mut in_flight = 0;
    let mut broadcasts = 0;
    let mut wakes = 0;
    for d in state.devices() {
        let b = d.budgets;
        budgets += [
            b.disconnects,
            b.da_restarts,
            b.client_restarts,
            b.renewals,
            b.expiries,
            b.ttl_expiries,
            b.unregisters,
            b.faults,
        ]
        .iter()
        .map(|b| u32::from(*b))
        .sum::<u32>();
        budgets += u32::from(state.log_len - d.taken_in);
        for a in shape.account_ids() {
            let account = shape.account_mailboxes(a);
            match d.da.get(usize::from(a)) {
                Some(state::DaPhase::Registered) => {
                    gone += (d.da_registered() & account & !d.exists).count_ones();
                }
                _ => listing += 1,
            }
            push += match d.push.get(usize::from(a)) {
                Some(state::PushPhase::NotRequested) => 2,
                Some(state::PushPhase::Requested) => 1,
                _ => 0,
            };
        }
        offline += u32::from(!d.online);
        polls += d.polls_due.count_ones();
        pending += d.pending.count_ones();
        // A send turns an unsent notification (two) or a due marker (one) into one in flight;
        // an acknowledgement removes one unacknowledged send and changes nothing left to send.
        unsent +=
            2 * u32::from(d.ring_len - d.in_flight) + u32::from(d.mark && d.carrier.is_none());
        in_flight += u32::from(d.unacked) + u32::from(d.in_flight) + u32::from(d.mark);
        broadcasts += u32::from(d.retained_broadcast);
        wakes += d.wakes.count_ones();
    }
    [
        budgets, gone, listing, push, offline, polls, pending, unsent, in_flight, broadcasts, wakes,
    ]
}
