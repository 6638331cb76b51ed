//! Forwarding a notification by the MD5 list of its payload, and the fan-out on `retained`,
//! down to the local notification bus.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeSet;

use mailpush_device_core::bus::{Bus, Interest, Name};
use mailpush_device_core::mail_client::{
    ConnectionId, Event, Forwarding, MailClient, MailClientConfig, Restored,
};
use mailpush_device_core::{AccountId, Token};
use mailpush_push_proto::{Frame, Keepalive, NotificationId, Payload, Window, frame_to_vec};
use quickcheck::{QuickCheck, TestResult};
use support::{
    Disk, PushServer, T0, World, account, account_config, config, device, mailbox, md5_hex, payload,
};

/// A device with tokens for A1/Notes, A1/Work and A2/Notes, connected to a push server.
fn connected() -> World {
    let disk = Disk {
        device: Some((device(), 0)),
        ..Disk::default()
    };
    let accounts = vec![account_config("A1", 900), account_config("A2", 900)];
    let mut world = World::new(config(accounts, 21), disk).with_push_server(PushServer::new(16));
    world.register("A1", &["Notes", "Work"]);
    world.register("A2", &["Notes"]);
    world.advance(1);
    world.take_wakes();
    world
}

fn notify(world: &mut World, payload: &[u8]) -> Vec<Token> {
    let now = world.now;
    world.push.as_mut().unwrap().push(payload, now);
    world.deliver();
    world.take_wakes()
}

//= spec/device-local.md#LOCAL-7
//= type=test
//# it MUST
//# select the account whose account id equals `account-id` and, for each entry of `m`, compare it with
//# the lowercase hexadecimal MD5 of the name of each monitored mailbox of that account; for every
//# monitored mailbox that matches, it MUST raise the
//# local notification named by that mailbox's token. A push MUST reach the DA only through the tokens
//# of the account it names.
#[test]
fn a_payload_wakes_the_tokens_of_the_mailboxes_it_names_in_its_account() {
    let mut world = connected();
    let a1_notes = world.token("A1", "Notes");
    let a1_work = world.token("A1", "Work");
    assert_eq!(
        notify(&mut world, &payload("A1", &["Notes"])),
        std::slice::from_ref(&a1_notes)
    );
    assert_eq!(
        notify(&mut world, &payload("A1", &["Work", "Notes"])),
        [a1_work, a1_notes]
    );
    assert_eq!(
        notify(&mut world, &payload("A2", &["Notes"])),
        [world.token("A2", "Notes")]
    );
}

//= spec/device-local.md#LOCAL-8
//= type=test
//# Entries of `m` that match no monitored mailbox, notifications naming an
//# account that has no monitored mailbox, and payloads that are not of the shape of
//# [PROV-8](provider-api.md#PROV-8) MUST NOT raise any local notification
#[test]
fn nothing_else_is_forwarded() {
    let mut world = connected();
    let upper = format!(
        r#"{{"aps":{{"account-id":"A1","m":["{}"]}}}}"#,
        md5_hex("Notes").to_uppercase()
    );
    let cases: [Vec<u8>; 6] = [
        payload("A1", &["Trash"]),
        payload("A3", &["Notes"]),
        payload("A1", &[]),
        upper.into_bytes(),
        br#"{"aps":{"account-id":"A1"}}"#.to_vec(),
        b"\xff\xfe".to_vec(),
    ];
    for case in cases {
        assert!(notify(&mut world, &case).is_empty(), "{case:?}");
    }
    let shapes: Vec<bool> = world
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Notification { forwarding, .. } => {
                Some(matches!(forwarding, Forwarding::Payload { .. }))
            }
            _ => None,
        })
        .collect();
    assert_eq!(shapes, [true, true, true, false, false, false]);
    // Every one was still acknowledged.
    assert_eq!(world.disk.cursor(), 6);
}

//= spec/device-local.md#LOCAL-12
//= type=test
//# A mail client MUST NOT replace the fan-out of
//# [LOCAL-10](#LOCAL-10) by any other signal.
//= spec/device-local.md#LOCAL-8
//= type=test
//# except as required by
//# [LOCAL-10](#LOCAL-10) when the notification is flagged `retained`.
#[test]
fn a_retained_notification_wakes_every_token_by_name_and_nothing_else() {
    let mut world = connected();
    let all: BTreeSet<Token> = world.client.tokens().map(|(t, _, _)| t.clone()).collect();
    world.push.as_mut().unwrap().reachable = false;
    world.drop_channel();
    let now = world.now;
    // Not a push payload at all, held while the device is away: it comes back retained.
    world.push.as_mut().unwrap().push(b"not json", now);
    world.push.as_mut().unwrap().reachable = true;
    world.advance(60 * 1000);
    let wakes = world.take_wakes();
    assert_eq!(wakes.len(), all.len(), "each token once");
    assert_eq!(wakes.into_iter().collect::<BTreeSet<_>>(), all);
    // The payload's own matches first, then the rest.
    world.push.as_mut().unwrap().reachable = false;
    world.drop_channel();
    let now = world.now;
    world
        .push
        .as_mut()
        .unwrap()
        .push(&payload("A2", &["Notes"]), now);
    world.push.as_mut().unwrap().reachable = true;
    world.advance(60 * 1000);
    let wakes = world.take_wakes();
    assert_eq!(wakes[0], world.token("A2", "Notes"));
    assert_eq!(wakes.len(), 3);
}

