//! The protocol as a stateright [`Model`]: one action per step of the patent
//! (spec/properties.md SM-8), and the properties of spec/properties.md.

use std::fmt;

use stateright::{Model, Property};

use crate::config::{Config, RetainedMechanism, TopicPolicy};
use crate::state::{
    DaPhase, DeviceId, MailboxId, Notification, PushPhase, State, Token, bit, bit_usize, members,
};

/// One step of the protocol, named in the vocabulary of spec/properties.md.
//= spec/properties.md#SM-8
//# The model MUST have one action for every step of the patent, named in this
//# document's vocabulary
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// The DA lists the account's mailboxes on the mail server (LOCAL-1).
    ListMailboxes(DeviceId),
    /// The DA registers its monitored mailboxes with the mail client and receives one token per
    /// mailbox (LOCAL-2).
    RegisterWithMailClient(DeviceId),
    /// The mail client sends `XAPPLEPUSHSERVICE` (account id, device token, mailboxes); the mail
    /// server stores the registration (LOCAL-4).
    RequestPush(DeviceId),
    /// The mail server's reply with the push subset reaches the mail client, which wakes every
    /// token (LOCAL-5) and starts polls for the mailboxes without push.
    ServerRepliesPushSubset(DeviceId),
    /// Some client changes a mailbox on the mail server.
    MailboxChange(MailboxId),
    /// The mail server sends a registration's pending set to the push server, which holds it in
    /// the device's ring: queueing, topic replacement or drop-oldest.
    PushRequest(DeviceId),
    /// The push server delivers the oldest held notification (or a marker) and the device
    /// acknowledges it; the mail client forwards it to the DA by token, and fans out on `retained`.
    Deliver(DeviceId),
    /// The device's session ends.
    Disconnect(DeviceId),
    /// The device establishes a new session; the next notification carries `retained` if the
    /// mark is set.
    Reconnect(DeviceId),
    /// The poll timer of a mailbox without push fires: a scheduled local notification.
    ScheduledPoll(DeviceId, MailboxId),
    /// Alternative mechanism only: the DA receives the "retained" broadcast.
    RetainedBroadcast(DeviceId),
    /// The DA, woken for a token, syncs that token's mailbox.
    DaSync(DeviceId, Token),
    /// Broken variant only: the mail server loses a stored registration.
    ServerForgetsRegistration(DeviceId),
}

/// The name of a mailbox in traces: `A`, `B`, ... (push mailboxes first).
pub fn mailbox_name(mailbox: MailboxId) -> char {
    char::from(b'A'.saturating_add(mailbox))
}

/// A mailbox set in traces: `{A,C}`.
pub fn mailbox_set(set: u8) -> String {
    let names: Vec<String> = members(set).map(|m| mailbox_name(m).to_string()).collect();
    format!("{{{}}}", names.join(","))
}

/// A device in traces, numbered from 1.
pub fn device_name(device: DeviceId) -> String {
    format!("device {}", u16::from(device) + 1)
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Action::ListMailboxes(d) => write!(f, "{}: DA lists mailboxes", device_name(d)),
            Action::RegisterWithMailClient(d) => write!(
                f,
                "{}: DA registers with the mail client and receives a token per mailbox",
                device_name(d)
            ),
            Action::RequestPush(d) => write!(
                f,
                "{}: mail client requests push from the mail server",
                device_name(d)
            ),
            Action::ServerRepliesPushSubset(d) => write!(
                f,
                "{}: mail server replies with the push subset",
                device_name(d)
            ),
            Action::MailboxChange(m) => write!(f, "mailbox change of {}", mailbox_name(m)),
            Action::PushRequest(d) => write!(
                f,
                "mail server sends a push request for {} to the push server",
                device_name(d)
            ),
            Action::Deliver(d) => write!(
                f,
                "{}: push server delivers; mail client forwards to the DA by token",
                device_name(d)
            ),
            Action::Disconnect(d) => write!(f, "{}: disconnect", device_name(d)),
            Action::Reconnect(d) => {
                write!(f, "{}: reconnect with the retained flag", device_name(d))
            }
            Action::ScheduledPoll(d, m) => write!(
                f,
                "{}: scheduled poll of {} (mailbox without push)",
                device_name(d),
                mailbox_name(m)
            ),
            Action::RetainedBroadcast(d) => {
                write!(f, "{}: DA receives the retained broadcast", device_name(d))
            }
            Action::DaSync(d, t) => write!(f, "{}: DA sync for token {}", device_name(d), t),
            Action::ServerForgetsRegistration(d) => write!(
                f,
                "mail server forgets the registration of {}",
                device_name(d)
            ),
        }
    }
}

