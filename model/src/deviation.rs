//! Broken variants: deliberate deviations from the protocol, each of which checking must catch
//! (spec/properties.md SM-12).

/// One deliberate deviation from the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Deviation {
    /// The DA skips the wakes of a retained fan-out (or ignores the retained broadcast).
    DaIgnoresRetained,
    /// The mail client forwards a `retained` notification like any other.
    NoFanOut,
    /// A full ring discards the new notification and does not set the mark.
    RingDropsNewest,
    /// The push server clears the mark when the device reconnects.
    LosesRetained,
    /// The mail server may lose one stored registration per device without telling the client.
    ServerForgets,
    /// The mail client never schedules local notifications for mailboxes without push.
    NoPolls,
    /// The mail client gives a new mailbox the token of an unregistered one.
    ReusesTokens,
    /// The mail client keeps waking tokens it no longer has registered.
    RaisesRetiredTokens,
    /// The mail client matches the payload's `m` against the mailboxes of every account.
    WakesAcrossAccounts,
    /// The ring never drops: it holds every notification accepted and not acknowledged.
    UnboundedRing,
    /// The mail client does not wake every token when the reply to a push registration arrives.
    NoInitialWake,
    /// The mail client registers push again after every reply, without end.
    RenewsForever,
    /// The ring drops its oldest notification as soon as it holds N - 1.
    RingKeepsFewer,
    /// The push server flags only the last notification of the ring `retained`.
    RetainedOnLast,
    /// The retained fan-out wakes only the tokens of mailboxes with push.
    FanOutPushOnly,
    /// The push server delivers to a device that has no session.
    DeliversOffline,
    /// The push server does not set the mark when it accepts a notification while the device is
    /// away.
    NoMarkOffline,
    /// The mail server acknowledges every mailbox it can push, named in the request or not.
    AcksUnrequested,
    /// A restarted DA relies on wakes and does not sync its mailboxes once.
    DaRestartWithoutSync,
    /// The DA keeps its cached UIDs when a mailbox's UIDVALIDITY changes.
    IgnoresUidvalidity,
    /// A restarted mail client wakes no token: what device-local.md allows today (SM-13).
    ClientRestartWithoutWake,
    /// The mail server requests no push when a registered mailbox is deleted, renamed or
    /// recreated: what PROV-18 allows today (SM-14).
    NoPushOnMailboxEvents,
    /// A deleted, renamed or recreated mailbox leaves every registration that named it, so a
    /// mailbox created again under the name gets no push: what XAPS-18 allows today (SM-15).
    ForgetsDeletedNames,
    /// A sync that finds its mailbox gone neither lists nor unregisters: what SYNC-12 and
    /// LOCAL-6 allow today (SM-16).
    NoRelist,
}

/// What a deviation is, which requirement it breaks and which property must catch it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviationInfo {
    /// The command-line name.
    pub name: &'static str,
    /// What the deviating component does.
    pub description: &'static str,
    /// The requirements it breaks.
    pub requirement: &'static str,
    /// The property whose counterexample its test asserts.
    pub caught_by: &'static str,
}

impl Deviation {
    /// Every deviation, in the order of spec/properties.md SM-12.
    pub const ALL: [Deviation; 24] = [
        Deviation::DaIgnoresRetained,
        Deviation::NoFanOut,
        Deviation::RingDropsNewest,
        Deviation::LosesRetained,
        Deviation::ServerForgets,
        Deviation::NoPolls,
        Deviation::ReusesTokens,
        Deviation::RaisesRetiredTokens,
        Deviation::WakesAcrossAccounts,
        Deviation::UnboundedRing,
        Deviation::NoInitialWake,
        Deviation::RenewsForever,
        Deviation::RingKeepsFewer,
        Deviation::RetainedOnLast,
        Deviation::FanOutPushOnly,
        Deviation::DeliversOffline,
        Deviation::NoMarkOffline,
        Deviation::AcksUnrequested,
        Deviation::DaRestartWithoutSync,
        Deviation::IgnoresUidvalidity,
        Deviation::ClientRestartWithoutWake,
        Deviation::NoPushOnMailboxEvents,
        Deviation::ForgetsDeletedNames,
        Deviation::NoRelist,
    ];

