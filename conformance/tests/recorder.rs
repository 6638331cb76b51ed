//! The recorder is faithful: sessions between real components, recorded through the proxy,
//! written as cases, then played back by the runner against fresh reference servers, PASS.
//! And it keeps what it recorded when a link goes wrong.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use mailpush_conformance::frames::Frame;
use mailpush_conformance::recorder::proxy::{ProxyLink, Recorder, Security};
use mailpush_conformance::recorder::tls::{CA_FILE, LinkTls, RecorderCertificate};
use mailpush_conformance::recorder::{
    CaseOptions, From, Link, MAX_CONNECTIONS_PER_LINK, MAX_RECORDED_OCTETS, RecordError, Recording,
    What, write_case,
};
use mailpush_conformance::runner::net::{Io, TlsClient, Trust, read_certificates};
use mailpush_conformance::runner::{self, Verdict, report};
use mailpush_conformance::transcript::{Level, Role, parse};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

async fn listener() -> TcpListener {
    TcpListener::bind(common::loopback()).await.unwrap()
}

fn link(link: Link, listener: TcpListener, upstream: SocketAddr) -> ProxyLink {
    secured(link, listener, upstream, Security::Cleartext)
}

fn secured(
    link: Link,
    listener: TcpListener,
    upstream: SocketAddr,
    security: Security,
) -> ProxyLink {
    ProxyLink {
        link,
        listener,
        upstream,
        connect_timeout: Duration::from_secs(5),
        security,
    }
}

fn options(id: &str, role: Role) -> CaseOptions {
    CaseOptions {
        id: id.into(),
        role,
        level: Level::Must,
        timeout: Duration::from_secs(20),
        title: None,
    }
}

