//! A monitored mailbox deleted, created again or replaced by a rename on the mail server: the
//! mail server pushes it under the registered name, the DA finds it gone, keeps its token, and
//! learns of the new mailbox under the name by push (the poll interval is the default 900 s,
//! so no poll can explain it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Api, Imap, Servers, push_ready, start_daemon};

const WAIT: Duration = Duration::from_secs(20);

/// Waits until the device's view of Notes equals what the other client lists.
async fn converged(api: &mut Api, other: &mut Imap) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let server = other.listing("Notes").await;
        let device = api.view("Notes").await;
        if device == server {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the view {device:?} never became {server:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs a mailbox command on a connection of its own: a session that has the mailbox selected
/// is ended when the mailbox is deleted.
async fn mailbox_command(servers: &Servers, command: &str) {
    let mut admin = Imap::connect(servers.imap_addr()).await;
    // `command` panics unless the command completes OK.
    admin.command(command).await;
}

fn notes(status: &Value) -> &Value {
    &status["accounts"][0]["mailboxes"][0]
}

//= spec/provider-api.md#PROV-18
//= type=test
//# It MUST also request a
//# push, naming the mailbox under the name the registration holds, when a registered mailbox is deleted,
//# renamed (the push names its old name) or created again under that name
//= spec/imap-push.md#XAPS-18
//= type=test
//# A mailbox created again under the name, or renamed onto it, MUST get push under it, its
//# creation first.
//= spec/sync.md#SYNC-23
//= type=test
//# A mailbox that the DA is configured to monitor and that the
//# list no longer shows MUST keep its token and stay monitored
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitored_mailbox_deleted_then_recreated_or_renamed_onto_its_name_reaches_the_device() {
    let dir = tempfile::tempdir().unwrap();
    let servers = Servers::start(dir.path()).await;
    let config = servers.device_config(&dir.path().join("device"));
    let (stop, task, socket) = start_daemon(&config);
    let mut api = Api::connect(&socket).await;
    let status = api.wait_status("ready for push", push_ready).await;
    let token = notes(&status)["token"].clone();
    assert!(token.is_string(), "{status:#}");
    let mut other = Imap::connect(servers.imap_addr()).await;
    other.append("Notes", "Subject: one\r\n\r\nfirst\r\n").await;
    converged(&mut api, &mut other).await;

    // Deleted: the push for it makes the DA find it gone; it keeps its token.
    drop(other);
    mailbox_command(&servers, "DELETE Notes").await;
    let status = api
        .wait_status("told the mailbox is gone", |s| {
            notes(s)["last_error"] == json!("the mailbox does not exist")
        })
        .await;
    assert_eq!(notes(&status)["token"], token, "{status:#}");

    // Created again under the name with new content: pushed under the registered name.
    mailbox_command(&servers, "CREATE Notes").await;
    let mut other = Imap::connect(servers.imap_addr()).await;
    other
        .append("Notes", "Subject: two\r\n\r\nsecond\r\n")
        .await;
    other
        .append("Notes", "Subject: three\r\n\r\nthird\r\n")
        .await;
    converged(&mut api, &mut other).await;
    assert_eq!(api.view("Notes").await.len(), 2);

    // Replaced by a rename onto the name: the device follows again.
    drop(other);
    mailbox_command(&servers, "CREATE Draft").await;
    let mut other = Imap::connect(servers.imap_addr()).await;
    other
        .append("Draft", "Subject: four\r\n\r\nfourth\r\n")
        .await;
    drop(other);
    mailbox_command(&servers, "DELETE Notes").await;
    mailbox_command(&servers, "RENAME Draft Notes").await;
    let mut other = Imap::connect(servers.imap_addr()).await;
    converged(&mut api, &mut other).await;
    assert_eq!(api.view("Notes").await.len(), 1);
    let status = api.result("status", json!({})).await;
    assert_eq!(notes(&status)["token"], token, "{status:#}");

    stop.send(()).unwrap();
    task.await.unwrap();
    servers.mail.shutdown().await;
    servers.push.shutdown().await;
}
