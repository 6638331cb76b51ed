#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Application writes through the DA (SYNC-19 … SYNC-22): against the mail server's IMAP session
//! core (which offers UIDPLUS), and scripted for a server without UIDPLUS.

mod da_support;

use std::num::NonZeroU32;

use da_support::scripted::Scripted;
use da_support::{Offer, ServerChange, World, config, mailbox, note};
use mailpush_device_core::da::{
    Error, Event, FlagChange, OperationId, WriteError, WriteOutcome, WriteRequest,
};
use mailpush_imap::{CommandBody, Flag};

fn world(offer: Offer) -> World {
    let mut w = World::new(offer, &["Notes", "INBOX"], &["Notes"]);
    w.start();
    w
}

fn write(w: &mut World, request: WriteRequest) -> OperationId {
    let id = w.engine.handle_write(request, w.now).unwrap();
    w.pump();
    id
}

/// The result reported for `id`, and where it is among the events.
fn result_in(events: &[Event], id: OperationId) -> (usize, Result<WriteOutcome, Error>) {
    let found: Vec<(usize, Result<WriteOutcome, Error>)> = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e {
            Event::WriteCompleted { id: n, outcome, .. } if *n == id => {
                Some((i, Ok(outcome.clone())))
            }
            Event::WriteFailed { id: n, error, .. } if *n == id => Some((i, Err(error.clone()))),
            _ => None,
        })
        .collect();
    //= spec/sync.md#SYNC-19
    //= type=test
    //# the DA MUST report exactly one
    //# result under that id
    assert_eq!(found.len(), 1, "results for {id:?}: {found:?}");
    found[0].clone()
}

fn result(w: &World, id: OperationId) -> (usize, Result<WriteOutcome, Error>) {
    result_in(&w.events, id)
}

/// A sync of Notes completed after event `after`.
fn synced_after(w: &World, after: usize) -> bool {
    w.events[after..].iter().any(
        |e| matches!(e, Event::SyncCompleted { report, .. } if report.mailbox == mailbox("Notes")),
    )
}

fn validity(w: &World) -> NonZeroU32 {
    w.store.views[&mailbox("Notes")].uid_validity.unwrap()
}

#[test]
fn append_store_and_expunge_show_in_the_view_after_the_following_sync() {
    for offer in Offer::ALL {
        let mut w = world(offer);
        let id = write(
            &mut w,
            WriteRequest::Append {
                mailbox: mailbox("Notes"),
                flags: vec![Flag::Seen],
                message: note(1),
            },
        );
        let (at, outcome) = result(&w, id);
        let Ok(WriteOutcome::Appended {
            uid: Some((v, uid)),
        }) = outcome
        else {
            panic!("{offer:?}: {outcome:?}");
        };
        assert_eq!(v, validity(&w));
        //= spec/sync.md#SYNC-19
        //= type=test
        //# after a successful write to a monitored
        //# mailbox the DA MUST synchronize that mailbox
        assert!(synced_after(&w, at), "{offer:?}: no sync after the append");
        let view = &w.store.views[&mailbox("Notes")];
        assert!(view.messages[&uid].flags.contains(&Flag::Seen));
        w.assert_converged("Notes");

        let id = write(
            &mut w,
            WriteRequest::Store {
                mailbox: mailbox("Notes"),
                uid_validity: v,
                uids: vec![uid],
                change: FlagChange::Add,
                flags: vec![Flag::Flagged],
            },
        );
        let (at, outcome) = result(&w, id);
        assert_eq!(outcome, Ok(WriteOutcome::Stored), "{offer:?}");
        assert!(synced_after(&w, at));
        assert!(
            w.store.views[&mailbox("Notes")].messages[&uid]
                .flags
                .contains(&Flag::Flagged)
        );
        w.assert_converged("Notes");

        let id = write(
            &mut w,
            WriteRequest::Expunge {
                mailbox: mailbox("Notes"),
                uid_validity: v,
                uids: vec![uid],
            },
        );
        let (at, outcome) = result(&w, id);
        assert_eq!(
            outcome,
            Ok(WriteOutcome::Expunged { uid_expunge: true }),
            "{offer:?}"
        );
        assert!(synced_after(&w, at));
        assert!(!w.store.views[&mailbox("Notes")].messages.contains_key(&uid));
        w.assert_converged("Notes");
    }
}

