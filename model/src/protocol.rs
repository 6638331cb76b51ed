//! The protocol's steps: which are enabled in a state, and what each does. Every step reports
//! what it sent, accepted, raised or registered ([`Effects`]), which the duties of
//! [`crate::duties`] check against the spec.

use crate::config::{RetainedMechanism, TopicPolicy};
use crate::model::{Action, MailpushModel};
use crate::state::{
    AccountId, DaPhase, Device, DeviceId, MailboxId, PushPhase, ServerEvent, Shape, State, Token,
    bit, members,
};
use crate::{Deviation, Schedule};

/// A notification the push server sent and the device received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sent {
    /// Its payload `m`; empty for a marker (RING-7).
    pub m: u8,
    /// Whether it carried `retained`.
    pub retained: bool,
    /// Whether it is a marker the push server accepted for this send (RING-7).
    pub marker: bool,
}

/// An acknowledgement that reached the push server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Acked {
    /// Whether the ring still held the notification it acknowledged (a drop may have removed
    /// it while in flight).
    pub held: bool,
    /// Whether that notification carried `retained` and no event of RING-5 happened since it
    /// was sent.
    pub carrier: bool,
}

/// A push registration the mail server stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Registered {
    /// The mailboxes the request named.
    pub requested: u8,
    /// The mailboxes the mail server acknowledged.
    pub acked: u8,
}

/// What one step did, beyond the state it left.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Effects {
    /// The notification the push server sent.
    pub sent: Option<Sent>,
    /// The acknowledgement the push server received.
    pub acked: Option<Acked>,
    /// How many held notifications the cursor of a new session's `hello` acknowledged.
    pub resumed: u8,
    /// The tokens whose local notification the mail client raised.
    pub raised: u8,
    /// The payload the push server accepted into the ring.
    pub accepted: Option<u8>,
    /// The position in the ring of the notification that expired.
    pub expired: Option<usize>,
    /// The push registration the mail server stored.
    pub registered: Option<Registered>,
    /// The account whose push registration reply arrived.
    pub replied: Option<AccountId>,
}

/// Whether a budgeted action of this device is still possible: a device for which it is not is
/// done with its budgets (spec/properties.md SM-11).
pub(crate) fn budget_usable(d: &Device) -> bool {
    let b = d.budgets;
    let active = d.push.contains(&PushPhase::Active);
    b.da_restarts > 0
        || b.client_restarts > 0
        || (b.disconnects > 0 && d.online)
        || (b.renewals > 0 && active && d.online)
        || (b.expiries > 0 && active && d.registration != 0)
        || (b.faults > 0 && d.registration != 0)
        || (b.ttl_expiries > 0 && expirable(d).next().is_some())
        || (b.unregisters > 0 && d.da_registered() != 0)
}

impl MailpushModel {
    fn broken(&self, deviation: Deviation) -> bool {
        self.config.broken.has(deviation)
    }

    /// The mail server events possible now.
    pub(crate) fn server_actions(&self, state: &State, out: &mut Vec<Action>) {
        let left = state.events_left;
        let exists = members(state.exists);
        for m in exists {
            if left.changes > 0 {
                out.push(Action::MailboxChange(m));
            }
            if left.recreations > 0 {
                out.push(Action::MailboxRecreated(m));
            }
            if left.deletions > 0 {
                out.push(Action::MailboxDeleted(m));
            }
        }
        if left.renames > 0 {
            let shape = state.shape;
            let capable = shape.push_capable();
            for m in members(state.exists & capable) {
                let free = capable & shape.account_mailboxes(shape.account_of(m)) & !state.exists;
                for to in members(free) {
                    out.push(Action::MailboxRenamed(m, to));
                }
            }
        }
    }

