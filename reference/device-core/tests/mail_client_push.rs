//! Push registration against the real IMAP session core of the mail server (and, for what it
//! never does, scripted servers), and the scheduled polls that stand in for push.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use mailpush_device_core::Token;
use mailpush_device_core::mail_client::{Event, PushStatus};
use support::mail_server::MailServer;
use support::scripted::{Scripted, Xaps};
use support::{
    DAY, DEVICE_TOKEN, Disk, MINUTE, PushServer, World, account, account_config, config, device,
};

fn disk() -> Disk {
    Disk {
        device: Some((device(), 0)),
        ..Disk::default()
    }
}

fn world_with(server: impl support::ImapServer + 'static) -> World {
    let mut world =
        World::new(config(vec![account_config("A1", 900)], 11), disk()).with_mail("A1", server);
    world.run();
    world
}

fn mail(world: &World) -> &MailServer {
    // The tests that call this put a MailServer behind A1.
    let server = world.mail.get(&account("A1")).unwrap();
    let server: &dyn std::any::Any = server.as_any();
    server.downcast_ref::<MailServer>().unwrap()
}

fn sorted(mut tokens: Vec<Token>) -> Vec<Token> {
    tokens.sort();
    tokens.dedup();
    tokens
}

fn statuses(world: &World) -> Vec<PushStatus> {
    world
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Push { status, .. } => Some(status.clone()),
            _ => None,
        })
        .collect()
}

//= spec/device-local.md#LOCAL-4
//= type=test
//# After a registration that adds a mailbox, the mail client
//# MUST (re)register push for the account with the mail server, naming every monitored mailbox of the
//# account ([imap-push.md](imap-push.md)), and MUST record the acknowledged subset from the reply as
//# the account's mailboxes with push; every other monitored mailbox is without push
//= spec/imap-push.md#XAPS-2
//= type=test
//# A client MUST NOT send the command unless the server listed the
//# capability after authentication.
#[test]
fn registration_names_every_monitored_mailbox_and_records_the_subset() {
    let mut world = world_with(MailServer::new(&["Notes"]));
    world.register("A1", &["Notes", "INBOX", "Missing"]);
    let sent = world.xaps_sent();
    assert_eq!(
        sent.last().unwrap(),
        &format!(
            "A2 XAPPLEPUSHSERVICE aps-version 2 aps-account-id A1 aps-device-token {DEVICE_TOKEN} \
             aps-subtopic com.apple.mobilemail mailboxes (INBOX Missing Notes)"
        )
    );
    // After LOGIN (A1), whose OK listed the capabilities.
    let transcript = String::from_utf8(world.imap_sent.values().last().unwrap().clone()).unwrap();
    assert!(transcript.starts_with("A1 LOGIN fred secret\r\nA2 XAPPLEPUSHSERVICE"));
    assert_eq!(world.with_push("A1"), ["INBOX", "Notes"]);
    assert_eq!(world.polled(), [world.token("A1", "Missing")]);
    let stored = mail(&world).registered("A1", world.now).unwrap();
    assert_eq!(stored, ["INBOX", "Notes"]);
    assert!(statuses(&world).contains(&PushStatus::Registered {
        version: 2,
        with_push: 2,
        requested: 3
    }));
}

//= spec/device-local.md#LOCAL-5
//= type=test
//# When the mail server's reply to a push registration arrives, the mail client MUST
//# raise the local notification of every token of the account, with and without push.
#[test]
fn the_reply_wakes_every_token_of_the_account_and_no_other() {
    let accounts = vec![account_config("A1", 900), account_config("A2", 900)];
    let mut world = World::new(config(accounts, 5), disk())
        .with_mail("A1", MailServer::new(&["Notes"]))
        .with_mail("A2", MailServer::new(&["Notes"]));
    world.hold_imap = true;
    world.run();
    let a1 = world.register("A1", &["Notes", "Missing"]);
    let a2 = world.register("A2", &["Notes"]);
    world.release_imap();
    world.take_wakes();
    // Only A1's reply this time.
    world.register("A1", &["INBOX"]);
    let inbox = world.token("A1", "INBOX");
    while world.release_one_imap() {}
    let woken = sorted(world.take_wakes());
    assert_eq!(woken, sorted(vec![a1[0].clone(), a1[1].clone(), inbox]));
    assert!(!woken.contains(&a2[0]));
}

