//! The local API's version 2 through the daemon's real socket, against this project's mail
//! server and push server on loopback: `sync` answered when the sync has ended, `list` with
//! every mailbox of the account, `monitor` and `unmonitor` registering and unregistering a
//! token (and push with it), kept over a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{Value, json};
use support::{Api, Imap, Servers, WAIT, push_ready, start_daemon};

/// Sends a version 2 request and returns the whole answer (events meanwhile are kept).
async fn call(api: &mut Api, id: u64, op: &str, args: Value) -> Value {
    let mut request = json!({"v": 2, "id": id, "op": op});
    if let Value::Object(args) = args {
        request.as_object_mut().unwrap().extend(args);
    }
    api.send_line(&request.to_string()).await;
    loop {
        let line = api.line().await;
        if line.get("event").is_some() {
            api.events.push(line);
            continue;
        }
        assert_eq!(line["id"], json!(id), "{line}");
        return line;
    }
}

async fn result(api: &mut Api, id: u64, op: &str, args: Value) -> Value {
    let answer = call(api, id, op, args).await;
    assert!(answer.get("error").is_none(), "{op}: {answer}");
    assert_eq!(answer["v"], 2);
    answer["result"].clone()
}

/// The servers, a daemon whose push is up, and another IMAP client of the account.
struct Running {
    dir: tempfile::TempDir,
    servers: Servers,
    config: std::path::PathBuf,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    api: Api,
    other: Imap,
}

async fn running() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let servers = Servers::start(dir.path()).await;
    let config = servers.device_config(&dir.path().join("device"));
    let (stop, task, socket) = start_daemon(&config);
    let mut api = Api::connect(&socket).await;
    api.wait_status("ready for push", push_ready).await;
    let other = Imap::connect(servers.imap_addr()).await;
    Running {
        dir,
        servers,
        config,
        stop,
        task,
        api,
        other,
    }
}

