//! The spec's duties about events rather than states, checked at every step.
//!
//! Each duty compares the state before a step, what the step did ([`Effects`]) and the state
//! after it, written in the spec's terms and independently of how [`crate::protocol`] performs
//! the step. A step that breaks a duty sets the duty's bit in the state's history; the property
//! named after the duty ([`crate::properties`]) then fails in that state and in every later one.
//! The bits are false along every behaviour of the protocol as specified, so they add no state
//! to a check that finds nothing.

use crate::config::{Config, RetainedMechanism, TopicPolicy};
use crate::model::Action;
use crate::properties;
use crate::protocol::Effects;
use crate::state::{Device, Shape, State, members};

/// A duty checked at every step; its bit in [`crate::state::History::violations`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Duty {
    /// SAFE-2: every local notification the mail client raises names a token it has registered.
    RaisesRegistered,
    /// SAFE-3: a notification that is not `retained` wakes only tokens of mailboxes it names, of
    /// the account it names.
    OwnAccount,
    /// SAFE-8: the ring changes only by the rules of RING-2, RING-3, RING-4 and delivery.
    Ring,
    /// SAFE-9: a notification carries `retained` exactly when the mark is set, and the mark is
    /// cleared only by the acknowledgement of one that carried it.
    RetainedFlag,
    /// SAFE-10: a `retained` notification wakes every registered token.
    FanOut,
    /// SAFE-11: nothing is sent to a device without a session.
    OnlyOnline,
    /// SAFE-12: the mark is set by every event of RING-5.
    Mark,
    /// SAFE-13: the acknowledged subset is within the request, and the mail client's mailboxes
    /// with push are exactly the acknowledged ones.
    Acknowledged,
}

impl Duty {
    /// Every duty.
    pub const ALL: [Duty; 8] = [
        Duty::RaisesRegistered,
        Duty::OwnAccount,
        Duty::Ring,
        Duty::RetainedFlag,
        Duty::FanOut,
        Duty::OnlyOnline,
        Duty::Mark,
        Duty::Acknowledged,
    ];

    /// Its bit.
    pub fn bit(self) -> u16 {
        1 << (self as u16)
    }

    /// The property that fails once the duty is broken.
    pub fn property(self) -> &'static str {
        match self {
            Duty::RaisesRegistered => properties::SAFE_2,
            Duty::OwnAccount => properties::SAFE_3,
            Duty::Ring => properties::SAFE_8,
            Duty::RetainedFlag => properties::SAFE_9,
            Duty::FanOut => properties::SAFE_10,
            Duty::OnlyOnline => properties::SAFE_11,
            Duty::Mark => properties::SAFE_12,
            Duty::Acknowledged => properties::SAFE_13,
        }
    }
}

/// The properties of the duties broken so far.
pub fn broken(violations: u16) -> Vec<&'static str> {
    Duty::ALL
        .into_iter()
        .filter(|d| violations & d.bit() != 0)
        .map(Duty::property)
        .collect()
}

