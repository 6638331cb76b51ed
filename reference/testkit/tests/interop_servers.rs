//! The interoperability fixtures against the real servers: Debian's Dovecot and Cyrus imapd,
//! started on loopback, logged in to over IMAPS and over STARTTLS, their capabilities checked,
//! Dovecot's IDLE woken by an APPEND, and Cyrus's XAPPLEPUSHSERVICE registration reply recorded.
//!
//! The servers come from `.ci/install-interop-servers`; without them every test here fails with
//! a message naming it, unless `MAILPUSH_SKIP_INTEROP=1`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use mailpush_imap::{Data, Decode, Decoded, IString, Response, XapsResponse};
use mailpush_testkit::interop::{
    CYRUS_ROOT_VARIABLE, Credentials, Cyrus, CyrusOptions, Dovecot, DovecotOptions, INSTALL_SCRIPT,
    ImapClient, InteropError, MailFormat, RunningServer, capability_code, unless_skipped,
};

/// `None` when the server is missing and `MAILPUSH_SKIP_INTEROP=1`; any other failure to start
/// fails the test with the error's text (which names what to install).
fn started<T>(result: Result<T, InteropError>) -> Option<T> {
    unless_skipped(result).unwrap_or_else(|e| panic!("{e}"))
}

async fn dovecot(options: DovecotOptions) -> Option<Dovecot> {
    let begun = Instant::now();
    let server = started(Dovecot::start(options).await)?;
    eprintln!("Dovecot started in {:?}", begun.elapsed());
    Some(server)
}

async fn cyrus(options: CyrusOptions) -> Option<Cyrus> {
    let begun = Instant::now();
    let server = started(Cyrus::start(options).await)?;
    eprintln!("Cyrus started in {:?}", begun.elapsed());
    Some(server)
}

const MODSEQ: [&str; 2] = ["CONDSTORE", "QRESYNC"];

/// Logs the first user in over IMAPS and over STARTTLS; returns, for each, the capabilities
/// of the LOGIN reply's code and of a CAPABILITY command after it (which must agree).
async fn log_in_both_ways(server: &RunningServer) -> Vec<(ImapClient, BTreeSet<String>)> {
    let user = &server.users()[0];
    let imaps = ImapClient::connect_imaps(server.imaps_addr(), server.tls())
        .await
        .unwrap();
    let plain = ImapClient::connect_plain(server.imap_addr()).await.unwrap();
    let before_tls = capability_code(plain.greeting()).unwrap_or_default();
    assert!(
        before_tls.contains("STARTTLS"),
        "{}: the plaintext greeting does not offer STARTTLS: {}",
        server.name(),
        plain.greeting()
    );
    drop(plain);
    let starttls = ImapClient::connect_starttls(server.imap_addr(), server.tls())
        .await
        .unwrap();
    let mut out = Vec::new();
    for mut client in [imaps, starttls] {
        let login = client.login(user).await.unwrap();
        let capabilities = client.capabilities().await.unwrap();
        if let Some(code) = capability_code(&login.tagged) {
            assert_eq!(code, capabilities, "{}: LOGIN's code", server.name());
        }
        out.push((client, capabilities));
    }
    out
}