    /// The steps device `id` can take now.
    pub(crate) fn device_actions(&self, state: &State, id: DeviceId, out: &mut Vec<Action>) {
        let Some(d) = state.devices().get(usize::from(id)) else {
            return;
        };
        let shape = &state.shape;
        let b = d.budgets;
        if state.next_event_for(d).is_some() {
            out.push(Action::TakeIn(id));
        }
        for a in shape.account_ids() {
            let da = d.da.get(usize::from(a)).copied();
            let push = d.push.get(usize::from(a)).copied();
            let account = shape.account_mailboxes(a);
            if da == Some(DaPhase::Unlisted) && d.online && push != Some(PushPhase::Requested) {
                out.push(Action::ListAndRegister(id, a));
            }
            if da == Some(DaPhase::Registered) && d.online {
                let renew = b.renewals > 0 || self.broken(Deviation::RenewsForever);
                match push {
                    Some(PushPhase::NotRequested) => out.push(Action::RequestPush(id, a)),
                    Some(PushPhase::Active) if renew => out.push(Action::RequestPush(id, a)),
                    _ => {}
                }
            }
            if push == Some(PushPhase::Requested) && d.online {
                out.push(Action::ServerRepliesPushSubset(id, a));
            }
            if d.pending & account != 0 {
                out.push(Action::PushRequest(id, a));
            }
            if d.registration & account != 0 {
                if b.expiries > 0 && push == Some(PushPhase::Active) {
                    out.push(Action::RegistrationExpires(id, a));
                }
                if b.faults > 0 {
                    out.push(Action::ServerForgetsRegistration(id, a));
                }
            }
            let settled_push = push != Some(PushPhase::Requested);
            if b.unregisters > 0 && da == Some(DaPhase::Registered) && settled_push {
                for m in members(d.da_registered() & account) {
                    out.push(Action::Unregister(id, m));
                }
            }
        }
        //= spec/properties.md#SM-4
        //# the push server MUST deliver only to an
        //# ONLINE device
        let reachable = d.online || self.broken(Deviation::DeliversOffline);
        //= spec/device-channel.md#CHAN-30
        //# A server MUST therefore not
        //# send a `notify` while `window` notifications sent on the session are unacknowledged
        let room = d.unacked < self.config.window;
        //= spec/device-channel.md#RING-13
        //# accept a marker when the mark is set, no held notification is left to
        //# send, and no `notify` carrying `retained` was sent on the session since the last event of
        //# [RING-5](#RING-5).
        let marker_due = d.mark && d.carrier.is_none();
        if reachable && room && (d.ring_len > d.in_flight || marker_due) {
            out.push(Action::Deliver(id));
        }
        if d.online && d.unacked > 0 {
            out.push(Action::Acknowledge(id));
        }
        if b.ttl_expiries > 0 {
            for i in expirable(d) {
                out.push(Action::NotificationExpires(id, i));
            }
        }
        if d.online && b.disconnects > 0 {
            out.push(Action::Disconnect(id));
        }
        if !d.online {
            out.push(Action::Reconnect(id));
        }
        for m in members(d.polls_due) {
            out.push(Action::ScheduledPoll(id, m));
        }
        if d.retained_broadcast {
            out.push(Action::RetainedBroadcast(id));
        }
        if d.online {
            for t in members(d.wakes) {
                out.push(Action::DaSync(id, t));
            }
        }
        if b.da_restarts > 0 {
            out.push(Action::DaRestart(id));
        }
        if b.client_restarts > 0 {
            out.push(Action::MailClientRestart(id));
        }
    }

