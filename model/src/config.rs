//! What the model checks: sizes, budgets, policies, the schedule and the broken variants.

use std::fmt;

pub use crate::deviation::{Broken, Deviation};

/// The most devices a configuration may have (states hold a fixed-size array of devices).
pub const MAX_DEVICES: usize = 3;
/// The most accounts each device may have.
pub const MAX_ACCOUNTS: usize = 2;
/// The most mailboxes a configuration may have over all accounts, spare names for renames
/// included (states hold fixed-size arrays and `u8` sets of mailboxes).
pub const MAX_MAILBOXES: usize = 4;
/// The most tokens one device can hold or remember (pending local notifications are a `u8` set).
pub const MAX_TOKENS: usize = 8;
/// The largest ring capacity N (states hold a fixed-size ring).
pub const MAX_RING: usize = 4;
/// The largest in-flight window (the unacknowledged count is a byte of a state). The replay of
/// a trace needs the implementation's own window, which is 16 by default (CHAN-17).
pub const MAX_WINDOW: u8 = u8::MAX;
/// The largest budget of any one kind.
pub const MAX_BUDGET: u8 = 16;
/// The most mail server events (changes, recreations, deletions, renames) of one behaviour.
pub const MAX_EVENTS: usize = 16;

/// Whether the mail server sends a `Topic` with its push requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TopicPolicy {
    /// No topic: every accepted notification stays in the ring until delivered, dropped or
    /// expired.
    None,
    /// One topic per account (PROV-21): a new notification replaces the held ones of its account.
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

/// In which order the checker explores the steps of the parties.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Schedule {
    /// Every step of every party interleaved with every other; a mail server event reaches
    /// every device at the instant it happens. The plain model: what an implementation's trace
    /// is a behaviour of.
    Interleaved,
    /// The mail server's events are chosen first; each device takes each of them in at a step of
    /// its own, and the devices are explored one after the other. Checks exactly the properties
    /// of [`Schedule::Interleaved`] (model/README.md gives the argument), in far fewer states.
    DeviceByDevice,
}

/// How often each source of repetition may happen (spec/properties.md SM-10).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Budgets {
    /// Mailbox changes (new message, flag change, expunge), over all mailboxes.
    pub changes: u8,
    /// Mailboxes recreated under their name with a new UIDVALIDITY (SYNC-3).
    pub recreations: u8,
    /// Mailboxes deleted (XAPS-18).
    pub deletions: u8,
    /// Mailboxes with push renamed to a spare name of their account (XAPS-18).
    pub renames: u8,
    /// Per device: ends of the device channel session.
    pub disconnects: u8,
    /// Per device: restarts of the DA (LOCAL-14).
    pub da_restarts: u8,
    /// Per device: restarts of the mail client (LOCAL-3).
    pub client_restarts: u8,
    /// Per device: push registrations sent again while one is active (XAPS-16).
    pub renewals: u8,
    /// Per device: stored registrations that expire (XAPS-16).
    pub expiries: u8,
    /// Per device: held notifications whose TTL runs out (RING-3).
    pub ttl_expiries: u8,
    /// Per device: mailboxes the DA stops monitoring (LOCAL-6).
    pub unregisters: u8,
}

impl Budgets {
    /// The mail server's events over all mailboxes and devices.
    pub fn server_events(&self) -> u16 {
        [self.changes, self.recreations, self.deletions, self.renames]
            .iter()
            .map(|b| u16::from(*b))
            .sum()
    }