async fn lists_inbox_and_notes(client: &mut ImapClient) {
    let list = client.ok(r#"LIST "" "*""#).await.unwrap();
    for name in ["INBOX", "Notes"] {
        let suffix = format!(" {name}");
        assert!(
            list.untagged.iter().any(|l| l.ends_with(&suffix)),
            "{list:?}"
        );
    }
}

#[tokio::test]
async fn dovecot_serves_imaps_and_starttls_with_idle_condstore_and_qresync() {
    let Some(server) = dovecot(DovecotOptions::default()).await else {
        return;
    };
    for (mut client, capabilities) in log_in_both_ways(&server).await {
        for name in ["IMAP4REV1", "IDLE", "CONDSTORE", "QRESYNC", "ENABLE"] {
            assert!(capabilities.contains(name), "{name} in {capabilities:?}");
        }
        lists_inbox_and_notes(&mut client).await;
        let select = client.ok("SELECT Notes (CONDSTORE)").await.unwrap();
        assert!(
            select
                .untagged
                .iter()
                .any(|l| l.contains("[HIGHESTMODSEQ ")),
            "{select:?}"
        );
        client.ok("LOGOUT").await.unwrap();
    }
    // The passwords are real: a wrong one is refused.
    let mut client = ImapClient::connect_imaps(server.imaps_addr(), server.tls())
        .await
        .unwrap();
    let wrong = Credentials::new(server.users()[0].user.clone(), "wrong-password");
    assert!(client.login(&wrong).await.is_err());
}

#[tokio::test]
async fn dovecot_without_condstore_and_qresync_advertises_neither_and_answers_as_rfc_3501() {
    let (Some(full), Some(plain)) = tokio::join!(
        dovecot(DovecotOptions::default()),
        dovecot(DovecotOptions {
            condstore_qresync: false,
            ..DovecotOptions::default()
        })
    ) else {
        return;
    };
    assert!(plain.capability_override().is_some());

    // Not before login: neither in the greeting nor in CAPABILITY.
    let mut client = ImapClient::connect_plain(plain.imap_addr()).await.unwrap();
    let greeting = capability_code(client.greeting()).unwrap();
    let before_login = client.capabilities().await.unwrap();
    for name in MODSEQ {
        assert!(!greeting.contains(name), "{greeting:?}");
        assert!(!before_login.contains(name), "{before_login:?}");
    }

    // Not after login, over either port; and the list is exactly the full server's without the
    // two, so nothing else was lost with them.
    let mut full_clients = log_in_both_ways(&full).await;
    let expected: BTreeSet<String> = full_clients[0]
        .1
        .iter()
        .filter(|name| !MODSEQ.contains(&name.as_str()))
        .cloned()
        .collect();
    for (mut client, capabilities) in log_in_both_ways(&plain).await {
        assert_eq!(capabilities, expected);
        client.ok("LOGOUT").await.unwrap();
    }
    for (client, _) in &mut full_clients {
        client.ok("LOGOUT").await.unwrap();
    }

    // A client that keeps to what is advertised sees RFC 3501: no mod-sequences in SELECT or
    // FETCH.
    let mut client = ImapClient::connect_imaps(plain.imaps_addr(), plain.tls())
        .await
        .unwrap();
    client.login(&plain.users()[0]).await.unwrap();
    client
        .append("INBOX", b"Subject: plain\r\n\r\nno modseq\r\n")
        .await
        .unwrap();
    let select = client.ok("SELECT INBOX").await.unwrap();
    assert!(
        select.untagged.iter().all(|l| !l.contains("MODSEQ")),
        "{select:?}"
    );
    let fetch = client.ok("FETCH 1 (UID FLAGS)").await.unwrap();
    assert_eq!(fetch.untagged.len(), 1, "{fetch:?}");
    assert!(!fetch.untagged[0].contains("MODSEQ"), "{fetch:?}");

    // What Dovecot cannot be configured to do: refuse the extensions. Its ENABLE (cmd-enable.c)
    // consults only the built-in feature registry, not imap_capability, so a client that uses
    // CONDSTORE unadvertised still gets it. Tests of a client's fallback therefore check what the
    // client sends, not that the server refuses it.
    let enable = client.ok("ENABLE CONDSTORE").await.unwrap();
    assert!(
        enable.untagged.iter().any(|l| l == "* ENABLED CONDSTORE"),
        "{enable:?}"
    );
    client.ok("LOGOUT").await.unwrap();
}

#[tokio::test]
async fn dovecot_idle_is_woken_by_an_append_from_another_connection() {
    let Some(server) = dovecot(DovecotOptions::default()).await else {
        return;
    };
    let user = &server.users()[0];
    let mut idler = ImapClient::connect_imaps(server.imaps_addr(), server.tls())
        .await
        .unwrap();
    idler.login(user).await.unwrap();
    idler.ok("SELECT INBOX").await.unwrap();
    idler.idle().await.unwrap();
    let mut writer = ImapClient::connect_starttls(server.imap_addr(), server.tls())
        .await
        .unwrap();
    writer.login(user).await.unwrap();

    let sent = Instant::now();
    writer
        .append("INBOX", b"Subject: wake\r\n\r\nwake up\r\n")
        .await
        .unwrap();
    let appended = sent.elapsed();
    let line = loop {
        let line = idler
            .next_line(Duration::from_secs(10))
            .await
            .unwrap()
            .expect("no untagged response within 10 s of the APPEND");
        if line.ends_with("EXISTS") {
            break line;
        }
    };
    eprintln!(
        "IDLE woke {:?} after the APPEND was sent ({appended:?} to its OK)",
        sent.elapsed()
    );
    assert_eq!(line, "* 1 EXISTS");
    let done = idler.done().await.unwrap();
    assert!(done.is_ok(), "{done:?}");
}

#[tokio::test]
async fn dovecot_stores_in_each_mail_format_for_every_user_with_the_extra_mailboxes() {
    for mail_format in [MailFormat::Maildir, MailFormat::Sdbox, MailFormat::Mdbox] {
        let options = DovecotOptions {
            users: vec![
                Credentials::new("alice", "alice-password"),
                Credentials::new("bob", "bob-password"),
            ],
            mailboxes: vec!["Notes".into(), "Archive".into()],
            mail_format,
            ..DovecotOptions::default()
        };
        let Some(server) = dovecot(options).await else {
            return;
        };
        let mut client = ImapClient::connect_imaps(server.imaps_addr(), server.tls())
            .await
            .unwrap();
        client.login(&server.users()[1]).await.unwrap();
        let list = client.ok(r#"LIST "" "*""#).await.unwrap();
        let mut listed: Vec<&str> = list
            .untagged
            .iter()
            .filter_map(|line| line.rsplit(' ').next())
            .collect();
        listed.sort();
        assert_eq!(listed, ["Archive", "INBOX", "Notes"], "{mail_format:?}");
        client
            .append("Archive", b"Subject: kept\r\n\r\nkept\r\n")
            .await
            .unwrap();
        let status = client.ok("STATUS Archive (MESSAGES)").await.unwrap();
        assert_eq!(status.untagged, ["* STATUS Archive (MESSAGES 1)"]);
        let layout = match mail_format {
            MailFormat::Maildir => "Maildir",
            MailFormat::Sdbox => "sdbox",
            _ => "mdbox",
        };
        assert!(server.dir().join("home/bob").join(layout).is_dir());
    }
}

/// The pids of every process whose process group is `group`.
fn group_members(group: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // pid (comm) state ppid pgrp ...: comm may hold spaces, so count from its ')'.
            let after = &stat[stat.rfind(')')? + 2..];
            let pgrp: u32 = after.split(' ').nth(2)?.parse().ok()?;
            (pgrp == group).then_some(pid)
        })
        .collect()
}

