#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The data-access daemon against the mail server's IMAP session core, in process: each sync
//! method, the round-trip budget, UIDVALIDITY, wakes, failures, restarts.

mod da_support;

use std::time::Duration;

use da_support::{Cut, Offer, ServerChange, World, mailbox, note};
use mailpush_device_core::da::{Error, Event, Method, WakeOutcome};

fn world(offer: Offer) -> World {
    let mut w = World::new(offer, &["INBOX", "Notes", "Archive"], &["Notes"]);
    w.start();
    w
}

fn fill(w: &mut World, n: u32) {
    for i in 0..n {
        let flags: &[&str] = if i % 2 == 0 { &["\\Seen"] } else { &[] };
        w.server.append("Notes", &note(i), flags);
    }
}

#[test]
fn first_sync_lists_registers_and_downloads_everything() {
    for offer in Offer::ALL {
        let mut w = World::new(offer, &["INBOX", "Notes", "Archive"], &["Notes"]);
        fill(&mut w, 5);
        w.start();
        //= spec/device-local.md#LOCAL-1
        //= type=test
        //# Before registering, the DA MUST learn the names of the account's mailboxes from the
        //# mail server (an IMAP `LIST`)
        let list = w
            .commands
            .iter()
            .position(|c| matches!(c.body, mailpush_imap::CommandBody::List { .. }))
            .expect("LIST");
        let first_examine = w
            .commands
            .iter()
            .position(|c| matches!(c.body, mailpush_imap::CommandBody::Select { .. }))
            .expect("EXAMINE");
        assert!(list < first_examine);
        let register = w
            .events
            .iter()
            .find_map(|e| match e {
                Event::Register { mailboxes, .. } => Some(mailboxes.clone()),
                _ => None,
            })
            .expect("Register");
        assert_eq!(register, vec![mailbox("Notes")]);
        assert_eq!(w.completed.len(), 1, "{offer:?}");
        assert_eq!(w.completed[0].report.added, 5);
        //= spec/sync.md#SYNC-2
        //= type=test
        //# A successful sync MUST leave the view equal to the server's mailbox as the server
        //# reported it during the sync
        w.assert_converged("Notes");
        w.assert_read_only();
    }
}

//= spec/device-local.md#LOCAL-1
//= type=test
//# MUST register each monitored mailbox under its name exactly as
//# the server listed it
#[test]
fn registers_the_spelling_the_server_lists() {
    // INBOX is case-insensitive: configured as "inbox", registered as the server lists it.
    let mut w = World::new(
        Offer::QResync,
        &["INBOX", "Notes"],
        &["inbox", "Notes", "Missing"],
    );
    w.start();
    let (registered, missing) = (
        w.events.iter().find_map(|e| match e {
            Event::Register { mailboxes, .. } => Some(mailboxes.clone()),
            _ => None,
        }),
        w.events.iter().find_map(|e| match e {
            Event::MonitoredMissing { mailboxes } => Some(mailboxes.clone()),
            _ => None,
        }),
    );
    let registered = registered.unwrap();
    assert_eq!(registered.len(), 2);
    assert!(registered.iter().any(|m| m.as_wire() == b"INBOX"));
    assert!(registered.iter().any(|m| m.as_wire() == b"Notes"));
    assert_eq!(missing, Some(vec![mailbox("Missing")]));
}

#[test]
fn round_trip_budget_nothing_changed() {
    for offer in Offer::ALL {
        let mut w = world(offer);
        fill(&mut w, 3);
        w.sync("Notes");
        let c = w.sync("Notes");
        assert_eq!(c.report.method, offer.method());
        assert!(c.update.is_empty(), "{offer:?}: {:?}", c.update);
        //= spec/sync.md#SYNC-8
        //= type=test
        //# a sync MUST NOT take more than: with QRESYNC, 2
        //# round trips
        //= spec/sync.md#SYNC-8
        //= type=test
        //# with
        //# CONDSTORE, 1 round trip when the mailbox is unchanged
        assert_eq!(c.report.round_trips, 1, "{offer:?}");
        assert_eq!(c.flights, c.report.round_trips, "{offer:?}");
        w.assert_converged("Notes");
    }
}

/// The fetch of SYNC-25 that a QRESYNC sync of `view` sends with its open.
fn range_fetch_with_the_open(view: &mailpush_device_core::da::MailboxView) -> String {
    format!(
        "UID FETCH {}:* (FLAGS MODSEQ BODY.PEEK[]<0.1048577>) (CHANGEDSINCE {})",
        view.uid_next.unwrap(),
        view.highest_modseq.unwrap()
    )
}

#[test]
fn one_unchanged_mailbox_under_qresync_takes_one_round_trip() {
    let mut w = world(Offer::QResync);
    fill(&mut w, 50);
    w.sync("Notes");
    let view = w.engine.view(&mailbox("Notes")).unwrap().clone();
    let from = w.commands.len();
    let c = w.sync("Notes");
    assert_eq!((c.report.round_trips, c.flights), (1, 1));
    let sent = w.commands_since(from);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent[0].starts_with("EXAMINE Notes (QRESYNC ("), "{sent:?}");
    //= spec/sync.md#SYNC-25
    //= type=test
    //# `CHANGEDSINCE` keeps the
    //# answer empty when nothing was added, where `<lo>:*` alone would name the highest message of the
    //# mailbox
    assert_eq!(sent[1], range_fetch_with_the_open(&view));
    assert!(c.update.is_empty(), "{:?}", c.update);
}

