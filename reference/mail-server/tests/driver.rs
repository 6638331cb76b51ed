//! The tokio driver on `127.0.0.1:0`: real sockets, real TLS, a real SQLite store and, for
//! pushes, the real push server in the same process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mailpush_mail_server::driver::{PushSettings, RunningMailServer, Settings, start};
use mailpush_mail_store::{Config as StoreConfig, Store};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(20);

/// The push server's test helpers: device registration and a device on the sans-IO client core.
#[path = "../../push-server/tests/common/mod.rs"]
mod push_common;

struct Fixture {
    store: Arc<Store>,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("mail.db"), StoreConfig::for_tests()).unwrap();
    store.add_user("fred", b"secret").unwrap();
    Fixture {
        store: Arc::new(store),
        _dir: dir,
    }
}

fn settings() -> Settings {
    Settings {
        imap_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        imaps_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        allow_plaintext_loopback: true,
        ..Settings::default()
    }
}

async fn server(f: &Fixture, settings: Settings) -> RunningMailServer {
    start(settings, Arc::clone(&f.store)).await.unwrap()
}

/// A line-oriented IMAP client over any stream.
struct Client<S> {
    io: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    fn new(stream: S) -> Self {
        Client {
            io: BufReader::new(stream),
        }
    }

    async fn line(&mut self) -> String {
        let mut line = String::new();
        let n = tokio::time::timeout(WAIT, self.io.read_line(&mut line))
            .await
            .expect("no line from the server in time")
            .unwrap();
        assert!(n > 0, "the server closed the connection");
        line
    }

    async fn send(&mut self, text: &str) {
        self.io.get_mut().write_all(text.as_bytes()).await.unwrap();
        self.io.get_mut().flush().await.unwrap();
    }

    /// Sends `tag command` and returns every line up to and including the tagged one.
    async fn command(&mut self, tag: &str, command: &str) -> Vec<String> {
        self.send(&format!("{tag} {command}\r\n")).await;
        self.until_tagged(tag).await
    }

