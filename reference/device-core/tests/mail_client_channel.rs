//! The client side of the device channel against the real push-proto server core and ring:
//! cursor, acknowledgements, duplicates, retention, keepalive, reconnection, refusals.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use mailpush_device_core::Token;
use mailpush_device_core::mail_client::{ChannelStatus, Event, Forwarding, Refusal};
use support::{
    DAY, Disk, MINUTE, PushServer, World, account_config, config, credentials, device, payload,
};

/// A device with credentials, tokens for A1/Notes, A1/Work and A2/Notes, and a push server of
/// ring capacity `capacity`, connected.
fn connected(capacity: usize) -> World {
    let disk = Disk {
        device: Some((device(), 0)),
        ..Disk::default()
    };
    let accounts = vec![account_config("A1", 900), account_config("A2", 900)];
    let mut world =
        World::new(config(accounts, 7), disk).with_push_server(PushServer::new(capacity));
    world.run();
    world.register("A1", &["Notes", "Work"]);
    world.register("A2", &["Notes"]);
    world.advance(1);
    assert!(world.push.as_ref().unwrap().online());
    world.take_wakes();
    world
}

fn push(world: &mut World, payload: &[u8]) -> u64 {
    let now = world.now;
    world.push.as_mut().unwrap().push(payload, now)
}

fn acks(world: &World) -> Vec<u64> {
    world.push.as_ref().unwrap().acks.clone()
}

fn notifications(world: &World) -> Vec<(u64, bool)> {
    world
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Notification { id, retained, .. } => Some((*id, *retained)),
            _ => None,
        })
        .collect()
}

//= spec/device-local.md#LOCAL-24
//= type=test
//# it MUST store the id of a notification durably before it
//# acknowledges it ([CHAN-20](device-channel.md#CHAN-20)).
//= spec/device-channel.md#CHAN-20
//= type=test
//# A client SHOULD acknowledge a notification as soon as it has handed
//# it to the device-local layer, and MUST NOT acknowledge an id it has not received.
#[test]
fn a_notification_is_acknowledged_only_once_its_id_is_stored() {
    let mut world = connected(16);
    world.hold_writes = true;
    let notes = world.token("A1", "Notes");
    push(&mut world, &payload("A1", &["Notes"]));
    world.deliver();
    // Processed at once: the wake does not wait for the disk.
    assert_eq!(world.take_wakes(), [notes]);
    assert_eq!(acks(&world), Vec::<u64>::new());
    assert_eq!(world.disk.cursor(), 0);
    world.write();
    assert_eq!(world.disk.cursor(), 1);
    assert_eq!(acks(&world), [1]);
}

//= spec/device-local.md#LOCAL-24
//= type=test
//# After a restart the highest processed id is the stored cursor, so
//# a notification processed but not stored before a crash is processed again
//= spec/device-local.md#LOCAL-24
//= type=test
//# It MUST resume with the stored cursor in `hello`
#[test]
fn a_crash_before_the_cursor_is_stored_loses_nothing() {
    let mut world = connected(16);
    world.hold_writes = true;
    let notes = world.token("A1", "Notes");
    push(&mut world, &payload("A1", &["Notes"]));
    world.deliver();
    assert_eq!(world.take_wakes(), std::slice::from_ref(&notes));
    world.hold_writes = false;
    world.crash_and_restart();
    world.advance(1);
    // The restarted client said cursor 0 and got the notification again.
    assert_eq!(world.push.as_ref().unwrap().hellos, [0, 0]);
    assert!(world.take_wakes().contains(&notes));
    assert_eq!(world.disk.cursor(), 1);
    assert_eq!(acks(&world), [1]);
}