#[test]
fn round_trip_budget_everything_changed() {
    for offer in Offer::ALL {
        let mut w = world(offer);
        fill(&mut w, 6);
        w.sync("Notes");
        // New messages, flag changes and expunges at once.
        let uids = w.server.uids("Notes");
        w.change(ServerChange::Expunge("Notes".into(), uids[0]));
        w.change(ServerChange::Expunge("Notes".into(), uids[3]));
        w.change(ServerChange::SetFlags(
            "Notes".into(),
            uids[1],
            vec!["\\Flagged"],
        ));
        w.change(ServerChange::SetFlags("Notes".into(), uids[2], vec![]));
        for i in 10..14 {
            w.change(ServerChange::Append("Notes".into(), note(i), vec!["$Note"]));
        }
        let c = w.sync("Notes");
        //= spec/sync.md#SYNC-8
        //= type=test
        //# with
        //# CONDSTORE, 1 round trip when the mailbox is unchanged and 3 otherwise (`SELECT`, the pipelined
        //# `UID FETCH`/`UID SEARCH`, the content fetch); with plain IMAP, 3 round trips
        //= spec/sync.md#SYNC-25
        //= type=test
        //# A sync whose `SELECT` reports no UID that the view lacks outside the range
        //# then takes 1 round trip
        let (expected, budget) = match offer {
            Offer::QResync => (1, 2),
            Offer::CondStore => (3, 3),
            // The flag fetch does not depend on the open's result: pipelined with it.
            Offer::Plain => (2, 3),
        };
        assert_eq!(c.report.round_trips, expected, "{offer:?}");
        assert!(c.report.round_trips <= budget);
        assert_eq!(c.flights, c.report.round_trips, "{offer:?}");
        assert_eq!(
            (c.report.added, c.report.removed, c.report.changed),
            (4, 2, 2),
            "{offer:?}"
        );
        w.assert_converged("Notes");
        w.assert_read_only();
    }
}

#[test]
fn qresync_opens_with_the_views_values_and_fetches_only_what_is_new() {
    let mut w = world(Offer::QResync);
    fill(&mut w, 4);
    w.sync("Notes");
    let view = w.engine.view(&mailbox("Notes")).unwrap().clone();
    let uids = w.server.uids("Notes");
    w.change(ServerChange::Expunge("Notes".into(), uids[1]));
    w.change(ServerChange::SetFlags(
        "Notes".into(),
        uids[2],
        vec!["\\Answered"],
    ));
    w.change(ServerChange::Append("Notes".into(), note(9), vec![]));
    let from = w.commands.len();
    let c = w.sync("Notes");
    let sent = w.commands_since(from);
    //= spec/sync.md#SYNC-4
    //= type=test
    //# With QRESYNC the DA MUST open the mailbox with
    //# `SELECT <mailbox> (QRESYNC (<uidvalidity> <highestmodseq> <known-uids>))`, where `<known-uids>` is
    //# the set of UIDs in its view
    assert_eq!(
        sent[0],
        format!(
            "EXAMINE Notes (QRESYNC ({} {} {}:{}))",
            view.uid_validity.unwrap(),
            view.highest_modseq.unwrap(),
            uids[0],
            uids[3]
        )
    );
    //= spec/sync.md#SYNC-4
    //= type=test
    //# and MUST then remove from its view every UID reported by
    //# `VANISHED (EARLIER)`, apply the flags of every `FETCH` response, and download the content of every
    //# UID reported that its view does not have
    assert_eq!(sent.len(), 2, "{sent:?}");
    //= spec/sync.md#SYNC-25
    //= type=test
    //# the DA SHOULD send the fetch of SYNC-4's range with the `SELECT`, in the same
    //# flight and before the `SELECT`'s answer, as
    //# `UID FETCH <lo>:* (FLAGS MODSEQ BODY.PEEK[]<0.L+1>) (CHANGEDSINCE <highestmodseq>)`
    assert_eq!(sent[1], range_fetch_with_the_open(&view));
    assert_eq!((c.report.round_trips, c.flights), (1, 1));
    assert_eq!(
        (c.report.added, c.report.removed, c.report.changed),
        (1, 1, 1)
    );
    w.assert_converged("Notes");
}

//= spec/sync.md#SYNC-4
//= type=test
//# The DA MUST ask for that second set as the UID range `<view's UIDNEXT>:<reported UIDNEXT − 1>`
//# whether or not the `SELECT` reported any of its messages
#[test]
fn qresync_fetches_what_was_added_since_from_a_server_that_reports_only_known_uids() {
    let mut w = World::new(Offer::QResync, &["INBOX", "Notes"], &["Notes"]);
    w.known_uids_only = true;
    w.start();
    fill(&mut w, 6);
    w.sync("Notes");
    let view = w.engine.view(&mailbox("Notes")).unwrap().clone();
    let uid_next = view.uid_next.unwrap().get();
    let uids = w.server.uids("Notes");
    w.change(ServerChange::Expunge("Notes".into(), uids[0]));
    w.change(ServerChange::SetFlags(
        "Notes".into(),
        uids[1],
        vec!["\\Flagged"],
    ));
    for i in 10..13 {
        w.change(ServerChange::Append("Notes".into(), note(i), vec!["$Note"]));
    }
    // Added and expunged between two syncs: inside the range, never returned, not missing.
    w.change(ServerChange::Append("Notes".into(), note(20), vec![]));
    let gone = *w.server.uids("Notes").last().unwrap();
    w.change(ServerChange::Expunge("Notes".into(), gone));
    let from = w.commands.len();
    let c = w.sync("Notes");
    let sent = w.commands_since(from);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        sent[1].starts_with(&format!("UID FETCH {uid_next}:* ")),
        "{sent:?}"
    );
    assert_eq!(
        (c.report.added, c.report.removed, c.report.changed),
        (3, 1, 1)
    );
    //= spec/sync.md#SYNC-25
    //= type=test
    //# The server runs it after the `SELECT`, so it returns every message
    //# of the range that is still there, and the range is not fetched again
    assert_eq!((c.report.round_trips, c.flights), (1, 1));
    w.assert_converged("Notes");
    // Nothing changed since: the UIDNEXT is the view's, one round trip.
    let c = w.sync("Notes");
    assert_eq!((c.report.round_trips, c.flights), (1, 1));
    assert!(c.update.is_empty(), "{:?}", c.update);
    w.assert_converged("Notes");
    w.assert_read_only();
}

