//! Debian's Cyrus imapd (packages `cyrus-imapd` and `cyrus-common`, 3.6), unpacked rather than
//! installed (it conflicts with Dovecot's package), with XAPPLEPUSHSERVICE enabled, from a
//! self-contained `imapd.conf` and `cyrus.conf`.
//!
//! Cyrus logs only to syslog. When it can, the fixture starts Cyrus's `master` in a private mount
//! namespace in which `/dev/log` is a socket the fixture reads, so that the log lands in the
//! server's directory; elsewhere the log holds only what `master` writes to stderr. The fixture
//! also receives Cyrus's event notifications (RFC 5423, JSON, among them the `ApplePushService`
//! event of each registration) on the socket where `notifyd` would listen.

use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::mpsc;

use super::client::{ImapClient, quoted};
use super::process::ServerProcess;
use super::{
    Credentials, InteropError, RunningServer, ServerTls, check_mailbox, chown_tree, create_dir,
    free_port, io_error, nobody, require_root, server_dir, with_fresh_ports, write_file,
};

const NAME: &str = "Cyrus";
/// Where `.ci/install-interop-servers` unpacks Cyrus unless told otherwise.
pub const DEFAULT_CYRUS_ROOT: &str = "/var/cache/mailpush/cyrus-imapd";
/// Names the directory Cyrus was unpacked into (`dpkg -x` of its packages).
pub const CYRUS_ROOT_VARIABLE: &str = "MAILPUSH_CYRUS_ROOT";
/// The topic a server answers in `aps-topic`, as deployments configure it.
const DEFAULT_APS_TOPIC: &str = "com.apple.mail.XServer.mailpush-testkit";
/// The users a fixture creates besides the test's: the administrator that creates mailboxes.
const ADMIN: (&str, &str) = ("cyrusadmin", "cyrusadmin-password");
/// How often the socket readers look at the stop flag.
const READ_TICK: Duration = Duration::from_millis(50);

/// What to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CyrusOptions {
    /// The users, each with an INBOX; default one, `alice`.
    pub users: Vec<Credentials>,
    /// Mailboxes besides INBOX that every user has; default `Notes`.
    pub mailboxes: Vec<String>,
    /// The `aps_topic` the server answers in its XAPPLEPUSHSERVICE reply.
    pub aps_topic: String,
    /// Where Cyrus was unpacked; default `$MAILPUSH_CYRUS_ROOT`, else
    /// [`DEFAULT_CYRUS_ROOT`].
    pub root: Option<PathBuf>,
}

impl Default for CyrusOptions {
    fn default() -> Self {
        Self {
            users: vec![Credentials::new("alice", "alice-password")],
            mailboxes: vec!["Notes".into()],
            aps_topic: DEFAULT_APS_TOPIC.into(),
            root: None,
        }
    }
}

/// One event notification Cyrus sent to its notification socket.
#[derive(Debug, Clone, PartialEq)]
pub struct CyrusEvent {
    /// The `notifyd` method (`event_notifier`).
    pub method: String,
    /// `EVENT` for RFC 5423 events.
    pub class: String,
    /// The notification's text: for events, a JSON object.
    pub message: String,
    /// `message` parsed, when it is JSON.
    pub json: Option<serde_json::Value>,
}

impl CyrusEvent {
    /// The event's type (`"ApplePushService"`, `"MessageNew"`, ...).
    pub fn event(&self) -> Option<&str> {
        self.json.as_ref()?.get("event")?.as_str()
    }

    /// Parses `method NUL class NUL priority NUL user NUL mailbox NUL nopt NUL options...
    /// message NUL`, the datagram format of Cyrus's `notify()` (imap/notify.c).
    fn parse(datagram: &[u8]) -> Option<Self> {
        let fields: Vec<String> = datagram
            .split(|b| *b == 0)
            .map(|field| String::from_utf8_lossy(field).into_owned())
            .collect();
        let options: usize = fields.get(5)?.parse().ok()?;
        let message = fields.get(6 + options)?.clone();
        Some(Self {
            method: fields.first()?.clone(),
            class: fields.get(1)?.clone(),
            json: serde_json::from_str(&message).ok(),
            message,
        })
    }
}

