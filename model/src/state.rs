//! The state of the whole system: the mail server, and per device its share of the mail server
//! (registrations, pending sets), of the push server (ring, mark, session), the mail client and
//! the data-access daemon.
//!
//! Mailbox sets, token sets and poll timers are `u8` bit sets indexed by mailbox (or token), and
//! every sequence is a fixed-size array, so a state is `Copy`: the checker clones, hashes and (for
//! symmetry) renames millions of them without allocating.
//!
//! A DA's view of a mailbox is kept as one bit, *fresh*: whether it equals the mail server's
//! content. Every property compares a view only with the server's current content, and a sync
//! makes them equal, so the version numbers themselves are state that nothing reads.

use crate::config::{Config, MAX_ACCOUNTS, MAX_DEVICES, MAX_EVENTS, MAX_MAILBOXES, MAX_RING};

/// Index of a device (`0..devices`).
pub type DeviceId = u8;
/// Index of an account of every device (`0..accounts`).
pub type AccountId = u8;
/// Index of a mailbox name over all accounts: account `a`'s names are
/// `a * names_per_account ..`, those with push first, then those without, then the spare name a
/// rename may take.
pub type MailboxId = u8;
/// A token the mail client gave the DA. Opaque to the DA (LOCAL-3); the mail client picks the
/// least number that no part of the device has ever seen or still refers to.
pub type Token = u8;

/// The DA's registration progress for one account (spec/properties.md SM-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DaPhase {
    /// Has to list the account's mailboxes and register them: at first, and after a sync found
    /// a registered mailbox gone (SM-16).
    Unlisted,
    /// Holds one token per monitored mailbox.
    Registered,
}

/// The mail client's push registration for one account (SM-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PushPhase {
    /// An `XAPPLEPUSHSERVICE` is due: none was sent yet, or the monitored mailboxes changed, or the
    /// stored registration expired.
    NotRequested,
    /// Sent and stored by the mail server; the reply has not arrived.
    Requested,
    /// The reply arrived: the mailboxes with push are known.
    Active,
}

/// An event of the mail server that every device takes in: another client's IMAP command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServerEvent {
    /// A new message, a flag change or an expunge in the mailbox.
    Change(MailboxId),
    /// The mailbox was recreated under its name with a new UIDVALIDITY (SYNC-3).
    Recreated(MailboxId),
    /// The mailbox was deleted (XAPS-18).
    Deleted(MailboxId),
    /// The mailbox was renamed to a spare name of its account (XAPS-18).
    Renamed(MailboxId, MailboxId),
}

impl ServerEvent {
    /// One byte: the kind in the top two bits, then the mailbox, then the new name.
    pub fn encode(self) -> u8 {
        let (kind, m, to) = match self {
            ServerEvent::Change(m) => (0, m, 0),
            ServerEvent::Recreated(m) => (1, m, 0),
            ServerEvent::Deleted(m) => (2, m, 0),
            ServerEvent::Renamed(m, to) => (3, m, to),
        };
        (kind << 6) | ((m & 7) << 3) | (to & 7)
    }

    /// The event [`ServerEvent::encode`] wrote as `byte`.
    pub fn decode(byte: u8) -> ServerEvent {
        let m = (byte >> 3) & 7;
        match byte >> 6 {
            0 => ServerEvent::Change(m),
            1 => ServerEvent::Recreated(m),
            2 => ServerEvent::Deleted(m),
            _ => ServerEvent::Renamed(m, byte & 7),
        }
    }

    /// The mailbox the event is about (the old name of a rename).
    pub fn mailbox(self) -> MailboxId {
        match self {
            ServerEvent::Change(m)
            | ServerEvent::Recreated(m)
            | ServerEvent::Deleted(m)
            | ServerEvent::Renamed(m, _) => m,
        }
    }
}

/// The layout of accounts and mailboxes: constant over a check, kept in the state so that
/// symmetry reduction can rename without the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shape {
    /// How many devices exist.
    pub devices: u8,
    /// Accounts per device.
    pub accounts: u8,
    /// Mailbox names per account, the spare name included.
    pub names: u8,
    /// Of which with push (the first ones).
    pub push: u8,
    /// Of which without push (after them); any name after these is a spare name.
    pub poll: u8,
    /// Whether renaming mailboxes within their kind is a symmetry (it is not when a deviation
    /// matches mailbox names across accounts).
    pub mailbox_symmetry: bool,
}

