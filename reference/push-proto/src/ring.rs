//! The per-device offline ring (spec/device-channel.md, section 9): a sans-IO data structure.
//! Every mutation reports what it inserted and removed, so a store can persist exactly that.

use std::collections::VecDeque;

use mailpush_mutants::{Mutant, active};

use crate::Timestamp;
use crate::frame::{NotificationId, Payload, Window};

/// A `Topic` (RFC 8030, PROV-5): the provider API's type, which the ring keeps per notification.
pub use mailpush_provider_api::Topic;

/// A held notification.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Held {
    /// Its id.
    pub id: NotificationId,
    /// When it expires; `None` for a marker, which never does.
    pub expires_at: Option<Timestamp>,
    /// Its topic, if any.
    pub topic: Option<Topic>,
    /// Its payload.
    pub payload: Payload,
}

/// The persistent scalars of a ring.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct RingMeta {
    /// Highest id ever assigned; 0 if none.
    pub last_id: u64,
    /// Highest id acknowledged; 0 if none.
    pub cursor: u64,
    /// Something was held, dropped, expired or replaced while the device was away.
    pub mark: bool,
    /// Notifications dropped because the ring was full.
    pub dropped: u64,
    /// Notifications that expired before acknowledgement.
    pub expired: u64,
    /// Notifications replaced by a newer one with the same topic.
    pub replaced: u64,
}

/// Why a notification left the ring other than by acknowledgement.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Removal {
    /// Acknowledged by the device.
    Acked,
    /// Dropped as the oldest of a full ring.
    Dropped,
    /// Its TTL passed.
    Expired,
    /// A newer notification with its topic replaced it.
    Replaced,
}

/// What a ring operation changed, for the store.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct RingEffects {
    /// Notifications added.
    pub inserted: Vec<Held>,
    /// Notifications removed, and why.
    pub removed: Vec<(NotificationId, Removal)>,
}

impl RingEffects {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.inserted.is_empty() && self.removed.is_empty()
    }

    fn merge(&mut self, other: RingEffects) {
        self.inserted.extend(other.inserted);
        self.removed.extend(other.removed);
    }

    /// How many removals had this reason.
    pub fn count(&self, reason: Removal) -> usize {
        self.removed
            .iter()
            .filter(|(_, why)| *why == reason)
            .count()
    }
}

/// The result of accepting a notification.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Accepted {
    /// The id assigned to it.
    pub id: NotificationId,
    /// True when it expired at once (TTL 0 with nowhere to send it).
    pub expired_at_once: bool,
    /// Everything the acceptance changed.
    pub effects: RingEffects,
}

/// A notification to send now.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Outgoing {
    /// Its id.
    pub id: NotificationId,
    /// The `retained` flag to send with it.
    pub retained: bool,
    /// Its payload.
    pub payload: Payload,
}

/// Ring operations a peer can get wrong.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RingError {
    /// The cursor of a `hello` is above every id ever assigned.
    #[error("cursor {cursor} is above the last assigned id {last_id}")]
    BadCursor {
        /// The cursor received.
        cursor: u64,
        /// The highest id assigned.
        last_id: u64,
    },
    /// An `ack` of an id never sent on the session.
    #[error("ack of {id} but only up to {sent_upto} was sent")]
    BadAck {
        /// The id acknowledged.
        id: u64,
        /// The highest id sent on the session.
        sent_upto: u64,
    },
    /// An `ack` with no session.
    #[error("ack without a session")]
    NoSession,
    /// All 2^64-1 ids were used.
    #[error("notification ids exhausted")]
    IdsExhausted,
}

#[derive(Clone, Debug)]
struct Session {
    window: u16,
    /// Highest id sent on this session; everything held at or below it is in flight.
    sent_upto: u64,
    /// Ids sent on this session and not yet acknowledged, in increasing order: the window
    /// counts these, including any the ring dropped since they were sent (CHAN-30).
    unacked: VecDeque<u64>,
    /// Id of the first `retained` notify sent since the last mark event.
    mark_carrier: Option<u64>,
}