#[tokio::test]
async fn dropping_a_server_stops_every_process_it_started() {
    let Some(dovecot) = dovecot(DovecotOptions::default()).await else {
        return;
    };
    let Some(cyrus) = cyrus(CyrusOptions::default()).await else {
        return;
    };
    let groups = [dovecot.pid(), cyrus.pid()];
    // Log in once to each, so that login and mail processes exist too.
    for server in [&*dovecot, &*cyrus] {
        let mut client = ImapClient::connect_imaps(server.imaps_addr(), server.tls())
            .await
            .unwrap();
        client.login(&server.users()[0]).await.unwrap();
    }
    for group in groups {
        assert!(group_members(group).len() > 1, "group {group}");
    }
    let dirs = [dovecot.dir().to_path_buf(), cyrus.dir().to_path_buf()];
    let begun = Instant::now();
    drop(dovecot);
    eprintln!("Dovecot stopped in {:?}", begun.elapsed());
    let begun = Instant::now();
    drop(cyrus);
    eprintln!("Cyrus stopped in {:?}", begun.elapsed());
    for group in groups {
        assert_eq!(group_members(group), Vec::<u32>::new(), "group {group}");
    }
    for dir in dirs {
        assert!(!dir.exists(), "{} is left behind", dir.display());
    }
}