impl Shape {
    fn of(config: &Config) -> Shape {
        Shape {
            devices: config.devices,
            accounts: config.accounts,
            names: config.names_per_account(),
            push: config.push_mailboxes,
            poll: config.poll_mailboxes,
            mailbox_symmetry: !config.broken.has(crate::Deviation::WakesAcrossAccounts),
        }
    }

    /// Every mailbox name of every account.
    pub fn mailboxes(&self) -> u8 {
        self.names * self.accounts
    }

    /// The account a mailbox belongs to.
    pub fn account_of(&self, m: MailboxId) -> AccountId {
        m / self.names.max(1)
    }

    /// A mailbox's name within its account: equal across accounts for equal names.
    pub fn name_of(&self, m: MailboxId) -> u8 {
        m % self.names.max(1)
    }

    /// The mailboxes of one account, as a set.
    pub fn account_mailboxes(&self, a: AccountId) -> u8 {
        low_bits(self.names) << (a * self.names)
    }

    /// The names the mail server acknowledges for push: those with push and the spare ones (a
    /// rename keeps a mailbox's kind).
    pub fn push_capable(&self) -> u8 {
        (0..self.accounts).fold(0, |set, a| {
            let names =
                low_bits(self.names) & !(low_bits(self.push + self.poll) & !low_bits(self.push));
            set | (names << (a * self.names))
        })
    }

    /// The mailboxes that exist at first: every name but the spare ones.
    pub fn initial_mailboxes(&self) -> u8 {
        (0..self.accounts).fold(0, |set, a| {
            set | (low_bits(self.push + self.poll) << (a * self.names))
        })
    }

    /// The accounts, as indices.
    pub fn account_ids(&self) -> impl Iterator<Item = AccountId> {
        0..self.accounts
    }
}

/// How often each of one device's behaviours may still happen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DeviceBudgets {
    /// Ends of the device channel session.
    pub disconnects: u8,
    /// Restarts of the DA.
    pub da_restarts: u8,
    /// Restarts of the mail client.
    pub client_restarts: u8,
    /// Push registrations sent again while one is active.
    pub renewals: u8,
    /// Stored registrations that expire.
    pub expiries: u8,
    /// Held notifications that expire.
    pub ttl_expiries: u8,
    /// Mailboxes the DA stops monitoring.
    pub unregisters: u8,
    /// Registrations the mail server loses (broken variant `server-forgets` only).
    pub faults: u8,
}

impl DeviceBudgets {
    fn encode(&self) -> [u8; 8] {
        [
            self.disconnects,
            self.da_restarts,
            self.client_restarts,
            self.renewals,
            self.expiries,
            self.ttl_expiries,
            self.unregisters,
            self.faults,
        ]
    }
}

