//! The push notifier of the mailpush mail server, as a sans-IO state machine: the mail server's
//! side of the provider API (spec/provider-api.md §5, PROV-18..PROV-24).
//!
//! The session layer reports each change of a registered mailbox (the store's push targets of
//! a change that pushes) with [`Notifier::handle_change`]. The notifier coalesces changes per
//! registration (PROV-19), builds provider-API pushes with the payload, `TTL`, `Topic` and
//! `Urgency` of PROV-20..PROV-24 (the types and encodings of `mailpush-provider-api`), splits
//! payloads over 4096 octets, and decides retries and device deletions from the push service's
//! answers (PROV-23). It has no clock, no sockets and no tasks: a driver passes `now` in, sends
//! the HTTP request of each [`Notifier::poll_request`] ([`PushRequest::to_http`], to the
//! resource a [`PushService`] names) and reports answers with [`Notifier::handle_response`].
//!
//! ```
//! use std::time::{Duration, Instant};
//! use mailpush_mail_notify::{Change, ChangeKind, Config, Notifier, Outcome, RegistrationKey};
//! use mailpush_provider_api::{AccountId, DeviceToken, Ttl};
//!
//! let mut notifier = Notifier::new(Config::default()).unwrap();
//! let start = Instant::now();
//! let registration = RegistrationKey {
//!     user: "alice",
//!     account_id: AccountId::new("0715A26B").unwrap(),
//!     device_token: DeviceToken::parse_any_case(&"2918".repeat(16)).unwrap(),
//! };
//! notifier.handle_change(start, Change {
//!     registration,
//!     mailbox: "Notes".into(),
//!     kind: ChangeKind::NewMessage,
//!     expires_in: Duration::from_secs(86_400),
//! });
//! // An isolated change is due at once (a leading send of PROV-19).
//! assert_eq!(notifier.poll_timeout(), Some(start));
//! notifier.handle_timeout(start);
//! let request = notifier.poll_request().unwrap();
//! assert_eq!(request.message.ttl, Ttl::from_secs(86_400));
//! notifier.handle_response(
//!     start + Duration::from_millis(1),
//!     request.id,
//!     Outcome::Status { status: 201, retry_after: None },
//! );
//! // The registration is remembered for the quiet period: a change before its end is coalesced.
//! assert_eq!(notifier.poll_timeout(), Some(start + Duration::from_millis(250)));
//! notifier.handle_timeout(start + Duration::from_millis(250));
//! assert_eq!(notifier.poll_timeout(), None);
//! assert_eq!(notifier.pending_registrations(), 0);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::time::Duration;

use mailpush_provider_api::{MAX_PAYLOAD_LEN, PushResponse};

mod notifier;
mod request;
mod service;

pub use notifier::{Change, ChangeKind, Event, MAX_TTL, Notifier, Outcome, RegistrationKey, User};
pub use request::{PushRequest, RequestId};
pub use service::{PushService, TOKEN_PLACEHOLDER};

impl Outcome {
    /// The outcome of a response the push service sent.
    pub fn from_response(response: &PushResponse) -> Self {
        Outcome::Status {
            status: response.status.as_u16(),
            retry_after: response.retry_after,
        }
    }
}

/// Why a [`Config`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `max_delay` is above 10 seconds (PROV-19).
    #[error("max-delay {0:?} exceeds 10 seconds")]
    MaxDelayTooLong(Duration),
    /// `quiet` or `max_delay` is zero.
    #[error("quiet and max-delay must be above zero")]
    ZeroDelay,
    /// `burst` is not within 1..=16 (PROV-19).
    #[error("burst {0} is not within 1..=16")]
    BadBurst(u32),
    /// A backoff duration is zero, `backoff_initial` exceeds `backoff_max`, or either exceeds
    /// one day.
    #[error("backoff must satisfy 0 < initial <= max <= 1 day")]
    BadBackoff,
    /// `max_payload` is above 4096 octets (PROV-7) or too small for any payload.
    #[error("max-payload {0} is not within 128..=4096 octets")]
    BadMaxPayload(usize),
    /// A push resource template is not an `http://` or `https://` URL with a host and
    /// `{token}` exactly once in its path (PROV-27); says why.
    #[error("push resource template {0}")]
    BadTemplate(String),
}

/// Longest `max_delay` PROV-19 allows.
pub const MAX_MAX_DELAY: Duration = Duration::from_secs(10);

/// Default burst allowance of PROV-19.
pub const DEFAULT_BURST: u32 = 3;

/// Largest burst allowance PROV-19 allows.
pub const MAX_BURST: u32 = 16;

const ONE_DAY: Duration = Duration::from_secs(86_400);

/// Configuration of a [`Notifier`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Quiet period (PROV-19, default 250 ms): a change this long after the registration's
    /// previous one goes at once; a change sooner joins a set that goes once no change came for
    /// this long.
    pub quiet: Duration,
    /// A pending set goes at most this long after its first change (PROV-19, default 1 s, at
    /// most 10 s).
    pub max_delay: Duration,
    /// Burst allowance (PROV-19, default 3, 1..=16): the first this many sets of a burst (changes
    /// each within `quiet` of the previous one) go at once, so that the commands of one edit
    /// (`APPEND`, `STORE`, `EXPUNGE`) each reach the device without a wait; later ones are
    /// coalesced. 1 sends at once only the first change after a quiet period.
    pub burst: u32,
    /// Send `Topic` = MD5 of the account ID, so that the push service keeps only the latest
    /// notification per account for an offline device (PROV-21, default on).
    pub topic_per_account: bool,
    /// First retry delay after a retryable failure (PROV-23, default 1 s); doubles with each
    /// consecutive failure.
    pub backoff_initial: Duration,
    /// Longest retry delay (default 5 minutes).
    pub backoff_max: Duration,
    /// Longest `Retry-After` honoured (default 1 hour): a larger value waits this long.
    pub max_retry_after: Duration,
    /// Largest payload, in octets (default and maximum 4096, PROV-7).
    pub max_payload: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            quiet: Duration::from_millis(250),
            max_delay: Duration::from_secs(1),
            burst: DEFAULT_BURST,
            topic_per_account: true,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            max_retry_after: Duration::from_secs(3600),
            max_payload: MAX_PAYLOAD_LEN,
        }
    }
}

impl Config {
    /// Checks the bounds documented on each field.
    pub fn validate(&self) -> Result<(), Error> {
        //= spec/provider-api.md#PROV-19
        //# `quiet`
        //# defaults to 250 milliseconds and `max-delay` to 1 second; both are configurable, and `max-delay`
        //# MUST NOT exceed 10 seconds.
        if self.max_delay > MAX_MAX_DELAY {
            return Err(Error::MaxDelayTooLong(self.max_delay));
        }
        if self.quiet.is_zero() || self.max_delay.is_zero() {
            return Err(Error::ZeroDelay);
        }
        //= spec/provider-api.md#PROV-19
        //# `burst` defaults to 3 and MUST be between 1 and 16
        if !(1..=MAX_BURST).contains(&self.burst) {
            return Err(Error::BadBurst(self.burst));
        }
        if self.backoff_initial.is_zero()
            || self.backoff_initial > self.backoff_max
            || self.backoff_max > ONE_DAY
            || self.max_retry_after > ONE_DAY
        {
            return Err(Error::BadBackoff);
        }
        if !(128..=MAX_PAYLOAD_LEN).contains(&self.max_payload) {
            return Err(Error::BadMaxPayload(self.max_payload));
        }
        Ok(())
    }
}
