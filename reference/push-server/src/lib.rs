//! The mailpush push notification server: the provider API of spec/provider-api.md (an RFC 8030
//! profile) and the device channel of spec/device-channel.md over TLS, with per-device offline
//! rings kept in a durable store (SQLite by default).
//!
//! The protocol logic lives in the sans-IO crates `mailpush-push-proto` (the device channel)
//! and `mailpush-push-core` (the provider API's decisions); this crate owns sockets, time, TLS
//! and storage.
#![forbid(unsafe_code)]

pub mod channel;
pub mod config;
pub mod http;
pub mod hub;
pub mod store;
pub mod tls;
mod trace;

use std::net::SocketAddr;
use std::sync::Arc;

use mailpush_push_proto::Timestamp;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{PushServerArgs, Settings};
pub use hub::Hub;
pub use store::{MemoryStore, SqliteStore, Store};
pub use tls::TlsMaterial;

/// Errors of the push server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushServerError {
    /// The configuration is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// A listener could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// TLS material could not be loaded or generated.
    #[error("tls: {0}")]
    Tls(#[from] mailpush_tls::TlsError),
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    /// Other I/O failure.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// The accept loop both listeners run (the provider API's in `http` too).
pub(crate) use mailpush_driver::accept_loop;

/// The server's clock: wall time at start plus the tokio clock's progress, so tests on paused
/// tokio time move it too.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    base_ms: u64,
    base: tokio::time::Instant,
}

impl Clock {
    /// A clock starting at the current wall time.
    pub fn new() -> Self {
        let base_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Self {
            base_ms,
            base: tokio::time::Instant::now(),
        }
    }

    /// Now.
    pub fn now(&self) -> Timestamp {
        let elapsed = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        Timestamp(self.base_ms.saturating_add(elapsed))
    }

    /// The tokio instant of a timestamp.
    pub fn instant_at(&self, at: Timestamp) -> tokio::time::Instant {
        self.base + std::time::Duration::from_millis(at.0.saturating_sub(self.base_ms))
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

/// A running server.
pub struct RunningServer {
    /// Where the device channel listens.
    pub device_addr: SocketAddr,
    /// Where the provider API listens.
    pub http_addr: SocketAddr,
    /// The TLS material, `None` when plain on loopback.
    pub tls: Option<TlsMaterial>,
    /// The shared state (metrics, store).
    pub hub: Arc<Hub>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningServer {
    /// Stops accepting, closes sessions with `going-away`, and waits for the listeners.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Opens the store the settings name.
pub fn open_store(settings: &Settings) -> Result<Arc<dyn Store>, PushServerError> {
    Ok(match &settings.database {
        Some(path) => Arc::new(SqliteStore::open(path)?),
        None => Arc::new(MemoryStore::new()),
    })
}

/// Binds both listeners and starts serving.
pub async fn start(
    settings: Settings,
    store: Arc<dyn Store>,
) -> Result<RunningServer, PushServerError> {
    settings.validate()?;
    let tls = if settings.plain_loopback {
        None
    } else {
        Some(match &settings.tls {
            Some((cert, key)) => TlsMaterial::from_pem(cert, key, tls::ALPN)?,
            None => TlsMaterial::self_signed(tls::ALPN)?,
        })
    };
    let bind = |address: SocketAddr| async move {
        TcpListener::bind(address)
            .await
            .map_err(|source| PushServerError::Bind { address, source })
    };
    let device_listener = bind(settings.device_listen).await?;
    let http_listener = bind(settings.http_listen).await?;
    let device_addr = device_listener.local_addr()?;
    let http_addr = http_listener.local_addr()?;
    let hub = Hub::new(settings, store);
    let clock = Clock::new();
    let (shutdown, watcher) = watch::channel(false);
    let tasks = vec![
        tokio::spawn(channel::run_listener(
            device_listener,
            tls.clone(),
            Arc::clone(&hub),
            clock,
            watcher.clone(),
        )),
        tokio::spawn(http::run_listener(
            http_listener,
            tls.clone(),
            Arc::clone(&hub),
            clock,
            watcher,
        )),
    ];
    Ok(RunningServer {
        device_addr,
        http_addr,
        tls,
        hub,
        shutdown,
        tasks,
    })
}

/// `mailpush push-server`: runs until Ctrl-C.
pub async fn run_cli(args: PushServerArgs) -> Result<(), PushServerError> {
    let settings = Settings::from_args(&args)?;
    if settings.provider_tokens.is_empty() {
        tracing::warn!("no provider token configured: every push will be refused with 401");
    }
    let store = open_store(&settings)?;
    let server = start(settings, store).await?;
    tracing::info!(
        device = %server.device_addr,
        http = %server.http_addr,
        tls = server.tls.is_some(),
        "push server listening"
    );
    println!(
        "push server: device channel on {}, provider API on {} ({})",
        server.device_addr,
        server.http_addr,
        if server.tls.is_some() {
            "TLS"
        } else {
            "plain, loopback only"
        }
    );
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}
