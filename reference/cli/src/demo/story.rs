//! The patent's story, step by step. Each step acts as a user or application would (the notes
//! application on device A, a device switched off and on) and then waits for the effect the
//! specification promises to be observable: on the devices through their local API, on the
//! servers through their stores and counters. Nothing waits a fixed time.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use mailpush_notes::{Content, Listing, MailboxView, NotesApp, NotesConfig, ViewMessage};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::api::Observer;
use super::report::{Progress, StepStats, table};
use super::system::{JOURNAL, JOURNAL_ACCOUNT, MAIL_ACCOUNT, MAIL_DATABASE, NOTES, System};
use super::{DemoArgs, DemoError, author, timeout};
use crate::notes::DaemonAccess;

type App = NotesApp<DaemonAccess, rand::rngs::OsRng>;

/// Runs a notes-application operation on a device (the application is a blocking client).
async fn with_app<T: Send + 'static>(
    device: &str,
    socket: PathBuf,
    op: impl FnOnce(&mut App) -> Result<T, String> + Send + 'static,
) -> Result<T, DemoError> {
    let name = device.to_owned();
    tokio::task::spawn_blocking(move || {
        let access =
            DaemonAccess::connect(&socket, Some(MAIL_ACCOUNT)).map_err(|e| e.to_string())?;
        let mut app = NotesApp::new(access, NotesConfig::new(author()), rand::rngs::OsRng);
        op(&mut app)
    })
    .await
    .map_err(|e| DemoError::Device(name.clone(), e.to_string()))?
    .map_err(|e| DemoError::Device(name, format!("notes application: {e}")))
}

fn now() -> Result<mailpush_message::DateTime, String> {
    crate::notes::now().map_err(|e| e.to_string())
}

fn account<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["accounts"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["account"] == json!(name)))
        .unwrap_or(&Value::Null)
}

fn mailbox_status<'a>(status: &'a Value, account_name: &str) -> &'a Value {
    &account(status, account_name)["mailboxes"][0]
}

/// Registered for push on Notes, channel up, Journal known to be without push, both synced.
fn registered(status: &Value) -> bool {
    let mail = account(status, MAIL_ACCOUNT);
    let journal = account(status, JOURNAL_ACCOUNT);
    mail["registration"]["state"] == "registered"
        && mail["with_push"] == json!([NOTES])
        && status["channel"]["state"] == "established"
        && mail["mailboxes"][0]["last_sync"].is_object()
        && journal["registration"]["state"] == "unsupported"
        && journal["without_push"] == json!([JOURNAL])
        && journal["mailboxes"][0]["last_sync"].is_object()
}

/// Notes as identity → text.
fn texts(listing: &Listing) -> BTreeMap<String, String> {
    listing
        .notes
        .iter()
        .map(|n| (n.id().to_string(), n.read.note.text().to_owned()))
        .collect()
}

fn has_text(listing: &Listing, id: &str, text: &str) -> bool {
    texts(listing).get(id).is_some_and(|t| t == text)
}

/// The server's notes, read from its store.
fn server_notes(system: &System) -> Result<Listing, DemoError> {
    let failed = |e: mailpush_mail_store::Error| DemoError::Check(format!("mail store: {e}"));
    let info = system.store.mailbox(system.user, NOTES).map_err(failed)?;
    let mut messages = Vec::new();
    for uid in system.store.uids(info.id).map_err(failed)? {
        if let (Some(message), Some(uid)) = (
            system.store.message(info.id, uid).map_err(failed)?,
            mailpush_notes::Uid::new(uid),
        ) {
            messages.push(ViewMessage {
                uid,
                flags: Vec::new(),
                content: Content::Full(message.raw),
            });
        }
    }
    let view = MailboxView {
        uidvalidity: mailpush_notes::UidValidity::new(info.uid_validity),
        messages,
    };
    Ok(mailpush_notes::listing::list(
        &view,
        &mailpush_notes::Limits::default(),
    ))
}

/// UIDs of the Journal on the server without push.
fn journal_uids(system: &System) -> Result<Vec<u32>, DemoError> {
    let failed = |e: mailpush_mail_store::Error| DemoError::Check(format!("mail store: {e}"));
    let info = system
        .journal_store
        .mailbox(system.journal_user, JOURNAL)
        .map_err(failed)?;
    system.journal_store.uids(info.id).map_err(failed)
}

