//! The recorder's thin driver: a transparent proxy per link that forwards every octet at once,
//! in both directions, and hands a copy of the cleartext to the [`Recording`]. Over TLS it ends
//! the connecting component's TLS and speaks TLS upstream (from the first octet, or after IMAP's
//! STARTTLS); the provider API over TLS is relayed message by message ([`super::https`]).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::imap::MAX_LINE;
use super::tls::LinkTls;
use super::{ConnId, From, Link, Recording, What};

/// The most octets read at once: also the largest chunk a recorded event holds.
const CHUNK: usize = 16 * 1024;

/// One link the proxy sits on: it accepts on `listener` and connects each connection to
/// `upstream`.
pub struct ProxyLink {
    /// Which link.
    pub link: Link,
    /// Where the component that connects is pointed instead of at `upstream`.
    pub listener: TcpListener,
    /// The component connected to.
    pub upstream: SocketAddr,
    /// How long connecting upstream may take, and each TLS handshake.
    pub connect_timeout: Duration,
    /// Cleartext, TLS from the first octet, or STARTTLS.
    pub security: Security,
}

/// How a link is secured.
#[derive(Clone, Debug)]
pub enum Security {
    /// In the clear: every octet is forwarded as it comes.
    Cleartext,
    /// TLS from the first octet on both sides.
    Tls(LinkTls),
    /// IMAP in the clear up to the client's STARTTLS and the server's OK, then TLS on both
    /// sides.
    StartTls(LinkTls),
}

/// Shared between the proxy's tasks.
#[derive(Clone)]
pub(super) struct Shared {
    recording: Arc<Mutex<Recording>>,
    start: Instant,
}

impl Shared {
    /// Keeps `what` of `conn` (nothing past the connection limit, when `conn` is `None`).
    pub(super) fn record(&self, conn: Option<ConnId>, what: What) {
        self.record_at(conn, self.start.elapsed(), what);
    }

    fn record_at(&self, conn: Option<ConnId>, at: Duration, what: What) {
        let Some(conn) = conn else { return };
        if let Ok(mut r) = self.recording.lock() {
            r.record(conn, at, what);
        }
    }

    /// What `conn` forwarded so far was the exchange before STARTTLS.
    fn before_tls(&self, conn: Option<ConnId>) {
        let Some(conn) = conn else { return };
        if let Ok(mut r) = self.recording.lock() {
            r.before_tls(conn);
        }
    }

    fn open(&self, link: Link) -> Option<ConnId> {
        self.recording
            .lock()
            .ok()
            .and_then(|mut r| r.open(link).ok())
    }
}

/// The connections being forwarded, shared by the accept loops that start them and `stop`,
/// which waits for each to end so that nothing it records comes after the recording is taken.
type Connections = Arc<Mutex<JoinSet<()>>>;

/// A proxy running in the background.
pub struct Recorder {
    shared: Shared,
    tasks: JoinSet<()>,
    connections: Connections,
}

impl Recorder {
    /// Starts forwarding every connection of `links`.
    pub fn start(links: Vec<ProxyLink>) -> Self {
        let shared = Shared {
            recording: Arc::new(Mutex::new(Recording::new())),
            start: Instant::now(),
        };
        let connections = Connections::default();
        let mut tasks = JoinSet::new();
        for link in links {
            tasks.spawn(accept(link, shared.clone(), Arc::clone(&connections)));
        }
        Self {
            shared,
            tasks,
            connections,
        }
    }

    /// How many octets `from` sent on `link` so far (to wait for traffic to have happened).
    pub fn octets(&self, link: Link, from: From) -> usize {
        self.shared.recording.lock().map_or(0, |r| {
            r.events()
                .iter()
                .filter(|e| e.conn.link == link)
                .map(|e| match &e.what {
                    What::Data(f, octets) if *f == from => octets.len(),
                    _ => 0,
                })
                .sum()
        })
    }

