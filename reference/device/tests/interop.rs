//! The device daemon against servers that differ from this project's default mail server:
//! Debian's Dovecot (no XAPPLEPUSHSERVICE: every mailbox is polled), this project's mail server
//! with QRESYNC, CONDSTORE or UIDPLUS switched off (the DA's fallbacks for real), and Debian's
//! Cyrus imapd with XAPPLEPUSHSERVICE (registration and the acknowledged subset).
//!
//! Dovecot and Cyrus come from `.ci/install-interop-servers`; without them those tests fail with
//! a message naming the script, unless `MAILPUSH_SKIP_INTEROP=1`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use base64::Engine as _;
use mailpush_mail_server::driver::Settings;
use mailpush_testkit::interop::{
    Cyrus, CyrusOptions, Dovecot, DovecotOptions, ImapClient, InteropError, RunningServer,
    capability_code, unless_skipped,
};
use serde_json::{Value, json};
use support::{Api, Imap, Servers, WAIT, listing, push_ready, push_section, start_daemon};

/// `None` when the server is missing and `MAILPUSH_SKIP_INTEROP=1`.
fn started<T>(result: Result<T, InteropError>) -> Option<T> {
    unless_skipped(result).unwrap_or_else(|e| panic!("{e}"))
}

fn note(n: u32) -> String {
    format!(
        "Subject: note {n}\r\nX-Uniform-Type-Identifier: com.apple.mail-note\r\n\r\nbody {n}\r\n"
    )
}

fn mailbox_status(status: &Value) -> &Value {
    &status["accounts"][0]["mailboxes"][0]
}

/// The method of the last sync of the first mailbox, once there is one of this run.
fn last_method(status: &Value) -> Option<&str> {
    mailbox_status(status)["last_sync"]["method"].as_str()
}

/// A client that reads Notes as the server has it.
trait Listing {
    async fn notes(&mut self) -> Vec<(u32, Vec<String>)>;
}

impl Listing for Imap {
    async fn notes(&mut self) -> Vec<(u32, Vec<String>)> {
        self.listing("Notes").await
    }
}

impl Listing for ImapClient {
    async fn notes(&mut self) -> Vec<(u32, Vec<String>)> {
        self.ok("EXAMINE Notes").await.unwrap();
        listing(&self.ok("UID FETCH 1:* (UID FLAGS)").await.unwrap().untagged)
    }
}

