//! `kill -9` of the device daemon while another client changes the mailbox and the daemon
//! syncs, many times: after a restart and one sync the view equals the server's mailbox, and
//! the token and the device-channel cursor survive every kill.
//!
//! The daemon runs in a child process: this test binary run again with only
//! `kill9_child_daemon`, which the parent selects through an environment variable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mailpush_device::DeviceConfig;
use mailpush_device::store::Store;
use serde_json::json;
use support::{Api, Imap, Servers};

const CHILD_CONFIG: &str = "MAILPUSH_DEVICE_KILL9_CONFIG";
const ROUNDS: u64 = 10;

/// The child: runs the daemon of the configuration named by the environment until killed.
#[test]
#[ignore = "run by kill9_during_syncs_loses_nothing in a child process"]
fn kill9_child_daemon() {
    let Ok(config) = std::env::var(CHILD_CONFIG) else {
        return;
    };
    let config = DeviceConfig::load(Path::new(&config)).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(mailpush_device::run(config, std::future::pending()))
        .unwrap();
}

fn spawn_child(config: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "kill9_child_daemon", "--ignored", "--nocapture"])
        .env(CHILD_CONFIG, config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn kill9(child: &mut Child) {
    // SIGKILL: `Child::kill` sends it on Unix.
    child.kill().unwrap();
    child.wait().unwrap();
}

/// What a kill must not lose: the token of Notes, the cursor, and the view of Notes (its
/// UIDNEXT and number of messages).
struct Stored {
    token: Option<String>,
    cursor: u64,
    view: Option<(Option<u32>, u64)>,
}

fn stored(data: &Path) -> Stored {
    let store = Store::open(&data.join("device.sqlite3")).unwrap();
    let restored = store.restored().unwrap();
    let token = restored.tokens.first().map(|t| t.token.as_str().to_owned());
    let account = mailpush_device_core::AccountId::new("A1").unwrap();
    let view = store
        .summaries(&account)
        .unwrap()
        .first()
        .map(|s| (s.uid_next, s.messages));
    Stored {
        token,
        cursor: restored.device.map_or(0, |(_, cursor)| cursor),
        view,
    }
}

/// A deterministic sequence of changes: appends, flag changes and expunges.
async fn change(imap: &mut Imap, step: u64) {
    match step % 5 {
        0 | 1 | 3 => {
            let body = format!("Subject: note {step}\r\n\r\n{}\r\n", "text ".repeat(200));
            imap.append("Notes", &body).await;
        }
        2 => {
            imap.command("SELECT Notes").await;
            imap.command("UID STORE 1:* +FLAGS (\\Flagged)").await;
        }
        _ => {
            imap.command("SELECT Notes").await;
            imap.command(&format!("UID STORE {}:* +FLAGS (\\Deleted)", step / 2))
                .await;
            imap.command("EXPUNGE").await;
        }
    }
}

//= spec/sync.md#SYNC-7
//= type=test
//# a DA that persists its view MUST
//# write a new HIGHESTMODSEQ, UIDNEXT and count in the same atomic write as the changes they cover
//= spec/device-local.md#LOCAL-3
//= type=test
//# MUST NOT be given to another (account, mailbox) pair
//# while it is registered or afterwards, restarts of the mail client included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_during_syncs_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let servers = Servers::start(dir.path()).await;
    let data = dir.path().join("device");
    let config = servers.device_config(&data);
    let mut other = Imap::connect(servers.imap_addr()).await;
    let mut token: Option<String> = None;
    let mut cursor = 0;
    let mut step = 0;
    let mut view = None;
    let mut rounds_that_synced = 0;
    for round in 0..ROUNDS {
        let mut child = spawn_child(&config);
        // Change the mailbox while the daemon starts, registers and syncs; kill it at a point
        // that moves from round to round.
        let until = tokio::time::Instant::now() + Duration::from_millis(150 + 97 * round);
        while tokio::time::Instant::now() < until {
            change(&mut other, step).await;
            step += 1;
        }
        kill9(&mut child);
        let Stored {
            token: now_token,
            cursor: now_cursor,
            view: now_view,
        } = stored(&data);
        if now_view != view {
            rounds_that_synced += 1;
        }
        view = now_view;
        if let Some(t) = &token {
            assert_eq!(
                now_token.as_ref(),
                Some(t),
                "round {round}: the token changed"
            );
        }
        token = now_token.or(token);
        assert!(
            now_cursor >= cursor,
            "round {round}: cursor {now_cursor} < {cursor}"
        );
        cursor = now_cursor;
    }

    // The kills fell between syncs that committed: the stored view moved in most rounds.
    assert!(
        rounds_that_synced >= ROUNDS / 2,
        "{rounds_that_synced} rounds synced"
    );

    // One more start, no more changes: once the daemon has synchronized Notes, its view is the
    // server's mailbox.
    let mut child = spawn_child(&config);
    let mut api = Api::connect(&config_socket(&config)).await;
    let status = api
        .wait_status("synchronized after the restart", |s| {
            s["accounts"][0]["mailboxes"][0]["last_sync"]["method"].is_string()
        })
        .await;
    if let Some(t) = &token {
        assert_eq!(status["accounts"][0]["mailboxes"][0]["token"], json!(t));
    }
    let server = other.listing("Notes").await;
    assert!(!server.is_empty());
    assert_eq!(api.view("Notes").await, server);
    // Every message of the view has its content.
    let messages = api
        .result("messages", json!({"account": "A1", "mailbox": "Notes"}))
        .await;
    for m in messages["messages"].as_array().unwrap() {
        assert!(m["octets"].as_u64().unwrap() > 0, "{m}");
    }
    kill9(&mut child);
    servers.mail.shutdown().await;
    servers.push.shutdown().await;
}

fn config_socket(config: &Path) -> std::path::PathBuf {
    DeviceConfig::load(config).unwrap().socket_path()
}
