//! The protocol trace of the whole system (spec/trace.md): the real mail server, push server
//! and two device daemons on loopback, each writing its trace; the patent's story played once
//! (registration, a note written on one device reaching the other by push, the other offline
//! while more changes than its ring holds are made, then back with `retained` and the fan-out);
//! the traces merged and read back by the strict reader, and the events of each component
//! checked against what happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use mailpush_trace::{Component, Event, EventKind, Limits, Tracer, merge, read_all};
use serde_json::json;
use support::{Api, ServerOptions, Servers, WAIT, start_traced_daemon};

/// Push is up for both mailboxes and both were synced.
fn ready(status: &serde_json::Value) -> bool {
    let account = &status["accounts"][0];
    account["registration"]["state"] == "registered"
        && account["with_push"] == json!(["Archive", "Notes"])
        && status["channel"]["state"] == "established"
        && account["mailboxes"][0]["last_sync"].is_object()
        && account["mailboxes"][1]["last_sync"].is_object()
}

fn tracer(component: Component, path: &Path) -> Tracer {
    Tracer::append_to_file(component, None, path).unwrap()
}

/// The events of a trace file written so far (a line being written is not an error: the file
/// is read again).
fn events(path: &Path) -> Vec<Event> {
    match File::open(path) {
        Ok(file) => read_all(BufReader::new(file), Limits::default()).unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

async fn wait_for(path: &Path, what: &str, done: impl Fn(&[Event]) -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = events(path);
        if done(&now) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never {what}:\n{}",
            brief(&now)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One line per event, for failure messages.
fn brief(events: &[Event]) -> String {
    events
        .iter()
        .map(|e| String::from_utf8_lossy(&mailpush_trace::encode(e)).into_owned())
        .collect::<Vec<_>>()
        .join("")
}

fn count(events: &[Event], kind: EventKind) -> usize {
    events.iter().filter(|e| e.record.kind == kind).count()
}

fn of(events: &[Event], kind: EventKind) -> Vec<&Event> {
    events.iter().filter(|e| e.record.kind == kind).collect()
}

fn device_of(events: &[Event]) -> String {
    events
        .iter()
        .find_map(|e| e.record.device.as_ref())
        .expect("a device event")
        .to_string()
}

async fn append(api: &mut Api, text: &str) -> serde_json::Value {
    api.result(
        "append",
        json!({"account": "A1", "mailbox": "Notes", "flags": ["\\Seen"],
               "content_base64": base64::engine::general_purpose::STANDARD.encode(text)}),
    )
    .await
}

struct Files {
    mail: PathBuf,
    push: PathBuf,
    a: PathBuf,
    b: PathBuf,
}

//= spec/trace.md#TRACE-9
//= type=test
//# A component MUST NOT write a trace unless it was configured to.
//= spec/trace.md#TRACE-4
//= type=test
//# A message event (one with a "to") is written once, by
//# its sender, when it is sent; what the receiver does with it is its own event.
//= spec/trace.md#TRACE-11
//= type=test
//# A component that writes a trace MUST write each event of its rows of
//# [TRACE-4](#TRACE-4) at the following point
//= spec/trace.md#TRACE-3
//= type=test
//# A server, which knows a
//# device only by its device token, MUST label it `d-` followed by the first 8 characters of the device
//# token in lowercase
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_component_traces_the_patent_story_and_the_merged_trace_reads_back() {
    // Under a seeded bug (a child of `seeded_bugs_are_caught_by_validating_the_trace`) the story
    // only runs and keeps its trace: what it checks is what the bug breaks.
    let mutant = mailpush_mutants::selected().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = Files {
        mail: dir.path().join("mail.trace"),
        push: dir.path().join("push.trace"),
        a: dir.path().join("a.trace"),
        b: dir.path().join("b.trace"),
    };
    let servers = Servers::start_with(
        dir.path(),
        ServerOptions {
            push: mailpush_push_server::Settings {
                ring_capacity: 2,
                trace: tracer(Component::PushServer, &files.push),
                ..Default::default()
            },
            mail: mailpush_mail_server::driver::Settings {
                trace: tracer(Component::MailServer, &files.mail),
                ..Default::default()
            },
            // One push per change and no topic, so that the ring drops rather than replaces.
            push_settings: Some(|push| {
                push.notifier.quiet = Duration::from_millis(1);
                push.notifier.max_delay = Duration::from_millis(1);
                push.notifier.topic_per_account = false;
            }),
        },
    )
    .await;
    // Two monitored mailboxes, so that a `retained` notification about Notes also wakes Archive.
    support::Imap::connect(servers.imap_addr())
        .await
        .command("CREATE Archive")
        .await;
    let config_a = servers.device_config(&dir.path().join("device-a"));
    let config_b = servers.device_config(&dir.path().join("device-b"));
    for config in [&config_a, &config_b] {
        let text = std::fs::read_to_string(config).unwrap();
        let text = text.replace(
            r#"mailboxes = ["Notes"]"#,
            r#"mailboxes = ["Notes", "Archive"]"#,
        );
        std::fs::write(config, text).unwrap();
    }
    let (stop_a, task_a, socket_a) =
        start_traced_daemon(&config_a, tracer(Component::Da, &files.a));
    let (stop_b, task_b, socket_b) =
        start_traced_daemon(&config_b, tracer(Component::Da, &files.b));
    let mut api_a = Api::connect(&socket_a).await;
    let mut api_b = Api::connect(&socket_b).await;
    api_a.wait_status("A ready for push", ready).await;
    api_b.wait_status("B ready for push", ready).await;
    api_b.result("subscribe", json!({})).await;

    // A note written on A reaches B by push.
    let first = append(&mut api_a, "Subject: one\r\n\r\nmilk\r\n").await;
    let event = api_b.event().await;
    assert_eq!(event["added"], json!([first["uid"]]), "{event}");
    wait_for(&files.b, "B acknowledged the push", |e| {
        count(e, EventKind::Ack) >= 1
    })
    .await;
    let label_b = device_of(&events(&files.b));

    // B goes away; A makes three changes, one more than B's ring holds.
    stop_b.send(()).unwrap();
    task_b.await.unwrap();
    wait_for(&files.push, "B's session ended", |e| {
        of(e, EventKind::Disconnect)
            .iter()
            .any(|d| d.record.device.as_ref().unwrap().as_str() == label_b)
    })
    .await;
    let accepted_before = events(&files.push)
        .iter()
        .filter(|e| {
            e.record.kind == EventKind::PushAccepted
                && e.record.device.as_ref().unwrap().as_str() == label_b
        })
        .count();
    for (i, text) in ["two", "three", "four"].into_iter().enumerate() {
        append(&mut api_a, &format!("Subject: {text}\r\n\r\n{text}\r\n")).await;
        // Each change is its own push: the next waits until this one is in B's ring.
        wait_for(&files.push, "the push for B accepted", |e| {
            e.iter()
                .filter(|e| {
                    e.record.kind == EventKind::PushAccepted
                        && e.record.device.as_ref().unwrap().as_str() == label_b
                })
                .count()
                > accepted_before + i
        })
        .await;
    }

    // B comes back: the first notification carries `retained`, every token is woken, B syncs.
    let (stop_b, task_b, socket_b) =
        start_traced_daemon(&config_b, tracer(Component::Da, &files.b));
    let mut api_b = Api::connect(&socket_b).await;
    api_b.wait_status("B ready again", ready).await;
    if mutant.is_none() {
        wait_for(&files.b, "B's fan-out and resync", |e| {
            count(e, EventKind::FanOut) >= 1
                && of(e, EventKind::Sync)
                    .iter()
                    .any(|s| s.record.versions.and_then(|v| v.after).is_some())
        })
        .await;
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    while api_b.view("Notes").await != api_a.view("Notes").await {
        assert!(tokio::time::Instant::now() < deadline, "B never caught up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Every notification sent to B is acknowledged, so that the trace holds what B did with it.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let sent = of(&events(&files.push), EventKind::Deliver)
            .iter()
            .filter(|d| d.record.device.as_ref().unwrap().as_str() == label_b)
            .filter_map(|d| d.record.id)
            .max();
        let acked = of(&events(&files.b), EventKind::Ack)
            .iter()
            .filter_map(|a| a.record.cursor)
            .max();
        if acked >= sent {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "B never acknowledged {sent:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    for (stop, task) in [(stop_a, task_a), (stop_b, task_b)] {
        stop.send(()).unwrap();
        task.await.unwrap();
    }
    servers.mail.shutdown().await;
    servers.push.shutdown().await;

    if mutant.is_none() {
        check_mail_server(&events(&files.mail));
        check_push_server(&events(&files.push), &label_b);
        check_device_a(&events(&files.a));
        check_device_b(&events(&files.b));
    }

    // The four traces merge into one, in time order, which the strict reader takes back.
    let inputs = [&files.mail, &files.push, &files.a, &files.b].map(|p| {
        (
            p.display().to_string(),
            BufReader::new(File::open(p).unwrap()),
        )
    });
    let merged = merge(inputs, Limits::default()).unwrap();
    let out = dir.path().join("merged.trace");
    mailpush_trace::write_events(File::create(&out).unwrap(), &merged).unwrap();
    let read = events(&out);
    assert_eq!(read, merged);
    assert!(read.windows(2).all(|w| w[0].time_us <= w[1].time_us));
    for event in &read {
        event.check().unwrap();
    }
    if mutant.is_none() {
        validate_against_the_model(&read);
    }
    if let Ok(keep) = std::env::var("MAILPUSH_KEEP_TRACE") {
        std::fs::copy(&out, keep).unwrap();
    }
}

/// The mail server: each device's registration with its subset, every change, the pushes.
fn check_mail_server(events: &[Event]) {
    assert!(events.iter().all(|e| e.component == Component::MailServer));
    // A registration naming no mailbox (the mail client's before the DA registered any) deletes
    // the device's registration and acknowledges nothing (XAPS-14).
    let subsets: Vec<&Event> = of(events, EventKind::PushSubset)
        .into_iter()
        .filter(|s| !s.record.mailboxes.as_ref().unwrap().is_empty())
        .collect();
    assert!(subsets.len() >= 2, "{subsets:#?}");
    for subset in &subsets {
        let mut acknowledged = subset.record.mailboxes.clone().unwrap();
        acknowledged.sort();
        assert_eq!(acknowledged, ["Archive", "Notes"]);
        assert!(
            subset
                .record
                .device
                .as_ref()
                .unwrap()
                .as_str()
                .starts_with("d-")
        );
    }
    // The fixture's CREATE of Archive is a change of the mailbox list (PROV-18), before any
    // registration names Archive; every later change is a note's APPEND to Notes.
    let (created, changes): (Vec<&Event>, Vec<&Event>) = of(events, EventKind::MailboxChange)
        .into_iter()
        .partition(|c| c.record.detail.as_deref() == Some("created"));
    assert_eq!(created.len(), 1, "{created:#?}");
    assert_eq!(created[0].record.mailbox.as_deref(), Some("Archive"));
    assert_eq!(changes.len(), 4, "{changes:#?}");
    let modseqs: Vec<u64> = changes
        .iter()
        .map(|c| c.record.versions.unwrap().after.unwrap())
        .collect();
    assert!(modseqs.windows(2).all(|w| w[0] < w[1]), "{modseqs:?}");
    for change in &changes {
        assert_eq!(change.record.mailbox.as_deref(), Some("Notes"));
    }
    // Both devices are registered for Notes: every change is pushed to each.
    let requests = of(events, EventKind::PushRequest);
    assert_eq!(requests.len(), 8, "{requests:#?}");
    assert!(
        requests
            .iter()
            .all(|r| r.record.mailboxes == Some(vec!["Notes".to_owned()]))
    );
}

/// The push server: B's ring took four pushes, dropped the oldest once, set the mark while B
/// was away, and the first notification after B's return carried `retained`.
fn check_push_server(events: &[Event], b: &str) {
    let for_b: Vec<&Event> = events
        .iter()
        .filter(|e| e.record.device.as_ref().unwrap().as_str() == b)
        .collect();
    let kinds: Vec<EventKind> = for_b.iter().map(|e| e.record.kind).collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == EventKind::PushAccepted)
            .count(),
        4,
        "{kinds:?}"
    );
    let dropped = for_b
        .iter()
        .find(|e| e.record.kind == EventKind::PushDropped)
        .unwrap_or_else(|| panic!("no drop: {kinds:?}"));
    let accepted: Vec<u64> = for_b
        .iter()
        .filter(|e| e.record.kind == EventKind::PushAccepted)
        .map(|e| e.record.id.unwrap())
        .collect();
    // The oldest of the three held ones (RING-2).
    assert_eq!(dropped.record.id, Some(accepted[1]), "{kinds:?}");
    let mark = kinds.iter().position(|k| *k == EventKind::MarkSet).unwrap();
    let disconnect = kinds
        .iter()
        .position(|k| *k == EventKind::Disconnect)
        .unwrap();
    assert!(disconnect < mark, "{kinds:?}");
    let delivers: Vec<&&Event> = for_b
        .iter()
        .filter(|e| e.record.kind == EventKind::Deliver)
        .collect();
    assert_eq!(delivers[0].record.retained, Some(false));
    assert_eq!(delivers[0].record.id, Some(accepted[0]));
    let after = &delivers[1];
    assert_eq!(after.record.retained, Some(true), "{delivers:#?}");
    assert_eq!(after.record.id, Some(accepted[2]));
    let digest = after.record.mailboxes.as_ref().unwrap();
    assert_eq!(digest.len(), 1);
    assert_eq!(digest[0].len(), 32);
}

/// Device A: registration, then a note written through the API and uploaded.
fn check_device_a(events: &[Event]) {
    let kinds: Vec<EventKind> = events.iter().map(|e| e.record.kind).collect();
    let first = |k: EventKind| kinds.iter().position(|x| *x == k).unwrap();
    assert!(first(EventKind::ListMailboxes) < first(EventKind::RegisterMailbox));
    assert!(first(EventKind::RegisterMailbox) < first(EventKind::Token));
    // The first registration naming mailboxes follows the tokens, and its reply wakes them.
    let request = events
        .iter()
        .position(|e| {
            e.record.kind == EventKind::RequestPush
                && e.record.mailboxes.as_ref().is_some_and(|m| m.len() == 2)
        })
        .unwrap();
    assert!(first(EventKind::Token) < request, "{kinds:?}");
    assert!(
        kinds[request..].contains(&EventKind::InitialWake),
        "{kinds:?}"
    );
    assert_eq!(count(events, EventKind::Connect), 1, "{kinds:?}");
    assert_eq!(count(events, EventKind::NoteWrite), 4, "{kinds:?}");
    assert_eq!(count(events, EventKind::Upload), 4, "{kinds:?}");
    let tokens: Vec<_> = of(events, EventKind::Token)
        .iter()
        .map(|t| t.record.token.clone().unwrap())
        .collect();
    assert_eq!(tokens.len(), 2, "{kinds:?}");
    assert!(
        of(events, EventKind::InitialWake)
            .iter()
            .all(|w| tokens.contains(w.record.token.as_ref().unwrap()))
    );
    let label = device_of(events);
    assert!(
        events
            .iter()
            .all(|e| e.record.device.as_ref().unwrap().as_str() == label)
    );
}

/// Device B: the first change forwarded by its token and synced; after its return, the
/// `retained` notification fans out to every token and the DA resyncs from the version it had.
fn check_device_b(events: &[Event]) {
    let kinds: Vec<EventKind> = events.iter().map(|e| e.record.kind).collect();
    let forward = of(events, EventKind::Forward);
    assert!(!forward.is_empty(), "{kinds:?}");
    assert_eq!(forward[0].record.mailbox.as_deref(), Some("Notes"));
    let connects = of(events, EventKind::Connect);
    assert!(connects.len() >= 2, "{kinds:?}");
    let acks = of(events, EventKind::Ack);
    assert!(connects[1].record.cursor >= acks[0].record.cursor);
    let fan_out = of(events, EventKind::FanOut);
    assert_eq!(fan_out[0].record.retained, Some(true));
    assert_eq!(fan_out[0].record.mailbox.as_deref(), Some("Archive"));
    assert!(fan_out[0].time_us > connects[1].time_us);
    let retained_forward = forward
        .iter()
        .find(|f| f.record.retained == Some(true))
        .unwrap();
    assert_eq!(retained_forward.record.mailbox.as_deref(), Some("Notes"));
    assert_eq!(retained_forward.record.id, fan_out[0].record.id);
    // Every sync of Notes starts from the version the one before ended at, and together they
    // brought the four notes.
    let syncs: Vec<&Event> = of(events, EventKind::Sync)
        .into_iter()
        .filter(|s| s.record.mailbox.as_deref() == Some("Notes"))
        .collect();
    let mut added = 0;
    for pair in syncs.windows(2) {
        let (a, b) = (
            pair[0].record.versions.unwrap(),
            pair[1].record.versions.unwrap(),
        );
        assert_eq!(b.before, a.after, "{syncs:#?}");
    }
    for sync in &syncs {
        let detail = sync.record.detail.as_ref().unwrap();
        let n = detail.split(", ").find(|p| p.ends_with(" added")).unwrap();
        added += n.trim_end_matches(" added").parse::<u32>().unwrap();
    }
    assert_eq!(added, 4, "{syncs:#?}");
    assert!(count(events, EventKind::NoteUpdate) >= 2, "{kinds:?}");
}

/// The real trace is a legal behaviour of the model; each seeded bug, applied to it as a
/// mutation of the trace, is caught at the event it breaks, with the requirement it breaks.
fn validate_against_the_model(trace: &[Event]) {
    use mailpush_model::validate::ModelReplay;
    let summary = ModelReplay::new(2)
        .validate(trace)
        .unwrap_or_else(|v| panic!("{v}"));
    assert!(summary.steps["Deliver"] >= 3, "{summary:?}");
    assert_eq!(summary.devices, 2);

    let caught = |mutated: Vec<Event>, spec: &str| {
        let violation = match ModelReplay::new(2).validate(&mutated) {
            Ok(summary) => panic!("a seeded bug against {spec} passed: {summary:?}"),
            Err(violation) => violation,
        };
        assert!(violation.spec.contains(&spec), "{violation}");
        assert!(!violation.enabled.is_empty(), "{violation}");
    };
    let first_retained = trace
        .iter()
        .position(|e| e.record.kind == EventKind::Deliver && e.record.retained == Some(true))
        .unwrap();

    // `retained` not set on the first notification after the device's return.
    let mut mutated = trace.to_vec();
    mutated[first_retained].record.retained = Some(false);
    caught(mutated, "RING-6");

    // The ring drops the newest notification instead of the oldest.
    let mut mutated = trace.to_vec();
    let drop = mutated
        .iter()
        .position(|e| e.record.kind == EventKind::PushDropped)
        .unwrap();
    let newest = mutated[..drop]
        .iter()
        .rev()
        .find(|e| e.record.kind == EventKind::PushAccepted)
        .unwrap()
        .record
        .id;
    mutated[drop].record.id = newest;
    caught(mutated, "RING-2");

    // A wake skipped: the fan-out to the mailbox the payload did not name is missing.
    let mut mutated = trace.to_vec();
    let fan_out = mutated
        .iter()
        .position(|e| e.record.kind == EventKind::FanOut)
        .unwrap();
    mutated.remove(fan_out);
    caught(mutated, "LOCAL-10");

    // The mark not set while the device is away.
    let mut mutated = trace.to_vec();
    let mark = mutated
        .iter()
        .position(|e| e.record.kind == EventKind::MarkSet)
        .unwrap();
    mutated.remove(mark);
    caught(mutated, "RING-5");
}

/// Each seeded bug of the implementation (crate `mailpush-mutants`) in the real system: the
/// story runs in a child process of this test binary with the bug switched on, keeps its merged
/// trace, and the model's validation rejects it with the requirement the bug breaks. Without a
/// bug the same story's trace is valid (`validate_against_the_model`).
//= spec/device-channel.md#RING-6
//= type=test
//# Every `notify` the server sends while the device's mark is set MUST carry the
//# `retained` flag
//= spec/device-channel.md#RING-2
//= type=test
//# When accepting a notification would make the ring hold more than N, the server
//# MUST drop the held notification with the lowest id (in flight or not) and accept the new one.
//= spec/device-local.md#LOCAL-10
//= type=test
//# On a notification flagged `retained`, the mail client MUST raise the
//# local notification of every registered token of the device
#[test]
fn seeded_bugs_are_caught_by_validating_the_trace() {
    use mailpush_model::validate::ModelReplay;
    use mailpush_mutants::{Mutant, Role};
    let seeded = [
        (Mutant::RetainedNeverSet, Role::PushServer, "RING-6"),
        (Mutant::RingDropsNewest, Role::PushServer, "RING-2"),
        (
            Mutant::MailClientNoFanoutOnRetained,
            Role::Device,
            "LOCAL-10",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (mutant, role, spec) in seeded {
        assert_eq!(mutant.role(), role);
        let kept = dir.path().join(format!("{mutant}.trace"));
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "every_component_traces_the_patent_story_and_the_merged_trace_reads_back",
                "--exact",
                "--nocapture",
            ])
            .env(mailpush_mutants::VARIABLE, mutant.name())
            .env("MAILPUSH_KEEP_TRACE", &kept)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "the story under {mutant} failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let trace = events(&kept);
        assert!(!trace.is_empty(), "no trace kept under {mutant}");
        match ModelReplay::new(2).validate(&trace) {
            Ok(summary) => panic!("the trace under {mutant} is valid: {summary:?}"),
            Err(violation) => assert!(
                violation.spec.contains(&spec),
                "{mutant} should break {spec}:\n{violation}"
            ),
        }
    }
}