    /// Applies `action` to `state` and reports what it did; `None` when it is not possible.
    pub(crate) fn apply(&self, state: &mut State, action: Action) -> Option<Effects> {
        let mut effects = Effects::default();
        let shape = state.shape;
        match action {
            Action::MailboxChange(m) => self.server_event(state, ServerEvent::Change(m))?,
            Action::MailboxRecreated(m) => self.server_event(state, ServerEvent::Recreated(m))?,
            Action::MailboxDeleted(m) => self.server_event(state, ServerEvent::Deleted(m))?,
            Action::MailboxRenamed(m, to) => {
                self.server_event(state, ServerEvent::Renamed(m, to))?;
            }
            Action::TakeIn(id) => {
                let event = state.next_event_for(device(state, id)?)?;
                let d = device_mut(state, id)?;
                d.taken_in += 1;
                self.take_in(&shape, d, event);
            }
            Action::ListAndRegister(id, a) => self.list_and_register(state, id, a)?,
            Action::Unregister(id, m) => {
                let d = device_mut(state, id)?;
                d.budgets.unregisters = d.budgets.unregisters.checked_sub(1)?;
                //= spec/device-local.md#LOCAL-6
                //# After unregistering, the mail client MUST NOT raise
                //# local notifications for them, and MUST register push again without those mailboxes
                d.unmonitored |= bit(m);
                retire(d, m);
                *d.push.get_mut(usize::from(shape.account_of(m)))? = PushPhase::NotRequested;
            }
            Action::RequestPush(id, a) => {
                let capable = shape.push_capable();
                let account = shape.account_mailboxes(a);
                let renews_forever = self.broken(Deviation::RenewsForever);
                let acks_all = self.broken(Deviation::AcksUnrequested);
                let d = device_mut(state, id)?;
                let phase = d.push.get_mut(usize::from(a))?;
                if *phase == PushPhase::Active && !renews_forever {
                    //= spec/imap-push.md#XAPS-16
                    //# A client MUST register again at least once in every 30-day period while it wants push
                    d.budgets.renewals = d.budgets.renewals.checked_sub(1)?;
                }
                *phase = PushPhase::Requested;
                let requested = d.registered() & account;
                //= spec/imap-push.md#XAPS-10
                //# The server MUST acknowledge exactly those requested mailboxes that exist
                //# and that the authenticated user may read, and MUST NOT acknowledge any other.
                let acked = if acks_all {
                    d.exists & capable & account
                } else {
                    requested & d.exists & capable
                };
                //= spec/imap-push.md#XAPS-14
                //# A new command with the same key MUST replace the stored set of acknowledged mailboxes
                d.registration = (d.registration & !account) | acked;
                //= spec/imap-push.md#XAPS-19
                //# A push request caused by a registration MUST concern only mailboxes
                //# acknowledged to that registration
                d.pending &= !account | acked;
                d.reply = (d.reply & !account) | acked;
                effects.registered = Some(Registered { requested, acked });
            }
            Action::ServerRepliesPushSubset(id, a) => {
                let account = shape.account_mailboxes(a);
                let d = device_mut(state, id)?;
                //= spec/properties.md#SM-2
                //# MUST take the set of mailboxes with push only from the mail
                //# server's reply
                //= spec/device-local.md#LOCAL-4
                //# MUST record the acknowledged subset from the reply as
                //# the account's mailboxes with push
                d.with_push = (d.with_push & !account) | (d.reply & account);
                d.reply &= !account;
                d.answered |= bit(a);
                *d.push.get_mut(usize::from(a))? = PushPhase::Active;
                d.polls_due &= !account;
                effects.replied = Some(a);
                if !self.broken(Deviation::NoInitialWake) {
                    //= spec/device-local.md#LOCAL-5
                    //# When the mail server's reply to a push registration arrives, the mail client MUST
                    //# raise the local notification of every token of the account, with and without push.
                    let every = d.tokens_of(account) | self.retired_raised(d);
                    self.raise(d, &mut effects, every, false);
                }
            }
            Action::PushRequest(id, a) => {
                let account = shape.account_mailboxes(a);
                let d = device_mut(state, id)?;
                let m = d.pending & account;
                d.pending &= !account;
                self.accept(state, id, m, &mut effects)?;
            }
            Action::RegistrationExpires(id, a) => {
                let account = shape.account_mailboxes(a);
                let d = device_mut(state, id)?;
                d.budgets.expiries = d.budgets.expiries.checked_sub(1)?;
                //= spec/imap-push.md#XAPS-16
                //# An expired registration
                //# MUST NOT cause any push request
                d.registration &= !account;
                d.pending &= !account;
                // The expiry means a registration period passed without a renewal: the mail client
                // owes one now.
                *d.push.get_mut(usize::from(a))? = PushPhase::NotRequested;
            }
            Action::ServerForgetsRegistration(id, a) => {
                let account = shape.account_mailboxes(a);
                let d = device_mut(state, id)?;
                d.budgets.faults = d.budgets.faults.checked_sub(1)?;
                d.registration &= !account;
                d.pending &= !account;
            }
            Action::Deliver(id) => self.deliver(state, id, &mut effects)?,
            Action::Acknowledge(id) => {
                let d = device_mut(state, id)?;
                // The in-flight notifications still held are the newest of the unacknowledged,
                // so the oldest unacknowledged is held exactly when all of them are.
                let held = d.in_flight == d.unacked;
                d.unacked = d.unacked.checked_sub(1)?;
                if held {
                    //= spec/device-channel.md#CHAN-14
                    //# The server MUST delete every acknowledged notification from the
                    //# device's ring durably.
                    d.ring_remove(0)?;
                }
                let carrier = d.carrier == Some(0);
                d.carrier = d.carrier.and_then(|c| c.checked_sub(1));
                if carrier {
                    //= spec/device-channel.md#RING-6
                    //# The server MUST clear the mark only when the device acknowledges a `notify` that
                    //# carried `retained` and no event of [RING-5](#RING-5) happened after that `notify` was sent.
                    d.mark = false;
                }
                effects.acked = Some(Acked { held, carrier });
            }
            Action::NotificationExpires(id, i) => {
                let d = device_mut(state, id)?;
                d.budgets.ttl_expiries = d.budgets.ttl_expiries.checked_sub(1)?;
                if !expirable(d).any(|at| at == i) {
                    return None;
                }
                //= spec/device-channel.md#RING-3
                //# The server MUST NOT send an expired notification and MUST
                //# remove it from the ring no later than when it would otherwise be sent.
                d.ring_remove(usize::from(i))?;
                //= spec/device-channel.md#RING-5
                //# (c) a notification expires before being acknowledged
                d.set_mark();
                effects.expired = Some(usize::from(i));
            }
            Action::Disconnect(id) => {
                let d = device_mut(state, id)?;
                d.budgets.disconnects = d.budgets.disconnects.checked_sub(1)?;
                d.online = false;
                //= spec/device-channel.md#CHAN-18
                //# a notification that was in flight when
                //# a session ended MUST be sent again on the device's next session.
                d.end_session();
            }
            Action::Reconnect(id) => {
                let loses = self.broken(Deviation::LosesRetained);
                let d = device_mut(state, id)?;
                d.online = true;
                //= spec/device-channel.md#CHAN-19
                //# Notifications in
                //# flight on the older session are no longer in flight and MUST be delivered on the new session
                d.end_session();
                //= spec/device-channel.md#CHAN-7
                //# the server
                //# MUST treat it as an acknowledgement of every held notification with an id at or below it
                let received = d.received;
                for _ in 0..received {
                    d.ring_remove(0)?;
                }
                d.received = 0;
                effects.resumed = received;
                if loses {
                    d.mark = false;
                }
            }
            Action::ScheduledPoll(id, m) => {
                let reach = self.config.reach;
                let d = device_mut(state, id)?;
                d.polls_due &= !bit(m);
                //= spec/device-local.md#LOCAL-15
                //# For every registered mailbox without push, the mail client MUST
                //# raise the mailbox's local notification once per poll interval
                let token = (*d.tokens.get(usize::from(m))?)?;
                let stale = d.fresh & bit(m) == 0;
                //= spec/device-local.md#LOCAL-17
                //# A scheduled local notification is an ordinary wake
                self.raise(d, &mut effects, bit(token), false);
                if stale && reach {
                    state.history.polled_change = true;
                }
            }
            Action::RetainedBroadcast(id) => {
                let ignores = self.broken(Deviation::DaIgnoresRetained);
                let d = device_mut(state, id)?;
                d.retained_broadcast = false;
                if !ignores {
                    d.wakes |= tokens_of(&d.da_tokens);
                }
            }
            Action::DaSync(id, token) => self.da_sync(state, id, token)?,
            Action::DaRestart(id) => {
                let without_sync = self.broken(Deviation::DaRestartWithoutSync);
                let d = device_mut(state, id)?;
                d.budgets.da_restarts = d.budgets.da_restarts.checked_sub(1)?;
                //= spec/device-local.md#LOCAL-14
                //# and then synchronize each of them once before relying on wakes, because wakes
                //# posted while it was not running are lost.
                d.fan_out_only = 0;
                d.wakes = if without_sync {
                    0
                } else {
                    tokens_of(&d.da_tokens)
                };
            }
            Action::MailClientRestart(id) => {
                let d = device_mut(state, id)?;
                d.budgets.client_restarts = d.budgets.client_restarts.checked_sub(1)?;
                // Local notifications posted and not yet received die with the mail client; the
                // token table survives (LOCAL-3), and a reply in flight dies with its connection.
                d.wakes = 0;
                d.fan_out_only = 0;
                for a in shape.account_ids() {
                    let phase = d.push.get_mut(usize::from(a))?;
                    if *phase == PushPhase::Requested {
                        *phase = PushPhase::NotRequested;
                        d.reply &= !shape.account_mailboxes(a);
                    }
                }
                if !self.broken(Deviation::ClientRestartWithoutWake) {
                    //= spec/properties.md#SM-13
                    //# when the mail client starts, it
                    //# MUST raise the local notification of every registered token
                    let every = d.token_set();
                    self.raise(d, &mut effects, every, false);
                }
            }
        }
        Some(effects)
    }

