//! The system under measurement, started in this process on loopback: the push server (TLS,
//! memory store), the mail server (SQLite in a temporary directory, STARTTLS, pushing to the
//! push server, through a relay with `--relays`), device B (a device daemon, its channel
//! through a relay with `--relays`) and K - 1 idle device-channel connections.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use mailpush_mail_server::driver::{PushSettings, RunningMailServer, Settings as MailSettings};
use mailpush_mail_store::{Config as StoreConfig, Store};
use mailpush_push_proto::Credential;
use mailpush_push_proto::client::{ClientConnection, ClientEvent};
use mailpush_push_server::{Clock, RunningServer, Settings, open_store, start};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

use super::relay::Relay;
use crate::BenchError;

pub(super) const USER: &str = "bench";
pub(super) const PASSWORD: &str = "bench-password";
const PROVIDER: &str = "bench-provider-token";
const REGISTRATION: &str = "bench-registration-token";

fn failed(what: &str) -> impl FnOnce(String) -> BenchError + '_ {
    move |e| BenchError::Push(format!("{what}: {e}"))
}

/// The protocol trace of every component of the system (spec/trace.md), in memory: the push
/// server's, the mail server's and device B's lines, each written whole under one lock.
#[derive(Clone, Default)]
pub(super) struct TraceLog(Arc<std::sync::Mutex<Vec<u8>>>);

impl TraceLog {
    fn tracer(&self, component: mailpush_trace::Component) -> mailpush_trace::Tracer {
        mailpush_trace::Tracer::new(
            component,
            None,
            Box::new(self.clone()),
            mailpush_trace::system_clock,
        )
    }