//= spec/device-channel.md#CHAN-18
//= type=test
//# The client MUST treat a
//# notification whose id is at or below the highest id it has processed as a duplicate: it MUST
//# acknowledge it again and MUST NOT process it again.
//= spec/device-local.md#LOCAL-24
//= type=test
//# A notification whose id is at or below the highest processed
//# id is a duplicate ([CHAN-18](device-channel.md#CHAN-18)): it is acknowledged once that id is
//# stored, and not processed again.
//= spec/device-channel.md#CHAN-7
//= type=test
//# The `cursor` of a `hello` is the highest notification id the device has acknowledged
#[test]
fn a_duplicate_on_a_new_session_is_acknowledged_not_processed() {
    let mut world = connected(16);
    world.hold_writes = true;
    push(&mut world, &payload("A1", &["Notes"]));
    world.deliver();
    assert_eq!(world.take_wakes().len(), 1);
    // The connection breaks before the cursor is stored: the next hello carries 0.
    world.drop_channel();
    world.advance(10 * 1000);
    assert_eq!(world.push.as_ref().unwrap().hellos, [0, 0]);
    assert!(world.take_wakes().is_empty(), "a duplicate was processed");
    assert_eq!(acks(&world), Vec::<u64>::new());
    world.write();
    assert_eq!(acks(&world), [1]);
    assert_eq!(notifications(&world), [(1, false)]);
}

//= spec/device-channel.md#RING-12
//= type=test
//# A client that receives a `notify` carrying `retained` MUST treat every
//# registered mailbox of the device as changed, whatever the payload lists
//= spec/device-local.md#LOCAL-10
//= type=test
//# On a notification flagged `retained`, the mail client MUST raise the
//# local notification of every registered token of the device, in addition to those that
//# [LOCAL-7](#LOCAL-7) raises for the payload, and whatever the payload names (it may be empty).
#[test]
fn an_offline_overflow_comes_back_retained_and_wakes_every_token() {
    let mut world = connected(2);
    let all: Vec<Token> = world.client.tokens().map(|(t, _, _)| t.clone()).collect();
    world.push.as_mut().unwrap().reachable = false;
    world.drop_channel();
    for _ in 0..5 {
        push(&mut world, &payload("A1", &["Notes"]));
    }
    // The ring dropped three of the five.
    assert_eq!(world.push.as_ref().unwrap().ring.len(), 2);
    world.push.as_mut().unwrap().reachable = true;
    world.advance(10 * MINUTE);
    assert_eq!(notifications(&world), [(4, true), (5, true)]);
    let mut woken = world.take_wakes();
    woken.sort();
    woken.dedup();
    assert_eq!(woken, all);
    assert_eq!(world.disk.cursor(), 5);
    // Acknowledging the retained notify clears the mark: the next one is plain.
    push(&mut world, &payload("A1", &["Work"]));
    world.deliver();
    assert_eq!(notifications(&world).last(), Some(&(6, false)));
    assert_eq!(world.take_wakes(), [world.token("A1", "Work")]);
}

//= spec/device-channel.md#CHAN-23
//= type=test
//# A client MUST send `ping` when it has sent nothing for `keepalive` seconds.
//= spec/device-channel.md#CHAN-24
//= type=test
//# A client SHOULD consider the server
//# dead, and reconnect, when it has received nothing for one `keepalive` interval after sending a
//# `ping`.
#[test]
fn keepalive_keeps_a_live_session_and_leaves_a_dead_server() {
    let mut world = connected(16);
    let connects = |w: &World| {
        w.events
            .iter()
            .filter(|e| matches!(e, Event::ChannelConnect { .. }))
            .count()
    };
    // An hour of pings and pongs: one session throughout.
    world.advance(60 * MINUTE);
    assert_eq!(connects(&world), 1);
    assert!(world.push.as_ref().unwrap().online());
    // The server stops answering: the client gives up after a ping goes unanswered.
    world.push.as_mut().unwrap().mute = true;
    world.advance(2 * MINUTE + 1);
    assert!(world.events.iter().any(|e| matches!(
        e,
        Event::Channel(ChannelStatus::Closed {
            code: mailpush_push_proto::ReasonCode::Timeout,
            by_peer: false,
            ..
        })
    )));
    world.push.as_mut().unwrap().mute = false;
    world.advance(MINUTE);
    assert!(connects(&world) >= 2);
    assert!(world.push.as_ref().unwrap().online());
}