/// A running Cyrus imapd on 127.0.0.1 (see [`RunningServer`] for its addresses, users and logs).
/// Dropping it stops every process it started.
pub struct Cyrus {
    // First, so that it is dropped (the server stopped) before the socket readers.
    server: RunningServer,
    _readers: Readers,
    admin: Credentials,
    aps_topic: String,
    events: mpsc::UnboundedReceiver<CyrusEvent>,
    syslog_captured: bool,
}

impl std::fmt::Debug for Cyrus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cyrus")
            .field("server", &self.server)
            .field("aps_topic", &self.aps_topic)
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for Cyrus {
    type Target = RunningServer;
    fn deref(&self) -> &RunningServer {
        &self.server
    }
}

/// The unpacked programs.
struct Install {
    bin: PathBuf,
    lib: PathBuf,
    saslpasswd2: PathBuf,
}

impl Cyrus {
    /// Writes a configuration into a new temporary directory, starts Cyrus's `master` on two free
    /// loopback ports (IMAP with STARTTLS, and IMAPS), creates the users' mailboxes as the
    /// administrator and returns.
    pub async fn start(options: CyrusOptions) -> Result<Self, InteropError> {
        if options.users.is_empty() {
            return Err(InteropError::Config("Cyrus needs at least one user".into()));
        }
        options.users.iter().try_for_each(Credentials::check)?;
        if options.users.iter().any(|user| user.user == ADMIN.0) {
            return Err(InteropError::Config(format!(
                "{} is the fixture's administrator",
                ADMIN.0
            )));
        }
        options
            .mailboxes
            .iter()
            .try_for_each(|name| check_mailbox(name))?;
        let topic_ok = !options.aps_topic.is_empty()
            && options
                .aps_topic
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !topic_ok {
            return Err(InteropError::Config(format!(
                "aps_topic {:?}: use letters, digits, - _ and .",
                options.aps_topic
            )));
        }
        let install = installed(options.root.as_deref())?;
        require_root(NAME)?;
        with_fresh_ports(|| Self::start_once(&install, &options)).await
    }

    async fn start_once(install: &Install, options: &CyrusOptions) -> Result<Self, InteropError> {
        let dir = server_dir("mailpush-cyrus-")?;
        let root = dir.path().to_path_buf();
        let tls_dir = root.join("tls");
        create_dir(&tls_dir)?;
        let tls = ServerTls::generate(&tls_dir, NAME)?;
        let conf = root.join("conf");
        let admin = Credentials::new(ADMIN.0, ADMIN.1);
        for sub in ["socket", "db", "proc", "lock", "sieve"] {
            create_dir(&conf.join(sub))?;
        }
        // imapd writes a protocol log of every session of a user who has a directory here.
        for user in options.users.iter().chain([&admin]) {
            create_dir(&conf.join("log").join(&user.user))?;
        }
        create_dir(&root.join("spool"))?;

        let imap = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let imaps = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        // The server name appears in the greeting and is the SASL realm of the users.
        let servername = format!("cyrus-testkit-{}", imap.port());
        let sasldb = root.join("sasldb2");
        for user in options.users.iter().chain([&admin]) {
            add_sasl_user(install, &sasldb, &servername, user)?;
        }
        let (uid, gid) = nobody()?;
        chown_tree(&conf, uid, gid)?;
        chown_tree(&root.join("spool"), uid, gid)?;
        chown_tree(&sasldb, uid, gid)?;

        let config = root.join("imapd.conf");
        write_file(
            &config,
            imapd_conf(&root, &servername, &admin, &tls, &options.aps_topic),
        )?;
        let master_conf = root.join("cyrus.conf");
        write_file(&master_conf, cyrus_conf(&install.bin, &config, imap, imaps))?;

        let stop = Arc::new(AtomicBool::new(false));
        let mut readers = Readers {
            stop: Arc::clone(&stop),
            threads: Vec::new(),
        };
        let (events_tx, events) = mpsc::unbounded_channel();
        readers.threads.push(read_datagrams(
            &conf.join("socket").join("notify"),
            Arc::clone(&stop),
            move |datagram| {
                if let Some(event) = CyrusEvent::parse(datagram) {
                    let _ = events_tx.send(event);
                }
            },
        )?);
        let syslog_captured = namespaces_work();
        let syslog = root.join("syslog.log");
        if !syslog_captured {
            write_file(
                &syslog,
                "(syslog not captured: no private mount namespace here; only master's stderr)\n",
            )?;
        }
        let syslog_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&syslog)
            .map_err(io_error(format!("creating {}", syslog.display())))?;
        readers.threads.push(read_datagrams(
            &root.join("syslog.sock"),
            Arc::clone(&stop),
            move |datagram| {
                use std::io::Write;
                let mut line = strip_priority(datagram).to_vec();
                line.push(b'\n');
                let _ = (&syslog_file).write_all(&line);
            },
        )?);