    fn named(&self) -> [(&'static str, u8); 11] {
        [
            ("changes", self.changes),
            ("recreations", self.recreations),
            ("deletions", self.deletions),
            ("renames", self.renames),
            ("disconnects", self.disconnects),
            ("da-restarts", self.da_restarts),
            ("client-restarts", self.client_restarts),
            ("renewals", self.renewals),
            ("expiries", self.expiries),
            ("ttl-expiries", self.ttl_expiries),
            ("unregisters", self.unregisters),
        ]
    }
}

/// A configuration of the model. Every source of repetition has a budget, so every behaviour is
/// finite (spec/properties.md SM-10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Config {
    /// Devices; all are interchangeable, and each has every account.
    pub devices: u8,
    /// Mail accounts on each device; all are interchangeable and name their mailboxes alike.
    pub accounts: u8,
    /// Per account: monitored mailboxes the mail server acknowledges for push (named `A`, `B`...).
    pub push_mailboxes: u8,
    /// Per account: monitored mailboxes the mail server does not acknowledge: they are polled
    /// (named after the push mailboxes).
    pub poll_mailboxes: u8,
    /// N, the capacity of each device's ring.
    pub ring_capacity: u8,
    /// The in-flight window of every session: how many sent notifications may be unacknowledged
    /// (CHAN-17, CHAN-30).
    pub window: u8,
    /// Whether push requests carry a per-account topic.
    pub topic: TopicPolicy,
    /// How often each behaviour may happen.
    pub budgets: Budgets,
    /// How the device reacts to `retained`.
    pub mechanism: RetainedMechanism,
    /// In which order the checker explores steps.
    pub schedule: Schedule,
    /// Whether the sticky facts that only the `REACH` properties read are kept. Leaving them out
    /// of a large check merges states that differ only by them.
    pub reach: bool,
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
    /// No accounts, or more than [`MAX_ACCOUNTS`].
    #[error("accounts must be 1 to {MAX_ACCOUNTS}, not {0}")]
    Accounts(u8),
    /// No mailboxes, or more than [`MAX_MAILBOXES`] over all accounts (a spare name per account
    /// included when renames are budgeted).
    #[error(
        "there must be 1 to {MAX_MAILBOXES} mailboxes over all accounts, spare names included, not {0}"
    )]
    Mailboxes(u16),
    /// A rename budget without a mailbox with push to rename.
    #[error("renames need a mailbox with push")]
    NothingToRename,
    /// More tokens than a device can tell apart.
    #[error("mailboxes, unregisters, deletions and renames need {0} tokens; at most {MAX_TOKENS}")]
    Tokens(u16),
    /// A ring of capacity 0, or above [`MAX_RING`].
    #[error("ring capacity N must be 1 to {MAX_RING}, not {0}")]
    RingCapacity(u8),
    /// An in-flight window of 0, or above [`MAX_WINDOW`].
    #[error("the in-flight window must be 1 to {MAX_WINDOW}, not {0}")]
    Window(u8),
    /// A budget above [`MAX_BUDGET`].
    #[error("the {name} budget must be at most {MAX_BUDGET}, not {value}")]
    Budget {
        /// Which budget.
        name: &'static str,
        /// Its value.
        value: u8,
    },
    /// More mail server events than a behaviour can record.
    #[error("changes, recreations, deletions and renames add up to {0}; at most {MAX_EVENTS}")]
    Events(u16),
    /// A broken-variant name that does not exist.
    #[error("unknown broken variant {0:?}")]
    UnknownBrokenVariant(String),
    /// A configuration name that does not exist.
    #[error("unknown configuration {0:?}")]
    UnknownConfig(String),
}

impl Config {
    /// The configuration `cargo test` checks exhaustively: two devices, two mailboxes with push and
    /// one without, N = 1 without topics (so drops happen), two changes and one disconnect per
    /// device.
    pub const CI: Config = Config {
        devices: 2,
        accounts: 1,
        push_mailboxes: 2,
        poll_mailboxes: 1,
        ring_capacity: 1,
        window: 2,
        topic: TopicPolicy::None,
        budgets: Budgets {
            changes: 2,
            recreations: 0,
            deletions: 0,
            renames: 0,
            disconnects: 1,
            da_restarts: 0,
            client_restarts: 0,
            renewals: 0,
            expiries: 0,
            ttl_expiries: 0,
            unregisters: 0,
        },
        mechanism: RetainedMechanism::FanOut,
        schedule: Schedule::DeviceByDevice,
        reach: true,
        broken: Broken::NONE,
    };

    /// The APNs-like deployment: like [`Config::CI`] with one topic per account, so held
    /// notifications are coalesced instead of dropped (RING-11).
    pub const APNS: Config = Config {
        topic: TopicPolicy::PerAccount,
        ..Config::CI
    };

    /// The scale target: three devices, N = 2, three changes, one disconnect per device.
    pub const SCALE: Config = Config {
        devices: 3,
        ring_capacity: 2,
        budgets: Budgets {
            changes: 3,
            ..Config::CI.budgets
        },
        ..Config::CI
    };

    /// Named configurations for the command line.
    pub fn named(name: &str) -> Result<Config, ConfigError> {
        match name {
            "ci" => Ok(Config::CI),
            "apns" => Ok(Config::APNS),
            "scale" => Ok(Config::SCALE),
            other => Err(ConfigError::UnknownConfig(other.to_owned())),
        }
    }

