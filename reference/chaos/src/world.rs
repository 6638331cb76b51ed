//! The system of one run: a certificate, the push server, the mail server and the device
//! daemons as child processes of the `mailpush` binary, each with its SQLite state and its log
//! in the run's directory, and one proxy per device on its device channel.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::proxy::Proxy;
use crate::schedule::{Component, MAILBOXES, Plan};

/// The account every device holds.
pub const ACCOUNT: &str = "A1";
/// Its IMAP user and password.
pub const USER: &str = "chaos";
/// Its password.
pub const PASSWORD: &str = "chaos-secret";
const PROVIDER_TOKEN: &str = "chaos-provider-token";
const REGISTRATION_TOKEN: &str = "chaos-registration-token";
/// Longest wait for a process to listen or a device to be ready.
const START: Duration = Duration::from_secs(30);

/// The running system of one run. Dropping it kills every process (`kill_on_drop`).
pub struct World {
    dir: PathBuf,
    binary: PathBuf,
    started: Instant,
    /// The mail server's IMAP address.
    pub imap: SocketAddr,
    push_device: SocketAddr,
    push_http: SocketAddr,
    push: Option<Child>,
    mail: Option<Child>,
    devices: Vec<Option<Child>>,
    /// One proxy per device, between it and the device channel.
    pub proxies: Vec<Proxy>,
    /// The components killed to be restarted, with when (microseconds since the Unix epoch).
    pub killed: Vec<(u64, Component)>,
    _ports: [Port; 3],
}

fn io_error(what: &str) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Ports handed to the runs of this process and not yet given back.
static LEASED: std::sync::Mutex<std::collections::BTreeSet<u16>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// A loopback port for a component, kept by the run until it ends. The components must keep
/// their address across restarts, so the runner chooses it, not the component, and below
/// Linux's ephemeral range (32768 and up): an outgoing connection never takes it while its
/// component is down, and no two runs of this process get the same one.
struct Port(SocketAddr);

impl Port {
    fn lease() -> Result<Port, String> {
        use rand::Rng as _;
        let mut rng = rand::thread_rng();
        for _ in 0..1000 {
            let port = rng.gen_range(20_000..32_768);
            let Ok(mut leased) = LEASED.lock() else {
                break;
            };
            if leased.contains(&port) {
                continue;
            }
            if let Ok(listener) = std::net::TcpListener::bind(("127.0.0.1", port)) {
                let addr = listener.local_addr().map_err(io_error("bind"))?;
                leased.insert(port);
                return Ok(Port(addr));
            }
        }
        Err("no free loopback port below 32768".into())
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        if let Ok(mut leased) = LEASED.lock() {
            leased.remove(&self.0.port());
        }
    }
}

fn toml_path(path: &Path) -> String {
    format!("{:?}", path.display().to_string())
}