#[tokio::test]
async fn cyrus_serves_imaps_and_starttls_and_advertises_xapplepushservice() {
    let Some(server) = cyrus(CyrusOptions::default()).await else {
        return;
    };
    assert!(server.syslog_captured(), "{}", server.log());
    for (mut client, capabilities) in log_in_both_ways(&server).await {
        for name in [
            "IMAP4REV1",
            "XAPPLEPUSHSERVICE",
            "IDLE",
            "CONDSTORE",
            "QRESYNC",
        ] {
            assert!(capabilities.contains(name), "{name} in {capabilities:?}");
        }
        lists_inbox_and_notes(&mut client).await;
        client.ok("LOGOUT").await.unwrap();
    }
    // Cyrus 3.6 lists XAPPLEPUSHSERVICE before authentication as well (imapd.c prints it
    // whenever it is enabled), where XAPS-1 says a server must not: a client cannot use the
    // pre-login list to decide.
    let client = ImapClient::connect_imaps(server.imaps_addr(), server.tls())
        .await
        .unwrap();
    let greeting = capability_code(client.greeting()).unwrap();
    assert!(greeting.contains("XAPPLEPUSHSERVICE"), "{greeting:?}");
    // The log captured from syslog shows the logins.
    assert!(server.log().contains("User logged in"), "{}", server.log());
}

const ACCOUNT_ID: &str = "0715A26B-CA09-4730-A419-793000CA982E";
const DEVICE_TOKEN: &str = "2918390218931890821908309283098109381029309829018310983092892829";