/// Everything one device is, as seen by every party.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Device {
    /// What this device may still do.
    pub budgets: DeviceBudgets,
    /// How many of the mail server's recorded events this device has taken in (device-by-device
    /// schedule; always all of them in the interleaved one).
    pub taken_in: u8,

    // --- Mail server, as this device's parties see it.
    /// The mailboxes that exist, after the events this device has taken in.
    pub exists: u8,
    /// The acknowledged mailboxes of this device's stored registrations (one per account;
    /// a registration whose set is empty is deleted, XAPS-14).
    pub registration: u8,
    /// The registrations' pending sets of changed mailboxes (PROV-19).
    pub pending: u8,

    // --- Push server, for this device.
    /// Whether the device has an established session.
    pub online: bool,
    /// Held notifications, oldest first: the first `ring_len` entries, each the payload `m` (a
    /// non-empty set of mailboxes of one account).
    pub ring: [u8; MAX_RING],
    /// How many notifications are held.
    pub ring_len: u8,
    /// The mark: the next notification sent carries `retained` (RING-5, RING-6).
    pub mark: bool,
    /// Notifications sent on the session and not acknowledged, those removed from the ring
    /// since included: what the window counts (CHAN-30).
    pub unacked: u8,
    /// How many of the held notifications, the oldest, are in flight: sent on the session and
    /// not acknowledged. Sends go in id order and only a drop (the oldest) or an acknowledgement
    /// removes one in flight, so they are the newest `in_flight` of the `unacked`.
    pub in_flight: u8,
    /// How many of the held notifications, the oldest, the device received on a session that
    /// ended: the cursor of its next `hello` acknowledges them (CHAN-7).
    pub received: u8,
    /// The position among the `unacked` (0 the oldest) of the first `notify` carrying
    /// `retained` sent since the last event of RING-5: its acknowledgement clears the mark.
    pub carrier: Option<u8>,

    // --- Mail client.
    /// The token table: the token of each registered mailbox.
    pub tokens: [Option<Token>; MAX_MAILBOXES],
    /// Tokens given out and unregistered since; never given out again (LOCAL-3).
    pub retired: u8,
    /// Push registration progress, per account.
    pub push: [PushPhase; MAX_ACCOUNTS],
    /// Accounts whose push registration has had a reply, so `with_push` is known.
    pub answered: u8,
    /// The mailboxes the mail server acknowledged in the last reply.
    pub with_push: u8,
    /// The acknowledged set the reply in flight carries (while `Requested`).
    pub reply: u8,
    /// Pending local notifications, by token (coalesced: LOCAL-9).
    pub wakes: u8,
    /// Tokens whose pending wake was raised only by a retained fan-out. Tracked only when the DA
    /// is configured to skip such wakes; the DA of the protocol cannot see it.
    pub fan_out_only: u8,
    /// Mailboxes without push whose poll timer is due: a change happened since it last fired.
    pub polls_due: u8,
    /// The alternative mechanism's pending "retained" broadcast.
    pub retained_broadcast: bool,

    // --- Data-access daemon.
    /// Registration progress, per account.
    pub da: [DaPhase; MAX_ACCOUNTS],
    /// The DA's token for each mailbox, as the mail client answered its registration.
    pub da_tokens: [Option<Token>; MAX_MAILBOXES],
    /// Mailboxes the DA chose to stop monitoring.
    pub unmonitored: u8,
    /// Mailboxes whose view equals the mail server's content.
    pub fresh: u8,
    /// Mailboxes whose view no sync can repair (broken variant `ignores-uidvalidity` only).
    pub corrupt: u8,
}

impl Device {
    fn new(shape: &Shape, budgets: DeviceBudgets) -> Device {
        Device {
            budgets,
            taken_in: 0,
            exists: shape.initial_mailboxes(),
            registration: 0,
            pending: 0,
            online: true,
            ring: [0; MAX_RING],
            ring_len: 0,
            mark: false,
            unacked: 0,
            in_flight: 0,
            received: 0,
            carrier: None,
            tokens: [None; MAX_MAILBOXES],
            retired: 0,
            push: [PushPhase::NotRequested; MAX_ACCOUNTS],
            answered: 0,
            with_push: 0,
            reply: 0,
            wakes: 0,
            fan_out_only: 0,
            polls_due: 0,
            retained_broadcast: false,
            da: [DaPhase::Unlisted; MAX_ACCOUNTS],
            da_tokens: [None; MAX_MAILBOXES],
            unmonitored: 0,
            fresh: 0,
            corrupt: 0,
        }
    }

    /// The held notifications, oldest first.
    pub fn ring(&self) -> &[u8] {
        self.ring.get(..usize::from(self.ring_len)).unwrap_or(&[])
    }

    /// Holds one more notification; the caller keeps `ring_len` within the capacity.
    pub(crate) fn ring_push(&mut self, m: u8) {
        if let Some(slot) = self.ring.get_mut(usize::from(self.ring_len)) {
            *slot = m;
            self.ring_len += 1;
        }
    }

    /// Removes and returns the held notification at `index` (0 is the oldest); one in flight, or
    /// received on an ended session, is one less.
    pub(crate) fn ring_remove(&mut self, index: usize) -> Option<u8> {
        let removed = *self.ring().get(index)?;
        if index < usize::from(self.in_flight) {
            self.in_flight -= 1;
        }
        if index < usize::from(self.received) {
            self.received -= 1;
        }
        let len = usize::from(self.ring_len);
        self.ring.copy_within(index + 1..len, index);
        self.ring_len -= 1;
        if let Some(slot) = self.ring.get_mut(usize::from(self.ring_len)) {
            // Unused slots stay 0 so that equal rings encode equally.
            *slot = 0;
        }
        Some(removed)
    }

