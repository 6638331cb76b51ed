//! The mail client's configuration, checked before the core starts.

use std::collections::BTreeSet;

use super::backoff::BackoffConfig;
use crate::AccountId;
use crate::imap_client::ImapClientConfig;

/// A configuration the mail client refuses, naming the problem.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// LOCAL-16: the poll interval is at least 60 seconds.
    #[error(
        "poll interval of account {account} is {secs} s; the minimum is 60 s \
         (spec/device-local.md LOCAL-16)"
    )]
    PollIntervalTooShort {
        /// The account.
        account: AccountId,
        /// The interval asked for.
        secs: u64,
    },
    /// A poll interval of 0.
    #[error("a poll interval must be longer than 0")]
    ZeroPollInterval,
    /// Two accounts with one id.
    #[error("account {0} is configured twice")]
    DuplicateAccount(AccountId),
    /// XAPS-16: the registration must be renewed within 30 days; more often than every second
    /// would flood the mail server.
    #[error("push registrations are renewed every {0} ms; it must be 1 second to 29 days")]
    RefreshInterval(u64),
    /// XAPS-7: the subtopic is 1 to 256 octets of printable US-ASCII.
    #[error("the push subtopic must be 1 to 256 printable US-ASCII characters")]
    Subtopic,
    /// A backoff with a zero delay or a cap below its first delay.
    #[error("{0} backoff must start above 0 ms and not exceed its cap")]
    Backoff(&'static str),
    /// A timeout of 0.
    #[error("the attempt timeout must be longer than 0")]
    AttemptTimeout,
}

/// How often a mailbox without push is woken (LOCAL-15, LOCAL-16).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PollInterval {
    millis: u64,
    conforming: bool,
}

impl PollInterval {
    /// 900 seconds, the default of LOCAL-16.
    //= spec/device-local.md#LOCAL-16
    //# It SHOULD default to 900
    //# seconds
    pub const DEFAULT: PollInterval = PollInterval {
        millis: 900_000,
        conforming: true,
    };

    /// The shortest conforming interval: 60 seconds.
    pub const MINIMUM_SECS: u64 = 60;

    /// An interval of `secs` seconds, refused below 60 (LOCAL-16). The account is named in the
    /// error.
    //= spec/device-local.md#LOCAL-16
    //# the mail client MUST NOT use an interval shorter than 60 seconds.
    pub fn from_secs(account: &AccountId, secs: u64) -> Result<Self, ConfigError> {
        if secs < Self::MINIMUM_SECS {
            return Err(ConfigError::PollIntervalTooShort {
                account: account.clone(),
                secs,
            });
        }
        Ok(Self {
            millis: secs.saturating_mul(1000),
            conforming: true,
        })
    }

    //= spec/device-local.md#LOCAL-19
    //# An implementation MAY offer a poll interval shorter
    //# than 60 seconds for tests and demonstrations.
    /// **Testing override, not conforming.** An interval below the 60 seconds of LOCAL-16, for
    /// tests and demonstrations that cannot wait a minute. A mail client using it does not
    /// conform to `spec/device-local.md` (LOCAL-19); [`PollInterval::is_conforming`] says so,
    /// and a driver must log it at start.
    pub fn testing_override_millis(millis: u64) -> Result<Self, ConfigError> {
        if millis == 0 {
            return Err(ConfigError::ZeroPollInterval);
        }
        Ok(Self {
            millis,
            conforming: millis >= Self::MINIMUM_SECS * 1000,
        })
    }

    /// The interval in milliseconds.
    pub fn millis(self) -> u64 {
        self.millis
    }

    /// False for an interval made by [`PollInterval::testing_override_millis`] below 60 s.
    pub fn is_conforming(self) -> bool {
        self.conforming
    }
}

impl Default for PollInterval {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// One mail account of the device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountConfig {
    /// The account id the device chose for it (`aps-account-id`, PROV-8 `account-id`).
    pub id: AccountId,
    /// How the mail client's own push-registration connection reaches the mail server.
    pub imap: ImapClientConfig,
    /// The period of scheduled local notifications for its mailboxes without push.
    //= spec/device-local.md#LOCAL-16
    //# The poll interval MUST be configurable per account.
    pub poll_interval: PollInterval,
}

/// The mail client's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailClientConfig {
    /// The accounts.
    pub accounts: Vec<AccountConfig>,
    /// `aps-subtopic` of every push registration.
    pub subtopic: String,
    /// How long after sending an acknowledged registration the next one is sent (XAPS-16,
    /// LOCAL-20). Default one day; 1 second to 29 days.
    pub refresh_after_ms: u64,
    /// How long a push-registration connection or a device-channel handshake may stay silent
    /// before it is given up. Default 60 s.
    pub attempt_timeout_ms: u64,
    /// Retry delays of failed push registrations. Default 5 s doubling to 15 min.
    pub registration_backoff: BackoffConfig,
    /// Reconnect delays of the device channel. Default 1 s doubling to 5 min.
    pub channel_backoff: BackoffConfig,
    /// Seed of everything random (token prefixes, jitter). A driver takes it from the operating
    /// system's generator at every start.
    pub seed: u64,
}

