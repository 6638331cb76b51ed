#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Properties of the store's IMAP metadata over random operation sequences: UIDs, MODSEQs and
//! the QRESYNC resynchronization rule.

use std::collections::BTreeMap;

use mailpush_mail_store::{
    Config, FlagOp, Flags, InternalDate, MailboxId, ModSeq, Store, Uid, UidSet,
};
use quickcheck::{Arbitrary, Gen, QuickCheck};

#[derive(Debug, Clone)]
enum Op {
    Append {
        flags: u8,
    },
    Store {
        picks: Vec<u8>,
        op: u8,
        flags: u8,
        unchanged_since: Option<u8>,
    },
    Expunge {
        picks: Option<Vec<u8>>,
    },
    Copy {
        picks: Vec<u8>,
        from_other: bool,
    },
    Move {
        picks: Vec<u8>,
        from_other: bool,
    },
    Snapshot,
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Self {
        match u8::arbitrary(g) % 10 {
            0..=2 => Op::Append {
                flags: u8::arbitrary(g),
            },
            3 | 4 => Op::Store {
                picks: Vec::arbitrary(g),
                op: u8::arbitrary(g),
                flags: u8::arbitrary(g),
                unchanged_since: Option::arbitrary(g),
            },
            5 => Op::Expunge {
                picks: Option::arbitrary(g),
            },
            6 => Op::Copy {
                picks: Vec::arbitrary(g),
                from_other: bool::arbitrary(g),
            },
            7 => Op::Move {
                picks: Vec::arbitrary(g),
                from_other: bool::arbitrary(g),
            },
            _ => Op::Snapshot,
        }
    }
}

fn flag_set(bits: u8) -> Flags {
    let names = [
        "\\Seen",
        "\\Answered",
        "\\Flagged",
        "\\Deleted",
        "\\Draft",
        "$Label1",
        "Work",
    ];
    Flags::parse(
        names
            .iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .map(|(_, n)| *n),
    )
    .unwrap()
}

type State = BTreeMap<Uid, (Flags, ModSeq)>;

fn state(store: &Store, mailbox: MailboxId) -> State {
    store
        .messages(mailbox, &UidSet::all())
        .unwrap()
        .into_iter()
        .map(|m| (m.uid, (m.flags, m.modseq)))
        .collect()
}

fn pick(store: &Store, mailbox: MailboxId, picks: &[u8]) -> UidSet {
    let uids = store.uids(mailbox).unwrap();
    if uids.is_empty() {
        // Also exercise UIDs that do not exist.
        return picks.iter().map(|p| Uid::from(*p) + 1).collect();
    }
    picks
        .iter()
        .map(|p| uids[usize::from(*p) % uids.len()])
        .collect()
}

/// The mailbox's observable metadata, checked after every operation.
struct Tracker {
    highest_modseq: ModSeq,
    uid_next: Uid,
    ever_assigned: Vec<Uid>,
}