    /// An event of RING-5: the mark is set, and no `notify` sent before it can clear it.
    pub(crate) fn set_mark(&mut self) {
        self.mark = true;
        self.carrier = None;
    }

    /// The session ends: what was in flight is no longer (CHAN-18, CHAN-19). The device
    /// received it, so the cursor of its next `hello` will acknowledge it; the window starts
    /// empty, and no `notify` sent on the ended session can clear the mark.
    pub(crate) fn end_session(&mut self) {
        self.received = self.received.max(self.in_flight);
        self.unacked = 0;
        self.in_flight = 0;
        self.carrier = None;
    }

    /// Every token the mail client has registered, as a set.
    pub fn token_set(&self) -> u8 {
        tokens_in(&self.tokens, u8::MAX)
    }

    /// The mail client's tokens of the mailboxes in `mailboxes`, as a set.
    pub fn tokens_of(&self, mailboxes: u8) -> u8 {
        tokens_in(&self.tokens, mailboxes)
    }

    /// The mailboxes the mail client holds a token for, as a set.
    pub fn registered(&self) -> u8 {
        slots_with(&self.tokens)
    }

    /// The mailboxes the DA holds a token for, as a set.
    pub fn da_registered(&self) -> u8 {
        slots_with(&self.da_tokens)
    }

    /// The mailbox the DA registered under `token`.
    pub fn da_mailbox_of(&self, token: Token) -> Option<MailboxId> {
        self.da_tokens
            .iter()
            .position(|t| *t == Some(token))
            .and_then(|i| MailboxId::try_from(i).ok())
    }

    /// Every token any part of the device holds or still refers to: such a number is not free.
    pub fn tokens_in_use(&self) -> u8 {
        self.token_set()
            | tokens_in(&self.da_tokens, u8::MAX)
            | self.retired
            | self.wakes
            | self.fan_out_only
    }

    /// Registered mailboxes the mail server did not acknowledge in the last reply.
    pub fn without_push(&self, shape: &Shape) -> u8 {
        let answered = shape
            .account_ids()
            .filter(|a| self.answered & bit(*a) != 0)
            .fold(0, |set, a| set | shape.account_mailboxes(a));
        self.registered() & answered & !self.with_push
    }

    /// Every account registered with the DA and with push active.
    pub fn registration_complete(&self, shape: &Shape) -> bool {
        shape.account_ids().all(|a| {
            self.da.get(usize::from(a)) == Some(&DaPhase::Registered)
                && self.push.get(usize::from(a)) == Some(&PushPhase::Active)
        })
    }

    /// Nothing is in flight for this device.
    pub fn idle(&self) -> bool {
        self.pending == 0
            && self.ring_len == 0
            && self.unacked == 0
            && !self.mark
            && self.wakes == 0
            && !self.retained_broadcast
            && self.polls_due == 0
    }

    /// SM-11 settled, for this device: registration complete, nothing in flight, online, every
    /// recorded mail server event taken in.
    pub fn settled(&self, shape: &Shape, events: u8) -> bool {
        self.registration_complete(shape) && self.idle() && self.online && self.taken_in == events
    }

    /// SM-11 consistent, for this device: the DA monitors every mailbox that exists and that it
    /// has not chosen to stop monitoring, and its view of each equals the mail server's content.
    pub fn consistent(&self) -> bool {
        let monitored = self.exists & !self.unmonitored;
        self.da_registered() == monitored && monitored & !(self.fresh & !self.corrupt) == 0
    }

    /// Bytes of [`Device::encode`].
    pub(crate) const BYTES: usize =
        8 + 4 + MAX_RING + 2 + 2 * MAX_MAILBOXES + 8 + 2 * MAX_ACCOUNTS + 5;

