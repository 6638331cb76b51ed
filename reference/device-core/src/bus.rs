//! The device's local notification bus (`spec/device-local.md` §4), sans-IO.
//!
//! A local notification is a name and nothing else. Observers subscribe to names (or to every
//! name); [`Bus::post`] queues the name for each interested observer, unless it is already
//! pending there, in which case the two are one (coalesced). An observer takes its next name
//! with [`Bus::poll_delivery`] when it is ready for one, so a busy observer accumulates each name
//! at most once. Every post, coalescing and delivery is also reported as a [`BusEvent`] for logs
//! and tests.
//!
//! The bus owns no threads or channels: a driver calls [`Bus::poll_ready`] to learn which
//! observers have something pending and hands them their names.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::fmt;

use crate::Token;

/// Why a string is not a [`Name`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// A name has 1 to 255 octets.
    #[error("a local notification name has 1 to 255 octets, not {0}")]
    Length(usize),
    /// A name is printable US-ASCII without spaces.
    #[error("a local notification name has only printable US-ASCII characters other than space")]
    Characters,
}

/// The name of a local notification: 1 to 255 octets of printable US-ASCII other than space.
/// Every [`Token`] is a name (LOCAL's `token` rule is narrower).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(String);

impl Name {
    /// Checks the length and the characters.
    pub fn new(value: impl Into<String>) -> Result<Self, NameError> {
        let value = value.into();
        if value.is_empty() || value.len() > 255 {
            return Err(NameError::Length(value.len()));
        }
        if !value.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(NameError::Characters);
        }
        Ok(Self(value))
    }

    /// The name's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&Token> for Name {
    fn from(token: &Token) -> Self {
        Self(token.as_str().to_owned())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({})", self.0)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One observer of the bus.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ObserverId(u64);

impl ObserverId {
    /// The number the bus gave the observer (for logs).
    pub fn get(self) -> u64 {
        self.0
    }
}

/// What an observer wants to hear.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Interest {
    /// This one name.
    Name(Name),
    /// Every name.
    All,
}

/// What happened on the bus, for logs and tests.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum BusEvent {
    /// `name` was posted; it is now pending for `queued` and was already pending for
    /// `coalesced`.
    Posted {
        /// The name.
        name: Name,
        /// Observers it was queued for.
        queued: Vec<ObserverId>,
        /// Observers it was already pending for.
        coalesced: Vec<ObserverId>,
    },
    /// `observer` took `name`.
    Delivered {
        /// The observer.
        observer: ObserverId,
        /// The name.
        name: Name,
    },
    /// `observer` already had [`Bus::max_pending`] names pending, so `name` was not queued for
    /// it. Only an observer of [`Interest::All`] can get here: one that subscribes by name has
    /// at most one pending entry per subscription.
    Overflow {
        /// The observer.
        observer: ObserverId,
        /// The name.
        name: Name,
    },
}

#[derive(Debug, Default)]
struct Observer {
    names: BTreeSet<Name>,
    all: bool,
    queue: VecDeque<Name>,
    pending: HashSet<Name>,
}

/// The bus. See the module documentation.
#[derive(Debug)]
pub struct Bus {
    observers: BTreeMap<ObserverId, Observer>,
    next_observer: u64,
    max_pending: usize,
    events: VecDeque<BusEvent>,
}

impl Default for Bus {
    fn default() -> Self {
        Self::new(Self::DEFAULT_MAX_PENDING)
    }
}

impl Bus {
    /// The default bound on names pending for one observer.
    pub const DEFAULT_MAX_PENDING: usize = 100_000;

    /// An empty bus; no observer holds more than `max_pending` names (at least 1).
    pub fn new(max_pending: usize) -> Self {
        Self {
            observers: BTreeMap::new(),
            next_observer: 1,
            max_pending: max_pending.max(1),
            events: VecDeque::new(),
        }
    }

    /// The bound on names pending for one observer.
    pub fn max_pending(&self) -> usize {
        self.max_pending
    }

    /// A new observer, interested in nothing yet.
    pub fn add_observer(&mut self) -> ObserverId {
        let id = ObserverId(self.next_observer);
        self.next_observer += 1;
        self.observers.insert(id, Observer::default());
        id
    }

    /// Removes an observer and whatever was pending for it.
    pub fn remove_observer(&mut self, observer: ObserverId) {
        self.observers.remove(&observer);
    }

    /// Adds an interest; returns false for an unknown observer.
    pub fn subscribe(&mut self, observer: ObserverId, interest: Interest) -> bool {
        let Some(o) = self.observers.get_mut(&observer) else {
            return false;
        };
        match interest {
            Interest::Name(name) => {
                o.names.insert(name);
            }
            Interest::All => o.all = true,
        }
        true
    }

    /// Drops an interest. A name already pending stays pending: it was posted while the
    /// observer was interested.
    pub fn unsubscribe(&mut self, observer: ObserverId, interest: &Interest) {
        if let Some(o) = self.observers.get_mut(&observer) {
            match interest {
                Interest::Name(name) => {
                    o.names.remove(name);
                }
                Interest::All => o.all = false,
            }
        }
    }

