//! The tokio driver: listeners, one task per connection driving a [`Session`] of the IMAP
//! server core, TLS (IMAPS and STARTTLS), the change feed between sessions and the push
//! notifier.
//!
//! The session core stays sans-IO; this module owns the sockets, the clocks and the blocking
//! pool. Every session call that may touch the store (input, other sessions' changes) runs on
//! tokio's blocking pool, so a slow disk never stalls the runtime's workers.

mod cli;
mod push;
mod tls;

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use mailpush_driver::{Stream, accept_loop, sleep_until};
use mailpush_imap_server::{Concern, Config, Event, Now, Session};
use mailpush_mail_store::{Change, Store, UserId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, broadcast, mpsc, watch};
use tokio::task::JoinHandle;

pub use cli::{MailServerArgs, UserArgs, UserCommand, run_cli, run_user};
pub use push::{DEFAULT_QUEUE_CAPACITY, PushSettings};
pub use tls::TlsMaterial;

/// Why the mail server could not start or a tool failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailServerError {
    /// A listener could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The certificate or key could not be loaded or used.
    #[error("TLS: {0}")]
    Tls(#[from] mailpush_tls::TlsError),
    /// The store failed (opening the database, a user command).
    #[error("store: {0}")]
    Store(#[from] mailpush_mail_store::Error),
    /// A `mailpush user` command failed.
    #[error("cannot {action} user {name:?}: {source}")]
    User {
        /// What was tried: `add`, `change the password of`, `delete`.
        action: &'static str,
        /// The user name.
        name: String,
        /// Why.
        source: mailpush_mail_store::Error,
    },
    /// The configuration is wrong.
    #[error("configuration: {0}")]
    Config(String),
    /// An I/O error outside a connection (reading a file, the terminal).
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// How the mail server runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The plain IMAP listener (STARTTLS offered), if any.
    pub imap_listen: Option<SocketAddr>,
    /// The IMAPS listener (TLS from the first octet), if any.
    pub imaps_listen: Option<SocketAddr>,
    /// A PEM certificate chain and key; `None` generates a self-signed certificate.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Limits and policy of each session. `allow_plaintext_auth` is ignored: the driver sets it
    /// per connection from [`Settings::allow_plaintext_loopback`].
    pub session: Config,
    /// Allow LOGIN and AUTHENTICATE without TLS on loopback connections (never elsewhere).
    pub allow_plaintext_loopback: bool,
    /// Most connections at once; more are answered `BYE [UNAVAILABLE]`.
    pub max_connections: usize,
    /// Most connections at once from one IP address.
    pub max_connections_per_ip: usize,
    /// Longest a TLS handshake may take.
    pub handshake_timeout: Duration,
    /// Where pushes go; `None` sends none.
    pub push: Option<PushSettings>,
    /// Most change batches the feed between sessions holds for a session that has not taken
    /// them yet (default 1024, from 1 to [`MAX_CHANGE_FEED_CAPACITY`]); a session that falls
    /// further behind asks the store instead.
    pub change_feed_capacity: usize,
    /// Where the protocol trace goes (spec/trace.md): registrations, changes, push requests.
    /// Off by default.
    pub trace: mailpush_trace::Tracer,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            imap_listen: Some(SocketAddr::from(([127, 0, 0, 1], 1143))),
            imaps_listen: None,
            tls: None,
            session: Config::default(),
            allow_plaintext_loopback: false,
            max_connections: 1000,
            max_connections_per_ip: 100,
            handshake_timeout: Duration::from_secs(10),
            push: None,
            change_feed_capacity: 1024,
            trace: mailpush_trace::Tracer::off(),
        }
    }
}

/// Most trace records a session holds between two turns of its task.
const TRACE_BUFFER: usize = 4096;

/// Largest [`Settings::change_feed_capacity`] taken; more is this.
pub const MAX_CHANGE_FEED_CAPACITY: usize = 1 << 20;

/// Changes of one session, for the others.
#[derive(Debug)]
struct Broadcast {
    origin: u64,
    changes: Vec<Change>,
}

