//! Real third-party IMAP servers for interoperability tests: Debian's Dovecot ([`Dovecot`]) and
//! Cyrus imapd ([`Cyrus`]), each started by the test itself on loopback from a self-contained
//! configuration in a temporary directory, with TLS from a generated certificate authority, and
//! stopped (its whole process group) when dropped.
//!
//! The servers come from Debian packages that `.ci/install-interop-servers` installs (Dovecot) or
//! unpacks (Cyrus, whose package conflicts with Dovecot's). A server that is not there fails
//! [`Dovecot::start`] / [`Cyrus::start`] with [`InteropError::NotInstalled`], which names the
//! package and the script; [`unless_skipped`] turns that into a skip when
//! `MAILPUSH_SKIP_INTEROP=1`. Both dereference to [`RunningServer`] (addresses, users, TLS,
//! logs). Both servers want root (they drop to `nobody` themselves).
//!
//! [`ImapClient`] is a small line-level IMAP client (IMAPS or STARTTLS) for talking to them.
//! When a test panics while a server is running, the server's logs are printed as the fixture is
//! dropped; `MAILPUSH_INTEROP_KEEP=1` keeps the temporary directory as well.

mod client;
mod cyrus;
mod dovecot;
mod process;
mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;

use process::ServerProcess;

pub use client::{ImapClient, Reply, capability_code, capability_names};
pub use cyrus::{CYRUS_ROOT_VARIABLE, Cyrus, CyrusEvent, CyrusOptions, DEFAULT_CYRUS_ROOT};
pub use dovecot::{Dovecot, DovecotOptions, MailFormat};
pub use tls::ServerTls;

/// Set to `1` to skip interoperability tests whose server is not installed.
pub const SKIP_VARIABLE: &str = "MAILPUSH_SKIP_INTEROP";
/// Set to `1` to keep each server's temporary directory (configuration, logs, mail).
pub const KEEP_VARIABLE: &str = "MAILPUSH_INTEROP_KEEP";
/// The script, relative to the repository root, that installs both servers.
pub const INSTALL_SCRIPT: &str = ".ci/install-interop-servers";

/// A user name and password that a server accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The login name.
    pub user: String,
    /// The password.
    pub password: String,
}

impl Credentials {
    /// Credentials from anything string-like.
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            password: password.into(),
        }
    }

    /// Users and passwords end up in configuration files and IMAP atoms: keep them to
    /// characters that need no quoting anywhere.
    fn check(&self) -> Result<(), InteropError> {
        let plain = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
        };
        if plain(&self.user) && plain(&self.password) {
            Ok(())
        } else {
            Err(InteropError::Config(format!(
                "user {:?}: users and passwords must be non-empty and use only letters, digits \
                 and - _ . @",
                self.user
            )))
        }
    }
}

/// What every running server offers, whichever it is: [`Dovecot`] and [`Cyrus`] dereference to
/// it. Dropping it stops the server.
pub struct RunningServer {
    process: ServerProcess,
    imap: SocketAddr,
    imaps: SocketAddr,
    users: Vec<Credentials>,
    tls: ServerTls,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(self.name())
            .field("imap", &self.imap)
            .field("imaps", &self.imaps)
            .field("dir", &self.dir())
            .finish_non_exhaustive()
    }
}

impl RunningServer {
    /// Waits until `process` serves on both ports (see [`ServerProcess::wait_until_serving`]).
    async fn serving(
        mut process: ServerProcess,
        (imap, imaps): (SocketAddr, SocketAddr),
        users: &[Credentials],
        tls: ServerTls,
        marker: &str,
    ) -> Result<Self, InteropError> {
        process
            .wait_until_serving(imap, imaps, &tls, marker)
            .await?;
        Ok(Self {
            process,
            imap,
            imaps,
            users: users.to_vec(),
            tls,
        })
    }

    /// `Dovecot` or `Cyrus`.
    pub fn name(&self) -> &'static str {
        self.process.name()
    }

    /// The IMAP port (plaintext until STARTTLS).
    pub fn imap_addr(&self) -> SocketAddr {
        self.imap
    }

    /// The IMAPS port (TLS from the first byte).
    pub fn imaps_addr(&self) -> SocketAddr {
        self.imaps
    }

    /// The users a client may log in as.
    pub fn users(&self) -> &[Credentials] {
        &self.users
    }

    /// The certificate authority to trust.
    pub fn tls(&self) -> &ServerTls {
        &self.tls
    }

    /// The server's temporary directory (configuration, logs, mail).
    pub fn dir(&self) -> &Path {
        self.process.dir()
    }

    /// The configuration and everything the server logged so far.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// The pid of the server's master process, which leads the process group of every process
    /// the server started.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }
}