/// The model of one configuration.
#[derive(Clone, Debug)]
pub struct MailpushModel {
    /// What is checked.
    pub config: Config,
}

impl MailpushModel {
    /// A model of `config`, which must be valid ([`Config::validate`]).
    pub fn new(config: Config) -> MailpushModel {
        MailpushModel { config }
    }

    fn device_ids(&self) -> impl Iterator<Item = DeviceId> {
        0..self.config.devices
    }

    /// The push server accepts a notification into the device's ring.
    fn accept(&self, state: &mut State, device: DeviceId, notification: Notification) {
        let capacity = usize::from(self.config.ring_capacity);
        let broken = self.config.broken;
        let Some(d) = state.devices.get_mut(usize::from(device)) else {
            return;
        };
        if !d.online {
            //= spec/properties.md#SM-5
            //# MUST set the mark on every hold while OFFLINE, every
            //# drop and every replacement
            d.mark = true;
        }
        if self.config.topic == TopicPolicy::PerAccount && d.ring_len > 0 {
            // Every notification of the account has the same topic: the new one replaces them.
            d.ring_clear();
            d.ring_push(notification);
            d.mark = true;
            state.history.coalesced = true;
        } else if usize::from(d.ring_len) >= capacity {
            state.history.dropped = true;
            if broken.ring_drops_newest {
                return;
            }
            //= spec/properties.md#SM-5
            //# MUST drop the
            //# oldest when a new one would exceed N
            d.ring_pop_front();
            d.ring_push(notification);
            d.mark = true;
        } else {
            d.ring_push(notification);
        }
    }

    /// The mail client raises the local notification of every token in `tokens`.
    //= spec/device-local.md#LOCAL-9
    //# Posting a
    //# name that is already pending for an observer MAY be coalesced with the pending one
    fn raise(state: &mut State, device: usize, tokens: u8, fan_out_only: bool) {
        if let Some(d) = state.devices.get_mut(device) {
            if fan_out_only {
                d.fan_out_only |= tokens & !d.wakes;
            } else {
                d.fan_out_only &= !tokens;
            }
            d.wakes |= tokens;
        }
    }
}

