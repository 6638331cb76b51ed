//! `mailpush trace`: the chart of a hand-written two-device trace, loaded in a real browser
//! (Debian's headless Chromium), with its lanes and the arrows of each step of the patent found in
//! the browser's DOM; and clear errors for a missing or malformed trace.
//!
//! The browser test needs `chromium` (see the `browser` module).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod browser;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use browser::{chromium, drawn, dump_dom, lanes, screenshot, two_device_lanes};
use mailpush_trace::{EventKind, Limits, read_all};

fn sample_trace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../trace/tests/data/two-devices.jsonl")
}

fn mailpush(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailpush"))
        .args(args)
        .output()
        .unwrap()
}

fn render(trace: &Path, output: &Path) -> Output {
    mailpush(&[
        "trace".as_ref(),
        "render".as_ref(),
        trace.as_os_str(),
        "-o".as_ref(),
        output.as_os_str(),
    ])
}

#[test]
fn the_chart_loads_in_chromium_with_every_lane_and_arrow() {
    let Some(browser) = chromium() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("chart.html");
    let out = render(&sample_trace(), &page);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}: 46 events drawn\n", page.display())
    );

    let profile = dir.path().join("profile");
    let dom = dump_dom(&browser, &profile, &page);
    assert_eq!(lanes(&dom), two_device_lanes());

    // One arrow per message of the trace, and each step of the patent among them.
    let events = read_all(
        std::fs::File::open(sample_trace())
            .map(std::io::BufReader::new)
            .unwrap(),
        Limits::default(),
    )
    .unwrap();
    let messages = events
        .iter()
        .filter(|e| e.record.kind.receiver().is_some())
        .count();
    let drawn = drawn(&dom);
    assert_eq!(drawn.iter().filter(|e| e.is_arrow()).count(), messages);
    for step in [
        EventKind::ListMailboxes,
        EventKind::RegisterMailbox,
        EventKind::Token,
        EventKind::RequestPush,
        EventKind::PushSubset,
        EventKind::PushRequest,
        EventKind::Deliver,
        EventKind::Forward,
        EventKind::FanOut,
        EventKind::ScheduledPoll,
        EventKind::Sync,
    ] {
        assert!(
            drawn
                .iter()
                .any(|e| e.is_arrow() && e.kind == step.as_str()),
            "no arrow for {step}"
        );
    }
    // Marks: the drop, the retained delivery, the disconnect.
    assert!(dom.contains("class=\"event mark drop\" data-event=\"push-dropped\""));
    assert!(dom.contains("class=\"event arrow retained\" data-event=\"deliver\""));
    assert!(dom.contains("class=\"event mark disconnect\" data-event=\"disconnect\""));
    // Hover text with spec IDs survives parsing.
    assert!(dom.contains("spec: CHAN-16, RING-6"));

    // The browser draws it: a PNG of the chart.
    screenshot(&browser, &profile, &page, 1100, 1600);
}

#[test]
fn a_missing_or_malformed_trace_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("chart.html");

    let missing = dir.path().join("nope.jsonl");
    let out = render(&missing, &page);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "mailpush: cannot open trace {}: ",
            missing.display()
        )),
        "{stderr}"
    );

    let bad = dir.path().join("bad.jsonl");
    let good = std::fs::read_to_string(sample_trace()).unwrap();
    let first = good.lines().next().unwrap();
    std::fs::write(
        &bad,
        format!("{first}\n{}\n", first.replace("\"da\"", "\"printer\"")),
    )
    .unwrap();
    let out = render(&bad, &page);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "mailpush: {}: line 2: field `component`: not a component of the system\n",
            bad.display()
        )
    );
    assert!(!page.exists(), "no chart is written for a bad trace");

    let out = mailpush(&["trace".as_ref(), "check".as_ref(), bad.as_os_str()]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn traces_of_several_components_merge_and_check() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(sample_trace()).unwrap();
    // Split the sample by component, as each component would write it, then merge it back.
    let mut paths = Vec::new();
    for component in [
        "\"da\"",
        "\"mail-client\"",
        "\"mail-server\"",
        "\"push-server\"",
        "\"notes\"",
    ] {
        let lines: String = text
            .lines()
            .filter(|l| l.contains(&format!("\"component\":{component}")))
            .map(|l| format!("{l}\n"))
            .collect();
        let path = dir
            .path()
            .join(format!("{}.jsonl", component.trim_matches('"')));
        std::fs::write(&path, lines).unwrap();
        paths.push(path);
    }
    let merged = dir.path().join("merged.jsonl");
    let mut args: Vec<&std::ffi::OsStr> = vec!["trace".as_ref(), "merge".as_ref()];
    args.extend(paths.iter().map(|p| p.as_os_str()));
    args.extend(["-o".as_ref(), merged.as_os_str()]);
    let out = mailpush(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&merged).unwrap(), text);

    let out = mailpush(&["trace".as_ref(), "check".as_ref(), merged.as_os_str()]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("46 events, well formed"), "{stdout}");
    assert!(stdout.contains("  sync             6\n"), "{stdout}");
}