/// Waits (a generous bound, not a measurement) until `from` sent something on `link`.
async fn wait_for(recorder: &Recorder, link: Link, from: From, least: usize) {
    for _ in 0..1000 {
        if recorder.octets(link, from) >= least {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("nothing recorded from {from:?} on {link:?}");
}

/// A plain IMAP client: one command at a time, synchronizing literals, lines as they come.
struct Imap {
    io: BufReader<Box<dyn Io>>,
    next: u32,
}

impl Imap {
    async fn connect(addr: SocketAddr) -> Self {
        Self::greeted(Box::new(TcpStream::connect(addr).await.unwrap())).await
    }

    /// A connection whose greeting is still to be read.
    async fn greeted(io: Box<dyn Io>) -> Self {
        let mut io = BufReader::new(io);
        let mut greeting = String::new();
        io.read_line(&mut greeting).await.unwrap();
        assert!(greeting.starts_with("* OK"), "{greeting}");
        Self { io, next: 1 }
    }

    async fn line(&mut self) -> String {
        let mut line = String::new();
        io_timeout(self.io.read_line(&mut line)).await.unwrap();
        line
    }

    /// Sends `command` (with `literal` after it, if any) and reads up to its tagged status.
    async fn run(&mut self, command: &str, literal: Option<&str>) -> Vec<String> {
        let tag = format!("a{}", self.next);
        self.next += 1;
        match literal {
            Some(l) => {
                self.send(&format!("{tag} {command} {{{}}}\r\n", l.len()))
                    .await;
                assert!(self.line().await.starts_with('+'));
                self.send(&format!("{l}\r\n")).await;
            }
            None => self.send(&format!("{tag} {command}\r\n")).await,
        }
        let mut lines = Vec::new();
        loop {
            let line = self.line().await;
            assert!(!line.is_empty(), "the server closed during {command}");
            let done = line.starts_with(&format!("{tag} "));
            lines.push(line);
            if done {
                assert!(
                    lines.last().unwrap().starts_with(&format!("{tag} OK")),
                    "{lines:?}"
                );
                return lines;
            }
        }
    }

    async fn send(&mut self, text: &str) {
        self.io.get_mut().write_all(text.as_bytes()).await.unwrap();
    }
}

async fn io_timeout<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("no answer within 10 s")
}

/// One HTTP/1.1 exchange on a connection of its own; the status and body.
async fn http(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    io_timeout(stream.read_to_string(&mut response))
        .await
        .unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

/// Registers a device with the push server at `api`; its token and secret.
async fn register(api: SocketAddr) -> (String, String) {
    let (status, body) = http(
        api,
        &format!(
            "POST /v1/devices HTTP/1.1\r\nHost: {api}\r\nAuthorization: Bearer {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            common::REGISTRATION
        ),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    (
        json["token"].as_str().unwrap().to_owned(),
        json["secret"].as_str().unwrap().to_owned(),
    )
}

/// The recorder in front of both links of `server`: the provider API's and the device
/// channel's proxy addresses.
async fn push_proxies(
    server: &mailpush_push_server::RunningServer,
) -> (Recorder, SocketAddr, SocketAddr) {
    let api_listener = listener().await;
    let device_listener = listener().await;
    let api = api_listener.local_addr().unwrap();
    let device = device_listener.local_addr().unwrap();
    let recorder = Recorder::start(vec![
        link(Link::Push, api_listener, server.http_addr),
        link(Link::Device, device_listener, server.device_addr),
    ]);
    (recorder, api, device)
}

/// A device connected to `device` with `hello`, its `welcome` read; also the hello's length.
async fn hello(device: SocketAddr, token: &str, secret: &str) -> (TcpStream, usize) {
    let mut dev = TcpStream::connect(device).await.unwrap();
    let hello = Frame::Hello {
        min: 1,
        max: 1,
        token: token.as_bytes().to_vec(),
        secret: secret.as_bytes().to_vec(),
        cursor: 0,
    }
    .encode();
    dev.write_all(&hello).await.unwrap();
    let welcome = read_frame(&mut dev).await;
    assert!(matches!(welcome, Frame::Welcome { .. }), "{welcome}");
    (dev, hello.len())
}

/// One push of `payload` to `token` through the provider API at `api`, accepted.
async fn push(api: SocketAddr, token: &str, ttl: u32, payload: &str) {
    let (status, body) = http(
        api,
        &format!(
            "POST /v1/push/{token} HTTP/1.1\r\nHost: {api}\r\nAuthorization: Bearer {}\r\nTTL: {ttl}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
            common::PROVIDER,
            payload.len()
        ),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

/// Plays one written case against `target` and returns its verdict, with the report on failure.
async fn play(
    text: &str,
    target: &runner::Target,
    push: Option<&runner::http::PushService>,
) -> (Verdict, String) {
    let case = parse("recorded.case", text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let cases = vec![case];
    let outcomes = runner::run_suite(&cases, target, push, &[], |_| {}).await;
    (outcomes[0].verdict, report::human(&cases, &outcomes))
}

/// A device (IMAP, two connections, IDLE on the second) and the reference mail server, which
/// pushes through the recorder to the reference push server: recorded, written, and played
/// back against a fresh mail server whose push service is the runner's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imap_session_and_its_pushes_replay_against_a_fresh_mail_server() {
    let push_server = common::push_server().await;
    let (token, _secret) = register(push_server.http_addr).await;
    let imap_listener = listener().await;
    let push_listener = listener().await;
    let imap_proxy = imap_listener.local_addr().unwrap();
    let (mail, _dir) = common::mail_server(push_listener.local_addr().unwrap()).await;
    let recorder = Recorder::start(vec![
        link(Link::Imap, imap_listener, mail.imap_addr.unwrap()),
        link(Link::Push, push_listener, push_server.http_addr),
    ]);

    let login = format!("LOGIN {} {}", common::USER, common::PASSWORD);
    let mut one = Imap::connect(imap_proxy).await;
    let mut two = Imap::connect(imap_proxy).await;
    one.run(&login, None).await;
    one.run("CREATE Notes", None).await;
    one.run("ENABLE CONDSTORE", None).await;
    one.run("SELECT Notes", None).await;
    one.run(
        &format!(
            "XAPPLEPUSHSERVICE aps-version 2 aps-account-id acct-recorded aps-device-token {token} aps-subtopic com.apple.mobilemail mailboxes (Notes)"
        ),
        None,
    )
    .await;
    two.run(&login, None).await;
    two.run("SELECT Notes", None).await;
    two.send("b1 IDLE\r\n").await;
    assert!(two.line().await.starts_with('+'));
    one.run("APPEND Notes", Some("Subject: recorded\r\n\r\nhello"))
        .await;
    let exists = two.line().await;
    assert!(exists.contains("EXISTS"), "{exists}");
    two.send("DONE\r\n").await;
    loop {
        let line = two.line().await;
        assert!(!line.is_empty() && !line.starts_with("b1 NO") && !line.starts_with("b1 BAD"));
        if line.starts_with("b1 OK") {
            break;
        }
    }
    one.run("FETCH 1 (FLAGS MODSEQ)", None).await;
    wait_for(&recorder, Link::Push, From::Server, 1).await;
    one.run("LOGOUT", None).await;
    two.run("LOGOUT", None).await;
    let recording = recorder.stop().await;
    mail.shutdown().await;
    push_server.shutdown().await;

    let text = write_case(&recording, &options("recorded.imap", Role::ImapServer)).unwrap();
    println!("{text}");
    // What the rules made of the values that vary between runs.
    assert!(text.contains("LOGIN $user $password"), "{text}");
    assert!(text.contains("aps-device-token $token"), "{text}");
    assert!(text.contains("aps-account-id $account"), "{text}");
    assert!(text.contains("[UIDVALIDITY $uidvalidity1]"), "{text}");
    assert!(text.contains("push <- POST /v1/push/$token"), "{text}");
    assert!(
        text.contains(r#"{"aps":{"account-id":"$account","m":["$md5_1"]}}"#)
            && text.contains(r#"let md5_1 = md5("Notes")"#),
        "{text}"
    );
    assert!(text.contains("2 <- * 1 EXISTS"), "{text}");
    assert!(text.contains("2 -> DONE"), "{text}");
    assert!(!text.contains(&token), "{text}");

    let listener = listener().await;
    let push = runner::http::PushService::start(listener).unwrap();
    let (fresh, _dir) = common::mail_server(push.addr).await;
    let (verdict, report) = play(
        &text,
        &common::imap_target(fresh.imap_addr.unwrap()),
        Some(&push),
    )
    .await;
    fresh.shutdown().await;
    assert_eq!(verdict, Verdict::Pass, "{report}\n{text}");
}

/// A provider (registration, a push) and a device (hello, the notification, its ack) with the
/// reference push server: recorded, written, and played back against a fresh push server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_and_device_session_replays_against_a_fresh_push_server() {
    let server = common::push_server().await;
    let (recorder, api, device) = push_proxies(&server).await;

    let (token, secret) = register(api).await;
    let (mut dev, hello_len) = hello(device, &token, &secret).await;
    push(api, &token, 60, r#"{"aps":{"account-id":"acct-1","m":[]}}"#).await;
    let notify = read_frame(&mut dev).await;
    let Frame::Notify { id, .. } = notify else {
        panic!("{notify}")
    };
    dev.write_all(&Frame::Ack { id }.encode()).await.unwrap();
    wait_for(&recorder, Link::Device, From::Client, hello_len + 12).await;
    drop(dev);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let recording = recorder.stop().await;
    server.shutdown().await;

    let text = write_case(&recording, &options("recorded.push", Role::PushServer)).unwrap();
    println!("{text}");
    assert!(text.contains("api -> POST /v1/devices"), "{text}");
    assert!(
        text.contains("Authorization: Bearer $registration"),
        "{text}"
    );
    assert!(text.contains("Authorization: Bearer $provider"), "{text}");
    assert!(
        text.contains("dev1 -> hello min=1 max=1 token=$token_1 secret=$secret_1"),
        "{text}"
    );
    assert!(text.contains("dev1 <- notify id=1"), "{text}");
    assert!(text.contains("dev1 -> ack id=1"), "{text}");
    assert!(!text.contains(&token) && !text.contains(&secret), "{text}");

    let fresh = common::push_server().await;
    let (verdict, report) = play(
        &text,
        &common::push_target(fresh.http_addr, fresh.device_addr),
        None,
    )
    .await;
    fresh.shutdown().await;
    assert_eq!(verdict, Verdict::Pass, "{report}\n{text}");
}

async fn read_frame(stream: &mut TcpStream) -> Frame {
    let mut len = [0u8; 4];
    io_timeout(stream.read_exact(&mut len)).await.unwrap();
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    io_timeout(stream.read_exact(&mut body)).await.unwrap();
    mailpush_conformance::frames::decode_body(&body).unwrap()
}

/// An upstream that refuses, after traffic on another link was recorded: the case is still
/// written, keeps what came before, and says what went wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_upstream_is_reported_and_loses_nothing_recorded() {
    let server = common::push_server().await;
    let api_listener = listener().await;
    let device_listener = listener().await;
    let api = api_listener.local_addr().unwrap();
    let device = device_listener.local_addr().unwrap();
    // A port nothing listens on: bound, then closed.
    let closed = listener().await.local_addr().unwrap();
    let recorder = Recorder::start(vec![
        link(Link::Push, api_listener, server.http_addr),
        link(Link::Device, device_listener, closed),
    ]);
    register(api).await;
    let mut dev = TcpStream::connect(device).await.unwrap();
    let _ = dev.write_all(b"anything").await;
    let mut rest = Vec::new();
    // The proxy closes the device's connection: it has nowhere to forward it.
    let _ = io_timeout(dev.read_to_end(&mut rest)).await;
    let recording = recorder.stop().await;
    server.shutdown().await;
    assert!(rest.is_empty());
    let text = write_case(
        &recording,
        &options("recorded.unreachable", Role::PushServer),
    )
    .unwrap();
    assert!(text.contains("api -> POST /v1/devices"), "{text}");
    assert!(text.contains("api <- 201"), "{text}");
    assert!(
        text.contains(&format!(
            "device connection 1: the upstream {closed} is unreachable"
        )),
        "{text}"
    );
}

/// Octets that are not the link's protocol: each direction is followed up to them, the case
/// names them, still parses, and the rest of the recording is intact.
#[test]
fn garbage_on_a_link_is_named_and_the_rest_is_kept() {
    let mut recording = Recording::new();
    let imap = recording.open(Link::Imap).unwrap();
    let device = recording.open(Link::Device).unwrap();
    let push = recording.open(Link::Push).unwrap();
    let at = Duration::from_millis;
    recording.record(
        imap,
        at(1),
        What::Data(From::Server, b"* OK ready\r\n".to_vec()),
    );
    recording.record(
        imap,
        at(2),
        What::Data(From::Client, b"a1 NOOP\r\n".to_vec()),
    );
    recording.record(
        imap,
        at(3),
        What::Data(From::Server, b"a1 OK done\r\n".to_vec()),
    );
    // A line of binary with no line end, longer than any line is kept.
    let mut junk = vec![0xffu8, 0x00, b'$'];
    junk.resize(200_000, b'x');
    recording.record(imap, at(4), What::Data(From::Client, junk));
    recording.record(device, at(5), What::Data(From::Client, vec![0xff; 16]));
    recording.record(
        push,
        at(6),
        What::Data(From::Client, b"\x16\x03\x01 not http\r\n\r\n".to_vec()),
    );
    let text = write_case(&recording, &options("recorded.garbage", Role::ImapServer)).unwrap();
    assert!(text.contains("1 ok NOOP"), "{text}");
    assert!(text.contains("1 -> "), "{text}");
    assert!(
        text.contains("push connection 1 (client): not an HTTP/1.1 request"),
        "{text}"
    );
    assert!(
        text.contains("the device link is not part of a imap-server case"),
        "{text}"
    );
    let push_case =
        write_case(&recording, &options("recorded.garbage2", Role::PushServer)).unwrap();
    assert!(
        push_case.contains("a frame length of 4294967295"),
        "{push_case}"
    );
}

/// The limits: past the octet limit nothing more is kept and the case says so; past nine
/// connections a link's connections are forwarded but not recorded; a bad case id is refused.
#[test]
fn the_recording_has_limits_and_says_where_it_stopped() {
    let mut recording = Recording::new();
    let imap = recording.open(Link::Imap).unwrap();
    recording.record(
        imap,
        Duration::ZERO,
        What::Data(From::Server, b"* OK hi\r\n".to_vec()),
    );
    recording.record(
        imap,
        Duration::ZERO,
        What::Data(From::Client, b"a1 NOOP\r\n".to_vec()),
    );
    recording.record(
        imap,
        Duration::ZERO,
        What::Data(From::Server, b"a1 OK\r\n".to_vec()),
    );
    let big = vec![b'x'; MAX_RECORDED_OCTETS];
    recording.record(imap, Duration::from_secs(1), What::Data(From::Client, big));
    recording.record(
        imap,
        Duration::from_secs(2),
        What::Data(From::Client, b"a2 NOOP\r\n".to_vec()),
    );
    assert_eq!(recording.events().len(), 3);
    for _ in 1..MAX_CONNECTIONS_PER_LINK {
        recording.open(Link::Imap).unwrap();
    }
    assert_eq!(
        recording.open(Link::Imap),
        Err(RecordError::TooManyConnections(Link::Imap))
    );
    let text = write_case(&recording, &options("recorded.limits", Role::ImapServer)).unwrap();
    assert!(text.contains("1 ok NOOP"), "{text}");
    assert!(!text.contains("a2"), "{text}");
    assert!(
        text.contains("the recording stopped at 16777216 octets"),
        "{text}"
    );
    assert!(text.contains("more than 9 connections"), "{text}");
    assert!(matches!(
        write_case(&recording, &options("Bad Id", Role::ImapServer)),
        Err(RecordError::BadCaseId(_))
    ));
}

/// The corpus holds no unreviewed recording: reviewing one means citing what it shows.
#[test]
fn no_case_of_the_corpus_is_unreviewed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let cases = runner::load_dir(&dir).unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        assert!(
            !case.header.tags.iter().any(|t| t == "unreviewed"),
            "{} is an unreviewed recording",
            case.header.id
        );
        assert!(!case.header.requirements.is_empty(), "{}", case.header.id);
    }
}

/// The command line: a bad link is refused with the flag named; a real recording through the
/// binary, stopped by `--max-seconds`, is written and parses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_record_command_line_records_and_refuses_bad_links() {
    let binary = env!("CARGO_BIN_EXE_mailpush-conform");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("case.case");
    let refused = std::process::Command::new(binary)
        .args([
            "record",
            "--role",
            "push-server",
            "--push",
            "nowhere",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("--push nowhere: expected LISTEN=UPSTREAM"),
        "{message}"
    );

    let server = common::push_server().await;
    // A free port for the proxy: bound, then released for the child to bind.
    let api = listener().await.local_addr().unwrap();
    let (mut child, mut lines) = record_for_three_seconds(
        "recorded.cli",
        &[
            "--push".into(),
            format!("{api}={}", server.http_addr).into(),
        ],
        &out,
    );
    let started = io_timeout(lines.next_line()).await.unwrap().unwrap();
    assert!(started.contains("recording the push link"), "{started}");
    register(api).await;
    let status = io_timeout(child.wait()).await.unwrap();
    server.shutdown().await;
    assert!(status.success());
    let text = std::fs::read_to_string(&out).unwrap();
    let case = parse("case.case", &text).unwrap();
    assert_eq!(case.header.id, "recorded.cli");
    assert!(text.contains("api -> POST /v1/devices"), "{text}");
    assert!(text.contains("api <- 201"), "{text}");
}

/// Records the sessions that corpus cases were made from, against the reference servers, and
/// writes them unreviewed to `$MAILPUSH_RECORD_DIR` for review (conformance/README.md,
/// "Recording cases"). Run by hand:
/// `MAILPUSH_RECORD_DIR=dir cargo test --release -p mailpush-conformance --test recorder -- --ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes recordings for review; run by hand"]
async fn record_sessions_for_the_corpus() {
    let dir = std::path::PathBuf::from(std::env::var("MAILPUSH_RECORD_DIR").unwrap());
    let write = |id: &str, role: Role, recording: &Recording| {
        let text = write_case(recording, &options(id, role)).unwrap();
        std::fs::write(dir.join(format!("{id}.case")), text).unwrap();
    };

    // The mail server with the push server behind the recorder.
    let push_server = common::push_server().await;
    let (token, _) = register(push_server.http_addr).await;
    let imap_listener = listener().await;
    let push_listener = listener().await;
    let imap_proxy = imap_listener.local_addr().unwrap();
    let (mail, _dir) = common::mail_server(push_listener.local_addr().unwrap()).await;
    let login = format!("LOGIN {} {}", common::USER, common::PASSWORD);

    // XAPS-8: a version that is not an nz-number, then one above 2.
    let recorder = Recorder::start(vec![link(
        Link::Imap,
        imap_listener,
        mail.imap_addr.unwrap(),
    )]);
    let mut one = Imap::connect(imap_proxy).await;
    one.run(&login, None).await;
    one.run("CREATE Drafts-x8", None).await;
    for version in ["0", "two", "3"] {
        let tag = format!("v{version}");
        one.send(&format!(
            "{tag} XAPPLEPUSHSERVICE aps-version {version} aps-account-id acct-x8 aps-device-token {token} aps-subtopic com.apple.mobilemail mailboxes (Drafts-x8)\r\n"
        ))
        .await;
        while !one.line().await.starts_with(&tag) {}
    }
    one.run("LOGOUT", None).await;
    write("xaps-8.version", Role::ImapServer, &recorder.stop().await);

    // XAPS-13: INBOX registered as `inbox`; the push names it by the MD5 of that spelling.
    let imap_listener = listener().await;
    let imap_proxy = imap_listener.local_addr().unwrap();
    let recorder = Recorder::start(vec![
        link(Link::Imap, imap_listener, mail.imap_addr.unwrap()),
        link(Link::Push, push_listener, push_server.http_addr),
    ]);
    let mut one = Imap::connect(imap_proxy).await;
    one.run(&login, None).await;
    one.run(
        &format!(
            "XAPPLEPUSHSERVICE aps-version 2 aps-account-id acct-x13 aps-device-token {token} aps-subtopic com.apple.mobilemail mailboxes (inbox)"
        ),
        None,
    )
    .await;
    one.run("APPEND INBOX", Some("Subject: x13\r\n\r\nhello"))
        .await;
    wait_for(&recorder, Link::Push, From::Server, 1).await;
    one.run("LOGOUT", None).await;
    write(
        "xaps-13.name-as-sent",
        Role::ImapServer,
        &recorder.stop().await,
    );
    mail.shutdown().await;

    // CHAN-16: three pushes to a connected device arrive in increasing id order.
    let (recorder, api, device) = push_proxies(&push_server).await;
    let (token, secret) = register(api).await;
    let (mut dev, hello_len) = hello(device, &token, &secret).await;
    for k in 1..=3 {
        let payload = format!(r#"{{"aps":{{"account-id":"acct-1","m":[]}},"n":{k}}}"#);
        push(api, &token, 600, &payload).await;
    }
    let mut last = 0;
    for _ in 1..=3 {
        if let Frame::Notify { id, .. } = read_frame(&mut dev).await {
            last = id;
        }
    }
    dev.write_all(&Frame::Ack { id: last }.encode())
        .await
        .unwrap();
    wait_for(&recorder, Link::Device, From::Client, hello_len + 12).await;
    drop(dev);
    tokio::time::sleep(Duration::from_millis(50)).await;
    write("chan-16.order", Role::PushServer, &recorder.stop().await);
    push_server.shutdown().await;
}

/// Only a case tagged `unreviewed` may cite nothing.
#[test]
fn a_case_without_citations_parses_only_when_unreviewed() {
    let body = "\n1 ok NOOP\n";
    let head = "case: x\nlevel: MUST\nrole: imap-server\n";
    let refused = parse("x.case", &format!("{head}{body}")).unwrap_err();
    assert!(
        refused.to_string().contains("cites no requirement"),
        "{refused}"
    );
    let other_tag = parse("x.case", &format!("{head}tags: recorded\n{body}")).unwrap_err();
    assert!(
        other_tag.to_string().contains("cites no requirement"),
        "{other_tag}"
    );
    let case = parse(
        "x.case",
        &format!("{head}tags: recorded unreviewed\n{body}"),
    )
    .unwrap();
    assert!(case.header.requirements.is_empty());
}

/// A certificate authority and a certificate it signed for 127.0.0.1, in a directory of its
/// own: the recorder's toward the components that connect, or an upstream server's.
struct Pki {
    dir: tempfile::TempDir,
    certificate: RecorderCertificate,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let names = ["127.0.0.1".to_owned(), "localhost".to_owned()];
        let certificate = RecorderCertificate::in_dir(dir.path(), &names).unwrap();
        Self { dir, certificate }
    }

    /// The certificate and key files, for a reference server.
    fn files(&self) -> (std::path::PathBuf, std::path::PathBuf) {
        (
            self.dir.path().join("recorder-cert.pem"),
            self.dir.path().join("recorder-key.pem"),
        )
    }

    fn authority(&self) -> std::path::PathBuf {
        self.dir.path().join(CA_FILE)
    }

    /// A client trusting this authority, offering `alpn`.
    fn client(&self, alpn: &[&[u8]]) -> TlsClient {
        TlsClient::new(
            Trust::Authorities(read_certificates(&self.authority()).unwrap()),
            None,
            alpn,
        )
        .unwrap()
    }
}

/// TLS on `link`: the recorder presents `recorder`'s certificate and trusts `upstream`'s.
fn link_tls(link: Link, recorder: &Pki, upstream: &Pki) -> LinkTls {
    LinkTls::new(link, &recorder.certificate, &upstream.client(&[]))
}

/// The reference mail server with plain IMAP (STARTTLS offered; LOGIN refused in the clear)
/// and IMAPS, its certificate from `pki`.
async fn tls_mail_server(
    pki: &Pki,
    push: mailpush_mail_server::driver::PushSettings,
) -> (
    mailpush_mail_server::driver::RunningMailServer,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let store = mailpush_mail_store::Store::open(
        dir.path().join("mail.db"),
        mailpush_mail_store::Config::for_tests(),
    )
    .unwrap();
    store
        .add_user(common::USER, common::PASSWORD.as_bytes())
        .unwrap();
    let settings = mailpush_mail_server::driver::Settings {
        imap_listen: Some(common::loopback()),
        imaps_listen: Some(common::loopback()),
        tls: Some(pki.files()),
        allow_plaintext_loopback: false,
        push: Some(push),
        ..mailpush_mail_server::driver::Settings::default()
    };
    let server = mailpush_mail_server::driver::start(settings, std::sync::Arc::new(store))
        .await
        .unwrap();
    (server, dir)
}

/// The reference push server with TLS on both listeners, its certificate from `pki`.
async fn tls_push_server(pki: &Pki) -> mailpush_push_server::RunningServer {
    mailpush_push_server::start(
        mailpush_push_server::Settings {
            device_listen: common::loopback(),
            http_listen: common::loopback(),
            database: None,
            tls: Some(pki.files()),
            plain_loopback: false,
            provider_tokens: vec![common::PROVIDER.into()],
            registration_tokens: vec![common::REGISTRATION.into()],
            ..mailpush_push_server::Settings::default()
        },
        std::sync::Arc::new(mailpush_push_server::MemoryStore::new()),
    )
    .await
    .unwrap()
}

/// One HTTP/1.1 exchange over TLS trusting `trust`; the status and body.
async fn https(addr: SocketAddr, trust: &Pki, request: &str) -> (u16, String) {
    let client = trust.client(&[b"http/1.1"]);
    let mut stream = runner::net::connect(addr, Some(&client), Duration::from_secs(10))
        .await
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    // A TLS server may end without close_notify: what arrived counts.
    let _ = io_timeout(stream.read_to_end(&mut response)).await;
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response[9..12].parse().unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

fn registration(api: SocketAddr) -> String {
    format!(
        "POST /v1/devices HTTP/1.1\r\nHost: {api}\r\nAuthorization: Bearer {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        common::REGISTRATION
    )
}

/// Registers a device with the push server over TLS; its token and secret.
async fn register_tls(api: SocketAddr, trust: &Pki) -> (String, String) {
    let (status, body) = https(api, trust, &registration(api)).await;
    assert_eq!(status, 201, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    (
        json["token"].as_str().unwrap().to_owned(),
        json["secret"].as_str().unwrap().to_owned(),
    )
}

/// The IMAP session of the TLS recordings: a mailbox, a message, its flags.
async fn tls_session(imap: &mut Imap) {
    imap.run(
        &format!("LOGIN {} {}", common::USER, common::PASSWORD),
        None,
    )
    .await;
    imap.run("CREATE Notes", None).await;
    imap.run("SELECT Notes", None).await;
    imap.run("APPEND Notes", Some("Subject: over tls\r\n\r\nhello"))
        .await;
    imap.run("FETCH 1 (FLAGS)", None).await;
    imap.run("LOGOUT", None).await;
}

/// Plays `text` as an imap-server case against a fresh reference mail server over IMAPS.
async fn play_over_imaps(text: &str) {
    let upstream = Pki::new();
    let listener = listener().await;
    let push = runner::http::PushService::start(listener).unwrap();
    let (fresh, _dir) = tls_mail_server(&upstream, common::push_settings(push.addr)).await;
    let mut target = common::imap_target(fresh.imaps_addr.unwrap());
    target.tls = Some(upstream.client(&[]));
    let (verdict, report) = play(text, &target, Some(&push)).await;
    fresh.shutdown().await;
    assert_eq!(verdict, Verdict::Pass, "{report}\n{text}");
}

/// IMAPS through the recorder: the client trusts the recorder's authority, the recorder the
/// server's; the cleartext inside is recorded and plays back over IMAPS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imaps_session_is_recorded_and_replays() {
    let (recorder_pki, upstream) = (Pki::new(), Pki::new());
    let push = runner::http::PushService::start(listener().await).unwrap();
    let (mail, _dir) = tls_mail_server(&upstream, common::push_settings(push.addr)).await;
    let imap_listener = listener().await;
    let proxy = imap_listener.local_addr().unwrap();
    let recorder = Recorder::start(vec![secured(
        Link::Imap,
        imap_listener,
        mail.imaps_addr.unwrap(),
        Security::Tls(link_tls(Link::Imap, &recorder_pki, &upstream)),
    )]);
    let client = recorder_pki.client(&[]);
    let io = runner::net::connect(proxy, Some(&client), Duration::from_secs(10))
        .await
        .unwrap();
    tls_session(&mut Imap::greeted(io).await).await;
    let recording = recorder.stop().await;
    mail.shutdown().await;

    let text = write_case(&recording, &options("recorded.imaps", Role::ImapServer)).unwrap();
    println!("{text}");
    assert!(
        text.contains("imap connection 1: TLS from the first octet"),
        "{text}"
    );
    assert!(text.contains("1 ok LOGIN $user $password"), "{text}");
    assert!(text.contains("1 ok APPEND Notes {{"), "{text}");
    play_over_imaps(&text).await;
}

/// STARTTLS through the recorder: the client's STARTTLS and the server's OK pass in the clear,
/// then both sides go on over TLS. The exchange before it is comments (the runner connects over
/// TLS from the first octet); the rest plays back over IMAPS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_starttls_session_is_recorded_and_replays_over_imaps() {
    let (recorder_pki, upstream) = (Pki::new(), Pki::new());
    let push = runner::http::PushService::start(listener().await).unwrap();
    let (mail, _dir) = tls_mail_server(&upstream, common::push_settings(push.addr)).await;
    let imap_listener = listener().await;
    let proxy = imap_listener.local_addr().unwrap();
    let recorder = Recorder::start(vec![secured(
        Link::Imap,
        imap_listener,
        mail.imap_addr.unwrap(),
        Security::StartTls(link_tls(Link::Imap, &recorder_pki, &upstream)),
    )]);
    let mut plain = BufReader::new(TcpStream::connect(proxy).await.unwrap());
    let mut line = String::new();
    io_timeout(plain.read_line(&mut line)).await.unwrap();
    assert!(line.contains("STARTTLS"), "{line}");
    plain
        .get_mut()
        .write_all(b"s1 CAPABILITY\r\n")
        .await
        .unwrap();
    loop {
        line.clear();
        io_timeout(plain.read_line(&mut line)).await.unwrap();
        if line.starts_with("s1 ") {
            break;
        }
    }
    plain.get_mut().write_all(b"s2 STARTTLS\r\n").await.unwrap();
    line.clear();
    io_timeout(plain.read_line(&mut line)).await.unwrap();
    assert!(line.starts_with("s2 OK"), "{line}");
    let tls = recorder_pki
        .client(&[])
        .handshake(plain.into_inner(), proxy)
        .await
        .unwrap();
    let mut imap = Imap {
        io: BufReader::new(Box::new(tls)),
        next: 1,
    };
    tls_session(&mut imap).await;
    let recording = recorder.stop().await;
    mail.shutdown().await;

    let text = write_case(&recording, &options("recorded.starttls", Role::ImapServer)).unwrap();
    println!("{text}");
    assert!(
        text.contains("# note: imap connection 1: STARTTLS"),
        "{text}"
    );
    assert!(
        text.contains("# 1 before STARTTLS, client: s2 STARTTLS"),
        "{text}"
    );
    assert!(
        text.contains("# 1 before STARTTLS, server: s2 OK"),
        "{text}"
    );
    assert!(!text.contains("1 ok STARTTLS"), "{text}");
    assert!(text.contains("1 ok LOGIN $user $password"), "{text}");
    play_over_imaps(&text).await;
}

/// The mail server pushes over HTTPS with HTTP/2 (its default) to the recorder, trusting the
/// recorder's authority; the recorder relays each request to the TLS push server and records
/// it. The IMAP session and its pushes play back against a fresh mail server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_over_https_and_http2_are_recorded_and_replay() {
    let (recorder_pki, upstream) = (Pki::new(), Pki::new());
    let push_server = tls_push_server(&upstream).await;
    let (token, _) = register_tls(push_server.http_addr, &upstream).await;
    let push_listener = listener().await;
    let push_proxy = push_listener.local_addr().unwrap();
    let mut settings = common::push_settings(push_proxy);
    settings.url = format!("https://{push_proxy}");
    settings.trust = Some(recorder_pki.authority());
    assert!(settings.http2);
    let (mail, _dir) = common::mail_server_with(settings).await;
    let imap_listener = listener().await;
    let imap_proxy = imap_listener.local_addr().unwrap();
    let recorder = Recorder::start(vec![
        link(Link::Imap, imap_listener, mail.imap_addr.unwrap()),
        secured(
            Link::Push,
            push_listener,
            push_server.http_addr,
            Security::Tls(link_tls(Link::Push, &recorder_pki, &upstream)),
        ),
    ]);
    let mut one = Imap::connect(imap_proxy).await;
    one.run(
        &format!("LOGIN {} {}", common::USER, common::PASSWORD),
        None,
    )
    .await;
    one.run("CREATE Notes", None).await;
    one.run(
        &format!(
            "XAPPLEPUSHSERVICE aps-version 2 aps-account-id acct-h2 aps-device-token {token} aps-subtopic com.apple.mobilemail mailboxes (Notes)"
        ),
        None,
    )
    .await;
    one.run("APPEND Notes", Some("Subject: h2\r\n\r\nhello"))
        .await;
    wait_for(&recorder, Link::Push, From::Server, 1).await;
    one.run("LOGOUT", None).await;
    let recording = recorder.stop().await;
    mail.shutdown().await;
    push_server.shutdown().await;

    let text = write_case(&recording, &options("recorded.h2", Role::ImapServer)).unwrap();
    println!("{text}");
    assert!(
        text.contains("# note: push connection 1: TLS, HTTP/2"),
        "{text}"
    );
    assert!(text.contains("push <- POST /v1/push/$token"), "{text}");
    assert!(text.contains("TTL: $ttl"), "{text}");
    assert!(
        text.contains(r#"{"aps":{"account-id":"$account","m":["$md5_1"]}}"#),
        "{text}"
    );
    assert!(text.contains("# the push service answered 201"), "{text}");

    let push = runner::http::PushService::start(listener().await).unwrap();
    let (fresh, _dir) = common::mail_server(push.addr).await;
    let (verdict, report) = play(
        &text,
        &common::imap_target(fresh.imap_addr.unwrap()),
        Some(&push),
    )
    .await;
    fresh.shutdown().await;
    assert_eq!(verdict, Verdict::Pass, "{report}\n{text}");
}

/// A device over TLS and a provider over HTTPS (HTTP/1.1) through the recorder to a TLS push
/// server: recorded, and played back against a fresh TLS push server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_device_channel_is_recorded_and_replays() {
    let (recorder_pki, upstream) = (Pki::new(), Pki::new());
    let server = tls_push_server(&upstream).await;
    let (api_listener, device_listener) = (listener().await, listener().await);
    let (api, device) = (
        api_listener.local_addr().unwrap(),
        device_listener.local_addr().unwrap(),
    );
    let recorder = Recorder::start(vec![
        secured(
            Link::Push,
            api_listener,
            server.http_addr,
            Security::Tls(link_tls(Link::Push, &recorder_pki, &upstream)),
        ),
        secured(
            Link::Device,
            device_listener,
            server.device_addr,
            Security::Tls(link_tls(Link::Device, &recorder_pki, &upstream)),
        ),
    ]);
    let (token, secret) = register_tls(api, &recorder_pki).await;
    let client = recorder_pki.client(&[]);
    let mut dev = runner::net::connect(device, Some(&client), Duration::from_secs(10))
        .await
        .unwrap();
    let hello = Frame::Hello {
        min: 1,
        max: 1,
        token: token.as_bytes().to_vec(),
        secret: secret.as_bytes().to_vec(),
        cursor: 0,
    }
    .encode();
    dev.write_all(&hello).await.unwrap();
    assert!(matches!(
        read_io_frame(&mut dev).await,
        Frame::Welcome { .. }
    ));
    let payload = r#"{"aps":{"account-id":"acct-1","m":[]}}"#;
    let (status, body) = https(
        api,
        &recorder_pki,
        &format!(
            "POST /v1/push/{token} HTTP/1.1\r\nHost: {api}\r\nAuthorization: Bearer {}\r\nTTL: 60\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
            common::PROVIDER,
            payload.len()
        ),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let Frame::Notify { id, .. } = read_io_frame(&mut dev).await else {
        panic!("no notify")
    };
    dev.write_all(&Frame::Ack { id }.encode()).await.unwrap();
    wait_for(&recorder, Link::Device, From::Client, hello.len() + 12).await;
    drop(dev);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let recording = recorder.stop().await;
    server.shutdown().await;

    let text = write_case(&recording, &options("recorded.tls-push", Role::PushServer)).unwrap();
    println!("{text}");
    assert!(
        text.contains("# note: device connection 1: TLS from the first octet"),
        "{text}"
    );
    assert!(
        text.contains("# note: push connection 1: TLS, HTTP/1.1"),
        "{text}"
    );
    assert!(text.contains("api -> POST /v1/devices"), "{text}");
    assert!(text.contains("dev1 <- notify id=1"), "{text}");
    assert!(text.contains("dev1 -> ack id=1"), "{text}");

    let fresh_pki = Pki::new();
    let fresh = tls_push_server(&fresh_pki).await;
    let mut target = common::push_target(fresh.http_addr, fresh.device_addr);
    target.tls = Some(fresh_pki.client(&[]));
    let (verdict, report) = play(&text, &target, None).await;
    fresh.shutdown().await;
    assert_eq!(verdict, Verdict::Pass, "{report}\n{text}");
}

async fn read_io_frame(stream: &mut Box<dyn Io>) -> Frame {
    let mut len = [0u8; 4];
    io_timeout(stream.read_exact(&mut len)).await.unwrap();
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    io_timeout(stream.read_exact(&mut body)).await.unwrap();
    mailpush_conformance::frames::decode_body(&body).unwrap()
}

/// An upstream whose certificate the recorder does not trust: the handshake fails, the case
/// names the link and why, and what another link recorded before is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_upstream_is_named_and_loses_nothing_recorded() {
    let (recorder_pki, upstream, stranger) = (Pki::new(), Pki::new(), Pki::new());
    let server = tls_push_server(&upstream).await;
    let (api_listener, device_listener) = (listener().await, listener().await);
    let (api, device) = (
        api_listener.local_addr().unwrap(),
        device_listener.local_addr().unwrap(),
    );
    let recorder = Recorder::start(vec![
        secured(
            Link::Push,
            api_listener,
            server.http_addr,
            Security::Tls(link_tls(Link::Push, &recorder_pki, &upstream)),
        ),
        secured(
            Link::Device,
            device_listener,
            server.device_addr,
            // The wrong authority for this upstream.
            Security::Tls(link_tls(Link::Device, &recorder_pki, &stranger)),
        ),
    ]);
    register_tls(api, &recorder_pki).await;
    let client = recorder_pki.client(&[]);
    let refused = runner::net::connect(device, Some(&client), Duration::from_secs(10)).await;
    assert!(refused.is_err());
    let recording = recorder.stop().await;
    let device_upstream = server.device_addr;
    server.shutdown().await;
    let text = write_case(&recording, &options("recorded.untrusted", Role::PushServer)).unwrap();
    println!("{text}");
    assert!(text.contains("api -> POST /v1/devices"), "{text}");
    assert!(text.contains("api <- 201"), "{text}");
    assert!(
        text.contains(&format!(
            "device connection 1: the upstream's TLS handshake with {device_upstream}: invalid peer certificate"
        )),
        "{text}"
    );
}

/// The command line refuses a link over TLS without the recorder's certificate or without
/// trust in the upstream: never silently insecure.
#[test]
fn the_record_command_line_refuses_tls_without_certificate_or_trust() {
    let binary = env!("CARGO_BIN_EXE_mailpush-conform");
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let output = std::process::Command::new(binary)
            .args(["record", "--role", "imap-server", "--out", "-"])
            .args(["--imaps", "127.0.0.1:0=127.0.0.1:993"])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let message = run(&[]);
    assert!(
        message.contains("a link over TLS needs the recorder's certificate"),
        "{message}"
    );
    let tls_dir = dir.path().to_str().unwrap();
    let message = run(&["--tls-dir", tls_dir]);
    assert!(
        message.contains("a link over TLS needs the upstreams' trust"),
        "{message}"
    );
    assert!(dir.path().join(CA_FILE).exists());
}

/// The command line over TLS: `--push-tls` with a generated certificate (`--tls-dir`) and the
/// upstream's authority (`--upstream-ca`); a provider trusting the generated authority
/// registers through it, and the written case holds the exchange.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_record_command_line_records_over_tls() {
    let upstream = Pki::new();
    let server = tls_push_server(&upstream).await;
    let dir = tempfile::tempdir().unwrap();
    let tls_dir = dir.path().join("certs");
    let out = dir.path().join("tls.case");
    let api = listener().await.local_addr().unwrap();
    let (mut child, mut lines) = record_for_three_seconds(
        "recorded.cli-tls",
        &[
            "--push-tls".into(),
            format!("{api}={}", server.http_addr).into(),
            "--tls-dir".into(),
            tls_dir.clone().into(),
            "--upstream-ca".into(),
            upstream.authority().into(),
        ],
        &out,
    );
    let trust = io_timeout(lines.next_line()).await.unwrap().unwrap();
    assert!(trust.contains("recorder-ca.pem"), "{trust}");
    let started = io_timeout(lines.next_line()).await.unwrap().unwrap();
    assert!(started.contains("recording the push-tls link"), "{started}");
    let client = TlsClient::new(
        Trust::Authorities(read_certificates(&tls_dir.join(CA_FILE)).unwrap()),
        None,
        &[b"http/1.1"],
    )
    .unwrap();
    let mut stream = runner::net::connect(api, Some(&client), Duration::from_secs(10))
        .await
        .unwrap();
    stream
        .write_all(registration(api).as_bytes())
        .await
        .unwrap();
    let mut response = Vec::new();
    let _ = io_timeout(stream.read_to_end(&mut response)).await;
    assert!(response.starts_with(b"HTTP/1.1 201"), "{response:?}");
    let status = io_timeout(child.wait()).await.unwrap();
    server.shutdown().await;
    assert!(status.success());
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("push connection 1: TLS, HTTP/1.1"), "{text}");
    assert!(text.contains("api -> POST /v1/devices"), "{text}");
    assert!(text.contains("api <- 201"), "{text}");
}

/// `mailpush-conform record` as a push-server recording of three seconds with `links`, written
/// to `out`; the child and the lines of its standard error.
fn record_for_three_seconds(
    id: &str,
    links: &[std::ffi::OsString],
    out: &std::path::Path,
) -> (
    tokio::process::Child,
    tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mailpush-conform"))
        .args(["record", "--role", "push-server", "--case", id])
        .args(["--max-seconds", "3"])
        .args(links)
        .arg("--out")
        .arg(out)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    (child, BufReader::new(stderr).lines())
}

/// A STARTTLS link whose client never sends STARTTLS: relayed line by line, recorded as plain
/// IMAP as it passes, so that a recording stopped before any upgrade keeps it all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_starttls_link_without_starttls_is_recorded_as_it_passes() {
    let (recorder_pki, upstream) = (Pki::new(), Pki::new());
    let server_listener = listener().await;
    let server_addr = server_listener.local_addr().unwrap();
    let lines_sent = 1500;
    let server = tokio::spawn(async move {
        let (stream, _) = server_listener.accept().await.unwrap();
        let mut stream = BufReader::new(stream);
        stream.get_mut().write_all(b"* OK hi\r\n").await.unwrap();
        let mut line = String::new();
        stream.read_line(&mut line).await.unwrap();
        let mut reply = "* 1 EXISTS\r\n".repeat(lines_sent);
        reply.push_str("a1 OK done\r\n");
        stream.get_mut().write_all(reply.as_bytes()).await.unwrap();
        line.clear();
        stream.read_line(&mut line).await.unwrap();
        assert_eq!(line, "a2 NOOP\r\n");
        stream
            .get_mut()
            .write_all(b"a2 OK still clear\r\n")
            .await
            .unwrap();
    });
    let proxy_listener = listener().await;
    let proxy = proxy_listener.local_addr().unwrap();
    let recorder = Recorder::start(vec![secured(
        Link::Imap,
        proxy_listener,
        server_addr,
        Security::StartTls(link_tls(Link::Imap, &recorder_pki, &upstream)),
    )]);
    let mut imap = Imap::connect(proxy).await;
    let lines = imap.run("NOOP", None).await;
    assert_eq!(lines.len(), lines_sent + 1);
    let lines = imap.run("NOOP", None).await;
    assert_eq!(lines, ["a2 OK still clear\r\n"]);
    server.await.unwrap();
    let recording = recorder.stop().await;
    assert!(
        recording
            .events()
            .iter()
            .all(|e| !matches!(e.what, What::BeforeTls(..) | What::Secured(_)))
    );
    let text = write_case(&recording, &options("recorded.clear", Role::ImapServer)).unwrap();
    assert!(text.contains("1 ok NOOP"), "{text}");
    assert!(text.contains("* 1 EXISTS"), "{text}");
}