#[test]
fn writes_select_and_expunge_only_what_they_name() {
    let mut w = world(Offer::QResync);
    let a = w.server.append("Notes", &note(1), &[]).0;
    let b = w.server.append("Notes", &note(2), &[]).0;
    w.sync("Notes");
    // Another client marked b \Deleted and may still undelete it.
    w.change(ServerChange::SetFlags("Notes".into(), b, vec!["\\Deleted"]));
    let from = w.commands.len();
    let v = validity(&w);
    let id = write(
        &mut w,
        WriteRequest::Expunge {
            mailbox: mailbox("Notes"),
            uid_validity: v,
            uids: vec![NonZeroU32::new(a).unwrap()],
        },
    );
    assert!(result(&w, id).1.is_ok());
    let sent = w.commands_since(from);
    //= spec/sync.md#SYNC-21
    //= type=test
    //# The DA MUST open the mailbox with
    //# `SELECT` (read-write; `EXAMINE` cannot change it)
    assert!(sent[0].ends_with("SELECT Notes"), "{sent:?}");
    //= spec/sync.md#SYNC-22
    //= type=test
    //# To expunge messages named by UID the DA MUST first set `\Deleted` on them
    //# (`UID STORE <uids> +FLAGS.SILENT (\Deleted)`) and then, when the server lists `UIDPLUS`, send
    //# `UID EXPUNGE <uids>`
    assert!(
        sent[1].ends_with(&format!("UID STORE {a} +FLAGS.SILENT (\\Deleted)")),
        "{sent:?}"
    );
    assert!(sent[2].ends_with(&format!("UID EXPUNGE {a}")), "{sent:?}");
    assert!(
        !sent.iter().any(|c| c == "EXPUNGE" || c == "CLOSE"),
        "{sent:?}"
    );
    assert_eq!(w.server.uids("Notes"), [b]);
    w.assert_converged("Notes");
}

#[test]
fn a_stale_uid_validity_fails_the_write_without_changing_anything() {
    let mut w = world(Offer::CondStore);
    let uid = w.server.append("Notes", &note(1), &[]).0;
    w.sync("Notes");
    let stale = validity(&w);
    // The mailbox is recreated: the UIDs the application holds now name other messages.
    w.change(ServerChange::Reset("Notes".into()));
    w.server.append("Notes", &note(2), &[]);
    let before = w.server.snapshot("Notes");
    let from = w.commands.len();
    let id = write(
        &mut w,
        WriteRequest::Store {
            mailbox: mailbox("Notes"),
            uid_validity: stale,
            uids: vec![NonZeroU32::new(uid).unwrap()],
            change: FlagChange::Replace,
            flags: vec![Flag::Deleted],
        },
    );
    //= spec/sync.md#SYNC-21
    //= type=test
    //# when the `SELECT` reports another UIDVALIDITY
    //# it MUST fail the write without changing anything
    let (_, outcome) = result(&w, id);
    assert!(
        matches!(outcome, Err(Error::UidValidityChanged { expected, .. }) if expected == stale.get())
    );
    let sent = w.commands_since(from);
    assert!(!sent.iter().any(|c| c.contains("UID STORE")), "{sent:?}");
    assert_eq!(w.server.snapshot("Notes"), before);
}