impl Model for MailpushModel {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        vec![State::initial(&self.config)]
    }

    fn actions(&self, state: &State, actions: &mut Vec<Action>) {
        if state.changes_left > 0 {
            for m in 0..self.config.mailboxes() {
                actions.push(Action::MailboxChange(m));
            }
        }
        for (id, d) in self.device_ids().zip(state.devices()) {
            match d.da {
                DaPhase::Unlisted if d.online => actions.push(Action::ListMailboxes(id)),
                DaPhase::Listed => actions.push(Action::RegisterWithMailClient(id)),
                _ => {}
            }
            if d.da == DaPhase::Registered && d.online {
                match d.push {
                    PushPhase::NotRequested => actions.push(Action::RequestPush(id)),
                    PushPhase::Requested => actions.push(Action::ServerRepliesPushSubset(id)),
                    PushPhase::Active => {}
                }
            }
            if d.pending != 0 {
                actions.push(Action::PushRequest(id));
            }
            //= spec/properties.md#SM-4
            //# the push server MUST deliver only to an
            //# ONLINE device
            if d.online && (d.ring_len > 0 || d.mark) {
                actions.push(Action::Deliver(id));
            }
            if d.online && state.disconnects_left > 0 {
                actions.push(Action::Disconnect(id));
            }
            if !d.online {
                actions.push(Action::Reconnect(id));
            }
            for m in members(d.polls_due) {
                actions.push(Action::ScheduledPoll(id, m));
            }
            if d.retained_broadcast {
                actions.push(Action::RetainedBroadcast(id));
            }
            if d.online {
                for t in members(d.wakes) {
                    actions.push(Action::DaSync(id, t));
                }
            }
            if state.faults_left > 0 && d.registration.is_some() {
                actions.push(Action::ServerForgetsRegistration(id));
            }
        }
    }

    fn next_state(&self, last: &State, action: Action) -> Option<State> {
        let mut state = *last;
        let config = &self.config;
        match action {
            Action::MailboxChange(m) => {
                state.changes_left = state.changes_left.checked_sub(1)?;
                let version = state.versions.get_mut(usize::from(m))?;
                *version = version.checked_add(1)?;
                for d in state.devices_mut() {
                    //= spec/properties.md#SM-3
                    //# MUST request a push only for mailboxes of the stored set
                    if d.registration.is_some_and(|r| r & bit(m) != 0) {
                        d.pending |= bit(m);
                    }
                    if !config.broken.no_polls {
                        //= spec/properties.md#SM-9
                        //# after each change, the
                        //# poll timer of every mailbox without push MUST fire once more
                        d.polls_due |= d.without_push();
                    }
                }
            }
            Action::ListMailboxes(id) => {
                //= spec/device-local.md#LOCAL-1
                //# Before registering, the DA MUST learn the names of the account's mailboxes from the
                //# mail server
                let d = state.devices.get_mut(usize::from(id))?;
                d.da = DaPhase::Listed;
            }
            Action::RegisterWithMailClient(id) => {
                let d = state.devices.get_mut(usize::from(id))?;
                for m in 0..usize::from(config.mailboxes()) {
                    //= spec/device-local.md#LOCAL-2
                    //# Registering a mailbox
                    //# that is already registered for the same account MUST return the token it already has.
                    let token = match d.tokens.get(m).copied().flatten() {
                        Some(token) => token,
                        None => {
                            //= spec/device-local.md#LOCAL-3
                            //# MUST NOT be given to another (account, mailbox) pair
                            //# while it is registered or afterwards
                            let token = d.next_token;
                            d.next_token = d.next_token.checked_add(1)?;
                            *d.tokens.get_mut(m)? = Some(token);
                            token
                        }
                    };
                    *d.da_tokens.get_mut(m)? = Some(token);
                }
                d.da = DaPhase::Registered;
            }
            Action::RequestPush(id) => {
                let push_capable = state.push_capable;
                let d = state.devices.get_mut(usize::from(id))?;
                let requested = members(config.all_mailboxes())
                    .filter(|m| d.tokens.get(usize::from(*m)).is_some_and(Option::is_some))
                    .fold(0u8, |set, m| set | bit(m));
                d.registration = Some(requested & push_capable);
                d.push = PushPhase::Requested;
            }
            Action::ServerRepliesPushSubset(id) => {
                let push_capable = state.push_capable;
                let d = state.devices.get_mut(usize::from(id))?;
                //= spec/properties.md#SM-2
                //# MUST take the set of mailboxes with push only from the mail
                //# server's reply
                //= spec/device-local.md#LOCAL-4
                //# MUST record the acknowledged subset from the reply as
                //# the account's mailboxes with push
                d.with_push = d
                    .tokens
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| t.is_some())
                    .fold(0u8, |set, (m, _)| set | bit_usize(m))
                    & push_capable;
                d.push = PushPhase::Active;
                d.polls_due = 0;
                let every = d.token_set();
                //= spec/device-local.md#LOCAL-5
                //# When the mail server's reply to a push registration arrives, the mail client MUST
                //# raise the local notification of every token of the account, with and without push.
                Self::raise(&mut state, usize::from(id), every, false);
            }
            Action::PushRequest(id) => {
                let d = state.devices.get_mut(usize::from(id))?;
                let notification = Notification {
                    to: id,
                    m: d.pending,
                };
                d.pending = 0;
                self.accept(&mut state, id, notification);
            }
            Action::Deliver(id) => {
                let d = state.devices.get_mut(usize::from(id))?;
                // RING-7: when the mark is set and nothing is held, a marker carries `retained`.
                let notification = d.ring_pop_front().unwrap_or(Notification { to: id, m: 0 });
                if notification.to != id {
                    // SAFE-3 is checked on the ring; a misaddressed notification is not delivered.
                    return None;
                }
                let retained = d.mark;
                d.mark = false;
                //= spec/device-local.md#LOCAL-7
                //# for every monitored mailbox that matches, it MUST raise the
                //# local notification named by that mailbox's token.
                //= spec/properties.md#SM-6
                //# on every delivered notification the
                //# mail client MUST raise the local notification of each token named in `m`
                let named = members(notification.m)
                    .filter_map(|m| d.tokens.get(usize::from(m)).copied().flatten())
                    .fold(0u8, |set, t| set | bit(t));
                let every = d.token_set();
                Self::raise(&mut state, usize::from(id), named, false);
                if retained && !config.broken.no_fan_out {
                    match config.mechanism {
                        RetainedMechanism::FanOut => {
                            //= spec/device-local.md#LOCAL-10
                            //# On a notification flagged `retained`, the mail client MUST raise the
                            //# local notification of every registered token of the device
                            let ghost = config.broken.da_ignores_retained;
                            Self::raise(&mut state, usize::from(id), every & !named, ghost);
                        }
                        RetainedMechanism::Broadcast => {
                            state.devices.get_mut(usize::from(id))?.retained_broadcast = true;
                        }
                    }
                }
            }
            Action::Disconnect(id) => {
                state.disconnects_left = state.disconnects_left.checked_sub(1)?;
                state.devices.get_mut(usize::from(id))?.online = false;
            }
            Action::Reconnect(id) => {
                let d = state.devices.get_mut(usize::from(id))?;
                d.online = true;
                if config.broken.loses_retained {
                    d.mark = false;
                }
            }
            Action::ScheduledPoll(id, m) => {
                let d = state.devices.get_mut(usize::from(id))?;
                d.polls_due &= !bit(m);
                //= spec/device-local.md#LOCAL-15
                //# For every registered mailbox without push, the mail client MUST
                //# raise the mailbox's local notification once per poll interval
                let token = d.tokens.get(usize::from(m)).copied().flatten()?;
                let view = d.views.get(usize::from(m)).copied().flatten();
                let behind = matches!(
                    (view, state.versions.get(usize::from(m))),
                    (Some(view), Some(server)) if view < *server
                );
                if behind {
                    state.history.polled_change = true;
                }
                //= spec/device-local.md#LOCAL-17
                //# A scheduled local notification is an ordinary wake
                Self::raise(&mut state, usize::from(id), bit(token), false);
            }
            Action::RetainedBroadcast(id) => {
                let d = state.devices.get_mut(usize::from(id))?;
                d.retained_broadcast = false;
                if !config.broken.da_ignores_retained {
                    let every = d
                        .da_tokens
                        .iter()
                        .flatten()
                        .fold(0u8, |set, t| set | bit(*t));
                    Self::raise(&mut state, usize::from(id), every, false);
                }
            }
            Action::DaSync(id, token) => {
                let d = state.devices.get_mut(usize::from(id))?;
                let skip = config.broken.da_ignores_retained && d.fan_out_only & bit(token) != 0;
                d.wakes &= !bit(token);
                d.fan_out_only &= !bit(token);
                //= spec/device-local.md#LOCAL-13
                //# A wake for a token the DA did not
                //# obtain from the mail client MUST be ignored: the DA MUST NOT synchronize a mailbox it has not
                //# registered.
                //= spec/properties.md#SM-1
                //# MUST NOT sync a mailbox before it holds that mailbox's token
                let Some(m) = d.da_mailbox_of(token) else {
                    return Some(state);
                };
                //= spec/device-local.md#LOCAL-11
                //# The DA MUST treat every wake as a command to synchronize the
                //# mailbox of that token
                if skip {
                    return Some(state);
                }
                //= spec/properties.md#SM-7
                //# a sync MUST replace the view by the mail server's content at the time of the sync
                let server = *state.versions.get(usize::from(m))?;
                *d.views.get_mut(usize::from(m))? = Some(server);
            }
            Action::ServerForgetsRegistration(id) => {
                state.faults_left = state.faults_left.checked_sub(1)?;
                let d = state.devices.get_mut(usize::from(id))?;
                d.registration = None;
                d.pending = 0;
            }
        }
        Some(state)
    }

    fn format_action(&self, action: &Action) -> String {
        action.to_string()
    }

    fn format_step(&self, last: &State, action: Action) -> Option<String> {
        let next = self.next_state(last, action)?;
        Some(crate::trace::describe_state(&next))
    }

    fn properties(&self) -> Vec<Property<Self>> {
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
                    let agrees = (d.da == DaPhase::Registered && d.da_tokens == d.tokens)
                        || (d.da != DaPhase::Registered && d.da_tokens.iter().all(Option::is_none));
                    distinct && agrees
                })
            }),
            //= spec/properties.md#SAFE-2
            //# a DA MUST have a view
            //# only of mailboxes it registered, and every pending local notification of a device MUST name a token
            //# of that device.
            Property::always(SAFE_2, |_, s: &State| {
                s.devices().iter().all(|d| {
                    let views_registered = d
                        .views
                        .iter()
                        .zip(&d.da_tokens)
                        .all(|(view, token)| view.is_none() || token.is_some());
                    views_registered && d.wakes & !d.token_set() == 0
                })
            }),
            //= spec/properties.md#SAFE-3
            //# every notification held for a device
            //# MUST have been addressed to that device's token
            Property::always(SAFE_3, |_, s: &State| {
                s.devices()
                    .iter()
                    .enumerate()
                    .all(|(i, d)| d.ring().iter().all(|n| usize::from(n.to) == i))
            }),
            //= spec/properties.md#SAFE-4
            //# every device's ring MUST hold
            //# at most N notifications.
            Property::always(SAFE_4, |model: &MailpushModel, s: &State| {
                s.devices()
                    .iter()
                    .all(|d| usize::from(d.ring_len) <= usize::from(model.config.ring_capacity))
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
            //# whenever nothing is in flight, all
            //# devices are online and registration is complete, every DA's view of every registered mailbox MUST
            //# equal the mail server's content
            Property::always(SAFE_6, |_, s: &State| !s.settled() || s.consistent()),
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
            //= spec/properties.md#LIVE-1
            //# every behaviour MUST reach
            //# a state that is quiescent and consistent.
            Property::eventually(LIVE_1, |_, s: &State| s.quiescent() && s.consistent()),
        ];
        let drops_possible = self.config.topic == TopicPolicy::None && self.config.changes >= 2;
        if drops_possible {
            //= spec/properties.md#REACH-1
            //# Some reachable state MUST be quiescent and
            //# consistent after the push server dropped a notification
            properties.push(Property::sometimes(REACH_1, |_, s: &State| {
                s.history.dropped && s.quiescent() && s.consistent()
            }));
        }
        if self.config.topic == TopicPolicy::PerAccount && self.config.changes >= 2 {
            //= spec/properties.md#REACH-2
            //# Some reachable state MUST follow the replacement of a held notification
            //# by a newer one with the same topic
            properties.push(Property::sometimes(REACH_2, |_, s: &State| {
                s.history.coalesced
            }));
        }
        if self.config.poll_mailboxes > 0 && self.config.changes > 0 && !self.config.broken.no_polls
        {
            //= spec/properties.md#REACH-3
            //# Some reachable state MUST follow a DA sync, woken by a
            //# scheduled poll, that brought a change of a mailbox without push into the DA's view
            properties.push(Property::sometimes(REACH_3, |_, s: &State| {
                s.history.polled_change && s.quiescent() && s.consistent()
            }));
        }
        properties
    }
}

