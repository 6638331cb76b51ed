//! The sans-IO notifier: debounce (PROV-19), requests (PROV-20..PROV-22, PROV-24) and retries
//! (PROV-23).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

use mailpush_provider_api::{
    AccountId, DeviceToken, MailboxDigest, Payload, PushMessage, Topic, Ttl, Urgency,
};

use crate::request::{PushRequest, RequestId};
use crate::{Config, Error};

/// Identifies a push registration (XAPS-14): who registered, for which account, on which device.
/// `U` is however the mail server's store names its users.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegistrationKey<U> {
    /// The mail server user who registered.
    pub user: U,
    /// `aps-account-id`: goes into every payload.
    pub account_id: AccountId,
    /// `aps-device-token`: names the push resource.
    pub device_token: DeviceToken,
}

impl<U> RegistrationKey<U> {
    /// The key of a registration as a store keeps it: the account ID and device token as the
    /// client sent them. Fails when the provider API cannot carry them (PROV-8, PROV-27); the
    /// device token may be in either case (XAPS-20).
    pub fn parse(
        user: U,
        account_id: &str,
        device_token: &str,
    ) -> Result<Self, mailpush_provider_api::Error> {
        Ok(RegistrationKey {
            user,
            account_id: AccountId::new(account_id)?,
            device_token: DeviceToken::parse_any_case(device_token)?,
        })
    }
}

/// What a notifier needs of the type that names users: nothing but identity and order.
pub trait User: Clone + Eq + Ord + Hash + std::fmt::Debug {}

impl<U: Clone + Eq + Ord + Hash + std::fmt::Debug> User for U {}

/// What happened to a registered mailbox (PROV-18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// A new message: delivery, `APPEND`, `COPY` or `MOVE` into it.
    NewMessage,
    /// A flag change (`STORE`).
    Flags,
    /// An expunge (`EXPUNGE`, `UID EXPUNGE`, `MOVE` out of it, `CLOSE`).
    Expunge,
    /// The mailbox was deleted, renamed away from the registered name, or created again under it
    /// (XAPS-18).
    Mailbox,
}

/// One change of one registered mailbox, as the store reports it for a live registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change<U> {
    /// The registration to notify.
    pub registration: RegistrationKey<U>,
    /// The mailbox, spelled as the client registered it (XAPS-13).
    pub mailbox: String,
    /// What happened.
    pub kind: ChangeKind,
    /// How long the registration still lives, measured at the `now` passed with the change
    /// (XAPS-16); bounds the TTL (PROV-22).
    pub expires_in: Duration,
}

/// How the push service answered a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP response with this status; `retry_after` is its `Retry-After` header, if any.
    Status {
        /// The status code.
        status: u16,
        /// `Retry-After`, in seconds or converted from a date by the driver.
        retry_after: Option<Duration>,
    },
    /// No response: connection refused or reset, TLS failure, timeout.
    ConnectionFailed,
}

/// What the notifier tells its driver besides requests.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<U> {
    /// The push service answered 404 or 410: delete every registration of this device token
    /// from the store (PROV-23). The notifier has already forgotten it.
    DeleteDevice {
        /// The device token.
        device_token: DeviceToken,
    },
    /// A request was rejected (400, 401, 413 or another 4xx) and is not retried (PROV-23); its
    /// mailboxes get no push until they change again.
    Rejected {
        /// The request.
        id: RequestId,
        /// Its registration.
        registration: RegistrationKey<U>,
        /// The status.
        status: u16,
    },
    /// Pending changes were dropped because their registration expired before they could be
    /// sent (XAPS-16).
    Expired {
        /// The registration.
        registration: RegistrationKey<U>,
    },
    /// Not one mailbox fits in a payload next to this registration's account ID; its changes
    /// are dropped.
    Unsendable {
        /// The registration.
        registration: RegistrationKey<U>,
    },
}

#[derive(Debug)]
struct Entry {
    /// Mailbox spelling → whether a new message is among its changes (PROV-24).
    pending: BTreeMap<String, bool>,
    first: Option<Instant>,
    last: Instant,
    /// The latest change of the registration, pending or sent: a change less than `quiet`
    /// after it is not isolated.
    latest: Option<Instant>,
    /// When the pending set became leading (a change within the burst allowance): it is due
    /// then.
    leading: Option<Instant>,
    /// Sets made leading since the latest isolated change, that one included: once it reaches
    /// the burst allowance, changes are coalesced.
    eager: u32,
    expires_at: Instant,
    /// Earliest time the next request may go, after a retryable failure.
    not_before: Option<Instant>,
    /// Consecutive retryable failures.
    failures: u32,
    due: Option<Instant>,
}