    /// Every field as bytes, injectively. Refers to no other device, so that devices can be
    /// sorted by it.
    pub(crate) fn encode(&self) -> [u8; Device::BYTES] {
        let mut out = [0u8; Device::BYTES];
        let mut at = 0;
        let mut put = |byte: u8| {
            if let Some(slot) = out.get_mut(at) {
                *slot = byte;
            }
            at += 1;
        };
        self.budgets.encode().into_iter().for_each(&mut put);
        put(self.taken_in);
        put(self.exists);
        put(self.registration);
        put(self.pending);
        self.ring.into_iter().for_each(&mut put);
        put(self.ring_len);
        put(u8::from(self.online)
            | u8::from(self.mark) << 1
            | u8::from(self.retained_broadcast) << 2);
        for token in self.tokens.iter().chain(&self.da_tokens) {
            // Tokens are below `MAX_TOKENS`, so one byte with a sentinel is injective.
            put(token.unwrap_or(u8::MAX));
        }
        for byte in [
            self.retired,
            self.answered,
            self.with_push,
            self.reply,
            self.wakes,
            self.fan_out_only,
            self.polls_due,
            self.unmonitored,
        ] {
            put(byte);
        }
        for a in 0..MAX_ACCOUNTS {
            put(self.push.get(a).map_or(0, |p| *p as u8));
            put(self.da.get(a).map_or(0, |p| *p as u8));
        }
        put(self.fresh);
        put(self.corrupt);
        // Notifications in flight or received are held, so at most MAX_RING (below 16) each; a
        // carrier's position is below `unacked`, at most 255, so 0 is free to mean none.
        put(self.unacked);
        put(self.in_flight | self.received << 4);
        put(self.carrier.map_or(0, |c| c.saturating_add(1)));
        out
    }
}

/// Sticky facts about the path so far: a violation of each step property, and the facts the
/// reachability properties need.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct History {
    /// The step properties violated so far, one bit per [`crate::duties::Duty`].
    pub violations: u16,
    /// The push server dropped a notification.
    pub dropped: bool,
    /// The push server replaced a held notification with the same topic.
    pub coalesced: bool,
    /// A scheduled poll woke the DA for a mailbox without push whose view was behind.
    pub polled_change: bool,
    /// A marker notification was delivered (RING-7).
    pub marker: bool,
    /// A DA found a registered mailbox gone and listed the mailboxes again.
    pub relisted: bool,
}

impl History {
    fn encode(&self) -> [u8; 3] {
        let [low, high] = self.violations.to_le_bytes();
        let facts = u8::from(self.dropped)
            | u8::from(self.coalesced) << 1
            | u8::from(self.polled_change) << 2
            | u8::from(self.marker) << 3
            | u8::from(self.relisted) << 4;
        [low, high, facts]
    }
}

/// The mail server events that may still happen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EventBudgets {
    /// Mailbox changes.
    pub changes: u8,
    /// Recreations with a new UIDVALIDITY.
    pub recreations: u8,
    /// Deletions.
    pub deletions: u8,
    /// Renames.
    pub renames: u8,
}

impl EventBudgets {
    /// Whether no event may happen any more.
    pub fn exhausted(&self) -> bool {
        *self == EventBudgets::default()
    }
}

/// The state of the whole system.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct State {
    /// The layout of accounts and mailboxes (constant).
    pub shape: Shape,
    /// Mail server events that may still happen.
    pub events_left: EventBudgets,
    /// Mail server: the mailboxes that exist now.
    pub exists: u8,
    /// Device-by-device schedule: the mail server's events so far, in order, which each device
    /// takes in at its own steps (the first `log_len`).
    pub log: [u8; MAX_EVENTS],
    /// How many events are recorded.
    pub log_len: u8,
    /// Ghost history.
    pub history: History,
    /// Every device: the first `shape.devices` entries.
    pub devices: [Device; MAX_DEVICES],
}

impl State {
    /// The initial state: nothing registered, everything online, full budgets.
    pub fn initial(config: &Config) -> State {
        let shape = Shape::of(config);
        let b = config.budgets;
        let budgets = DeviceBudgets {
            disconnects: b.disconnects,
            da_restarts: b.da_restarts,
            client_restarts: b.client_restarts,
            renewals: b.renewals,
            expiries: b.expiries,
            ttl_expiries: b.ttl_expiries,
            unregisters: b.unregisters,
            faults: u8::from(config.broken.has(crate::Deviation::ServerForgets)),
        };
        State {
            shape,
            events_left: EventBudgets {
                changes: b.changes,
                recreations: b.recreations,
                deletions: b.deletions,
                renames: b.renames,
            },
            exists: shape.initial_mailboxes(),
            log: [0; MAX_EVENTS],
            log_len: 0,
            history: History::default(),
            devices: [Device::new(&shape, budgets); MAX_DEVICES],
        }
    }