#[test]
fn creating_a_monitored_mailbox_registers_and_syncs_it() {
    let mut w = World::new(Offer::QResync, &["INBOX"], &["Notes"]);
    w.start();
    assert!(
        w.events
            .iter()
            .any(|e| matches!(e, Event::MonitoredMissing { .. }))
    );
    assert!(w.engine.token(&mailbox("Notes")).is_none());
    let id = write(
        &mut w,
        WriteRequest::CreateMailbox {
            mailbox: mailbox("Notes"),
        },
    );
    let (at, outcome) = result(&w, id);
    assert_eq!(outcome, Ok(WriteOutcome::Created));
    //= spec/sync.md#SYNC-19
    //= type=test
    //# After creating a
    //# mailbox it monitors, the DA lists and registers again
    assert!(
        w.events[at..]
            .iter()
            .any(|e| matches!(e, Event::Register { .. }))
    );
    assert!(w.engine.token(&mailbox("Notes")).is_some());
    assert!(synced_after(&w, at));
    // Creating it again: the server's NO is the result.
    let id = write(
        &mut w,
        WriteRequest::CreateMailbox {
            mailbox: mailbox("Notes"),
        },
    );
    assert!(matches!(
        result(&w, id).1,
        Err(Error::CommandFailed {
            command: "CREATE",
            ..
        })
    ));
}

#[test]
fn bad_writes_are_refused_before_anything_is_sent() {
    let mut c = config(&["Notes"]);
    c.limits.max_message_octets = 100;
    c.limits.max_pending_writes = 2;
    let mut w = World::with_config(Offer::QResync, &["Notes"], c);
    w.start();
    let v = NonZeroU32::new(1).unwrap();
    let refused = |w: &mut World, request| w.engine.handle_write(request, w.now).unwrap_err();
    //= spec/sync.md#SYNC-20
    //= type=test
    //# The DA MUST refuse, without sending anything, an append larger
    //# than its size limit L
    let big = WriteRequest::Append {
        mailbox: mailbox("Notes"),
        flags: vec![],
        message: vec![b'x'; 101],
    };
    assert_eq!(
        refused(&mut w, big),
        WriteError::TooLarge {
            octets: 101,
            limit: 100
        }
    );
    let empty = WriteRequest::Append {
        mailbox: mailbox("Notes"),
        flags: vec![],
        message: vec![],
    };
    assert_eq!(refused(&mut w, empty), WriteError::EmptyMessage);
    //= spec/sync.md#SYNC-20
    //= type=test
    //# a flag change or an expunge that names no UID, and a flag change that names `\Recent`
    let none = WriteRequest::Expunge {
        mailbox: mailbox("Notes"),
        uid_validity: v,
        uids: vec![],
    };
    assert_eq!(refused(&mut w, none), WriteError::NoUids);
    let recent = WriteRequest::Store {
        mailbox: mailbox("Notes"),
        uid_validity: v,
        uids: vec![v],
        change: FlagChange::Add,
        flags: vec![Flag::Recent],
    };
    assert_eq!(refused(&mut w, recent), WriteError::RecentFlag);
    assert_eq!(w.engine.poll_transmit(), None);
    // The connection is gone and not back yet: writes wait, up to the bound.
    w.drop_connection();
    let append = |n| WriteRequest::Append {
        mailbox: mailbox("Notes"),
        flags: vec![],
        message: note(n),
    };
    w.engine.handle_write(append(1), w.now).unwrap();
    w.engine.handle_write(append(2), w.now).unwrap();
    assert_eq!(refused(&mut w, append(3)), WriteError::QueueFull(2));
}