#[test]
fn condstore_pipelines_changedsince_with_search() {
    let mut w = world(Offer::CondStore);
    fill(&mut w, 3);
    w.sync("Notes");
    let hms = w
        .engine
        .view(&mailbox("Notes"))
        .unwrap()
        .highest_modseq
        .unwrap();
    let uids = w.server.uids("Notes");
    w.change(ServerChange::Expunge("Notes".into(), uids[0]));
    let from = w.commands.len();
    let c = w.sync("Notes");
    let sent = w.commands_since(from);
    //= spec/sync.md#SYNC-5
    //= type=test
    //# With CONDSTORE the DA MUST open the mailbox with `SELECT <mailbox> (CONDSTORE)`.
    //= spec/sync.md#SYNC-5
    //= type=test
    //# Otherwise the DA MUST pipeline
    //# `UID FETCH 1:* (FLAGS) (CHANGEDSINCE <highestmodseq>)` with `UID SEARCH ALL`, remove from its view
    //# every UID that the search did not return
    assert_eq!(
        sent,
        [
            "EXAMINE Notes (CONDSTORE)".to_owned(),
            format!("UID FETCH 1:* FLAGS (CHANGEDSINCE {hms})"),
            "UID SEARCH ALL".to_owned(),
        ]
    );
    assert_eq!((c.report.removed, c.report.round_trips), (1, 2));
    w.assert_converged("Notes");
}

//= spec/sync.md#SYNC-5
//= type=test
//# If
//# UIDVALIDITY, HIGHESTMODSEQ, UIDNEXT and the message count all equal the view's, the mailbox is
//# unchanged and the sync is complete.
#[test]
fn condstore_unchanged_mailbox_is_one_examine() {
    let mut w = world(Offer::CondStore);
    fill(&mut w, 3);
    w.sync("Notes");
    let from = w.commands.len();
    w.sync("Notes");
    assert_eq!(w.commands_since(from), ["EXAMINE Notes (CONDSTORE)"]);
}

//= spec/sync.md#SYNC-6
//= type=test
//# Without CONDSTORE the DA MUST open the mailbox with `SELECT` (or `EXAMINE`), fetch
//# `UID FETCH 1:* (FLAGS)`, remove from its view every UID not returned, replace the flags of every
//# message returned, and download the content of every returned UID its view does not have.
#[test]
fn plain_lists_every_uid_and_fetches_what_is_new() {
    let mut w = world(Offer::Plain);
    fill(&mut w, 3);
    w.sync("Notes");
    let uids = w.server.uids("Notes");
    w.change(ServerChange::Expunge("Notes".into(), uids[2]));
    w.change(ServerChange::SetFlags(
        "Notes".into(),
        uids[0],
        vec!["\\Draft"],
    ));
    w.change(ServerChange::Append(
        "Notes".into(),
        note(7),
        vec!["\\Seen"],
    ));
    let from = w.commands.len();
    let c = w.sync("Notes");
    let new = w.server.uids("Notes")[2];
    assert_eq!(
        w.commands_since(from),
        [
            "EXAMINE Notes".to_owned(),
            "UID FETCH 1:* FLAGS".to_owned(),
            format!("UID FETCH {new} (FLAGS BODY.PEEK[]<0.1048577>)"),
        ]
    );
    assert_eq!(c.report.method, Method::Plain);
    assert_eq!(c.update.highest_modseq, None);
    w.assert_converged("Notes");
}

//= spec/sync.md#SYNC-1
//= type=test
//# The DA MUST synchronize with QRESYNC when the server advertises
//# `QRESYNC`, otherwise with CONDSTORE when it advertises `CONDSTORE`, otherwise with plain IMAP.
#[test]
fn method_follows_the_capabilities() {
    for offer in Offer::ALL {
        let w = world(offer);
        let started = w.events.iter().find_map(|e| match e {
            Event::SyncStarted { method, .. } => Some(*method),
            _ => None,
        });
        assert_eq!(started, Some(offer.method()));
    }
}

//= spec/sync.md#SYNC-1
//= type=test
//# When
//# it uses QRESYNC it MUST send `ENABLE QRESYNC` once per connection before its first `SELECT` or
//# `EXAMINE`.
#[test]
fn qresync_is_enabled_once_per_connection_before_the_first_examine() {
    let mut w = world(Offer::QResync);
    w.sync("Notes");
    w.sync("Notes");
    let texts = w.commands_since(0);
    let enables: Vec<usize> = texts
        .iter()
        .enumerate()
        .filter(|(_, t)| t.as_str() == "ENABLE QRESYNC")
        .map(|(i, _)| i)
        .collect();
    let first_examine = texts.iter().position(|t| t.starts_with("EXAMINE")).unwrap();
    assert_eq!(enables.len(), w.connects as usize);
    assert!(enables[0] < first_examine);
}

//= spec/sync.md#SYNC-1
//= type=test
//# When a `SELECT` answers `NOMODSEQ` the DA MUST use the plain method for that mailbox.
#[test]
fn nomodseq_mailbox_is_synchronized_by_the_plain_method() {
    for offer in [Offer::QResync, Offer::CondStore] {
        let mut w = World::new(offer, &["Notes"], &["Notes"]);
        w.nomodseq.insert(mailbox("Notes"));
        fill(&mut w, 3);
        w.start();
        let uids = w.server.uids("Notes");
        w.change(ServerChange::Expunge("Notes".into(), uids[0]));
        w.change(ServerChange::SetFlags(
            "Notes".into(),
            uids[1],
            vec!["\\Flagged"],
        ));
        w.change(ServerChange::Append("Notes".into(), note(5), vec![]));
        let from = w.commands.len();
        let c = w.sync("Notes");
        assert_eq!(c.report.method, Method::Plain, "{offer:?}");
        assert_eq!(c.update.highest_modseq, None);
        let sent = w.commands_since(from);
        assert!(sent.iter().any(|s| s == "UID FETCH 1:* FLAGS"), "{sent:?}");
        assert!(
            !sent
                .iter()
                .any(|s| s.contains("MODSEQ") || s.contains("SEARCH")),
            "{sent:?}"
        );
        assert!(c.report.round_trips <= 3);
        w.assert_converged("Notes");
    }
}

