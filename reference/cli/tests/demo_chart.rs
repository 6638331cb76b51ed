//! `mailpush demo --trace --report`, the real binary: the merged trace of every component is a
//! behaviour of the model (`mailpush trace validate`), and its chart, loaded in headless Chromium,
//! has the patent's lanes, one name per device, and the arrows of each step of the story.
//!
//! The browser part needs `chromium` (see the `browser` module).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod browser;

use std::path::Path;
use std::process::{Command, Output};

use browser::{Drawn, chromium, drawn, dump_dom, lanes, screenshot, two_device_lanes};
use mailpush_trace::{EventKind, Limits, read_all, write_events};

/// The demo's ring: small, so that B's absence overflows it.
const RING: &str = "2";

fn mailpush(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailpush"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn validate(trace: &Path) -> Output {
    mailpush(&[
        "trace".as_ref(),
        "validate".as_ref(),
        trace.as_os_str(),
        "--ring".as_ref(),
        RING.as_ref(),
    ])
}

/// The first event at or after `from` that `matches`, with its position.
fn find(drawn: &[Drawn], from: usize, matches: impl Fn(&Drawn) -> bool) -> Option<usize> {
    drawn
        .iter()
        .skip(from)
        .position(matches)
        .map(|at| at + from)
}

fn arrow<'a>(kind: &'a str, device: &'a str) -> impl Fn(&Drawn) -> bool + 'a {
    move |e| e.is_arrow() && e.kind == kind && e.says(&format!("device: {device}"))
}

//= spec/trace.md#TRACE-12
//= type=test
//# In a merged trace, each device MUST have exactly one label.
#[test]
fn the_demo_trace_is_valid_and_its_chart_shows_every_step_of_the_patent() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("demo.jsonl");
    let page = dir.path().join("chart.html");
    let out = mailpush(&[
        "demo".as_ref(),
        "--edits".as_ref(),
        "2".as_ref(),
        "--ring".as_ref(),
        RING.as_ref(),
        "--changes".as_ref(),
        "4".as_ref(),
        "--trace".as_ref(),
        trace.as_os_str(),
        "--report".as_ref(),
        page.as_os_str(),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!("trace: {} (", trace.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("sequence chart: {} (", page.display())),
        "{stdout}"
    );

    // The merged trace replays against the model.
    let valid = validate(&trace);
    assert_eq!(
        valid.status.code(),
        Some(0),
        "{}{}",
        text(&valid.stdout),
        text(&valid.stderr)
    );
    assert!(
        text(&valid.stdout).contains(" 2 devices, 0 restarts: valid"),
        "{}",
        text(&valid.stdout)
    );

    // The same trace with the first `retained` flag taken away is not a behaviour of the model:
    // exit 1, the event and the requirement it breaks named.
    let mut events = read_all(
        std::io::BufReader::new(std::fs::File::open(&trace).unwrap()),
        Limits::default(),
    )
    .unwrap();
    let retained = events
        .iter()
        .position(|e| e.record.kind == EventKind::Deliver && e.record.retained == Some(true))
        .expect("B's first notification after its return carries retained");
    events[retained].record.retained = Some(false);
    let broken = dir.path().join("broken.jsonl");
    write_events(std::fs::File::create(&broken).unwrap(), &events).unwrap();
    let invalid = validate(&broken);
    assert_eq!(invalid.status.code(), Some(1));
    let stderr = text(&invalid.stderr);
    assert!(
        stderr.starts_with(&format!(
            "mailpush: {}: not a behaviour of the model\nline {}: ",
            broken.display(),
            retained + 1
        )),
        "{stderr}"
    );
    assert!(stderr.contains("RING-6"), "{stderr}");
    // A trace that cannot be read is a usage error, not an invalid trace.
    let missing = validate(&dir.path().join("missing.jsonl"));
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing.stderr));

    let Some(browser) = chromium() else {
        return;
    };
    let profile = dir.path().join("profile");
    let dom = dump_dom(&browser, &profile, &page);
    assert_eq!(lanes(&dom), two_device_lanes());

    let drawn = drawn(&dom);
    // One name per device: the servers' events about a device name it as the device does.
    for event in &drawn {
        if let Some(line) = event.title.lines().find(|l| l.starts_with("device: ")) {
            assert!(
                line == "device: A" || line == "device: B",
                "{}",
                event.title
            );
        }
    }
    let after = |from: usize, what: &str, matches: &dyn Fn(&Drawn) -> bool| {
        find(&drawn, from, matches).unwrap_or_else(|| panic!("no {what} after event {from}"))
    };

    // Registration, on both devices: LIST, a token per mailbox, XAPPLEPUSHSERVICE and its
    // subset, the wake that follows.
    for device in ["A", "B"] {
        let mut at = 0;
        for step in [
            "list-mailboxes",
            "register-mailbox",
            "token",
            "request-push",
            "push-subset",
            "initial-wake",
        ] {
            at = after(at, &format!("{step} of {device}"), &arrow(step, device));
        }
    }

    // A note written on A reaches B by push: the push request, the notification, its forward
    // to the DA, B's sync and the update to its notes application.
    let written = after(0, "a note written on A", &arrow("note-write", "A"));
    let mut at = written;
    for step in ["push-request", "deliver", "forward", "sync", "note-update"] {
        at = after(at, &format!("{step} to B"), &arrow(step, "B"));
    }

    // B away: its ring overflows (drops), then the first notification after its return
    // carries `retained`, the mail client wakes every token (fan-out), and B resyncs both
    // mailboxes.
    let dropped = after(at, "a drop of B's notifications", &|e: &Drawn| {
        e.class.starts_with("mark drop") && e.says("device: B")
    });
    let retained = after(dropped, "a retained notification to B", &|e: &Drawn| {
        e.class == "arrow retained" && e.kind == "deliver" && e.says("device: B")
    });
    let fanned = after(retained, "the fan-out on B", &arrow("fan-out", "B"));
    for mailbox in ["Notes", "Journal"] {
        after(fanned, &format!("B's resync of {mailbox}"), &|e: &Drawn| {
            arrow("sync", "B")(e) && e.says(&format!("mailbox: {mailbox}"))
        });
    }

    // The mailbox without push, by scheduled poll: the poll's wake, then the sync of Journal.
    for device in ["A", "B"] {
        let poll = after(fanned, "a scheduled poll", &arrow("scheduled-poll", device));
        after(poll, "the polled sync", &|e: &Drawn| {
            arrow("sync", device)(e) && e.says("mailbox: Journal")
        });
    }

    // The note deleted on A, after the Journal's entry: B's sync removes it.
    let entry = after(fanned, "the Journal's entry", &|e: &Drawn| {
        arrow("note-write", "A")(e) && e.says("mailbox: Journal")
    });
    let deleted = after(entry, "the deletion on A", &|e: &Drawn| {
        arrow("note-write", "A")(e)
            && e.says("mailbox: Notes")
            && (e.says("detail: EXPUNGE") || e.says("detail: STORE"))
    });
    after(deleted, "B's sync removing the note", &|e: &Drawn| {
        arrow("sync", "B")(e) && e.says("mailbox: Notes") && e.title.contains(" 0 added, 1 removed")
    });

    // The browser draws it.
    screenshot(&browser, &profile, &page, 1100, 1600);
}