#[test]
fn writes_run_in_order_between_syncs() {
    let mut w = world(Offer::QResync);
    let from = w.commands.len();
    // A wake starts a sync at once; the writes wait for it to end.
    let token = w.token("Notes");
    w.engine.handle_wake(&token, w.now);
    let ids: Vec<OperationId> = (1..=3)
        .map(|n| {
            let request = WriteRequest::Append {
                mailbox: mailbox("Notes"),
                flags: vec![Flag::Seen],
                message: note(n),
            };
            w.engine.handle_write(request, w.now).unwrap()
        })
        .collect();
    w.pump();
    //= spec/sync.md#SYNC-19
    //= type=test
    //# It
    //# MUST perform the writes it accepted one at a time, in the order it accepted them.
    let at: Vec<usize> = ids.iter().map(|id| result(&w, *id).0).collect();
    assert!(at.windows(2).all(|p| p[0] < p[1]), "{at:?}");
    assert!(ids.windows(2).all(|p| p[0] < p[1]));
    //= spec/sync.md#SYNC-19
    //= type=test
    //# The DA MUST NOT run a write and a sync on one connection
    //# at the same time
    let sent = w.commands_since(from);
    let examine = sent.iter().position(|c| c.contains("EXAMINE")).unwrap();
    let first_append = sent.iter().position(|c| c.contains("APPEND")).unwrap();
    assert!(examine < first_append, "{sent:?}");
    let appends: Vec<usize> = (0..sent.len())
        .filter(|i| sent[*i].contains("APPEND"))
        .collect();
    assert_eq!(appends.len(), 3);
    w.assert_converged("Notes");
    assert_eq!(w.store.views[&mailbox("Notes")].messages.len(), 3);
}

#[test]
fn a_write_cut_off_is_reported_failed_and_not_repeated() {
    let mut w = world(Offer::QResync);
    let id = w
        .engine
        .handle_write(
            WriteRequest::Append {
                mailbox: mailbox("Notes"),
                flags: vec![],
                message: note(1),
            },
            w.now,
        )
        .unwrap();
    // The APPEND is written, and the connection breaks before any answer.
    assert!(w.engine.poll_transmit().is_some());
    w.drop_connection();
    w.pump();
    //= spec/sync.md#SYNC-19
    //= type=test
    //# the DA reports it failed and MUST NOT repeat it on its own
    assert_eq!(result(&w, id).1, Err(Error::ConnectionLost));
    while w.tick(std::time::Duration::from_secs(3600)) {}
    w.sync("Notes");
    assert!(
        !w.commands
            .iter()
            .any(|c| matches!(c.body, CommandBody::Append { .. }))
    );
    assert!(w.server.uids("Notes").is_empty());
}

/// A server without UIDPLUS that has synchronized Notes (UIDs 1, 2, 4) by the plain method.
fn scripted_without_uidplus() -> Scripted {
    let mut s = Scripted::syncing("IMAP4rev1 AUTH=PLAIN SASL-IR");
    s.reply(
        "* 3 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 5] n\r\nd3 OK [READ-ONLY] done\r\n\
         * 1 FETCH (UID 1 FLAGS (\\Seen))\r\n* 2 FETCH (UID 2 FLAGS (\\Seen))\r\n\
         * 3 FETCH (UID 4 FLAGS (\\Seen))\r\nd4 OK fetched\r\n",
    );
    assert!(
        s.events
            .iter()
            .any(|e| matches!(e, Event::SyncCompleted { .. }))
    );
    s
}

fn expunge_two(s: &mut Scripted) -> OperationId {
    let id = s
        .engine
        .handle_write(
            WriteRequest::Expunge {
                mailbox: mailbox("Notes"),
                uid_validity: NonZeroU32::new(7).unwrap(),
                uids: vec![NonZeroU32::new(2).unwrap()],
            },
            s.now,
        )
        .unwrap();
    s.drain();
    sent(s, "d5 SELECT Notes\r\n");
    s.reply("* 3 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\nd5 OK [READ-WRITE] selected\r\n");
    //= spec/sync.md#SYNC-22
    //= type=test
    //# it learns the other messages
    //# marked `\Deleted` with `UID SEARCH DELETED`, sent with the `UID STORE`
    sent(
        s,
        "d6 UID STORE 2 +FLAGS.SILENT (\\Deleted)\r\nd7 UID SEARCH DELETED\r\n",
    );
    id
}

