//! What the model checks: sizes, budgets, policies and the broken variants.

use std::fmt;

/// The most devices a configuration may have (states hold a fixed-size array of devices, and
/// symmetry enumerates their permutations).
pub const MAX_DEVICES: usize = 3;
/// The most mailboxes a configuration may have (states hold fixed-size arrays of mailboxes).
pub const MAX_MAILBOXES: usize = 4;
/// The largest ring capacity N (states hold a fixed-size ring).
pub const MAX_RING: usize = 4;
/// The largest change and disconnect budget.
pub const MAX_BUDGET: u8 = 16;

/// Whether the mail server sends a `Topic` with its push requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TopicPolicy {
    /// No topic: every accepted notification stays in the ring until delivered or dropped.
    None,
    /// One topic per account: a new notification replaces every held one (the APNs behaviour).
    PerAccount,
}

/// How the device reacts to a notification flagged `retained`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RetainedMechanism {
    /// The protocol's choice: the mail client wakes every token, the DA syncs every wake.
    FanOut,
    /// The alternative: one payload-free "retained" broadcast; the DA resyncs every mailbox.
    Broadcast,
}

/// Deliberate deviations from the protocol; each must produce a counterexample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Broken {
    /// The DA skips the wakes of a retained fan-out (or ignores the retained broadcast).
    pub da_ignores_retained: bool,
    /// The mail client forwards a `retained` notification like any other.
    pub no_fan_out: bool,
    /// A full ring discards the new notification and does not set the mark.
    pub ring_drops_newest: bool,
    /// The push server clears the mark when the device reconnects.
    pub loses_retained: bool,
    /// The mail server may lose one stored registration without telling the client.
    pub server_forgets: bool,
    /// The mail client never schedules local notifications for mailboxes without push.
    pub no_polls: bool,
}

/// Switches one deviation on.
pub type SetBroken = fn(&mut Broken);

/// The name of each broken variant on the command line, with its setter.
pub const BROKEN_FLAGS: [(&str, SetBroken); 6] = [
    ("da-ignores-retained", |b| b.da_ignores_retained = true),
    ("no-fan-out", |b| b.no_fan_out = true),
    ("ring-drops-newest", |b| b.ring_drops_newest = true),
    ("loses-retained", |b| b.loses_retained = true),
    ("server-forgets", |b| b.server_forgets = true),
    ("no-polls", |b| b.no_polls = true),
];

impl Broken {
    /// Whether any deviation is switched on.
    pub fn any(&self) -> bool {
        *self != Broken::default()
    }

    /// The command-line names of the deviations switched on.
    pub fn names(&self) -> Vec<&'static str> {
        BROKEN_FLAGS
            .iter()
            .filter(|(_, set)| {
                let mut only = Broken::default();
                set(&mut only);
                self.contains(&only)
            })
            .map(|(name, _)| *name)
            .collect()
    }

    fn contains(&self, other: &Broken) -> bool {
        (!other.da_ignores_retained || self.da_ignores_retained)
            && (!other.no_fan_out || self.no_fan_out)
            && (!other.ring_drops_newest || self.ring_drops_newest)
            && (!other.loses_retained || self.loses_retained)
            && (!other.server_forgets || self.server_forgets)
            && (!other.no_polls || self.no_polls)
    }

    /// Parses one command-line name of a deviation.
    pub fn set_by_name(&mut self, name: &str) -> Result<(), ConfigError> {
        let (_, set) = BROKEN_FLAGS
            .iter()
            .find(|(flag, _)| *flag == name)
            .ok_or_else(|| ConfigError::UnknownBrokenVariant(name.to_owned()))?;
        set(self);
        Ok(())
    }
}

/// A configuration of the model. Every source of repetition has a budget, so every behaviour is
/// finite (spec/properties.md SM-10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Config {
    /// Devices of the one account; all are interchangeable.
    pub devices: u8,
    /// Monitored mailboxes the mail server acknowledges for push (named `A`, `B`, ...).
    pub push_mailboxes: u8,
    /// Monitored mailboxes the mail server does not acknowledge: they are polled (named after the
    /// push mailboxes).
    pub poll_mailboxes: u8,
    /// N, the capacity of each device's ring.
    pub ring_capacity: u8,
    /// Whether push requests carry a per-account topic.
    pub topic: TopicPolicy,
    /// How many mailbox changes happen in total.
    pub changes: u8,
    /// How many disconnects happen in total, over all devices.
    pub disconnects: u8,
    /// How the device reacts to `retained`.
    pub mechanism: RetainedMechanism,
    /// Deviations from the protocol.
    pub broken: Broken,
}

