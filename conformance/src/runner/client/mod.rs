//! The device role: the runner plays the mail server (IMAPS, scripted by the case), the push
//! server's provider API (HTTPS, device registration answered at once) and its device channel
//! (TLS, scripted by the case), and starts the implementation under test with `--exec CMD`
//! once per case, in a fresh scratch directory, killing its whole process group at the end.
//!
//! The implementation learns where everything is from placeholders in `CMD` (`{imap}`, ...) and
//! the same values in environment variables (`MAILPUSH_CONFORM_IMAP`, ...); `conformance/README.md`
//! lists them.

pub mod app;
pub mod imap;
pub mod tls;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::net::Io;
use crate::transcript::ConfigNeed;
use crate::transcript::expr::random_hex;

/// The names given to the mailboxes a device case monitors (`mailboxes: N`), `$mailbox1` first.
pub const MAILBOX_NAMES: [&str; 9] = [
    "Notes", "Journal", "Tasks", "Lists", "Drafts", "Ideas", "Recipes", "Travel", "Archive",
];

/// The longest request the runner's provider API reads.
const MAX_REQUEST: usize = 64 * 1024;

/// How the runner starts the implementation under test.
#[derive(Clone, Debug)]
pub struct DeviceExec {
    /// The command, run by `sh -c` after its placeholders are replaced.
    pub command: String,
    /// The poll interval the implementation is asked to use for mailboxes without push
    /// (`{poll_ms}`), so that a case can see a scheduled poll in seconds.
    pub poll_ms: u64,
    /// The runner's certificate authority and server certificate.
    pub tls: tls::ServerTls,
}

impl DeviceExec {
    /// A command, with a freshly generated certificate authority.
    pub fn new(command: String, poll_ms: u64) -> Result<Self, String> {
        Ok(DeviceExec {
            command,
            poll_ms,
            tls: tls::ServerTls::generate()?,
        })
    }
}

/// Everything the runner plays for one device case, and the implementation it started.
pub struct Side {
    /// The values handed to the implementation, by placeholder name.
    pub placeholders: BTreeMap<String, String>,
    /// The IMAP connections' writers and wire log.
    pub wires: imap::Wires,
    /// Commands the device sent that no step claimed yet.
    pub commands: mpsc::UnboundedReceiver<imap::DeviceCommand>,
    /// Commands read while looking for another, oldest first.
    pub unclaimed: std::collections::VecDeque<imap::DeviceCommand>,
    /// The connection of the command matched last (where `imap ->` lines go), and that
    /// command's place on it.
    pub current: Option<(usize, u64)>,
    /// Device-channel connections the device opened, not yet given a `devN`.
    pub channel: mpsc::UnboundedReceiver<Box<dyn Io>>,
    /// How many device-channel connections were given a `devN`.
    pub accepted: u8,
    /// The provider API's log.
    pub api_log: Arc<Mutex<Vec<String>>>,
    scratch: PathBuf,
    command: String,
    child: Option<tokio::process::Child>,
    servers: Vec<tokio::task::JoinHandle<()>>,
}

/// The credentials and names a case's device uses.
#[derive(Clone, Debug)]
pub struct Identity {
    /// IMAP user.
    pub user: String,
    /// IMAP password.
    pub password: String,
    /// The account id the device names in its registration.
    pub account: String,
    /// The registration token the provider API accepts.
    pub registration: String,
    /// The device token the provider API hands out.
    pub token: String,
    /// The device secret the provider API hands out.
    pub secret: String,
    /// The mailboxes the device monitors.
    pub mailboxes: Vec<String>,
    /// What the runner's mail server lists after authentication.
    pub capabilities: String,
}