    /// Posts a local notification: the name and nothing else.
    //= spec/device-local.md#LOCAL-9
    //# A local notification MUST carry nothing but its name. Posting a
    //# name that is already pending for an observer MAY be coalesced with the pending one
    pub fn post(&mut self, name: &Name) {
        let mut queued = Vec::new();
        let mut coalesced = Vec::new();
        let mut overflow = Vec::new();
        for (id, o) in &mut self.observers {
            if !(o.all || o.names.contains(name)) {
                continue;
            }
            if o.pending.contains(name) {
                coalesced.push(*id);
            } else if o.queue.len() >= self.max_pending {
                overflow.push(*id);
            } else {
                o.pending.insert(name.clone());
                o.queue.push_back(name.clone());
                queued.push(*id);
            }
        }
        self.events.push_back(BusEvent::Posted {
            name: name.clone(),
            queued,
            coalesced,
        });
        for observer in overflow {
            self.events.push_back(BusEvent::Overflow {
                observer,
                name: name.clone(),
            });
        }
    }

    /// The observer is ready for its next name: takes it (oldest first).
    pub fn poll_delivery(&mut self, observer: ObserverId) -> Option<Name> {
        let o = self.observers.get_mut(&observer)?;
        let name = o.queue.pop_front()?;
        o.pending.remove(&name);
        self.events.push_back(BusEvent::Delivered {
            observer,
            name: name.clone(),
        });
        Some(name)
    }

    /// How many names are pending for the observer.
    pub fn pending(&self, observer: ObserverId) -> usize {
        self.observers.get(&observer).map_or(0, |o| o.queue.len())
    }

    /// Observers with at least one pending name, lowest id first.
    pub fn poll_ready(&self) -> impl Iterator<Item = ObserverId> + '_ {
        self.observers
            .iter()
            .filter(|(_, o)| !o.queue.is_empty())
            .map(|(id, _)| *id)
    }

    /// The next thing that happened, for logs and tests.
    pub fn poll_event(&mut self) -> Option<BusEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::new(s).unwrap()
    }

    fn drain(bus: &mut Bus, observer: ObserverId) -> Vec<String> {
        std::iter::from_fn(|| bus.poll_delivery(observer))
            .map(|n| n.as_str().to_owned())
            .collect()
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(Name::new(""), Err(NameError::Length(0)));
        assert_eq!(Name::new("a b"), Err(NameError::Characters));
        assert_eq!(Name::new("x".repeat(256)), Err(NameError::Length(256)));
        let token = Token::new("abcdefghijklmnop").unwrap();
        assert_eq!(Name::from(&token).as_str(), "abcdefghijklmnop");
    }

    #[test]
    fn observers_hear_only_what_they_subscribed_to() {
        let mut bus = Bus::default();
        let one = bus.add_observer();
        let every = bus.add_observer();
        bus.subscribe(one, Interest::Name(name("a")));
        bus.subscribe(every, Interest::All);
        bus.post(&name("a"));
        bus.post(&name("b"));
        assert_eq!(drain(&mut bus, one), ["a"]);
        assert_eq!(drain(&mut bus, every), ["a", "b"]);
        bus.unsubscribe(one, &Interest::Name(name("a")));
        bus.post(&name("a"));
        assert_eq!(bus.pending(one), 0);
        assert!(!bus.subscribe(ObserverId(99), Interest::All));
    }

    //= spec/device-local.md#LOCAL-9
    //= type=test
    //# Posting a
    //# name that is already pending for an observer MAY be coalesced with the pending one
    #[test]
    fn a_pending_name_is_coalesced_and_a_delivered_one_is_not() {
        let mut bus = Bus::default();
        let da = bus.add_observer();
        bus.subscribe(da, Interest::Name(name("a")));
        bus.subscribe(da, Interest::Name(name("b")));
        bus.post(&name("a"));
        bus.post(&name("b"));
        bus.post(&name("a"));
        assert_eq!(bus.pending(da), 2);
        assert_eq!(bus.poll_delivery(da), Some(name("a")));
        // Delivered: a new post is a new notification.
        bus.post(&name("a"));
        assert_eq!(drain(&mut bus, da), ["b", "a"]);
        let events: Vec<BusEvent> = std::iter::from_fn(|| bus.poll_event()).collect();
        assert_eq!(
            events[2],
            BusEvent::Posted {
                name: name("a"),
                queued: vec![],
                coalesced: vec![da],
            }
        );
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, BusEvent::Delivered { .. }))
                .count(),
            3
        );
    }

    #[test]
    fn a_broad_observer_is_bounded() {
        let mut bus = Bus::new(2);
        let log = bus.add_observer();
        bus.subscribe(log, Interest::All);
        for n in ["a", "b", "c"] {
            bus.post(&name(n));
        }
        assert_eq!(bus.pending(log), 2);
        let overflow = std::iter::from_fn(|| bus.poll_event())
            .find(|e| matches!(e, BusEvent::Overflow { .. }));
        assert_eq!(
            overflow,
            Some(BusEvent::Overflow {
                observer: log,
                name: name("c")
            })
        );
        assert_eq!(bus.poll_ready().collect::<Vec<_>>(), [log]);
        bus.remove_observer(log);
        assert_eq!(bus.poll_ready().count(), 0);
    }
}
