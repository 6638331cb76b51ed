//! The mail server as a whole, as ARCH-1 describes a conforming one: over its IMAPS listener with
//! a PEM certificate, a real SQLite store, and the real push server in the same process. One
//! account on one device goes through every duty of the mail server in the patent's order: the
//! mailbox list, the push registration and its acknowledged subset, a change pushed to the
//! device, and the update fetched with `EXAMINE`, `UID SEARCH` and `UID FETCH`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mailpush_mail_server::driver::{PushSettings, Settings, start};
use mailpush_mail_store::{Config as StoreConfig, Store};
use mailpush_testkit::interop::{Credentials, ImapClient, ServerTls};

/// The push server's test helpers: device registration and a device on the sans-IO client core.
#[path = "../../push-server/tests/common/mod.rs"]
mod push_common;

const WAIT: Duration = Duration::from_secs(20);
const NOTE: &str = "From: a@example.org\r\nSubject: milk\r\n\r\nbuy milk\r\n";

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

//= spec/architecture.md#ARCH-1
//# A conforming mail server MUST implement IMAP4rev1 (RFC 3501) including `LIST`,
//# `SELECT`, `EXAMINE`, `UID FETCH` and `UID SEARCH`, MUST implement [imap-push.md](imap-push.md), and
//# MUST send push requests as the mail-server side of [provider-api.md](provider-api.md) requires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mail_server_lists_registers_pushes_and_serves_the_update() {
    let dir = tempfile::tempdir().unwrap();
    let tls = ServerTls::generate(dir.path(), "mailpush mail server").unwrap();

    // The push server, with a device registered through its HTTP API and connected.
    let push = push_common::server(push_common::settings()).await;
    let (device_token, device_secret) = push_common::register(&push).await;
    let mut device = push_common::device(&push, &device_token, &device_secret, 0).await;

    // The mail server: IMAPS only, with the PEM certificate, pushing to the push server.
    let store = Store::open(dir.path().join("mail.db"), StoreConfig::for_tests()).unwrap();
    let fred = store.add_user("fred", b"secret").unwrap();
    store.create_mailbox(fred, "Notes").unwrap();
    let server = start(
        Settings {
            imap_listen: None,
            imaps_listen: Some(loopback()),
            tls: Some((tls.chain_file.clone(), tls.key_file.clone())),
            push: Some(PushSettings::new(
                &format!("http://{}", push.http_addr),
                Some(push_common::PROVIDER.to_owned()),
            )),
            ..Settings::default()
        },
        Arc::new(store),
    )
    .await
    .unwrap();
    let addr = server.imaps_addr.unwrap();
    let fred = Credentials::new("fred", "secret");
    let mut da = ImapClient::connect_imaps(addr, &tls).await.unwrap();
    da.login(&fred).await.unwrap();

    // IMAP4rev1, the push extension, and the extensions the SHOULD names.
    let capabilities = da.capabilities().await.unwrap();
    for name in [
        "IMAP4REV1",
        "XAPPLEPUSHSERVICE",
        "CONDSTORE",
        "QRESYNC",
        "IDLE",
        "UIDPLUS",
    ] {
        assert!(capabilities.contains(name), "{name} in {capabilities:?}");
    }

    // The list of mailboxes.
    let list = da.ok(r#"LIST "" "*""#).await.unwrap();
    let names: Vec<&str> = list
        .untagged_named("LIST")
        .filter_map(|line| line.rsplit(' ').next())
        .collect();
    assert!(
        names.contains(&"INBOX") && names.contains(&"Notes"),
        "{list:?}"
    );

    // Push registration (imap-push.md): the reply names the subset that gets push.
    let registered = da
        .ok(&format!(
            "XAPPLEPUSHSERVICE aps-version 2 aps-account-id ACCOUNT-1 aps-device-token \
             {device_token} aps-subtopic com.apple.mobilemail mailboxes (Notes Nowhere)"
        ))
        .await
        .unwrap();
    assert_eq!(
        registered.untagged[0], r#"* XAPPLEPUSHSERVICE "mailbox" "Notes""#,
        "{registered:?}"
    );
    assert_eq!(registered.untagged.len(), 2, "{registered:?}");
    assert!(
        registered.untagged[1].starts_with(r#"* XAPPLEPUSHSERVICE "aps-version" "2" "aps-topic" "#),
        "{registered:?}"
    );

    // Another client changes Notes; UIDPLUS names the new message.
    let mut other = ImapClient::connect_imaps(addr, &tls).await.unwrap();
    other.login(&fred).await.unwrap();
    let appended = other.append("Notes", NOTE.as_bytes()).await.unwrap();
    assert!(appended.is_ok(), "{appended:?}");
    let uid = appended
        .tagged
        .split("[APPENDUID ")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .and_then(|code| code.split(' ').nth(1))
        .expect("APPENDUID in the tagged OK")
        .to_owned();

    // The change reaches the device as a push request for Notes (provider-api.md payload).
    push_common::push_for(&mut device, WAIT, "ACCOUNT-1", b"Notes").await;

    // The update, read-only first, then read-write.
    let examined = da.ok("EXAMINE Notes").await.unwrap();
    assert!(examined.tagged.contains("[READ-ONLY]"), "{examined:?}");
    assert!(
        examined.untagged.iter().any(|l| l == "* 1 EXISTS"),
        "{examined:?}"
    );
    let search = da.ok("UID SEARCH ALL").await.unwrap();
    assert_eq!(search.untagged, [format!("* SEARCH {uid}")]);
    let fetched = da
        .ok(&format!(
            "UID FETCH {uid} (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])"
        ))
        .await
        .unwrap();
    let fetched_text = fetched.untagged.concat();
    assert!(
        fetched_text.contains(&format!("UID {uid}")) && fetched_text.contains("Subject: milk"),
        "{fetched:?}"
    );
    let selected = da.ok("SELECT Notes").await.unwrap();
    assert!(selected.tagged.contains("[READ-WRITE]"), "{selected:?}");

    da.ok("LOGOUT").await.unwrap();
    other.ok("LOGOUT").await.unwrap();
    server.shutdown().await;
    push.shutdown().await;
}