    /// A mail server event: recorded for the devices to take in at their own steps, or taken in
    /// by every device at once.
    fn server_event(&self, state: &mut State, event: ServerEvent) -> Option<()> {
        let left = &mut state.events_left;
        let budget = match event {
            ServerEvent::Change(_) => &mut left.changes,
            ServerEvent::Recreated(_) => &mut left.recreations,
            ServerEvent::Deleted(_) => &mut left.deletions,
            ServerEvent::Renamed(..) => &mut left.renames,
        };
        *budget = budget.checked_sub(1)?;
        if state.exists & bit(event.mailbox()) == 0 {
            return None;
        }
        state.exists = exists_after(state.exists, event);
        match self.config.schedule {
            Schedule::DeviceByDevice => {
                *state.log.get_mut(usize::from(state.log_len))? = event.encode();
                state.log_len += 1;
            }
            Schedule::Interleaved => {
                let shape = state.shape;
                for d in state.devices_mut() {
                    self.take_in(&shape, d, event);
                }
            }
        }
        Some(())
    }

    /// What a mail server event does to one device's share of the system: the mail server's
    /// pending set for its registrations, its view's freshness, its poll timers.
    fn take_in(&self, shape: &Shape, d: &mut Device, event: ServerEvent) {
        let m = event.mailbox();
        d.exists = exists_after(d.exists, event);
        d.fresh &= !bit(m);
        if let ServerEvent::Renamed(_, to) = event {
            d.fresh &= !bit(to);
        }
        let pushes = matches!(event, ServerEvent::Change(_))
            || !self.broken(Deviation::NoPushOnMailboxEvents);
        //= spec/properties.md#SM-3
        //# MUST request a push only for mailboxes of the stored set
        if pushes && d.registration & bit(m) != 0 {
            //= spec/properties.md#SM-14
            //# the mail server MUST request a push naming it
            d.pending |= bit(m);
        }
        if !matches!(event, ServerEvent::Change(_)) && self.broken(Deviation::ForgetsDeletedNames) {
            d.registration &= !bit(m);
        }
        if matches!(event, ServerEvent::Recreated(_))
            && self.broken(Deviation::IgnoresUidvalidity)
            && d.da_registered() & bit(m) != 0
        {
            d.corrupt |= bit(m);
        }
        if !self.broken(Deviation::NoPolls) {
            //= spec/properties.md#SM-9
            //# after each change, the
            //# poll timer of every mailbox without push MUST fire once more
            d.polls_due |= d.without_push(shape);
        }
    }