    /// The devices that exist.
    pub fn devices(&self) -> &[Device] {
        self.devices
            .get(..usize::from(self.shape.devices))
            .unwrap_or(&[])
    }

    /// The devices that exist.
    pub fn devices_mut(&mut self) -> &mut [Device] {
        self.devices
            .get_mut(..usize::from(self.shape.devices))
            .unwrap_or(&mut [])
    }

    /// The recorded mail server event a device takes in next, if any.
    pub fn next_event_for(&self, device: &Device) -> Option<ServerEvent> {
        if device.taken_in >= self.log_len {
            return None;
        }
        self.log
            .get(usize::from(device.taken_in))
            .map(|byte| ServerEvent::decode(*byte))
    }

    /// SM-11 settled: every device registered, idle, online and up to date with the mail
    /// server's events.
    //= spec/properties.md#SM-11
    //# These definitions MUST be
    //# structural: they MUST NOT depend on the path that led to the state.
    pub fn settled(&self) -> bool {
        self.devices()
            .iter()
            .all(|d| d.settled(&self.shape, self.log_len))
    }

    /// SM-11 quiescent: settled, and no budgeted action is possible any more.
    pub fn quiescent(&self) -> bool {
        self.settled()
            && self.events_left.exhausted()
            && self
                .devices()
                .iter()
                .all(|d| !crate::protocol::budget_usable(d))
    }

    /// SM-11 consistent: every DA monitors what exists and its views equal the mail server.
    pub fn consistent(&self) -> bool {
        self.devices().iter().all(Device::consistent)
    }

    /// Bytes of [`State::encode`].
    pub(crate) const BYTES: usize = 7 + 4 + 1 + MAX_EVENTS + 1 + 3 + MAX_DEVICES * Device::BYTES;

    /// Every field as bytes, injectively, the devices last and one after the other.
    pub(crate) fn encode(&self) -> [u8; State::BYTES] {
        let mut out = [0u8; State::BYTES];
        let s = self.shape;
        let e = self.events_left;
        let head = [
            s.devices,
            s.accounts,
            s.names,
            s.push,
            s.poll,
            u8::from(s.mailbox_symmetry),
            0,
            e.changes,
            e.recreations,
            e.deletions,
            e.renames,
            self.exists,
        ];
        let history = self.history.encode();
        let parts = head
            .iter()
            .chain(&self.log)
            .chain(std::iter::once(&self.log_len))
            .chain(&history)
            .copied()
            .chain(self.devices.iter().flat_map(Device::encode));
        for (slot, byte) in out.iter_mut().zip(parts) {
            *slot = byte;
        }
        out
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

/// The indices in a `u8` set, ascending.
pub(crate) fn members(set: u8) -> impl Iterator<Item = u8> {
    (0..8u8).filter(move |i| set & bit(*i) != 0)
}

/// A set of the `count` lowest bits.
pub(crate) fn low_bits(count: u8) -> u8 {
    if count >= 8 {
        u8::MAX
    } else {
        (1u8 << count) - 1
    }
}

/// The tokens in `table` of the mailboxes in `mailboxes`, as a set.
fn tokens_in(table: &[Option<Token>; MAX_MAILBOXES], mailboxes: u8) -> u8 {
    (0u8..)
        .zip(table)
        .filter(|(m, _)| mailboxes & bit(*m) != 0)
        .filter_map(|(_, t)| *t)
        .fold(0, |set, t| set | bit(t))
}

/// The mailboxes `table` holds a token for, as a set.
fn slots_with(table: &[Option<Token>; MAX_MAILBOXES]) -> u8 {
    (0u8..)
        .zip(table)
        .filter(|(_, t)| t.is_some())
        .fold(0, |set, (m, _)| set | bit(m))
}
