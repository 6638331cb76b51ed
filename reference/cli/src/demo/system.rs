//! The whole system on loopback: the push server, the mail server with push, a second mail
//! server without the push extension, and the device daemons, every one on a port the OS
//! chose, over TLS with generated certificates, with their state in one temporary directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use base64::Engine as _;
use mailpush_device::DeviceConfig;
use mailpush_mail_server::driver::{PushSettings, RunningMailServer, Settings};
use mailpush_mail_store::{Config as StoreConfig, Store, UserId};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::DemoError;
use super::recording::{Outputs, Recorder};
use mailpush_trace::Component;

/// The user of both mail servers.
pub const USER: &str = "demo";
/// The account with push (the notes).
pub const MAIL_ACCOUNT: &str = "mail";
/// The account on the server without push.
pub const JOURNAL_ACCOUNT: &str = "journal";
/// The notes mailbox.
pub const NOTES: &str = "Notes";
/// The mailbox without push.
pub const JOURNAL: &str = "Journal";
/// The mail server's database, in the demo's directory.
pub const MAIL_DATABASE: &str = "mail.sqlite3";

/// How the system is started.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Device daemons, at least two.
    pub devices: usize,
    /// The push server's ring capacity N.
    pub ring: usize,
    /// The mail server sends a `Topic` per account (PROV-21), so the push server keeps only
    /// the latest notification of an offline device (RING-4).
    pub topic_coalescing: bool,
    /// The scheduled poll of mailboxes without push, milliseconds (LOCAL-19's testing
    /// override: below the conforming minimum of 60 s).
    pub poll_interval_ms: u64,
    /// Where the merged protocol trace and its chart go; nothing is traced when neither is set.
    pub outputs: Outputs,
}

/// A running daemon's stop switch and task.
type Running = (oneshot::Sender<()>, JoinHandle<Result<(), String>>);

/// A running device daemon.
pub struct Device {
    /// Its letter: A, B, C…
    pub name: String,
    /// Its configuration file (what `mailpush notes --config` takes).
    pub config_path: PathBuf,
    /// Its local API socket.
    pub socket: PathBuf,
    /// Its trace file, kept across restarts, when tracing.
    pub recorder: Option<Recorder>,
    running: Option<Running>,
}

impl Device {
    /// Starts the daemon (again) from its configuration file.
    pub fn start(&mut self) -> Result<(), DemoError> {
        let mut config = DeviceConfig::load(&self.config_path)
            .map_err(|e| DemoError::Start(format!("device {}: {e}", self.name)))?;
        if let Some(recorder) = &self.recorder {
            // No label of its own: the device writes under the label the servers give it, which
            // is how its events are found in theirs when the traces are merged (TRACE-12).
            config.trace = recorder.tracer();
        }
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            mailpush_device::run(config, async move {
                let _ = stopped.await;
            })
            .await
            .map_err(|e| e.to_string())
        });
        self.running = Some((stop, task));
        Ok(())
    }

    /// Stops the daemon gracefully and waits for it.
    pub async fn stop(&mut self) -> Result<(), DemoError> {
        if let Some((stop, task)) = self.running.take() {
            let _ = stop.send(());
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(DemoError::Device(self.name.clone(), e)),
                Err(e) => return Err(DemoError::Device(self.name.clone(), e.to_string())),
            }
        }
        Ok(())
    }
}

/// Everything the demo started.
pub struct System {
    /// The push notification server.
    pub push: Option<mailpush_push_server::RunningServer>,
    /// The mail server with push.
    pub mail: Option<RunningMailServer>,
    /// The mail server without the push extension.
    pub journal: Option<RunningMailServer>,
    /// The mail server's store (the server's truth).
    pub store: Arc<Store>,
    /// The user in it.
    pub user: UserId,
    /// The second server's store.
    pub journal_store: Arc<Store>,
    /// The second server's user.
    pub journal_user: UserId,
    /// The devices.
    pub devices: Vec<Device>,
    /// Where everything lives.
    pub dir: PathBuf,
    /// The servers' trace files (push, mail, mail without push), when tracing.
    pub recorders: Option<[Recorder; 3]>,
}