    /// Stops forwarding (open connections are cut) and returns what was recorded.
    pub async fn stop(mut self) -> Recording {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        // No connection starts any more. A connection task may be in the middle of a step (a
        // failure seen as its client closed, about to be recorded): aborting takes effect at
        // its next wait, so joining it makes sure that step's record is in.
        let mut open = self
            .connections
            .lock()
            .map_or_else(|_| JoinSet::new(), |mut set| std::mem::take(&mut *set));
        open.abort_all();
        while open.join_next().await.is_some() {}
        let mut recording = self
            .shared
            .recording
            .lock()
            .map_or_else(|_| Recording::new(), |mut r| std::mem::take(&mut *r));
        if recording.is_empty() {
            recording.note("nothing was recorded: no component connected through the proxy");
        }
        recording
    }
}

/// Forwards every connection of `links` until `stop` completes, then returns what was
/// recorded. Connections still open at that moment are recorded up to it.
pub async fn run(links: Vec<ProxyLink>, stop: impl std::future::Future<Output = ()>) -> Recording {
    let recorder = Recorder::start(links);
    stop.await;
    recorder.stop().await
}

async fn accept(link: ProxyLink, shared: Shared, connections: Connections) {
    loop {
        let Ok((client, _)) = link.listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        let target = Target {
            link: link.link,
            upstream: link.upstream,
            wait: link.connect_timeout,
        };
        let security = link.security.clone();
        let Ok(mut connections) = connections.lock() else {
            return;
        };
        connections.spawn(async move {
            let conn = shared.open(target.link);
            let _ = client.set_nodelay(true);
            let forwarded = match security {
                Security::Cleartext => cleartext(client, &target, conn, &shared).await,
                Security::Tls(tls) if target.link == Link::Push => {
                    super::https::relay(client, &tls, &target, conn, &shared).await
                }
                Security::Tls(tls) => implicit_tls(client, &tls, &target, conn, &shared).await,
                Security::StartTls(tls) => starttls(client, &tls, &target, conn, &shared).await,
            };
            if let Err(why) = forwarded {
                shared.record(conn, What::Failed(why));
            }
        });
        // Reap finished connections so that the set does not grow for ever.
        while connections.try_join_next().is_some() {}
    }
}

/// Where one link's connections go.
pub(super) struct Target {
    pub(super) link: Link,
    pub(super) upstream: SocketAddr,
    /// How long connecting and each TLS handshake may take.
    pub(super) wait: Duration,
}

impl Target {
    /// A TCP connection to the upstream.
    pub(super) async fn connect(&self) -> Result<TcpStream, String> {
        let (upstream, wait) = (self.upstream, self.wait);
        let server = match tokio::time::timeout(wait, TcpStream::connect(upstream)).await {
            Ok(Ok(server)) => server,
            Ok(Err(e)) => return Err(format!("the upstream {upstream} is unreachable: {e}")),
            Err(_) => {
                return Err(format!(
                    "the upstream {upstream} did not accept within {wait:?}"
                ));
            }
        };
        let _ = server.set_nodelay(true);
        Ok(server)
    }

    /// The TLS handshake of the component that connected.
    pub(super) async fn accept(
        &self,
        tls: &LinkTls,
        client: TcpStream,
    ) -> Result<tokio_rustls::server::TlsStream<TcpStream>, String> {
        match tokio::time::timeout(self.wait, tls.acceptor.accept(client)).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(format!("the client's TLS handshake failed: {e}")),
            Err(_) => Err(format!(
                "the client's TLS handshake took longer than {:?}",
                self.wait
            )),
        }
    }

    /// The TLS handshake with the upstream over `server`.
    pub(super) async fn secure(
        &self,
        tls: &crate::runner::net::TlsClient,
        server: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
        match tokio::time::timeout(self.wait, tls.handshake(server, self.upstream)).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(format!("the upstream's {e}")),
            Err(_) => Err(format!(
                "the TLS handshake with the upstream {} took longer than {:?}",
                self.upstream, self.wait
            )),
        }
    }
}

