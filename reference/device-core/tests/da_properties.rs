#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! quickcheck: random server changes interleaved with syncs cut off at random points, changes
//! made during syncs, and kill -9 restarts; after the next complete sync the device's view
//! equals the server's mailbox, for each method.

mod da_support;

use da_support::{Cut, Offer, ServerChange, World, note};
use mailpush_device_core::da::Method;
use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};

const FLAGS: [&str; 4] = ["\\Seen", "\\Flagged", "\\Answered", "$Note"];

#[derive(Clone, Debug)]
enum Change {
    Append { flags: u8 },
    Flags { pick: u8, flags: u8 },
    Expunge { pick: u8 },
    Reset,
}

#[derive(Clone, Debug)]
enum Op {
    Server(Change),
    /// A sync, perhaps cut after some octets or responses, perhaps with a change made by
    /// another client after some of the device's flights.
    Sync {
        cut: Option<Cut>,
        during: Option<(u8, Change)>,
    },
    /// kill -9 of the device and a start.
    Restart,
}

impl Arbitrary for Change {
    fn arbitrary(g: &mut Gen) -> Self {
        match u8::arbitrary(g) % 10 {
            0..=3 => Change::Append {
                flags: u8::arbitrary(g),
            },
            4..=6 => Change::Flags {
                pick: u8::arbitrary(g),
                flags: u8::arbitrary(g),
            },
            7..=8 => Change::Expunge {
                pick: u8::arbitrary(g),
            },
            _ => Change::Reset,
        }
    }
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Self {
        match u8::arbitrary(g) % 10 {
            0..=4 => Op::Server(Change::arbitrary(g)),
            5..=8 => {
                let cut = match u8::arbitrary(g) % 3 {
                    0 => None,
                    1 => Some(Cut::Octets(usize::from(u16::arbitrary(g) % 1500))),
                    _ => Some(Cut::Responses(usize::from(u8::arbitrary(g) % 30))),
                };
                let during =
                    bool::arbitrary(g).then(|| (1 + u8::arbitrary(g) % 3, Change::arbitrary(g)));
                Op::Sync { cut, during }
            }
            _ => Op::Restart,
        }
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        match self {
            Op::Sync { cut, during } if cut.is_some() || during.is_some() => {
                let mut v = vec![Op::Sync {
                    cut: None,
                    during: during.clone(),
                }];
                if during.is_some() {
                    v.push(Op::Sync {
                        cut: *cut,
                        during: None,
                    });
                }
                Box::new(v.into_iter())
            }
            _ => Box::new(std::iter::empty()),
        }
    }
}

fn flag_list(bits: u8) -> Vec<&'static str> {
    FLAGS
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, f)| *f)
        .collect()
}

/// The change as the server makes it now, or `None` when it names no message.
fn resolve(w: &World, change: &Change, serial: &mut u32) -> Option<ServerChange> {
    let uids = w.server.uids("Notes");
    let pick = |p: u8| (!uids.is_empty()).then(|| uids[usize::from(p) % uids.len()]);
    Some(match change {
        Change::Append { flags } => {
            *serial += 1;
            ServerChange::Append("Notes".into(), note(*serial), flag_list(*flags))
        }
        Change::Flags { pick: p, flags } => {
            ServerChange::SetFlags("Notes".into(), pick(*p)?, flag_list(*flags))
        }
        Change::Expunge { pick: p } => ServerChange::Expunge("Notes".into(), pick(*p)?),
        Change::Reset => ServerChange::Reset("Notes".into()),
    })
}

fn converges(offer: Offer, known_uids_only: bool, ops: Vec<Op>) -> TestResult {
    let mut w = World::new(offer, &["INBOX", "Notes"], &["Notes"]);
    w.known_uids_only = known_uids_only;
    let mut serial = 0;
    for i in 0..3 {
        w.server.append("Notes", &note(1000 + i), &["\\Seen"]);
    }
    w.start();
    for op in &ops {
        match op {
            Op::Server(c) => {
                if let Some(c) = resolve(&w, c, &mut serial) {
                    w.change(c);
                }
            }
            Op::Sync { cut, during } => {
                if let Some(cut) = cut {
                    w.cut_next_sync(*cut);
                }
                if let Some((after, c)) = during
                    && let Some(c) = resolve(&w, c, &mut serial)
                {
                    w.change_during_sync(u32::from(*after), c);
                }
                w.attempt("Notes");
                w.disarm();
            }
            Op::Restart => {
                w.restart();
                w.pump();
            }
        }
    }
    let last = w.sync("Notes");
    w.assert_converged("Notes");
    w.assert_read_only();
    //= spec/sync.md#SYNC-8
    //= type=test
    //# Counting as defined above, a sync MUST NOT take more than
    for c in &w.completed {
        let budget = match c.report.method {
            Method::QResync => 2,
            _ => 3,
        };
        assert!(c.report.round_trips <= budget, "{c:?}");
        assert_eq!(c.flights, c.report.round_trips, "{c:?}");
    }
    assert_eq!(last.report.method, offer.method());
    TestResult::passed()
}

fn qresync(ops: Vec<Op>) -> TestResult {
    converges(Offer::QResync, false, ops)
}

/// A server that reports changes only of the known UIDs, as Dovecot does.
fn qresync_known_uids_only(ops: Vec<Op>) -> TestResult {
    converges(Offer::QResync, true, ops)
}

fn condstore(ops: Vec<Op>) -> TestResult {
    converges(Offer::CondStore, false, ops)
}

fn plain(ops: Vec<Op>) -> TestResult {
    converges(Offer::Plain, false, ops)
}

fn check(property: fn(Vec<Op>) -> TestResult) {
    QuickCheck::new().tests(150).quickcheck(property);
}

//= spec/sync.md#SYNC-4
//= type=test
//# With QRESYNC the DA MUST open the mailbox with
#[test]
fn qresync_converges_after_cuts_changes_and_restarts() {
    check(qresync);
}

//= spec/sync.md#SYNC-4
//= type=test
//# whether or not the `SELECT` reported any of its messages: a server may report changes only of the
//# `<known-uids>`
#[test]
fn qresync_converges_against_a_server_that_reports_only_known_uids() {
    check(qresync_known_uids_only);
}

//= spec/sync.md#SYNC-5
//= type=test
//# With CONDSTORE the DA MUST open the mailbox with `SELECT <mailbox> (CONDSTORE)`.
#[test]
fn condstore_converges_after_cuts_changes_and_restarts() {
    check(condstore);
}

//= spec/sync.md#SYNC-6
//= type=test
//# Without CONDSTORE the DA MUST open the mailbox with `SELECT` (or `EXAMINE`)
#[test]
fn plain_converges_after_cuts_changes_and_restarts() {
    check(plain);
}