impl Side {
    /// Binds the three listeners on fresh loopback ports, writes the certificate authority into
    /// a fresh scratch directory and starts the implementation.
    /// `poll_ms` is the poll interval asked of the implementation (`{poll_ms}`); `declared` is
    /// what the operator declared of its configuration (`--config`), handed on as
    /// `{config_<name>}` so that an adapter can set up the implementation as declared.
    pub async fn start(
        exec: &DeviceExec,
        identity: &Identity,
        poll_ms: u64,
        declared: &[ConfigNeed],
    ) -> Result<Self, String> {
        let bind = || TcpListener::bind("127.0.0.1:0");
        let io = |what: &str| {
            let what = what.to_owned();
            move |e: std::io::Error| format!("{what}: {e}")
        };
        let imap_listener = bind().await.map_err(io("binding the IMAP listener"))?;
        let api_listener = bind().await.map_err(io("binding the provider API"))?;
        let channel_listener = bind().await.map_err(io("binding the device channel"))?;
        let address = |l: &TcpListener| l.local_addr().map_err(io("a listener's address"));
        let (imap_addr, api_addr, channel_addr) = (
            address(&imap_listener)?,
            address(&api_listener)?,
            address(&channel_listener)?,
        );
        let scratch = std::env::temp_dir().join(format!("mailpush-conform-{}", random_hex(16)));
        std::fs::create_dir_all(&scratch).map_err(io("creating the scratch directory"))?;
        let ca = scratch.join("ca.pem");
        std::fs::write(&ca, &exec.tls.ca_pem).map_err(io("writing the CA file"))?;

        let mut placeholders: BTreeMap<String, String> = BTreeMap::new();
        // The last declaration of a name counts, as for the cases' `$config_<name>`.
        for need in declared {
            placeholders.insert(ConfigNeed::variable(&need.name), need.value.to_string());
        }
        placeholders.insert("imap".into(), imap_addr.to_string());
        placeholders.insert("imap_host".into(), imap_addr.ip().to_string());
        placeholders.insert("imap_port".into(), imap_addr.port().to_string());
        placeholders.insert("channel".into(), channel_addr.to_string());
        placeholders.insert("api".into(), format!("https://{api_addr}"));
        placeholders.insert("ca".into(), ca.display().to_string());
        placeholders.insert("user".into(), identity.user.clone());
        placeholders.insert("password".into(), identity.password.clone());
        placeholders.insert("account".into(), identity.account.clone());
        placeholders.insert("registration".into(), identity.registration.clone());
        placeholders.insert("mailboxes".into(), identity.mailboxes.join(","));
        placeholders.insert("poll_ms".into(), poll_ms.to_string());
        placeholders.insert("dir".into(), scratch.display().to_string());

        let wires = imap::Wires::default();
        let (command_tx, commands) = mpsc::unbounded_channel();
        let (channel_tx, channel) = mpsc::unbounded_channel();
        let api_log = Arc::new(Mutex::new(Vec::new()));
        let servers = vec![
            tokio::spawn(imap::serve(
                imap_listener,
                exec.tls.acceptor.clone(),
                imap::Credentials {
                    user: identity.user.clone(),
                    password: identity.password.clone(),
                    capabilities: identity.capabilities.clone(),
                },
                wires.clone(),
                command_tx,
            )),
            tokio::spawn(serve_channel(
                channel_listener,
                exec.tls.acceptor.clone(),
                channel_tx,
            )),
            tokio::spawn(serve_api(
                api_listener,
                exec.tls.acceptor.clone(),
                identity.clone(),
                Arc::clone(&api_log),
            )),
        ];
        let mut side = Side {
            placeholders,
            wires,
            commands,
            unclaimed: Default::default(),
            current: None,
            channel,
            accepted: 0,
            api_log,
            scratch,
            command: exec.command.clone(),
            child: None,
            servers,
        };
        side.spawn()?;
        Ok(side)
    }

    /// The command line with its placeholders replaced (each value quoted for `sh`).
    pub fn command_line(&self) -> String {
        let mut line = self.command.clone();
        for (name, value) in &self.placeholders {
            line = line.replace(&format!("{{{name}}}"), &shell_quote(value));
        }
        line
    }

    fn spawn(&mut self) -> Result<(), String> {
        let output = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.output_path())
            .map_err(|e| format!("opening the implementation's output file: {e}"))?;
        let errors = output
            .try_clone()
            .map_err(|e| format!("opening the implementation's output file: {e}"))?;
        let mut command = tokio::process::Command::new("sh");
        command
            .arg("-c")
            .arg(self.command_line())
            .stdin(std::process::Stdio::null())
            .stdout(output)
            .stderr(errors)
            // A group of its own, so that the end of the case kills whatever it started.
            .process_group(0)
            .kill_on_drop(true);
        for (name, value) in &self.placeholders {
            command.env(
                format!("MAILPUSH_CONFORM_{}", name.to_ascii_uppercase()),
                value,
            );
        }
        let child = command
            .spawn()
            .map_err(|e| format!("starting `{}`: {e}", self.command_line()))?;
        self.child = Some(child);
        Ok(())
    }

    fn output_path(&self) -> PathBuf {
        self.scratch.join("implementation.log")
    }

    /// Kills the implementation's process group and waits for it.
    pub async fn kill(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(pid) = child.id() {
            // No signal API without `unsafe` in the standard library: kill(1) sends it.
            let _ = tokio::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status()
                .await;
        }
        let _ = child.kill().await;
        let _ = child.wait().await;
    }

    /// Kills the implementation and starts it again on the same scratch directory.
    pub async fn restart(&mut self) -> Result<(), String> {
        self.kill().await;
        self.spawn()
    }

    /// Whether the implementation ended by itself, and how.
    pub fn exited(&mut self) -> Option<String> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        Some(status.to_string())
    }

    /// The wire logs, the provider API's log and the end of the implementation's output.
    pub fn take_log(&mut self) -> Vec<String> {
        let mut log = self.wires.take_log();
        if let Ok(mut api) = self.api_log.lock() {
            log.append(&mut api);
        }
        let output = std::fs::read(self.output_path()).unwrap_or_default();
        let tail = output.len().saturating_sub(4096);
        let text = String::from_utf8_lossy(output.get(tail..).unwrap_or_default());
        log.extend(text.lines().map(|l| format!("implementation: {l}")));
        log
    }

    /// Stops everything and removes the scratch directory.
    pub async fn stop(&mut self) {
        self.kill().await;
        for server in self.servers.drain(..) {
            server.abort();
        }
        let _ = std::fs::remove_dir_all(&self.scratch);
    }

    /// The scratch directory.
    pub fn scratch(&self) -> &Path {
        &self.scratch
    }
}

fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

async fn serve_channel(
    listener: TcpListener,
    tls: tokio_rustls::TlsAcceptor,
    accepted: mpsc::UnboundedSender<Box<dyn Io>>,
) {
    while let Ok((tcp, _)) = listener.accept().await {
        let tls = tls.clone();
        let accepted = accepted.clone();
        tokio::spawn(async move {
            if let Ok(stream) = tls.accept(tcp).await {
                let _ = accepted.send(Box::new(stream) as Box<dyn Io>);
            }
        });
    }
}

/// Whether a request's head announces a body: a `Content-Length` other than 0, or any
/// `Transfer-Encoding`.
fn announces_body(headers: &[httparse::Header<'_>]) -> bool {
    headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("transfer-encoding")
            || (h.name.eq_ignore_ascii_case("content-length")
                && std::str::from_utf8(h.value).map_or(true, |v| v.trim() != "0"))
    })
}

/// The provider API's device registration (PROV-15): `POST /v1/devices` with the registration
/// token and no body answers `201` with the case's device token and secret the first time, and
/// with a new random token and secret every later time, as a push server issues a new device per
/// registration (so that a device registering again after a refusal gets other credentials);
/// anything else `400`, `401` or `404`.
async fn serve_api(
    listener: TcpListener,
    tls: tokio_rustls::TlsAcceptor,
    identity: Identity,
    log: Arc<Mutex<Vec<String>>>,
) {
    let registered = Arc::new(std::sync::atomic::AtomicBool::new(false));
    while let Ok((tcp, _)) = listener.accept().await {
        let tls = tls.clone();
        let identity = identity.clone();
        let registered = Arc::clone(&registered);
        let log = Arc::clone(&log);
        tokio::spawn(async move {
            let Ok(mut stream) = tls.accept(tcp).await else {
                return;
            };
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            let head = loop {
                let Ok(n) = stream.read(&mut buf).await else {
                    return;
                };
                if n == 0 || request.len() + n > MAX_REQUEST {
                    return;
                }
                request.extend_from_slice(buf.get(..n).unwrap_or_default());
                let mut headers = [httparse::EMPTY_HEADER; 32];
                let mut parsed = httparse::Request::new(&mut headers);
                match parsed.parse(&request) {
                    Ok(httparse::Status::Complete(_)) => {
                        let bearer = parsed
                            .headers
                            .iter()
                            .find(|h| h.name.eq_ignore_ascii_case("authorization"))
                            .map(|h| String::from_utf8_lossy(h.value).into_owned());
                        break (
                            parsed.method.unwrap_or("").to_owned(),
                            parsed.path.unwrap_or("").to_owned(),
                            bearer,
                            announces_body(parsed.headers),
                        );
                    }
                    Ok(httparse::Status::Partial) => continue,
                    Err(_) => return,
                }
            };
            let (method, path, bearer, with_body) = head;
            let (status, body) = if method != "POST" || path.trim_end_matches('/') != "/v1/devices"
            {
                (
                    "404 Not Found",
                    r#"{"code":404,"error":"not-found"}"#.to_owned(),
                )
            } else if bearer.as_deref() != Some(&format!("Bearer {}", identity.registration)) {
                (
                    "401 Unauthorized",
                    r#"{"code":401,"error":"unauthorized"}"#.to_owned(),
                )
            } else if with_body {
                // PROV-32: a registration has an empty body; answered as the push server must,
                // without reading the body.
                (
                    "400 Bad Request",
                    r#"{"code":400,"error":"bad-request"}"#.to_owned(),
                )
            } else {
                let again = registered.swap(true, std::sync::atomic::Ordering::SeqCst);
                let (token, secret) = if again {
                    (random_hex(64), random_hex(64))
                } else {
                    (identity.token, identity.secret)
                };
                (
                    "201 Created",
                    serde_json::json!({"token": token, "secret": secret}).to_string(),
                )
            };
            if let Ok(mut log) = log.lock() {
                log.push(format!(
                    "api C: {method} {path} (authorization {})",
                    if bearer.is_some() { "given" } else { "missing" }
                ));
                log.push(format!("api S: {status}"));
            }
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::announces_body;

    #[test]
    fn a_registration_announcing_a_body_is_told_apart() {
        let header = |name: &'static str, value: &'static [u8]| httparse::Header { name, value };
        assert!(!announces_body(&[]));
        assert!(!announces_body(&[header("Content-Length", b"0")]));
        assert!(!announces_body(&[header("content-length", b" 0 ")]));
        assert!(announces_body(&[header("Content-Length", b"2")]));
        assert!(announces_body(&[header("Content-Length", b"x")]));
        assert!(announces_body(&[header("Transfer-Encoding", b"chunked")]));
    }
}