impl World {
    /// Writes the certificate, the mail store and the configurations into `dir`, then starts
    /// the servers and the devices and waits until every device has push for every mailbox.
    pub async fn start(dir: &Path, binary: &Path, plan: &Plan) -> Result<World, String> {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
            .map_err(|e| format!("certificate: {e}"))?;
        let cert_pem = dir.join("cert.pem");
        let key_pem = dir.join("key.pem");
        std::fs::write(&cert_pem, cert.cert.pem()).map_err(io_error("cert.pem"))?;
        std::fs::write(&key_pem, cert.key_pair.serialize_pem()).map_err(io_error("key.pem"))?;

        let mail_db = dir.join("mail.sqlite3");
        {
            let store =
                mailpush_mail_store::Store::open(&mail_db, mailpush_mail_store::Config::default())
                    .map_err(|e| format!("mail store: {e}"))?;
            let user = store
                .add_user(USER, PASSWORD.as_bytes())
                .map_err(|e| format!("mail store: {e}"))?;
            for mailbox in MAILBOXES {
                store
                    .create_mailbox(user, mailbox)
                    .map_err(|e| format!("mail store: {e}"))?;
            }
        }

        let ports = [Port::lease()?, Port::lease()?, Port::lease()?];
        let (imap, push_device, push_http) = (ports[0].0, ports[1].0, ports[2].0);
        let push_toml = format!(
            "device-listen = \"{push_device}\"\nhttp-listen = \"{push_http}\"\n\
             database = {}\nring-capacity = {}\nmax-ttl-secs = {}\n\
             provider-tokens = [\"{PROVIDER_TOKEN}\"]\nregistration-tokens = [\"{REGISTRATION_TOKEN}\"]\n\
             tls-cert = {}\ntls-key = {}\n",
            toml_path(&dir.join("push.sqlite3")),
            plan.ring_capacity,
            plan.max_ttl_secs,
            toml_path(&cert_pem),
            toml_path(&key_pem),
        );
        std::fs::write(dir.join("push.toml"), push_toml).map_err(io_error("push.toml"))?;
        let mail_toml = format!(
            "listen = \"{imap}\"\ndatabase = {}\ntls_cert = {}\ntls_key = {}\n\
             push_url = \"https://{push_http}\"\nprovider_token = \"{PROVIDER_TOKEN}\"\n\
             push_ca = {}\nallow_plaintext_loopback = true\npush_topic_per_account = {}\n",
            toml_path(&mail_db),
            toml_path(&cert_pem),
            toml_path(&key_pem),
            toml_path(&cert_pem),
            plan.topic_per_account,
        );
        std::fs::write(dir.join("mail.toml"), mail_toml).map_err(io_error("mail.toml"))?;

        let mut proxies = Vec::new();
        for device in 0..plan.devices {
            let proxy = Proxy::start(push_device).await.map_err(io_error("proxy"))?;
            let mailboxes: Vec<String> = MAILBOXES.iter().map(|m| format!("{m:?}")).collect();
            let device_toml = format!(
                "data_dir = {}\n\n[[accounts]]\nname = \"{ACCOUNT}\"\naddress = \"{imap}\"\n\
                 security = \"starttls\"\nuser = \"{USER}\"\npassword = \"{PASSWORD}\"\n\
                 trust_cert = {}\nmailboxes = [{}]\n\n[push]\nchannel = \"{}\"\n\
                 api = \"https://{push_http}\"\nregistration_token = \"{REGISTRATION_TOKEN}\"\n\
                 trust_cert = {}\n",
                toml_path(&dir.join(format!("device-{device}"))),
                toml_path(&cert_pem),
                mailboxes.join(", "),
                proxy.addr,
                toml_path(&cert_pem),
            );
            std::fs::write(dir.join(format!("device-{device}.toml")), device_toml)
                .map_err(io_error("device.toml"))?;
            proxies.push(proxy);
        }

        let mut world = World {
            dir: dir.to_path_buf(),
            binary: binary.to_path_buf(),
            started: Instant::now(),
            imap,
            push_device,
            push_http,
            push: None,
            mail: None,
            devices: (0..plan.devices).map(|_| None).collect(),
            proxies,
            killed: Vec::new(),
            _ports: ports,
        };
        world.launch(Component::Push)?;
        world.launch(Component::Mail)?;
        world.wait_listening().await?;
        for device in 0..plan.devices {
            world.launch(Component::Device(device))?;
        }
        for device in 0..plan.devices {
            world.wait_ready(device).await?;
        }
        Ok(world)
    }

    /// The local API socket of a device.
    pub fn socket(&self, device: usize) -> PathBuf {
        self.dir
            .join(format!("device-{device}"))
            .join("device.sock")
    }

    fn name(component: Component) -> String {
        match component {
            Component::Push => "push".into(),
            Component::Mail => "mail".into(),
            Component::Device(d) => format!("device-{d}"),
        }
    }