/// One device's ring.
#[derive(Clone, Debug)]
pub struct DeviceRing {
    capacity: usize,
    held: VecDeque<Held>,
    meta: RingMeta,
    session: Option<Session>,
}

/// `n` as a counter increment; a `usize` always fits, saturating keeps it total.
fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Grace given to a TTL-0 notification that was accepted because it could be sent at once, so
/// that the driver's send a moment later does not find it expired.
const TTL_ZERO_GRACE_MS: u64 = 1000;

impl DeviceRing {
    /// An empty ring holding at most `capacity` notifications (at least 1).
    //= spec/device-channel.md#RING-1
    //# The server MUST keep, per device, every held notification in a ring of capacity N.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            held: VecDeque::new(),
            meta: RingMeta::default(),
            session: None,
        }
    }

    /// Rebuilds a ring from its stored form. If the capacity shrank since, the oldest are
    /// dropped; the returned effects say which, for the store. A stored form whose last
    /// assigned id is below a held id or the cursor (a damaged store) is read with the last id
    /// raised to the highest of them, so that no id is ever assigned twice (CHAN-15).
    pub fn restore(
        capacity: usize,
        mut meta: RingMeta,
        mut held: Vec<Held>,
    ) -> (Self, RingEffects) {
        held.sort_by_key(|h| h.id);
        held.dedup_by_key(|h| h.id);
        held.retain(|h| h.id.get() > meta.cursor);
        let highest_held = held.last().map_or(0, |h| h.id.get());
        meta.last_id = meta.last_id.max(meta.cursor).max(highest_held);
        let mut ring = Self {
            capacity: capacity.max(1),
            held: held.into(),
            meta,
            session: None,
        };
        let mut effects = RingEffects::default();
        ring.enforce_capacity(&mut effects);
        (ring, effects)
    }

    /// The persistent scalars.
    pub fn meta(&self) -> RingMeta {
        self.meta
    }

    /// The held notifications, oldest first.
    pub fn held(&self) -> impl Iterator<Item = &Held> {
        self.held.iter()
    }

    /// Number of held notifications.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// True while a session is established.
    pub fn online(&self) -> bool {
        self.session.is_some()
    }

    /// Number of notifications in flight on the session: sent on it and not acknowledged,
    /// whether or not the ring still holds them.
    //= spec/device-channel.md#CHAN-30
    //# A notification counts against the window of [CHAN-17](#CHAN-17) from the moment its
    //# `notify` is sent until the server receives, on the same session, an `ack` at or above its
    //# id, even if it is dropped from the ring meanwhile ([RING-2](#RING-2)).
    pub fn in_flight(&self) -> usize {
        self.session.as_ref().map_or(0, |s| s.unacked.len())
    }

    fn is_in_flight(&self, id: NotificationId) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| id.get() <= s.sent_upto)
    }

    fn set_mark(&mut self) {
        self.meta.mark = true;
        if let Some(session) = &mut self.session {
            session.mark_carrier = None;
        }
    }

    fn next_id(&mut self) -> Result<NotificationId, RingError> {
        //= spec/device-channel.md#CHAN-15
        //# ids are strictly increasing per device, start at 1, and are never reused for that device
        let next = self
            .meta
            .last_id
            .checked_add(1)
            .ok_or(RingError::IdsExhausted)?;
        let id = NotificationId::new(next).ok_or(RingError::IdsExhausted)?;
        self.meta.last_id = next;
        Ok(id)
    }

    fn can_send_at_once(&self) -> bool {
        match &self.session {
            Some(session) => {
                let nothing_unsent = self.held.iter().all(|h| h.id.get() <= session.sent_upto);
                nothing_unsent && session.unacked.len() < usize::from(session.window)
            }
            None => false,
        }
    }

    /// Accepts a notification for the device: it gets the next id; then a TTL-0 notification
    /// that cannot be sent at once expires (and nothing else changes but the mark); otherwise
    /// same-topic notifications are replaced, the new one is appended, and only then is the
    /// oldest dropped if the ring holds more than its capacity.
    //= spec/device-channel.md#RING-14
    //# it assigns the notification the next id of the device ([CHAN-15](#CHAN-15)); then, if the
    //# notification expires at once ([RING-3](#RING-3)), it sets the mark and does nothing else:
    //# it replaces nothing and drops nothing
    pub fn accept(
        &mut self,
        now: Timestamp,
        ttl_secs: u32,
        topic: Option<Topic>,
        payload: Payload,
    ) -> Result<Accepted, RingError> {
        let id = self.next_id()?;
        let mut effects = RingEffects::default();
        //= spec/device-channel.md#RING-3
        //# A notification with a `TTL`
        //# of 0 is sent only if it can be sent at once on an established session with room in its window;
        //# otherwise it expires at once.
        if ttl_secs == 0 && !self.can_send_at_once() {
            self.meta.expired = self.meta.expired.saturating_add(1);
            self.set_mark();
            return Ok(Accepted {
                id,
                expired_at_once: true,
                effects,
            });
        }
        //= spec/device-channel.md#RING-4
        //# When the server accepts a notification with a topic, it MUST remove every
        //# held notification of the same device with the same topic that is not in flight.
        if let Some(topic) = topic.as_ref().filter(|_| !active(Mutant::TopicIgnored)) {
            let replaced: Vec<NotificationId> = self
                .held
                .iter()
                .filter(|h| h.topic.as_ref() == Some(topic) && !self.is_in_flight(h.id))
                .map(|h| h.id)
                .collect();
            if !replaced.is_empty() {
                self.held.retain(|h| !replaced.contains(&h.id));
                self.meta.replaced = self.meta.replaced.saturating_add(count(replaced.len()));
                //= spec/device-channel.md#RING-5
                //# or (d) a notification is replaced ([RING-4](#RING-4)).
                self.set_mark();
                effects
                    .removed
                    .extend(replaced.into_iter().map(|id| (id, Removal::Replaced)));
            }
        }
        //= spec/device-channel.md#RING-5
        //# The server MUST set the device's mark when (a) it accepts a notification while the
        //# device has no established session
        if self.session.is_none() {
            self.set_mark();
        }
        let ttl_ms = if ttl_secs == 0 {
            TTL_ZERO_GRACE_MS
        } else {
            u64::from(ttl_secs) * 1000
        };
        let held = Held {
            id,
            expires_at: Some(Timestamp(now.0.saturating_add(ttl_ms))),
            topic,
            payload,
        };
        self.held.push_back(held.clone());
        effects.inserted.push(held);
        //= spec/device-channel.md#RING-14
        //# Only then does it drop the oldest held notifications while the ring holds more than
        //# N ([RING-2](#RING-2)), so a replacement that makes room means nothing is dropped.
        self.enforce_capacity(&mut effects);
        Ok(Accepted {
            id,
            expired_at_once: false,
            effects,
        })
    }

    //= spec/device-channel.md#RING-2
    //# When accepting a notification would make the ring hold more than N, the server
    //# MUST drop the held notification with the lowest id (in flight or not) and accept the new one.
    fn enforce_capacity(&mut self, effects: &mut RingEffects) {
        while self.held.len() > self.capacity {
            let victim = if active(Mutant::RingDropsNewest) {
                self.held.pop_back()
            } else {
                self.held.pop_front()
            };
            let Some(oldest) = victim else {
                break;
            };
            self.meta.dropped = self.meta.dropped.saturating_add(1);
            self.set_mark();
            effects.removed.push((oldest.id, Removal::Dropped));
        }
    }

    /// Removes every held notification that expired by `now` and is not in flight.
    pub fn expire(&mut self, now: Timestamp) -> RingEffects {
        let mut effects = RingEffects::default();
        if active(Mutant::TtlIgnored) {
            return effects;
        }
        let expired: Vec<NotificationId> = self
            .held
            .iter()
            .filter(|h| h.expires_at.is_some_and(|at| now >= at) && !self.is_in_flight(h.id))
            .map(|h| h.id)
            .collect();
        if !expired.is_empty() {
            self.held.retain(|h| !expired.contains(&h.id));
            self.meta.expired = self.meta.expired.saturating_add(count(expired.len()));
            //= spec/device-channel.md#RING-5
            //# (c) a notification expires before being acknowledged
            self.set_mark();
            effects
                .removed
                .extend(expired.into_iter().map(|id| (id, Removal::Expired)));
        }
        effects
    }

    /// The earliest time a held notification that is not in flight expires.
    pub fn next_expiry(&self) -> Option<Timestamp> {
        self.held
            .iter()
            .filter(|h| !self.is_in_flight(h.id))
            .filter_map(|h| h.expires_at)
            .min()
    }

    /// A session was established with the device's cursor. Acknowledges everything at or below
    /// the cursor.
    pub fn open_session(&mut self, cursor: u64, window: Window) -> Result<RingEffects, RingError> {
        //= spec/device-channel.md#CHAN-12
        //# A `hello` whose cursor is greater than the highest id ever
        //# assigned to the device MUST be answered with `ERROR` code `bad-cursor` and a close; the server
        //# MUST NOT delete anything because of it.
        if cursor > self.meta.last_id {
            return Err(RingError::BadCursor {
                cursor,
                last_id: self.meta.last_id,
            });
        }
        let effects = if active(Mutant::ResumeCursorIgnored) {
            RingEffects::default()
        } else {
            self.remove_acked(cursor)
        };
        self.session = Some(Session {
            window: window.get(),
            sent_upto: self.meta.cursor,
            unacked: VecDeque::new(),
            mark_carrier: None,
        });
        Ok(effects)
    }

    /// The session ended; whatever was in flight will be sent again on the next one.
    //= spec/device-channel.md#CHAN-18
    //# a notification that was in flight when
    //# a session ended MUST be sent again on the device's next session.
    pub fn close_session(&mut self) {
        self.session = None;
    }

    //= spec/device-channel.md#CHAN-7
    //# the server
    //# MUST treat it as an acknowledgement of every held notification with an id at or below it
    fn remove_acked(&mut self, upto: u64) -> RingEffects {
        let mut effects = RingEffects::default();
        if upto <= self.meta.cursor {
            return effects;
        }
        while self.held.front().is_some_and(|h| h.id.get() <= upto) {
            if let Some(h) = self.held.pop_front() {
                effects.removed.push((h.id, Removal::Acked));
            }
        }
        self.meta.cursor = upto;
        effects
    }

    /// The device acknowledged every id at or below `id`.
    pub fn ack(&mut self, id: NotificationId) -> Result<RingEffects, RingError> {
        let Some(session) = &mut self.session else {
            return Err(RingError::NoSession);
        };
        //= spec/device-channel.md#CHAN-14
        //# An `ack` whose id is higher than the highest id sent on the session MUST be
        //# answered with `ERROR` code `bad-ack` and a close.
        if id.get() > session.sent_upto {
            return Err(RingError::BadAck {
                id: id.get(),
                sent_upto: session.sent_upto,
            });
        }
        //= spec/device-channel.md#CHAN-14
        //# An `ack` at or below the current cursor is a
        //# duplicate and MUST be ignored.
        if id.get() <= self.meta.cursor {
            return Ok(RingEffects::default());
        }
        if active(Mutant::AckNotCumulative) {
            session.unacked.retain(|&sent| sent != id.get());
            let mut effects = RingEffects::default();
            if let Some(at) = self.held.iter().position(|h| h.id == id) {
                self.held.remove(at);
                effects.removed.push((id, Removal::Acked));
            }
            return Ok(effects);
        }
        while session
            .unacked
            .front()
            .is_some_and(|&sent| sent <= id.get())
        {
            session.unacked.pop_front();
        }
        let effects = self.remove_acked(id.get());
        //= spec/device-channel.md#RING-6
        //# The server MUST clear the mark only when the device acknowledges a `notify` that
        //# carried `retained` and no event of [RING-5](#RING-5) happened after that `notify` was sent.
        if let Some(session) = &mut self.session
            && session
                .mark_carrier
                .is_some_and(|carrier| carrier <= id.get())
        {
            self.meta.mark = false;
            session.mark_carrier = None;
        }
        Ok(effects)
    }

    /// The next notification to send on the session, if the window has room. Expires what is
    /// due first, and creates a marker when the mark is set and nothing else would carry it.
    pub fn poll_send(&mut self, now: Timestamp) -> (Option<Outgoing>, RingEffects) {
        self.poll_send_upto(now, u64::MAX)
    }

    /// [`DeviceRing::poll_send`], but a notification accepted with an id above `durable_upto`
    /// is not sent yet: a server that applies a change to the ring before the store has made
    /// it durable sends only what the store holds. A marker this call creates is sent, because
    /// its insertion is among the returned effects, which the caller persists before sending.
    pub fn poll_send_upto(
        &mut self,
        now: Timestamp,
        durable_upto: u64,
    ) -> (Option<Outgoing>, RingEffects) {
        let mut effects = RingEffects::default();
        let Some(session) = &self.session else {
            return (None, effects);
        };
        if session.unacked.len() >= usize::from(session.window) {
            return (None, effects);
        }
        let sent_upto = session.sent_upto;
        //= spec/device-channel.md#RING-3
        //# The server MUST NOT send an expired notification and MUST
        //# remove it from the ring no later than when it would otherwise be sent.
        effects.merge(self.expire(now));
        let carrier_pending = self
            .session
            .as_ref()
            .is_some_and(|s| s.mark_carrier.is_some());
        let next_unsent = self.held.iter().find(|h| h.id.get() > sent_upto);
        //= spec/device-channel.md#RING-13
        //# The condition of [RING-7](#RING-7) is a state, not the moment a session is
        //# established: the server MUST check it whenever it could send a `notify` on an
        //# established session (its window has room)
        if next_unsent.is_none() && self.meta.mark && !carrier_pending {
            //= spec/device-channel.md#RING-7
            //# When the device's mark is set, a session is established, and the ring
            //# holds nothing to send, the server MUST accept a marker notification for the device: a new id, an
            //# empty payload, no topic, no expiry.
            let Ok(id) = self.next_id() else {
                return (None, effects);
            };
            let marker = Held {
                id,
                expires_at: None,
                topic: None,
                payload: Payload::default(),
            };
            self.held.push_back(marker.clone());
            effects.inserted.push(marker);
            self.enforce_capacity(&mut effects);
        }
        let Some(next) = self.held.iter().find(|h| h.id.get() > sent_upto).cloned() else {
            return (None, effects);
        };
        let created_here = effects.inserted.iter().any(|h| h.id == next.id);
        if next.id.get() > durable_upto && !created_here {
            return (None, effects);
        }
        //= spec/device-channel.md#RING-6
        //# Every `notify` the server sends while the device's mark is set MUST carry the
        //# `retained` flag.
        let retained = self.meta.mark && !active(Mutant::RetainedNeverSet);
        if let Some(session) = &mut self.session {
            session.sent_upto = next.id.get();
            session.unacked.push_back(next.id.get());
            if retained && session.mark_carrier.is_none() {
                session.mark_carrier = Some(next.id.get());
            }
        }
        (
            Some(Outgoing {
                id: next.id,
                retained,
                payload: next.payload,
            }),
            effects,
        )
    }
}
