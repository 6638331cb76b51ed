//! The device daemon against this project's mail server and push server on loopback: push
//! registration, the device channel, a change by another IMAP client reaching the view through
//! a push (the poll interval is the default 900 s, so no poll can explain it), and a restart
//! that keeps the tokens and the cursor.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;

use mailpush_device::store::Store;
use serde_json::json;
use support::{Api, Imap, Servers, push_ready, start_daemon};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The servers and a daemon whose push is up.
struct Running {
    dir: tempfile::TempDir,
    servers: Servers,
    data: std::path::PathBuf,
    config: std::path::PathBuf,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
    api: Api,
    status: serde_json::Value,
}

async fn running() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let servers = Servers::start(dir.path()).await;
    let data = dir.path().join("device");
    let config = servers.device_config(&data);
    let (stop, task, socket) = start_daemon(&config);
    let mut api = Api::connect(&socket).await;
    let status = api.wait_status("ready for push", push_ready).await;
    Running {
        dir,
        servers,
        data,
        config,
        stop,
        task,
        api,
        status,
    }
}

//= spec/architecture.md#ARCH-3
//= type=test
//# A conforming device MUST implement the client side of
//# [device-channel.md](device-channel.md), the mail client and DA duties of
//# [device-local.md](device-local.md), and the sync rules of [sync.md](sync.md).
//= spec/architecture.md#ARCH-4
//= type=test
//# A
//# device MUST work whether or not the two share a connection.
//= spec/device-local.md#LOCAL-7
//= type=test
//# for every monitored mailbox that matches, it MUST raise the
//# local notification named by that mailbox's token.
//= spec/device-local.md#LOCAL-13
//= type=test
//# On a wake for one of its tokens, the DA MUST synchronize that token's
//# mailbox with the mail server by the rules of [sync.md](sync.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_by_another_client_reaches_the_view_by_push_and_a_restart_keeps_tokens_and_cursor()
{
    let Running {
        dir: _dir,
        servers,
        data,
        config,
        stop,
        task,
        mut api,
        status,
    } = running().await;
    let token = status["accounts"][0]["mailboxes"][0]["token"].clone();
    assert!(token.is_string(), "{status:#}");
    assert_eq!(api.view("Notes").await, vec![]);
    let subscribed = api.result("subscribe", json!({})).await;
    assert_eq!(subscribed, json!({"subscribed": true}));

    // Another client appends: the mail server pushes, the push server delivers on the device
    // channel, the mail client wakes the token, the DA syncs.
    let mut other = Imap::connect(servers.imap_addr()).await;
    let note =
        "Subject: milk\r\nX-Uniform-Type-Identifier: com.apple.mail-note\r\n\r\nbuy milk\r\n";
    other.append("Notes", note).await;
    let event = api.event().await;
    assert_eq!(event["event"], "view-changed", "{event}");
    assert_eq!(event["mailbox"], "Notes");
    assert_eq!(event["added"], json!([1]));
    let message = api
        .result(
            "message",
            json!({"account": "A1", "mailbox": "Notes", "uid": 1}),
        )
        .await;
    use base64::Engine as _;
    let content = base64::engine::general_purpose::STANDARD
        .decode(message["content_base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(content, note.as_bytes());

    // A flag change by the other client arrives the same way.
    other.command("SELECT Notes").await;
    other.command("UID STORE 1 +FLAGS (\\Seen)").await;
    let event = api.event().await;
    assert_eq!(event["changed"], json!([1]), "{event}");
    assert_eq!(api.view("Notes").await, other.listing("Notes").await);
    let status = api.result("status", json!({})).await;
    let cursor = status["cursor"].as_u64().unwrap();
    assert!(cursor >= 2, "{status:#}");
    // The status counts what the channel brought: two notifications, none retained, each
    // waking the one token.
    let counted = &status["notifications"];
    assert_eq!(counted["received"], json!(2), "{status:#}");
    assert_eq!(counted["retained"], json!(0), "{status:#}");
    assert_eq!(counted["last"]["woken"], json!(1), "{status:#}");
    assert_eq!(counted["last"]["id"], json!(cursor), "{status:#}");
    assert!(counted["posted"].as_u64().unwrap() >= 2, "{status:#}");

    // Stop; what is stored is the tokens and the cursor the daemon reported.
    stop.send(()).unwrap();
    task.await.unwrap();
    let stored = Store::open(&data.join("device.sqlite3")).unwrap();
    let restored = stored.restored().unwrap();
    assert_eq!(restored.tokens.len(), 1);
    assert_eq!(json!(restored.tokens[0].token.as_str()), token);
    let (credentials, stored_cursor) = restored.device.clone().unwrap();
    assert_eq!(stored_cursor, cursor);
    drop(stored);

    // Restart: same token, same device, the cursor carried on; pushes still arrive.
    let (stop, task, socket) = start_daemon(&config);
    let mut api = Api::connect(&socket).await;
    let status = api.wait_status("ready for push again", push_ready).await;
    assert_eq!(status["accounts"][0]["mailboxes"][0]["token"], token);
    assert!(status["cursor"].as_u64().unwrap() >= cursor, "{status:#}");
    api.result("subscribe", json!({})).await;
    other
        .append("Notes", "Subject: eggs\r\n\r\nand eggs\r\n")
        .await;
    let event = api.event().await;
    assert_eq!(event["added"], json!([2]), "{event}");
    assert_eq!(api.view("Notes").await, other.listing("Notes").await);
    stop.send(()).unwrap();
    task.await.unwrap();
    let restored = Store::open(&data.join("device.sqlite3"))
        .unwrap()
        .restored()
        .unwrap();
    assert_eq!(restored.device.unwrap().0, credentials);
    servers.mail.shutdown().await;
    servers.push.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_requests_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let servers = Servers::start(dir.path()).await;
    let config = servers.device_config(&dir.path().join("device"));
    let (stop, task, socket) = start_daemon(&config);
    let mut api = Api::connect(&socket).await;
    api.send_line("not json").await;
    let answer = api.line().await;
    assert_eq!(answer["error"]["code"], "malformed-request", "{answer}");
    let answer = api
        .call("messages", json!({"account": "nobody", "mailbox": "Notes"}))
        .await;
    assert_eq!(answer["error"]["code"], "unknown-account", "{answer}");
    let answer = api
        .call("messages", json!({"account": "A1", "mailbox": "Other"}))
        .await;
    assert_eq!(answer["error"]["code"], "unknown-mailbox", "{answer}");
    // The connection still serves after errors.
    api.result("status", json!({})).await;
    let huge = format!(
        "{{\"v\":1,\"op\":\"status\",\"pad\":\"{}\"}}",
        "x".repeat(70_000)
    );
    api.send_line_lossy(&huge).await;
    let answer = api.line().await;
    assert_eq!(answer["error"]["code"], "request-too-large", "{answer}");
    stop.send(()).unwrap();
    task.await.unwrap();
    servers.mail.shutdown().await;
    servers.push.shutdown().await;
}

/// `DELETE /v1/devices/<token>` with the device's secret, over TLS trusting `pem`; the status.
async fn unregister(api: std::net::SocketAddr, pem: &Path, token: &str, secret: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let trust = mailpush_device::tls::Trust::load(None, Some(pem)).unwrap();
    let connector = trust.connector(&[b"http/1.1"]).unwrap();
    let tcp = tokio::net::TcpStream::connect(api).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from(api.ip().to_string()).unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    let request = format!(
        "DELETE /v1/devices/{token} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer {secret}\r\n\r\n"
    );
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response).await;
    String::from_utf8_lossy(&response)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

//= spec/device-local.md#LOCAL-26
//= type=test
//# On `auth-failed`, `unregistered` or `unsupported-version` it MUST NOT
//# reconnect with the same credentials: it MUST report the refusal and SHOULD register the device
//# again
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_device_registers_again_and_pushes_resume() {
    let Running {
        dir,
        servers,
        data,
        stop,
        task,
        mut api,
        ..
    } = running().await;
    let (old, _) = Store::open(&data.join("device.sqlite3"))
        .unwrap()
        .restored()
        .unwrap()
        .device
        .unwrap();
    let status = unregister(
        servers.push.http_addr,
        &dir.path().join("push.pem"),
        old.token.as_str(),
        old.secret.as_str(),
    )
    .await;
    assert!(status.starts_with("HTTP/1.1 204"), "{status}");
    // The daemon is refused, registers the device again, registers push with the new token,
    // and a change reaches the view by push again.
    let deadline = tokio::time::Instant::now() + support::WAIT;
    let new = loop {
        let stored = Store::open(&data.join("device.sqlite3"))
            .unwrap()
            .restored()
            .unwrap()
            .device
            .unwrap()
            .0;
        if stored != old {
            break stored;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the device never registered again"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_ne!(new.token, old.token);
    api.wait_status("ready for push with the new token", |s| {
        push_ready(s) && s["cursor"] == json!(0)
    })
    .await;
    api.result("subscribe", json!({})).await;
    let mut other = Imap::connect(servers.imap_addr()).await;
    other
        .append("Notes", "Subject: again\r\n\r\nagain\r\n")
        .await;
    let event = api.event().await;
    assert_eq!(event["added"], json!([1]), "{event}");
    stop.send(()).unwrap();
    task.await.unwrap();
    servers.mail.shutdown().await;
    servers.push.shutdown().await;
}

//= spec/sync.md#SYNC-19
//= type=test
//# Each accepted
//# write gets an operation id, unique for the lifetime of the DA
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_the_api_are_answered_when_they_end_and_reach_the_server() {
    use base64::Engine as _;
    let b64 = |octets: &[u8]| base64::engine::general_purpose::STANDARD.encode(octets);
    let Running {
        dir: _dir,
        servers,
        stop,
        task,
        mut api,
        ..
    } = running().await;
    api.result("subscribe", json!({})).await;
    let note =
        b"Subject: milk\r\nX-Uniform-Type-Identifier: com.apple.mail-note\r\n\r\nbuy milk\r\n";
    let appended = api
        .result(
            "append",
            json!({"account": "A1", "mailbox": "Notes", "flags": ["\\Seen"],
                   "content_base64": b64(note)}),
        )
        .await;
    assert_eq!(appended["outcome"], "appended", "{appended}");
    let uid = appended["uid"].as_u64().unwrap();
    let uid_validity = appended["uid_validity"].as_u64().unwrap();
    let mut other = Imap::connect(servers.imap_addr()).await;
    assert_eq!(
        other.listing("Notes").await,
        vec![(u32::try_from(uid).unwrap(), vec!["\\Seen".to_owned()])]
    );
    // The write's own push brings it into the view, contents included.
    let event = api.event().await;
    assert_eq!(event["added"], json!([uid]), "{event}");
    let view = api
        .result("view", json!({"account": "A1", "mailbox": "Notes"}))
        .await;
    assert_eq!(view["uid_validity"], json!(uid_validity));
    assert_eq!(view["messages"][0]["content_base64"], json!(b64(note)));

    let stored = api
        .result(
            "store",
            json!({"account": "A1", "mailbox": "Notes", "uid_validity": uid_validity,
                   "uids": [uid], "change": "add", "flags": ["$Pinned"]}),
        )
        .await;
    assert_eq!(stored["outcome"], "stored", "{stored}");
    let event = api.event().await;
    assert_eq!(event["changed"], json!([uid]), "{event}");
    assert_eq!(api.view("Notes").await, other.listing("Notes").await);

    // Stale UIDs (SYNC-21) fail at the server's word, and nothing changes.
    let stale = api
        .call(
            "expunge",
            json!({"account": "A1", "mailbox": "Notes", "uid_validity": uid_validity + 1,
                   "uids": [uid]}),
        )
        .await;
    assert_eq!(stale["error"]["code"], "write-failed", "{stale}");
    let expunged = api
        .result(
            "expunge",
            json!({"account": "A1", "mailbox": "Notes", "uid_validity": uid_validity,
                   "uids": [uid]}),
        )
        .await;
    assert_eq!(expunged["outcome"], "expunged", "{expunged}");
    let event = api.event().await;
    assert_eq!(event["removed"], json!([uid]), "{event}");
    assert_eq!(other.listing("Notes").await, vec![]);

    let created = api
        .result(
            "create",
            json!({"account": "A1", "mailbox": "Notizen/Einkauf"}),
        )
        .await;
    assert_eq!(created["outcome"], "created", "{created}");

    // Arguments are checked before anything is sent.
    for (op, args) in [
        (
            "append",
            json!({"account": "A1", "mailbox": "Notes", "content_base64": "!!"}),
        ),
        (
            "append",
            json!({"account": "A1", "mailbox": "Notes", "content_base64": "eA==", "flags": ["a b"]}),
        ),
        (
            "store",
            json!({"account": "A1", "mailbox": "Notes", "uid_validity": 1, "uids": [1], "change": "toggle"}),
        ),
        (
            "expunge",
            json!({"account": "A1", "mailbox": "Notes", "uid_validity": 1, "uids": []}),
        ),
    ] {
        let answer = api.call(op, args).await;
        assert_eq!(answer["error"]["code"], "bad-argument", "{op}: {answer}");
    }
    let unknown = api
        .call("create", json!({"account": "B9", "mailbox": "X"}))
        .await;
    assert_eq!(unknown["error"]["code"], "unknown-account", "{unknown}");
    stop.send(()).unwrap();
    task.await.unwrap();
    servers.mail.shutdown().await;
    servers.push.shutdown().await;
}

/// Two devices of one account: what one appends reaches the other's view by push.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_on_one_device_reaches_the_other_by_push() {
    use base64::Engine as _;
    let Running {
        dir,
        servers,
        stop,
        task,
        mut api,
        ..
    } = running().await;
    let config2 = servers.device_config(&dir.path().join("device2"));
    let (stop2, task2, socket2) = start_daemon(&config2);
    let mut api2 = Api::connect(&socket2).await;
    api2.wait_status("second device ready for push", push_ready)
        .await;
    api2.result("subscribe", json!({})).await;
    let note = b"Subject: eggs\r\n\r\nand eggs\r\n";
    let appended = api
        .result(
            "append",
            json!({"account": "A1", "mailbox": "Notes", "flags": ["\\Seen"],
                   "content_base64": base64::engine::general_purpose::STANDARD.encode(note)}),
        )
        .await;
    let event = api2.event().await;
    assert_eq!(event["added"], json!([appended["uid"]]), "{event}");
    assert_eq!(api2.view("Notes").await, api.view("Notes").await);
    stop2.send(()).unwrap();
    task2.await.unwrap();
    stop.send(()).unwrap();
    task.await.unwrap();
    servers.mail.shutdown().await;
    servers.push.shutdown().await;
}

/// Two accounts of one device, each a user of the mail server with a Notes of its own: each
/// account has its own IMAP connection, registration and tokens, and a change by another
/// client of one account reaches that account's view by push, and not the other's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_accounts_on_one_device_sync_and_push_independently() {
    use support::{PASSWORD, USER, push_section};
    const WILMA: &str = "wilma";
    const WILMA_PASSWORD: &str = "wilma-secret";
    let dir = tempfile::tempdir().unwrap();
    let servers = Servers::start(dir.path()).await;
    let wilma = servers
        .store
        .add_user(WILMA, WILMA_PASSWORD.as_bytes())
        .unwrap();
    servers.store.create_mailbox(wilma, "Notes").unwrap();
    let data = dir.path().join("device");
    let config = data.with_extension("toml");
    let account = |name: &str, user: &str, password: &str| {
        format!(
            r#"
[[accounts]]
name = "{name}"
address = "{imap}"
security = "starttls"
user = "{user}"
password = "{password}"
trust_cert = "{mail_pem}"
mailboxes = ["Notes"]
"#,
            imap = servers.imap_addr(),
            mail_pem = dir.path().join("mail.pem").display(),
        )
    };
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n{}{}{}",
            data.display(),
            account("A1", USER, PASSWORD),
            account("A2", WILMA, WILMA_PASSWORD),
            push_section(&servers.push, dir.path()),
        ),
    )
    .unwrap();
    let (stop, task, socket) = start_daemon(&config);
    let mut api = Api::connect(&socket).await;
    let status = api
        .wait_status("both accounts ready for push", |s| {
            s["channel"]["state"] == "established"
                && (0..2).all(|i| {
                    let account = &s["accounts"][i];
                    account["registration"]["state"] == "registered"
                        && account["with_push"] == json!(["Notes"])
                        && account["mailboxes"][0]["last_sync"].is_object()
                })
        })
        .await;
    let names: Vec<&str> = (0..2)
        .map(|i| status["accounts"][i]["account"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["A1", "A2"], "{status:#}");
    let tokens: Vec<&serde_json::Value> = (0..2)
        .map(|i| &status["accounts"][i]["mailboxes"][0]["token"])
        .collect();
    assert!(tokens[0].is_string() && tokens[1].is_string(), "{status:#}");
    assert_ne!(tokens[0], tokens[1], "{status:#}");
    // Each registration was made by a session logged in as that account's user, and a
    // session logs in once: two accounts, two IMAP connections.
    api.result("subscribe", json!({})).await;

    let mut fred = Imap::connect(servers.imap_addr()).await;
    let mut other_wilma = Imap::connect_as(servers.imap_addr(), WILMA, WILMA_PASSWORD).await;
    fred.append("Notes", "Subject: fred\r\n\r\nfred's note\r\n")
        .await;
    let event = api.event().await;
    assert_eq!(event["account"], "A1", "{event}");
    assert_eq!(event["added"], json!([1]), "{event}");
    assert_eq!(
        api.view_of("A1", "Notes").await,
        fred.listing("Notes").await
    );
    assert_eq!(api.view_of("A2", "Notes").await, vec![]);

    for n in 0..2 {
        other_wilma
            .append("Notes", &format!("Subject: wilma {n}\r\n\r\nnote {n}\r\n"))
            .await;
    }
    let mut added = Vec::new();
    while added.len() < 2 {
        let event = api.event().await;
        assert_eq!(event["account"], "A2", "{event}");
        added.extend(event["added"].as_array().unwrap().iter().cloned());
    }
    assert_eq!(
        api.view_of("A2", "Notes").await,
        other_wilma.listing("Notes").await
    );
    assert_eq!(
        api.view_of("A1", "Notes").await,
        fred.listing("Notes").await
    );
    stop.send(()).unwrap();
    task.await.unwrap();
    servers.mail.shutdown().await;
    servers.push.shutdown().await;
}
