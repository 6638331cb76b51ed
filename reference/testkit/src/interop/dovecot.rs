//! Debian's Dovecot (package `dovecot-imapd`, 2.3) from a self-contained configuration: no file
//! under `/etc/dovecot` is read and the system service is not used.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::process::ServerProcess;
use super::{
    Credentials, InteropError, RunningServer, ServerTls, check_mailbox, chown_tree, create_dir,
    free_port, nobody, require_root, server_dir, with_fresh_ports, write_file,
};

const NAME: &str = "Dovecot";
/// Where Debian puts the mail binaries; the `imap` one holds the default capability list.
const LIBEXEC: &str = "/usr/lib/dovecot";
/// The capabilities the switch [`DovecotOptions::condstore_qresync`] removes.
const MODSEQ_CAPABILITIES: [&str; 2] = ["CONDSTORE", "QRESYNC"];

/// How Dovecot stores mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MailFormat {
    /// One file per message, `~/Maildir` (Dovecot's `maildir`).
    #[default]
    Maildir,
    /// One file per message with Dovecot's own index (`sdbox`).
    Sdbox,
    /// Several messages per file (`mdbox`).
    Mdbox,
}

impl MailFormat {
    fn mail_location(self) -> &'static str {
        match self {
            MailFormat::Maildir => "maildir:~/Maildir",
            MailFormat::Sdbox => "sdbox:~/sdbox",
            MailFormat::Mdbox => "mdbox:~/mdbox",
        }
    }
}

/// What to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DovecotOptions {
    /// The users, each with its own mail; default one, `alice`.
    pub users: Vec<Credentials>,
    /// Mailboxes besides INBOX that every user has from the first login on; default `Notes`.
    pub mailboxes: Vec<String>,
    /// Whether CONDSTORE and QRESYNC are advertised (default). When off, no capability list of
    /// the server names them; Dovecot still honours a client that uses them unadvertised (see the
    /// crate's README).
    pub condstore_qresync: bool,
    /// The mail storage format; default Maildir.
    pub mail_format: MailFormat,
}

impl Default for DovecotOptions {
    fn default() -> Self {
        Self {
            users: vec![Credentials::new("alice", "alice-password")],
            mailboxes: vec!["Notes".into()],
            condstore_qresync: true,
            mail_format: MailFormat::default(),
        }
    }
}

/// A running Dovecot on 127.0.0.1 (see [`RunningServer`] for its addresses, users and logs).
/// Dropping it stops every process it started.
#[derive(Debug)]
pub struct Dovecot {
    server: RunningServer,
    capability_override: Option<String>,
}

impl std::ops::Deref for Dovecot {
    type Target = RunningServer;
    fn deref(&self) -> &RunningServer {
        &self.server
    }
}

impl Dovecot {
    /// Writes a configuration into a new temporary directory, starts `dovecot -F` on two free
    /// loopback ports (IMAP with STARTTLS, and IMAPS) and returns once both greet.
    pub async fn start(options: DovecotOptions) -> Result<Self, InteropError> {
        if options.users.is_empty() {
            return Err(InteropError::Config(
                "Dovecot needs at least one user".into(),
            ));
        }
        options.users.iter().try_for_each(Credentials::check)?;
        options
            .mailboxes
            .iter()
            .try_for_each(|name| check_mailbox(name))?;
        let binary = installed()?;
        require_root(NAME)?;
        let capability_override = if options.condstore_qresync {
            None
        } else {
            Some(capabilities_without_modseq(&options)?)
        };
        with_fresh_ports(|| Self::start_once(&binary, &options, capability_override.clone())).await
    }

    async fn start_once(
        binary: &Path,
        options: &DovecotOptions,
        capability_override: Option<String>,
    ) -> Result<Self, InteropError> {
        let dir = server_dir("mailpush-dovecot-")?;
        let root = dir.path().to_path_buf();
        let tls_dir = root.join("tls");
        create_dir(&tls_dir)?;
        let tls = ServerTls::generate(&tls_dir, NAME)?;
        for sub in ["run", "state", "home"] {
            create_dir(&root.join(sub))?;
        }
        let (uid, gid) = nobody()?;
        let mut passwd = String::new();
        for user in &options.users {
            let home = root.join("home").join(&user.user);
            create_dir(&home)?;
            passwd.push_str(&format!(
                "{}:{{PLAIN}}{}:{uid}:{gid}::{}::\n",
                user.user,
                user.password,
                home.display()
            ));
        }
        chown_tree(&root.join("home"), uid, gid)?;
        write_file(&root.join("passwd"), passwd)?;

        let imap = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let imaps = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let marker = format!("Dovecot for mailpush-testkit on port {}", imap.port());
        let config = configuration(&Config {
            root: &root,
            tls: &tls,
            imap,
            imaps,
            greeting: &marker,
            first_valid_uid: uid,
            options,
            capability_override: capability_override.as_deref(),
        });
        let config_file = root.join("dovecot.conf");
        write_file(&config_file, config)?;

        let mut command = Command::new(binary);
        command.arg("-F").arg("-c").arg(&config_file);
        let log = root.join("dovecot.log");
        let process = ServerProcess::spawn(
            NAME,
            command,
            root.join("stderr.log"),
            vec![config_file, log],
            dir,
        )?;
        Ok(Self {
            server: RunningServer::serving(process, (imap, imaps), &options.users, tls, &marker)
                .await?,
            capability_override,
        })
    }