    /// Takes the lines written so far and reads them back as events.
    pub(super) fn take(&self) -> Result<Vec<mailpush_trace::Event>, BenchError> {
        let bytes = std::mem::take(
            &mut *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        mailpush_trace::read_all(&bytes[..], mailpush_trace::Limits::default())
            .map_err(|e| BenchError::Push(format!("the system's trace: {e}")))
    }
}

impl std::io::Write for TraceLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The relays on the path, when the wire view is asked for.
pub(super) struct Relays {
    /// Between the mail server and the provider API.
    pub(super) provider: Relay,
    /// Between device B and the device channel.
    pub(super) channel: Relay,
}

pub(super) struct System {
    push: RunningServer,
    mail: RunningMailServer,
    /// Between the mail server and the provider API, and between device B and the device
    /// channel (`--relays`); without them the links are direct.
    pub(super) relays: Option<Relays>,
    /// Device B's view changes: UIDs added, and when the event arrived.
    pub(super) events: mpsc::UnboundedReceiver<(Vec<u32>, Instant)>,
    /// Every component's protocol trace.
    pub(super) trace: TraceLog,
    daemon: (oneshot::Sender<()>, JoinHandle<()>),
    load: Vec<JoinHandle<()>>,
}

fn pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

impl System {
    pub(super) async fn start(
        dir: &Path,
        devices: usize,
        push_burst: u32,
        with_relays: bool,
    ) -> Result<System, BenchError> {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let trace = TraceLog::default();
        let settings = Settings {
            database: None,
            registration_tokens: vec![REGISTRATION.into()],
            trace: trace.tracer(mailpush_trace::Component::PushServer),
            ..crate::push::unlimited_loopback(vec![PROVIDER.into()])
        };
        let push_store = open_store(&settings)?;
        let push = start(settings, Arc::clone(&push_store)).await?;
        let tls = push
            .tls
            .as_ref()
            .ok_or_else(|| BenchError::Push("the push server has no TLS".into()))?;
        let connector = tls.connector().map_err(|e| failed("TLS")(e.to_string()))?;
        let push_pem = dir.join("push.pem");
        std::fs::write(&push_pem, pem(tls.certificate.as_ref()))?;
        let relays = if with_relays {
            Some(Relays {
                provider: Relay::start(push.http_addr).await?,
                channel: Relay::start(push.device_addr).await?,
            })
        } else {
            None
        };
        let (provider_addr, channel_addr) = match &relays {
            Some(relays) => (relays.provider.addr, relays.channel.addr),
            None => (push.http_addr, push.device_addr),
        };

        let store = Store::open(dir.join("mail.db"), StoreConfig::default())
            .map_err(|e| failed("mail store")(e.to_string()))?;
        let user = store
            .add_user(USER, PASSWORD.as_bytes())
            .map_err(|e| failed("mail store")(e.to_string()))?;
        store
            .create_mailbox(user, "Notes")
            .map_err(|e| failed("mail store")(e.to_string()))?;
        let mut push_settings =
            PushSettings::new(&format!("https://{provider_addr}"), Some(PROVIDER.into()));
        push_settings.trust = Some(push_pem.clone());
        push_settings.notifier.burst = push_burst;
        let mail = mailpush_mail_server::driver::start(
            MailSettings {
                imap_listen: Some(loopback),
                imaps_listen: None,
                allow_plaintext_loopback: true,
                push: Some(push_settings),
                trace: trace.tracer(mailpush_trace::Component::MailServer),
                ..MailSettings::default()
            },
            Arc::new(store),
        )
        .await
        .map_err(|e| failed("mail server")(e.to_string()))?;
        let mail_pem = dir.join("mail.pem");
        std::fs::write(&mail_pem, pem(mail.tls.certificate.as_ref()))?;
        let imap = mail
            .imap_addr
            .ok_or_else(|| BenchError::Push("the mail server has no IMAP listener".into()))?;

        // The idle connections first, so that device B's figures are taken with K open.
        let load = connect_load(&push_store, &connector, push.device_addr, devices - 1).await?;

        let data = dir.join("device-b");
        let config_path = dir.join("device-b.toml");
        std::fs::write(
            &config_path,
            format!(
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

[push]
channel = "{channel}"
api = "https://{api}"
registration_token = "{REGISTRATION}"
trust_cert = "{push_pem}"
"#,
                data = data.display(),
                mail_pem = mail_pem.display(),
                channel = channel_addr,
                api = push.http_addr,
                push_pem = push_pem.display(),
            ),
        )?;
        let mut config = mailpush_device::DeviceConfig::load(&config_path)
            .map_err(|e| failed("device B")(e.to_string()))?;
        config.trace = trace.tracer(mailpush_trace::Component::MailClient);
        let socket = config.socket_path();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let stopped = async move {
                let _ = stopped.await;
            };
            if let Err(error) = mailpush_device::run(config, stopped).await {
                eprintln!("device B stopped: {error}");
            }
        });
        wait_push_ready(&socket).await?;
        let events = subscribe(&socket).await?;
        Ok(System {
            push,
            mail,
            relays,
            events,
            trace,
            daemon: (stop, task),
            load,
        })
    }

    pub(super) fn imap_addr(&self) -> SocketAddr {
        // `start` refused a mail server without an IMAP listener.
        self.mail
            .imap_addr
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub(super) async fn stop(self) {
        let (stop, task) = self.daemon;
        let _ = stop.send(());
        let _ = task.await;
        for task in self.load {
            task.abort();
        }
        self.mail.shutdown().await;
        self.push.shutdown().await;
    }
}