/// Why a server could not be started or talked to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InteropError {
    /// The server's programs are not installed.
    #[error(
        "{server} is not available: {missing}. Run `{INSTALL_SCRIPT}` as root (`.ci/test-all` \
         runs it), or set {SKIP_VARIABLE}=1 to skip the tests that need it"
    )]
    NotInstalled {
        /// `Dovecot` or `Cyrus`.
        server: &'static str,
        /// What is missing, with the Debian package that provides it.
        missing: String,
    },
    /// The server must be started as root.
    #[error("{server} must be started as root (it switches its mail processes to `nobody` itself)")]
    NotRoot {
        /// `Dovecot` or `Cyrus`.
        server: &'static str,
    },
    /// The options cannot be turned into a configuration.
    #[error("bad options: {0}")]
    Config(String),
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Certificates could not be generated or loaded.
    #[error("TLS: {0}")]
    Tls(String),
    /// The server did not come up.
    #[error("{server} did not start: {message}\n--- {server} log ---\n{log}")]
    Startup {
        /// `Dovecot` or `Cyrus`.
        server: &'static str,
        /// What went wrong.
        message: String,
        /// The server's log at that moment.
        log: String,
    },
    /// The server answered something the client did not expect.
    #[error("IMAP: {0}")]
    Protocol(String),
    /// Nothing arrived in time.
    #[error("timed out: {0}")]
    Timeout(String),
}

pub(crate) fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> InteropError {
    let what = what.into();
    move |source| InteropError::Io { what, source }
}

/// `Ok(None)` (and a line on stderr) when the server is not installed and
/// `MAILPUSH_SKIP_INTEROP=1`; everything else unchanged.
pub fn unless_skipped<T>(started: Result<T, InteropError>) -> Result<Option<T>, InteropError> {
    match started {
        Err(error @ InteropError::NotInstalled { .. }) if skip_requested() => {
            eprintln!("skipped ({SKIP_VARIABLE}=1): {error}");
            Ok(None)
        }
        other => other.map(Some),
    }
}

fn skip_requested() -> bool {
    std::env::var(SKIP_VARIABLE).as_deref() == Ok("1")
}

fn require_root(server: &'static str) -> Result<(), InteropError> {
    if rustix::process::geteuid().is_root() {
        Ok(())
    } else {
        Err(InteropError::NotRoot { server })
    }
}

/// Mailbox names end up in configuration files and quoted IMAP strings.
fn check_mailbox(name: &str) -> Result<(), InteropError> {
    let fine = !name.is_empty()
        && !name.eq_ignore_ascii_case("INBOX")
        && name
            .chars()
            .all(|c| !c.is_control() && c != '"' && c != '\\' && c != '/' && c != '%' && c != '*');
    if fine {
        Ok(())
    } else {
        Err(InteropError::Config(format!(
            "mailbox {name:?}: extra mailboxes must be top-level names without quotes, \
             backslashes, wildcards or control characters, and not INBOX"
        )))
    }
}

/// The uid and gid of `nobody`/`nogroup`, which the servers' mail processes run as.
fn nobody() -> Result<(u32, u32), InteropError> {
    let id = |file: &str, name: &str| -> Result<u32, InteropError> {
        let text = std::fs::read_to_string(file).map_err(io_error(format!("reading {file}")))?;
        text.lines()
            .map(|line| line.split(':').collect::<Vec<_>>())
            .find(|fields| fields.first() == Some(&name))
            .and_then(|fields| fields.get(2)?.parse().ok())
            .ok_or_else(|| InteropError::Config(format!("no {name} in {file}")))
    };
    Ok((id("/etc/passwd", "nobody")?, id("/etc/group", "nogroup")?))
}

/// A temporary directory that `nobody` can traverse (the servers' mail processes run as it).
fn server_dir(prefix: &str) -> Result<tempfile::TempDir, InteropError> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(io_error("creating a temporary directory"))?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .map_err(io_error(format!("chmod {}", dir.path().display())))?;
    Ok(dir)
}

fn write_file(path: &Path, contents: impl AsRef<[u8]>) -> Result<(), InteropError> {
    std::fs::write(path, contents).map_err(io_error(format!("writing {}", path.display())))
}

fn create_dir(path: &Path) -> Result<(), InteropError> {
    std::fs::create_dir_all(path).map_err(io_error(format!("creating {}", path.display())))
}

/// Changes the owner of `path` and everything below it.
fn chown_tree(path: &Path, uid: u32, gid: u32) -> Result<(), InteropError> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
        .map_err(io_error(format!("chown {}", path.display())))?;
    if path.is_dir() && !path.is_symlink() {
        let entries =
            std::fs::read_dir(path).map_err(io_error(format!("listing {}", path.display())))?;
        for entry in entries {
            let entry = entry.map_err(io_error(format!("listing {}", path.display())))?;
            chown_tree(&entry.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// A port on 127.0.0.1 that was free a moment ago. The servers bind their ports themselves, so
/// another process may take it first; starts retry with new ports when that happens.
fn free_port() -> Result<u16, InteropError> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(io_error("binding 127.0.0.1:0 to find a free port"))?;
    listener
        .local_addr()
        .map(|addr| addr.port())
        .map_err(io_error("reading a bound port"))
}

/// How many times a start is tried with fresh ports before giving up.
const START_ATTEMPTS: usize = 3;

/// Runs `start` again, with the fresh ports it chooses, while it fails because another program
/// took one of them between choosing and binding.
async fn with_fresh_ports<T, F, Fut>(mut start: F) -> Result<T, InteropError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, InteropError>>,
{
    let mut attempt = 1;
    loop {
        match start().await {
            Err(error) if attempt < START_ATTEMPTS && port_clash(&error) => attempt += 1,
            other => return other,
        }
    }
}

fn port_clash(error: &InteropError) -> bool {
    match error {
        InteropError::Startup { message, log, .. } => {
            log.contains("Address already in use") || message.contains("another program")
        }
        _ => false,
    }
}
