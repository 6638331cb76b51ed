//! Deliberately broken behaviours of the reference servers and device, for the conformance
//! suite's mutation test and the trace validation test: a suite is only as good as the faults
//! it catches.
//!
//! Two locks keep them out of real use. The cargo feature `enabled` compiles the switch in;
//! without it [`active`] is a constant `false` and every fault site disappears from the build.
//! Only tests enable it (as a dev-dependency feature: the conformance crate's, the device's). With the
//! feature, the environment variable [`VARIABLE`] (`MAILPUSH_MUTANT=<name>`) picks at most one
//! fault for the whole process; it is read once, the first time any fault site asks, and never
//! again. A process-wide switch rather than a setting because the faults sit deep inside sans-IO
//! cores (the offline ring, the IMAP session, the store) whose public types must not grow a
//! test-only field; the mutation test therefore runs each mutant in a process of its own.
//!
//! [`Alternative`]s are the other side of the same coin: behaviours the specification allows but
//! the reference does not choose (a SHOULD it follows, not followed). They sit behind the same
//! feature and a variable of their own ([`ALTERNATIVE_VARIABLE`]), and the suite's tests check
//! that a device so built still passes every MUST case: a case that fails a conforming device is
//! a wrong case.
#![forbid(unsafe_code)]

use std::fmt;

/// The environment variable that names the active mutant.
pub const VARIABLE: &str = "MAILPUSH_MUTANT";

/// The role of the implementation a mutant breaks, as the conformance runner names roles.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Role {
    /// The mail server (IMAP with XAPPLEPUSHSERVICE, pushing to the push service).
    ImapServer,
    /// The push notification server (provider API and device channel).
    PushServer,
    /// A device's mail client (device-local interface, device channel client).
    Device,
}

macro_rules! mutants {
    ($($variant:ident = $name:literal, $role:ident, $what:literal;)*) => {
        /// One deliberate fault.
        #[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
        #[non_exhaustive]
        pub enum Mutant {
            $(
                #[doc = $what]
                $variant,
            )*
        }

        impl Mutant {
            /// Every mutant.
            pub const ALL: &'static [Mutant] = &[$(Mutant::$variant),*];

            /// Its name, the value of [`VARIABLE`] that selects it.
            pub fn name(self) -> &'static str {
                match self {
                    $(Mutant::$variant => $name,)*
                }
            }

            /// The role it breaks.
            pub fn role(self) -> Role {
                match self {
                    $(Mutant::$variant => Role::$role,)*
                }
            }

            /// What it does wrong.
            pub fn description(self) -> &'static str {
                match self {
                    $(Mutant::$variant => $what,)*
                }
            }
        }
    };
}

mutants! {
    XapsVersionLineMissing = "xaps-version-line-missing", ImapServer,
        "XAPPLEPUSHSERVICE under version 2 answers without the `aps-version` line";
    XapsMailboxLinesUnderVersion1 = "xaps-mailbox-lines-under-version-1", ImapServer,
        "XAPPLEPUSHSERVICE under version 1 also lists the acknowledged mailboxes";
    XapsAcknowledgesMissing = "xaps-acknowledges-missing", ImapServer,
        "XAPPLEPUSHSERVICE acknowledges requested mailboxes that do not exist";
    XapsEmptyKeepsOld = "xaps-empty-keeps-old", ImapServer,
        "a registration whose new set is empty keeps the old one instead of being deleted";
    XapsAnyToken = "xaps-any-token", ImapServer,
        "a device token that names no push resource is registered";
    NoPushOnFlagChange = "no-push-on-flag-change", ImapServer,
        "a flag change pushes nothing";
    NoPushOnExpunge = "no-push-on-expunge", ImapServer,
        "an expunge pushes nothing";
    PushTtlZero = "push-ttl-zero", ImapServer,
        "pushes carry TTL 0 instead of the registration's remaining lifetime";
    GoneKeepsRegistration = "gone-keeps-registration", ImapServer,
        "a push answered 404 or 410 is taken as delivered: the registrations of its token stay";
    RetryAfterIgnored = "retry-after-ignored", ImapServer,
        "a retry waits for the backoff alone, not for the push service's `Retry-After`";
    RetainedNeverSet = "retained-never-set", PushServer,
        "the offline ring never flags a notification `retained`";
    RingDropsNewest = "ring-drops-newest", PushServer,
        "a full ring drops the notification being accepted instead of the oldest";
    ResumeCursorIgnored = "resume-cursor-ignored", PushServer,
        "the cursor of `hello` acknowledges nothing";
    AckNotCumulative = "ack-not-cumulative", PushServer,
        "an `ack` removes only the notification with its id";
    TtlIgnored = "ttl-ignored", PushServer,
        "held notifications never expire";
    TopicIgnored = "topic-ignored", PushServer,
        "a notification with a topic replaces nothing";
    UnregisterIgnored = "unregister-ignored", PushServer,
        "unregistering a device keeps it";
    MailClientNoFanoutOnRetained = "mail-client-no-fanout-on-retained", Device,
        "the mail client wakes only the tokens a `retained` notification names";
    DaIgnoresVanished = "da-ignores-vanished", Device,
        "the DA keeps the messages a `VANISHED` response names";
    NoScheduledPolls = "no-scheduled-polls", Device,
        "the mail client schedules no poll for a mailbox without push";
    HelloCursorZero = "hello-cursor-zero", Device,
        "the mail client's `hello` carries cursor 0 instead of the stored cursor";
    XapsRequestWithoutVersion = "xaps-request-without-version", Device,
        "the mail client's XAPPLEPUSHSERVICE command leaves out `aps-version`";
    DaDropsWakeDuringSync = "da-drops-wake-during-sync", Device,
        "a wake that arrives while its mailbox is being synchronized brings no further sync";
    DaIgnoresExpungeDuringSync = "da-ignores-expunge-during-sync", Device,
        "the DA ignores an `EXPUNGE` that arrives during a sync and fetches the message it names";
    NoRegistrationRenewal = "no-registration-renewal", Device,
        "the mail client never registers push again once a registration is acknowledged";
}