/// Waits until the device's view of Notes equals the server's (UIDs and flags), reading both
/// again each time; returns the listing.
async fn converged(
    api: &mut Api,
    what: &str,
    server: &mut impl Listing,
) -> Vec<(u32, Vec<String>)> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let expected = server.notes().await;
        let view = api.view("Notes").await;
        if view == expected {
            return view;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: the view {view:?} never became the server's {expected:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The content the device holds for `uid` of Notes.
async fn content(api: &mut Api, uid: u32) -> Vec<u8> {
    let message = api
        .result(
            "message",
            json!({"account": "A1", "mailbox": "Notes", "uid": uid}),
        )
        .await;
    base64::engine::general_purpose::STANDARD
        .decode(message["content_base64"].as_str().unwrap())
        .unwrap()
}

/// A daemon of one account on a third-party server (IMAPS, its test CA trusted), with this
/// project's push server for its device token.
struct ThirdParty {
    dir: tempfile::TempDir,
    _push: mailpush_push_server::RunningServer,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    api: Api,
}

impl ThirdParty {
    /// `extra` is added to the account's section; `mailboxes` is its TOML list.
    async fn start(server: &RunningServer, extra: &str, mailboxes: &str) -> ThirdParty {
        let dir = tempfile::tempdir().unwrap();
        let push = support::start_push(dir.path()).await;
        let data = dir.path().join("device");
        let user = &server.users()[0];
        let config = data.with_extension("toml");
        let text = format!(
            r#"
data_dir = "{data}"

[[accounts]]
name = "A1"
address = "{imaps}"
security = "imaps"
user = "{user}"
password = "{password}"
ca_file = "{ca}"
server_name = "localhost"
mailboxes = {mailboxes}
{extra}
{push}"#,
            data = data.display(),
            imaps = server.imaps_addr(),
            user = user.user,
            password = user.password,
            ca = server.tls().ca_file.display(),
            push = push_section(&push, dir.path()),
        );
        std::fs::write(&config, text).unwrap();
        let (stop, task, socket) = start_daemon(&config);
        let api = Api::connect(&socket).await;
        ThirdParty {
            dir,
            _push: push,
            stop,
            task,
            api,
        }
    }

    /// Stops the daemon; returns the directory that holds its data (`device/`).
    async fn stop(self) -> tempfile::TempDir {
        self.stop.send(()).unwrap();
        self.task.await.unwrap();
        self.dir
    }
}

/// Another client of the server's first user, over IMAPS.
async fn other_client(server: &RunningServer) -> ImapClient {
    let mut client = ImapClient::connect_imaps(server.imaps_addr(), server.tls())
        .await
        .unwrap();
    client.login(&server.users()[0]).await.unwrap();
    client
}

//= spec/device-local.md#LOCAL-15
//= type=test
//# For every registered mailbox without push, the mail client MUST
//# raise the mailbox's local notification once per poll interval, as if a push for it had arrived.
//= spec/device-local.md#LOCAL-19
//= type=test
//# An implementation MAY offer a poll interval shorter
//# than 60 seconds for tests and demonstrations.
//= spec/sync.md#SYNC-1
//= type=test
//# The DA MUST synchronize with QRESYNC when the server advertises
//# `QRESYNC`
//= spec/sync.md#SYNC-1
//= type=test
//# the list before authentication MUST NOT decide
//# the method
//= spec/device-local.md#LOCAL-21
//= type=test
//# When the server does not list `XAPPLEPUSHSERVICE` after
//# authentication ([XAPS-2](imap-push.md#XAPS-2)), every monitored mailbox of the account is without
//# push
/// Dovecot has QRESYNC and no XAPPLEPUSHSERVICE: the registration is `unsupported`, Notes is
/// without push, and every change made by another client reaches the view by the scheduled
/// polls alone (nothing else wakes the DA: no push, no `sync` request), synchronized by QRESYNC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dovecot_every_mailbox_is_polled_and_synced_by_qresync() {
    let Some(server) = started(Dovecot::start(DovecotOptions::default()).await) else {
        return;
    };
    // Dovecot offers QRESYNC only once a client has logged in.
    let greeting = ImapClient::connect_imaps(server.imaps_addr(), server.tls())
        .await
        .unwrap();
    let before_login = capability_code(greeting.greeting()).unwrap();
    assert!(!before_login.contains("QRESYNC"), "{before_login:?}");
    drop(greeting);
    let mut device = ThirdParty::start(
        &server,
        "testing_override_poll_interval_ms = 200",
        r#"["Notes"]"#,
    )
    .await;
    let api = &mut device.api;
    let status = api
        .wait_status("polling Notes, registration unsupported", |s| {
            let account = &s["accounts"][0];
            account["registration"]["state"] == "unsupported"
                && account["without_push"] == json!(["Notes"])
                && account["with_push"] == json!([])
                && last_method(s).is_some()
        })
        .await;
    assert_eq!(last_method(&status), Some("qresync"), "{status:#}");
    // Polls go on with nothing changed: the last sync's time moves.
    let first = mailbox_status(&status)["last_sync"]["at_ms"]
        .as_u64()
        .unwrap();
    api.wait_status("a later poll", |s| {
        mailbox_status(s)["last_sync"]["at_ms"].as_u64() > Some(first)
    })
    .await;

    let mut other = other_client(&server).await;
    for n in 1..=3 {
        other.append("Notes", note(n).as_bytes()).await.unwrap();
    }
    let view = converged(api, "appends", &mut other).await;
    assert_eq!(view.len(), 3);
    for (n, (uid, _)) in (1..).zip(&view) {
        assert_eq!(content(api, *uid).await, note(n).as_bytes());
    }

    // Flag changes and an expunge by the other client.
    other.ok("SELECT Notes").await.unwrap();
    let (first_uid, second_uid) = (view[0].0, view[1].0);
    other
        .ok(&format!("UID STORE {first_uid} +FLAGS (\\Seen \\Flagged)"))
        .await
        .unwrap();
    other
        .ok(&format!("UID STORE {second_uid} +FLAGS (\\Deleted)"))
        .await
        .unwrap();
    other.ok("EXPUNGE").await.unwrap();
    let view = converged(api, "flags and expunge", &mut other).await;
    assert_eq!(view.len(), 2);
    assert_eq!(view[0].1, ["\\Flagged", "\\Seen"]);
    let status = api.result("status", json!({})).await;
    assert_eq!(last_method(&status), Some("qresync"), "{status:#}");
    //= spec/sync.md#SYNC-8
    //= type=test
    //# Counting as defined above, a sync MUST NOT take more than
    let round_trips = mailbox_status(&status)["last_sync"]["round_trips"]
        .as_u64()
        .unwrap();
    assert!(round_trips <= 2, "{status:#}");
    assert_eq!(
        status["accounts"][0]["registration"]["state"],
        "unsupported"
    );
    device.stop().await;
}