    /// The nightly check: the scale target, and then every behaviour CI checks on two devices
    /// on three, with N = 2.
    pub fn nightly() -> Vec<(&'static str, Config)> {
        let scale = Config::SCALE;
        let with = |budgets: Budgets| Config { budgets, ..scale };
        let b = scale.budgets;
        vec![
            ("scale target", scale),
            ("four changes", with(Budgets { changes: 4, ..b })),
            (
                "one topic per account",
                Config {
                    topic: TopicPolicy::PerAccount,
                    ..scale
                },
            ),
            (
                "retained broadcast",
                Config {
                    mechanism: RetainedMechanism::Broadcast,
                    ..scale
                },
            ),
            (
                "two accounts",
                Config {
                    accounts: 2,
                    push_mailboxes: 1,
                    poll_mailboxes: 1,
                    ..scale
                },
            ),
            (
                "restarts",
                with(Budgets {
                    da_restarts: 1,
                    client_restarts: 1,
                    ..b
                }),
            ),
            (
                "registration and notification expiry",
                with(Budgets {
                    renewals: 1,
                    expiries: 1,
                    ttl_expiries: 1,
                    ..b
                }),
            ),
            (
                "unregistering",
                with(Budgets {
                    unregisters: 1,
                    ..b
                }),
            ),
            (
                "recreated mailbox",
                with(Budgets {
                    recreations: 1,
                    ..b
                }),
            ),
            (
                "deleted mailbox",
                with(Budgets {
                    changes: 2,
                    deletions: 1,
                    ..b
                }),
            ),
            (
                "renamed mailbox",
                with(Budgets {
                    changes: 2,
                    renames: 1,
                    ..b
                }),
            ),
        ]
    }

    /// Checks the limits of every knob.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.devices == 0 || usize::from(self.devices) > MAX_DEVICES {
            return Err(ConfigError::Devices(self.devices));
        }
        if self.accounts == 0 || usize::from(self.accounts) > MAX_ACCOUNTS {
            return Err(ConfigError::Accounts(self.accounts));
        }
        let per_account = u16::from(self.push_mailboxes)
            + u16::from(self.poll_mailboxes)
            + u16::from(self.spare_names());
        let mailboxes = per_account * u16::from(self.accounts);
        if self.push_mailboxes + self.poll_mailboxes == 0 || usize::from(mailboxes) > MAX_MAILBOXES
        {
            return Err(ConfigError::Mailboxes(mailboxes));
        }
        if self.budgets.renames > 0 && self.push_mailboxes == 0 {
            return Err(ConfigError::NothingToRename);
        }
        let b = self.budgets;
        let tokens =
            mailboxes + u16::from(b.unregisters) + u16::from(b.deletions) + u16::from(b.renames);
        if usize::from(tokens) > MAX_TOKENS {
            return Err(ConfigError::Tokens(tokens));
        }
        if self.ring_capacity == 0 || usize::from(self.ring_capacity) > MAX_RING {
            return Err(ConfigError::RingCapacity(self.ring_capacity));
        }
        if !(1..=MAX_WINDOW).contains(&self.window) {
            return Err(ConfigError::Window(self.window));
        }
        for (name, value) in self.budgets.named() {
            if value > MAX_BUDGET {
                return Err(ConfigError::Budget { name, value });
            }
        }
        let events = self.budgets.server_events();
        if usize::from(events) > MAX_EVENTS {
            return Err(ConfigError::Events(events));
        }
        Ok(())
    }

    /// Spare names per account: a renamed mailbox takes one (its new name).
    pub fn spare_names(&self) -> u8 {
        u8::from(self.budgets.renames > 0)
    }

    /// Mailbox names per account, spare names included.
    pub fn names_per_account(&self) -> u8 {
        self.push_mailboxes + self.poll_mailboxes + self.spare_names()
    }

    /// Every mailbox name of every account.
    pub fn mailboxes(&self) -> u8 {
        self.names_per_account() * self.accounts
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "devices={} accounts={} push-mailboxes={} poll-mailboxes={} N={} window={} topic={}",
            self.devices,
            self.accounts,
            self.push_mailboxes,
            self.poll_mailboxes,
            self.ring_capacity,
            self.window,
            match self.topic {
                TopicPolicy::None => "none",
                TopicPolicy::PerAccount => "account",
            },
        )?;
        for (name, value) in self.budgets.named() {
            if value > 0 || name == "changes" || name == "disconnects" {
                write!(f, " {name}={value}")?;
            }
        }
        write!(
            f,
            " mechanism={} schedule={}",
            match self.mechanism {
                RetainedMechanism::FanOut => "fan-out",
                RetainedMechanism::Broadcast => "broadcast",
            },
            match self.schedule {
                Schedule::Interleaved => "interleaved",
                Schedule::DeviceByDevice => "device-by-device",
            },
        )?;
        if !self.reach {
            write!(f, " reach=off")?;
        }
        let broken = self.broken.names();
        if !broken.is_empty() {
            write!(f, " broken={}", broken.join(","))?;
        }
        Ok(())
    }
}
