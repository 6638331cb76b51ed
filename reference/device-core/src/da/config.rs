//! What one account's engine is told when it is built.

use std::time::Duration;

use mailpush_imap::Mailbox;

use crate::AccountId;
pub use crate::imap_client::{AuthMechanism, Credentials, Security};

/// Bounds on what the engine holds and accepts. Every reply that crosses one closes the
/// connection with [`Error::Limit`](super::Error::Limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest message whose content the DA keeps (SYNC-14; NOTE-10's default of 1 MiB). A
    /// larger message is kept by UID, flags and mod-sequence, marked too large.
    pub max_message_octets: u32,
    /// The longest response line the engine buffers, CRLF included. A `UID SEARCH ALL` answer
    /// lists every UID on one line, so this bounds the mailbox size CONDSTORE can synchronize
    /// (about 11 octets per UID).
    pub max_line: usize,
    /// The most messages a mailbox may have (an `EXISTS`, a listing or a search beyond it is
    /// refused).
    pub max_messages: u32,
    /// The longest command line the engine writes; a UID set that would be longer is split over
    /// several pipelined commands, or, for QRESYNC's known UIDs, replaced by the range it spans
    /// (SYNC-15).
    pub max_command_line: usize,
    /// The most writes that may wait to be performed; more are refused (SYNC-20).
    pub max_pending_writes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_octets: 1024 * 1024,
            max_line: 16 * 1024 * 1024,
            max_messages: 1_000_000,
            max_command_line: 4000,
            max_pending_writes: 1000,
        }
    }
}

/// The retry schedule of SYNC-12: the n-th consecutive failure delays the next attempt by
/// `min(first × 2^(n−1), max)`. No jitter: the delays are the same on every run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetrySchedule {
    /// The delay after the first failure (default 1 s).
    pub first: Duration,
    /// The cap (default 300 s).
    pub max: Duration,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        RetrySchedule {
            first: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl RetrySchedule {
    /// The delay after `failures` consecutive failures (`failures` ≥ 1; 0 gives no delay).
    //= spec/sync.md#SYNC-12
    //# the n-th consecutive failure
    //# of a mailbox's sync delays the next attempt by `min(1 s × 2^(n−1), 300 s)`
    pub fn delay(&self, failures: u32) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let shift = (failures - 1).min(31);
        self.first
            .checked_mul(1u32 << shift)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

/// Everything one account's [`Engine`](super::Engine) needs.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The account id the mail client registers push under.
    pub account: AccountId,
    /// User name and password.
    pub credentials: Credentials,
    /// LOGIN or AUTHENTICATE PLAIN.
    pub auth: AuthMechanism,
    /// IMAPS, STARTTLS or (loopback tests only) plaintext.
    pub security: Security,
    /// The mailboxes the DA monitors, by wire name (modified UTF-7 as IMAP spells them; `INBOX`
    /// in any case). The DA registers each under the spelling `LIST` gives (LOCAL-1).
    pub monitored: Vec<Mailbox>,
    /// Size bounds.
    pub limits: Limits,
    /// How long the engine waits for the server while it expects something (a greeting, a
    /// completion, the rest of a reply) before it gives the connection up (SYNC-12's timeout;
    /// default 60 s).
    pub response_timeout: Duration,
    /// How long an authenticated connection may stay unused before the engine logs out
    /// (default 10 minutes). The next wake opens a new one.
    pub idle_disconnect: Duration,
    /// Delays between attempts after failures.
    pub retry: RetrySchedule,
    /// The capability mask: capabilities the engine acts as if the server did not advertise
    /// (`QRESYNC`, `CONDSTORE`; compared without regard to case), to choose a lesser sync method
    /// than the server offers (benchmarks and comparisons; empty by default).
    pub masked_capabilities: Vec<String>,
}

impl EngineConfig {
    /// A configuration with the defaults: STARTTLS, AUTHENTICATE PLAIN, the default limits,
    /// 60 s response timeout, 10 minutes idle, 1 s to 300 s retries.
    pub fn new(account: AccountId, credentials: Credentials, monitored: Vec<Mailbox>) -> Self {
        EngineConfig {
            account,
            credentials,
            auth: AuthMechanism::Plain,
            security: Security::StartTls,
            monitored,
            limits: Limits::default(),
            response_timeout: Duration::from_secs(60),
            idle_disconnect: Duration::from_secs(600),
            retry: RetrySchedule::default(),
            masked_capabilities: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_up_to_the_cap() {
        let r = RetrySchedule::default();
        let secs: Vec<u64> = (1..=12).map(|n| r.delay(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(r.delay(u32::MAX), Duration::from_secs(300));
        assert_eq!(r.delay(0), Duration::ZERO);
    }
}
