//! The state of the whole system: mail server, push server, and per device the mail client and
//! the data-access daemon.
//!
//! Mailbox sets, token sets and poll timers are `u8` bit sets indexed by mailbox (or token), and
//! every sequence is a fixed-size array, so a state is `Copy`: the checker clones, hashes and (for
//! symmetry) renames millions of them without allocating.

use crate::config::{Config, MAX_DEVICES, MAX_MAILBOXES, MAX_RING};

/// Index of a device (`0..devices`).
pub type DeviceId = u8;
/// Index of a mailbox (`0..mailboxes`); mailboxes with push come first.
pub type MailboxId = u8;
/// A token the mail client gave the DA. Opaque to the DA (LOCAL-3); the model allocates them from a
/// per-device counter.
pub type Token = u8;

/// The DA's registration progress (spec/properties.md SM-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DaPhase {
    /// Has not listed the account's mailboxes.
    Unlisted,
    /// Listed them, has not registered with the mail client.
    Listed,
    /// Holds one token per monitored mailbox.
    Registered,
}

/// The mail client's push registration with the mail server (SM-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PushPhase {
    /// No `XAPPLEPUSHSERVICE` sent yet.
    NotRequested,
    /// Sent and stored by the mail server; the reply has not arrived.
    Requested,
    /// The reply arrived: the mailboxes with push are known.
    Active,
}

/// A notification held by the push server for one device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Notification {
    /// The device whose token the mail server addressed it to (SAFE-3).
    pub to: DeviceId,
    /// Payload `m`: the changed mailboxes (the MD5 of each name on the wire).
    pub m: u8,
}

/// Everything one device is, as seen by every party.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Device {
    // --- Data-access daemon.
    /// Registration progress.
    pub da: DaPhase,
    /// The DA's token for each mailbox, as the mail client answered its registration.
    pub da_tokens: [Option<Token>; MAX_MAILBOXES],
    /// The DA's synced view of each mailbox: the version it last read, if any.
    pub views: [Option<u8>; MAX_MAILBOXES],

    // --- Mail client.
    /// The mail client's token table: the token of each registered mailbox.
    pub tokens: [Option<Token>; MAX_MAILBOXES],
    /// The next token the mail client will give out; tokens are never reused (LOCAL-3).
    pub next_token: Token,
    /// Push registration progress.
    pub push: PushPhase,
    /// The mailboxes the mail server acknowledged (known once `push` is `Active`).
    pub with_push: u8,
    /// Pending local notifications, by token (coalesced: LOCAL-9).
    pub wakes: u8,
    /// Tokens whose pending wake was raised only by a retained fan-out. Tracked only when the DA
    /// is configured to skip such wakes; the DA of the protocol cannot see it.
    pub fan_out_only: u8,
    /// The alternative mechanism's pending "retained" broadcast.
    pub retained_broadcast: bool,
    /// Mailboxes without push whose poll timer is due: a change happened since it last fired.
    pub polls_due: u8,

    // --- Mail server, for this device's registration.
    /// The stored registration's acknowledged mailboxes, if a registration is stored.
    pub registration: Option<u8>,
    /// The registration's pending set of changed mailboxes (PROV-19).
    pub pending: u8,

    // --- Push server, for this device.
    /// Whether the device has an established session.
    pub online: bool,
    /// Held notifications, oldest first: the first `ring_len` entries.
    pub ring: [Notification; MAX_RING],
    /// How many notifications are held.
    pub ring_len: u8,
    /// The mark: the next notification sent carries `retained` (RING-5, RING-6).
    pub mark: bool,
}

impl Device {
    fn new() -> Device {
        Device {
            da: DaPhase::Unlisted,
            da_tokens: [None; MAX_MAILBOXES],
            views: [None; MAX_MAILBOXES],
            tokens: [None; MAX_MAILBOXES],
            next_token: 0,
            push: PushPhase::NotRequested,
            with_push: 0,
            wakes: 0,
            fan_out_only: 0,
            retained_broadcast: false,
            polls_due: 0,
            registration: None,
            pending: 0,
            online: true,
            ring: [Notification::default(); MAX_RING],
            ring_len: 0,
            mark: false,
        }
    }

    /// The held notifications, oldest first.
    pub fn ring(&self) -> &[Notification] {
        self.ring.get(..usize::from(self.ring_len)).unwrap_or(&[])
    }

    /// Holds one more notification; the caller keeps `ring_len` within the capacity.
    pub(crate) fn ring_push(&mut self, notification: Notification) {
        if let Some(slot) = self.ring.get_mut(usize::from(self.ring_len)) {
            *slot = notification;
            self.ring_len += 1;
        }
    }