//= spec/device-local.md#LOCAL-6
//= type=test
//# After unregistering, the mail client MUST NOT raise
//# local notifications for them, and MUST register push again without those mailboxes
//= spec/device-local.md#LOCAL-20
//= type=test
//# for an account without monitored mailboxes it carries an empty `mailboxes` list, so that the mail
//# server deletes the registration
#[test]
fn every_change_of_the_set_registers_again() {
    let mut world = world_with(MailServer::new(&["Notes", "Work"]));
    world.register("A1", &["Notes"]);
    assert_eq!(mail(&world).registered("A1", world.now).unwrap(), ["Notes"]);
    world.register("A1", &["Work"]);
    assert_eq!(
        mail(&world).registered("A1", world.now).unwrap(),
        ["Notes", "Work"]
    );
    let notes = world.token("A1", "Notes");
    world.take_wakes();
    assert_eq!(
        world
            .client
            .unregister(std::slice::from_ref(&notes), world.now),
        1
    );
    world.run();
    assert_eq!(mail(&world).registered("A1", world.now).unwrap(), ["Work"]);
    assert!(!world.take_wakes().contains(&notes));
    let work = world.token("A1", "Work");
    world.client.unregister(&[work], world.now);
    world.run();
    assert!(world.xaps_sent().last().unwrap().ends_with("mailboxes ()"));
    assert_eq!(mail(&world).registered("A1", world.now), None);
    assert_eq!(world.xaps_sent().len(), 5);
}

//= spec/device-local.md#LOCAL-20
//= type=test
//# It MUST NOT have more than one registration request of an account outstanding: a change made while
//# one is outstanding is registered by a new request once the reply has arrived.
//= spec/device-local.md#LOCAL-22
//= type=test
//# A mailbox that no reply has acknowledged yet, newly
//# registered or registered again after it was unregistered, is without push, and the mail client
//# MUST raise its scheduled local notifications ([LOCAL-15](#LOCAL-15)) until a reply acknowledges
//# it.
#[test]
fn a_change_while_a_request_is_outstanding_follows_the_reply() {
    let mut world = world_with(MailServer::new(&["Notes", "Work"]));
    world.hold_imap = true;
    world.register("A1", &["Notes"]);
    // The LOGIN reply, then the XAPPLEPUSHSERVICE goes out and its reply is held.
    world.release_one_imap();
    // The first was sent at start, for no mailboxes.
    assert_eq!(world.xaps_sent().len(), 2);
    world.register("A1", &["Work"]);
    assert_eq!(world.xaps_sent().len(), 2, "two requests outstanding");
    // Neither has push yet: both are polled.
    assert_eq!(world.polled().len(), 2);
    world.release_one_imap();
    // The reply acknowledged Notes; Work follows at once on the same connection.
    assert_eq!(world.with_push("A1"), ["Notes"]);
    assert_eq!(world.polled(), [world.token("A1", "Work")]);
    assert_eq!(world.xaps_sent().len(), 3);
    assert_eq!(world.imap_connects().len(), 2);
    world.release_imap();
    assert_eq!(world.with_push("A1"), ["Notes", "Work"]);
    assert!(world.polled().is_empty());
    // Unregistered and registered again: without push until the next reply.
    world.hold_imap = true;
    let notes = world.token("A1", "Notes");
    world.client.unregister(&[notes], world.now);
    world.run();
    world.register("A1", &["Notes"]);
    assert_eq!(world.with_push("A1"), ["Work"]);
    assert_eq!(world.polled(), [world.token("A1", "Notes")]);
    world.release_imap();
    assert_eq!(world.with_push("A1"), ["Notes", "Work"]);
}