    /// The DA lists the account's mailboxes and registers the monitored ones with the mail
    /// client, which answers with a token for each and drops the ones the list no longer shows.
    fn list_and_register(&self, state: &mut State, id: DeviceId, a: AccountId) -> Option<()> {
        let shape = state.shape;
        let account = shape.account_mailboxes(a);
        let reuses = self.broken(Deviation::ReusesTokens);
        let d = device_mut(state, id)?;
        let before = d.registered() & account;
        //= spec/device-local.md#LOCAL-1
        //# Before registering, the DA MUST learn the names of the account's mailboxes from the
        //# mail server
        let listed = d.exists & account & !d.unmonitored;
        for m in members(account) {
            if listed & bit(m) == 0 {
                if d.registered() & bit(m) != 0 {
                    //= spec/device-local.md#LOCAL-6
                    //# the DA SHOULD unregister them when a `LIST` no longer shows them
                    retire(d, m);
                }
                continue;
            }
            //= spec/device-local.md#LOCAL-2
            //# Registering a mailbox
            //# that is already registered for the same account MUST return the token it already has.
            let token = match *d.tokens.get(usize::from(m))? {
                Some(token) => token,
                None => {
                    //= spec/device-local.md#LOCAL-3
                    //# MUST NOT be given to another (account, mailbox) pair
                    //# while it is registered or afterwards
                    let free = if reuses && d.retired != 0 {
                        d.retired
                    } else {
                        !d.tokens_in_use()
                    };
                    let token = members(free).next()?;
                    *d.tokens.get_mut(usize::from(m))? = Some(token);
                    token
                }
            };
            *d.da_tokens.get_mut(usize::from(m))? = Some(token);
        }
        *d.da.get_mut(usize::from(a))? = DaPhase::Registered;
        if d.registered() & account != before {
            //= spec/device-local.md#LOCAL-4
            //# After a registration that adds a mailbox, the mail client
            //# MUST (re)register push for the account with the mail server
            *d.push.get_mut(usize::from(a))? = PushPhase::NotRequested;
        }
        Some(())
    }