    /// Starts the process of `component` on the state it left, its output appended to its log.
    pub fn launch(&mut self, component: Component) -> Result<(), String> {
        let name = Self::name(component);
        let config = self.dir.join(format!("{name}.toml"));
        let args: Vec<&std::ffi::OsStr> = match component {
            Component::Push => vec!["push-server".as_ref(), "--config".as_ref(), config.as_ref()],
            Component::Mail => vec!["mail-server".as_ref(), "--config".as_ref(), config.as_ref()],
            Component::Device(_) => vec![
                "device".as_ref(),
                "run".as_ref(),
                "--config".as_ref(),
                config.as_ref(),
            ],
        };
        // Every component traces (spec/trace.md), appending across its restarts.
        let trace = crate::validate::trace_file(&self.dir, &name);
        let mut args = args;
        args.extend([std::ffi::OsStr::new("--trace"), trace.as_os_str()]);
        let log_path = self.dir.join(format!("{name}.log"));
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io_error("log"))?;
        let _ = writeln!(
            log,
            "=== chaos: started at +{} ms ===",
            self.started.elapsed().as_millis()
        );
        let stderr = log.try_clone().map_err(io_error("log"))?;
        let child = Command::new(&self.binary)
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.binary.display()))?;
        *self.slot(component) = Some(child);
        Ok(())
    }

    fn slot(&mut self, component: Component) -> &mut Option<Child> {
        match component {
            Component::Push => &mut self.push,
            Component::Mail => &mut self.mail,
            Component::Device(d) => {
                if d >= self.devices.len() {
                    self.devices.resize_with(d + 1, || None);
                }
                &mut self.devices[d]
            }
        }
    }

    /// SIGKILL, then reaps the process.
    pub async fn kill(&mut self, component: Component) {
        if let Some(mut child) = self.slot(component).take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// SIGKILL and reaps the process, which the timeline starts again later: the time it was
    /// certainly dead is noted, on the clock the traces use, for the trace validation.
    pub async fn kill_for_restart(&mut self, component: Component) {
        self.kill(component).await;
        self.killed
            .push((mailpush_trace::system_clock(), component));
    }

    /// Kills every process.
    pub async fn stop(&mut self) {
        self.kill(Component::Push).await;
        self.kill(Component::Mail).await;
        for device in 0..self.devices.len() {
            self.kill(Component::Device(device)).await;
        }
    }

    /// A process that exited by itself (not killed by the runner), with its status.
    pub fn exited(&mut self) -> Option<String> {
        let mut components = vec![Component::Push, Component::Mail];
        components.extend((0..self.devices.len()).map(Component::Device));
        for component in components {
            if let Some(child) = self.slot(component)
                && let Ok(Some(status)) = child.try_wait()
            {
                return Some(format!("{} exited: {status}", Self::name(component)));
            }
        }
        None
    }

    /// Waits until both servers accept connections.
    pub async fn wait_listening(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START;
        for addr in [self.push_device, self.push_http, self.imap] {
            while tokio::net::TcpStream::connect(addr).await.is_err() {
                if let Some(exited) = self.exited() {
                    return Err(exited);
                }
                if Instant::now() > deadline {
                    return Err(format!("nothing listens on {addr}"));
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        Ok(())
    }

    /// Waits until the device is registered with push for every mailbox, its channel is
    /// established and every mailbox was synchronized once.
    async fn wait_ready(&mut self, device: usize) -> Result<(), String> {
        let deadline = Instant::now() + START;
        let socket = self.socket(device);
        loop {
            let status = crate::clients::api(&socket, "status", serde_json::json!({})).await;
            if let Ok(status) = &status {
                let account = &status["accounts"][0];
                let with_push = account["with_push"].as_array().map_or(0, Vec::len);
                let synced = account["mailboxes"]
                    .as_array()
                    .is_some_and(|m| m.iter().all(|m| m["last_sync"].is_object()));
                if account["registration"]["state"] == "registered"
                    && with_push == MAILBOXES.len()
                    && status["channel"]["state"] == "established"
                    && synced
                {
                    return Ok(());
                }
            }
            if let Some(exited) = self.exited() {
                return Err(exited);
            }
            if Instant::now() > deadline {
                return Err(format!("device {device} never ready: {status:?}"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