//= spec/device-local.md#LOCAL-20
//= type=test
//# The mail client MUST send a push registration for every configured account
//# when it starts
//= spec/device-local.md#LOCAL-20
//= type=test
//# and again before 30
//# days have passed since it sent the last request that the server acknowledged
//= spec/imap-push.md#XAPS-16
//= type=test
//# A client MUST register again at
//# least once in every 30-day period while it wants push
#[test]
fn registrations_are_renewed_daily_and_at_every_start() {
    let mut world = world_with(MailServer::new(&["Notes"]));
    world.register("A1", &["Notes"]);
    // Registered at start (no mailboxes yet), then for Notes.
    assert_eq!(world.xaps_sent().len(), 2);
    world.advance(DAY - 1);
    assert_eq!(world.xaps_sent().len(), 2);
    world.advance(1);
    assert_eq!(world.xaps_sent().len(), 3);
    for _ in 0..40 {
        world.advance(DAY);
    }
    assert_eq!(world.xaps_sent().len(), 43);
    // Every session registered: one XAPPLEPUSHSERVICE per connection.
    assert_eq!(world.imap_connects().len(), 43);
    assert_eq!(mail(&world).registered("A1", world.now).unwrap(), ["Notes"]);
    world.crash_and_restart();
    assert_eq!(world.xaps_sent().len(), 44);
}

//= spec/device-local.md#LOCAL-21
//= type=test
//# Until a reply acknowledges a new set, the mailboxes with push remain those of
//# the last acknowledged reply; once 30 days have passed since that request was sent, every monitored
//# mailbox of the account is without push.
//= spec/device-local.md#LOCAL-21
//= type=test
//# When a
//# registration fails (the connection or the authentication fails, or no reply arrives), or the server
//# answers `NO` or `BAD`, the mail client MUST try again after a delay that grows with each
//# consecutive failure.
#[test]
fn failures_are_retried_and_an_old_subset_expires() {
    let mut world = world_with(MailServer::new(&["Notes"]));
    world.register("A1", &["Notes"]);
    assert_eq!(world.with_push("A1"), ["Notes"]);
    let sent_at = world.now;
    // The mail server becomes unreachable.
    let server = world.mail.remove(&account("A1")).unwrap();
    world.advance(29 * DAY);
    assert_eq!(world.with_push("A1"), ["Notes"]);
    world.advance(DAY - 2 * MINUTE);
    assert_eq!(world.with_push("A1"), ["Notes"]);
    world.advance(2 * MINUTE);
    assert!(world.with_push("A1").is_empty());
    assert!(statuses(&world).contains(&PushStatus::Expired));
    assert_eq!(world.polled(), [world.token("A1", "Notes")]);
    // Retries back off: 5 s doubling, capped at 15 minutes.
    let attempts = world.times_of(|e| matches!(e, Event::ImapConnect { .. }));
    let gaps: Vec<u64> = attempts
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|g| *g > 0 && *g < DAY)
        .collect();
    assert!(gaps.len() > 10);
    assert!(gaps[1] > gaps[0] && gaps[2] > gaps[1], "{gaps:?}");
    assert!(gaps.iter().all(|g| *g <= 15 * MINUTE));
    assert!(attempts[0] >= sent_at.0);
    // The server is back: the next attempt registers and push returns.
    world.mail.insert(account("A1"), server);
    world.advance(16 * MINUTE);
    assert_eq!(world.with_push("A1"), ["Notes"]);
    assert!(world.polled().is_empty());
}