    /// How many notifications the push server's ring holds, deviations included.
    fn capacity(&self) -> u8 {
        let n = self.config.ring_capacity;
        if self.broken(Deviation::UnboundedRing) {
            crate::config::MAX_RING as u8
        } else if self.broken(Deviation::RingKeepsFewer) && n >= 2 {
            n - 1
        } else {
            n
        }
    }

    /// The push server accepts a notification into the device's ring.
    fn accept(&self, state: &mut State, id: DeviceId, m: u8, effects: &mut Effects) -> Option<()> {
        let shape = state.shape;
        let capacity = self.capacity();
        let no_mark_offline = self.broken(Deviation::NoMarkOffline);
        let drops_newest = self.broken(Deviation::RingDropsNewest);
        let topic = self.config.topic == TopicPolicy::PerAccount;
        let reach = self.config.reach;
        let d = device_mut(state, id)?;
        effects.accepted = Some(m);
        if !d.online && !no_mark_offline {
            //= spec/device-channel.md#RING-5
            //# (a) it
            //# accepts a notification while the device has no established session
            d.set_mark();
        }
        let mut coalesced = false;
        if topic {
            let account = shape.account_mailboxes(shape.account_of(lowest(m)));
            let in_flight = usize::from(d.in_flight);
            while let Some(i) = d
                .ring()
                .iter()
                .skip(in_flight)
                .position(|held| held & account != 0)
            {
                //= spec/device-channel.md#RING-4
                //# When the server accepts a notification with a topic, it MUST remove every
                //# held notification of the same device with the same topic that is not in flight.
                d.ring_remove(in_flight + i);
                d.set_mark();
                coalesced = true;
            }
        }
        let dropped = hold(d, m, capacity, drops_newest);
        if reach {
            state.history.coalesced |= coalesced;
            state.history.dropped |= dropped;
        }
        Some(())
    }