/// Thirty days minus one: the longest renewal period that keeps a registration alive (XAPS-16).
pub const MAX_REFRESH_MS: u64 = 29 * DAY_MS;
/// One second: the shortest renewal period, short enough for a conformance case to watch a
/// renewal, long enough not to flood the mail server.
pub const MIN_REFRESH_MS: u64 = 1_000;
/// XAPS-16: a registration lives 30 days after it was stored.
pub(crate) const REGISTRATION_LIFETIME_MS: u64 = 30 * DAY_MS;
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

impl MailClientConfig {
    /// The defaults for these accounts.
    pub fn new(accounts: Vec<AccountConfig>, seed: u64) -> Self {
        Self {
            accounts,
            subtopic: "com.apple.mobilemail".to_owned(),
            refresh_after_ms: DAY_MS,
            attempt_timeout_ms: 60_000,
            registration_backoff: BackoffConfig {
                initial_ms: 5_000,
                max_ms: 15 * 60_000,
            },
            channel_backoff: BackoffConfig {
                initial_ms: 1_000,
                max_ms: 5 * 60_000,
            },
            seed,
        }
    }

    /// Checks every value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut seen = BTreeSet::new();
        for account in &self.accounts {
            if !seen.insert(&account.id) {
                return Err(ConfigError::DuplicateAccount(account.id.clone()));
            }
        }
        if !(MIN_REFRESH_MS..=MAX_REFRESH_MS).contains(&self.refresh_after_ms) {
            return Err(ConfigError::RefreshInterval(self.refresh_after_ms));
        }
        let printable = self.subtopic.bytes().all(|b| (0x21..=0x7e).contains(&b));
        if self.subtopic.is_empty()
            || self.subtopic.len() > mailpush_imap::xaps::MAX_FIELD_LEN
            || !printable
        {
            return Err(ConfigError::Subtopic);
        }
        for (what, b) in [
            ("registration", self.registration_backoff),
            ("channel", self.channel_backoff),
        ] {
            if b.initial_ms == 0 || b.max_ms < b.initial_ms {
                return Err(ConfigError::Backoff(what));
            }
        }
        if self.attempt_timeout_ms == 0 {
            return Err(ConfigError::AttemptTimeout);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> AccountId {
        AccountId::new("A1").unwrap()
    }

    //= spec/device-local.md#LOCAL-16
    //= type=test
    //# the mail client MUST NOT use an interval shorter than 60 seconds.
    //= spec/device-local.md#LOCAL-19
    //= type=test
    //# Such an override MUST be off by default and MUST be
    //# enabled only by a setting that names it as a testing override
    #[test]
    fn poll_intervals_below_a_minute_are_refused_with_the_account_named() {
        let error = PollInterval::from_secs(&account(), 59).unwrap_err();
        assert_eq!(
            error.to_string(),
            "poll interval of account A1 is 59 s; the minimum is 60 s \
             (spec/device-local.md LOCAL-16)"
        );
        let minute = PollInterval::from_secs(&account(), 60).unwrap();
        assert_eq!(minute.millis(), 60_000);
        assert!(minute.is_conforming());
        assert_eq!(PollInterval::default().millis(), 900_000);
        let fast = PollInterval::testing_override_millis(500).unwrap();
        assert!(!fast.is_conforming());
        assert_eq!(
            PollInterval::testing_override_millis(0),
            Err(ConfigError::ZeroPollInterval)
        );
    }

    #[test]
    fn configuration_values_are_checked() {
        let ok = MailClientConfig::new(Vec::new(), 1);
        assert_eq!(ok.validate(), Ok(()));
        let mut c = ok.clone();
        c.refresh_after_ms = 30 * DAY_MS;
        assert_eq!(c.validate(), Err(ConfigError::RefreshInterval(30 * DAY_MS)));
        c.refresh_after_ms = MIN_REFRESH_MS - 1;
        assert_eq!(c.validate(), Err(ConfigError::RefreshInterval(999)));
        c.refresh_after_ms = MIN_REFRESH_MS;
        assert_eq!(c.validate(), Ok(()));
        c.refresh_after_ms = MAX_REFRESH_MS;
        assert_eq!(c.validate(), Ok(()));
        let mut c = ok.clone();
        c.subtopic = "with space".into();
        assert_eq!(c.validate(), Err(ConfigError::Subtopic));
        let mut c = ok.clone();
        c.channel_backoff.max_ms = 1;
        assert_eq!(c.validate(), Err(ConfigError::Backoff("channel")));
    }
}