//= spec/device-local.md#LOCAL-21
//= type=test
//# When the server does not list `XAPPLEPUSHSERVICE` after
//# authentication ([XAPS-2](imap-push.md#XAPS-2)), every monitored mailbox of the account is without
//# push
//= spec/device-local.md#LOCAL-15
//= type=test
//# For every registered mailbox without push, the mail client MUST
//# raise the mailbox's local notification once per poll interval, as if a push for it had arrived.
#[test]
fn a_server_without_push_gets_every_mailbox_polled() {
    let mut world = world_with(Scripted::new(Xaps::Absent));
    let tokens = world.register("A1", &["INBOX", "Notes"]);
    assert!(world.xaps_sent().is_empty());
    assert!(statuses(&world).contains(&PushStatus::Unsupported));
    assert_eq!(sorted(world.polled()), sorted(tokens.clone()));
    // Learning it concludes the registration: every token is woken (LOCAL-21).
    assert_eq!(sorted(world.take_wakes()), sorted(tokens.clone()));
    // Those wakes are not polls; the status counts the polls alone.
    let polls = |world: &World| world.client.status(world.now).scheduled_polls;
    assert_eq!(polls(&world), 0);
    world.advance(15 * MINUTE);
    assert_eq!(sorted(world.take_wakes()), sorted(tokens.clone()));
    assert_eq!(polls(&world), 2);
    world.advance(45 * MINUTE);
    assert_eq!(world.take_wakes().len(), 6);
    assert_eq!(polls(&world), 8);
}

//= spec/imap-push.md#XAPS-12
//= type=test
//# A client MUST accept both response forms of the grammar, MUST treat
//# every requested mailbox that is not named in a `mailbox` line of a version 2 reply as without push,
//# and MUST treat a version 1 reply as acknowledging `INBOX` alone.
#[test]
fn both_reply_forms_and_version_1_are_read() {
    let mut world = world_with(Scripted::new(Xaps::Version1));
    world.register("A1", &["Notes", "INBOX"]);
    assert_eq!(world.with_push("A1"), ["INBOX"]);
    let mut world = world_with(Scripted::new(Xaps::AllButLast));
    world.register("A1", &["Alpha", "Beta", "Gamma"]);
    assert_eq!(world.with_push("A1"), ["Alpha", "Beta"]);
    assert_eq!(world.polled(), [world.token("A1", "Gamma")]);
}

//= spec/device-local.md#LOCAL-21
//= type=test
//# A tagged `NO` or `BAD`, and learning that the server does
//# not offer the capability, conclude a registration like a reply: the mail client MUST raise the
//# local notification of every token of the account then too
#[test]
fn a_refusal_wakes_the_account_and_is_retried() {
    let mut world = world_with(Scripted::new(Xaps::Refused));
    assert!(matches!(
        statuses(&world).last(),
        Some(PushStatus::Refused { .. })
    ));
    // The set changed, but the next attempt waits for the retry delay.
    let tokens = world.register("A1", &["Notes"]);
    assert_eq!(world.xaps_sent().len(), 1);
    world.advance(5 * 1000);
    assert_eq!(world.xaps_sent().len(), 2);
    assert!(world.xaps_sent()[1].ends_with("mailboxes (Notes)"));
    assert_eq!(world.take_wakes(), tokens);
    assert!(world.with_push("A1").is_empty());
    assert_eq!(world.polled(), tokens);
    world.advance(MINUTE);
    assert!(world.xaps_sent().len() > 2);
}

#[test]
fn a_server_that_never_answers_is_given_up() {
    let mut world = world_with(Scripted::new(Xaps::Silent));
    world.register("A1", &["Notes"]);
    world.advance(61 * 1000);
    assert!(statuses(&world).iter().any(|s| matches!(
        s,
        PushStatus::Failed { reason, .. } if reason == "no answer in time"
    )));
    assert!(
        world
            .events
            .iter()
            .any(|e| matches!(e, Event::ImapClose { .. }))
    );
}

//= spec/device-local.md#LOCAL-15
//= type=test
//# When a later push registration reply acknowledges the mailbox, the mail client MUST
//# stop the schedule for it; when a reply no longer acknowledges a mailbox, the mail client MUST
//# start one.
#[test]
fn polls_start_and_stop_with_the_replies() {
    let mut world = world_with(MailServer::new(&["Notes"]));
    world.register("A1", &["Notes", "Later"]);
    let later = world.token("A1", "Later");
    let notes = world.token("A1", "Notes");
    assert_eq!(world.polled(), std::slice::from_ref(&later));
    world.take_wakes();
    world.advance(15 * MINUTE);
    assert_eq!(world.take_wakes(), std::slice::from_ref(&later));
    // The server gets Later and loses Notes; the next registration says so.
    mail(&world).create("Later");
    mail(&world).delete("Notes");
    world.register("A1", &["Other"]);
    assert_eq!(world.with_push("A1"), ["Later"]);
    assert_eq!(
        sorted(world.polled()),
        sorted(vec![notes.clone(), world.token("A1", "Other")])
    );
}