//= spec/sync.md#SYNC-4
//= type=test
//# The DA MUST ask for that second set as the UID range `<view's UIDNEXT>:<reported UIDNEXT − 1>`
//# whether or not the `SELECT` reported any of its messages: a server may report changes only of the
//# `<known-uids>` (RFC 7162 §3.2.5 allows it, and Dovecot does)
/// Dovecot's `SELECT … (QRESYNC (… <known-uids>))` reports changes of the known UIDs only, so
/// notes another client appends after the first sync appear in no `FETCH` of the open: they
/// reach the view because the DA also fetches from its view's UIDNEXT, in the same QRESYNC sync
/// as the flag change made with them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dovecot_notes_appended_after_the_first_sync_arrive_by_qresync() {
    let Some(server) = started(Dovecot::start(DovecotOptions::default()).await) else {
        return;
    };
    let mut other = other_client(&server).await;
    for n in 1..=3 {
        other.append("Notes", note(n).as_bytes()).await.unwrap();
    }
    let mut device = ThirdParty::start(
        &server,
        "testing_override_poll_interval_ms = 200",
        r#"["Notes"]"#,
    )
    .await;
    let api = &mut device.api;
    let view = converged(api, "the first sync", &mut other).await;
    assert_eq!(view.len(), 3);
    // From now on every poll opens Notes with the three UIDs as `<known-uids>`.
    let status = api
        .wait_status("a sync by QRESYNC", |s| last_method(s).is_some())
        .await;
    assert_eq!(last_method(&status), Some("qresync"), "{status:#}");

    for n in 4..=6 {
        other.append("Notes", note(n).as_bytes()).await.unwrap();
    }
    other.ok("SELECT Notes").await.unwrap();
    other
        .ok(&format!("UID STORE {} +FLAGS (\\Flagged)", view[0].0))
        .await
        .unwrap();
    let view = converged(api, "notes appended after the first sync", &mut other).await;
    assert_eq!(view.len(), 6);
    assert_eq!(view[0].1, ["\\Flagged"]);
    for (n, (uid, _)) in (1..).zip(&view) {
        assert_eq!(content(api, *uid).await, note(n).as_bytes());
    }
    let status = api.result("status", json!({})).await;
    assert_eq!(last_method(&status), Some("qresync"), "{status:#}");
    let round_trips = mailbox_status(&status)["last_sync"]["round_trips"]
        .as_u64()
        .unwrap();
    assert!(round_trips <= 2, "{status:#}");
    device.stop().await;
}

/// This project's servers with `configure` applied to the mail server, a daemon whose push is
/// up, and another client of the account.
async fn switched(configure: impl FnOnce(&mut Settings)) -> Switched {
    let dir = tempfile::tempdir().unwrap();
    let mut mail = Settings::default();
    configure(&mut mail);
    let servers = Servers::start_with(
        dir.path(),
        support::ServerOptions {
            mail,
            ..Default::default()
        },
    )
    .await;
    let config = servers.device_config(&dir.path().join("device"));
    let (stop, task, socket) = start_daemon(&config);
    let mut api = Api::connect(&socket).await;
    api.wait_status("ready for push", push_ready).await;
    let other = Imap::connect(servers.imap_addr()).await;
    Switched {
        _dir: dir,
        servers,
        stop,
        task,
        api,
        other,
    }
}

struct Switched {
    _dir: tempfile::TempDir,
    servers: Servers,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    api: Api,
    other: Imap,
}

impl Switched {
    async fn converged(&mut self, what: &str) -> Vec<(u32, Vec<String>)> {
        converged(&mut self.api, what, &mut self.other).await
    }