/// Connects to the upstream. A failure is recorded before the client's connection is closed, so
/// that whoever sees the close and stops the recorder finds the note in the recording.
pub(super) async fn connect_or_record(
    target: &Target,
    conn: Option<ConnId>,
    shared: &Shared,
) -> Option<TcpStream> {
    match target.connect().await {
        Ok(server) => Some(server),
        Err(why) => {
            shared.record(conn, What::Failed(why));
            None
        }
    }
}

async fn cleartext(
    client: TcpStream,
    target: &Target,
    conn: Option<ConnId>,
    shared: &Shared,
) -> Result<(), String> {
    let Some(server) = connect_or_record(target, conn, shared).await else {
        return Ok(());
    };
    relay(client, server, conn, shared).await;
    Ok(())
}

/// TLS from the first octet: the upstream is reached first, so that a client is never told
/// more than the upstream would have told it.
async fn implicit_tls(
    client: TcpStream,
    tls: &LinkTls,
    target: &Target,
    conn: Option<ConnId>,
    shared: &Shared,
) -> Result<(), String> {
    let Some(server) = connect_or_record(target, conn, shared).await else {
        return Ok(());
    };
    let server = target.secure(&tls.upstream, server).await?;
    let client = target.accept(tls, client).await?;
    shared.record(conn, What::Secured("TLS from the first octet".into()));
    relay(client, server, conn, shared).await;
    Ok(())
}

/// What the exchange before STARTTLS ended in.
enum Phase {
    /// The server accepted STARTTLS: both sides go on over TLS.
    Upgrade,
    /// Something the line-by-line relay does not follow (a literal, a continuation, a
    /// greeting other than OK): the rest is forwarded as it comes, in the clear.
    Clear,
    /// One end closed the connection.
    Closed(From),
}

/// IMAP in the clear, line by line, up to STARTTLS and its OK; then TLS on both sides. The
/// lines are recorded as they pass, and turned into [`What::BeforeTls`] when the upgrade
/// happens.
async fn starttls(
    client: TcpStream,
    tls: &LinkTls,
    target: &Target,
    conn: Option<ConnId>,
    shared: &Shared,
) -> Result<(), String> {
    let Some(server) = connect_or_record(target, conn, shared).await else {
        return Ok(());
    };
    let mut client = BufReader::new(client);
    let mut server = BufReader::new(server);
    let phase = before_tls(&mut client, &mut server, conn, shared).await;
    if matches!(phase, Ok(Phase::Upgrade)) {
        shared.before_tls(conn);
    }
    match phase? {
        Phase::Closed(from) => {
            shared.record(conn, What::Closed(from));
            Ok(())
        }
        Phase::Clear => {
            // What the line reader had already taken from either side goes on first.
            let from_client = client.buffer().to_vec();
            let from_server = server.buffer().to_vec();
            let (mut client, mut server) = (client.into_inner(), server.into_inner());
            for (octets, side, to) in [
                (from_client, From::Client, &mut server),
                (from_server, From::Server, &mut client),
            ] {
                if !octets.is_empty() {
                    shared.record(conn, What::Data(side, octets.clone()));
                    to.write_all(&octets)
                        .await
                        .map_err(|e| format!("forwarding: {e}"))?;
                }
            }
            relay(client, server, conn, shared).await;
            Ok(())
        }
        Phase::Upgrade => {
            if !client.buffer().is_empty() || !server.buffer().is_empty() {
                // Octets sent in the clear after STARTTLS's OK would be taken as sent under
                // TLS (a command injection): refused, as servers and clients must.
                return Err(
                    "octets sent in the clear after STARTTLS and its OK, before the TLS handshake"
                        .into(),
                );
            }
            let server = target.secure(&tls.upstream, server.into_inner()).await?;
            let client = target.accept(tls, client.into_inner()).await?;
            shared.record(
                conn,
                What::Secured(
                    "STARTTLS, then TLS; the exchange before it is in comments, and the case plays over TLS from the first octet (IMAPS)".into(),
                ),
            );
            relay(client, server, conn, shared).await;
            Ok(())
        }
    }
}