//= spec/sync.md#SYNC-3
//= type=test
//# When the UIDVALIDITY reported by `SELECT` differs from the view's, or the view has
//# none, the DA MUST discard the whole view of that mailbox (messages, flags, mod-sequences,
//# HIGHESTMODSEQ, UIDNEXT) and synchronize it in full.
#[test]
fn a_new_uidvalidity_discards_the_view() {
    for offer in Offer::ALL {
        let mut w = world(offer);
        fill(&mut w, 4);
        w.sync("Notes");
        let old: Vec<u32> = w.server.uids("Notes");
        w.change(ServerChange::Reset("Notes".into()));
        for i in 20..23 {
            w.change(ServerChange::Append("Notes".into(), note(i), vec![]));
        }
        let from = w.commands.len();
        let c = w.sync("Notes");
        assert!(c.update.reset, "{offer:?}");
        assert_eq!(c.report.added, 3);
        //= spec/sync.md#SYNC-3
        //= type=test
        //# It MUST NOT send cached UIDs or a cached
        //# mod-sequence in a request that concerns another UIDVALIDITY.
        // With QRESYNC the open's flight also carries the fetch of SYNC-25, which names the
        // view's UIDVALIDITY through the open; the requests that follow the open's answer are
        // the ones that must not carry cached values.
        let after_open = if offer == Offer::QResync { 2 } else { 1 };
        for s in &w.commands_since(from)[after_open..] {
            assert!(!s.contains("CHANGEDSINCE"), "{offer:?}: {s}");
            if let Some(set) = s.strip_prefix("UID FETCH ") {
                let set = set.split(' ').next().unwrap();
                for u in &old {
                    assert!(
                        !set.split(',').any(|r| r == u.to_string()),
                        "{offer:?}: cached UID {u} in {s}"
                    );
                }
            }
        }
        //= spec/sync.md#SYNC-18
        //= type=test
        //# When a `SELECT`
        //# with QRESYNC or CONDSTORE reports a UIDVALIDITY other than the view's, the DA MUST discard the view
        //# and download every message with one `UID FETCH 1:* (FLAGS MODSEQ BODY.PEEK[])`
        let expected_fetch = match offer {
            Offer::Plain => "UID FETCH 1:* FLAGS",
            _ => "UID FETCH 1:* (FLAGS MODSEQ BODY.PEEK[]<0.1048577>)",
        };
        assert_eq!(
            w.commands_since(from)[after_open],
            expected_fetch,
            "{offer:?}"
        );
        //= spec/sync.md#SYNC-25
        //= type=test
        //# when the `SELECT` reports another UIDVALIDITY,
        //# or `NOMODSEQ`, the DA MUST ignore what that fetch returned and how it completed
        assert_eq!(
            c.update
                .added
                .iter()
                .map(|m| m.uid.get())
                .collect::<Vec<_>>(),
            w.server.uids("Notes"),
            "{offer:?}"
        );
        assert!(c.report.round_trips <= 2, "{offer:?}");
        w.assert_converged("Notes");
    }
}

//= spec/sync.md#SYNC-18
//= type=test
//# When the view has no UIDVALIDITY or no HIGHESTMODSEQ (it was never
//# synchronized, or last by the plain method), the DA MUST send `UID FETCH 1:* (FLAGS)` with the
//# `SELECT`
#[test]
fn a_first_sync_lists_with_the_open_and_then_fetches_content() {
    for offer in Offer::ALL {
        let mut w = World::new(offer, &["Notes"], &["Notes"]);
        fill(&mut w, 3);
        w.start();
        let texts = w.commands_since(0);
        let open = texts.iter().position(|t| t.starts_with("EXAMINE")).unwrap();
        let expected_open = match offer {
            Offer::CondStore => "EXAMINE Notes (CONDSTORE)",
            _ => "EXAMINE Notes",
        };
        assert_eq!(texts[open], expected_open);
        assert_eq!(texts[open + 1], "UID FETCH 1:* FLAGS");
        assert!(
            texts[open + 2].starts_with("UID FETCH 1:3 (FLAGS"),
            "{texts:?}"
        );
        assert_eq!(w.completed[0].report.round_trips, 2);
        assert_eq!(w.completed[0].flights, 2);
        w.assert_converged("Notes");
    }
}

//= spec/sync.md#SYNC-15
//= type=test
//# When the `<known-uids>` of SYNC-4, written
//# as ranges, would exceed that, the DA MAY send instead the one range from the lowest to the highest
//# UID of its view: the server then may report in `VANISHED (EARLIER)` UIDs the view never had, which
//# the DA MUST ignore. A set of UIDs to fetch that would exceed it is split over several commands sent
//# together.
#[test]
fn fragmented_mailboxes_stay_within_the_command_length() {
    let mut w = World::new(Offer::QResync, &["Notes"], &["Notes"]);
    for i in 0..3000 {
        w.server.append("Notes", &note(i), &[]);
    }
    // Every other message expunged before the first sync: 1500 single UIDs to fetch.
    for uid in (2..=3000).step_by(2) {
        w.server.expunge("Notes", uid);
    }
    w.start();
    let first = &w.completed[0];
    assert_eq!(
        (first.report.added, first.report.round_trips, first.flights),
        (1500, 2, 2)
    );
    let texts = w.commands_since(0);
    let fetches: Vec<&String> = texts
        .iter()
        .filter(|t| t.starts_with("UID FETCH") && t.contains("BODY.PEEK"))
        .collect();
    assert!(fetches.len() > 1);
    for t in &texts {
        assert!(t.len() < 4000, "{} octets", t.len());
    }
    // Now the view's UIDs are 1,3,5…: QRESYNC sends their span, and the server's VANISHED
    // (EARLIER) may name UIDs the view never had.
    w.server.expunge("Notes", 1);
    w.server.expunge("Notes", 2999);
    w.server.append("Notes", &note(5000), &[]);
    let from = w.commands.len();
    let c = w.sync("Notes");
    let examine = &w.commands_since(from)[0];
    assert!(examine.contains(" 1:2999))"), "{examine}");
    assert_eq!(
        (c.report.removed, c.report.added, c.report.round_trips),
        (2, 1, 1)
    );
    w.assert_converged("Notes");
}