    /// The push server sends the oldest held notification not in flight (or accepts a marker and
    /// sends it); the device receives it, the mail client forwards it to the DA by token and fans
    /// out on `retained`. It stays held, in flight, until acknowledged.
    fn deliver(&self, state: &mut State, id: DeviceId, effects: &mut Effects) -> Option<()> {
        let shape = state.shape;
        let config = &self.config;
        let on_last = self.broken(Deviation::RetainedOnLast);
        let capacity = self.capacity();
        let d = device_mut(state, id)?;
        let marker = d.ring_len == d.in_flight;
        if marker {
            //= spec/device-channel.md#RING-7
            //# When the device's mark is set, a session is established, and the ring
            //# holds nothing to send, the server MUST accept a marker notification for the device
            if !d.mark || d.carrier.is_some() {
                return None;
            }
            if hold(d, 0, capacity, false) {
                state.history.dropped |= config.reach;
            }
        }
        let d = device_mut(state, id)?;
        let m = *d.ring().get(usize::from(d.in_flight))?;
        let last = d.in_flight + 1 == d.ring_len;
        //= spec/device-channel.md#CHAN-16
        //# On a session the server MUST send notifications in increasing id order
        d.in_flight += 1;
        d.unacked += 1;
        //= spec/device-channel.md#RING-6
        //# Every `notify` the server sends while the device's mark is set MUST carry the
        //# `retained` flag.
        let retained = d.mark && (!on_last || last);
        if retained && d.carrier.is_none() {
            d.carrier = Some(d.unacked - 1);
        }
        effects.sent = Some(Sent {
            m,
            retained,
            marker,
        });
        //= spec/device-local.md#LOCAL-7
        //# for every monitored mailbox that matches, it MUST raise the
        //# local notification named by that mailbox's token.
        //= spec/properties.md#SM-6
        //# on every delivered notification the
        //# mail client MUST raise the local notification of each token named in `m`
        let matched = if self.broken(Deviation::WakesAcrossAccounts) {
            let names = members(m).fold(0u8, |set, mb| set | bit(shape.name_of(mb)));
            (0..shape.mailboxes())
                .filter(|mb| names & bit(shape.name_of(*mb)) != 0)
                .fold(0, |set, mb| set | bit(mb))
        } else {
            m
        };
        let named = d.tokens_of(matched);
        self.raise(d, effects, named, false);
        if retained && !self.broken(Deviation::NoFanOut) {
            match config.mechanism {
                RetainedMechanism::FanOut => {
                    //= spec/device-local.md#LOCAL-10
                    //# On a notification flagged `retained`, the mail client MUST raise the
                    //# local notification of every registered token of the device
                    let every = if self.broken(Deviation::FanOutPushOnly) {
                        d.tokens_of(d.with_push)
                    } else {
                        d.token_set()
                    } | self.retired_raised(d);
                    let ghost = self.broken(Deviation::DaIgnoresRetained);
                    self.raise(d, effects, every & !named, ghost);
                }
                RetainedMechanism::Broadcast => d.retained_broadcast = true,
            }
        }
        if marker && config.reach {
            state.history.marker = true;
        }
        Some(())
    }

    /// The DA, woken for a token, syncs that token's mailbox.
    fn da_sync(&self, state: &mut State, id: DeviceId, token: Token) -> Option<()> {
        let shape = state.shape;
        let ignores = self.broken(Deviation::DaIgnoresRetained);
        let no_relist = self.broken(Deviation::NoRelist);
        let d = device_mut(state, id)?;
        let skip = ignores && d.fan_out_only & bit(token) != 0;
        d.wakes &= !bit(token);
        d.fan_out_only &= !bit(token);
        //= spec/device-local.md#LOCAL-13
        //# A wake for a token the DA did not
        //# obtain from the mail client MUST be ignored: the DA MUST NOT synchronize a mailbox it has not
        //# registered.
        //= spec/properties.md#SM-1
        //# MUST NOT sync a mailbox before it holds that mailbox's token
        let Some(m) = d.da_mailbox_of(token) else {
            return Some(());
        };
        //= spec/device-local.md#LOCAL-11
        //# The DA MUST treat every wake as a command to synchronize the
        //# mailbox of that token
        if skip {
            return Some(());
        }
        if d.exists & bit(m) == 0 {
            if !no_relist {
                //= spec/properties.md#SM-16
                //# it MUST list the account's mailboxes again
                *d.da.get_mut(usize::from(shape.account_of(m)))? = DaPhase::Unlisted;
                if self.config.reach {
                    state.history.relisted = true;
                }
            }
            return Some(());
        }
        //= spec/sync.md#SYNC-3
        //# When the UIDVALIDITY reported by `SELECT` differs from the view's, or the view has
        //# none, the DA MUST discard the whole view of that mailbox
        //= spec/properties.md#SM-7
        //# a sync MUST replace the view by the mail server's content at the time of the sync
        if d.corrupt & bit(m) == 0 {
            d.fresh |= bit(m);
        }
        Some(())
    }