/// Relays the greeting, then each command and the responses up to its tagged one, until the
/// server accepts STARTTLS or the exchange leaves what one line at a time can follow.
async fn before_tls(
    client: &mut BufReader<TcpStream>,
    server: &mut BufReader<TcpStream>,
    conn: Option<ConnId>,
    shared: &Shared,
) -> Result<Phase, String> {
    let greeting = pass_line(server, client.get_mut(), From::Server, conn, shared).await?;
    if greeting.is_empty() {
        return Ok(Phase::Closed(From::Server));
    }
    if !greeting.starts_with(b"* OK") || !greeting.ends_with(b"\n") {
        return Ok(Phase::Clear);
    }
    loop {
        let command = pass_line(client, server.get_mut(), From::Client, conn, shared).await?;
        if command.is_empty() {
            return Ok(Phase::Closed(From::Client));
        }
        let text = String::from_utf8_lossy(&command);
        let text = text.trim_end_matches(['\r', '\n']);
        let Some((tag, name)) = text.split_once(' ') else {
            return Ok(Phase::Clear);
        };
        if !command.ends_with(b"\n") || text.ends_with('}') {
            return Ok(Phase::Clear);
        }
        let starttls = name.eq_ignore_ascii_case("STARTTLS");
        loop {
            let reply = pass_line(server, client.get_mut(), From::Server, conn, shared).await?;
            if reply.is_empty() {
                return Ok(Phase::Closed(From::Server));
            }
            if reply.starts_with(b"+") || !reply.ends_with(b"\n") {
                return Ok(Phase::Clear);
            }
            let reply = String::from_utf8_lossy(&reply);
            if let Some(status) = reply.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')) {
                if starttls
                    && status
                        .get(..2)
                        .is_some_and(|s| s.eq_ignore_ascii_case("ok"))
                {
                    return Ok(Phase::Upgrade);
                }
                break;
            }
        }
    }
}

/// Forwards one line (at most [`MAX_LINE`] octets) from `from` to `to`; the line, empty when
/// `from` closed.
async fn pass_line<W: AsyncWrite + Unpin>(
    from: &mut BufReader<TcpStream>,
    to: &mut W,
    side: From,
    conn: Option<ConnId>,
    shared: &Shared,
) -> Result<Vec<u8>, String> {
    let mut line = Vec::new();
    (&mut *from)
        .take(MAX_LINE as u64)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| format!("reading: {e}"))?;
    if !line.is_empty() {
        shared.record(conn, What::Data(side, line.clone()));
        to.write_all(&line)
            .await
            .map_err(|e| format!("forwarding: {e}"))?;
    }
    Ok(line)
}

/// Copies both ways until both ends closed.
async fn relay(
    client: impl AsyncRead + AsyncWrite + Unpin,
    server: impl AsyncRead + AsyncWrite + Unpin,
    conn: Option<ConnId>,
    shared: &Shared,
) {
    let (client_read, client_write) = tokio::io::split(client);
    let (server_read, server_write) = tokio::io::split(server);
    let up = copy(client_read, server_write, conn, From::Client, shared);
    let down = copy(server_read, client_write, conn, From::Server, shared);
    tokio::join!(up, down);
}

async fn copy(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    conn: Option<ConnId>,
    side: From,
    shared: &Shared,
) {
    let mut buffer = vec![0u8; CHUNK];
    loop {
        match from.read(&mut buffer).await {
            Ok(0) => {
                shared.record(conn, What::Closed(side));
                break;
            }
            Ok(n) => {
                // Recorded before it is forwarded, so that a reply it causes can never be
                // recorded ahead of it; keeping a copy takes microseconds.
                shared.record(conn, What::Data(side, buffer[..n].to_vec()));
                if let Err(e) = to.write_all(&buffer[..n]).await {
                    shared.record(conn, What::Failed(format!("forwarding: {e}")));
                    break;
                }
            }
            // A TLS peer that closes without close_notify: a close all the same, as most
            // clients end their connections.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                shared.record(conn, What::Closed(side));
                break;
            }
            Err(e) => {
                shared.record(conn, What::Failed(format!("reading: {e}")));
                break;
            }
        }
    }
    let _ = to.shutdown().await;
}