    /// Appends, flag changes and an expunge by another client reach the view (by push), each
    /// sync by `method` within its round-trip budget (SYNC-8).
    async fn changes_arrive_by(&mut self, method: &str) {
        for n in 1..=3 {
            self.other.append("Notes", &note(n)).await;
        }
        let view = self.converged("appends").await;
        assert_eq!(view.len(), 3);
        for (n, (uid, _)) in (1..).zip(&view) {
            assert_eq!(content(&mut self.api, *uid).await, note(n).as_bytes());
        }
        self.other.command("SELECT Notes").await;
        self.other
            .command(&format!("UID STORE {} FLAGS (\\Seen)", view[0].0))
            .await;
        self.other
            .command(&format!("UID STORE {} +FLAGS (\\Deleted)", view[2].0))
            .await;
        self.other.command("EXPUNGE").await;
        let view = self.converged("flags and expunge").await;
        assert_eq!(view.len(), 2);
        assert_eq!(view[0].1, ["\\Seen"]);
        let status = self.api.result("status", json!({})).await;
        assert_eq!(last_method(&status), Some(method), "{status:#}");
        let budget = if method == "qresync" { 2 } else { 3 };
        let round_trips = mailbox_status(&status)["last_sync"]["round_trips"]
            .as_u64()
            .unwrap();
        assert!(round_trips <= budget, "{status:#}");
    }

    async fn stop(self) {
        self.stop.send(()).unwrap();
        self.task.await.unwrap();
        drop(self.servers);
    }
}

//= spec/sync.md#SYNC-1
//= type=test
//# otherwise with CONDSTORE when it advertises `CONDSTORE`, otherwise with plain IMAP
//= spec/sync.md#SYNC-5
//= type=test
//# With CONDSTORE the DA MUST open the mailbox with `SELECT <mailbox> (CONDSTORE)`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_server_without_qresync_is_synced_by_condstore() {
    let mut s = switched(|settings| settings.session.qresync = false).await;
    s.changes_arrive_by("condstore").await;
    s.stop().await;
}

//= spec/sync.md#SYNC-6
//= type=test
//# Without CONDSTORE the DA MUST open the mailbox with `SELECT` (or `EXAMINE`)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_server_without_condstore_and_qresync_is_synced_by_plain_imap() {
    let mut s = switched(|settings| {
        settings.session.condstore = false;
        settings.session.qresync = false;
    })
    .await;
    s.changes_arrive_by("plain").await;
    s.stop().await;
}

//= spec/sync.md#SYNC-22
//= type=test
//# Without UIDPLUS the DA MUST NOT let `EXPUNGE` remove a message the write does not name, which
//# another client may have marked `\Deleted` and may still undelete
/// Writes through the local API against the mail server without UIDPLUS: the append succeeds
/// without a UID (no `APPENDUID`), a flag change works, and an expunge takes the fallback of
/// SYNC-22: the message another client marked `\Deleted` survives it, still `\Deleted`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_server_without_uidplus_writes_take_the_fallback() {
    let mut s = switched(|settings| settings.session.uidplus = false).await;
    s.changes_arrive_by("qresync").await;
    let view = s.converged("before the writes").await;
    let uid_validity = s
        .api
        .result("messages", json!({"account": "A1", "mailbox": "Notes"}))
        .await["uid_validity"]
        .clone();

    let appended = s
        .api
        .result(
            "append",
            json!({
                "account": "A1",
                "mailbox": "Notes",
                "content_base64": base64::engine::general_purpose::STANDARD.encode(note(4)),
                "flags": ["\\Seen"],
            }),
        )
        .await;
    //= spec/sync.md#SYNC-19
    //= type=test
    //# success (with the UIDVALIDITY and UID of an appended message when the server
    //# reported them in `APPENDUID`, RFC 4315)
    assert_eq!(appended["outcome"], "appended", "{appended}");
    assert_eq!(appended["uid"], Value::Null, "{appended}");
    let after_append = s.converged("the append").await;
    assert_eq!(after_append.len(), view.len() + 1);
    let new_uid = after_append.last().unwrap().0;

    let stored = s
        .api
        .result(
            "store",
            json!({
                "account": "A1", "mailbox": "Notes", "uid_validity": uid_validity,
                "uids": [new_uid], "change": "add", "flags": ["\\Flagged"],
            }),
        )
        .await;
    assert_eq!(stored["outcome"], "stored", "{stored}");

    // Another client marks the first message \Deleted and does not expunge it.
    let kept = view[0].0;
    s.other.command("SELECT Notes").await;
    s.other
        .command(&format!("UID STORE {kept} +FLAGS (\\Deleted)"))
        .await;
    let expunged = s
        .api
        .result(
            "expunge",
            json!({
                "account": "A1", "mailbox": "Notes", "uid_validity": uid_validity,
                "uids": [new_uid],
            }),
        )
        .await;
    assert_eq!(expunged["outcome"], "expunged", "{expunged}");
    assert_eq!(expunged["uid_expunge"], false, "{expunged}");
    let after = s.converged("the expunge").await;
    assert!(after.iter().all(|(uid, _)| *uid != new_uid), "{after:?}");
    let survivor = after.iter().find(|(uid, _)| *uid == kept).unwrap();
    assert!(survivor.1.contains(&"\\Deleted".to_owned()), "{after:?}");
    assert_eq!(after.len(), view.len());
    s.stop().await;
}