    /// The explicit `imap_capability` the configuration sets, when CONDSTORE and QRESYNC are off.
    pub fn capability_override(&self) -> Option<&str> {
        self.capability_override.as_deref()
    }
}

fn installed() -> Result<PathBuf, InteropError> {
    let binary = ["/usr/sbin/dovecot", "/usr/bin/dovecot"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.is_file());
    match binary {
        Some(binary) if Path::new(LIBEXEC).join("imap").is_file() => Ok(binary),
        _ => Err(InteropError::NotInstalled {
            server: NAME,
            missing: format!(
                "no dovecot binary in /usr/sbin or no {LIBEXEC}/imap (Debian package \
                 dovecot-imapd)"
            ),
        }),
    }
}

/// Dovecot's post-login capability list without CONDSTORE and QRESYNC. `imap_capability` can only
/// replace the list, not remove from it, and the built-in list lives in the `imap` binary
/// (configure.ac's CAPABILITY_STRING), so it is read from there: the override follows the
/// installed version. Then come the capabilities Dovecot adds at run time for this configuration
/// (imap-client.c, client_create), which an explicit list suppresses: `LITERAL+`; `NOTIFY`, since
/// the configuration turns on `mailbox_list_index`; and `SPECIAL-USE` when any `mailbox` block is
/// configured, because Dovecot tests the blocks' `special_use` setting for NULL and an unset one is
/// the empty string.
fn capabilities_without_modseq(options: &DovecotOptions) -> Result<String, InteropError> {
    let path = Path::new(LIBEXEC).join("imap");
    let binary = std::fs::read(&path).map_err(super::io_error(format!(
        "reading {} for its capability list",
        path.display()
    )))?;
    let list = binary
        .split(|b| *b == 0)
        .filter_map(|s| std::str::from_utf8(s).ok())
        .find(|s| s.starts_with("IMAP4rev1 ") && s.contains(" CONDSTORE"))
        .ok_or_else(|| {
            InteropError::Config(format!(
                "{} holds no capability list starting with IMAP4rev1 and naming CONDSTORE",
                path.display()
            ))
        })?;
    let mut names: Vec<&str> = list
        .split_ascii_whitespace()
        .filter(|name| !MODSEQ_CAPABILITIES.contains(name))
        .collect();
    names.extend(["LITERAL+", "NOTIFY"]);
    if !options.mailboxes.is_empty() {
        names.push("SPECIAL-USE");
    }
    Ok(names.join(" "))
}

struct Config<'a> {
    root: &'a Path,
    tls: &'a ServerTls,
    imap: SocketAddr,
    imaps: SocketAddr,
    greeting: &'a str,
    first_valid_uid: u32,
    options: &'a DovecotOptions,
    capability_override: Option<&'a str>,
}

fn configuration(c: &Config<'_>) -> String {
    let root = c.root.display();
    let mut mailboxes = String::new();
    for name in &c.options.mailboxes {
        mailboxes.push_str(&format!(
            "  mailbox \"{name}\" {{\n    auto = create\n  }}\n"
        ));
    }
    let capability = match c.capability_override {
        // In the imap protocol block, so that imap-login (pre-login) and imap (post-login) both
        // use it.
        Some(list) => format!("protocol imap {{\n  imap_capability = {list}\n}}\n"),
        None => String::new(),
    };
    format!(
        "# A self-contained Dovecot on loopback for mailpush's interoperability tests.\n\
         base_dir = {root}/run\n\
         state_dir = {root}/state\n\
         log_path = {root}/dovecot.log\n\
         info_log_path = {root}/dovecot.log\n\
         protocols = imap\n\
         listen = 127.0.0.1\n\
         login_greeting = {greeting}\n\
         ssl = yes\n\
         ssl_cert = <{cert}\n\
         ssl_key = <{key}\n\
         ssl_min_protocol = TLSv1.2\n\
         auth_mechanisms = plain login\n\
         passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {root}/passwd\n}}\n\
         userdb {{\n  driver = passwd-file\n  args = username_format=%u {root}/passwd\n}}\n\
         first_valid_uid = {uid}\n\
         mail_location = {location}\n\
         mailbox_list_index = yes\n\
         namespace inbox {{\n  inbox = yes\n  separator = /\n{mailboxes}}}\n\
         mail_max_userip_connections = 1000\n\
         default_process_limit = 1000\n\
         default_client_limit = 4000\n\
         service anvil {{\n  client_limit = 4000\n}}\n\
         service imap-login {{\n\
           inet_listener imap {{\n    address = 127.0.0.1\n    port = {imap}\n  }}\n\
           inet_listener imaps {{\n    address = 127.0.0.1\n    port = {imaps}\n    ssl = yes\n  }}\n\
         }}\n\
         {capability}",
        greeting = c.greeting,
        cert = c.tls.chain_file.display(),
        key = c.tls.key_file.display(),
        uid = c.first_valid_uid,
        location = c.options.mail_format.mail_location(),
        imap = c.imap.port(),
        imaps = c.imaps.port(),
    )
}
