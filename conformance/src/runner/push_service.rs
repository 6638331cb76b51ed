//! The push service the runner plays for a mail server under test: it keeps every request for
//! the `push <-` steps and answers it `201 Created` at once, or, for a case with
//! `push-reply: scripted`, holds the answer until the case's `push ->` step gives it. Plain
//! HTTP/1.1, or HTTPS (`--push-tls`) with a certificate the runner generates or is given.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::http::read_message;
use super::net::Io;
use crate::transcript::http_pattern::HttpMessage;

/// How long a TLS handshake of the server under test may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The most requests kept and not yet taken: a server pushing in a loop must not exhaust the
/// runner's memory. The oldest are forgotten first.
const MAX_KEPT: usize = 1024;

/// A request received and not yet taken by a `push <-` step.
struct Received {
    message: HttpMessage,
    /// The device token its resource names, in lowercase.
    token: String,
    /// Where its held answer goes (scripted cases).
    reply: Option<oneshot::Sender<Vec<u8>>>,
}

#[derive(Default)]
struct State {
    /// The device tokens of the cases running, each with whether its case scripts the answers.
    /// A request belongs to the case that claimed its token, so cases can run side by side.
    claims: HashMap<String, bool>,
    received: VecDeque<Received>,
    /// Per device token, requests taken by `push <-` whose answer the case has not given yet,
    /// oldest first.
    awaiting: HashMap<String, VecDeque<oneshot::Sender<Vec<u8>>>>,
    /// Requests answered so far, for the `Location` of the default answer.
    serial: u64,
}

struct Shared {
    state: Mutex<State>,
    arrived: Notify,
}

/// The push service the runner plays.
pub struct PushService {
    /// Where it listens.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl PushService {
    /// Starts listening on `listener`, plain HTTP.
    pub fn start(listener: TcpListener) -> Result<Self, String> {
        Self::spawn(listener, None)
    }

    /// Starts listening on `listener`, HTTPS from the first octet with `tls`.
    pub fn start_tls(listener: TcpListener, tls: PushTls) -> Result<Self, String> {
        Self::spawn(listener, Some(TlsAcceptor::from(tls.config)))
    }

