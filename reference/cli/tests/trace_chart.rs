//! `mailpush trace`: the chart of a hand-written two-device trace, loaded in a real browser
//! (Debian's headless Chromium), with its lanes and the arrows of each step of the patent found in
//! the browser's DOM; and clear errors for a missing or malformed trace.
//!
//! The browser test needs `chromium` (installed by `.ci/test-all`). Without it the test fails with
//! a message naming the package, unless `MAILPUSH_SKIP_BROWSER=1`, which skips it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use mailpush_trace::{EventKind, Limits, read_all};

/// Set to `1` to skip the browser test where Chromium is not installed.
const SKIP_VARIABLE: &str = "MAILPUSH_SKIP_BROWSER";

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

/// The browser on this machine, or `None` when it is missing and the test may be skipped.
fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromium"))
            .find(|path| path.is_file())
    });
    match found {
        Some(path) => Some(path),
        None if std::env::var(SKIP_VARIABLE).as_deref() == Ok("1") => {
            eprintln!("skipped: chromium is not installed and {SKIP_VARIABLE}=1");
            None
        }
        None => panic!(
            "chromium is not installed: `apt-get install chromium` (as .ci/test-all does), \
             or set {SKIP_VARIABLE}=1 to skip this test"
        ),
    }
}

/// Runs headless Chromium on `page` with `args`, in a profile of its own, and waits for it (a
/// browser that hangs is killed after two minutes: a guard, not a measurement).
fn run_chromium(browser: &Path, profile: &Path, args: &[String], page: &Path) -> Output {
    let mut child = Command::new(browser)
        .args([
            "--headless",
            // The tests may run as root, where Chromium's sandbox refuses to start.
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("chromium did not finish within two minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
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
    let dom = run_chromium(&browser, &profile, &["--dump-dom".into()], &page);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8(dom.stdout).unwrap();

    // The DOM is what the browser built from the page: the SVG was parsed, not shown as text.
    assert!(dom.contains("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"sequence-chart\""));
    let lanes: Vec<&str> = dom
        .match_indices("<g class=\"lane\" data-component=\"")
        .map(|(at, _)| &dom[at..at + dom[at..].find('>').unwrap()])
        .collect();
    let expected = [
        ("notes", "A"),
        ("da", "A"),
        ("mail-client", "A"),
        ("mail-server", ""),
        ("push-server", ""),
        ("mail-client", "B"),
        ("da", "B"),
        ("notes", "B"),
    ];
    assert_eq!(lanes.len(), expected.len(), "{lanes:?}");
    for (lane, (component, device)) in lanes.iter().zip(expected) {
        assert!(
            lane.contains(&format!("data-component=\"{component}\"")),
            "{lane}"
        );
        if !device.is_empty() {
            assert!(
                lane.contains(&format!("data-device=\"{device}\"")),
                "{lane}"
            );
        }
    }

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
    assert_eq!(dom.matches("<g class=\"event arrow").count(), messages);
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
        let arrow = format!("class=\"event arrow {}", "");
        let tagged = format!("data-event=\"{}\"", step.as_str());
        assert!(
            dom.match_indices(&tagged).any(|(at, _)| dom[..at]
                .rfind("<g ")
                .is_some_and(|g| dom[g..at].contains(&arrow))),
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
    let shot = dir.path().join("chart.png");
    let out = run_chromium(
        &browser,
        &profile,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1100,1600".into(),
        ],
        &page,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert!(
        png.len() > 20_000,
        "a chart, not a blank page: {} octets",
        png.len()
    );
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
