//! The schedule of a run, derived from its seed alone: the system's shape (devices, ring
//! capacity, TTL cap, topics) and a timeline of changes and faults. Nothing here touches a
//! process or a socket, so the same seed always gives the same schedule.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The monitored mailboxes every device registers (and the server holds from the start).
pub const MAILBOXES: [&str; 2] = ["Notes", "Work"];

/// A component the runner can kill with SIGKILL and start again on the same state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    /// The push notification server (its SQLite ring survives).
    Push,
    /// The mail server (its SQLite mail store and registrations survive).
    Mail,
    /// A device daemon (its SQLite view, tokens and cursor survive).
    Device(usize),
}

/// A change to a monitored mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// A new message.
    Append,
    /// `\Flagged` added to one message.
    Flag,
    /// `\Flagged` removed from one message.
    Unflag,
    /// One message expunged.
    Expunge,
}

/// One thing the runner does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A change made through a device daemon's local API (its DA writes it over IMAP).
    DeviceChange {
        /// The device.
        device: usize,
        /// Index into [`MAILBOXES`].
        mailbox: usize,
        /// What.
        change: Change,
    },
    /// A change made by the runner's own IMAP client, straight on the mail server.
    ServerChange {
        /// Index into [`MAILBOXES`].
        mailbox: usize,
        /// What.
        change: Change,
    },
    /// SIGKILL.
    Kill(Component),
    /// Start again on the state the killed process left.
    Restart(Component),
    /// The proxy closes the device's channel connections (the device reconnects).
    Cut(usize),
    /// The proxy stops forwarding the device's channel, both ways, until `Resume`.
    Stall(usize),
    /// Forwarding goes on.
    Resume(usize),
    /// The device's channel is closed and every reconnection refused until `Online`.
    Offline(usize),
    /// Reconnections are accepted again.
    Online(usize),
}

/// An event at its time, in milliseconds from the start of the fault phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timed {
    /// When.
    pub at_ms: u64,
    /// What.
    pub event: Event,
}

/// Everything a run does, from its seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The seed.
    pub seed: u64,
    /// Device daemons of the one account (2 or 3).
    pub devices: usize,
    /// The push server's ring capacity N (1 to 4: small, so that it overflows).
    pub ring_capacity: usize,
    /// The push server's TTL cap in seconds: 1 (notifications of an offline device expire) or
    /// an hour.
    pub max_ttl_secs: u32,
    /// Whether the mail server sends one `Topic` per account (coalescing) or none (overflow).
    pub topic_per_account: bool,
    /// The timeline, sorted by time; every kill has its restart, every stall its resume and
    /// every offline stretch its end, all within the fault phase.
    pub timeline: Vec<Timed>,
}

impl Plan {
    /// The plan of `seed` for a fault phase of `faults_ms` milliseconds (at least 100).
    pub fn new(seed: u64, faults_ms: u64) -> Plan {
        let faults_ms = faults_ms.max(100);
        let mut rng = StdRng::seed_from_u64(seed);
        let devices = rng.gen_range(2..=3);
        let ring_capacity = rng.gen_range(1..=4);
        let max_ttl_secs = if rng.gen_bool(0.4) { 1 } else { 3600 };
        let topic_per_account = rng.gen_bool(0.5);
        let mut timeline = Vec::new();
        let at = |rng: &mut StdRng, from: u64, to: u64| rng.gen_range(from..to.max(from + 1));

        for _ in 0..rng.gen_range(4..=12) {
            let change = match rng.gen_range(0..10) {
                0..=4 => Change::Append,
                5 | 6 => Change::Flag,
                7 => Change::Unflag,
                _ => Change::Expunge,
            };
            let mailbox = rng.gen_range(0..MAILBOXES.len());
            let event = if rng.gen_bool(0.7) {
                Event::DeviceChange {
                    device: rng.gen_range(0..devices),
                    mailbox,
                    change,
                }
            } else {
                Event::ServerChange { mailbox, change }
            };
            let at_ms = at(&mut rng, 0, faults_ms);
            timeline.push(Timed { at_ms, event });
        }

        // A restart comes 100 to 800 ms after its kill; at most one kill per component, so
        // that a run has few restarts and a set of runs has many.
        let mut components = vec![Component::Push, Component::Mail];
        components.extend((0..devices).map(Component::Device));
        for component in components {
            let p = match component {
                Component::Push => 0.25,
                Component::Mail => 0.2,
                Component::Device(_) => 0.15,
            };
            if rng.gen_bool(p) {
                let down = rng.gen_range(100..=800).min(faults_ms / 2);
                let kill = at(&mut rng, 0, faults_ms - down);
                timeline.push(Timed {
                    at_ms: kill,
                    event: Event::Kill(component),
                });
                timeline.push(Timed {
                    at_ms: kill + down,
                    event: Event::Restart(component),
                });
            }
        }

        for device in 0..devices {
            // A long offline stretch: a third to four fifths of the fault phase.
            if rng.gen_bool(0.4) {
                let length = at(&mut rng, faults_ms / 3, faults_ms * 4 / 5);
                let start = at(&mut rng, 0, faults_ms - length);
                timeline.push(Timed {
                    at_ms: start,
                    event: Event::Offline(device),
                });
                timeline.push(Timed {
                    at_ms: start + length,
                    event: Event::Online(device),
                });
            }
            // At most one stall per device, so that stalls do not overlap.
            let mut stalled = false;
            for _ in 0..rng.gen_range(0..=2) {
                if stalled || rng.gen_bool(0.5) {
                    let at_ms = at(&mut rng, 0, faults_ms);
                    timeline.push(Timed {
                        at_ms,
                        event: Event::Cut(device),
                    });
                } else {
                    stalled = true;
                    let length = rng.gen_range(100..=700).min(faults_ms / 2);
                    let start = at(&mut rng, 0, faults_ms - length);
                    timeline.push(Timed {
                        at_ms: start,
                        event: Event::Stall(device),
                    });
                    timeline.push(Timed {
                        at_ms: start + length,
                        event: Event::Resume(device),
                    });
                }
            }
        }
        // Stable: a restart never comes before its kill, nor a resume before its stall.
        timeline.sort_by_key(|t| t.at_ms);
        Plan {
            seed,
            devices,
            ring_capacity,
            max_ttl_secs,
            topic_per_account,
            timeline,
        }
    }