//= spec/sync.md#SYNC-7
//= type=test
//# If a sync fails before that, the DA MUST keep the previous values, so that the
//# next sync asks again from the older mod-sequence and nothing reported in between is lost.
#[test]
fn a_sync_cut_off_keeps_the_older_modseq_and_a_restart_asks_from_it() {
    let mut w = world(Offer::QResync);
    fill(&mut w, 2);
    w.sync("Notes");
    let before = w.store.views[&mailbox("Notes")].clone();
    let uids = w.server.uids("Notes");
    w.change(ServerChange::SetFlags(
        "Notes".into(),
        uids[0],
        vec!["\\Flagged"],
    ));
    w.change(ServerChange::Append("Notes".into(), note(3), vec![]));
    // The open's answer arrives (flags and the new UID), then the line drops during the
    // content fetch.
    w.cut_next_sync(Cut::Responses(12));
    w.wake("Notes");
    assert!(matches!(
        w.events.last(),
        Some(Event::SyncFailed {
            error: Error::ConnectionLost,
            ..
        })
    ));
    //= spec/sync.md#SYNC-13
    //= type=test
    //# The DA SHOULD publish the result of a sync to applications atomically
    assert_eq!(w.store.views[&mailbox("Notes")], before);
    // kill -9 and start again: the first sync asks from the stored, older HIGHESTMODSEQ.
    w.restart();
    let from = w.commands.len();
    w.pump();
    let sent = w.commands_since(from);
    let examine = sent.iter().find(|s| s.starts_with("EXAMINE")).unwrap();
    assert!(
        examine.contains(&format!(" {} ", before.highest_modseq.unwrap())),
        "{examine}"
    );
    w.assert_converged("Notes");
}

//= spec/sync.md#SYNC-9
//= type=test
//# A sync MUST NOT change the mailbox on the server: the DA
//# MUST fetch content with `BODY.PEEK` and MUST NOT store flags or expunge while synchronizing.
#[test]
fn syncing_never_changes_the_mailbox() {
    for offer in Offer::ALL {
        let mut w = World::new(offer, &["Notes"], &["Notes"]);
        // Unseen messages and a \Deleted one: a FETCH without PEEK or an EXPUNGE would show.
        w.server.append("Notes", &note(1), &[]);
        w.server.append("Notes", &note(2), &["\\Deleted"]);
        let hms = w.server.highest_modseq("Notes");
        let before = w.server.snapshot("Notes");
        w.start();
        w.sync("Notes");
        assert_eq!(w.server.highest_modseq("Notes"), hms, "{offer:?}");
        assert_eq!(w.server.snapshot("Notes"), before, "{offer:?}");
        w.change(ServerChange::Reset("Notes".into()));
        w.change(ServerChange::Append("Notes".into(), note(3), vec![]));
        let hms2 = w.server.highest_modseq("Notes");
        w.sync("Notes");
        assert_eq!(w.server.highest_modseq("Notes"), hms2, "{offer:?}");
        assert_ne!(w.server.snapshot("Notes"), before);
        w.assert_read_only();
    }
}

//= spec/sync.md#SYNC-10
//= type=test
//# A wake for a mailbox that arrives while that mailbox is being synchronized
//# MUST cause one more sync of it after the current one ends
//= spec/sync.md#SYNC-17
//= type=test
//# A sync starts when the DA sends the command that opens the mailbox
#[test]
fn wakes_during_a_sync_cause_exactly_one_more() {
    // A method whose sync of a new message takes more than one exchange (with QRESYNC it
    // takes one, SYNC-25).
    let mut w = world(Offer::CondStore);
    fill(&mut w, 2);
    let before = w.completed.len();
    let token = w.token("Notes");
    assert_eq!(w.engine.handle_wake(&token, w.now), WakeOutcome::Scheduled);
    // One exchange: the EXAMINE goes out and its answer comes back; the content fetch waits.
    w.step();
    assert!(matches!(w.events.last(), Some(Event::SyncStarted { .. })));
    assert_eq!(w.completed.len(), before);
    // A change and three wakes while it runs: one more sync, not three.
    w.change(ServerChange::Append("Notes".into(), note(9), vec![]));
    for _ in 0..3 {
        assert_eq!(
            w.engine.handle_wake(&token, w.now),
            WakeOutcome::AfterCurrentSync
        );
    }
    w.pump();
    assert_eq!(w.completed.len() - before, 2);
    w.assert_converged("Notes");
    // Nothing more follows.
    w.pump();
    assert_eq!(w.completed.len() - before, 2);
}

//= spec/device-local.md#LOCAL-11
//= type=test
//# It MAY merge wakes for the same token that arrive while a sync of
//# that mailbox has not yet started into one sync.
#[test]
fn wakes_before_a_sync_starts_merge() {
    let mut w = world(Offer::QResync);
    // An hour unused: the engine logs out, and the next wake must connect first.
    w.now = w.now.plus_ms(3_600_000);
    w.engine.handle_timeout(w.now);
    w.pump();
    assert!(matches!(w.events.last(), Some(Event::Close)));
    let before = w.completed.len();
    let token = w.token("Notes");
    // Three wakes before the sync can start: one sync.
    for _ in 0..3 {
        assert_eq!(w.engine.handle_wake(&token, w.now), WakeOutcome::Scheduled);
    }
    w.pump();
    assert_eq!(w.completed.len() - before, 1);
}

