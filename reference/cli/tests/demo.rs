//! `mailpush demo`, the real binary: the patent's story runs through and every device agrees
//! with the server; a device that cannot agree makes it fail with a message naming it; `--keep`
//! leaves a system `mailpush notes` can use until Ctrl-C.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::BufRead as _;
use std::process::{Command, Output, Stdio};

fn demo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailpush"))
        .arg("demo")
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The push server's counts of step 4, as the demo prints them: (dropped, replaced by topic).
/// Bounds, not exact figures, are asserted on them: a notification of a device that is online
/// but has not acknowledged the previous one yet can be dropped or replaced too, and whether
/// that happens depends on timing.
fn offline_counts(stdout: &str) -> (u64, u64) {
    let line = stdout
        .lines()
        .find(|l| l.contains(" notes added; push server, ring N = "))
        .unwrap_or_else(|| panic!("no count of step 4 in\n{stdout}"));
    let number_before = |suffix: &str| -> u64 {
        let head = &line[..line
            .find(suffix)
            .unwrap_or_else(|| panic!("{suffix:?} in {line}"))];
        head.rsplit(' ').next().unwrap().parse().unwrap()
    };
    (
        number_before(" notifications dropped"),
        number_before(" replaced by topic"),
    )
}

//= spec/device-channel.md#RING-2
//= type=test
//# When accepting a notification would make the ring hold more than N, the server
//# MUST drop the held notification with the lowest id (in flight or not) and accept the new one.
//= spec/device-local.md#LOCAL-10
//= type=test
//# On a notification flagged `retained`, the mail client MUST raise the
//# local notification of every registered token of the device
#[test]
fn the_story_runs_and_every_device_agrees_with_the_server() {
    let output = demo(&[
        "--devices",
        "3",
        "--edits",
        "2",
        "--ring",
        "2",
        "--changes",
        "5",
    ]);
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        text(&output.stderr)
    );
    for step in [
        "== Step 1: registration",
        "== Step 2: a note created on device A reaches the other devices by push",
        "== Step 3: the note edited on device A",
        "== Step 4: device B offline while more changes are made than its ring holds",
        "== Step 5: device B reconnects",
        "== Step 6: a mailbox without push reaches the devices by scheduled poll",
        "== Step 7: a note deleted on device A",
    ] {
        assert!(stdout.contains(step), "no {step:?} in\n{stdout}");
    }
    // Each of the other devices saw each change, with a measured latency.
    for device in ["B", "C"] {
        assert!(
            stdout.contains(&format!("device {device}: the note arrived after")),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!("device {device}: the deletion arrived after")),
            "{stdout}"
        );
    }
    assert!(
        stdout.contains("acknowledged subset [\"Notes\"]"),
        "{stdout}"
    );
    // Five changes for B with a ring of two: at least three dropped.
    assert!(stdout.contains("ring N = 2: "), "{stdout}");
    let (dropped, _) = offline_counts(&stdout);
    assert!(dropped >= 3, "{stdout}");
    assert!(stdout.contains("flagged retained"), "{stdout}");
    assert!(
        stdout.contains("device C: the entry arrived by a scheduled poll"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| step ") && stdout.contains("latency p99"),
        "{stdout}"
    );
    assert!(
        stdout.contains("every device agrees with the servers"),
        "{stdout}"
    );
}

#[test]
fn a_device_that_cannot_agree_fails_the_demo_with_a_message() {
    let output = demo(&[
        "--diverge",
        "--topic-coalescing",
        "--edits",
        "1",
        "--timeout",
        "3",
    ]);
    let stdout = text(&output.stdout);
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stdout}");
    // With a topic per account, B's held notifications replace one another instead: of the
    // six changes made while it is away, the last one is kept.
    let (dropped, replaced) = offline_counts(&stdout);
    assert_eq!(dropped, 0, "{stdout}");
    assert!(replaced >= 5, "{stdout}");
    assert!(
        stderr.contains("the devices do not agree with the server: device A's notes differ"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Nobody was told about this one"),
        "{stderr}"
    );
}

#[test]
fn help_explains_every_option() {
    let output = demo(&["--help"]);
    let help = text(&output.stdout);
    for option in [
        "--devices",
        "--ring",
        "--topic-coalescing",
        "--changes",
        "--edits",
        "--poll-interval-ms",
        "--timeout",
        "--keep",
        "--diverge",
        "--trace",
        "--report",
    ] {
        assert!(help.contains(option), "{option} not in\n{help}");
    }
}

#[test]
fn keep_leaves_the_system_for_the_notes_commands_until_ctrl_c() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailpush"))
        .args(["demo", "--keep", "--edits", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut config = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.trim().strip_prefix("mailpush notes --config ") {
            config.get_or_insert(rest.split_whitespace().next().unwrap().to_owned());
        }
        if line.contains("Press Ctrl-C to stop") {
            break;
        }
    }
    let config = config.expect("the demo printed how to connect");
    let listed = Command::new(env!("CARGO_BIN_EXE_mailpush"))
        .args(["notes", "list", "--config", &config])
        .output()
        .unwrap();
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    assert_eq!(
        text(&listed.stdout).lines().count(),
        6,
        "{}",
        text(&listed.stdout)
    );

    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    assert!(child.wait().unwrap().success(), "{rest:?}");
    let kept = rest
        .iter()
        .find_map(|l| l.strip_prefix("everything stopped; the state is kept in "))
        .expect("the kept directory is named");
    assert!(std::path::Path::new(&config).exists());
    std::fs::remove_dir_all(kept).unwrap();
}
