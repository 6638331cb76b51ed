//! NOTE-19 through the device daemon: a version of a note larger than the DA keeps (SYNC-14)
//! is kept by its header, so `mailpush notes` knows the note exists and cannot be read, and
//! does not show the older version in its place.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../device/tests/support/mod.rs"]
mod support;

use serde_json::json;
use support::{Api, Imap, Servers, push_ready, start_daemon};

fn notes(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_mailpush"))
        .arg("notes")
        .args(args)
        .output()
        .unwrap()
}

const ID: &str = "5C0D1A2B-3E4F-4A5B-8C6D-7E8F9A0B1C2D";

fn version(date: &str, text: &str) -> String {
    format!(
        "From: fred@example.org\r\nDate: {date}\r\nSubject: shopping\r\n\
         X-Uniform-Type-Identifier: com.apple.mail-note\r\n\
         X-Universally-Unique-Identifier: {ID}\r\n\
         X-Mail-Created-Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\
         Content-Type: text/html; charset=utf-8\r\n\r\n<div>{text}</div>\r\n"
    )
}

//= spec/notes.md#NOTE-19
//= type=test
//# When the latest version of a note cannot be read, a reader MUST NOT show an older version
//# in its place
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_too_large_to_keep_is_listed_as_unreadable_by_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let servers = Servers::start(dir.path()).await;
    let config = servers.device_config(&dir.path().join("device"));
    let (stop, task, socket) = start_daemon(&config);
    let mut api = Api::connect(&socket).await;
    api.wait_status("ready", push_ready).await;
    let mut other = Imap::connect(servers.imap_addr()).await;
    other
        .append("Notes", &version("Mon, 1 Jan 2024 10:00:00 +0000", "milk"))
        .await;
    // The latest version, over the DA's limit of 1 MiB.
    let big = "x".repeat(1_100_000);
    other
        .append("Notes", &version("Tue, 2 Jan 2024 10:00:00 +0000", &big))
        .await;

    let c = config.to_str().unwrap().to_owned();
    let listed = tokio::task::spawn_blocking(move || notes(&["list", "--config", &c]))
        .await
        .unwrap();
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(
        listed.contains(&ID.to_lowercase()) || listed.contains(ID),
        "{listed}"
    );
    assert!(listed.contains("unreadable"), "{listed}");
    assert!(
        !listed.contains("milk"),
        "the older version shows: {listed}"
    );

    // What the API gives for it: too large, no content, the header.
    let view = api
        .result("view", json!({"account": "A1", "mailbox": "Notes"}))
        .await;
    let message = &view["messages"][1];
    assert_eq!(message["too_large"], true, "{view}");
    assert!(message["content_base64"].is_null());
    use base64::Engine as _;
    let header = base64::engine::general_purpose::STANDARD
        .decode(message["header_base64"].as_str().unwrap())
        .unwrap();
    assert!(header.ends_with(b"\r\n\r\n"));
    assert!(String::from_utf8(header).unwrap().contains(ID));
    stop.send(()).unwrap();
    task.await.unwrap();
    servers.mail.shutdown().await;
    servers.push.shutdown().await;
}