/// Bus coalescing counted by each device since it started.
async fn local_coalesced(observers: &mut [Observer]) -> Result<Vec<u64>, DemoError> {
    let mut out = Vec::new();
    for observer in observers {
        let status = observer.status().await?;
        out.push(status["notifications"]["coalesced"].as_u64().unwrap_or(0));
    }
    Ok(out)
}

/// Counters at the start of a step.
struct Mark {
    push: (u64, u64, u64),
    local: Vec<u64>,
}

async fn mark(system: &System, observers: &mut [Observer]) -> Result<Mark, DemoError> {
    for observer in observers.iter_mut() {
        observer.forget_events();
    }
    Ok(Mark {
        push: system.push_counters(),
        local: local_coalesced(observers).await?,
    })
}

/// Starts a step: its title, its words from the patent (when not empty), counters from here.
async fn begin(
    system: &System,
    observers: &mut [Observer],
    progress: &mut Progress,
    (n, title, ids): (usize, &str, &str),
    (quote, name): (&str, &str),
) -> Result<(Mark, StepStats), DemoError> {
    progress.step(n, title, ids);
    if !quote.is_empty() {
        progress.say(quote);
    }
    let since = mark(system, observers).await?;
    Ok((
        since,
        StepStats {
            name: name.to_owned(),
            ..StepStats::default()
        },
    ))
}

/// Fills a step's drop and coalescing counts from the counters since `mark`.
async fn close(
    stats: &mut StepStats,
    since: &Mark,
    system: &System,
    observers: &mut [Observer],
) -> Result<(), DemoError> {
    let (_, dropped, replaced) = system.push_counters();
    let local = local_coalesced(observers).await?;
    stats.dropped = dropped - since.push.1;
    let local: u64 = local
        .iter()
        .zip(since.local.iter().chain(std::iter::repeat(&0)))
        // A device restarted during the step counts from zero again.
        .map(|(now, before)| if now >= before { now - before } else { *now })
        .sum();
    stats.coalesced = replaced - since.push.2 + local;
    Ok(())
}

/// Waits on every device but A for `holds`, recording each latency since `t0` and the round
/// trips of the sync that brought it.
async fn reaches_others(
    observers: &mut [Observer],
    stats: &mut StepStats,
    progress: &mut Progress,
    args: &DemoArgs,
    (what, t0): (&str, Instant),
    holds: impl Fn(&Listing) -> bool + Copy,
) -> Result<(), DemoError> {
    for observer in observers.iter_mut().skip(1) {
        let at = observer.wait_notes(what, timeout(args), holds).await?;
        let latency = at.saturating_duration_since(t0);
        let status = observer.status().await?;
        let sync = &mailbox_status(&status, MAIL_ACCOUNT)["last_sync"];
        let trips = sync["round_trips"].as_u64();
        stats.latencies.push(latency);
        stats.round_trips.extend(trips);
        progress.say(&format!(
            "  device {}: {what} after {:.1} ms (DA sync by {}, {} round trip(s))",
            observer.name,
            latency.as_secs_f64() * 1e3,
            sync["method"].as_str().unwrap_or("?"),
            trips.map_or_else(|| "?".to_owned(), |t| t.to_string())
        ));
    }
    Ok(())
}