fn pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn write(path: &Path, text: &str) -> Result<(), DemoError> {
    std::fs::write(path, text).map_err(|e| DemoError::Start(format!("{}: {e}", path.display())))
}

fn store_error(e: impl std::fmt::Display) -> DemoError {
    DemoError::Start(format!("mail store: {e}"))
}

/// A mail store in `dir` with the user and one mailbox.
fn mail_store(
    path: &Path,
    password: &str,
    mailbox: &str,
) -> Result<(Arc<Store>, UserId), DemoError> {
    let store = Store::open(path, StoreConfig::default()).map_err(store_error)?;
    let user = store
        .add_user(USER, password.as_bytes())
        .map_err(store_error)?;
    store.create_mailbox(user, mailbox).map_err(store_error)?;
    Ok((Arc::new(store), user))
}

impl System {
    /// Starts the servers and writes the devices' configurations (the devices start with
    /// [`Device::start`]).
    pub async fn start(dir: &Path, plan: &Plan) -> Result<System, DemoError> {
        let secret = |n: usize| {
            let bytes: Vec<u8> = (0..n).map(|_| rand::random::<u8>()).collect();
            hex(&bytes)
        };
        let (password, provider, registration) = (secret(12), secret(16), secret(16));
        let recorders = if plan.outputs.wanted() {
            Some([
                Recorder::open(dir, "push-server", Component::PushServer)?,
                Recorder::open(dir, "mail-server", Component::MailServer)?,
                Recorder::open(dir, "journal-server", Component::MailServer)?,
            ])
        } else {
            None
        };
        let tracer = |i: usize| {
            recorders
                .as_ref()
                .and_then(|r| r.get(i))
                .map_or_else(mailpush_trace::Tracer::off, Recorder::tracer)
        };
        let push_settings = mailpush_push_server::Settings {
            device_listen: loopback(),
            http_listen: loopback(),
            database: Some(dir.join("push.sqlite3")),
            ring_capacity: plan.ring,
            plain_loopback: false,
            provider_tokens: vec![provider.clone()],
            registration_tokens: vec![registration.clone()],
            trace: tracer(0),
            ..mailpush_push_server::Settings::default()
        };
        let push_failed = |e: mailpush_push_server::PushServerError| {
            DemoError::Start(format!("push server: {e}"))
        };
        let push_store = mailpush_push_server::open_store(&push_settings).map_err(push_failed)?;
        let push = mailpush_push_server::start(push_settings, push_store)
            .await
            .map_err(push_failed)?;
        let push_pem = dir.join("push-server.pem");
        let push_cert = push
            .tls
            .as_ref()
            .map(|t| pem(t.certificate.as_ref()))
            .ok_or_else(|| DemoError::Start("the push server has no TLS".into()))?;
        write(&push_pem, &push_cert)?;

        let (store, user) = mail_store(&dir.join(MAIL_DATABASE), &password, NOTES)?;
        let mut push_settings =
            PushSettings::new(&format!("https://{}", push.http_addr), Some(provider));
        push_settings.trust = Some(push_pem.clone());
        push_settings.notifier.topic_per_account = plan.topic_coalescing;
        let mail = mailpush_mail_server::driver::start(
            Settings {
                imap_listen: Some(loopback()),
                imaps_listen: Some(loopback()),
                push: Some(push_settings),
                trace: tracer(1),
                ..Settings::default()
            },
            Arc::clone(&store),
        )
        .await
        .map_err(|e| DemoError::Start(format!("mail server: {e}")))?;
        let mail_pem = dir.join("mail-server.pem");
        write(&mail_pem, &pem(mail.tls.certificate.as_ref()))?;

        let (journal_store, journal_user) =
            mail_store(&dir.join("journal.sqlite3"), &password, JOURNAL)?;
        let mut settings = Settings {
            imap_listen: Some(loopback()),
            imaps_listen: None,
            trace: tracer(2),
            ..Settings::default()
        };
        settings.session.xaps = false;
        let journal = mailpush_mail_server::driver::start(settings, Arc::clone(&journal_store))
            .await
            .map_err(|e| DemoError::Start(format!("mail server without push: {e}")))?;
        let journal_pem = dir.join("journal-server.pem");
        write(&journal_pem, &pem(journal.tls.certificate.as_ref()))?;

        let missing = || DemoError::Start("a mail server has no listener".into());
        let (imap, imaps) = (
            mail.imap_addr.ok_or_else(missing)?,
            mail.imaps_addr.ok_or_else(missing)?,
        );
        let journal_imap = journal.imap_addr.ok_or_else(missing)?;
        let mut devices = Vec::new();
        for i in 0..plan.devices {
            let name = device_name(i);
            let data = dir.join(format!("device-{}", name.to_lowercase()));
            // Devices alternate between IMAPS and STARTTLS, so both are shown.
            let (address, security) = if i % 2 == 0 {
                (imaps, "imaps")
            } else {
                (imap, "starttls")
            };
            let config_path = dir.join(format!("device-{}.toml", name.to_lowercase()));
            let text = format!(
                r#"# Device {name} of the mailpush demo.
data_dir = "{data}"

[[accounts]]
name = "{MAIL_ACCOUNT}"
address = "{address}"
security = "{security}"
user = "{USER}"
password = "{password}"
trust_cert = "{mail_pem}"
mailboxes = ["{NOTES}"]

[[accounts]]
name = "{JOURNAL_ACCOUNT}"
address = "{journal_imap}"
security = "starttls"
user = "{USER}"
password = "{password}"
trust_cert = "{journal_pem}"
mailboxes = ["{JOURNAL}"]
testing_override_poll_interval_ms = {poll}

[push]
channel = "{channel}"
api = "https://{api}"
registration_token = "{registration}"
trust_cert = "{push_pem}"
"#,
                data = data.display(),
                mail_pem = mail_pem.display(),
                journal_pem = journal_pem.display(),
                poll = plan.poll_interval_ms,
                channel = push.device_addr,
                api = push.http_addr,
                push_pem = push_pem.display(),
            );
            write(&config_path, &text)?;
            let recorder = if plan.outputs.wanted() {
                Some(Recorder::open(
                    dir,
                    &format!("device-{}", name.to_lowercase()),
                    Component::Da,
                )?)
            } else {
                None
            };
            devices.push(Device {
                recorder,
                name,
                socket: data.join(mailpush_device::config::SOCKET_NAME),
                config_path,
                running: None,
            });
        }
        Ok(System {
            push: Some(push),
            mail: Some(mail),
            journal: Some(journal),
            store,
            user,
            journal_store,
            journal_user,
            devices,
            dir: dir.to_path_buf(),
            recorders,
        })
    }