    fn spawn(listener: TcpListener, tls: Option<TlsAcceptor>) -> Result<Self, String> {
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            arrived: Notify::new(),
        });
        let accepting = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = Arc::clone(&accepting);
                let tls = tls.clone();
                tokio::spawn(async move {
                    let io: Box<dyn Io> = match tls {
                        None => Box::new(stream),
                        Some(acceptor) => {
                            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                                .await
                            {
                                Ok(Ok(stream)) => Box::new(stream),
                                _ => return,
                            }
                        }
                    };
                    serve(io, &shared).await;
                });
            }
        });
        Ok(PushService { addr, shared, task })
    }

    /// A case with device token `token` starts: the requests for that token that arrive from
    /// now on are its own, and wait for its `push ->` answer when `scripted`
    /// (`push-reply: scripted`) or are answered `201` at once.
    pub fn claim(&self, token: &str, scripted: bool) {
        if let Ok(mut state) = self.shared.state.lock() {
            let token = token.to_ascii_lowercase();
            state.received.retain(|r| r.token != token);
            state.claims.insert(token, scripted);
        }
    }

    /// The case of `token` ended: its requests are forgotten, and the ones it left unanswered
    /// get the default answer.
    pub fn release(&self, token: &str) {
        if let Ok(mut state) = self.shared.state.lock() {
            let token = token.to_ascii_lowercase();
            state.received.retain(|r| r.token != token);
            state.awaiting.remove(&token);
            state.claims.remove(&token);
        }
    }

    /// Waits until `pick` chooses one of the requests received and not yet taken that belong
    /// to the case of `token` (its own, and those of tokens no case claimed), and takes it;
    /// `None` when none is chosen before `deadline`. A held request's answer then waits for
    /// [`PushService::reply`].
    pub async fn take(
        &self,
        token: &str,
        deadline: tokio::time::Instant,
        mut pick: impl FnMut(&HttpMessage) -> bool,
    ) -> Option<HttpMessage> {
        let token = token.to_ascii_lowercase();
        loop {
            let notified = self.shared.arrived.notified();
            if let Ok(mut state) = self.shared.state.lock()
                && let Some(i) = state.received.iter().position(|r| {
                    (r.token == token || !state.claims.contains_key(&r.token)) && pick(&r.message)
                })
                && let Some(taken) = state.received.remove(i)
            {
                if let Some(reply) = taken.reply {
                    state
                        .awaiting
                        .entry(taken.token)
                        .or_default()
                        .push_back(reply);
                }
                return Some(taken.message);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    /// Answers the oldest request of the case of `token` taken and not answered yet with
    /// `response` (the octets of an HTTP/1.1 response).
    pub fn reply(&self, token: &str, response: Vec<u8>) -> Result<(), String> {
        let waiting = self
            .shared
            .state
            .lock()
            .map_err(|_| "the push service's state is unusable".to_owned())?
            .awaiting
            .get_mut(&token.to_ascii_lowercase())
            .and_then(VecDeque::pop_front);
        match waiting {
            None => Err(
                "no request taken by `push <-` is waiting for an answer (is the case \
                         `push-reply: scripted`?)"
                    .into(),
            ),
            Some(sender) => sender
                .send(response)
                .map_err(|_| "the server under test closed the connection of that request".into()),
        }
    }

    /// Summaries of the requests for `token` received and not taken, for reports.
    pub fn pending(&self, token: &str) -> Vec<String> {
        let token = token.to_ascii_lowercase();
        self.shared
            .state
            .lock()
            .map(|s| {
                s.received
                    .iter()
                    .filter(|r| r.token == token)
                    .map(|r| r.message.summary())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for PushService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads the requests of one connection, keeps each, and answers it.
async fn serve(io: Box<dyn Io>, shared: &Shared) {
    let mut io = BufReader::new(io);
    while let Ok(Some(message)) = read_message(&mut io).await {
        let token = message
            .request
            .as_ref()
            .and_then(|(_, target)| target.rsplit('/').next())
            .unwrap_or("")
            .to_ascii_lowercase();
        let (held, serial) = {
            let Ok(mut state) = shared.state.lock() else {
                return;
            };
            state.serial += 1;
            let serial = state.serial;
            let (sender, held) = if state.claims.get(&token).copied().unwrap_or(false) {
                let (sender, receiver) = oneshot::channel();
                (Some(sender), Some(receiver))
            } else {
                (None, None)
            };
            if state.received.len() >= MAX_KEPT {
                state.received.pop_front();
            }
            state.received.push_back(Received {
                message,
                token: token.clone(),
                reply: sender,
            });
            (held, serial)
        };
        shared.arrived.notify_waiters();
        let answer = match held {
            Some(receiver) => receiver.await.ok(),
            None => None,
        };
        // A held request whose case ended without answering gets the default answer too.
        let response = answer.unwrap_or_else(|| {
            format!(
                "HTTP/1.1 201 Created\r\nLocation: /v1/message/{token}/{serial}\r\nTTL: 0\r\nContent-Length: 0\r\n\r\n"
            )
            .into_bytes()
        });
        if io.get_mut().write_all(&response).await.is_err() || closes(&response) {
            let _ = io.get_mut().shutdown().await;
            break;
        }
    }
}

/// Whether a scripted answer asks for the connection to end (`Connection: close`).
fn closes(response: &[u8]) -> bool {
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(response.len());
    String::from_utf8_lossy(&response[..head_end])
        .lines()
        .filter_map(|l| l.split_once(':'))
        .any(|(name, value)| {
            name.trim().eq_ignore_ascii_case("connection")
                && value.trim().eq_ignore_ascii_case("close")
        })
}

/// The certificate the push service (or the recorder, toward the component that connects to
/// it) presents over TLS.
#[derive(Clone)]
pub struct PushTls {
    config: Arc<ServerConfig>,
    /// The certificate authority the server under test must trust, when the runner generated
    /// it.
    pub ca: Option<PathBuf>,
}

impl std::fmt::Debug for PushTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushTls")
            .field("ca", &self.ca)
            .finish_non_exhaustive()
    }
}

/// The names of the files `--push-tls DIR` keeps.
pub const CA_FILE: &str = "push-ca.pem";

/// The files a generated certificate authority and its server certificate are kept in, and the
/// authority's name.
pub(crate) struct GeneratedFiles {
    /// The authority the other end is told to trust.
    pub ca: &'static str,
    pub cert: &'static str,
    pub key: &'static str,
    pub authority_name: &'static str,
}

/// What `--push-tls DIR` keeps.
const PUSH_SERVICE_FILES: GeneratedFiles = GeneratedFiles {
    ca: CA_FILE,
    cert: "push-cert.pem",
    key: "push-key.pem",
    authority_name: "mailpush-conform push service CA",
};

impl PushTls {
    /// A certificate and its key from PEM files.
    pub fn from_files(cert: &Path, key: &Path) -> Result<Self, String> {
        let certs = super::net::read_certificates(cert)?;
        let pem = std::fs::read(key).map_err(|e| format!("reading {}: {e}", key.display()))?;
        let key_der = rustls_pemfile::private_key(&mut pem.as_slice())
            .map_err(|e| format!("{}: not a PEM private key: {e}", key.display()))?
            .ok_or_else(|| format!("{} holds no private key", key.display()))?;
        Self::new(certs, key_der, None)
    }

    /// The certificate kept in `dir`, or, the first time, a new certificate authority and a
    /// certificate it signs for `names` (IP addresses or DNS names), written there: the CA
    /// file (`push-ca.pem`) is what the server under test is told to trust, and it stays valid
    /// for the next runs with the same `dir`.
    pub fn in_dir(dir: &Path, names: &[String]) -> Result<Self, String> {
        Self::in_dir_as(dir, names, &PUSH_SERVICE_FILES)
    }

    /// [`PushTls::in_dir`] with the files named by `files`.
    pub(crate) fn in_dir_as(
        dir: &Path,
        names: &[String],
        files: &GeneratedFiles,
    ) -> Result<Self, String> {
        let (cert, key, ca) = (
            dir.join(files.cert),
            dir.join(files.key),
            dir.join(files.ca),
        );
        if !(cert.exists() && key.exists() && ca.exists()) {
            generate(dir, names, files)?;
        }
        let mut tls = Self::from_files(&cert, &key)?;
        tls.ca = Some(ca);
        Ok(tls)
    }

    /// An acceptor presenting this certificate and offering `alpn` instead.
    pub(crate) fn acceptor(&self, alpn: &[&[u8]]) -> TlsAcceptor {
        let mut config = (*self.config).clone();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        TlsAcceptor::from(Arc::new(config))
    }

    fn new(
        certs: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        ca: Option<PathBuf>,
    ) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| format!("the push service's certificate or key is unusable: {e}"))?;
        // HTTP/1.1 is all the push service speaks; a client offering h2 too falls back.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(PushTls {
            config: Arc::new(config),
            ca,
        })
    }
}

/// Writes a new certificate authority and a certificate it signs for `names` into `dir`.
fn generate(dir: &Path, names: &[String], files: &GeneratedFiles) -> Result<(), String> {
    use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair};
    let error = |e: rcgen::Error| format!("generating a certificate in {}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(error)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let mut ca_name = DistinguishedName::new();
    ca_name.push(DnType::CommonName, files.authority_name);
    ca_params.distinguished_name = ca_name;
    let ca_key = KeyPair::generate().map_err(error)?;
    let ca = ca_params.self_signed(&ca_key).map_err(error)?;
    let leaf_key = KeyPair::generate().map_err(error)?;
    let leaf = CertificateParams::new(names.to_vec())
        .map_err(error)?
        .signed_by(&leaf_key, &ca, &ca_key)
        .map_err(error)?;
    for (name, pem) in [
        (files.ca, ca.pem()),
        (files.cert, leaf.pem()),
        (files.key, leaf_key.serialize_pem()),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, pem).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}