//= spec/device-local.md#LOCAL-11
//= type=test
//# The DA MUST treat every wake as a command to synchronize the
//# mailbox of that token
#[test]
fn every_wake_is_a_sync_even_when_nothing_changed() {
    for offer in Offer::ALL {
        let mut w = world(offer);
        let before = w.completed.len();
        for _ in 0..5 {
            w.sync("Notes");
        }
        assert_eq!(w.completed.len() - before, 5, "{offer:?}");
    }
}

//= spec/device-local.md#LOCAL-13
//= type=test
//# A wake for a token the DA did not
//# obtain from the mail client MUST be ignored: the DA MUST NOT synchronize a mailbox it has not
//# registered.
#[test]
fn a_wake_for_an_unknown_token_is_ignored() {
    let mut w = world(Offer::QResync);
    let from = w.commands.len();
    let stranger = mailpush_device_core::Token::new("not-a-token-of-ours").unwrap();
    assert_eq!(w.engine.handle_wake(&stranger, w.now), WakeOutcome::Ignored);
    w.pump();
    assert!(w.commands_since(from).is_empty());
}

//= spec/sync.md#SYNC-11
//= type=test
//# The DA MUST synchronize only mailboxes it monitors, that is, mailboxes
//# it has registered with the mail client
#[test]
fn only_registered_mailboxes_are_synchronized() {
    let mut w = World::new(Offer::QResync, &["INBOX", "Notes", "Archive"], &["Notes"]);
    w.auto_register = false;
    w.start();
    // Listed, registration asked, not answered: nothing is opened.
    assert!(w.pending_register.is_some());
    assert!(!w.commands_since(0).iter().any(|c| c.starts_with("EXAMINE")));
    let tokens = w.register(&w.pending_register.clone().unwrap());
    w.engine.handle_registered(tokens, w.now).unwrap();
    w.pump();
    for c in w.commands_since(0) {
        if c.starts_with("EXAMINE") {
            assert!(c.starts_with("EXAMINE Notes"), "{c}");
        }
    }
}

//= spec/device-local.md#LOCAL-14
//= type=test
//# When it starts, the DA MUST register (or register again) every mailbox it monitors
//# ([LOCAL-2](#LOCAL-2)) and then synchronize each of them once before relying on wakes
#[test]
fn a_start_registers_again_and_synchronizes_each_mailbox_once() {
    let mut w = World::new(
        Offer::QResync,
        &["INBOX", "Notes", "Work"],
        &["Notes", "Work"],
    );
    w.start();
    let tokens = w.tokens.clone();
    w.server.append("Work", &note(1), &[]);
    w.restart();
    let before = w.completed.len();
    let registers = w.events.len();
    w.pump();
    let again = w.events[registers..]
        .iter()
        .filter(|e| matches!(e, Event::Register { .. }))
        .count();
    assert_eq!(again, 1);
    assert_eq!(
        w.tokens, tokens,
        "the mail client gives the same tokens back"
    );
    let synced: Vec<_> = w.completed[before..]
        .iter()
        .map(|c| c.report.mailbox.clone())
        .collect();
    assert_eq!(synced.len(), 2);
    assert!(synced.contains(&mailbox("Notes")) && synced.contains(&mailbox("Work")));
    w.assert_converged("Work");
}

//= spec/sync.md#SYNC-12
//= type=test
//# When a sync fails (connection lost, `NO`, `BAD`, timeout) the DA MUST keep the mailbox
//# marked as needing a sync and MUST retry with an increasing delay until a sync succeeds
#[test]
fn failures_are_retried_with_increasing_delays() {
    let mut w = world(Offer::QResync);
    fill(&mut w, 2);
    let view = w.store.views[&mailbox("Notes")].clone();
    w.change(ServerChange::Append("Notes".into(), note(8), vec![]));
    let mut delays = Vec::new();
    for attempt in 0..6 {
        w.cut_next_sync(Cut::Octets(10));
        if attempt == 0 {
            w.wake("Notes");
        } else {
            assert!(w.tick(Duration::from_secs(1000)));
            while !matches!(w.events.last(), Some(Event::SyncFailed { .. })) {
                assert!(w.tick(Duration::from_secs(1000)));
            }
        }
        let Some(Event::SyncFailed {
            retry_at, error, ..
        }) = w.events.last().cloned()
        else {
            panic!("no failure: {:?}", w.events.last())
        };
        assert_eq!(error, Error::ConnectionLost);
        delays.push((retry_at.0 - w.now.0) / 1000);
        //= spec/sync.md#SYNC-12
        //= type=test
        //# A failed sync MUST leave the view as it was before the sync
        assert_eq!(w.store.views[&mailbox("Notes")], view);
    }
    assert_eq!(delays, [1, 2, 4, 8, 16, 32]);
    // The next attempt is not cut: it succeeds and the delays start over.
    let c = w.finish("Notes", w.completed.len());
    assert_eq!(c.report.added, 3);
    w.assert_converged("Notes");
}

#[test]
fn a_wake_during_a_long_retry_delay_brings_the_retry_forward() {
    let mut w = world(Offer::QResync);
    for _ in 0..8 {
        w.cut_next_sync(Cut::Octets(10));
        let before = w.events.len();
        w.wake("Notes");
        while !w.events[before..]
            .iter()
            .any(|e| matches!(e, Event::SyncFailed { .. }))
        {
            assert!(w.tick(Duration::from_secs(1000)));
        }
    }
    // Eight failures: the next retry is 128 s away; a wake makes it due 1 s after the failure.
    w.server.append("Notes", &note(1), &[]);
    let token = w.token("Notes");
    w.engine.handle_wake(&token, w.now);
    w.pump();
    let due = w.engine.poll_timeout().unwrap();
    assert!(due <= w.now.plus_ms(1000), "{:?}", due.0 - w.now.0);
    let c = w.finish("Notes", w.completed.len());
    assert_eq!(c.report.added, 1);
}