        let mut command = if syslog_captured {
            for sub in ["upper", "work"] {
                create_dir(&root.join("ns").join(sub))?;
            }
            let mut command = Command::new("unshare");
            command
                .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
                .arg(CAPTURE_SYSLOG)
                .arg("sh")
                .arg(&root)
                .arg(install.bin.join("master"));
            command
        } else {
            Command::new(install.bin.join("master"))
        };
        command
            .arg("-D")
            .arg("-C")
            .arg(&config)
            .arg("-M")
            .arg(&master_conf)
            .arg("-p")
            .arg(root.join("master.pid"))
            .env("LD_LIBRARY_PATH", &install.lib);
        let process = ServerProcess::spawn(
            NAME,
            command,
            root.join("master.log"),
            vec![config, master_conf, syslog, conf.join("log")],
            dir,
        )?;
        let server =
            RunningServer::serving(process, (imap, imaps), &options.users, tls, &servername)
                .await?;
        create_mailboxes(imaps, &server.tls, &admin, options)
            .await
            .map_err(|e| {
                server
                    .process
                    .startup_error(format!("creating the mailboxes: {e}"))
            })?;
        Ok(Self {
            server,
            _readers: readers,
            admin,
            aps_topic: options.aps_topic.clone(),
            events,
            syslog_captured,
        })
    }

    /// The administrator (listed in `admins`), who may create any user's mailboxes.
    pub fn admin(&self) -> &Credentials {
        &self.admin
    }

    /// The `aps-topic` the server sends.
    pub fn aps_topic(&self) -> &str {
        &self.aps_topic
    }

    /// Whether Cyrus's syslog lands in [`RunningServer::log`].
    pub fn syslog_captured(&self) -> bool {
        self.syslog_captured
    }

    /// The next event notification, or `None` if none arrives within `wait`. The first ones are
    /// the `MailboxCreate` events of the mailboxes the fixture created as [`Cyrus::admin`].
    pub async fn next_event(&mut self, wait: Duration) -> Option<CyrusEvent> {
        tokio::time::timeout(wait, self.events.recv())
            .await
            .ok()
            .flatten()
    }

    /// The next event of type `event` (`"ApplePushService"`, `"MessageNew"`, ...), skipping
    /// others, or `None` if none arrives within `wait`.
    pub async fn next_event_named(&mut self, event: &str, wait: Duration) -> Option<CyrusEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let next = self.next_event(left).await?;
            if next.event() == Some(event) {
                return Some(next);
            }
        }
    }
}