    /// Removes and returns the oldest held notification.
    pub(crate) fn ring_pop_front(&mut self) -> Option<Notification> {
        let first = *self.ring().first()?;
        let len = usize::from(self.ring_len);
        self.ring.copy_within(1..len, 0);
        self.ring_len -= 1;
        if let Some(slot) = self.ring.get_mut(usize::from(self.ring_len)) {
            // Unused slots stay at their default so equal rings hash equally.
            *slot = Notification::default();
        }
        Some(first)
    }

    /// Forgets every held notification.
    pub(crate) fn ring_clear(&mut self) {
        self.ring = [Notification::default(); MAX_RING];
        self.ring_len = 0;
    }

    /// The mailbox the DA registered under `token`.
    pub fn da_mailbox_of(&self, token: Token) -> Option<MailboxId> {
        self.da_tokens
            .iter()
            .position(|t| *t == Some(token))
            .and_then(|i| MailboxId::try_from(i).ok())
    }

    /// Every token the mail client gave out, as a bit set.
    pub fn token_set(&self) -> u8 {
        self.tokens.iter().flatten().fold(0, |set, t| set | bit(*t))
    }

    /// Mailboxes the mail client registered and the mail server did not acknowledge.
    pub fn without_push(&self) -> u8 {
        if self.push != PushPhase::Active {
            return 0;
        }
        let registered = self
            .tokens
            .iter()
            .enumerate()
            .filter(|(_, t)| t.is_some())
            .fold(0u8, |set, (i, _)| set | bit_usize(i));
        registered & !self.with_push
    }

    /// Registration is complete: tokens held and push active.
    pub fn registered(&self) -> bool {
        self.da == DaPhase::Registered && self.push == PushPhase::Active
    }

    /// Nothing is in flight for this device.
    pub fn idle(&self) -> bool {
        self.pending == 0
            && self.ring_len == 0
            && !self.mark
            && self.wakes == 0
            && !self.retained_broadcast
            && self.polls_due == 0
    }
}

/// Sticky facts about the path so far, for the reachability properties only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct History {
    /// The push server dropped a notification.
    pub dropped: bool,
    /// The push server replaced a held notification with the same topic.
    pub coalesced: bool,
    /// A scheduled poll woke the DA for a mailbox without push whose view was behind the server.
    pub polled_change: bool,
}

/// The state of the whole system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct State {
    /// Mail server: the content of each mailbox, as a version number (the first `mailboxes`).
    pub versions: [u8; MAX_MAILBOXES],
    /// How many mailboxes exist (constant).
    pub mailboxes: u8,
    /// Mail server: the mailboxes it acknowledges for push (constant; held here for symmetry).
    pub push_capable: u8,
    /// Changes that may still happen.
    pub changes_left: u8,
    /// Disconnects that may still happen.
    pub disconnects_left: u8,
    /// Injected faults (a forgotten registration) that may still happen.
    pub faults_left: u8,
    /// Every device: the first `device_count` entries.
    pub devices: [Device; MAX_DEVICES],
    /// How many devices exist (constant).
    pub device_count: u8,
    /// Ghost history.
    pub history: History,
}

impl State {
    /// The initial state: nothing registered, everything online, full budgets.
    pub fn initial(config: &Config) -> State {
        State {
            versions: [0; MAX_MAILBOXES],
            mailboxes: config.mailboxes(),
            push_capable: config.push_capable(),
            changes_left: config.changes,
            disconnects_left: config.disconnects,
            faults_left: u8::from(config.broken.server_forgets),
            devices: [Device::new(); MAX_DEVICES],
            device_count: config.devices,
            history: History::default(),
        }
    }

    /// The devices that exist.
    pub fn devices(&self) -> &[Device] {
        self.devices
            .get(..usize::from(self.device_count))
            .unwrap_or(&[])
    }

    /// The devices that exist.
    pub fn devices_mut(&mut self) -> &mut [Device] {
        self.devices
            .get_mut(..usize::from(self.device_count))
            .unwrap_or(&mut [])
    }

    /// The versions of the mailboxes that exist.
    pub fn mailbox_versions(&self) -> &[u8] {
        self.versions
            .get(..usize::from(self.mailboxes))
            .unwrap_or(&[])
    }

    /// SM-11 settled: registration complete, nothing in flight, every device online.
    //= spec/properties.md#SM-11
    //# These definitions MUST be
    //# structural: they MUST NOT depend on the path that led to the state.
    pub fn settled(&self) -> bool {
        self.devices()
            .iter()
            .all(|d| d.registered() && d.idle() && d.online)
    }