impl Entry {
    /// A registration with nothing pending, no change yet and no failure.
    fn new(now: Instant, expires_at: Instant) -> Self {
        Entry {
            pending: BTreeMap::new(),
            first: None,
            last: now,
            latest: None,
            leading: None,
            eager: 0,
            expires_at,
            not_before: None,
            failures: 0,
            due: None,
        }
    }
}

#[derive(Debug)]
struct InFlight<U> {
    registration: RegistrationKey<U>,
    mailboxes: Vec<(String, bool)>,
    expires_at: Instant,
}

/// The push notifier of the mail server, without I/O or clock.
///
/// A driver feeds it [`Change`]s of registered mailboxes ([`Notifier::handle_change`]), wakes
/// it at [`Notifier::poll_timeout`] ([`Notifier::handle_timeout`]), sends every
/// [`Notifier::poll_request`] to the push service, reports each answer
/// ([`Notifier::handle_response`]) and carries out every [`Notifier::poll_event`].
#[derive(Debug)]
pub struct Notifier<U> {
    config: Config,
    entries: HashMap<RegistrationKey<U>, Entry>,
    timers: BTreeSet<(Instant, RegistrationKey<U>)>,
    in_flight: HashMap<RequestId, InFlight<U>>,
    requests: VecDeque<PushRequest<U>>,
    events: VecDeque<Event<U>>,
    next_id: u64,
}

/// Longest TTL sent (PROV-22: at most 30 days).
pub const MAX_TTL: Duration = Duration::from_secs(Ttl::THIRTY_DAYS.secs() as u64);

impl<U: User> Notifier<U> {
    /// A notifier with `config`, checked first.
    pub fn new(config: Config) -> Result<Self, Error> {
        config.validate()?;
        Ok(Self {
            config,
            entries: HashMap::new(),
            timers: BTreeSet::new(),
            in_flight: HashMap::new(),
            requests: VecDeque::new(),
            events: VecDeque::new(),
            next_id: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Records a change of a registered mailbox at `now`.
    ///
    /// A change within the burst allowance makes its registration's set due at `now` (PROV-19's
    /// leading send): after the changes of one instant, call [`Notifier::handle_timeout`] with
    /// the same `now` so that it goes without waiting for a timer.
    pub fn handle_change(&mut self, now: Instant, change: Change<U>) {
        let expires_at = now
            .checked_add(change.expires_in)
            .or_else(|| now.checked_add(MAX_TTL))
            .unwrap_or(now);
        let quiet = self.config.quiet;
        let burst = self.config.burst;
        let entry = self
            .entries
            .entry(change.registration.clone())
            .or_insert_with(|| Entry::new(now, expires_at));
        entry.expires_at = expires_at;
        let new_message = change.kind == ChangeKind::NewMessage;
        //= spec/provider-api.md#PROV-19
        //# A change at
        //# time `t` is *isolated* when the registration had no change before, or its `latest` is at least
        //# `quiet` before `t`
        let isolated = entry
            .latest
            .is_none_or(|latest| now.saturating_duration_since(latest) >= quiet);
        //= spec/provider-api.md#PROV-19
        //# A change adds its mailbox to the set (once) and updates `first` (if the set
        //# was empty), `last` and `latest`.
        *entry.pending.entry(change.mailbox).or_insert(false) |= new_message;
        if entry.first.is_none() {
            entry.first = Some(now);
        }
        entry.last = now;
        entry.latest = Some(entry.latest.map_or(now, |latest| latest.max(now)));
        //= spec/provider-api.md#PROV-19
        //# an isolated change sets `eager` to zero.
        if isolated {
            entry.eager = 0;
        }
        //= spec/provider-api.md#PROV-19
        //# A change makes the set *leading* when the set is not leading yet and `eager` is
        //# below `burst`, and then adds one to `eager`
        if entry.leading.is_none() && entry.eager < burst {
            entry.leading = Some(now);
            entry.eager += 1;
        }
        self.reschedule(now, &change.registration);
    }

    /// When [`Notifier::handle_timeout`] must be called next, if anything is pending.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(at, _)| *at)
    }

    /// Sends every pending set that is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, key)) = self.timers.first().cloned() {
            if at > now {
                break;
            }
            self.timers.remove(&(at, key.clone()));
            if let Some(entry) = self.entries.get_mut(&key) {
                entry.due = None;
            }
            self.flush(now, &key);
            self.reschedule(now, &key);
            self.forget_if_idle(&key);
        }
    }

    /// The next request to send. Every request must be answered with
    /// [`Notifier::handle_response`], with [`Outcome::ConnectionFailed`] when the driver gives
    /// up on it (for example after its own timeout), so that its mailboxes are not forgotten.
    pub fn poll_request(&mut self) -> Option<PushRequest<U>> {
        self.requests.pop_front()
    }

    /// The next thing the driver must do besides sending requests.
    pub fn poll_event(&mut self) -> Option<Event<U>> {
        self.events.pop_front()
    }

