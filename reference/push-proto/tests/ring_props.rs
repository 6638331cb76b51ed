#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Properties of the offline ring, checked by quickcheck against a simple reference model.

use mailpush_push_proto::Timestamp;
use mailpush_push_proto::frame::{Payload, Window};
use mailpush_push_proto::ring::{DeviceRing, Removal, Topic};
use quickcheck::{Arbitrary, Gen, QuickCheck};

#[derive(Clone, Debug)]
struct OfflineAccept {
    advance_ms: u16,
    ttl_secs: u8,
    topic: Option<u8>,
}

impl Arbitrary for OfflineAccept {
    fn arbitrary(g: &mut Gen) -> Self {
        Self {
            advance_ms: u16::arbitrary(g) % 5000,
            ttl_secs: u8::arbitrary(g) % 20,
            topic: Option::<u8>::arbitrary(g).map(|t| t % 4),
        }
    }
}

fn topic(t: u8) -> Topic {
    Topic::new(format!("t{t}")).unwrap()
}

fn payload(i: usize) -> Payload {
    Payload::new(format!("n{i}").into_bytes()).unwrap()
}

/// Everything accepted while the device is away, then a reconnect.
fn offline_then_reconnect(capacity: u8, accepts: Vec<OfflineAccept>, wait_ms: u16) -> bool {
    let capacity = usize::from(capacity % 8) + 1;
    let mut ring = DeviceRing::new(capacity);
    let mut now = Timestamp(1_000_000);
    // Reference model: (id, expires_at, topic)
    let mut model: Vec<(u64, u64, Option<u8>)> = Vec::new();
    let (mut dropped, mut replaced, mut expired) = (0u64, 0u64, 0u64);
    for (i, accept) in accepts.iter().enumerate() {
        now = now.plus_ms(u64::from(accept.advance_ms));
        let accepted = ring
            .accept(
                now,
                u32::from(accept.ttl_secs),
                accept.topic.map(topic),
                payload(i),
            )
            .unwrap();
        let id = accepted.id.get();
        //= spec/device-channel.md#CHAN-15
        //# ids are strictly increasing per device, start at 1, and are never reused for that device
        assert_eq!(id, i as u64 + 1);
        if accept.ttl_secs == 0 {
            // Offline: a TTL-0 notification expires at once.
            assert!(accepted.expired_at_once);
            expired += 1;
            continue;
        }
        if let Some(t) = accept.topic {
            let before = model.len();
            model.retain(|(_, _, topic)| *topic != Some(t));
            replaced += (before - model.len()) as u64;
        }
        model.push((id, now.0 + u64::from(accept.ttl_secs) * 1000, accept.topic));
        while model.len() > capacity {
            model.remove(0);
            dropped += 1;
        }
        //= spec/device-channel.md#RING-1
        //# The ring MUST NOT hold more than N notifications.
        assert!(ring.len() <= capacity);
    }
    //= spec/device-channel.md#RING-2
    //# The
    //# ring therefore holds the newest N held notifications, in id order.
    let held: Vec<u64> = ring.held().map(|h| h.id.get()).collect();
    let expected: Vec<u64> = model.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(held, expected);

    //= spec/device-channel.md#RING-3
    //# The server MUST NOT send an expired notification and MUST
    //# remove it from the ring no later than when it would otherwise be sent.
    now = now.plus_ms(u64::from(wait_ms));
    let expiry = ring.expire(now);
    let before = model.len();
    model.retain(|(_, expires, _)| *expires > now.0);
    expired += (before - model.len()) as u64;
    assert_eq!(expiry.count(Removal::Expired), before - model.len());
    let meta = ring.meta();
    assert_eq!(
        (meta.dropped, meta.replaced, meta.expired),
        (dropped, replaced, expired)
    );

    ring.open_session(0, Window::new(1024).unwrap()).unwrap();
    let mut sent = Vec::new();
    loop {
        let (out, _) = ring.poll_send(now);
        match out {
            Some(out) => sent.push(out),
            None => break,
        }
    }
    //= spec/device-channel.md#RING-5
    //# The server MUST set the device's mark when (a) it accepts a notification while the
    //# device has no established session (the notification is held while the device is away), (b) it
    //# drops a notification ([RING-2](#RING-2)), (c) a notification expires before being acknowledged
    //# ([RING-3](#RING-3)), or (d) a notification is replaced ([RING-4](#RING-4)).
    let something_happened = !accepts.is_empty();
    if something_happened {
        //= spec/device-channel.md#RING-7
        //# It carries `retained` by [RING-6](#RING-6), so a device whose
        //# every missed notification expired or was dropped still learns that it must resynchronize.
        assert!(sent.first().is_some_and(|o| o.retained));
    } else {
        assert!(sent.is_empty());
    }
    // Whatever the model still holds is delivered, in order, after nothing else but a marker.
    let delivered: Vec<u64> = sent
        .iter()
        .filter(|o| !o.payload.is_empty())
        .map(|o| o.id.get())
        .collect();
    let expected: Vec<u64> = model.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(delivered, expected);
    true
}