    /// Push server counters: accepted, dropped, replaced by topic.
    pub fn push_counters(&self) -> (u64, u64, u64) {
        match &self.push {
            Some(push) => {
                let m = &push.hub.metrics;
                (
                    m.accepted.load(Ordering::Relaxed),
                    m.dropped.load(Ordering::Relaxed),
                    m.replaced.load(Ordering::Relaxed),
                )
            }
            None => (0, 0, 0),
        }
    }

    /// Stops every device, then the servers, each gracefully; the first failure is returned
    /// after everything was stopped.
    pub async fn shutdown(&mut self) -> Result<(), DemoError> {
        let mut first = Ok(());
        for device in &mut self.devices {
            let stopped = device.stop().await;
            if first.is_ok() {
                first = stopped;
            }
        }
        if let Some(mail) = self.mail.take() {
            mail.shutdown().await;
        }
        if let Some(journal) = self.journal.take() {
            journal.shutdown().await;
        }
        if let Some(push) = self.push.take() {
            push.shutdown().await;
        }
        first
    }
}

/// A, B, … Z, then D27, D28…
pub fn device_name(i: usize) -> String {
    match u8::try_from(i) {
        Ok(n) if n < 26 => char::from(b'A' + n).to_string(),
        _ => format!("D{}", i + 1),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
