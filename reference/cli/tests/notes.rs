//! `mailpush notes` against two device daemons of one account, this project's mail server and
//! push server on loopback: a note added through one device is listed by the other, having
//! reached it by push (the poll interval is the default 900 s).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../device/tests/support/mod.rs"]
mod support;

use std::process::Output;

use serde_json::json;
use support::{Api, Servers, push_ready, start_daemon};

async fn notes(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_mailpush"))
            .arg("notes")
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_note_added_on_one_device_is_listed_on_the_other_by_push() {
    let dir = tempfile::tempdir().unwrap();
    let servers = Servers::start(dir.path()).await;
    let config1 = servers.device_config(&dir.path().join("device1"));
    let config2 = servers.device_config(&dir.path().join("device2"));
    let (stop1, task1, socket1) = start_daemon(&config1);
    let (stop2, task2, socket2) = start_daemon(&config2);
    let mut api1 = Api::connect(&socket1).await;
    let mut api2 = Api::connect(&socket2).await;
    api1.wait_status("device 1 ready", push_ready).await;
    api2.wait_status("device 2 ready", push_ready).await;
    api2.result("subscribe", json!({})).await;
    let (c1, c2) = (config1.to_str().unwrap(), config2.to_str().unwrap());

    let added = notes(&["add", "buy milk\nand eggs", "--config", c1]).await;
    let id = stdout(&added).trim().to_owned();
    assert_eq!(id.len(), 36, "{id}");
    // The push reaches device 2 with no command of its own.
    let event = api2.event().await;
    assert_eq!(event["event"], "view-changed", "{event}");
    assert_eq!(event["added"].as_array().unwrap().len(), 1, "{event}");
    let listed = stdout(&notes(&["list", "--config", c2]).await);
    assert!(
        listed.contains(&id) && listed.contains("buy milk"),
        "{listed}"
    );
    let shown = stdout(&notes(&["show", &id, "--socket", socket2.to_str().unwrap()]).await);
    assert_eq!(shown, "buy milk\nand eggs\n");

    // `watch` on device 1 prints a change made on device 2 as it arrives.
    let mut watch = std::process::Command::new(env!("CARGO_BIN_EXE_mailpush"))
        .args(["notes", "watch", "--config", c1])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let watched = watch.stdout.take().unwrap();
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    tokio::task::spawn_blocking(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(watched)) {
            if lines_tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    let mut next_line = async || {
        tokio::time::timeout(support::WAIT, lines.recv())
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!(next_line().await, "watching Notes");
    let other = stdout(&notes(&["add", "call mum", "--config", c2]).await);
    let line = next_line().await;
    watch.kill().unwrap();
    watch.wait().unwrap();
    assert_eq!(line, format!("added {}  call mum", other.trim()));
    stdout(&notes(&["rm", other.trim(), "--config", c2]).await);

    // An edit on device 2 replaces the note on device 1; rm removes it.
    stdout(&notes(&["edit", &id, "buy oat milk", "--config", c2]).await);
    let listed = stdout(&notes(&["list", "--config", c1]).await);
    assert!(listed.contains("buy oat milk"), "{listed}");
    assert_eq!(listed.lines().count(), 1, "{listed}");
    stdout(&notes(&["rm", &id, "--config", c1]).await);
    assert_eq!(stdout(&notes(&["list", "--config", c2]).await), "");

    // Clear errors: an unknown note, a daemon that does not run.
    let unknown = notes(&[
        "show",
        "0f8fad5b-d9cb-469f-a165-70867728950e",
        "--config",
        c1,
    ])
    .await;
    assert!(!unknown.status.success());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        stderr.to_lowercase().contains("no note 0f8fad5b"),
        "{stderr}"
    );
    let missing = dir.path().join("nowhere.sock");
    let absent = notes(&["list", "--socket", missing.to_str().unwrap()]).await;
    let stderr = String::from_utf8_lossy(&absent.stderr);
    assert!(stderr.contains("no device daemon is running"), "{stderr}");

    stop1.send(()).unwrap();
    task1.await.unwrap();
    stop2.send(()).unwrap();
    task2.await.unwrap();
    servers.mail.shutdown().await;
    servers.push.shutdown().await;
}