    /// Number of registrations with pending changes or a retry scheduled.
    pub fn pending_registrations(&self) -> usize {
        self.entries.len()
    }

    /// Records the push service's answer to request `id` at `now`. Answers to requests the
    /// notifier no longer tracks (their device was deleted meanwhile) are ignored.
    pub fn handle_response(&mut self, now: Instant, id: RequestId, outcome: Outcome) {
        let Some(flight) = self.in_flight.remove(&id) else {
            return;
        };
        let (mut status, mut retry_after) = match outcome {
            Outcome::Status {
                status,
                retry_after,
            } => (Some(status), retry_after),
            Outcome::ConnectionFailed => (None, None),
        };
        if mailpush_mutants::active(mailpush_mutants::Mutant::GoneKeepsRegistration)
            && matches!(status, Some(404 | 410))
        {
            status = Some(201);
        }
        if mailpush_mutants::active(mailpush_mutants::Mutant::RetryAfterIgnored) {
            retry_after = None;
        }
        match status {
            Some(200..=299) => {
                // The backoff restarts from its first step; a retry already scheduled because
                // another request failed keeps its time (and its Retry-After).
                if let Some(entry) = self.entries.get_mut(&flight.registration) {
                    entry.failures = 0;
                }
                self.forget_if_idle(&flight.registration);
            }
            //= spec/provider-api.md#PROV-23
            //# On `404` or `410` it MUST delete every registration of that device token.
            Some(404 | 410) => {
                let device_token = flight.registration.device_token.clone();
                self.drop_device(&device_token);
            }
            //= spec/provider-api.md#PROV-23
            //# On `429`, `500`, `503` or a connection failure, the mail server SHOULD retry with
            //# exponential backoff (honouring `Retry-After`), merging the failed set into the pending set.
            None | Some(429 | 500..=599) => self.retry(now, flight, retry_after),
            //= spec/provider-api.md#PROV-23
            //# On `400`, `401` or `413`
            //# it MUST NOT retry the same request unchanged.
            Some(status) => {
                self.events.push_back(Event::Rejected {
                    id,
                    registration: flight.registration.clone(),
                    status,
                });
                self.forget_if_idle(&flight.registration);
            }
        }
    }

    fn retry(&mut self, now: Instant, flight: InFlight<U>, retry_after: Option<Duration>) {
        let config = &self.config;
        let entry = self
            .entries
            .entry(flight.registration.clone())
            .or_insert_with(|| Entry::new(now, flight.expires_at));
        entry.failures = entry.failures.saturating_add(1);
        let exponent = entry.failures.saturating_sub(1).min(20);
        let backoff = config
            .backoff_initial
            .saturating_mul(1u32 << exponent)
            .min(config.backoff_max);
        //= spec/provider-api.md#PROV-37
        //# When the push service answers a push request `429` or `503` with a
        //# `Retry-After` header, the mail server MUST NOT send another push request for that registration
        //# before the time it names has passed
        let wait = match retry_after {
            Some(asked) => backoff.max(asked.min(config.max_retry_after)),
            None => backoff,
        };
        entry.not_before = Some(now + wait);
        for (mailbox, new_message) in flight.mailboxes {
            *entry.pending.entry(mailbox).or_insert(false) |= new_message;
        }
        if entry.first.is_none() {
            entry.first = Some(now);
            entry.last = now;
        }
        self.reschedule(now, &flight.registration);
    }

    fn drop_device(&mut self, device_token: &DeviceToken) {
        let keys: Vec<RegistrationKey<U>> = self
            .entries
            .keys()
            .filter(|k| k.device_token == *device_token)
            .cloned()
            .collect();
        for key in keys {
            if let Some(due) = self.entries.remove(&key).and_then(|entry| entry.due) {
                self.timers.remove(&(due, key));
            }
        }
        self.in_flight
            .retain(|_, f| f.registration.device_token != *device_token);
        self.requests
            .retain(|r| r.registration.device_token != *device_token);
        self.events.push_back(Event::DeleteDevice {
            device_token: device_token.clone(),
        });
    }

    /// Forgets a registration with nothing pending and no backoff to remember.
    fn forget_if_idle(&mut self, key: &RegistrationKey<U>) {
        let idle = self
            .entries
            .get(key)
            .is_some_and(|e| e.pending.is_empty() && e.failures == 0 && e.due.is_none());
        if idle {
            self.entries.remove(key);
        }
    }