#[test]
fn offline_ring_matches_model() {
    QuickCheck::new()
        .tests(2000)
        .quickcheck(offline_then_reconnect as fn(u8, Vec<OfflineAccept>, u16) -> bool);
}

#[derive(Clone, Debug)]
enum Op {
    Accept { ttl_secs: u8, topic: Option<u8> },
    Advance(u16),
    Connect,
    Disconnect,
    Send,
    AckAll,
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Self {
        match u8::arbitrary(g) % 6 {
            0 | 1 => Op::Accept {
                ttl_secs: u8::arbitrary(g) % 10,
                topic: Option::<u8>::arbitrary(g).map(|t| t % 3),
            },
            2 => Op::Advance(u16::arbitrary(g) % 3000),
            3 => Op::Connect,
            4 => Op::Disconnect,
            _ => {
                if bool::arbitrary(g) {
                    Op::Send
                } else {
                    Op::AckAll
                }
            }
        }
    }
}

/// Any interleaving: the capacity holds, ids stay sorted, and `retained` is on a notify exactly
/// when the mark is set, and the mark is only ever cleared by acknowledging a retained notify.
fn any_interleaving(capacity: u8, window: u8, ops: Vec<Op>) -> bool {
    let capacity = usize::from(capacity % 6) + 1;
    let window = Window::new(u16::from(window % 4) + 1).unwrap();
    let mut ring = DeviceRing::new(capacity);
    let mut now = Timestamp(0);
    let mut sent_max = 0u64;
    let mut retained_sent_since_event = false;
    for op in ops {
        let op_kind = op.clone();
        let mark_before = ring.meta().mark;
        let counters = |ring: &DeviceRing| {
            let m = ring.meta();
            m.dropped + m.expired + m.replaced
        };
        let counters_before = counters(&ring);
        let was_online = ring.online();
        match op_kind {
            Op::Accept { ttl_secs, topic } => {
                ring.accept(now, u32::from(ttl_secs), topic.map(self::topic), payload(0))
                    .unwrap();
                if !was_online {
                    assert!(ring.meta().mark, "held while away sets the mark");
                }
            }
            Op::Advance(ms) => {
                now = now.plus_ms(u64::from(ms));
                ring.expire(now);
            }
            Op::Connect => {
                if !ring.online() {
                    ring.open_session(ring.meta().cursor, window).unwrap();
                    sent_max = ring.meta().cursor;
                    retained_sent_since_event = false;
                }
            }
            Op::Disconnect => ring.close_session(),
            Op::Send => {
                let (out, _) = ring.poll_send(now);
                if let Some(out) = out {
                    //= spec/device-channel.md#CHAN-16
                    //# On a session the server MUST send notifications in increasing id order
                    assert!(out.id.get() > sent_max);
                    sent_max = out.id.get();
                    //= spec/device-channel.md#RING-6
                    //# A
                    //# `notify` sent while the mark is clear MUST NOT carry `retained`.
                    assert_eq!(out.retained, ring.meta().mark);
                    if counters(&ring) > counters_before {
                        retained_sent_since_event = false;
                    }
                    if out.retained {
                        retained_sent_since_event = true;
                    }
                    //= spec/device-channel.md#CHAN-17
                    //# The server MUST NOT have more than `window` notifications in flight on a
                    //# session.
                    assert!(ring.in_flight() <= usize::from(window.get()));
                }
            }
            //= spec/device-channel.md#CHAN-14
            //# An `ack` acknowledges every notification with an id at or below its id
            //# (acknowledgements are cumulative).
            Op::AckAll => {
                if ring.online() && sent_max > 0 {
                    let id = std::num::NonZeroU64::new(sent_max).unwrap();
                    ring.ack(id).unwrap();
                }
            }
        }
        let is_send = matches!(op, Op::Send);
        let held_while_away = matches!(op, Op::Accept { .. }) && !was_online;
        if counters(&ring) > counters_before || held_while_away {
            assert!(
                ring.meta().mark,
                "drop, expiry and replacement set the mark"
            );
            if !is_send {
                retained_sent_since_event = false;
            }
        }
        if mark_before && !ring.meta().mark {
            assert!(
                retained_sent_since_event,
                "the mark is cleared only by acking a retained notify"
            );
        }
        assert!(ring.len() <= capacity);
        let ids: Vec<u64> = ring.held().map(|h| h.id.get()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }
    true
}

#[test]
fn any_interleaving_keeps_invariants() {
    QuickCheck::new()
        .tests(2000)
        .quickcheck(any_interleaving as fn(u8, u8, Vec<Op>) -> bool);
}

#[test]
fn topic_replacement_spares_in_flight() {
    let mut ring = DeviceRing::new(10);
    let now = Timestamp(0);
    ring.open_session(0, Window::new(4).unwrap()).unwrap();
    let first = ring.accept(now, 60, Some(topic(1)), payload(1)).unwrap().id;
    let (out, _) = ring.poll_send(now);
    assert_eq!(out.unwrap().id, first);
    //= spec/device-channel.md#RING-4
    //# When the server accepts a notification with a topic, it MUST remove every
    //# held notification of the same device with the same topic that is not in flight.
    let second = ring.accept(now, 60, Some(topic(1)), payload(2)).unwrap();
    assert!(
        second.effects.removed.is_empty(),
        "in flight is not replaced"
    );
    let third = ring.accept(now, 60, Some(topic(1)), payload(3)).unwrap();
    assert_eq!(third.effects.removed, vec![(second.id, Removal::Replaced)]);
    assert!(ring.meta().mark);
}

#[test]
fn nothing_above_the_durable_id_is_sent() {
    let mut ring = DeviceRing::new(10);
    let now = Timestamp(0);
    ring.open_session(0, Window::new(4).unwrap()).unwrap();
    let first = ring.accept(now, 60, None, payload(1)).unwrap().id;
    let second = ring.accept(now, 60, None, payload(2)).unwrap().id;
    let (out, _) = ring.poll_send_upto(now, first.get());
    assert_eq!(out.unwrap().id, first);
    let (out, _) = ring.poll_send_upto(now, first.get());
    assert!(out.is_none(), "the second is not durable yet");
    let (out, _) = ring.poll_send_upto(now, second.get());
    assert_eq!(out.unwrap().id, second);
    assert!(ring.poll_send_upto(now, u64::MAX).0.is_none());
}

#[test]
fn a_marker_is_sent_although_nothing_else_is_durable() {
    let mut ring = DeviceRing::new(1);
    let now = Timestamp(0);
    ring.accept(now, 60, None, payload(1)).unwrap();
    // A full ring drops the oldest and sets the mark.
    ring.accept(now, 60, None, payload(2)).unwrap();
    assert!(ring.meta().mark);
    ring.open_session(2, Window::new(4).unwrap()).unwrap();
    let (out, effects) = ring.poll_send_upto(now, 0);
    let out = out.expect("the marker goes out with its insertion among the effects");
    assert!(out.retained);
    assert_eq!(effects.inserted.len(), 1);
    assert_eq!(effects.inserted[0].id, out.id);
}

#[test]
fn bad_cursor_and_bad_ack_change_nothing() {
    let mut ring = DeviceRing::new(10);
    ring.accept(Timestamp(0), 60, None, payload(1)).unwrap();
    //= spec/device-channel.md#CHAN-12
    //# the server
    //# MUST NOT delete anything because of it.
    assert!(ring.open_session(2, Window::DEFAULT).is_err());
    assert_eq!(ring.len(), 1);
    ring.open_session(0, Window::DEFAULT).unwrap();
    //= spec/device-channel.md#CHAN-14
    //# An `ack` whose id is higher than the highest id sent on the session MUST be
    //# answered with `ERROR` code `bad-ack` and a close.
    assert!(ring.ack(std::num::NonZeroU64::new(1).unwrap()).is_err());
    assert_eq!(ring.len(), 1);
}

#[test]
fn restore_rebuilds_and_shrinks() {
    let mut ring = DeviceRing::new(5);
    for i in 0..5 {
        ring.accept(Timestamp(0), 60, None, payload(i)).unwrap();
    }
    let held: Vec<_> = ring.held().cloned().collect();
    let (restored, effects) = DeviceRing::restore(3, ring.meta(), held);
    assert_eq!(effects.count(Removal::Dropped), 2);
    assert_eq!(
        restored.held().map(|h| h.id.get()).collect::<Vec<_>>(),
        vec![3, 4, 5]
    );
    assert_eq!(restored.meta().dropped, 2);
}

fn id(id: u64) -> std::num::NonZeroU64 {
    std::num::NonZeroU64::new(id).unwrap()
}

#[test]
fn a_notification_dropped_in_flight_still_counts_against_the_window() {
    let mut ring = DeviceRing::new(1);
    let now = Timestamp(0);
    ring.open_session(0, Window::new(1).unwrap()).unwrap();
    let first = ring.accept(now, 60, None, payload(1)).unwrap().id;
    assert_eq!(ring.poll_send(now).0.unwrap().id, first);
    // The ring holds one: the second push drops the first, which is in flight.
    let second = ring.accept(now, 60, None, payload(2)).unwrap();
    assert_eq!(second.effects.removed, vec![(first, Removal::Dropped)]);
    //= spec/device-channel.md#CHAN-30
    //# A notification counts against the window of [CHAN-17](#CHAN-17) from the
    //# moment its `notify` is sent until the server receives, on the same session, an `ack` at or above its
    //# id, even if it is dropped from the ring meanwhile ([RING-2](#RING-2)).
    assert_eq!(ring.in_flight(), 1);
    assert!(ring.poll_send(now).0.is_none(), "the window is full");
    ring.ack(first).unwrap();
    assert_eq!(ring.in_flight(), 0);
    let out = ring.poll_send(now).0.unwrap();
    assert_eq!(out.id, second.id);
    assert!(out.retained, "the drop set the mark");
}

#[test]
fn replacement_comes_before_the_capacity_check() {
    let mut ring = DeviceRing::new(2);
    let now = Timestamp(0);
    let a = ring.accept(now, 60, Some(topic(1)), payload(1)).unwrap().id;
    let b = ring.accept(now, 60, None, payload(2)).unwrap().id;
    //= spec/device-channel.md#RING-14
    //# Only then does it drop the oldest held
    //# notifications while the ring holds more than N ([RING-2](#RING-2)), so a replacement that makes
    //# room means nothing is dropped.
    let c = ring.accept(now, 60, Some(topic(1)), payload(3)).unwrap();
    assert_eq!(c.effects.removed, vec![(a, Removal::Replaced)]);
    assert_eq!(ring.held().map(|h| h.id).collect::<Vec<_>>(), vec![b, c.id]);
    assert_eq!((ring.meta().dropped, ring.meta().replaced), (0, 1));
    // Without a same-topic notification to replace, the full ring drops its oldest.
    let d = ring.accept(now, 60, Some(topic(2)), payload(4)).unwrap();
    assert_eq!(d.effects.removed, vec![(b, Removal::Dropped)]);
}

#[test]
fn a_notification_that_expires_at_once_replaces_and_drops_nothing() {
    let mut ring = DeviceRing::new(1);
    let now = Timestamp(0);
    let held = ring.accept(now, 60, Some(topic(1)), payload(1)).unwrap().id;
    //= spec/device-channel.md#RING-14
    //# it assigns the notification the next id of the device ([CHAN-15](#CHAN-15)); then, if
    //# the notification expires at once ([RING-3](#RING-3)), it sets the mark and does nothing else:
    //# it replaces nothing and drops nothing
    let at_once = ring.accept(now, 0, Some(topic(1)), payload(2)).unwrap();
    assert!(at_once.expired_at_once);
    assert_eq!(at_once.id.get(), held.get() + 1, "it still takes an id");
    assert!(at_once.effects.is_empty());
    assert_eq!(ring.held().map(|h| h.id).collect::<Vec<_>>(), vec![held]);
    assert_eq!(ring.meta().expired, 1);
    assert!(ring.meta().mark);
}

#[test]
fn a_marker_follows_an_expiry_while_online() {
    let mut ring = DeviceRing::new(10);
    let now = Timestamp(0);
    ring.open_session(0, Window::new(1).unwrap()).unwrap();
    let first = ring.accept(now, 60, None, payload(1)).unwrap().id;
    let out = ring.poll_send(now).0.unwrap();
    assert!(!out.retained);
    // The window is full, so a TTL-0 push expires at once while the device is online.
    assert!(
        ring.accept(now, 0, None, payload(2))
            .unwrap()
            .expired_at_once
    );
    assert!(ring.meta().mark);
    assert!(ring.poll_send(now).0.is_none(), "the window is full");
    ring.ack(first).unwrap();
    //= spec/device-channel.md#RING-13
    //# The condition of [RING-7](#RING-7) is a state, not the moment a session is
    //# established: the server MUST check it whenever it could send a `notify` on an established session
    //# (its window has room)
    let (marker, effects) = ring.poll_send(now);
    let marker = marker.expect("a marker carries the mark");
    assert!(marker.retained && marker.payload.is_empty());
    assert_eq!(effects.inserted.len(), 1);
    // One carrier is enough: no second marker while it is in flight.
    ring.ack(marker.id).unwrap();
    assert!(!ring.meta().mark);
    assert!(ring.poll_send(now).0.is_none());
}

#[test]
fn counters_saturate_instead_of_overflowing() {
    // A store may hand back any value; counting on from the top must not wrap or panic.
    let meta = mailpush_push_proto::ring::RingMeta {
        dropped: u64::MAX,
        expired: u64::MAX,
        replaced: u64::MAX,
        ..Default::default()
    };
    let (mut ring, _) = DeviceRing::restore(1, meta, Vec::new());
    let now = Timestamp(0);
    ring.accept(now, 60, Some(topic(1)), payload(1)).unwrap();
    ring.accept(now, 60, Some(topic(1)), payload(2)).unwrap();
    ring.accept(now, 60, None, payload(3)).unwrap();
    ring.accept(now, 0, None, payload(4)).unwrap();
    ring.accept(now, 1, None, payload(5)).unwrap();
    ring.expire(Timestamp(u64::MAX));
    let meta = ring.meta();
    assert_eq!(
        (meta.dropped, meta.expired, meta.replaced),
        (u64::MAX, u64::MAX, u64::MAX)
    );
}

#[test]
fn restore_never_reassigns_a_stored_id() {
    // A damaged store: the last id is below a held notification and the cursor.
    let meta = mailpush_push_proto::ring::RingMeta {
        last_id: 2,
        cursor: 3,
        ..Default::default()
    };
    let held = |n: u64| mailpush_push_proto::ring::Held {
        id: id(n),
        expires_at: None,
        topic: None,
        payload: payload(0),
    };
    let (mut ring, _) = DeviceRing::restore(10, meta, vec![held(9), held(5), held(9)]);
    assert_eq!(
        ring.held().map(|h| h.id.get()).collect::<Vec<_>>(),
        vec![5, 9]
    );
    let next = ring.accept(Timestamp(0), 60, None, payload(1)).unwrap().id;
    assert_eq!(next.get(), 10);
    // And the last id of all: the next accept fails instead of wrapping to 0.
    let meta = mailpush_push_proto::ring::RingMeta {
        last_id: u64::MAX,
        ..Default::default()
    };
    let (mut ring, _) = DeviceRing::restore(10, meta, Vec::new());
    assert!(ring.accept(Timestamp(0), 60, None, payload(1)).is_err());
}