    /// Its name, description, requirement and catching property.
    pub fn info(self) -> DeviationInfo {
        let (name, description, requirement, caught_by) = match self {
            Deviation::DaIgnoresRetained => (
                "da-ignores-retained",
                "the DA skips the wakes of a retained fan-out (with the alternative mechanism: ignores the retained broadcast)",
                "LOCAL-11",
                "SAFE-5",
            ),
            Deviation::NoFanOut => (
                "no-fan-out",
                "the mail client forwards a `retained` notification like any other",
                "LOCAL-10",
                "SAFE-5",
            ),
            Deviation::RingDropsNewest => (
                "ring-drops-newest",
                "a full ring discards the new notification and does not set the mark",
                "RING-2, RING-5",
                "SAFE-5",
            ),
            Deviation::LosesRetained => (
                "loses-retained",
                "the push server clears the mark when the device reconnects",
                "RING-6",
                "SAFE-5",
            ),
            Deviation::ServerForgets => (
                "server-forgets",
                "the mail server loses a stored registration without telling the client",
                "XAPS-15",
                "SAFE-5",
            ),
            Deviation::NoPolls => (
                "no-polls",
                "no scheduled local notifications for mailboxes without push",
                "LOCAL-15",
                "SAFE-5",
            ),
            Deviation::ReusesTokens => (
                "reuses-tokens",
                "the mail client gives a new mailbox the token of an unregistered one",
                "LOCAL-3",
                "SAFE-1",
            ),
            Deviation::RaisesRetiredTokens => (
                "raises-retired-tokens",
                "the mail client keeps waking the tokens of mailboxes the DA unregistered",
                "LOCAL-6",
                "SAFE-2",
            ),
            Deviation::WakesAcrossAccounts => (
                "wakes-across-accounts",
                "the mail client matches `m` against the mailboxes of every account, so a push for one account wakes a mailbox of the same name in another",
                "LOCAL-7",
                "SAFE-3",
            ),
            Deviation::UnboundedRing => (
                "unbounded-ring",
                "the ring never drops: it holds every notification not acknowledged",
                "RING-1",
                "SAFE-4",
            ),
            Deviation::NoInitialWake => (
                "no-initial-wake",
                "the mail client does not wake every token when the reply to a push registration arrives",
                "LOCAL-5",
                "SAFE-6",
            ),
            Deviation::RenewsForever => (
                "renews-forever",
                "the mail client registers push again after every reply, without end",
                "XAPS-16, SM-10",
                "SAFE-7",
            ),
            Deviation::RingKeepsFewer => (
                "ring-keeps-fewer",
                "the ring drops its oldest notification as soon as it holds N - 1",
                "RING-1, RING-2",
                "SAFE-8",
            ),
            Deviation::RetainedOnLast => (
                "retained-on-last",
                "the push server flags only the last notification of the ring `retained`, not the first sent while the mark is set",
                "RING-6",
                "SAFE-9",
            ),
            Deviation::FanOutPushOnly => (
                "fan-out-push-only",
                "the retained fan-out wakes only the tokens of mailboxes with push",
                "LOCAL-10",
                "SAFE-10",
            ),
            Deviation::DeliversOffline => (
                "delivers-offline",
                "the push server delivers to a device that has no session",
                "SM-4",
                "SAFE-11",
            ),
            Deviation::NoMarkOffline => (
                "no-mark-offline",
                "the push server does not set the mark when it accepts a notification while the device is away",
                "RING-5",
                "SAFE-12",
            ),
            Deviation::AcksUnrequested => (
                "acks-unrequested",
                "the mail server acknowledges every mailbox it can push, whether the registration named it or not",
                "XAPS-10",
                "SAFE-13",
            ),
            Deviation::DaRestartWithoutSync => (
                "da-restart-without-sync",
                "a restarted DA relies on wakes and does not sync every monitored mailbox once",
                "LOCAL-14",
                "SAFE-5",
            ),
            Deviation::IgnoresUidvalidity => (
                "ignores-uidvalidity",
                "the DA keeps its cached UIDs when a mailbox's UIDVALIDITY changes",
                "SYNC-3",
                "SAFE-5",
            ),
            Deviation::ClientRestartWithoutWake => (
                "client-restart-without-wake",
                "a restarted mail client wakes no token, so the local notifications it had posted and that were lost stay lost",
                "SM-13",
                "SAFE-5",
            ),
            Deviation::NoPushOnMailboxEvents => (
                "no-push-on-mailbox-events",
                "the mail server requests no push when a registered mailbox is deleted, renamed or recreated",
                "SM-14",
                "SAFE-5",
            ),
            Deviation::ForgetsDeletedNames => (
                "forgets-deleted-names",
                "a deleted, renamed or recreated mailbox leaves every registration, so the mailbox created again under that name gets no push",
                "SM-15",
                "SAFE-5",
            ),
            Deviation::NoRelist => (
                "no-relist",
                "a sync that finds its mailbox gone neither lists the mailboxes again nor unregisters it",
                "SM-16",
                "SAFE-5",
            ),
        };
        DeviationInfo {
            name,
            description,
            requirement,
            caught_by,
        }
    }

    /// The deviation of a command-line name.
    pub fn from_name(name: &str) -> Option<Deviation> {
        Deviation::ALL.into_iter().find(|d| d.info().name == name)
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// A set of deviations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Broken(u32);

impl Broken {
    /// The protocol as specified.
    pub const NONE: Broken = Broken(0);

    /// This set with `deviation` added.
    pub const fn with(self, deviation: Deviation) -> Broken {
        Broken(self.0 | (1 << (deviation as u32)))
    }

    /// Whether `deviation` is switched on.
    pub fn has(self, deviation: Deviation) -> bool {
        self.0 & deviation.bit() != 0
    }

    /// Whether any deviation is switched on.
    pub fn any(self) -> bool {
        self.0 != 0
    }

    /// The command-line names of the deviations switched on.
    pub fn names(self) -> Vec<&'static str> {
        Deviation::ALL
            .into_iter()
            .filter(|d| self.has(*d))
            .map(|d| d.info().name)
            .collect()
    }

    /// Switches on the deviation of a command-line name.
    pub fn set_by_name(&mut self, name: &str) -> Result<(), crate::ConfigError> {
        let deviation = Deviation::from_name(name)
            .ok_or_else(|| crate::ConfigError::UnknownBrokenVariant(name.to_owned()))?;
        *self = self.with(deviation);
        Ok(())
    }
}
