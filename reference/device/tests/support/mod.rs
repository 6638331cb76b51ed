//! The real servers of this project on loopback, a device configuration naming them, an IMAP
//! client standing for another device, and a client of the daemon's local API.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use mailpush_mail_server::driver::{PushSettings, RunningMailServer, Settings};
use mailpush_mail_store::{Config as StoreConfig, Store};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UnixStream};

pub const PROVIDER: &str = "provider-secret-token";
pub const REGISTRATION: &str = "registration-token";
pub const USER: &str = "fred";
pub const PASSWORD: &str = "secret";
/// Longest wait for anything in these tests (nothing waits for a poll: the poll interval is
/// the default 900 s).
pub const WAIT: Duration = Duration::from_secs(30);

fn pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// The push server (TLS, self-signed) and the mail server (STARTTLS, pushing to it).
pub struct Servers {
    pub push: mailpush_push_server::RunningServer,
    pub mail: RunningMailServer,
    pub store: Arc<Store>,
    pub dir: PathBuf,
}

/// The push server on loopback (TLS, self-signed); its certificate is written to
/// `dir/push.pem`.
pub async fn start_push(dir: &Path) -> mailpush_push_server::RunningServer {
    start_push_with(dir, mailpush_push_server::Settings::default()).await
}

/// As [`start_push`], with `base` for what these tests do not fix (listeners and tokens).
pub async fn start_push_with(
    dir: &Path,
    base: mailpush_push_server::Settings,
) -> mailpush_push_server::RunningServer {
    let push = mailpush_push_server::start(
        mailpush_push_server::Settings {
            device_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            http_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database: None,
            plain_loopback: false,
            provider_tokens: vec![PROVIDER.into()],
            registration_tokens: vec![REGISTRATION.into()],
            ..base
        },
        Arc::new(mailpush_push_server::MemoryStore::new()),
    )
    .await
    .unwrap();
    std::fs::write(
        dir.join("push.pem"),
        pem(push.tls.as_ref().unwrap().certificate.as_ref()),
    )
    .unwrap();
    push
}

/// What [`Servers::start_with`] changes from the defaults.
#[derive(Default)]
pub struct ServerOptions {
    pub push: mailpush_push_server::Settings,
    pub mail: Settings,
    /// Changes to the mail server's push settings (the notifier's policy, say).
    pub push_settings: Option<fn(&mut PushSettings)>,
}

impl Servers {
    pub async fn start(dir: &Path) -> Servers {
        Self::start_with(dir, ServerOptions::default()).await
    }

    /// The servers with `options` (listeners, tokens and push URL are always these tests').
    pub async fn start_with(dir: &Path, options: ServerOptions) -> Servers {
        let push = start_push_with(dir, options.push).await;
        let push_pem = dir.join("push.pem");
        let store = Store::open(dir.join("mail.db"), StoreConfig::for_tests()).unwrap();
        let fred = store.add_user(USER, PASSWORD.as_bytes()).unwrap();
        store.create_mailbox(fred, "Notes").unwrap();
        let store = Arc::new(store);
        let mut push_settings = PushSettings::new(
            &format!("https://{}", push.http_addr),
            Some(PROVIDER.into()),
        );
        push_settings.trust = Some(push_pem);
        if let Some(adjust) = options.push_settings {
            adjust(&mut push_settings);
        }
        let mail = mailpush_mail_server::driver::start(
            Settings {
                imap_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
                imaps_listen: None,
                allow_plaintext_loopback: true,
                push: Some(push_settings),
                ..options.mail
            },
            Arc::clone(&store),
        )
        .await
        .unwrap();
        std::fs::write(dir.join("mail.pem"), pem(mail.tls.certificate.as_ref())).unwrap();
        Servers {
            push,
            mail,
            store,
            dir: dir.to_path_buf(),
        }
    }

    pub fn imap_addr(&self) -> SocketAddr {
        self.mail.imap_addr.unwrap()
    }