fn outcome(s: &Scripted, id: OperationId) -> Result<WriteOutcome, Error> {
    result_in(&s.events, id).1
}

/// The engine's latest commands are `tail`.
fn sent(s: &Scripted, tail: &str) {
    assert!(s.sent.ends_with(tail), "{}", s.sent);
}

#[test]
fn without_uidplus_other_deleted_messages_survive_the_expunge() {
    let mut s = scripted_without_uidplus();
    let id = expunge_two(&mut s);
    s.reply("* SEARCH 2 4\r\nd6 OK stored\r\nd7 OK searched\r\n");
    //= spec/sync.md#SYNC-22
    //= type=test
    //# Without UIDPLUS the DA MUST NOT let `EXPUNGE` remove a message the write does not name
    sent(&s, "d8 UID STORE 4 -FLAGS.SILENT (\\Deleted)\r\n");
    s.reply("d8 OK\r\n");
    sent(&s, "d9 EXPUNGE\r\n");
    s.reply("* 2 EXPUNGE\r\nd9 OK expunged\r\n");
    sent(&s, "d10 UID STORE 4 +FLAGS.SILENT (\\Deleted)\r\n");
    s.reply("d10 OK\r\n");
    assert_eq!(
        outcome(&s, id),
        Ok(WriteOutcome::Expunged { uid_expunge: false })
    );
    // The sync that follows (SYNC-19).
    sent(&s, "d11 EXAMINE Notes\r\nd12 UID FETCH 1:* FLAGS\r\n");
}

#[test]
fn without_uidplus_and_no_other_deleted_message_one_expunge() {
    let mut s = scripted_without_uidplus();
    let id = expunge_two(&mut s);
    s.reply("* SEARCH 2\r\nd6 OK\r\nd7 OK\r\n");
    sent(&s, "d8 EXPUNGE\r\n");
    s.reply("* 2 EXPUNGE\r\nd8 OK\r\n");
    assert_eq!(
        outcome(&s, id),
        Ok(WriteOutcome::Expunged { uid_expunge: false })
    );
}

#[test]
fn without_uidplus_the_flags_go_back_whatever_happens() {
    // The EXPUNGE is refused: the other message gets its \Deleted back, then the write fails.
    let mut s = scripted_without_uidplus();
    let id = expunge_two(&mut s);
    // One reply at a time: the client reads a whole chunk before the engine answers it.
    s.reply("* SEARCH 2 4\r\nd6 OK\r\nd7 OK\r\n");
    s.reply("d8 OK\r\n");
    s.reply("d9 NO [SERVERBUG] cannot\r\n");
    //= spec/sync.md#SYNC-22
    //= type=test
    //# then sets `\Deleted` on them again whether or not
    //# the `EXPUNGE` succeeded
    sent(&s, "d10 UID STORE 4 +FLAGS.SILENT (\\Deleted)\r\n");
    s.reply("d10 OK\r\n");
    assert!(matches!(
        outcome(&s, id),
        Err(Error::CommandFailed {
            command: "EXPUNGE",
            ..
        })
    ));
    // Taking the flag off is refused: no EXPUNGE at all.
    let mut s = scripted_without_uidplus();
    let id = expunge_two(&mut s);
    s.reply("* SEARCH 2 4\r\nd6 OK\r\nd7 OK\r\n");
    s.reply("d8 NO busy\r\n");
    //= spec/sync.md#SYNC-22
    //= type=test
    //# sends `EXPUNGE`
    //# only once that has completed successfully
    assert!(!s.sent.contains("EXPUNGE\r\n"), "{}", s.sent);
    sent(&s, "d9 UID STORE 4 +FLAGS.SILENT (\\Deleted)\r\n");
    s.reply("d9 OK\r\n");
    assert!(matches!(
        outcome(&s, id),
        Err(Error::CommandFailed {
            command: "UID STORE",
            ..
        })
    ));
}