#[test]
fn a_server_that_stops_answering_times_out() {
    let mut w = world(Offer::QResync);
    w.cut_next_sync(Cut::Responses(0));
    // The harness drops the line without telling the engine... emulate a silent server by
    // never delivering: the response timeout fires.
    let token = w.token("Notes");
    w.engine.handle_wake(&token, w.now);
    // Send the commands into the void.
    let _ = w.engine.poll_event();
    while w.engine.poll_transmit().is_some() {}
    let deadline = w.engine.poll_timeout().unwrap();
    assert_eq!(deadline.0 - w.now.0, 60_000);
    w.now = deadline;
    w.engine.handle_timeout(w.now);
    let mut saw = false;
    while let Some(e) = w.engine.poll_event() {
        if let Event::SyncFailed { error, .. } = &e {
            assert_eq!(*error, Error::Timeout(Duration::from_secs(60)));
            saw = true;
        }
    }
    assert!(saw);
}

//= spec/sync.md#SYNC-16
//= type=test
//# A `VANISHED` response without `(EARLIER)`, or an `EXPUNGE`, that arrives during a sync
#[test]
fn an_expunge_during_the_content_fetch_is_applied() {
    for offer in Offer::ALL {
        let mut w = world(offer);
        fill(&mut w, 3);
        w.sync("Notes");
        w.server.append("Notes", &note(10), &[]);
        w.server.append("Notes", &note(11), &[]);
        let uids = w.server.uids("Notes");
        let (doomed_new, doomed_old, touched) = (uids[3], uids[0], uids[1]);
        // Just before the server reads the content fetch, another client expunges one of the
        // messages being fetched and one the view has, and flags another.
        // QRESYNC fetches the new messages in the open's flight (SYNC-25): the changes come
        // just before the server reads it, so the range is fetched after them.
        let content_flight = match offer {
            Offer::CondStore => 3,
            Offer::Plain => 2,
            Offer::QResync => 1,
        };
        w.change_during_sync(
            content_flight,
            ServerChange::Expunge("Notes".into(), doomed_new),
        );
        w.change_during_sync(
            content_flight,
            ServerChange::Expunge("Notes".into(), doomed_old),
        );
        w.change_during_sync(
            content_flight,
            ServerChange::SetFlags("Notes".into(), touched, vec!["\\Flagged"]),
        );
        let c = w.sync("Notes");
        assert_eq!(c.report.added, 1, "{offer:?}: {:?}", c.update);
        assert_eq!(c.report.removed, 1, "{offer:?}: {:?}", c.update);
        assert!(w.failures().is_empty(), "{offer:?}: {:?}", w.failures());
        w.assert_converged("Notes");
        // The next sync finds nothing more to do than what the stored values say.
        let again = w.sync("Notes");
        assert!(
            again.update.is_empty() || offer != Offer::QResync,
            "{again:?}"
        );
        w.assert_converged("Notes");
    }
}

#[test]
fn a_mailbox_that_starts_answering_nomodseq_is_listed_in_full() {
    let mut w = world(Offer::QResync);
    fill(&mut w, 3);
    w.sync("Notes");
    assert!(w.store.views[&mailbox("Notes")].highest_modseq.is_some());
    let uids = w.server.uids("Notes");
    w.change(ServerChange::Expunge("Notes".into(), uids[2]));
    w.nomodseq.insert(mailbox("Notes"));
    w.restart();
    let before = w.completed.len();
    w.pump();
    // EXAMINE (QRESYNC …) answers NOMODSEQ: the flag listing follows, nothing is new.
    let c = &w.completed[before];
    assert_eq!(c.report.method, Method::Plain);
    assert_eq!((c.report.removed, c.report.round_trips), (1, 2));
    assert_eq!(c.update.highest_modseq, None);
    w.assert_converged("Notes");
}

#[test]
fn starttls_and_login_against_the_server() {
    let mut config = da_support::config(&["Notes"]);
    config.security = mailpush_device_core::da::Security::StartTls;
    config.auth = mailpush_device_core::da::AuthMechanism::Login;
    let mut w = World::with_config(Offer::QResync, &["Notes"], config);
    fill(&mut w, 2);
    w.start();
    assert!(w.events.contains(&Event::StartTls));
    let texts = w.commands_since(0);
    let starttls = texts.iter().position(|t| t == "STARTTLS").unwrap();
    let login = texts.iter().position(|t| t.starts_with("LOGIN")).unwrap();
    assert!(starttls < login);
    w.assert_converged("Notes");
}

#[test]
fn imaps_and_authenticate_plain_without_sasl_ir() {
    let mut config = da_support::config(&["Notes"]);
    config.security = mailpush_device_core::da::Security::Implicit;
    let mut w = World::with_config(Offer::CondStore, &["Notes"], config);
    w.hide.push("SASL-IR".into());
    fill(&mut w, 2);
    w.start();
    assert!(!w.events.contains(&Event::StartTls));
    assert!(
        w.commands_since(0)
            .iter()
            .any(|t| t == "AUTHENTICATE PLAIN")
    );
    w.assert_converged("Notes");
}

#[test]
fn accounts_do_not_share_tokens() {
    let mut a = world(Offer::QResync);
    let mut b = World::new(Offer::Plain, &["Notes"], &["Notes"]);
    b.next_token_offset(1000);
    b.start();
    assert_ne!(a.token("Notes"), b.token("Notes"));
    let foreign = b.token("Notes");
    assert_eq!(a.engine.handle_wake(&foreign, a.now), WakeOutcome::Ignored);
    a.pump();
    b.assert_converged("Notes");
}

fn lists(w: &World) -> usize {
    w.commands
        .iter()
        .filter(|c| matches!(c.body, mailpush_imap::CommandBody::List { .. }))
        .count()
}

fn opens(w: &World, name: &str) -> usize {
    w.commands
        .iter()
        .filter(|c| matches!(&c.body, mailpush_imap::CommandBody::Select { mailbox: m, .. } if *m == mailbox(name)))
        .count()
}

