//! `mailpush chaos` as CI runs it: 200 seeded runs of the real servers and device daemons under
//! kills, restarts, cut, stalled and refused device channels, a small ring, short TTLs and
//! topics on and off; every run must converge within the bound.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

//= spec/properties.md#SAFE-5
//= type=test
//# in every reachable quiescent state every DA's
//# view of every registered mailbox MUST equal the mail server's content.
#[test]
fn two_hundred_seeded_runs_converge() {
    let logs = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_mailpush"))
        .args(["chaos", "--seed", "1", "--runs", "200", "--jobs", "8"])
        .arg("--logs")
        .arg(logs.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The runs' lines, with the seed, the command that reproduces a failure and its logs.
    println!("{stdout}");
    eprintln!("{stderr}");
    if !output.status.success() {
        let kept = logs.keep();
        panic!(
            "some runs failed; their logs are kept in {}:\n{stdout}",
            kept.display()
        );
    }
    assert!(
        stdout.contains("chaos: 200 runs, 0 failed"),
        "no summary:\n{stdout}"
    );
    // A failing run's directory would stay; a passing run's is removed.
    assert_eq!(std::fs::read_dir(logs.path()).unwrap().count(), 0);
}
