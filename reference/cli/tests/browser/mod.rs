//! What the chart tests share: Debian's headless Chromium run on a page, and the lanes and events
//! of a sequence chart read back from the DOM the browser built.
//!
//! Chromium is installed by `.ci/test-all`. Without it a test fails with a message naming the
//! package, unless `MAILPUSH_SKIP_BROWSER=1`, which skips it.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Set to `1` to skip the browser tests where Chromium is not installed.
pub const SKIP_VARIABLE: &str = "MAILPUSH_SKIP_BROWSER";

/// The browser on this machine, or `None` when it is missing and the test may be skipped.
pub fn chromium() -> Option<PathBuf> {
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
pub fn run_chromium(browser: &Path, profile: &Path, args: &[String], page: &Path) -> Output {
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
    // Drained while the browser runs: a DOM larger than a pipe's buffer would otherwise block it.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).unwrap();
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("chromium did not finish within two minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// The DOM Chromium built from `page`, serialized.
pub fn dump_dom(browser: &Path, profile: &Path, page: &Path) -> String {
    let dom = run_chromium(browser, profile, &["--dump-dom".into()], page);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8(dom.stdout).unwrap();
    // The SVG was parsed as SVG, not shown as text.
    assert!(
        dom.contains("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"sequence-chart\""),
        "no chart in the DOM"
    );
    dom
}

/// A PNG of `page` in a window of `width` × `height`, checked to be a PNG of a drawing rather
/// than of a blank page.
pub fn screenshot(browser: &Path, profile: &Path, page: &Path, width: u32, height: u32) -> Vec<u8> {
    let shot = profile.with_extension("png");
    let out = run_chromium(
        browser,
        profile,
        &[
            format!("--screenshot={}", shot.display()),
            format!("--window-size={width},{height}"),
        ],
        page,
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
    png
}

/// The lanes of a chart of two devices A and B, left to right, as [`lanes`] reads them: each
/// device's components mirrored around the two servers.
pub fn two_device_lanes() -> Vec<(String, String)> {
    [
        ("notes", "A"),
        ("da", "A"),
        ("mail-client", "A"),
        ("mail-server", ""),
        ("push-server", ""),
        ("mail-client", "B"),
        ("da", "B"),
        ("notes", "B"),
    ]
    .map(|(c, d)| (c.to_owned(), d.to_owned()))
    .to_vec()
}

/// The lanes of the chart in the DOM, left to right: (component, device or "").
pub fn lanes(dom: &str) -> Vec<(String, String)> {
    dom.match_indices("<g class=\"lane\" data-component=\"")
        .map(|(at, m)| {
            let tag = &dom[at + m.len()..at + dom[at..].find('>').unwrap()];
            let component = tag[..tag.find('"').unwrap()].to_owned();
            let device = tag
                .split_once("data-device=\"")
                .map(|(_, rest)| rest[..rest.find('"').unwrap()].to_owned())
                .unwrap_or_default();
            (component, device)
        })
        .collect()
}

/// One event of the chart in the DOM, in the order of the trace.
#[derive(Debug, Clone)]
pub struct Drawn {
    /// `arrow` or `mark`, then the style (`message`, `retained`, `sync`…).
    pub class: String,
    /// The event's name (`data-event`).
    pub kind: String,
    /// Its hover text: time, emitter, fields, spec IDs.
    pub title: String,
}

impl Drawn {
    /// Whether it is drawn as an arrow (a message).
    pub fn is_arrow(&self) -> bool {
        self.class.starts_with("arrow")
    }

    /// Whether its hover text has this line.
    pub fn says(&self, line: &str) -> bool {
        self.title.lines().any(|l| l == line)
    }
}

/// Every event of the chart in the DOM, in order.
pub fn drawn(dom: &str) -> Vec<Drawn> {
    const START: &str = "<g class=\"event ";
    dom.match_indices(START)
        .map(|(at, _)| {
            let rest = &dom[at + START.len()..];
            let class = rest[..rest.find('"').unwrap()].to_owned();
            let kind = rest
                .split_once("data-event=\"")
                .map(|(_, r)| r[..r.find('"').unwrap()].to_owned())
                .unwrap();
            let title = rest
                .split_once("<title>")
                .map(|(_, r)| r[..r.find("</title>").unwrap()].to_owned())
                .unwrap_or_default();
            Drawn { class, kind, title }
        })
        .collect()
}