/// A configuration that cannot be checked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No devices, or more than [`MAX_DEVICES`].
    #[error("devices must be 1 to {MAX_DEVICES}, not {0}")]
    Devices(u8),
    /// No mailboxes, or more than [`MAX_MAILBOXES`] in total.
    #[error("there must be 1 to {MAX_MAILBOXES} mailboxes in total, not {0}")]
    Mailboxes(u16),
    /// A ring of capacity 0, or above [`MAX_RING`].
    #[error("ring capacity N must be 1 to {MAX_RING}, not {0}")]
    RingCapacity(u8),
    /// A budget above [`MAX_BUDGET`].
    #[error("the {name} budget must be at most {MAX_BUDGET}, not {value}")]
    Budget {
        /// Which budget.
        name: &'static str,
        /// Its value.
        value: u8,
    },
    /// A broken-variant name that does not exist.
    #[error("unknown broken variant {0:?}")]
    UnknownBrokenVariant(String),
    /// A configuration name that does not exist.
    #[error("unknown configuration {0:?}")]
    UnknownConfig(String),
}

impl Config {
    /// The configuration `cargo test` checks exhaustively: two devices, two mailboxes with push and
    /// one without, N = 1 without topics (so drops happen), two changes and one disconnect.
    pub const CI: Config = Config {
        devices: 2,
        push_mailboxes: 2,
        poll_mailboxes: 1,
        ring_capacity: 1,
        topic: TopicPolicy::None,
        changes: 2,
        disconnects: 1,
        mechanism: RetainedMechanism::FanOut,
        broken: Broken {
            da_ignores_retained: false,
            no_fan_out: false,
            ring_drops_newest: false,
            loses_retained: false,
            server_forgets: false,
            no_polls: false,
        },
    };

    /// The APNs-like deployment: like [`Config::CI`] with one topic per account, so held
    /// notifications are coalesced instead of dropped.
    pub const APNS: Config = Config {
        topic: TopicPolicy::PerAccount,
        ..Config::CI
    };

    /// Named configurations for the command line.
    pub fn named(name: &str) -> Result<Config, ConfigError> {
        match name {
            "ci" => Ok(Config::CI),
            "apns" => Ok(Config::APNS),
            other => Err(ConfigError::UnknownConfig(other.to_owned())),
        }
    }

    /// Checks the limits of every knob.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.devices == 0 || usize::from(self.devices) > MAX_DEVICES {
            return Err(ConfigError::Devices(self.devices));
        }
        let mailboxes = u16::from(self.push_mailboxes) + u16::from(self.poll_mailboxes);
        if mailboxes == 0 || usize::from(mailboxes) > MAX_MAILBOXES {
            return Err(ConfigError::Mailboxes(mailboxes));
        }
        if self.ring_capacity == 0 || usize::from(self.ring_capacity) > MAX_RING {
            return Err(ConfigError::RingCapacity(self.ring_capacity));
        }
        for (name, value) in [("changes", self.changes), ("disconnects", self.disconnects)] {
            if value > MAX_BUDGET {
                return Err(ConfigError::Budget { name, value });
            }
        }
        Ok(())
    }

    /// Total number of monitored mailboxes.
    pub fn mailboxes(&self) -> u8 {
        self.push_mailboxes + self.poll_mailboxes
    }

    /// The mailboxes the mail server acknowledges for push, as a bit set.
    pub fn push_capable(&self) -> u8 {
        low_bits(self.push_mailboxes)
    }

    /// Every monitored mailbox, as a bit set.
    pub fn all_mailboxes(&self) -> u8 {
        low_bits(self.mailboxes())
    }
}

/// A set of the `count` lowest bits.
pub(crate) fn low_bits(count: u8) -> u8 {
    if count >= 8 {
        u8::MAX
    } else {
        (1u8 << count) - 1
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "devices={} push-mailboxes={} poll-mailboxes={} N={} topic={} changes={} \
             disconnects={} mechanism={}",
            self.devices,
            self.push_mailboxes,
            self.poll_mailboxes,
            self.ring_capacity,
            match self.topic {
                TopicPolicy::None => "none",
                TopicPolicy::PerAccount => "account",
            },
            self.changes,
            self.disconnects,
            match self.mechanism {
                RetainedMechanism::FanOut => "fan-out",
                RetainedMechanism::Broadcast => "broadcast",
            },
        )?;
        let broken = self.broken.names();
        if !broken.is_empty() {
            write!(f, " broken={}", broken.join(","))?;
        }
        Ok(())
    }
}