fn notes() -> Value {
    json!({"account": "A1", "mailbox": "Notes"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_is_answered_when_the_sync_has_ended_with_its_outcome_and_view_version() {
    let Running {
        dir: _dir,
        servers,
        stop,
        task,
        mut api,
        mut other,
        ..
    } = running().await;

    // Appended just before the request: the answer comes after a sync that started after the
    // request, so the view shows the message as soon as the answer is read.
    for n in 1..=3u32 {
        other
            .append("Notes", &format!("Subject: n{n}\r\n\r\nbody {n}\r\n"))
            .await;
        let synced = result(&mut api, u64::from(n), "sync", notes()).await;
        assert_eq!(synced["outcome"], "ok", "{synced}");
        assert_eq!(synced["method"], "qresync", "{synced}");
        let view = result(&mut api, 100 + u64::from(n), "messages", notes()).await;
        let uids: Vec<u64> = view["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["uid"].as_u64().unwrap())
            .collect();
        assert!(uids.contains(&u64::from(n)), "{view}");
        assert_eq!(
            view["view_version"], synced["view_version"],
            "{view} {synced}"
        );
    }

    // Nothing changed: a sync still runs, the view version stays.
    let before = result(&mut api, 10, "messages", notes()).await["view_version"].clone();
    let synced = result(&mut api, 11, "sync", notes()).await;
    assert_eq!(synced["outcome"], "ok");
    assert_eq!(synced["added"], 0);
    assert_eq!(synced["view_version"], before);

    // Version 1 keeps its meaning: answered once the local notification is posted.
    let answer = api.call("sync", notes()).await;
    assert_eq!(answer["result"], json!({"posted": true}), "{answer}");

    // Unknown names are refused at once.
    let answer = call(
        &mut api,
        12,
        "sync",
        json!({"account": "A1", "mailbox": "Nope"}),
    )
    .await;
    assert_eq!(answer["error"]["code"], "unknown-mailbox", "{answer}");

    // The mail server goes away: the sync fails, and the answer says so with the view
    // version that still stands.
    servers.mail.shutdown().await;
    let synced = tokio::time::timeout(WAIT, result(&mut api, 13, "sync", notes()))
        .await
        .expect("a failed sync is answered");
    assert_eq!(synced["outcome"], "error", "{synced}");
    assert!(synced["error"].is_string(), "{synced}");
    assert_eq!(synced["view_version"], before);
    stop.send(()).unwrap();
    task.await.unwrap();
    servers.push.shutdown().await;
}

fn listed<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mailbox"] == name)
        .unwrap_or_else(|| panic!("{name} not listed: {list}"))
}

fn with_push(status: &Value) -> Vec<String> {
    let mut names: Vec<String> = status["accounts"][0]["with_push"]
        .as_array()
        .map(|a| a.iter().map(|n| n.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

//= spec/device-local.md#LOCAL-6
//= type=test
//# After unregistering, the mail client MUST NOT raise
//# local notifications for them, and MUST register push again without those mailboxes
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_monitor_and_unmonitor_register_tokens_and_push_and_survive_a_restart() {
    let Running {
        dir: _dir,
        servers,
        config,
        stop,
        task,
        mut api,
        mut other,
    } = running().await;
    other.command("CREATE Archive").await;
    other.command("CREATE \"Notizen/Einkauf\"").await;

    // Every mailbox, monitored or not, as the server lists it now.
    let list = result(&mut api, 1, "list", json!({"account": "A1"})).await;
    assert_eq!(listed(&list, "Notes")["monitored"], true, "{list}");
    assert!(listed(&list, "Notes")["token"].is_string(), "{list}");
    assert_eq!(listed(&list, "Archive")["monitored"], false, "{list}");
    assert!(listed(&list, "Archive")["token"].is_null(), "{list}");
    assert_eq!(listed(&list, "Notizen/Einkauf")["selectable"], true);
    listed(&list, "INBOX");
    let answer = call(&mut api, 2, "list", json!({"account": "B9"})).await;
    assert_eq!(answer["error"]["code"], "unknown-account", "{answer}");

    // Monitor: answered with the token; push is registered again with the mailbox.
    let monitored = result(
        &mut api,
        3,
        "monitor",
        json!({"account": "A1", "mailbox": "Archive"}),
    )
    .await;
    assert_eq!(monitored["monitored"], true, "{monitored}");
    let first_token = monitored["token"].as_str().unwrap().to_owned();
    let status = api
        .wait_status("push for Archive", |s| {
            with_push(s) == ["Archive", "Notes"]
                && s["accounts"][0]["registration"]["state"] == "registered"
        })
        .await;
    let archive = status["accounts"][0]["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mailbox"] == "Archive")
        .cloned()
        .unwrap();
    assert_eq!(archive["token"], json!(first_token));
    // Monitoring twice is not an error and changes nothing.
    let again = result(
        &mut api,
        4,
        "monitor",
        json!({"account": "A1", "mailbox": "Archive"}),
    )
    .await;
    assert_eq!(again["token"], json!(first_token));
    // A change in Archive now reaches the view by push.
    api.result("subscribe", json!({})).await;
    other.append("Archive", "Subject: old\r\n\r\nold\r\n").await;
    let event = loop {
        let event = api.event().await;
        if event["mailbox"] == "Archive" {
            break event;
        }
    };
    assert_eq!(event["added"], json!([1]), "{event}");

    // A mailbox the server does not have is refused and not monitored.
    let answer = call(
        &mut api,
        5,
        "monitor",
        json!({"account": "A1", "mailbox": "Nope"}),
    )
    .await;
    assert_eq!(answer["error"]["code"], "unknown-mailbox", "{answer}");
    let list = result(&mut api, 6, "list", json!({"account": "A1"})).await;
    assert!(
        list["mailboxes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["mailbox"] != "Nope")
    );

    // Unmonitor: the token is unregistered, push registered again without the mailbox, the
    // view is gone.
    let unmonitored = result(
        &mut api,
        7,
        "unmonitor",
        json!({"account": "A1", "mailbox": "Archive"}),
    )
    .await;
    assert_eq!(unmonitored, json!({"monitored": false}));
    api.wait_status("push without Archive", |s| with_push(s) == ["Notes"])
        .await;
    let answer = call(
        &mut api,
        8,
        "messages",
        json!({"account": "A1", "mailbox": "Archive"}),
    )
    .await;
    assert_eq!(answer["error"]["code"], "unknown-mailbox", "{answer}");
    let list = result(&mut api, 9, "list", json!({"account": "A1"})).await;
    assert_eq!(listed(&list, "Archive")["monitored"], false, "{list}");
    assert!(listed(&list, "Archive")["token"].is_null(), "{list}");

    // Monitored again: a new token (tokens are never reused, LOCAL-3), and the choice
    // survives a restart, as does stopping to monitor a configured mailbox.
    let monitored = result(
        &mut api,
        10,
        "monitor",
        json!({"account": "A1", "mailbox": "Notizen/Einkauf"}),
    )
    .await;
    let second_token = monitored["token"].as_str().unwrap().to_owned();
    assert_ne!(second_token, first_token);
    result(
        &mut api,
        11,
        "unmonitor",
        json!({"account": "A1", "mailbox": "Notes"}),
    )
    .await;
    stop.send(()).unwrap();
    task.await.unwrap();
    let (stop, task, socket) = start_daemon(&config);
    let mut api = Api::connect(&socket).await;
    let status = api
        .wait_status("push after the restart", |s| {
            with_push(s) == ["Notizen/Einkauf"] && s["channel"]["state"] == "established"
        })
        .await;
    let mailboxes = &status["accounts"][0]["mailboxes"];
    assert_eq!(mailboxes.as_array().unwrap().len(), 1, "{status:#}");
    assert_eq!(mailboxes[0]["mailbox"], "Notizen/Einkauf");
    assert_eq!(mailboxes[0]["token"], json!(second_token));
    stop.send(()).unwrap();
    task.await.unwrap();
    servers.mail.shutdown().await;
    servers.push.shutdown().await;
}