//= spec/device-local.md#LOCAL-16
//= type=test
//# The poll interval MUST be configurable per account.
#[test]
fn each_account_polls_at_its_own_interval() {
    let accounts = vec![account_config("A1", 60), account_config("A2", 900)];
    let mut world = World::new(config(accounts, 2), Disk::default());
    let fast = world.register("A1", &["Notes"]);
    let slow = world.register("A2", &["Notes"]);
    world.take_wakes();
    world.advance(30 * MINUTE);
    let wakes = world.take_wakes();
    assert_eq!(wakes.iter().filter(|t| **t == fast[0]).count(), 30);
    assert_eq!(wakes.iter().filter(|t| **t == slow[0]).count(), 2);
}

//= spec/device-local.md#LOCAL-23
//= type=test
//# While the mail client has no device token, or the push server has
//# refused its device token for good ([LOCAL-26](#LOCAL-26)), it MUST NOT send push registrations
//# with that token, and it MUST treat every monitored mailbox as without push
#[test]
fn without_a_device_token_nothing_is_registered_and_everything_polled() {
    let mut world = World::new(config(vec![account_config("A1", 900)], 4), Disk::default())
        .with_mail("A1", MailServer::new(&["Notes"]));
    let tokens = world.register("A1", &["Notes"]);
    world.advance(DAY);
    assert!(world.imap_connects().is_empty());
    assert_eq!(world.polled(), tokens);
    world.client.handle_device_credentials(device(), world.now);
    world.run();
    //= spec/device-local.md#LOCAL-20
    //= type=test
    //# when its device token changes
    assert_eq!(world.with_push("A1"), ["Notes"]);
    assert!(world.polled().is_empty());
}

/// The patent's path, every core real: a change in the mail server's store becomes a payload
/// of its notifier, is held in the push server's ring, crosses the device channel, and wakes
/// exactly the token of the changed mailbox.
#[test]
fn a_change_on_the_mail_server_wakes_the_token_of_its_mailbox() {
    let mut world = World::new(config(vec![account_config("A1", 900)], 9), disk())
        .with_mail("A1", MailServer::new(&["Notes", "Work"]))
        .with_push_server(PushServer::new(16));
    world.run();
    world.register("A1", &["Notes", "Work"]);
    world.advance(1);
    world.take_wakes();
    let payloads = mail(&world).payloads_for_change("Notes", world.now);
    assert_eq!(payloads.len(), 1);
    let (device_token, payload) = &payloads[0];
    assert_eq!(device_token, DEVICE_TOKEN);
    let now = world.now;
    world.push.as_mut().unwrap().push(payload, now);
    world.deliver();
    assert_eq!(world.take_wakes(), [world.token("A1", "Notes")]);
    assert_eq!(world.disk.cursor(), 1);
}

//= spec/imap-push.md#XAPS-13
//= type=test
//# a client matches payloads against the names it sent.
#[test]
fn names_are_sent_and_matched_octet_for_octet() {
    let mut world = World::new(config(vec![account_config("A1", 900)], 9), disk())
        .with_mail("A1", MailServer::new(&["My Notes", "Caf\u{e9}"]))
        .with_push_server(PushServer::new(16));
    world.register("A1", &["My Notes", "Caf\u{e9}"]);
    world.advance(1);
    assert_eq!(world.with_push("A1"), ["Caf\u{e9}", "My Notes"]);
    let sent = world.xaps_sent();
    // A quoted string, and a literal for the 8-bit name (non-synchronizing: LITERAL+).
    assert!(
        sent.last().unwrap().ends_with("mailboxes ({5+}"),
        "{sent:?}"
    );
    world.take_wakes();
    for name in ["Caf\u{e9}", "My Notes"] {
        let (_, payload) = mail(&world).payloads_for_change(name, world.now).remove(0);
        let now = world.now;
        world.push.as_mut().unwrap().push(&payload, now);
        world.deliver();
        assert_eq!(world.take_wakes(), [world.token("A1", name)]);
    }
}

