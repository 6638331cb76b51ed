//! The protocol as a stateright [`Model`]: one action per step of the patent
//! (spec/properties.md SM-8), and the properties of spec/properties.md.

use stateright::{Model, Property};

use crate::config::Config;
use crate::state::{AccountId, DeviceId, MailboxId, Shape, State, Token};

/// One step of the protocol, named in the vocabulary of spec/properties.md. model/README.md says
/// which event of an implementation each one is.
//= spec/properties.md#SM-8
//# The model MUST have one action for every step of the patent, named in this
//# document's vocabulary
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Another client changes a mailbox: a new message, a flag change or an expunge.
    MailboxChange(MailboxId),
    /// Another client recreates a mailbox under its name: a new UIDVALIDITY (SYNC-3).
    MailboxRecreated(MailboxId),
    /// Another client deletes a mailbox (XAPS-18).
    MailboxDeleted(MailboxId),
    /// Another client renames a mailbox to a spare name of its account (XAPS-18).
    MailboxRenamed(MailboxId, MailboxId),
    /// Device-by-device schedule only: the device's share of the system (the mail server's
    /// pending set for its registrations, its view, its poll timers) takes in the next mail
    /// server event, at the point of the device's steps where it happens.
    TakeIn(DeviceId),
    /// The DA lists the account's mailboxes (LOCAL-1) and registers the monitored ones with the
    /// mail client, receiving one token per mailbox (LOCAL-2) and dropping the ones the list no
    /// longer shows (LOCAL-6).
    ListAndRegister(DeviceId, AccountId),
    /// The DA stops monitoring a mailbox and unregisters its token (LOCAL-6).
    Unregister(DeviceId, MailboxId),
    /// The mail client sends `XAPPLEPUSHSERVICE` (account id, device token, mailboxes) and the
    /// mail server stores the registration (LOCAL-4, XAPS-14); again while one is active, a
    /// renewal (XAPS-16).
    RequestPush(DeviceId, AccountId),
    /// The mail server's reply with the push subset reaches the mail client, which wakes every
    /// token of the account (LOCAL-5) and starts polls for the mailboxes without push.
    ServerRepliesPushSubset(DeviceId, AccountId),
    /// The mail server sends a registration's pending set to the push server, which holds it in
    /// the device's ring: queueing, topic replacement or drop-oldest.
    PushRequest(DeviceId, AccountId),
    /// A stored registration expires (XAPS-16); the mail client's renewal is due.
    RegistrationExpires(DeviceId, AccountId),
    /// Broken variant only: the mail server loses a stored registration.
    ServerForgetsRegistration(DeviceId, AccountId),
    /// The push server sends the oldest held notification not in flight (or accepts and sends a
    /// marker), within the window of the session; the device receives it, and the mail client
    /// forwards it to the DA by token and fans out on `retained`. It is in flight until
    /// [`Action::Acknowledge`].
    Deliver(DeviceId),
    /// The device's acknowledgement of the oldest notification in flight reaches the push
    /// server, which deletes it from the ring if still held and clears the mark if it carried
    /// `retained` and no event of RING-5 happened since (CHAN-14, RING-6).
    Acknowledge(DeviceId),
    /// The held notification at this position of the ring expires (RING-3).
    NotificationExpires(DeviceId, u8),
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
    /// The DA restarts: wakes posted meanwhile are lost; it registers again and syncs every
    /// monitored mailbox once (LOCAL-14).
    DaRestart(DeviceId),
    /// The mail client restarts: local notifications it had posted are lost, its token table
    /// survives (LOCAL-3), and it wakes every token (SM-13).
    MailClientRestart(DeviceId),
}

impl Action {
    /// The device whose step this is; `None` for a mail server event.
    pub fn device(&self) -> Option<DeviceId> {
        match *self {
            Action::MailboxChange(_)
            | Action::MailboxRecreated(_)
            | Action::MailboxDeleted(_)
            | Action::MailboxRenamed(..) => None,
            Action::TakeIn(d)
            | Action::ListAndRegister(d, _)
            | Action::Unregister(d, _)
            | Action::RequestPush(d, _)
            | Action::ServerRepliesPushSubset(d, _)
            | Action::PushRequest(d, _)
            | Action::RegistrationExpires(d, _)
            | Action::ServerForgetsRegistration(d, _)
            | Action::Deliver(d)
            | Action::Acknowledge(d)
            | Action::NotificationExpires(d, _)
            | Action::Disconnect(d)
            | Action::Reconnect(d)
            | Action::ScheduledPoll(d, _)
            | Action::RetainedBroadcast(d)
            | Action::DaSync(d, _)
            | Action::DaRestart(d)
            | Action::MailClientRestart(d) => Some(d),
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

    /// The layout of accounts and mailboxes.
    pub fn shape(&self) -> Shape {
        State::initial(&self.config).shape
    }

    /// Every action possible in `state`, whatever the schedule: the interleaved model's actions.
    pub fn all_actions(&self, state: &State, actions: &mut Vec<Action>) {
        self.server_actions(state, actions);
        for id in 0..self.config.devices {
            self.device_actions(state, id, actions);
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
        crate::schedule::actions(self, state, actions);
    }

    fn next_state(&self, last: &State, action: Action) -> Option<State> {
        let mut next = *last;
        let effects = self.apply(&mut next, action)?;
        crate::duties::observe(&self.config, last, action, &effects, &mut next);
        Some(next)
    }

    fn format_action(&self, action: &Action) -> String {
        crate::trace::action_text(&self.shape(), action)
    }

    fn format_step(&self, last: &State, action: Action) -> Option<String> {
        let next = self.next_state(last, action)?;
        Some(crate::trace::describe_state(&next))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        crate::properties::all(&self.config)
    }
}
