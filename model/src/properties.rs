//! The properties of spec/properties.md, each named after its requirement ID.

use stateright::{Model, Property};

use crate::config::{Config, RetainedMechanism, TopicPolicy};
use crate::duties::Duty;
use crate::model::MailpushModel;
use crate::state::{State, Token};

/// Property names: the spec ID, then a title.
pub const SAFE_1: &str = "SAFE-1 tokens unique per mailbox";
/// See [`SAFE_1`].
pub const SAFE_2: &str = "SAFE-2 DA never syncs an unregistered mailbox";
/// See [`SAFE_1`].
pub const SAFE_3: &str = "SAFE-3 a push reaches only the account it names";
/// See [`SAFE_1`].
pub const SAFE_4: &str = "SAFE-4 ring never holds more than N";
/// See [`SAFE_1`].
pub const SAFE_5: &str = "SAFE-5 quiescent implies consistent";
/// See [`SAFE_1`].
pub const SAFE_6: &str = "SAFE-6 a settled device is consistent";
/// See [`SAFE_1`].
pub const SAFE_7: &str = "SAFE-7 quiescent states are terminal";
/// See [`SAFE_1`].
pub const SAFE_8: &str = "SAFE-8 ring holds the newest min(N, k)";
/// See [`SAFE_1`].
pub const SAFE_9: &str = "SAFE-9 retained exactly while the mark is set";
/// See [`SAFE_1`].
pub const SAFE_10: &str = "SAFE-10 retained wakes every token";
/// See [`SAFE_1`].
pub const SAFE_11: &str = "SAFE-11 nothing delivered to an offline device";
/// See [`SAFE_1`].
pub const SAFE_12: &str = "SAFE-12 mark set while away and on every loss";
/// See [`SAFE_1`].
pub const SAFE_13: &str = "SAFE-13 acknowledged subset within the request";
/// See [`SAFE_1`].
pub const LIVE_1: &str = "LIVE-1 eventually quiescent and consistent";
/// See [`SAFE_1`].
pub const REACH_1: &str = "REACH-1 a drop happened and the system still converged";
/// See [`SAFE_1`].
pub const REACH_2: &str = "REACH-2 a coalesce happened";
/// See [`SAFE_1`].
pub const REACH_3: &str = "REACH-3 a change to a mailbox without push arrived by scheduled poll";
/// See [`SAFE_1`].
pub const REACH_4: &str = "REACH-4 a marker told a device to resync and the system converged";
/// See [`SAFE_1`].
pub const REACH_5: &str = "REACH-5 a DA listed again after a mailbox went away and converged";

/// Whether `duty` held at every step so far.
fn kept(s: &State, duty: Duty) -> bool {
    s.history.violations & duty.bit() == 0
}