    async fn until_tagged(&mut self, tag: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await;
            let done = line.starts_with(&format!("{tag} "));
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    async fn login(&mut self) {
        let lines = self.command("l", "LOGIN fred secret").await;
        assert!(lines.last().unwrap().starts_with("l OK"), "{lines:?}");
    }
}

async fn plain(addr: SocketAddr) -> Client<TcpStream> {
    let mut client = Client::new(TcpStream::connect(addr).await.unwrap());
    let greeting = client.line().await;
    assert!(greeting.starts_with("* OK"), "{greeting}");
    client
}

fn localhost() -> rustls::pki_types::ServerName<'static> {
    rustls::pki_types::ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_in_one_session_is_seen_live_by_another_sessions_idle() {
    //= spec/architecture.md#ARCH-8
    //# While a client is in IDLE (RFC 2177) with a mailbox selected, a mail server MUST tell
    //# it, without waiting for DONE or another command, of every change to that mailbox made
    //# through any other session
    let f = fixture();
    let server = server(&f, settings()).await;
    let addr = server.imap_addr.unwrap();
    let mut watcher = plain(addr).await;
    watcher.login().await;
    let select = watcher.command("s", "SELECT INBOX").await;
    assert!(select.iter().any(|l| l == "* 0 EXISTS\r\n"), "{select:?}");
    watcher.send("i IDLE\r\n").await;
    assert!(watcher.line().await.starts_with("+ "));

    let mut writer = plain(addr).await;
    writer.login().await;
    let message = "Subject: hi\r\n\r\nhello\r\n";
    let append = writer
        .command(
            "a",
            &format!("APPEND INBOX {{{}+}}\r\n{message}", message.len()),
        )
        .await;
    assert!(
        append.last().unwrap().starts_with("a OK [APPENDUID "),
        "{append:?}"
    );

    assert_eq!(watcher.line().await, "* 1 EXISTS\r\n");
    watcher.send("DONE\r\n").await;
    let done = watcher.until_tagged("i").await;
    assert!(done.last().unwrap().starts_with("i OK"), "{done:?}");

    // A flag change and an expunge reach the idle session too.
    watcher.send("j IDLE\r\n").await;
    assert!(watcher.line().await.starts_with("+ "));
    writer.command("s", "SELECT INBOX").await;
    let stored = writer.command("t", "STORE 1 +FLAGS (\\Deleted)").await;
    assert!(stored.last().unwrap().starts_with("t OK"), "{stored:?}");
    let fetch = watcher.line().await;
    assert!(
        fetch.starts_with("* 1 FETCH (") && fetch.contains("\\Deleted"),
        "{fetch}"
    );
    writer.command("e", "EXPUNGE").await;
    assert_eq!(watcher.line().await, "* 1 EXPUNGE\r\n");
    server.shutdown().await;
}

/// A session in IDLE whose change feed dropped changes (a feed of one batch here, and two
/// batches sent back to back by another session: the APPEND it must hear of, then a change of
/// another mailbox) finds what it missed in the store and tells the client at once, not only
/// after DONE.
#[tokio::test(flavor = "current_thread")]
async fn an_idle_session_hears_of_changes_its_feed_dropped() {
    //= spec/architecture.md#ARCH-8
    //# A server whose internal feed of changes between sessions drops changes MUST treat the
    //# selected mailbox of every session that missed them as changed, read its state again
    //# and send the difference.
    let f = fixture();
    let fred = f.store.user_id("fred").unwrap().unwrap();
    f.store.create_mailbox(fred, "Other").unwrap();
    let settings = Settings {
        change_feed_capacity: 1,
        ..settings()
    };
    let server = server(&f, settings).await;
    let addr = server.imap_addr.unwrap();
    let mut watcher = plain(addr).await;
    watcher.login().await;
    watcher.command("s", "SELECT INBOX").await;
    watcher.send("i IDLE\r\n").await;
    assert!(watcher.line().await.starts_with("+ "));

    let mut writer = plain(addr).await;
    writer.login().await;
    // One write, one read by the server: both commands run before the watcher's task does.
    let m = "Subject: x\r\n\r\ny\r\n";
    let n = m.len();
    writer
        .send(&format!(
            "a APPEND INBOX {{{n}+}}\r\n{m}\r\nb APPEND Other {{{n}+}}\r\n{m}\r\n"
        ))
        .await;
    writer.until_tagged("b").await;
    assert_eq!(watcher.line().await, "* 1 EXISTS\r\n");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_bad_and_the_session_goes_on() {
    let f = fixture();
    let server = server(&f, settings()).await;
    let mut client = plain(server.imap_addr.unwrap()).await;
    let bad = client.command("x1", "FROBNICATE now").await;
    assert_eq!(bad.len(), 1);
    assert!(bad[0].starts_with("x1 BAD "), "{bad:?}");
    client.send("\x00\x01 garbage\r\n").await;
    assert!(client.line().await.starts_with("* BAD "));
    client.login().await;
    let ok = client.command("n", "NOOP").await;
    assert!(ok.last().unwrap().starts_with("n OK"), "{ok:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limits_are_told_why_and_closed() {
    let f = fixture();
    let server = server(
        &f,
        Settings {
            max_connections: 2,
            ..settings()
        },
    )
    .await;
    let addr = server.imap_addr.unwrap();
    let first = plain(addr).await;
    let _second = plain(addr).await;
    let mut third = Client::new(TcpStream::connect(addr).await.unwrap());
    assert_eq!(
        third.line().await,
        "* BYE [UNAVAILABLE] Too many connections\r\n"
    );
    // A closed connection frees its slot.
    drop(first);
    let mut admitted = false;
    for _ in 0..100 {
        let mut next = Client::new(TcpStream::connect(addr).await.unwrap());
        if next.line().await.starts_with("* OK") {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(admitted, "the freed slot was never reused");
    server.shutdown().await;

    let server = start(
        Settings {
            max_connections_per_ip: 1,
            ..settings()
        },
        Arc::clone(&f.store),
    )
    .await
    .unwrap();
    let _only = plain(server.imap_addr.unwrap()).await;
    let mut refused = Client::new(TcpStream::connect(server.imap_addr.unwrap()).await.unwrap());
    assert_eq!(
        refused.line().await,
        "* BYE [UNAVAILABLE] Too many connections from your address\r\n"
    );
    server.shutdown().await;
}

//= spec/architecture.md#ARCH-5
//# A mail server MUST NOT accept
//# credentials over a connection without TLS under any other condition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_login_is_refused_unless_allowed_on_loopback() {
    let f = fixture();
    let server = server(
        &f,
        Settings {
            allow_plaintext_loopback: false,
            ..settings()
        },
    )
    .await;
    let mut client = plain(server.imap_addr.unwrap()).await;
    let refused = client.command("l", "LOGIN fred secret").await;
    assert!(
        refused
            .last()
            .unwrap()
            .starts_with("l NO [PRIVACYREQUIRED]"),
        "{refused:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_over_imaps_and_after_starttls_with_the_generated_certificate() {
    let f = fixture();
    let server = server(
        &f,
        Settings {
            allow_plaintext_loopback: false,
            ..settings()
        },
    )
    .await;
    let connector = server.tls.connector().unwrap();

    let tcp = TcpStream::connect(server.imaps_addr.unwrap())
        .await
        .unwrap();
    let tls = connector.connect(localhost(), tcp).await.unwrap();
    let mut imaps = Client::new(tls);
    let greeting = imaps.line().await;
    assert!(
        greeting.starts_with("* OK") && !greeting.contains("STARTTLS"),
        "{greeting}"
    );
    imaps.login().await;

    let mut client = plain(server.imap_addr.unwrap()).await;
    let started = client.command("s", "STARTTLS").await;
    assert!(started.last().unwrap().starts_with("s OK"), "{started:?}");
    let tcp = client.io.into_inner();
    let tls = connector.connect(localhost(), tcp).await.unwrap();
    let mut client = Client::new(tls);
    let caps = client.command("c", "CAPABILITY").await;
    assert!(
        caps[0].contains("AUTH=PLAIN") && !caps[0].contains("STARTTLS"),
        "{caps:?}"
    );
    client.login().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_says_bye_to_open_sessions() {
    let f = fixture();
    let server = server(&f, settings()).await;
    let mut client = plain(server.imap_addr.unwrap()).await;
    client.login().await;
    let stopping = tokio::spawn(server.shutdown());
    assert_eq!(client.line().await, "* BYE Server shutting down\r\n");
    tokio::time::timeout(WAIT, stopping).await.unwrap().unwrap();
}

const PROVIDER: &str = "provider-secret-token";
const REGISTRATION: &str = "registration-token";

/// The real push server on loopback, plain TCP.
async fn push_server() -> mailpush_push_server::RunningServer {
    mailpush_push_server::start(
        mailpush_push_server::Settings {
            device_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            http_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database: None,
            plain_loopback: true,
            provider_tokens: vec![PROVIDER.into()],
            registration_tokens: vec![REGISTRATION.into()],
            ..mailpush_push_server::Settings::default()
        },
        Arc::new(mailpush_push_server::MemoryStore::new()),
    )
    .await
    .unwrap()
}

fn push_settings(push: &mailpush_push_server::RunningServer) -> Settings {
    Settings {
        push: Some(PushSettings::new(
            &format!("http://{}", push.http_addr),
            Some(PROVIDER.to_owned()),
        )),
        ..settings()
    }
}

//= spec/provider-api.md#PROV-2
//# Every push request and every metrics request MUST carry
//# `Authorization: Bearer <provider-token>`
/// The whole path: XAPPLEPUSHSERVICE on the IMAP session, APPEND, the notifier's provider-API
/// request to the real push server, delivery to a device on its device channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_to_a_registered_mailbox_is_pushed_to_the_device() {
    let push = push_server().await;
    // A device registered through the push server's HTTP API, its session established.
    let (token, secret) = push_common::register(&push).await;
    let mut device = push_common::device(&push, &token, &secret, 0).await;

    let f = fixture();
    f.store
        .create_mailbox(f.store.user_id("fred").unwrap().unwrap(), "Notes")
        .unwrap();
    let server = server(&f, push_settings(&push)).await;
    let mut client = plain(server.imap_addr.unwrap()).await;
    client.login().await;
    let registered = client
        .command(
            "x",
            &format!(
                "XAPPLEPUSHSERVICE aps-version 2 aps-account-id ACCOUNT-1 aps-device-token {token} aps-subtopic com.apple.mobilemail mailboxes (Notes)"
            ),
        )
        .await;
    assert!(
        registered.last().unwrap().starts_with("x OK"),
        "{registered:?}"
    );
    let message = "Subject: note\r\n\r\nbuy milk\r\n";
    let append = client
        .command(
            "a",
            &format!("APPEND Notes {{{}+}}\r\n{message}", message.len()),
        )
        .await;
    assert!(append.last().unwrap().starts_with("a OK"), "{append:?}");

    let retained = push_common::push_for(&mut device, WAIT, "ACCOUNT-1", b"Notes").await;
    assert!(!retained);
    server.shutdown().await;
    push.shutdown().await;
}

/// A device token the push service does not know (404) loses its registrations.
//= spec/provider-api.md#PROV-23
//# On
//# `404` or `410` it MUST delete every registration of that device token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_of_an_unknown_device_are_deleted() {
    // Well formed (64 lowercase hex digits) but never registered with the push server.
    const UNKNOWN_DEVICE: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let push = push_server().await;
    let f = fixture();
    let fred = f.store.user_id("fred").unwrap().unwrap();
    let server = server(&f, push_settings(&push)).await;
    let mut client = plain(server.imap_addr.unwrap()).await;
    client.login().await;
    let registered = client
        .command(
            "x",
            &format!(
                "XAPPLEPUSHSERVICE aps-version 2 aps-account-id A aps-device-token {UNKNOWN_DEVICE} mailboxes (INBOX)"
            ),
        )
        .await;
    assert!(
        registered.last().unwrap().starts_with("x OK"),
        "{registered:?}"
    );
    assert_eq!(
        f.store
            .registrations(fred, std::time::SystemTime::now())
            .unwrap()
            .len(),
        1
    );
    let append = client.command("a", "APPEND INBOX {4+}\r\nhi\r\n").await;
    assert!(append.last().unwrap().starts_with("a OK"), "{append:?}");
    let mut deleted = false;
    for _ in 0..200 {
        if f.store
            .registrations(fred, std::time::SystemTime::now())
            .unwrap()
            .is_empty()
        {
            deleted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(deleted, "the registration of the unknown device was kept");
    server.shutdown().await;
    push.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_is_logged_out_when_its_timer_fires() {
    let f = fixture();
    let mut settings = settings();
    settings.session.login_timeout = Duration::from_millis(200);
    let server = server(&f, settings).await;
    let mut client = plain(server.imap_addr.unwrap()).await;
    let bye = client.line().await;
    assert!(bye.starts_with("* BYE "), "{bye}");
    let mut rest = String::new();
    let n = tokio::time::timeout(WAIT, client.io.read_line(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 0, "the connection stayed open: {rest}");
    server.shutdown().await;
}

/// A provider-API service in the test: answers `503` while `stalled`, then `201` and records
/// each accepted request (path, body); keeps connections alive and counts them.
#[derive(Default)]
struct TestService {
    stalled: std::sync::atomic::AtomicBool,
    connections: std::sync::atomic::AtomicU64,
    accepted: std::sync::Mutex<Vec<(String, serde_json::Value)>>,
}

async fn test_service() -> (SocketAddr, Arc<TestService>) {
    use std::sync::atomic::Ordering;
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = Arc::new(TestService::default());
    let shared = Arc::clone(&state);
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            shared.connections.fetch_add(1, Ordering::SeqCst);
            let state = Arc::clone(&shared);
            tokio::spawn(async move {
                let mut raw = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => raw.extend_from_slice(&buf[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    while raw.len() < end + 4 + length {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => raw.extend_from_slice(&buf[..n]),
                        }
                    }
                    let body: Vec<u8> = raw[end + 4..end + 4 + length].to_vec();
                    raw.drain(..end + 4 + length);
                    let answer: &[u8] = if state.stalled.load(Ordering::SeqCst) {
                        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
                    } else {
                        let path = head.split(' ').nth(1).unwrap().to_owned();
                        state
                            .accepted
                            .lock()
                            .unwrap()
                            .push((path, serde_json::from_slice(&body).unwrap()));
                        b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
                    };
                    if socket.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, state)
}

/// Settings that push to `service` quickly (short debounce and backoff).
fn quick_push_settings(service: SocketAddr, queue_capacity: usize) -> Settings {
    let mut push = PushSettings::new(&format!("http://{service}"), Some(PROVIDER.to_owned()));
    push.notifier.quiet = Duration::from_millis(10);
    push.notifier.max_delay = Duration::from_millis(50);
    push.notifier.backoff_initial = Duration::from_millis(20);
    push.notifier.backoff_max = Duration::from_millis(100);
    push.queue_capacity = queue_capacity;
    Settings {
        push: Some(push),
        ..settings()
    }
}

async fn wait_until(mut done: impl FnMut() -> bool) {
    tokio::time::timeout(WAIT, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("condition not reached in time");
}

/// A logged-in client that registered `device` for `mailboxes` (XAPPLEPUSHSERVICE version 2).
async fn registered_client(
    server: &RunningMailServer,
    device: &str,
    mailboxes: &str,
) -> Client<TcpStream> {
    let mut client = plain(server.imap_addr.unwrap()).await;
    client.login().await;
    let registered = client
        .command(
            "x",
            &format!(
                "XAPPLEPUSHSERVICE aps-version 2 aps-account-id ACC aps-device-token {device} mailboxes ({mailboxes})"
            ),
        )
        .await;
    assert!(
        registered.last().unwrap().starts_with("x OK"),
        "{registered:?}"
    );
    client
}

const DEVICE_A: &str = "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF";
const DEVICE_B: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

/// Pushes one after another reuse the push client's connection (HTTP/1.1 keep-alive), and go
/// to the resource of the lowercased token.
//= spec/provider-api.md#PROV-27
//= type=test
//# The mail server MUST send the pushes of a registration to
//# the push resource that its device token names: the mail server's configured push resource
//# template with `{token}` replaced by the token in lowercase.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_reuse_connections() {
    use std::sync::atomic::Ordering;
    const PUSHES: usize = 6;
    let (addr, service) = test_service().await;
    let f = fixture();
    let server = server(&f, quick_push_settings(addr, 16)).await;
    let client = &mut registered_client(&server, DEVICE_A, "INBOX").await;
    for n in 1..=PUSHES {
        let append = client.command("a", "APPEND INBOX {4+}\r\nhi\r\n").await;
        assert!(append.last().unwrap().starts_with("a OK"), "{append:?}");
        wait_until(|| service.accepted.lock().unwrap().len() >= n).await;
    }
    let accepted = service.accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), PUSHES);
    for (path, _) in &accepted {
        assert_eq!(path, &format!("/v1/push/{}", DEVICE_A.to_ascii_lowercase()));
    }
    let connections = service.connections.load(Ordering::SeqCst);
    assert!(
        (connections as usize) < PUSHES,
        "{PUSHES} pushes over {connections} connections"
    );
    server.shutdown().await;
}

/// With a push service that stalls and a queue of one batch, many changes in several
/// mailboxes for two devices: once the service recovers, every registration gets pushes
/// naming every mailbox that changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_stall_every_registration_gets_every_changed_mailbox() {
    use std::collections::BTreeSet;
    use std::sync::atomic::Ordering;
    let (addr, service) = test_service().await;
    service.stalled.store(true, Ordering::SeqCst);
    let f = fixture();
    let fred = f.store.user_id("fred").unwrap().unwrap();
    let mailboxes = ["A", "B", "C", "D"];
    for name in mailboxes {
        f.store.create_mailbox(fred, name).unwrap();
    }
    let server = server(&f, quick_push_settings(addr, 1)).await;
    let mut clients = Vec::new();
    for device in [DEVICE_A, DEVICE_B] {
        clients.push(registered_client(&server, device, "A B C D").await);
    }
    for round in 0..10 {
        for (i, name) in mailboxes.iter().enumerate() {
            let client = &mut clients[(round + i) % 2];
            let append = client
                .command("a", &format!("APPEND {name} {{4+}}\r\nhi\r\n"))
                .await;
            assert!(append.last().unwrap().starts_with("a OK"), "{append:?}");
        }
    }
    // Nothing was accepted while stalled.
    assert!(service.accepted.lock().unwrap().is_empty());
    service.stalled.store(false, Ordering::SeqCst);
    let expected: BTreeSet<String> = mailboxes
        .iter()
        .map(|m| mailpush_provider_api::MailboxDigest::of(m.as_bytes()).to_string())
        .collect();
    let pushed = |device: &str| pushed_mailboxes(&service, device);
    wait_until(|| pushed(DEVICE_A) == expected && pushed(DEVICE_B) == expected).await;
    server.shutdown().await;
}

/// The mailbox digests of every push the service accepted for `device`.
fn pushed_mailboxes(service: &TestService, device: &str) -> std::collections::BTreeSet<String> {
    let path = format!("/v1/push/{}", device.to_ascii_lowercase());
    service
        .accepted
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| *p == path)
        .flat_map(|(_, body)| {
            body["aps"]["m"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m.as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A change whose push never went (the service refused it until the server stopped) is not
/// lost: the next start pushes every registered mailbox of every registration, and no other.
//= spec/provider-api.md#PROV-36
//= type=test
//# When it starts,
//# the mail server MUST therefore request a push, as for a new message, for every registered mailbox
//# of every live registration
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_pushes_every_registered_mailbox() {
    use std::sync::atomic::Ordering;
    let (addr, service) = test_service().await;
    service.stalled.store(true, Ordering::SeqCst);
    let f = fixture();
    let fred = f.store.user_id("fred").unwrap().unwrap();
    for name in ["A", "B", "C"] {
        f.store.create_mailbox(fred, name).unwrap();
    }
    let server = server(&f, quick_push_settings(addr, 16)).await;
    let client = &mut registered_client(&server, DEVICE_A, "A B").await;
    registered_client(&server, DEVICE_B, "B").await;
    let append = client.command("a", "APPEND A {4+}\r\nhi\r\n").await;
    assert!(append.last().unwrap().starts_with("a OK"), "{append:?}");
    server.shutdown().await;
    assert!(service.accepted.lock().unwrap().is_empty());

    service.stalled.store(false, Ordering::SeqCst);
    let server = start(quick_push_settings(addr, 16), Arc::clone(&f.store))
        .await
        .unwrap();
    let digests = |names: &[&str]| -> std::collections::BTreeSet<String> {
        names
            .iter()
            .map(|m| mailpush_provider_api::MailboxDigest::of(m.as_bytes()).to_string())
            .collect()
    };
    wait_until(|| {
        pushed_mailboxes(&service, DEVICE_A) == digests(&["A", "B"])
            && pushed_mailboxes(&service, DEVICE_B) == digests(&["B"])
    })
    .await;
    server.shutdown().await;
}

/// A registered mailbox that is deleted, renamed away or created again under its name is pushed
/// under the name the registration holds, each time; a mailbox the registration does not hold
/// is not.
//= spec/provider-api.md#PROV-18
//= type=test
//# It MUST also request a
//# push, naming the mailbox under the name the registration holds, when a registered mailbox is deleted,
//# renamed (the push names its old name) or created again under that name
//= spec/imap-push.md#XAPS-18
//= type=test
//# When an acknowledged mailbox is deleted or renamed, the server MUST
//# request a push naming it under the name the registration holds
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_renamed_and_recreated_mailboxes_are_pushed_under_the_registered_name() {
    let (addr, service) = test_service().await;
    let f = fixture();
    let fred = f.store.user_id("fred").unwrap().unwrap();
    for name in ["A", "B", "Other"] {
        f.store.create_mailbox(fred, name).unwrap();
    }
    let server = server(&f, quick_push_settings(addr, 16)).await;
    let client = &mut registered_client(&server, DEVICE_A, "A B").await;
    let digest = |m: &str| mailpush_provider_api::MailboxDigest::of(m.as_bytes()).to_string();
    // The pushes for DEVICE_A, each as its list of digests, in the order the service took them.
    let pushes = || -> Vec<Vec<String>> {
        service
            .accepted
            .lock()
            .unwrap()
            .iter()
            .map(|(_, body)| {
                body["aps"]["m"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m.as_str().unwrap().to_owned())
                    .collect()
            })
            .collect()
    };
    for (command, name) in [
        ("DELETE A", "A"),
        ("RENAME B Renamed", "B"),
        ("CREATE A", "A"),
        ("RENAME Other B", "B"),
    ] {
        let before = pushes().len();
        let reply = client.command("c", command).await;
        assert!(reply.last().unwrap().starts_with("c OK"), "{reply:?}");
        wait_until(|| pushes().len() > before).await;
        let after = pushes();
        assert!(
            after[before..].iter().all(|m| m == &[digest(name)]),
            "{command}: {after:?}"
        );
    }
    // Nothing pushes for names the registration does not hold.
    let before = pushes().len();
    let reply = client.command("c", "CREATE Unregistered").await;
    assert!(reply.last().unwrap().starts_with("c OK"), "{reply:?}");
    let append = client.command("a", "APPEND A {4+}\r\nhi\r\n").await;
    assert!(append.last().unwrap().starts_with("a OK"), "{append:?}");
    wait_until(|| pushes().len() > before).await;
    assert_eq!(pushes()[before..], [vec![digest("A")]]);
    server.shutdown().await;
}