/// Reconnect delays while the server is unreachable, for a seed.
fn reconnect_delays(seed: u64) -> Vec<u64> {
    let disk = Disk {
        device: Some((device(), 0)),
        ..Disk::default()
    };
    let mut push = PushServer::new(16);
    push.reachable = false;
    let mut world =
        World::new(config(vec![account_config("A1", 900)], seed), disk).with_push_server(push);
    world.advance(30 * MINUTE);
    let times = world.times_of(|e| matches!(e, Event::ChannelConnect { .. }));
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

//= spec/device-local.md#LOCAL-26
//= type=test
//# the mail client MUST reconnect after a delay that grows exponentially with each
//# consecutive failure and is randomly jittered
#[test]
fn reconnects_back_off_exponentially_with_jitter_up_to_five_minutes() {
    let delays = reconnect_delays(1);
    assert!(delays.len() >= 8, "{delays:?}");
    let mut step = 1000;
    for d in &delays {
        assert!(
            (step / 2..=step).contains(d),
            "{d} not in [{}, {step}]",
            step / 2
        );
        step = (step * 2).min(5 * MINUTE);
    }
    assert_eq!(delays, reconnect_delays(1), "not deterministic");
    assert_ne!(delays, reconnect_delays(2), "not jittered");
}

//= spec/device-local.md#LOCAL-26
//= type=test
//# On `auth-failed`, `unregistered` or `unsupported-version` it MUST NOT
//# reconnect with the same credentials: it MUST report the refusal
//= spec/device-local.md#LOCAL-23
//= type=test
//# While the mail client has no device token, or the push server has
//# refused its device token for good ([LOCAL-26](#LOCAL-26)), it MUST NOT send push registrations
//# with that token, and it MUST treat every monitored mailbox as without push
#[test]
fn unregistration_is_permanent_until_new_credentials_arrive() {
    let mut world = connected(16);
    let (conn, octets) = world.push.as_mut().unwrap().unregister().unwrap();
    let now = world.now;
    world.client.handle_channel_input(conn, &octets, now);
    world.run();
    assert!(
        world
            .events
            .contains(&Event::DeviceRefused(Refusal::Unregistered))
    );
    let before = world.events.len();
    world.advance(DAY);
    assert!(
        !world.events[before..]
            .iter()
            .any(|e| matches!(e, Event::ChannelConnect { .. } | Event::ImapConnect { .. })),
        "reconnected with refused credentials"
    );
    // Every mailbox is polled now.
    assert_eq!(world.polled().len(), 3);
    // The device registers again at the push server and gets new credentials.
    let fresh = credentials(&"ab".repeat(32), &"cd".repeat(32));
    {
        let push = world.push.as_mut().unwrap();
        push.token = "ab".repeat(32);
        push.secret = "cd".repeat(32);
        push.registered = true;
        push.lose_state();
    }
    world
        .client
        .handle_device_credentials(fresh.clone(), world.now);
    world.advance(1);
    assert_eq!(world.disk.device, Some((fresh, 0)));
    assert!(world.push.as_ref().unwrap().online());
    assert_eq!(world.push.as_ref().unwrap().hellos.last(), Some(&0));
}

#[test]
fn a_wrong_secret_is_refused_for_good() {
    let disk = Disk {
        device: Some((credentials(support::DEVICE_TOKEN, &"00".repeat(32)), 0)),
        ..Disk::default()
    };
    let mut world = World::new(config(vec![account_config("A1", 900)], 3), disk)
        .with_push_server(PushServer::new(16));
    world.advance(DAY);
    assert!(
        world
            .events
            .contains(&Event::DeviceRefused(Refusal::AuthFailed))
    );
    let attempts = world
        .events
        .iter()
        .filter(|e| matches!(e, Event::ChannelConnect { .. }))
        .count();
    assert_eq!(attempts, 1);
    assert_eq!(
        world.client.status(world.now).channel,
        ChannelStatus::Refused(Refusal::AuthFailed)
    );
}

//= spec/device-local.md#LOCAL-25
//= type=test
//# The mail client MUST then store 0 as its cursor, raise the local notification of
//# every registered token of the device, as for a `retained` notification ([LOCAL-10](#LOCAL-10)),
//# and connect again with cursor 0.
#[test]
fn a_cursor_ahead_of_the_server_is_reset_and_everything_woken() {
    let mut world = connected(16);
    for _ in 0..3 {
        push(&mut world, &payload("A1", &["Notes"]));
    }
    world.deliver();
    assert_eq!(world.disk.cursor(), 3);
    world.take_wakes();
    world.push.as_mut().unwrap().lose_state();
    world.drop_channel();
    world.advance(10 * 1000);
    assert!(
        world
            .events
            .contains(&Event::Channel(ChannelStatus::CursorReset))
    );
    let mut woken = world.take_wakes();
    woken.sort();
    let all: Vec<Token> = world.client.tokens().map(|(t, _, _)| t.clone()).collect();
    assert_eq!(woken, all);
    assert_eq!(world.disk.cursor(), 0);
    world.advance(MINUTE);
    assert_eq!(world.push.as_ref().unwrap().hellos, [0, 3, 0]);
    // The server's new id 1 is new to the client.
    push(&mut world, &payload("A2", &["Notes"]));
    world.deliver();
    assert_eq!(world.take_wakes(), [world.token("A2", "Notes")]);
    assert_eq!(world.disk.cursor(), 1);
}

//= spec/device-local.md#LOCAL-24
//= type=test
//# A `welcome` cursor above the highest processed id means
//# those notifications were acknowledged before; the mail client counts them as processed.
#[test]
fn a_welcome_cursor_ahead_of_the_client_counts_as_processed() {
    let mut world = connected(16);
    for _ in 0..4 {
        push(&mut world, &payload("A1", &["Notes"]));
    }
    world.deliver();
    assert_eq!(world.disk.cursor(), 4);
    // The device's store comes back from an older backup.
    world.disk.device = Some((device(), 1));
    world.crash_and_restart();
    world.advance(1);
    assert_eq!(world.push.as_ref().unwrap().hellos.last(), Some(&1));
    assert_eq!(world.disk.cursor(), 4);
    push(&mut world, &payload("A1", &["Work"]));
    world.deliver();
    assert_eq!(world.disk.cursor(), 5);
}

#[test]
fn shutdown_says_goodbye() {
    let mut world = connected(16);
    world.mail.insert(
        support::account("A1"),
        Box::new(support::scripted::Scripted::new(
            support::scripted::Xaps::Absent,
        )),
    );
    let now = world.now;
    world.client.shutdown(now);
    world.run();
    assert!(!world.push.as_ref().unwrap().online());
    assert!(
        world
            .events
            .contains(&Event::Channel(ChannelStatus::Stopped))
    );
    let before = world.events.len();
    world.advance(DAY);
    assert!(
        !world.events[before..]
            .iter()
            .any(|e| matches!(e, Event::ChannelConnect { .. } | Event::ImapConnect { .. })),
        "connected after shutdown"
    );
}

#[test]
fn a_notification_that_is_not_a_push_payload_wakes_nothing() {
    let mut world = connected(16);
    push(&mut world, b"hello");
    world.deliver();
    assert!(world.take_wakes().is_empty());
    assert!(world.events.iter().any(|e| matches!(
        e,
        Event::Notification {
            forwarding: Forwarding::NotPushShape(_),
            ..
        }
    )));
    // Still acknowledged: it was handed on (to nobody).
    assert_eq!(acks(&world), [1]);
}

//= spec/device-local.md#LOCAL-26
//= type=test
//# When a session ends, or a connection attempt fails or gets no
//# `welcome` in time, the mail client MUST reconnect
#[test]
fn a_server_that_never_welcomes_is_left_and_tried_again() {
    let disk = Disk {
        device: Some((device(), 0)),
        ..Disk::default()
    };
    let mut push = PushServer::new(16);
    push.mute = true;
    let mut world =
        World::new(config(vec![account_config("A1", 900)], 8), disk).with_push_server(push);
    world.advance(30 * 1000 - 1);
    assert!(
        world
            .events
            .iter()
            .all(|e| !matches!(e, Event::Channel(ChannelStatus::NoWelcome { .. })))
    );
    world.advance(1);
    assert!(
        world
            .events
            .iter()
            .any(|e| matches!(e, Event::Channel(ChannelStatus::NoWelcome { .. })))
    );
    world.push.as_mut().unwrap().mute = false;
    world.advance(MINUTE);
    assert!(world.push.as_ref().unwrap().online());
}