/// A configured mailbox deleted on the server: the sync that finds it gone lists again and is
/// not retried; the mailbox keeps its token, and once created again the wake of its token (a
/// poll, or the push for its creation) synchronizes it, after which the DA lists and registers
/// again.
//= spec/sync.md#SYNC-23
//= type=test
//# The DA MUST then end the sync
//# without retrying it ([SYNC-12](#SYNC-12)) and leave the view as it was, MUST list the account's
//# mailboxes again
//= spec/sync.md#SYNC-23
//= type=test
//# A mailbox that the DA is configured to monitor and that the
//# list no longer shows MUST keep its token and stay monitored
//= spec/sync.md#SYNC-23
//= type=test
//# when a sync
//# of it succeeds again the DA MUST list and register again
//= spec/device-local.md#LOCAL-6
//= type=test
//# the DA SHOULD unregister them when a `LIST` no longer shows them,
//# except the tokens of mailboxes it is configured to monitor, which it keeps
#[test]
fn a_configured_mailbox_that_is_gone_keeps_its_token_until_it_is_found_again() {
    let mut w = World::new(Offer::QResync, &["Notes", "Work"], &["Notes", "Work"]);
    fill(&mut w, 1);
    w.server.append("Work", &note(7), &[]);
    w.start();
    w.assert_converged("Work");
    let token = w.token("Work");
    let view = w.engine.view(&mailbox("Work")).cloned();
    w.server
        .store
        .delete_mailbox(w.server.user, "Work")
        .unwrap();
    let (lists_before, events_before) = (lists(&w), w.events.len());
    let gone = Event::MailboxGone {
        mailbox: mailbox("Work"),
    };
    w.wake("Work");
    // The session that had Work selected may end first (BYE); the retry then finds it gone.
    for _ in 0..5 {
        if w.events[events_before..].contains(&gone) {
            break;
        }
        w.tick(Duration::from_secs(3600));
    }
    let at = w
        .events
        .iter()
        .rposition(|e| *e == gone)
        .expect("MailboxGone");
    assert!(at >= events_before);
    w.pump();
    let after = &w.events[at..];
    assert!(
        !after
            .iter()
            .any(|e| matches!(e, Event::SyncFailed { .. } | Event::Unmonitored { .. })),
        "{after:?}"
    );
    assert!(lists(&w) > lists_before);
    assert_eq!(w.engine.view(&mailbox("Work")).cloned(), view);
    assert_eq!(w.engine.token(&mailbox("Work")), Some(&token));
    // Not retried: hours pass and Work is not opened again.
    let opened = opens(&w, "Work");
    for _ in 0..5 {
        w.tick(Duration::from_secs(3600));
    }
    assert_eq!(opens(&w, "Work"), opened);
    // Created again under its name: the next wake of its token synchronizes it.
    w.server
        .store
        .create_mailbox(w.server.user, "Work")
        .unwrap();
    w.server.append("Work", &note(8), &[]);
    let lists_before = lists(&w);
    let registers_before = w
        .events
        .iter()
        .filter(|e| matches!(e, Event::Register { .. }))
        .count();
    assert_eq!(w.wake("Work"), WakeOutcome::Scheduled);
    w.pump();
    w.assert_converged("Work");
    assert_eq!(lists(&w), lists_before + 1);
    let registered = w.events.iter().filter_map(|e| match e {
        Event::Register { mailboxes, .. } => Some(mailboxes.clone()),
        _ => None,
    });
    let registered: Vec<Vec<_>> = registered.skip(registers_before).collect();
    assert!(
        registered.iter().any(|r| r.contains(&mailbox("Work"))),
        "{registered:?}"
    );
    assert_eq!(w.engine.token(&mailbox("Work")), Some(&token));
}

/// A configured mailbox that the DA never held has no token to keep: it is reported missing.
#[test]
fn a_configured_mailbox_never_held_is_reported_missing() {
    let mut w = World::new(Offer::QResync, &["Notes"], &["Notes", "Work"]);
    w.start();
    // Work does not exist, and the DA never held it: nothing to keep, reported missing.
    assert!(w.engine.token(&mailbox("Work")).is_none());
    assert!(w.events.iter().any(|e| matches!(e, Event::MonitoredMissing { mailboxes } if *mailboxes == vec![mailbox("Work")])));
}

#[test]
fn a_commit_that_fails_is_synchronized_again_from_the_stored_view() {
    let mut w = world(Offer::QResync);
    fill(&mut w, 2);
    let stored = w.store.views[&mailbox("Notes")].clone();
    let c = w.sync("Notes");
    assert_eq!(c.report.added, 2);
    // The driver's transaction failed: its store still holds `stored`. It says so.
    w.store.views.insert(mailbox("Notes"), stored.clone());
    w.engine.handle_commit_failed(stored.clone(), w.now);
    assert_eq!(w.engine.view(&mailbox("Notes")), Some(&stored));
    let before = w.completed.len();
    w.pump();
    assert!(matches!(
        w.events
            .iter()
            .rev()
            .find(|e| matches!(e, Event::SyncFailed { .. })),
        Some(Event::SyncFailed {
            error: Error::CommitFailed,
            ..
        })
    ));
    let again = w.finish("Notes", before);
    assert_eq!(again.report.added, 2, "the lost update is fetched again");
    w.assert_converged("Notes");
}

#[test]
fn a_registration_the_mail_client_cannot_answer_is_asked_again() {
    let mut w = World::new(Offer::QResync, &["Notes"], &["Notes"]);
    w.auto_register = false;
    w.start();
    assert!(w.pending_register.take().is_some());
    w.engine.handle_registration_failed(w.now);
    w.pump();
    // After the retry delay the engine lists and asks again.
    assert!(w.tick(Duration::from_secs(10)));
    let asked = w.pending_register.take().expect("asked again");
    let tokens = w.register(&asked);
    w.engine.handle_registered(tokens, w.now).unwrap();
    w.pump();
    assert_eq!(w.completed.len(), 1);
    // An answer nobody asked for is refused.
    let tokens = w.register(&asked);
    assert_eq!(
        w.engine.handle_registered(tokens, w.now),
        Err(mailpush_device_core::da::RegistrationError::NotRequested)
    );
}