/// What every connection task shares.
struct Shared {
    store: Arc<Store>,
    settings: Settings,
    tls: TlsMaterial,
    changes: broadcast::Sender<Arc<Broadcast>>,
    connections: Arc<Semaphore>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    next_id: std::sync::atomic::AtomicU64,
}

/// Frees a per-IP slot when the connection ends.
struct IpSlot {
    shared: Arc<Shared>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut map = self
            .shared
            .per_ip
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = map.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

impl Shared {
    fn ip_slot(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let mut map = self
            .per_ip
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = map.entry(ip).or_insert(0);
        if *count >= self.settings.max_connections_per_ip {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            shared: Arc::clone(self),
            ip,
        })
    }
}

/// The driver's clock as the session wants it. Tokio's clock, so tests on paused time move it.
fn now() -> Now {
    Now {
        instant: tokio::time::Instant::now().into_std(),
        wall: SystemTime::now(),
    }
}

/// A running mail server.
pub struct RunningMailServer {
    /// Where the plain IMAP listener is, if any.
    pub imap_addr: Option<SocketAddr>,
    /// Where the IMAPS listener is, if any.
    pub imaps_addr: Option<SocketAddr>,
    /// The server's TLS material (clients of a generated certificate trust its leaf).
    pub tls: TlsMaterial,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for RunningMailServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningMailServer")
            .field("imap_addr", &self.imap_addr)
            .field("imaps_addr", &self.imaps_addr)
            .finish_non_exhaustive()
    }
}