//= spec/device-local.md#LOCAL-4
//= type=test
//# and MUST record the acknowledged subset from the reply as
//# the account's mailboxes with push
/// Cyrus imapd with XAPPLEPUSHSERVICE: the mail client registers the device token the push
/// server gave it, Cyrus records the registration (its ApplePushService event names the account,
/// the token and the mailboxes), `status` shows the acknowledged mailboxes, and a sync brings an
/// append by another client into the view.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cyrus_registration_succeeds_and_records_the_acknowledged_mailboxes() {
    let Some(mut server) = started(Cyrus::start(CyrusOptions::default()).await) else {
        return;
    };
    let mut device = ThirdParty::start(&server, "", r#"["INBOX", "Notes"]"#).await;
    let api = &mut device.api;
    let status = api
        .wait_status("registered at Cyrus", |s| {
            s["accounts"][0]["registration"]["state"] == "registered"
                && s["accounts"][0]["registration"]["requested"] == 2
                && s["accounts"][0]["mailboxes"][1]["last_sync"].is_object()
        })
        .await;
    let account = &status["accounts"][0];
    assert_eq!(account["registration"]["version"], 2, "{status:#}");
    assert_eq!(account["registration"]["requested"], 2, "{status:#}");
    assert_eq!(account["registration"]["with_push"], 2, "{status:#}");
    assert_eq!(
        account["with_push"],
        json!(["INBOX", "Notes"]),
        "{status:#}"
    );
    assert_eq!(account["without_push"], json!([]), "{status:#}");
    // At start the mail client may register before the DA has registered its mailboxes
    // (LOCAL-20): that request names none. The one after names both.
    let recorded = loop {
        let event = server
            .next_event_named("ApplePushService", WAIT)
            .await
            .expect("Cyrus recorded no registration naming mailboxes");
        let recorded = event.json.unwrap();
        assert_eq!(recorded["apsAccountId"], "A1", "{recorded}");
        if recorded["mailboxes"] != json!([]) {
            break recorded;
        }
    };
    assert_eq!(
        recorded["mailboxes"],
        json!(["INBOX", "Notes"]),
        "{recorded}"
    );

    // Cyrus pushes to Apple, not to this push server: the application asks for the sync.
    let mut other = other_client(&server).await;
    other.append("Notes", note(1).as_bytes()).await.unwrap();
    api.result("sync", json!({"account": "A1", "mailbox": "Notes"}))
        .await;
    let view = converged(api, "append at Cyrus", &mut other).await;
    assert_eq!(view.len(), 1);
    assert_eq!(content(api, view[0].0).await, note(1).as_bytes());
    let status = api.result("status", json!({})).await;
    assert_eq!(
        status["accounts"][0]["mailboxes"][1]["last_sync"]["method"], "qresync",
        "{status:#}"
    );
    let dir = device.stop().await;

    // The token Cyrus recorded is the device token the daemon keeps.
    let stored =
        mailpush_device::store::Store::open(&dir.path().join("device/device.sqlite3")).unwrap();
    let (credentials, _) = stored.restored().unwrap().device.unwrap();
    assert_eq!(
        recorded["apsDeviceToken"]
            .as_str()
            .unwrap()
            .to_ascii_lowercase(),
        credentials.token.as_str().to_ascii_lowercase()
    );
}