/// Every property checked in `config`.
pub(crate) fn all(config: &Config) -> Vec<Property<MailpushModel>> {
    let mut properties = vec![
        //= spec/properties.md#SAFE-1
        //# on every device, the mail client MUST
        //# hold exactly one token per registered mailbox, a token MUST NOT name two mailboxes, and the DA's
        //# tokens MUST be exactly those the mail client gave it for the same mailboxes.
        Property::always(SAFE_1, |_, s: &State| {
            s.devices().iter().all(|d| {
                let given: Vec<Token> = d.tokens.iter().flatten().copied().collect();
                let distinct = given
                    .iter()
                    .all(|t| given.iter().filter(|u| *u == t).count() == 1);
                distinct && d.token_set() & d.retired == 0 && d.da_tokens == d.tokens
            })
        }),
        //= spec/properties.md#SAFE-2
        //# a DA MUST have a view
        //# only of mailboxes it registered
        Property::always(SAFE_2, |_, s: &State| {
            let viewed = s
                .devices()
                .iter()
                .all(|d| d.fresh & !d.da_registered() == 0);
            viewed && kept(s, Duty::RaisesRegistered)
        }),
        //= spec/properties.md#SAFE-3
        //# a notification that does not carry
        //# `retained` MUST wake only the tokens of mailboxes it names, of the account it names
        Property::always(SAFE_3, |_, s: &State| kept(s, Duty::OwnAccount)),
        //= spec/properties.md#SAFE-4
        //# every device's ring MUST hold
        //# at most N notifications
        Property::always(SAFE_4, |model: &MailpushModel, s: &State| {
            let n = model.config.ring_capacity;
            s.devices().iter().all(|d| d.ring_len <= n)
        }),
        //= spec/properties.md#SAFE-5
        //# in every reachable quiescent state every DA's
        //# view of every registered mailbox MUST equal the mail server's content.
        //= spec/architecture.md#ARCH-7
        //= type=test
        //# After changes stop, and once every device is reachable again, the view of every
        //# mailbox each DA monitors MUST come to equal that mailbox on the mail server
        Property::always(SAFE_5, |_, s: &State| !s.quiescent() || s.consistent()),
        //= spec/properties.md#SAFE-6
        //# whenever a device is
        //# settled, its DA's view of every registered mailbox MUST equal the mail server's content
        Property::always(SAFE_6, |_, s: &State| {
            s.devices()
                .iter()
                .all(|d| !d.settled(&s.shape, s.log_len) || d.consistent())
        }),
        //= spec/properties.md#SAFE-7
        //# In every reachable quiescent state the model MUST have no
        //# enabled action.
        Property::always(SAFE_7, |model: &MailpushModel, s: &State| {
            if !s.quiescent() {
                return true;
            }
            let mut actions = Vec::new();
            model.actions(s, &mut actions);
            actions.is_empty()
        }),
        //= spec/properties.md#SAFE-8
        //# the ring of every device MUST hold exactly the newest min(N, k)
        Property::always(SAFE_8, |_, s: &State| kept(s, Duty::Ring)),
        //= spec/properties.md#SAFE-9
        //# every notification sent while the
        //# mark is set MUST carry `retained`
        Property::always(SAFE_9, |_, s: &State| kept(s, Duty::RetainedFlag)),
        //= spec/properties.md#SAFE-11
        //# a step MUST NOT send a notification to a device without an established session
        Property::always(SAFE_11, |_, s: &State| kept(s, Duty::OnlyOnline)),
        //= spec/properties.md#SAFE-12
        //# the mark MUST be set after every step in
        //# which the push server accepted a notification while the device was away
        Property::always(SAFE_12, |_, s: &State| kept(s, Duty::Mark)),
        //= spec/properties.md#SAFE-13
        //# every push registration the mail server stores MUST
        //# acknowledge only mailboxes the request named
        Property::always(SAFE_13, |_, s: &State| kept(s, Duty::Acknowledged)),
        //= spec/properties.md#LIVE-1
        //# every behaviour MUST reach
        //# a state that is quiescent and consistent.
        Property::eventually(LIVE_1, |_, s: &State| s.quiescent() && s.consistent()),
    ];
    if config.mechanism == RetainedMechanism::FanOut {
        //= spec/properties.md#SAFE-10
        //# every notification that carries `retained` MUST wake every
        //# token the mail client has registered
        properties.insert(
            9,
            Property::always(SAFE_10, |_, s: &State| kept(s, Duty::FanOut)),
        );
    }
    if !config.reach {
        return properties;
    }
    let b = config.budgets;
    if config.broken.any() {
        return properties;
    }
    if config.topic == TopicPolicy::None && b.changes >= 2 {
        //= spec/properties.md#REACH-1
        //# Some reachable state MUST be quiescent and
        //# consistent after the push server dropped a notification
        properties.push(Property::sometimes(REACH_1, |_, s: &State| {
            s.history.dropped && s.quiescent() && s.consistent()
        }));
    }
    if config.topic == TopicPolicy::PerAccount && b.changes >= 2 {
        //= spec/properties.md#REACH-2
        //# Some reachable state MUST follow the replacement of a held notification
        //# by a newer one with the same topic
        properties.push(Property::sometimes(REACH_2, |_, s: &State| {
            s.history.coalesced
        }));
    }
    if config.poll_mailboxes > 0 && b.changes > 0 {
        //= spec/properties.md#REACH-3
        //# Some reachable state MUST follow a DA sync, woken by a
        //# scheduled poll, that brought a change of a mailbox without push into the DA's view
        properties.push(Property::sometimes(REACH_3, |_, s: &State| {
            s.history.polled_change && s.quiescent() && s.consistent()
        }));
    }
    if b.ttl_expiries > 0 && b.changes > 0 {
        //= spec/properties.md#REACH-4
        //# Some reachable state MUST be quiescent and consistent after a marker
        //# notification was delivered
        properties.push(Property::sometimes(REACH_4, |_, s: &State| {
            s.history.marker && s.quiescent() && s.consistent()
        }));
    }
    if b.deletions + b.renames > 0 {
        //= spec/properties.md#REACH-5
        //# Some reachable state MUST be quiescent and consistent after a DA found a
        //# registered mailbox gone and listed the account's mailboxes again
        properties.push(Property::sometimes(REACH_5, |_, s: &State| {
            s.history.relisted && s.quiescent() && s.consistent()
        }));
    }
    properties
}