/// Checks every duty of one step and records the ones it broke in `after`.
pub(crate) fn observe(
    config: &Config,
    before: &State,
    action: Action,
    effects: &Effects,
    after: &mut State,
) {
    let Some(id) = action.device() else {
        return;
    };
    let (Some(b), Some(a)) = (
        before.devices().get(usize::from(id)),
        after.devices().get(usize::from(id)),
    ) else {
        return;
    };
    let shape = &before.shape;
    let mut broken = 0u16;
    let mut breaks = |duty: Duty, holds: bool| {
        if !holds {
            broken |= duty.bit();
        }
    };
    let registered = b.token_set();
    //= spec/device-local.md#LOCAL-6
    //# After unregistering, the mail client MUST NOT raise
    //# local notifications for them
    breaks(Duty::RaisesRegistered, effects.raised & !registered == 0);
    if let Some(sent) = effects.sent {
        //= spec/properties.md#SM-4
        //# the push server MUST deliver only to an
        //# ONLINE device
        breaks(Duty::OnlyOnline, b.online);
        //= spec/device-channel.md#RING-6
        //# A
        //# `notify` sent while the mark is clear MUST NOT carry `retained`.
        breaks(Duty::RetainedFlag, sent.retained == b.mark);
        //= spec/device-local.md#LOCAL-7
        //# A push MUST reach the DA only through the tokens
        //# of the account it names.
        if !sent.retained {
            breaks(
                Duty::OwnAccount,
                effects.raised & registered & !b.tokens_of(sent.m) == 0,
            );
        }
        //= spec/device-local.md#LOCAL-10
        //# On a notification flagged `retained`, the mail client MUST raise the
        //# local notification of every registered token of the device
        if sent.retained && config.mechanism == RetainedMechanism::FanOut {
            breaks(Duty::FanOut, registered & !effects.raised == 0);
        }
    }
    //= spec/device-channel.md#RING-6
    //# The server MUST clear the mark only when the device acknowledges a `notify` that
    //# carried `retained`
    let carried = effects.acked.is_some_and(|k| k.carrier);
    breaks(Duty::RetainedFlag, !b.mark || a.mark || carried);
    let (ring, marks) = expected_ring(config, shape, b, effects);
    breaks(Duty::Ring, a.ring() == ring.as_slice());
    //= spec/device-channel.md#RING-5
    //# The server MUST set the device's mark when
    breaks(Duty::Mark, !marks || a.mark);
    if let Some(r) = effects.registered {
        //= spec/imap-push.md#XAPS-10
        //# and MUST NOT acknowledge any other.
        breaks(Duty::Acknowledged, r.acked & !r.requested == 0);
    }
    if let Some(account) = effects.replied {
        let account = shape.account_mailboxes(account);
        //= spec/imap-push.md#XAPS-12
        //# MUST treat
        //# every requested mailbox that is not named in a `mailbox` line of a version 2 reply as without push
        breaks(
            Duty::Acknowledged,
            a.with_push & account == b.reply & account,
        );
    }
    after.history.violations |= broken;
}

/// The ring after a step by the spec's rules, and whether the step is an event of RING-5.
///
/// An acknowledgement removes the oldest held notification if it is the one acknowledged; an
/// expiry removes the expired one; an accepted notification (a marker included) first removes
/// every held one of its topic that is not in flight (RING-4), then goes to the end, and the
/// oldest beyond N, in flight or not, are dropped (RING-2). So the ring always holds the newest
/// min(N, k) of the k notifications accepted and neither acknowledged, expired nor replaced.
//= spec/device-channel.md#RING-2
//# The ring therefore holds the newest N held notifications, in id order.
fn expected_ring(config: &Config, shape: &Shape, b: &Device, effects: &Effects) -> (Vec<u8>, bool) {
    let mut ring = b.ring().to_vec();
    let mut marks = false;
    if effects.acked.is_some_and(|k| k.held) && !ring.is_empty() {
        ring.remove(0);
    }
    ring.drain(..usize::from(effects.resumed).min(ring.len()));
    if let Some(i) = effects.expired {
        if i < ring.len() {
            ring.remove(i);
        }
        marks = true;
    }
    let marker = effects.sent.filter(|s| s.marker).map(|s| s.m);
    if let Some(m) = effects.accepted.or(marker) {
        marks |= !b.online;
        if config.topic == TopicPolicy::PerAccount && marker.is_none() {
            let account = members(m)
                .next()
                .map_or(0, |mb| shape.account_mailboxes(shape.account_of(mb)));
            let held = ring.len();
            let in_flight = usize::from(b.in_flight).min(held);
            let mut index = 0;
            ring.retain(|n| {
                index += 1;
                index <= in_flight || n & account == 0
            });
            marks |= ring.len() < held;
        }
        ring.push(m);
        while ring.len() > usize::from(config.ring_capacity) {
            ring.remove(0);
            marks = true;
        }
    }
    (ring, marks)
}