/// The threads that read the notification and syslog sockets; stopped after the server.
struct Readers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Drop for Readers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Binds a datagram socket that the server's processes (running as `nobody`) may write to, and
/// hands every datagram to `handle` on a thread of its own until `stop`. Syslog senders block
/// when nobody reads, so the socket is drained all the time.
fn read_datagrams(
    path: &Path,
    stop: Arc<AtomicBool>,
    mut handle: impl FnMut(&[u8]) + Send + 'static,
) -> Result<JoinHandle<()>, InteropError> {
    use std::os::unix::fs::PermissionsExt;
    let socket =
        UnixDatagram::bind(path).map_err(io_error(format!("binding {}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777))
        .map_err(io_error(format!("chmod {}", path.display())))?;
    socket
        .set_read_timeout(Some(READ_TICK))
        .map_err(io_error(format!("configuring {}", path.display())))?;
    let mut buffer = vec![0; 65536];
    Ok(std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            if let Ok(n) = socket.recv(&mut buffer) {
                handle(&buffer[..n]);
            }
        }
    }))
}

/// `<PRI>` from the front of a syslog datagram.
fn strip_priority(datagram: &[u8]) -> &[u8] {
    let datagram = datagram.strip_suffix(b"\n").unwrap_or(datagram);
    match (datagram.first(), datagram.iter().position(|b| *b == b'>')) {
        (Some(b'<'), Some(end)) if end < 5 => &datagram[end + 1..],
        _ => datagram,
    }
}

/// Runs in a new mount namespace: lays an overlay over `/dev` (so that nothing outside changes),
/// binds the fixture's syslog socket (`$1/syslog.sock`) onto `/dev/log` and runs the rest of the
/// arguments. When that cannot be done Cyrus still starts, without its syslog.
const CAPTURE_SYSLOG: &str = r#"d=$1; shift
if mount -t overlay overlay -o "lowerdir=/dev,upperdir=$d/ns/upper,workdir=$d/ns/work" /dev &&
   : > /dev/log && mount --bind "$d/syslog.sock" /dev/log; then :; else
  echo "mailpush-testkit: could not bind /dev/log in a mount namespace: syslog not captured" >&2
fi
exec "$@""#;