    /// SM-11 quiescent: settled, and no budget left that can cause a change.
    pub fn quiescent(&self) -> bool {
        self.settled()
            && self.changes_left == 0
            && self.disconnects_left == 0
            && self.faults_left == 0
    }

    /// SM-11 consistent: every DA's view of every mailbox it registered equals the server.
    pub fn consistent(&self) -> bool {
        self.devices().iter().all(|d| {
            d.da_tokens
                .iter()
                .zip(&d.views)
                .zip(&self.versions)
                .all(|((token, view), version)| token.is_none() || *view == Some(*version))
        })
    }
}

/// Bytes needed to encode one device: see [`Device::encode`].
const DEVICE_BYTES: usize = 3 * MAX_MAILBOXES + 2 * MAX_RING + 14;
/// Bytes needed to encode a state: see [`State::encode`].
pub(crate) const STATE_BYTES: usize = MAX_MAILBOXES + 9 + MAX_DEVICES * DEVICE_BYTES;

fn put(buffer: &mut [u8], at: &mut usize, byte: u8) {
    if let Some(slot) = buffer.get_mut(*at) {
        *slot = byte;
    }
    *at += 1;
}

fn put_option(buffer: &mut [u8], at: &mut usize, value: Option<u8>) {
    // Two bytes, so that `None` and every `Some` value stay distinct.
    put(buffer, at, u8::from(value.is_some()));
    put(buffer, at, value.unwrap_or(0));
}

impl Device {
    /// Every field as bytes, injectively.
    fn encode(&self, buffer: &mut [u8], at: &mut usize) {
        put(buffer, at, self.da as u8);
        for token in self.da_tokens.iter().chain(&self.tokens) {
            // Tokens are below `MAX_MAILBOXES`, so one byte with a sentinel is injective.
            put(buffer, at, token.unwrap_or(u8::MAX));
        }
        for view in &self.views {
            put(buffer, at, view.map_or(u8::MAX, |v| v.min(u8::MAX - 1)));
        }
        put(buffer, at, self.next_token);
        put(buffer, at, self.push as u8);
        put(buffer, at, self.with_push);
        put(buffer, at, self.wakes);
        put(buffer, at, self.fan_out_only);
        put(buffer, at, u8::from(self.retained_broadcast));
        put(buffer, at, self.polls_due);
        put_option(buffer, at, self.registration);
        put(buffer, at, self.pending);
        put(buffer, at, u8::from(self.online));
        for n in &self.ring {
            put(buffer, at, n.to);
            put(buffer, at, n.m);
        }
        put(buffer, at, self.ring_len);
        put(buffer, at, u8::from(self.mark));
    }
}

impl State {
    /// Every field as bytes, injectively (versions stay below 255: budgets are at most 16).
    pub(crate) fn encode(&self) -> [u8; STATE_BYTES] {
        let mut buffer = [0u8; STATE_BYTES];
        let mut at = 0;
        for version in &self.versions {
            put(&mut buffer, &mut at, *version);
        }
        put(&mut buffer, &mut at, self.mailboxes);
        put(&mut buffer, &mut at, self.push_capable);
        put(&mut buffer, &mut at, self.changes_left);
        put(&mut buffer, &mut at, self.disconnects_left);
        put(&mut buffer, &mut at, self.faults_left);
        put(&mut buffer, &mut at, self.device_count);
        put(&mut buffer, &mut at, u8::from(self.history.dropped));
        put(&mut buffer, &mut at, u8::from(self.history.coalesced));
        put(&mut buffer, &mut at, u8::from(self.history.polled_change));
        for device in &self.devices {
            device.encode(&mut buffer, &mut at);
        }
        buffer
    }
}

/// The checker fingerprints every generated state; one write of its encoding is much cheaper
/// than the derived field-by-field hash.
impl std::hash::Hash for State {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write(&self.encode());
    }
}

/// The bit of one index in a `u8` set.
pub(crate) fn bit(index: u8) -> u8 {
    1u8.checked_shl(u32::from(index)).unwrap_or(0)
}

pub(crate) fn bit_usize(index: usize) -> u8 {
    u32::try_from(index)
        .ok()
        .and_then(|i| 1u8.checked_shl(i))
        .unwrap_or(0)
}

/// The indices in a `u8` set, ascending.
pub(crate) fn members(set: u8) -> impl Iterator<Item = u8> {
    (0..8u8).filter(move |i| set & bit(*i) != 0)
}