fn run(ops: Vec<Op>) -> bool {
    let store = Store::open_in_memory(Config::for_tests()).unwrap();
    let user = store.add_user("u", b"p").unwrap();
    let main = store.mailbox(user, "INBOX").unwrap();
    let other = store.create_mailbox(user, "Other").unwrap().value.id;
    let mut tracker = Tracker {
        highest_modseq: main.highest_modseq,
        uid_next: main.uid_next,
        ever_assigned: Vec::new(),
    };
    let mut snapshots: Vec<(ModSeq, State)> = vec![(main.highest_modseq, State::new())];
    let mut other_count = 0u32;

    for op in ops {
        let changes = match &op {
            Op::Append { flags } => {
                store
                    .append(main.id, b"m", &flag_set(*flags), InternalDate::utc(0))
                    .unwrap()
                    .changes
            }
            Op::Store {
                picks,
                op,
                flags,
                unchanged_since,
            } => {
                let op = [FlagOp::Add, FlagOp::Remove, FlagOp::Replace][usize::from(*op % 3)];
                let limit = unchanged_since
                    .map(|u| tracker.highest_modseq.saturating_sub(u64::from(u % 4)));
                let uids = pick(&store, main.id, picks);
                let applied = store
                    .store_flags(main.id, &uids, op, &flag_set(*flags), limit)
                    .unwrap();
                // MODIFIED names exactly the selected messages changed after UNCHANGEDSINCE.
                for uid in &applied.value.modified {
                    assert!(uids.contains(*uid));
                    assert!(limit.is_some());
                }
                applied.changes
            }
            Op::Expunge { picks } => {
                let set = picks.as_ref().map(|p| pick(&store, main.id, p));
                store.expunge(main.id, set.as_ref()).unwrap().changes
            }
            Op::Copy { picks, from_other } | Op::Move { picks, from_other } => {
                let (from, to) = if *from_other {
                    (other, main.id)
                } else {
                    (main.id, other)
                };
                if *from_other && other_count == 0 {
                    store
                        .append(other, b"o", &Flags::new(), InternalDate::utc(0))
                        .unwrap();
                }
                let set = pick(&store, from, picks);
                let applied = if matches!(op, Op::Move { .. }) {
                    store.move_messages(from, &set, to).unwrap()
                } else {
                    store.copy(from, &set, to).unwrap()
                };
                other_count = store.mailbox_by_id(other).unwrap().messages;
                applied
                    .changes
                    .into_iter()
                    .filter(|c| c.mailbox == main.id)
                    .collect()
            }
            Op::Snapshot => {
                let info = store.mailbox_by_id(main.id).unwrap();
                snapshots.push((info.highest_modseq, state(&store, main.id)));
                Vec::new()
            }
        };

        let info = store.mailbox_by_id(main.id).unwrap();
        let now = state(&store, main.id);
        // HIGHESTMODSEQ strictly increases on every change and only then.
        if changes.is_empty() {
            assert_eq!(info.highest_modseq, tracker.highest_modseq, "{op:?}");
        } else {
            assert!(info.highest_modseq > tracker.highest_modseq, "{op:?}");
            assert!(
                changes
                    .iter()
                    .all(|c| c.highest_modseq == info.highest_modseq)
            );
        }
        tracker.highest_modseq = info.highest_modseq;
        // Every message's MODSEQ is at most HIGHESTMODSEQ.
        assert!(
            now.values()
                .all(|(_, m)| *m <= info.highest_modseq && *m > 0)
        );
        // UIDs strictly increase and are never reused.
        assert!(info.uid_next >= tracker.uid_next);
        let uids: Vec<Uid> = store.uids(main.id).unwrap();
        assert!(uids.windows(2).all(|w| w[0] < w[1]));
        for uid in &uids {
            assert!(*uid < info.uid_next);
            if *uid >= tracker.uid_next {
                assert!(!tracker.ever_assigned.contains(uid), "UID {uid} reused");
                tracker.ever_assigned.push(*uid);
            }
        }
        for change in &changes {
            if let mailpush_mail_store::ChangeKind::Appended { uids } = &change.kind {
                assert!(uids.iter().all(|u| *u >= tracker.uid_next), "{op:?}");
            }
        }
        tracker.uid_next = info.uid_next;
        // Nothing expunged is present, and nothing present was expunged.
        let expunged = store.expunged_since(main.id, 0).unwrap();
        assert!(expunged.iter().all(|u| !now.contains_key(u)));
        assert!(info.messages as usize == now.len());
    }

    // QRESYNC: a client that saw the state at M and applies VANISHED (EARLIER) and the changed
    // messages reaches the current state.
    let current = state(&store, main.id);
    for (modseq, seen) in snapshots {
        let mut replayed = seen.clone();
        for uid in store.expunged_since(main.id, modseq).unwrap() {
            replayed.remove(&uid);
        }
        for meta in store.changed_since(main.id, modseq).unwrap() {
            replayed.insert(meta.uid, (meta.flags, meta.modseq));
        }
        if replayed != current {
            return false;
        }
    }
    true
}

#[test]
fn uids_modseqs_and_qresync_replay_hold_for_any_operation_sequence() {
    QuickCheck::new()
        .tests(300)
        .quickcheck(run as fn(Vec<Op>) -> bool);
}

#[test]
fn replay_from_every_point_of_a_long_history() {
    // A fixed long sequence that touches every operation, with a snapshot after each step.
    let mut ops = Vec::new();
    for i in 0..60u8 {
        ops.push(Op::Append { flags: i });
        ops.push(Op::Snapshot);
        ops.push(Op::Store {
            picks: vec![i, i / 2],
            op: i,
            flags: i.wrapping_mul(7),
            unchanged_since: None,
        });
        ops.push(Op::Snapshot);
        if i % 5 == 0 {
            ops.push(Op::Expunge { picks: None });
            ops.push(Op::Move {
                picks: vec![i],
                from_other: i % 2 == 0,
            });
            ops.push(Op::Copy {
                picks: vec![i, 1],
                from_other: i % 3 == 0,
            });
            ops.push(Op::Snapshot);
        }
    }
    assert!(run(ops));
}