    /// A device.toml naming these servers, its data in `data`.
    pub fn device_config(&self, data: &Path) -> PathBuf {
        let path = data.with_extension("toml");
        let text = format!(
            r#"
data_dir = "{data}"

[[accounts]]
name = "A1"
address = "{imap}"
security = "starttls"
user = "{USER}"
password = "{PASSWORD}"
trust_cert = "{mail_pem}"
mailboxes = ["Notes"]
{push}"#,
            data = data.display(),
            imap = self.imap_addr(),
            mail_pem = self.dir.join("mail.pem").display(),
            push = push_section(&self.push, &self.dir),
        );
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// The `[push]` section of a device.toml naming `push`, whose certificate [`start_push`] wrote
/// into `dir`.
pub fn push_section(push: &mailpush_push_server::RunningServer, dir: &Path) -> String {
    format!(
        r#"
[push]
channel = "{channel}"
api = "https://{api}"
registration_token = "{REGISTRATION}"
trust_cert = "{push_pem}"
"#,
        channel = push.device_addr,
        api = push.http_addr,
        push_pem = dir.join("push.pem").display(),
    )
}

/// Another IMAP client of the same account (plain on loopback).
pub struct Imap {
    io: BufReader<TcpStream>,
    tag: u32,
}

impl Imap {
    pub async fn connect(addr: SocketAddr) -> Imap {
        Self::connect_as(addr, USER, PASSWORD).await
    }

    /// A client of another user of the server.
    pub async fn connect_as(addr: SocketAddr, user: &str, password: &str) -> Imap {
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut imap = Imap {
            io: BufReader::new(stream),
            tag: 0,
        };
        let mut greeting = String::new();
        imap.io.read_line(&mut greeting).await.unwrap();
        imap.command(&format!("LOGIN {user} {password}")).await;
        imap
    }

    /// Sends a command (with a literal given as `{n+}` inline) and returns every line of the
    /// answer; panics unless it completes `OK`.
    pub async fn command(&mut self, command: &str) -> Vec<String> {
        self.tag += 1;
        let tag = format!("t{}", self.tag);
        self.io
            .get_mut()
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .await
            .unwrap();
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(WAIT, self.io.read_line(&mut line))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "server closed during {command}");
            if line.starts_with(&format!("{tag} ")) {
                assert!(line.starts_with(&format!("{tag} OK")), "{command}: {line}");
                return lines;
            }
            lines.push(line);
        }
    }

    pub async fn append(&mut self, mailbox: &str, message: &str) {
        self.command(&format!(
            "APPEND {mailbox} {{{}+}}\r\n{message}",
            message.len()
        ))
        .await;
    }

    /// UID and flags of every message of the mailbox, as the server has them (without
    /// `\Recent`).
    pub async fn listing(&mut self, mailbox: &str) -> Vec<(u32, Vec<String>)> {
        self.command(&format!("EXAMINE {mailbox}")).await;
        listing(&self.command("UID FETCH 1:* (UID FLAGS)").await)
    }
}

/// UID and flags (without `\Recent`, sorted) of every `* n FETCH (UID u FLAGS (...))` line of
/// `lines`, by UID.
pub fn listing<S: AsRef<str>>(lines: &[S]) -> Vec<(u32, Vec<String>)> {
    let mut out: Vec<(u32, Vec<String>)> = lines
        .iter()
        .map(AsRef::as_ref)
        .filter(|l| l.contains(" FETCH ("))
        .map(|l| {
            let uid = l.split("UID ").nth(1).unwrap();
            let uid: u32 = uid
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let flags = l.split("FLAGS (").nth(1).unwrap();
            let flags = flags.split(')').next().unwrap();
            let mut flags: Vec<String> = flags
                .split(' ')
                .filter(|f| !f.is_empty() && *f != "\\Recent")
                .map(str::to_owned)
                .collect();
            flags.sort();
            (uid, flags)
        })
        .collect();
    out.sort();
    out
}

/// A client of the daemon's local API.
pub struct Api {
    io: BufReader<UnixStream>,
    id: u64,
    /// Events that arrived while waiting for an answer.
    pub events: Vec<Value>,
}