async fn api_connect(socket: &Path) -> Result<BufReader<UnixStream>, BenchError> {
    let deadline = Instant::now() + super::client::WAIT;
    loop {
        if let Ok(stream) = UnixStream::connect(socket).await {
            return Ok(BufReader::new(stream));
        }
        if Instant::now() > deadline {
            return Err(BenchError::Push(
                "device B's local API never came up".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn api_line(io: &mut BufReader<UnixStream>) -> Result<Value, BenchError> {
    let mut line = String::new();
    if io.read_line(&mut line).await? == 0 {
        return Err(BenchError::Push("device B closed its local API".into()));
    }
    serde_json::from_str(&line).map_err(|e| failed("device B's API")(e.to_string()))
}

/// Polls device B's status until push is up for Notes and its first sync is done.
async fn wait_push_ready(socket: &Path) -> Result<(), BenchError> {
    let mut io = api_connect(socket).await?;
    let deadline = Instant::now() + super::client::WAIT;
    for id in 1u64.. {
        let request = json!({"v": 1, "id": id, "op": "status"}).to_string();
        io.get_mut()
            .write_all(format!("{request}\n").as_bytes())
            .await?;
        let status = api_line(&mut io).await?["result"].clone();
        let account = &status["accounts"][0];
        if account["registration"]["state"] == "registered"
            && account["with_push"] == json!(["Notes"])
            && status["channel"]["state"] == "established"
            && account["mailboxes"][0]["last_sync"].is_object()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(BenchError::Push(format!(
                "device B never ready for push: {status}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Subscribes to device B's view changes; a task timestamps each as it arrives.
async fn subscribe(
    socket: &Path,
) -> Result<mpsc::UnboundedReceiver<(Vec<u32>, Instant)>, BenchError> {
    let mut io = api_connect(socket).await?;
    let request = json!({"v": 1, "id": 1, "op": "subscribe"}).to_string();
    io.get_mut()
        .write_all(format!("{request}\n").as_bytes())
        .await?;
    let answer = api_line(&mut io).await?;
    if answer.get("error").is_some() {
        return Err(BenchError::Push(format!(
            "device B refused subscribe: {answer}"
        )));
    }
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(event) = api_line(&mut io).await {
            let at = Instant::now();
            if event["event"] != "view-changed" {
                continue;
            }
            let added = event["added"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|u| u32::try_from(u.as_u64()?).ok())
                        .collect()
                })
                .unwrap_or_default();
            if tx.send((added, at)).is_err() {
                return;
            }
        }
    });
    Ok(rx)
}

/// Registers `count` devices in the push server's store and opens a TLS device channel for
/// each; returns once every one is established.
async fn connect_load(
    store: &Arc<dyn mailpush_push_server::store::Store>,
    connector: &TlsConnector,
    addr: SocketAddr,
    count: usize,
) -> Result<Vec<JoinHandle<()>>, BenchError> {
    let established = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let token = format!("{:064x}", 0xb0_0000 + i);
        let secret = format!("load-secret-{i}");
        crate::push::create_device(store, &token, &secret).await?;
        let stream = TcpStream::connect(addr).await?;
        let tls = connector.connect(mailpush_tls::localhost(), stream).await?;
        let established = Arc::clone(&established);
        tasks.push(tokio::spawn(idle_device(tls, token, secret, established)));
    }
    let deadline = Instant::now() + super::client::WAIT;
    while established.load(Ordering::Relaxed) < count {
        if Instant::now() > deadline {
            return Err(BenchError::Push(format!(
                "only {} of {count} device connections established",
                established.load(Ordering::Relaxed)
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(tasks)
}

/// One idle device: hello, then answers whatever its client state machine wants to send
/// (pongs, acks) until the server closes.
async fn idle_device(
    mut stream: tokio_rustls::client::TlsStream<TcpStream>,
    token: String,
    secret: String,
    established: Arc<AtomicUsize>,
) {
    let (Ok(token), Ok(secret)) = (Credential::new(token), Credential::new(secret)) else {
        return;
    };
    let clock = Clock::new();
    let mut client = ClientConnection::new(token, secret, 0, clock.now());
    let mut buffer = [0u8; 1024];
    loop {
        while let Some(out) = client.poll_transmit() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
        }
        let read = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buffer)).await;
        let now = clock.now();
        match read {
            Err(_) => client.handle_timeout(now),
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(n)) => client.handle_input(&buffer[..n], now),
        }
        while let Some(event) = client.poll_event() {
            match event {
                ClientEvent::Established { .. } => {
                    established.fetch_add(1, Ordering::Relaxed);
                }
                ClientEvent::Closed { .. } => return,
                _ => {}
            }
        }
    }
}

/// Open file descriptors of this process.
pub(super) fn open_files() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// The CPU model and the number of CPUs this process may use.
pub(super) fn machine() -> String {
    format!("{}, {} CPUs available", crate::cpu_model(), crate::cpus())
}