    /// Recomputes when `key` is due and updates the timer index. With nothing pending, the
    /// registration is remembered until `quiet` after its latest change (a timer with nothing
    /// to send), so that a change before then is not taken for an isolated one.
    fn reschedule(&mut self, now: Instant, key: &RegistrationKey<U>) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        if let Some(old) = entry.due.take() {
            self.timers.remove(&(old, key.clone()));
        }
        let due = match entry.first {
            Some(first) => {
                //= spec/provider-api.md#PROV-19
                //# the mail server MUST
                //# send a leading set at `t`, without waiting for a timer or for further changes
                let debounced = entry.leading.unwrap_or_else(|| {
                    //= spec/provider-api.md#PROV-19
                    //# The mail server MUST
                    //# send a set that is not leading when the current time reaches `last + quiet` or `first +
                    //# max-delay`, whichever is earlier.
                    (entry.last + self.config.quiet).min(first + self.config.max_delay)
                });
                //= spec/provider-api.md#PROV-19
                //# no set goes before the retry's backoff allows.
                entry.not_before.map_or(debounced, |nb| debounced.max(nb))
            }
            None => match entry.latest.map(|latest| latest + self.config.quiet) {
                Some(window_end) if window_end > now => window_end,
                _ => return,
            },
        };
        entry.due = Some(due);
        self.timers.insert((due, key.clone()));
    }

    fn flush(&mut self, now: Instant, key: &RegistrationKey<U>) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        let pending = std::mem::take(&mut entry.pending);
        //= spec/provider-api.md#PROV-19
        //# Sending a set empties it.
        entry.first = None;
        entry.leading = None;
        let expires_at = entry.expires_at;
        if pending.is_empty() {
            return;
        }
        //= spec/imap-push.md#XAPS-16
        //# An expired registration
        //# MUST NOT cause any push request
        let Some(remaining) = expires_at
            .checked_duration_since(now)
            .filter(|d| !d.is_zero())
        else {
            self.entries.remove(key);
            self.events.push_back(Event::Expired {
                registration: key.clone(),
            });
            return;
        };
        //= spec/provider-api.md#PROV-22
        //# The mail server MUST send a `TTL`; it SHOULD use the remaining lifetime of the
        //# registration (at most 30 days)
        let ttl = if mailpush_mutants::active(mailpush_mutants::Mutant::PushTtlZero) {
            Ttl::from_duration(Duration::ZERO)
        } else {
            Ttl::from_duration(remaining.min(MAX_TTL))
        };
        //= spec/provider-api.md#PROV-21
        //# The mail server SHOULD send a `Topic` equal to the lowercase hexadecimal MD5
        //# of the account id
        let topic = self
            .config
            .topic_per_account
            .then(|| Topic::for_account(&key.account_id));
        let Some(parts) = split(&key.account_id, &pending, self.config.max_payload) else {
            self.entries.remove(key);
            self.events.push_back(Event::Unsendable {
                registration: key.clone(),
            });
            return;
        };
        for (payload, mailboxes) in parts {
            //= spec/provider-api.md#PROV-24
            //# The mail server SHOULD send `Urgency: normal` for new messages and
            //# `Urgency: low` for flag changes and expunges alone.
            let urgency = if mailboxes.iter().any(|(_, new)| *new) {
                Urgency::Normal
            } else {
                Urgency::Low
            };
            let id = RequestId(self.next_id);
            self.next_id += 1;
            let names = mailboxes.iter().map(|(name, _)| name.clone()).collect();
            self.in_flight.insert(
                id,
                InFlight {
                    registration: key.clone(),
                    mailboxes,
                    expires_at,
                },
            );
            self.requests.push_back(PushRequest {
                id,
                registration: key.clone(),
                mailboxes: names,
                message: PushMessage {
                    ttl,
                    topic: topic.clone(),
                    urgency,
                    payload,
                },
            });
        }
    }
}

/// A mailbox spelling and whether a new message is among its changes.
type Pending = (String, bool);

/// Splits a pending set into payloads of at most `max_payload` octets, each naming every
/// mailbox once, ascending by digest (PROV-20), with the mailboxes each holds. `None` when not
/// even one mailbox fits next to the account id.
fn split(
    account_id: &AccountId,
    pending: &BTreeMap<String, bool>,
    max_payload: usize,
) -> Option<Vec<(Payload, Vec<Pending>)>> {
    let mut hashed: Vec<(MailboxDigest, Pending)> = pending
        .iter()
        .map(|(name, new)| (MailboxDigest::of(name.as_bytes()), (name.clone(), *new)))
        .collect();
    hashed.sort_by_key(|(digest, _)| *digest);
    hashed.dedup_by(|a, b| a.0 == b.0);
    //= spec/provider-api.md#PROV-20
    //# When the payload would exceed 4096 octets, the mail
    //# server MUST split the set over several requests.
    let per_payload = Payload::capacity(account_id, max_payload);
    if per_payload == 0 {
        return None;
    }
    hashed
        .chunks(per_payload)
        .map(|chunk| {
            let payload = Payload::new(account_id.clone(), chunk.iter().map(|(d, _)| *d)).ok()?;
            Some((payload, chunk.iter().map(|(_, m)| m.clone()).collect()))
        })
        .collect()
}