    /// How many processes this run kills and starts again.
    pub fn restarts(&self) -> usize {
        self.timeline
            .iter()
            .filter(|t| matches!(t.event, Event::Restart(_)))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_one_plan() {
        for seed in 0..50 {
            assert_eq!(Plan::new(seed, 2000), Plan::new(seed, 2000));
        }
        assert_ne!(Plan::new(1, 2000), Plan::new(2, 2000));
    }

    /// Every kind of fault occurs within the first 200 seeds (what the CI test runs), and every
    /// fault is undone inside the fault phase.
    #[test]
    fn two_hundred_seeds_inject_every_fault_and_undo_it() {
        let mut seen = std::collections::BTreeSet::new();
        let mut restarts = 0;
        for seed in 1..=200 {
            let plan = Plan::new(seed, 2000);
            restarts += plan.restarts();
            let mut down = std::collections::BTreeMap::new();
            for t in &plan.timeline {
                assert!(t.at_ms <= 2000, "{seed}: {t:?}");
                let (kind, key, open) = match t.event {
                    Event::Kill(c) => ("kill", format!("{c:?}"), Some(true)),
                    Event::Restart(c) => ("restart", format!("{c:?}"), Some(false)),
                    Event::Stall(d) => ("stall", format!("s{d}"), Some(true)),
                    Event::Resume(d) => ("resume", format!("s{d}"), Some(false)),
                    Event::Offline(d) => ("offline", format!("o{d}"), Some(true)),
                    Event::Online(d) => ("online", format!("o{d}"), Some(false)),
                    Event::Cut(_) => ("cut", String::new(), None),
                    Event::DeviceChange { .. } => ("device change", String::new(), None),
                    Event::ServerChange { .. } => ("server change", String::new(), None),
                };
                match t.event {
                    Event::Kill(Component::Push) => seen.insert("kill push"),
                    Event::Kill(Component::Mail) => seen.insert("kill mail"),
                    Event::Kill(Component::Device(_)) => seen.insert("kill device"),
                    _ => seen.insert(kind),
                };
                if let Some(open) = open {
                    assert_ne!(down.insert(key, open), Some(open), "{seed}: {t:?}");
                }
            }
            assert!(down.values().all(|open| !open), "{seed}: {down:?}");
            if plan.max_ttl_secs == 1 {
                seen.insert("short ttl");
            }
            seen.insert(if plan.topic_per_account {
                "topic"
            } else {
                "no topic"
            });
        }
        for kind in [
            "kill push",
            "kill mail",
            "kill device",
            "restart",
            "stall",
            "resume",
            "offline",
            "online",
            "cut",
            "device change",
            "server change",
            "short ttl",
            "topic",
            "no topic",
        ] {
            assert!(seen.contains(kind), "{kind} never happens");
        }
        // Few restarts per run, many across the set.
        assert!((50..=250).contains(&restarts), "{restarts} restarts");
    }
}