impl fmt::Display for Mutant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::ImapServer => "imap-server",
            Role::PushServer => "push-server",
            Role::Device => "device",
        })
    }
}

/// [`VARIABLE`] names no mutant.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UnknownMutant(pub String);

impl fmt::Display for UnknownMutant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{VARIABLE}={:?} names no mutant", self.0)
    }
}

impl std::error::Error for UnknownMutant {}

/// The mutant named `name`.
pub fn parse(name: &str) -> Result<Mutant, UnknownMutant> {
    Mutant::ALL
        .iter()
        .copied()
        .find(|m| m.name() == name)
        .ok_or_else(|| UnknownMutant(name.to_owned()))
}

/// The process's choice, read from [`VARIABLE`] the first time it is asked for.
#[cfg(feature = "enabled")]
fn choice() -> &'static Result<Option<Mutant>, UnknownMutant> {
    static CHOICE: std::sync::OnceLock<Result<Option<Mutant>, UnknownMutant>> =
        std::sync::OnceLock::new();
    CHOICE.get_or_init(|| match std::env::var(VARIABLE) {
        Ok(name) => parse(&name).map(Some),
        Err(_) => Ok(None),
    })
}

/// The mutant this process runs with: `Ok(None)` without the feature or without the variable.
pub fn selected() -> Result<Option<Mutant>, UnknownMutant> {
    #[cfg(feature = "enabled")]
    {
        choice().clone()
    }
    #[cfg(not(feature = "enabled"))]
    {
        Ok(None)
    }
}

/// True when `mutant` is the one this process runs with. A fault site reads
/// `if mailpush_mutants::active(Mutant::X) { wrong } else { right }`.
#[inline]
pub fn active(mutant: Mutant) -> bool {
    #[cfg(feature = "enabled")]
    {
        matches!(choice(), Ok(Some(m)) if *m == mutant)
    }
    #[cfg(not(feature = "enabled"))]
    {
        let _ = mutant;
        false
    }
}

/// The environment variable that names the active alternative.
pub const ALTERNATIVE_VARIABLE: &str = "MAILPUSH_ALTERNATIVE";

/// A behaviour the specification allows that the reference does not choose.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
#[non_exhaustive]
pub enum Alternative {
    /// The DA opens a mailbox with `SELECT`, not `EXAMINE` (SYNC-9's SHOULD not followed), and
    /// sends no fetch with the open: the range of SYNC-4 is fetched after the open's answer, and
    /// only when that answer shows something to fetch (SYNC-25's SHOULD not followed).
    DaSelectsWithoutPrefetch,
}

impl Alternative {
    /// Every alternative.
    pub const ALL: &'static [Alternative] = &[Alternative::DaSelectsWithoutPrefetch];

    /// Its name, the value of [`ALTERNATIVE_VARIABLE`] that selects it.
    pub fn name(self) -> &'static str {
        match self {
            Alternative::DaSelectsWithoutPrefetch => "da-selects-without-prefetch",
        }
    }

    /// The alternative named `name`, if any.
    pub fn named(name: &str) -> Option<Alternative> {
        Alternative::ALL.iter().copied().find(|a| a.name() == name)
    }
}

/// True when `alternative` is the one this process runs with ([`ALTERNATIVE_VARIABLE`], read
/// once; always false without the feature).
#[inline]
pub fn chosen(alternative: Alternative) -> bool {
    #[cfg(feature = "enabled")]
    {
        static CHOICE: std::sync::OnceLock<Option<Alternative>> = std::sync::OnceLock::new();
        let choice =
            CHOICE.get_or_init(|| Alternative::named(&std::env::var(ALTERNATIVE_VARIABLE).ok()?));
        *choice == Some(alternative)
    }
    #[cfg(not(feature = "enabled"))]
    {
        let _ = alternative;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse_back() {
        for m in Mutant::ALL {
            assert_eq!(parse(m.name()), Ok(*m));
        }
        let mut names: Vec<&str> = Mutant::ALL.iter().map(|m| m.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Mutant::ALL.len());
        assert!(parse("no-such-fault").is_err());
    }
}