#[tokio::test]
async fn cyrus_answers_a_registration_with_quoted_mailbox_and_version_lines() {
    let Some(mut server) = cyrus(CyrusOptions::default()).await else {
        return;
    };
    let mut client = ImapClient::connect_starttls(server.imap_addr(), server.tls())
        .await
        .unwrap();
    client.login(&server.users()[0]).await.unwrap();
    let reply = client
        .command(&format!(
            "XAPPLEPUSHSERVICE aps-version 2 aps-account-id {ACCOUNT_ID} aps-device-token \
             {DEVICE_TOKEN} aps-subtopic com.apple.mobilemail mailboxes (INBOX Notes)"
        ))
        .await
        .unwrap();
    // The exact form Cyrus 3.6 sends (imapd.c, cmd_xapplepushservice): every field name, the
    // mailbox (prot_printstring) and the version and topic as quoted strings; the tagged text
    // ends with a full stop.
    let topic = server.aps_topic().to_owned();
    assert_eq!(
        reply.untagged,
        [
            r#"* XAPPLEPUSHSERVICE "mailbox" "INBOX""#.to_owned(),
            r#"* XAPPLEPUSHSERVICE "mailbox" "Notes""#.to_owned(),
            format!(r#"* XAPPLEPUSHSERVICE "aps-version" "2" "aps-topic" "{topic}""#),
        ]
    );
    assert_eq!(
        reply.tagged.split_once(' ').unwrap().1,
        "OK XAPPLEPUSHSERVICE completed."
    );

    // mailpush's codec reads that form as spec/imap-push.md's xaps-response.
    let decoded: Vec<XapsResponse> = reply
        .untagged
        .iter()
        .map(
            |line| match Response::decode(format!("{line}\r\n").as_bytes()) {
                Decoded::Complete(Response::Data(Data::XApplePushService(xaps)), _) => xaps,
                other => panic!("{line}: {other:?}"),
            },
        )
        .collect();
    assert_eq!(
        decoded,
        [
            XapsResponse::Mailbox(IString::new("INBOX")),
            XapsResponse::Mailbox(IString::new("Notes")),
            XapsResponse::Version {
                version: 2.try_into().unwrap(),
                topic: IString::new(topic),
            },
        ]
    );

    // Cyrus records the registration by sending its ApplePushService event, with the
    // acknowledged mailboxes, to the notification daemon's socket, which the fixture reads.
    let event = server
        .next_event_named("ApplePushService", Duration::from_secs(10))
        .await
        .expect("no ApplePushService event within 10 s");
    let json = event.json.unwrap();
    assert_eq!(json["user"], "alice");
    assert_eq!(json["apsAccountId"], ACCOUNT_ID);
    assert_eq!(json["apsDeviceToken"], DEVICE_TOKEN);
    assert_eq!(json["apsSubtopic"], "com.apple.mobilemail");
    assert_eq!(json["mailboxes"], serde_json::json!(["INBOX", "Notes"]));
}

#[tokio::test]
async fn cyrus_registration_edge_cases_as_the_interop_notes_record_them() {
    let Some(server) = cyrus(CyrusOptions::default()).await else {
        return;
    };
    let mut client = ImapClient::connect_imaps(server.imaps_addr(), server.tls())
        .await
        .unwrap();
    let register = |rest: &str| {
        format!(
            "XAPPLEPUSHSERVICE aps-account-id {ACCOUNT_ID} aps-device-token {DEVICE_TOKEN} {rest}"
        )
    };
    let topic = server.aps_topic().to_owned();
    let version_line =
        |v: u32| format!(r#"* XAPPLEPUSHSERVICE "aps-version" "{v}" "aps-topic" "{topic}""#);

    // Before authentication the command is refused (XAPS-2).
    let reply = client
        .command(&register("aps-subtopic com.apple.mobilemail"))
        .await
        .unwrap();
    assert_eq!(
        reply.tagged.split_once(' ').unwrap().1,
        "BAD Please login first"
    );
    client.login(&server.users()[0]).await.unwrap();
    // Version 2 without `mailboxes`: Cyrus acknowledges no mailbox at all, where XAPS-9 says
    // INBOX.
    let reply = client
        .ok(&register("aps-version 2 aps-subtopic com.apple.mobilemail"))
        .await
        .unwrap();
    assert_eq!(reply.untagged, [version_line(2)]);

    // A mailbox that does not exist is left out, and the command still succeeds (XAPS-10); a
    // missing aps-version means version 2 (XAPS-8's note).
    let reply = client
        .ok(&register(
            "aps-subtopic com.apple.mobilemail mailboxes (Nowhere Notes)",
        ))
        .await
        .unwrap();
    assert_eq!(
        reply.untagged,
        [
            r#"* XAPPLEPUSHSERVICE "mailbox" "Notes""#.to_owned(),
            version_line(2)
        ]
    );
    // Version 1: INBOX alone, and only the version line.
    let reply = client
        .ok(&register(
            "aps-version 1 aps-subtopic com.apple.mobilemail mailboxes (Notes)",
        ))
        .await
        .unwrap();
    assert_eq!(reply.untagged, [version_line(1)]);
    // A version above 2 is answered with 2.
    let reply = client
        .ok(&register("aps-version 3 aps-subtopic com.apple.mobilemail"))
        .await
        .unwrap();
    assert_eq!(reply.untagged, [version_line(2)]);
    // Where Cyrus 3.6 is stricter than spec/imap-push.md: it refuses a registration without
    // aps-subtopic (XAPS-6 makes it optional)...
    let reply = client
        .command(&register("aps-version 2 mailboxes (INBOX)"))
        .await
        .unwrap();
    assert_eq!(
        reply.tagged.split_once(' ').unwrap().1,
        "NO Missing APNS sub-topic"
    );
    // ... and compares key names case-sensitively (XAPS-3 says case-insensitively).
    let reply = client
        .command(&format!(
            "XAPPLEPUSHSERVICE APS-VERSION 2 aps-account-id {ACCOUNT_ID} aps-device-token \
             {DEVICE_TOKEN} aps-subtopic com.apple.mobilemail"
        ))
        .await
        .unwrap();
    assert_eq!(reply.status(), "BAD", "{reply:?}");
}

#[tokio::test]
async fn a_missing_cyrus_names_the_install_script_and_the_variable() {
    let empty = tempfile::tempdir().unwrap();
    let error = Cyrus::start(CyrusOptions {
        root: Some(empty.path().to_path_buf()),
        ..CyrusOptions::default()
    })
    .await
    .unwrap_err();
    assert!(
        matches!(error, InteropError::NotInstalled { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains(INSTALL_SCRIPT), "{message}");
    assert!(message.contains(CYRUS_ROOT_VARIABLE), "{message}");
    assert!(message.contains("MAILPUSH_SKIP_INTEROP=1"), "{message}");
}

#[tokio::test]
async fn options_that_cannot_be_configured_are_refused_before_anything_starts() {
    let error = Dovecot::start(DovecotOptions {
        mailboxes: vec![r#"Quote"d"#.into()],
        ..DovecotOptions::default()
    })
    .await
    .unwrap_err();
    assert!(matches!(error, InteropError::Config(_)), "{error}");
    let error = Cyrus::start(CyrusOptions {
        users: vec![Credentials::new("eve", "pass word")],
        ..CyrusOptions::default()
    })
    .await
    .unwrap_err();
    assert!(matches!(error, InteropError::Config(_)), "{error}");
    let error = Dovecot::start(DovecotOptions {
        users: Vec::new(),
        ..DovecotOptions::default()
    })
    .await
    .unwrap_err();
    assert!(matches!(error, InteropError::Config(_)), "{error}");
}