/// Whether `unshare --mount` works here (root with CAP_SYS_ADMIN, util-linux present).
fn namespaces_work() -> bool {
    static WORKS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *WORKS.get_or_init(|| {
        Command::new("unshare")
            .args(["--mount", "--propagation", "private", "true"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    })
}

fn installed(root: Option<&Path>) -> Result<Install, InteropError> {
    let root = match root {
        Some(root) => root.to_path_buf(),
        None => std::env::var_os(CYRUS_ROOT_VARIABLE)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CYRUS_ROOT)),
    };
    let bin = root.join("usr/lib/cyrus/bin");
    let missing = |what: String| InteropError::NotInstalled {
        server: NAME,
        missing: what,
    };
    for program in ["master", "imapd", "ctl_cyrusdb", "idled"] {
        if !bin.join(program).is_file() {
            return Err(missing(format!(
                "no {} (the packages cyrus-imapd and cyrus-common unpacked into {}, which \
                 {CYRUS_ROOT_VARIABLE} names; default {DEFAULT_CYRUS_ROOT})",
                bin.join(program).display(),
                root.display()
            )));
        }
    }
    // The libraries are in the multiarch directory of the unpacked tree.
    let lib = std::fs::read_dir(root.join("usr/lib"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .find(|dir| dir.join("libcyrus_imap.so.0").exists())
        .ok_or_else(|| {
            missing(format!(
                "no libcyrus_imap.so.0 under {}/usr/lib (package cyrus-common)",
                root.display()
            ))
        })?;
    let saslpasswd2 = ["/usr/sbin/saslpasswd2", "/usr/bin/saslpasswd2"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
        .ok_or_else(|| missing("no saslpasswd2 (Debian package sasl2-bin)".into()))?;
    Ok(Install {
        bin,
        lib,
        saslpasswd2,
    })
}

fn add_sasl_user(
    install: &Install,
    sasldb: &Path,
    realm: &str,
    user: &Credentials,
) -> Result<(), InteropError> {
    use std::io::Write;
    let mut child = Command::new(&install.saslpasswd2)
        .args(["-p", "-c", "-f"])
        .arg(sasldb)
        .args(["-u", realm, &user.user])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(io_error("starting saslpasswd2"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(user.password.as_bytes())
            .map_err(io_error("writing to saslpasswd2"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(io_error("running saslpasswd2"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(InteropError::Config(format!(
            "saslpasswd2 for {}: {} {}",
            user.user,
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )))
    }
}

async fn create_mailboxes(
    imaps: SocketAddr,
    tls: &ServerTls,
    admin: &Credentials,
    options: &CyrusOptions,
) -> Result<(), InteropError> {
    let mut client = ImapClient::connect_imaps(imaps, tls).await?;
    client.login(admin).await?;
    for user in &options.users {
        client
            .ok(&format!(
                "CREATE {}",
                quoted(&format!("user/{}", user.user))
            ))
            .await?;
        for mailbox in &options.mailboxes {
            let name = format!("user/{}/{mailbox}", user.user);
            client.ok(&format!("CREATE {}", quoted(&name))).await?;
        }
    }
    client.ok("LOGOUT").await?;
    Ok(())
}

fn imapd_conf(
    root: &Path,
    servername: &str,
    admin: &Credentials,
    tls: &ServerTls,
    aps_topic: &str,
) -> String {
    let root = root.display();
    format!(
        "# A self-contained Cyrus imapd on loopback for mailpush's interoperability tests.\n\
         configdirectory: {root}/conf\n\
         partition-default: {root}/spool\n\
         defaultpartition: default\n\
         sievedir: {root}/conf/sieve\n\
         servername: {servername}\n\
         admins: {admin}\n\
         # Cyrus refuses to run as root; it drops to this user itself.\n\
         cyrus_user: nobody\n\
         cyrus_group: nogroup\n\
         sasl_pwcheck_method: auxprop\n\
         sasl_auxprop_plugin: sasldb\n\
         sasl_sasldb_path: {root}/sasldb2\n\
         sasl_mech_list: PLAIN LOGIN\n\
         tls_server_cert: {cert}\n\
         tls_server_key: {key}\n\
         unixhierarchysep: yes\n\
         altnamespace: yes\n\
         # XAPPLEPUSHSERVICE is offered only when aps_topic is set and the applepushservice\n\
         # events are on, which needs an event_notifier (imapd.c, mboxevent.c).\n\
         aps_topic: {aps_topic}\n\
         event_notifier: log\n\
         event_groups: message mailbox applepushservice\n\
         notifysocket: {root}/conf/socket/notify\n",
        admin = admin.user,
        cert = tls.chain_file.display(),
        key = tls.key_file.display(),
    )
}

fn cyrus_conf(bin: &Path, config: &Path, imap: SocketAddr, imaps: SocketAddr) -> String {
    let bin = bin.display();
    let config = config.display();
    format!(
        "# Cyrus's master: services of the interoperability fixture.\n\
         START {{\n  recover cmd=\"{bin}/ctl_cyrusdb -C {config} -r\"\n}}\n\
         SERVICES {{\n\
         \x20 imap cmd=\"{bin}/imapd -C {config}\" listen=\"{imap}\" prefork=0\n\
         \x20 imaps cmd=\"{bin}/imapd -s -C {config}\" listen=\"{imaps}\" prefork=0\n\
         }}\n\
         DAEMON {{\n  idled cmd=\"{bin}/idled -C {config}\"\n}}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_and_syslog_lines_are_parsed() {
        let datagram = b"log\0EVENT\0\0\0\x000\0{\"event\":\"ApplePushService\"}\0";
        let event = CyrusEvent::parse(datagram).unwrap();
        assert_eq!(event.method, "log");
        assert_eq!(event.class, "EVENT");
        assert_eq!(event.event(), Some("ApplePushService"));
        assert_eq!(CyrusEvent::parse(b"log\0EVENT\0"), None);
        assert_eq!(
            strip_priority(b"<19>Dec  3 master[1]: x\n"),
            b"Dec  3 master[1]: x"
        );
        assert_eq!(strip_priority(b"plain"), b"plain");
    }
}