//= spec/device-local.md#LOCAL-22
//= type=test
//# When the device token changes, every
//# monitored mailbox is without push until a reply to a registration made with the new token
//# acknowledges it.
#[test]
fn a_new_device_token_means_no_push_until_registered_again() {
    let mut world = world_with(MailServer::new(&["Notes"]));
    world.register("A1", &["Notes"]);
    assert_eq!(world.with_push("A1"), ["Notes"]);
    world.hold_imap = true;
    let fresh = support::credentials(&"ab".repeat(32), &"cd".repeat(32));
    world.client.handle_device_credentials(fresh, world.now);
    world.run();
    assert!(world.with_push("A1").is_empty());
    assert_eq!(world.polled(), [world.token("A1", "Notes")]);
    world.release_imap();
    assert!(world.xaps_sent().last().unwrap().contains(&"ab".repeat(32)));
    assert_eq!(world.with_push("A1"), ["Notes"]);
}

/// A mailbox that the mail server could not acknowledge (it was gone) is polled; when the DA
/// registers it again, having found it, the mail client registers push for it again, and only
/// then (a registration naming mailboxes that have push asks nothing).
//= spec/device-local.md#LOCAL-4
//= type=test
//# After a registration that names a registered mailbox the last
//# reply left without push
//= spec/device-local.md#LOCAL-15
//= type=test
//# When a later push registration reply acknowledges the mailbox, the mail client MUST stop the
//# schedule for it; when a reply no longer acknowledges a mailbox, the mail client MUST start one.
#[test]
fn a_mailbox_found_again_is_registered_for_push_again() {
    let mut world = world_with(MailServer::new(&["Notes", "Work"]));
    world.register("A1", &["Notes", "Work"]);
    assert_eq!(world.with_push("A1"), ["Notes", "Work"]);
    let sent = world.xaps_sent().len();
    world.register("A1", &["Notes", "Work"]);
    assert_eq!(world.xaps_sent().len(), sent);
    // Work is deleted; a registration that adds a mailbox is answered without it.
    mail(&world).delete("Work");
    world.register("A1", &["Notes", "Extra"]);
    assert_eq!(world.with_push("A1"), ["Notes"]);
    let work = world.token("A1", "Work");
    assert!(world.polled().contains(&work));
    // Created again and found by the DA, which registers it again: push is asked for once more.
    let sent = world.xaps_sent().len();
    mail(&world).create("Work");
    world.register("A1", &["Notes", "Work"]);
    assert_eq!(world.xaps_sent().len(), sent + 1);
    assert_eq!(world.with_push("A1"), ["Notes", "Work"]);
    assert!(!world.polled().contains(&work));
    // Nothing left out now: registering again asks nothing.
    world.register("A1", &["Work"]);
    assert_eq!(world.xaps_sent().len(), sent + 1);
}

/// A mail client that starts again wakes every token it stored at once, before any reply to its
/// push registration (which here never comes).
//= spec/device-local.md#LOCAL-27
//= type=test
//# So when the mail client starts, it MUST raise the local
//# notification of every registered token of the device, without waiting for the reply to its push
//# registration
#[test]
fn a_restarted_mail_client_wakes_every_token() {
    let mut world = world_with(MailServer::new(&["Notes", "Work"]));
    let mut tokens = world.register("A1", &["Notes", "Work"]);
    world.run();
    world.take_wakes();
    world.hold_imap = true;
    world.crash_and_restart();
    tokens.sort();
    assert_eq!(sorted(world.take_wakes()), tokens);
    // A fresh mail client has no token to wake.
    let mut fresh = World::new(config(vec![account_config("A1", 900)], 12), disk())
        .with_mail("A1", MailServer::new(&["Notes"]));
    fresh.hold_imap = true;
    fresh.run();
    assert!(fresh.take_wakes().is_empty());
}