impl Api {
    /// Connects once the daemon's socket accepts.
    pub async fn connect(socket: &Path) -> Api {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Ok(stream) = UnixStream::connect(socket).await {
                return Api {
                    io: BufReader::new(stream),
                    id: 0,
                    events: Vec::new(),
                };
            }
            assert!(tokio::time::Instant::now() < deadline, "no daemon socket");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn send_line(&mut self, line: &str) {
        self.io
            .get_mut()
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
    }

    /// Writes a line; a daemon that closes meanwhile is not an error here.
    pub async fn send_line_lossy(&mut self, line: &str) {
        let _ = self
            .io
            .get_mut()
            .write_all(format!("{line}\n").as_bytes())
            .await;
    }

    pub async fn line(&mut self) -> Value {
        let mut line = String::new();
        let n = tokio::time::timeout(WAIT, self.io.read_line(&mut line))
            .await
            .expect("no line from the daemon")
            .unwrap();
        assert!(n > 0, "the daemon closed the API connection");
        serde_json::from_str(&line).unwrap()
    }

    /// Sends `op` with `args`, returns the whole answer.
    pub async fn call(&mut self, op: &str, args: Value) -> Value {
        self.id += 1;
        let mut request = json!({"v": 1, "id": self.id, "op": op});
        if let Value::Object(args) = args {
            request.as_object_mut().unwrap().extend(args);
        }
        self.send_line(&request.to_string()).await;
        loop {
            let line = self.line().await;
            if line.get("event").is_some() {
                self.events.push(line);
                continue;
            }
            assert_eq!(line["id"], json!(self.id), "{line}");
            return line;
        }
    }

    pub async fn result(&mut self, op: &str, args: Value) -> Value {
        let answer = self.call(op, args).await;
        assert!(answer.get("error").is_none(), "{op}: {answer}");
        answer["result"].clone()
    }

    /// The next event (buffered ones first).
    pub async fn event(&mut self) -> Value {
        if !self.events.is_empty() {
            return self.events.remove(0);
        }
        self.line().await
    }

    /// Polls `status` until `ready` holds for it.
    pub async fn wait_status(&mut self, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let status = self.result("status", json!({})).await;
            if ready(&status) {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never {what}: {status:#}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// UID and flags of every message of the view of account A1.
    pub async fn view(&mut self, mailbox: &str) -> Vec<(u32, Vec<String>)> {
        self.view_of("A1", mailbox).await
    }

    /// UID and flags of every message of the view of `account`.
    pub async fn view_of(&mut self, account: &str, mailbox: &str) -> Vec<(u32, Vec<String>)> {
        let result = self
            .result("messages", json!({"account": account, "mailbox": mailbox}))
            .await;
        let mut out: Vec<(u32, Vec<String>)> = result["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let mut flags: Vec<String> = m["flags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f.as_str().unwrap().to_owned())
                    .collect();
                flags.sort();
                (u32::try_from(m["uid"].as_u64().unwrap()).unwrap(), flags)
            })
            .collect();
        out.sort();
        out
    }
}

/// Push is up for Notes: registered with the mail server, acknowledged, channel established.
pub fn push_ready(status: &Value) -> bool {
    let account = &status["accounts"][0];
    account["registration"]["state"] == "registered"
        && account["with_push"] == json!(["Notes"])
        && status["channel"]["state"] == "established"
        && account["mailboxes"][0]["last_sync"].is_object()
}

/// Runs a daemon of `config` in this runtime: its stop switch, its task and its socket.
pub fn start_daemon(
    config: &Path,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
    PathBuf,
) {
    start_traced_daemon(config, mailpush_trace::Tracer::off())
}

/// [`start_daemon`], writing the device's protocol trace with `trace`.
pub fn start_traced_daemon(
    config: &Path,
    trace: mailpush_trace::Tracer,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
    PathBuf,
) {
    let mut config = mailpush_device::DeviceConfig::load(config).unwrap();
    config.trace = trace;
    let socket = config.socket_path();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        mailpush_device::run(config, async move {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (stop, task, socket)
}