    /// The tokens the mail client keeps waking after the DA unregistered them (broken variant
    /// `raises-retired-tokens` only).
    fn retired_raised(&self, d: &Device) -> u8 {
        if self.broken(Deviation::RaisesRetiredTokens) {
            d.retired
        } else {
            0
        }
    }

    /// The mail client raises the local notification of every token in `tokens`.
    //= spec/device-local.md#LOCAL-9
    //# Posting a
    //# name that is already pending for an observer MAY be coalesced with the pending one
    fn raise(&self, d: &mut Device, effects: &mut Effects, tokens: u8, fan_out_only: bool) {
        if fan_out_only {
            d.fan_out_only |= tokens & !d.wakes;
        } else {
            d.fan_out_only &= !tokens;
        }
        d.wakes |= tokens;
        effects.raised |= tokens;
    }
}

/// The positions in the ring of the held notifications that may expire: not in flight (an
/// implementation stops the clock of what it sent), and not markers, which never expire (RING-7).
fn expirable(d: &Device) -> impl Iterator<Item = u8> + '_ {
    (d.in_flight..d.ring_len).filter(|i| d.ring().get(usize::from(*i)).is_some_and(|m| *m != 0))
}

/// Appends `m` to the ring, then drops the oldest held notification if the ring holds more than
/// `capacity` (RING-14); whether one was dropped. `drops_newest` is the broken variant that
/// discards `m` instead, without the mark.
fn hold(d: &mut Device, m: u8, capacity: u8, drops_newest: bool) -> bool {
    if d.ring_len < capacity {
        d.ring_push(m);
        return false;
    }
    if !drops_newest {
        //= spec/device-channel.md#RING-2
        //# When accepting a notification would make the ring hold more than N, the server
        //# MUST drop the held notification with the lowest id (in flight or not) and accept the new one.
        // The oldest held is the oldest in flight, if any is; it still counts against the
        // window (CHAN-30).
        d.ring_remove(0);
        d.set_mark();
        d.ring_push(m);
    }
    true
}

/// The mail client and the DA drop a mailbox's token; it is never given out again.
fn retire(d: &mut Device, m: MailboxId) {
    let index = usize::from(m);
    if let Some(Some(token)) = d.tokens.get(index) {
        d.retired |= bit(*token);
    }
    if let Some(slot) = d.tokens.get_mut(index) {
        *slot = None;
    }
    if let Some(slot) = d.da_tokens.get_mut(index) {
        *slot = None;
    }
    d.fresh &= !bit(m);
    d.polls_due &= !bit(m);
    d.corrupt &= !bit(m);
}

/// The mailboxes that exist after `event`.
fn exists_after(exists: u8, event: ServerEvent) -> u8 {
    match event {
        ServerEvent::Change(_) | ServerEvent::Recreated(_) => exists,
        ServerEvent::Deleted(m) => exists & !bit(m),
        ServerEvent::Renamed(m, to) => (exists & !bit(m)) | bit(to),
    }
}

/// The tokens of a table, as a set.
fn tokens_of(table: &[Option<Token>]) -> u8 {
    table.iter().flatten().fold(0, |set, t| set | bit(*t))
}

/// The lowest member of a non-empty set.
fn lowest(set: u8) -> MailboxId {
    members(set).next().unwrap_or(0)
}

fn device(state: &State, id: DeviceId) -> Option<&Device> {
    state.devices().get(usize::from(id))
}

fn device_mut(state: &mut State, id: DeviceId) -> Option<&mut Device> {
    state.devices_mut().get_mut(usize::from(id))
}