/// Property names: the spec ID, then a title.
pub const SAFE_1: &str = "SAFE-1 tokens unique per mailbox";
/// See [`SAFE_1`].
pub const SAFE_2: &str = "SAFE-2 DA never syncs an unregistered mailbox";
/// See [`SAFE_1`].
pub const SAFE_3: &str = "SAFE-3 a push reaches only its device";
/// See [`SAFE_1`].
pub const SAFE_4: &str = "SAFE-4 ring never holds more than N";
/// See [`SAFE_1`].
pub const SAFE_5: &str = "SAFE-5 quiescent implies consistent";
/// See [`SAFE_1`].
pub const SAFE_6: &str = "SAFE-6 settled implies consistent";
/// See [`SAFE_1`].
pub const SAFE_7: &str = "SAFE-7 quiescent states are terminal";
/// See [`SAFE_1`].
pub const LIVE_1: &str = "LIVE-1 eventually quiescent and consistent";
/// See [`SAFE_1`].
pub const REACH_1: &str = "REACH-1 a drop happened and the system still converged";
/// See [`SAFE_1`].
pub const REACH_2: &str = "REACH-2 a coalesce happened";
/// See [`SAFE_1`].
pub const REACH_3: &str = "REACH-3 a change to a mailbox without push arrived by scheduled poll";