//= spec/device-local.md#LOCAL-9
//= type=test
//# A local notification MUST carry nothing but its name.
#[test]
fn wakes_reach_the_da_over_the_bus_by_name() {
    let mut world = connected();
    let mut bus = Bus::default();
    let da = bus.add_observer();
    let logger = bus.add_observer();
    bus.subscribe(logger, Interest::All);
    let notes = world.token("A1", "Notes");
    bus.subscribe(da, Interest::Name(Name::from(&notes)));
    for _ in 0..3 {
        for token in notify(&mut world, &payload("A1", &["Notes", "Work"])) {
            bus.post(&Name::from(&token));
        }
    }
    // Three pushes while the DA was busy: one pending wake.
    assert_eq!(bus.pending(da), 1);
    assert_eq!(bus.poll_delivery(da), Some(Name::from(&notes)));
    assert_eq!(bus.pending(logger), 2);
}

/// A mail client fed frames directly: the registered tokens, and the wakes of one notification.
fn wakes_for(
    registrations: &[(u8, u8)],
    payload_account: u8,
    m: &[u8],
    retained: bool,
) -> (Vec<Token>, Vec<(Token, AccountId, String)>) {
    let accounts = (0..3)
        .map(|a| account_config(&format!("A{a}"), 900))
        .collect();
    let restored = Restored {
        device: Some((device(), 0)),
        ..Restored::default()
    };
    let mut client = MailClient::new(MailClientConfig::new(accounts, 5), restored, T0).unwrap();
    let mut now = T0;
    let mut channel = None;
    let drain = |client: &mut MailClient, channel: &mut Option<ConnectionId>, now| {
        let mut wakes = Vec::new();
        while let Some(event) = client.poll_event() {
            match event {
                Event::Persist(batch) => client.handle_persisted(batch.ticket, now),
                Event::ChannelConnect { conn } => {
                    *channel = Some(conn);
                    client.handle_channel_connected(conn, now);
                }
                Event::Wake(token) => wakes.push(token),
                _ => {}
            }
        }
        wakes
    };
    drain(&mut client, &mut channel, now);
    for (a, m) in registrations {
        let names = [mailbox(&format!("m{m}"))];
        client
            .register(&account(&format!("A{a}")), &names, now)
            .unwrap();
        drain(&mut client, &mut channel, now);
    }
    let conn = channel.unwrap();
    let welcome = frame_to_vec(&Frame::Welcome {
        version: 1,
        cursor: 0,
        window: Window::DEFAULT,
        keepalive: Keepalive::DEFAULT,
    });
    client.handle_channel_input(conn, &welcome, now);
    drain(&mut client, &mut channel, now);
    now = now.plus_ms(1);
    let names: Vec<String> = m.iter().map(|n| format!("m{n}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let body = payload(&format!("A{payload_account}"), &names);
    let notify = frame_to_vec(&Frame::Notify {
        id: NotificationId::new(1).unwrap(),
        retained,
        payload: Payload::new(body).unwrap(),
    });
    client.handle_channel_input(conn, &notify, now);
    let wakes = drain(&mut client, &mut channel, now);
    let table = client
        .tokens()
        .map(|(t, a, m)| {
            (
                t.clone(),
                a.clone(),
                String::from_utf8(m.as_bytes().to_vec()).unwrap(),
            )
        })
        .collect();
    (wakes, table)
}

fn forwarding_is_exact(
    registrations: Vec<(u8, u8)>,
    payload_account: u8,
    m: Vec<u8>,
    retained: bool,
) -> TestResult {
    let registrations: Vec<(u8, u8)> = registrations
        .into_iter()
        .map(|(a, m)| (a % 3, m % 6))
        .collect();
    let m: Vec<u8> = m.into_iter().map(|n| n % 8).collect();
    // Account 3 is not configured.
    let payload_account = payload_account % 4;
    let (wakes, table) = wakes_for(&registrations, payload_account, &m, retained);
    let named: BTreeSet<String> = m.iter().map(|n| format!("m{n}")).collect();
    let expected: BTreeSet<Token> = table
        .iter()
        .filter(|(_, a, name)| {
            retained || (*a == account(&format!("A{payload_account}")) && named.contains(name))
        })
        .map(|(t, _, _)| t.clone())
        .collect();
    let woken: BTreeSet<Token> = wakes.iter().cloned().collect();
    if woken.len() != wakes.len() {
        return TestResult::error(format!("a token woken twice: {wakes:?}"));
    }
    if woken != expected {
        return TestResult::error(format!("woke {woken:?}, expected {expected:?}"));
    }
    TestResult::passed()
}

//= spec/device-local.md#LOCAL-10
//= type=test
//# On a notification flagged `retained`, the mail client MUST raise the
//# local notification of every registered token of the device
//= spec/device-local.md#LOCAL-7
//= type=test
//# for every
//# monitored mailbox that matches, it MUST raise the
//# local notification named by that mailbox's token.
#[test]
fn a_notification_wakes_exactly_its_matches_and_everything_when_retained() {
    QuickCheck::new()
        .tests(300)
        .quickcheck(forwarding_is_exact as fn(Vec<(u8, u8)>, u8, Vec<u8>, bool) -> TestResult);
}