/// Waits until `check` holds for the system, asking again every few milliseconds (server
/// counters are not announced).
async fn until(
    what: &str,
    args: &DemoArgs,
    mut check: impl FnMut() -> bool,
) -> Result<(), DemoError> {
    let deadline = Instant::now() + timeout(args);
    while !check() {
        if Instant::now() >= deadline {
            return Err(DemoError::Timeout(format!(
                "{what} did not happen within {:?}",
                timeout(args)
            )));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// The whole story; prints the summary and checks the final agreement.
pub async fn run(
    system: &mut System,
    args: &DemoArgs,
    progress: &mut Progress,
) -> Result<(), DemoError> {
    let wait = timeout(args);
    let n = system.devices.len();
    let mut steps: Vec<StepStats> = Vec::new();

    // Step 1: registration.
    progress.step(
        1,
        "registration",
        "LOCAL-1, LOCAL-2, LOCAL-4, XAPS-10, XAPS-11, LOCAL-21, PROV-15, CHAN-13",
    );
    progress.say("\"DA sends a request to mail server for a list of mailboxes of interest … registers the mailboxes of interest with mail client for push events … mail client responds by sending a token for each mailbox\"");
    let started = Instant::now();
    let mut observers = Vec::new();
    for device in &mut system.devices {
        device.start()?;
    }
    let mut stats = StepStats {
        name: "registration".into(),
        ..StepStats::default()
    };
    for device in &system.devices {
        let mut observer = Observer::connect(&device.name, &device.socket, wait).await?;
        let status = observer
            .wait_status("push registration and first sync", wait, registered)
            .await?;
        stats.latencies.push(started.elapsed());
        let mail = account(&status, MAIL_ACCOUNT);
        let journal = account(&status, JOURNAL_ACCOUNT);
        progress.say(&format!(
            "device {}: LIST, then tokens {} (Notes) and {} (Journal) from the mail client",
            device.name,
            mail["mailboxes"][0]["token"].as_str().unwrap_or("?"),
            journal["mailboxes"][0]["token"].as_str().unwrap_or("?"),
        ));
        progress.say(&format!(
            "  mail client → mail server: XAPPLEPUSHSERVICE aps-version {} aps-account-id, aps-device-token, mailboxes ({}); acknowledged subset {}",
            mail["registration"]["version"],
            NOTES,
            mail["with_push"],
        ));
        progress.say(&format!(
            "  the Journal server lists no XAPPLEPUSHSERVICE: Journal is without push, scheduled polls every {} ms (LOCAL-21, LOCAL-15)",
            args.poll_interval_ms
        ));
        progress.say(&format!(
            "  device channel established with the push server (cursor {})",
            status["cursor"]
        ));
        observers.push(observer);
    }
    let registrations = system
        .store
        .registrations(system.user, std::time::SystemTime::now())
        .map_err(|e| DemoError::Check(format!("mail store: {e}")))?;
    if registrations.len() != n || registrations.iter().any(|r| r.mailboxes != [NOTES]) {
        return Err(DemoError::Check(format!(
            "the mail server should hold {n} registrations for Notes (XAPS-15), it holds {registrations:?}"
        )));
    }
    progress.say(&format!(
        "mail server: {n} registrations stored (account id + device token + [Notes]) (XAPS-14, XAPS-15)"
    ));
    steps.push(stats);

    let a_socket = system.devices[0].socket.clone();

    // Step 2: a note created on A.
    let (since, mut stats) = begin(
        system,
        &mut observers,
        progress,
        (2, "a note created on device A reaches the other devices by push", "NOTE-1, PROV-18, PROV-19, CHAN-16, LOCAL-7, LOCAL-11, LOCAL-13, SYNC-2"),
        ("\"when a registered mailbox changes mail server sends a request to push notification server … mail client sends the push notification for the changed mailbox to DA using the assigned token … DA performs a sync of the mailbox\"", "note created"),
    )
    .await?;
    let text = "Shopping\nmilk, eggs";
    let t0 = Instant::now();
    let id = with_app("A", a_socket.clone(), move |app| {
        let written = app.add(text, now()?).map_err(|e| e.to_string())?;
        Ok(written.note.id().to_string())
    })
    .await?;
    progress.say(&format!("device A: note {id} added (APPEND to Notes)"));
    let id_ref = id.clone();
    reaches_others(
        &mut observers,
        &mut stats,
        progress,
        args,
        ("the note arrived", t0),
        |l| has_text(l, &id_ref, text),
    )
    .await?;
    close(&mut stats, &since, system, &mut observers).await?;
    steps.push(stats);

    // Step 3: edits.
    let (since, mut stats) = begin(
        system,
        &mut observers,
        progress,
        (
            3,
            "the note edited on device A",
            "NOTE-6, NOTE-7, PROV-19, LOCAL-13, SYNC-4",
        ),
        ("", "note edited"),
    )
    .await?;
    for edit in 1..=args.edits {
        let text = format!("Shopping\nmilk, eggs, edit {edit}");
        let (edited, sent) = (id.clone(), text.clone());
        let t0 = Instant::now();
        with_app("A", a_socket.clone(), move |app| {
            let note = mailpush_notes::NoteId::parse(&edited).map_err(|e| e.to_string())?;
            app.edit(note, &sent, now()?).map_err(|e| e.to_string())?;
            Ok(())
        })
        .await?;
        progress.say(&format!(
            "device A: edit {edit} (APPEND of the new version, then expunge of the old)"
        ));
        let id_ref = id.clone();
        reaches_others(
            &mut observers,
            &mut stats,
            progress,
            args,
            ("the edit arrived", t0),
            |l| has_text(l, &id_ref, &text),
        )
        .await?;
    }
    close(&mut stats, &since, system, &mut observers).await?;
    steps.push(stats);

    // Step 4: B offline.
    let ring = args.ring as u64;
    let changes = args.changes.map_or(ring + 2, u64::from);
    let (since, mut stats) = begin(
        system,
        &mut observers,
        progress,
        (4, "device B offline while more changes are made than its ring holds", "RING-1, RING-2, RING-4, RING-5, RING-9"),
        ("\"push notification server may only retain the last N messages in a notification queue while device is unreachable … the oldest notifications may be lost or dropped\"", "B offline"),
    )
    .await?;
    let connections = |system: &System| {
        system.push.as_ref().map_or(0, |p| {
            p.hub
                .metrics
                .connections
                .load(std::sync::atomic::Ordering::Relaxed)
        })
    };
    system.devices[1].stop().await?;
    observers.remove(1);
    until("the push server noticing device B gone", args, || {
        connections(system) < n as u64
    })
    .await?;
    progress.say("device B switched off (daemon stopped, channel closed)");
    for change in 1..=changes {
        let (accepted, _, _) = system.push_counters();
        let text = format!("Written while B was away ({change}/{changes})");
        with_app("A", a_socket.clone(), move |app| {
            app.add(&text, now()?).map_err(|e| e.to_string())?;
            Ok(())
        })
        .await?;
        // One push per registered device for each change (A and B included).
        until("the push of the change", args, || {
            system.push_counters().0 >= accepted + n as u64
        })
        .await?;
    }
    close(&mut stats, &since, system, &mut observers).await?;
    progress.say(&format!(
        "device A: {changes} notes added; push server, ring N = {ring}: {} notifications dropped, {} replaced by topic",
        stats.dropped, stats.coalesced
    ));
    let (expected, seen, how) = if args.topic_coalescing {
        (changes - 1, stats.coalesced, "replaced by topic (RING-4)")
    } else {
        (
            changes.saturating_sub(ring),
            stats.dropped,
            "dropped (RING-2)",
        )
    };
    if seen < expected {
        return Err(DemoError::Check(format!(
            "the push server should have {how} at least {expected} of B's notifications, it counts {seen}"
        )));
    }
    steps.push(stats);

    // Step 5: B reconnects.
    let (since, mut stats) = begin(
        system,
        &mut observers,
        progress,
        (5, "device B reconnects: `retained`, fan-out to every token, full resync", "RING-6, CHAN-7, LOCAL-10, LOCAL-11, SYNC-2"),
        ("\"The first notification out of the queue can include data e.g. a flag set indicating that the notifications were retained … mail client generates local notifications that can include each of the registered mailbox tokens\"", "B reconnects"),
    )
    .await?;
    let t0 = Instant::now();
    system.devices[1].start()?;
    let mut b = Observer::connect(&system.devices[1].name, &system.devices[1].socket, wait).await?;
    let status = b
        .wait_status("a notification flagged retained", wait, |s| {
            s["notifications"]["last_retained"].is_object()
        })
        .await?;
    let woken = status["notifications"]["last_retained"]["woken"]
        .as_u64()
        .unwrap_or(0);
    progress.say(&format!(
        "device B: notification {} flagged retained; the mail client woke {woken} tokens (every registered mailbox)",
        status["notifications"]["last_retained"]["id"]
    ));
    if woken < 2 {
        return Err(DemoError::Check(format!(
            "a retained notification must wake every token of the device (LOCAL-10): it woke {woken} of 2"
        )));
    }
    let server = texts(&server_notes(system)?);
    let at = b
        .wait_notes("every note of the server", wait, |l| texts(l) == server)
        .await?;
    let status = b.status().await?;
    let sync = &mailbox_status(&status, MAIL_ACCOUNT)["last_sync"];
    stats.latencies.push(at.saturating_duration_since(t0));
    stats.round_trips.extend(sync["round_trips"].as_u64());
    progress.say(&format!(
        "device B: all {} notes, {:.1} ms after switching on (DA sync by {}, {} round trip(s); Journal resynced too)",
        server.len(),
        at.saturating_duration_since(t0).as_secs_f64() * 1e3,
        sync["method"].as_str().unwrap_or("?"),
        sync["round_trips"]
    ));
    observers.insert(1, b);
    close(&mut stats, &since, system, &mut observers).await?;
    steps.push(stats);

    // Step 6: a mailbox without push.
    let (since, mut stats) = begin(
        system,
        &mut observers,
        progress,
        (6, "a mailbox without push reaches the devices by scheduled poll", "LOCAL-15, LOCAL-17, LOCAL-19"),
        ("\"mail client may send local notifications to DA on a schedule acting as if push notifications had arrived from push notification server for those mailboxes for which push notifications were unavailable\"", "Journal by poll"),
    )
    .await?;
    // Each device's next scheduled poll first: B's return in step 5 may have left a sync of
    // Journal queued behind the one that step waited for (wakes that arrive during a sync run
    // another, LOCAL-9), and that sync, not a poll, would find the entry. After a poll the next
    // local notification of Journal is a full interval away, so what brings the entry is a poll.
    for observer in observers.iter_mut() {
        let polls = |s: &Value| s["notifications"]["scheduled_polls"].as_u64().unwrap_or(0);
        let before = polls(&observer.status().await?);
        observer
            .wait_status("a scheduled poll", wait, |s| polls(s) > before)
            .await?;
    }
    progress.say(&format!(
        "every device has just polled Journal (every {} ms); nothing else wakes it",
        args.poll_interval_ms
    ));
    let entry = "From: demo@mailpush.invalid\r\nSubject: journal\r\n\r\nA day without push.\r\n";
    let t0 = Instant::now();
    let appended = observers[0]
        .call(
            "append",
            json!({
                "account": JOURNAL_ACCOUNT,
                "mailbox": JOURNAL,
                "flags": [],
                "content_base64": base64::engine::general_purpose::STANDARD.encode(entry),
            }),
        )
        .await?;
    let uid = appended["uid"].as_u64().and_then(|u| u32::try_from(u).ok());
    progress.say(&format!(
        "device A: journal entry appended (UID {}) on the server without push",
        appended["uid"]
    ));
    for observer in observers.iter_mut().skip(1) {
        let at = observer
            .wait_view(
                "the journal entry",
                wait,
                JOURNAL,
                async |o: &mut Observer| {
                    let uids = o.uids(JOURNAL_ACCOUNT, JOURNAL).await?;
                    Ok(uid.is_some_and(|u| uids.contains(&u)))
                },
            )
            .await?;
        let latency = at.saturating_duration_since(t0);
        let status = observer.status().await?;
        stats.latencies.push(latency);
        stats
            .round_trips
            .extend(mailbox_status(&status, JOURNAL_ACCOUNT)["last_sync"]["round_trips"].as_u64());
        progress.say(&format!(
            "  device {}: the entry arrived by a scheduled poll after {:.1} ms (interval {} ms)",
            observer.name,
            latency.as_secs_f64() * 1e3,
            args.poll_interval_ms
        ));
    }
    let pushed = system.push_counters().0 - since.push.0;
    if pushed != 0 {
        return Err(DemoError::Check(format!(
            "nothing should have been pushed for a mailbox without push, the push server accepted {pushed}"
        )));
    }
    close(&mut stats, &since, system, &mut observers).await?;
    steps.push(stats);

    // Step 7: a note deleted.
    let (since, mut stats) = begin(
        system,
        &mut observers,
        progress,
        (
            7,
            "a note deleted on device A",
            "NOTE-8, PROV-18, LOCAL-13, SYNC-4",
        ),
        ("", "note deleted"),
    )
    .await?;
    let gone = id.clone();
    let t0 = Instant::now();
    with_app("A", a_socket.clone(), move |app| {
        let note = mailpush_notes::NoteId::parse(&gone).map_err(|e| e.to_string())?;
        app.delete(note).map_err(|e| e.to_string())?;
        Ok(())
    })
    .await?;
    progress.say(&format!("device A: note {id} deleted (expunged)"));
    let id_ref = id.clone();
    reaches_others(
        &mut observers,
        &mut stats,
        progress,
        args,
        ("the deletion arrived", t0),
        |l| !texts(l).contains_key(&id_ref),
    )
    .await?;
    close(&mut stats, &since, system, &mut observers).await?;
    steps.push(stats);

    println!("\n== Summary (latency: from the write on A to the view change on each device)\n");
    print!("{}", table(&steps));

    if args.diverge {
        // The last step's changes may still have a trailing push on its way (PROV-19: changes
        // that follow a leading send within `quiet` go together once it has passed); the note
        // must be written after it, or the sync it causes would bring the note to the devices.
        // Only this failure demonstration waits; the story itself never does.
        let quiet = mailpush_mail_server::driver::PushSettings::new("http://localhost/", None)
            .notifier
            .quiet;
        tokio::time::sleep(quiet * 2).await;
        diverge(system)?;
        progress.say("--diverge: a note was stored in the mail server's database behind the IMAP server's back");
    }
    agreement(system, &mut observers, args, progress).await
}

/// Stores a note straight into the database, over a connection of its own: no session sees it
/// and the server's store does not announce it (PROV-38), so nothing is pushed.
fn diverge(system: &System) -> Result<(), DemoError> {
    let failed = |e: String| DemoError::Check(format!("--diverge: {e}"));
    let mut rng = rand::rngs::OsRng;
    let note = mailpush_notes::Note::from_text(
        mailpush_notes::NoteId::random(&mut rng),
        "Nobody was told about this one",
        now().map_err(failed)?,
        now().map_err(failed)?,
    )
    .map_err(|e| failed(e.to_string()))?;
    let raw = mailpush_notes::write_note(
        &note,
        &author(),
        mailpush_notes::NoteId::random(&mut rng),
        &[],
        &mailpush_notes::Limits::default(),
    )
    .map_err(|e| failed(e.to_string()))?;
    let behind = mailpush_mail_store::Store::open(
        system.dir.join(MAIL_DATABASE),
        mailpush_mail_store::Config::default(),
    )
    .map_err(|e| failed(e.to_string()))?;
    let mailbox = behind
        .mailbox_id(system.user, NOTES)
        .map_err(|e| failed(e.to_string()))?;
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    behind
        .append(
            mailbox,
            &raw,
            &mailpush_mail_store::Flags::default(),
            mailpush_mail_store::InternalDate::utc(seconds),
        )
        .map_err(|e| failed(e.to_string()))?;
    Ok(())
}

/// Every device's notes must equal the server's.
async fn agreement(
    system: &System,
    observers: &mut [Observer],
    args: &DemoArgs,
    progress: &mut Progress,
) -> Result<(), DemoError> {
    let server = texts(&server_notes(system)?);
    println!();
    for observer in observers.iter_mut() {
        let waited = observer
            .wait_notes("agreement with the server", timeout(args), |l| {
                texts(l) == server
            })
            .await;
        if let Err(error) = waited {
            let device = texts(&observer.notes().await?);
            let missing: Vec<String> = server
                .iter()
                .filter(|(id, text)| device.get(*id) != Some(*text))
                .map(|(id, text)| format!("{id} {:?}", text.lines().next().unwrap_or("")))
                .collect();
            let extra: Vec<String> = device
                .keys()
                .filter(|id| !server.contains_key(*id))
                .cloned()
                .collect();
            return Err(DemoError::Diverged(format!(
                "device {}'s notes differ from the server's ({error}); the server has {} notes, the device {}; \
                 missing or different on the device: [{}]; only on the device: [{}]",
                observer.name,
                server.len(),
                device.len(),
                missing.join(", "),
                extra.join(", ")
            )));
        }
        progress.say(&format!(
            "device {}: its {} notes equal the server's",
            observer.name,
            server.len()
        ));
    }
    let journal = journal_uids(system)?;
    for observer in observers.iter_mut() {
        let device = observer.uids(JOURNAL_ACCOUNT, JOURNAL).await?;
        if device != journal {
            return Err(DemoError::Diverged(format!(
                "device {}'s Journal holds UIDs {device:?}, the server {journal:?}",
                observer.name
            )));
        }
    }
    progress.say("every device agrees with the servers (Notes and Journal)");
    Ok(())
}