impl RunningMailServer {
    /// Stops accepting, says `BYE` to every session and waits until they are gone.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// Bound listeners for [`run`].
#[derive(Debug, Default)]
pub struct Listeners {
    /// Plain IMAP (STARTTLS offered).
    pub imap: Option<TcpListener>,
    /// IMAPS.
    pub imaps: Option<TcpListener>,
}

/// Binds the configured listeners, builds the TLS material and starts [`run`] on a task.
pub async fn start(
    settings: Settings,
    store: Arc<Store>,
) -> Result<RunningMailServer, MailServerError> {
    if let Some(push) = &settings.push {
        push.client()?;
    }
    let tls = match &settings.tls {
        Some((cert, key)) => TlsMaterial::from_pem(cert, key, tls::ALPN)?,
        None => TlsMaterial::self_signed(tls::ALPN)?,
    };
    let bind = |address: SocketAddr| async move {
        TcpListener::bind(address)
            .await
            .map_err(|source| MailServerError::Bind { address, source })
    };
    let imap = match settings.imap_listen {
        Some(address) => Some(bind(address).await?),
        None => None,
    };
    let imaps = match settings.imaps_listen {
        Some(address) => Some(bind(address).await?),
        None => None,
    };
    if imap.is_none() && imaps.is_none() {
        return Err(MailServerError::Config(
            "no listener: give an IMAP or an IMAPS address".to_owned(),
        ));
    }
    let imap_addr = imap.as_ref().map(TcpListener::local_addr).transpose()?;
    let imaps_addr = imaps.as_ref().map(TcpListener::local_addr).transpose()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(run(
        Listeners { imap, imaps },
        settings,
        tls.clone(),
        store,
        async move {
            let _ = rx.await;
        },
    ));
    Ok(RunningMailServer {
        imap_addr,
        imaps_addr,
        tls,
        shutdown: Some(tx),
        task,
    })
}

/// Serves `listeners` until `shutdown` completes, then says `BYE` to every session and returns
/// once all of them are gone (the mini-redis shape).
pub async fn run(
    listeners: Listeners,
    settings: Settings,
    tls: TlsMaterial,
    store: Arc<Store>,
    shutdown: impl Future<Output = ()>,
) {
    let (changes, _) = broadcast::channel(
        settings
            .change_feed_capacity
            .clamp(1, MAX_CHANGE_FEED_CAPACITY),
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every connection task holds a clone; when all are dropped, the last session is gone.
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let mut tasks = Vec::new();
    let notifier = settings.push.clone().and_then(|push| {
        let client = match push.client() {
            Ok(client) => client,
            Err(error) => {
                tracing::error!(%error, "no pushes will be sent");
                return None;
            }
        };
        let (tx, rx) = push::PushQueue::new(push.queue_capacity);
        tasks.push(tokio::spawn(push::run_notifier(
            client,
            push,
            Arc::clone(&store),
            rx,
            settings.trace.clone(),
            stop_rx.clone(),
        )));
        Some(tx)
    });
    //= spec/provider-api.md#PROV-38
    //# The mail server MAY send the push request of a change before the change's commit is
    //# durable
    // The store tells the notifier of a write's changes while it flushes the commit: the request
    // is on its way during the flush, and the store's reads wait for the commit.
    let announcing = notifier.map(|queue| {
        store.announce_changes(Some(Arc::new(move |changes: &[Change]| {
            queue.send(changes.to_vec());
        })));
        Arc::clone(&store)
    });
    let shared = Arc::new(Shared {
        store,
        connections: Arc::new(Semaphore::new(settings.max_connections)),
        settings,
        tls,
        changes,
        per_ip: Mutex::new(HashMap::new()),
        next_id: std::sync::atomic::AtomicU64::new(1),
    });
    if let Some(listener) = listeners.imap {
        let (shared, done) = (Arc::clone(&shared), done_tx.clone());
        tasks.push(tokio::spawn(accept_loop(
            listener,
            "imap",
            stop_rx.clone(),
            move |socket, peer, stop| admit(socket, peer, false, &shared, stop, &done),
        )));
    }
    if let Some(listener) = listeners.imaps {
        let (shared, done) = (Arc::clone(&shared), done_tx.clone());
        tasks.push(tokio::spawn(accept_loop(
            listener,
            "imaps",
            stop_rx.clone(),
            move |socket, peer, stop| admit(socket, peer, true, &shared, stop, &done),
        )));
    }
    drop(done_tx);
    shutdown.await;
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = task.await;
    }
    drop(shared);
    let _ = done_rx.recv().await;
    if let Some(store) = announcing {
        store.announce_changes(None);
    }
}

/// Admits a connection within the limits (one task serving it), or refuses it with a reason.
fn admit(
    socket: TcpStream,
    peer: SocketAddr,
    implicit_tls: bool,
    shared: &Arc<Shared>,
    stop: watch::Receiver<bool>,
    done: &mpsc::Sender<()>,
) -> impl Future<Output = ()> + Send + use<> {
    let shared = Arc::clone(shared);
    let admitted = match Arc::clone(&shared.connections).try_acquire_owned() {
        Err(_) => Err("Too many connections"),
        Ok(permit) => match shared.ip_slot(peer.ip()) {
            None => Err("Too many connections from your address"),
            Some(slot) => Ok((permit, slot, done.clone())),
        },
    };
    async move {
        let (permit, slot, done) = match admitted {
            Ok(admitted) => admitted,
            Err(why) => return refuse(socket, implicit_tls, &shared, why).await,
        };
        let id = shared
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Err(error) = serve(socket, peer, implicit_tls, id, &shared, stop).await {
            tracing::debug!(%peer, %error, "connection ended");
        }
        drop(slot);
        drop(permit);
        drop(done);
    }
}

/// Tells a connection over the limits why it is closed (RFC 5530 `UNAVAILABLE`).
async fn refuse(socket: TcpStream, implicit_tls: bool, shared: &Shared, why: &str) {
    let line = format!("* BYE [UNAVAILABLE] {why}\r\n");
    let timeout = shared.settings.handshake_timeout;
    let _ = tokio::time::timeout(timeout, async move {
        let mut stream = if implicit_tls {
            Stream::accept_tls(socket, &shared.tls.acceptor, timeout).await?
        } else {
            Stream::Plain(socket)
        };
        stream.write_all(line.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}

type StoreSession = Session<Arc<Store>>;

/// Runs `f` on the session on the blocking pool (it may wait for the store).
async fn on_blocking<F>(mut session: StoreSession, f: F) -> std::io::Result<StoreSession>
where
    F: FnOnce(&mut StoreSession) + Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        f(&mut session);
        session
    })
    .await
    .map_err(std::io::Error::other)
}

async fn serve(
    socket: TcpStream,
    peer: SocketAddr,
    implicit_tls: bool,
    id: u64,
    shared: &Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let timeout = shared.settings.handshake_timeout;
    let mut stream = if implicit_tls {
        Stream::accept_tls(socket, &shared.tls.acceptor, timeout).await?
    } else {
        Stream::Plain(socket)
    };
    let mut config = shared.settings.session.clone();
    config.allow_plaintext_auth =
        shared.settings.allow_plaintext_loopback && peer.ip().is_loopback();
    let mut changes = shared.changes.subscribe();
    let mut session = Session::new(Arc::clone(&shared.store), config, implicit_tls, now());
    let tracer = &shared.settings.trace;
    if tracer.is_on() {
        session.set_trace(mailpush_trace::TraceBuffer::on(TRACE_BUFFER));
    }
    let mut user: Option<UserId> = None;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        // Before the replies and events go out, so that a registration or change is in the trace
        // before anything it causes.
        tracer.drain(session.trace_buffer());
        // Committed changes go to the other sessions before this session's replies are written
        // (the notifier heard of them from the store, before their commit); the other events
        // act on the stream after the replies.
        let mut after_output = Vec::new();
        while let Some(event) = session.poll_event() {
            match event {
                Event::Changes(list) => {
                    // Nobody listening is fine: no other session is open.
                    let _ = shared.changes.send(Arc::new(Broadcast {
                        origin: id,
                        changes: list,
                    }));
                }
                other => after_output.push(other),
            }
        }
        let mut wrote = false;
        while let Some(bytes) = session.poll_output() {
            stream.write_all(&bytes).await?;
            wrote = true;
        }
        if wrote {
            // TLS holds written octets in a record until flushed.
            stream.flush().await?;
        }
        let mut closed = false;
        for event in after_output {
            match event {
                Event::StartTls => {
                    stream = stream.start_tls(&shared.tls.acceptor, timeout).await?;
                    session.tls_established();
                }
                Event::Authenticated { user: who } => user = Some(who),
                Event::Closed => closed = true,
                // An event of a newer core that this driver does not act on.
                _ => {}
            }
        }
        if closed || session.is_closed() {
            let _ = stream.shutdown().await;
            return Ok(());
        }
        let deadline = session.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            read = stream.read(&mut buf) => {
                let n = read?;
                if n == 0 {
                    return Ok(());
                }
                let data = buf[..n].to_vec();
                let at = now();
                session = on_blocking(session, move |s| s.handle_input(&data, at)).await?;
            }
            received = changes.recv() => match received {
                Ok(broadcast) => {
                    let mine: Vec<Change> = match user {
                        Some(me) if broadcast.origin != id => broadcast
                            .changes
                            .iter()
                            .filter(|c| c.user == me)
                            .cloned()
                            .collect(),
                        _ => Vec::new(),
                    };
                    match session.concerned_by(&mine) {
                        Concern::None => {}
                        // Only a flag to set: not worth a trip through the blocking pool.
                        Concern::Remember => session.handle_changes(&mine, now()),
                        Concern::Store => {
                            let at = now();
                            session =
                                on_blocking(session, move |s| s.handle_changes(&mine, at)).await?;
                        }
                    }
                }
                // The feed dropped changes this session had not taken: it asks the store, at
                // once in IDLE, at its next command otherwise.
                //= spec/architecture.md#ARCH-8
                //# A server whose internal feed of changes between sessions drops changes MUST
                //# treat the selected mailbox of every session that missed them as changed, read
                //# its state again and send the difference.
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(%peer, missed, "change feed lagged behind");
                    let at = now();
                    session = on_blocking(session, move |s| s.handle_changes_lost(at)).await?;
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
            () = sleep_until(deadline) => session.handle_timeout(now()),
            _ = stop.changed() => {
                let _ = stream.write_all(b"* BYE Server shutting down\r\n").await;
                let _ = stream.shutdown().await;
                return Ok(());
            }
        }
    }
}
