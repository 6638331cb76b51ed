//! The recorder's thin driver: a transparent TCP proxy per link that forwards every octet at
//! once, in both directions, and hands a copy to the [`Recording`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::Instant;

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
    /// How long connecting upstream may take.
    pub connect_timeout: Duration,
}

/// Shared between the proxy's tasks.
#[derive(Clone)]
struct Shared {
    recording: Arc<Mutex<Recording>>,
    start: Instant,
}

impl Shared {
    fn record(&self, conn: ConnId, what: What) {
        let at = self.start.elapsed();
        if let Ok(mut r) = self.recording.lock() {
            r.record(conn, at, what);
        }
    }

    fn open(&self, link: Link) -> Option<ConnId> {
        self.recording
            .lock()
            .ok()
            .and_then(|mut r| r.open(link).ok())
    }
}

/// A proxy running in the background.
pub struct Recorder {
    shared: Shared,
    tasks: JoinSet<()>,
}

impl Recorder {
    /// Starts forwarding every connection of `links`.
    pub fn start(links: Vec<ProxyLink>) -> Self {
        let shared = Shared {
            recording: Arc::new(Mutex::new(Recording::new())),
            start: Instant::now(),
        };
        let mut tasks = JoinSet::new();
        for link in links {
            tasks.spawn(accept(link, shared.clone()));
        }
        Self { shared, tasks }
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

async fn accept(link: ProxyLink, shared: Shared) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((client, _)) = link.listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        let upstream = link.upstream;
        let wait = link.connect_timeout;
        let kind = link.link;
        connections.spawn(async move {
            let conn = shared.open(kind);
            forward(client, upstream, wait, conn, shared).await;
        });
        // Reap finished connections so that the set does not grow for ever.
        while connections.try_join_next().is_some() {}
    }
}

/// One connection: connects upstream, then copies both ways. `conn` is `None` past the
/// recording's connection limit: such a connection is forwarded but not recorded.
async fn forward(
    client: TcpStream,
    upstream: SocketAddr,
    wait: Duration,
    conn: Option<ConnId>,
    shared: Shared,
) {
    let _ = client.set_nodelay(true);
    let server = match tokio::time::timeout(wait, TcpStream::connect(upstream)).await {
        Ok(Ok(server)) => server,
        Ok(Err(e)) => {
            if let Some(conn) = conn {
                shared.record(
                    conn,
                    What::Failed(format!("the upstream {upstream} is unreachable: {e}")),
                );
            }
            return;
        }
        Err(_) => {
            if let Some(conn) = conn {
                shared.record(
                    conn,
                    What::Failed(format!(
                        "the upstream {upstream} did not accept within {wait:?}"
                    )),
                );
            }
            return;
        }
    };
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = copy(
        client_read,
        server_write,
        conn,
        From::Client,
        shared.clone(),
    );
    let down = copy(server_read, client_write, conn, From::Server, shared);
    tokio::join!(up, down);
}

async fn copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    conn: Option<ConnId>,
    side: From,
    shared: Shared,
) {
    let mut buffer = vec![0u8; CHUNK];
    loop {
        match from.read(&mut buffer).await {
            Ok(0) => {
                if let Some(conn) = conn {
                    shared.record(conn, What::Closed(side));
                }
                break;
            }
            Ok(n) => {
                // Recorded before it is forwarded, so that a reply it causes can never be
                // recorded ahead of it; keeping a copy takes microseconds.
                if let Some(conn) = conn {
                    shared.record(conn, What::Data(side, buffer[..n].to_vec()));
                }
                let sent = to.write_all(&buffer[..n]).await;
                if let Err(e) = sent {
                    if let Some(conn) = conn {
                        shared.record(conn, What::Failed(format!("forwarding: {e}")));
                    }
                    break;
                }
            }
            Err(e) => {
                if let Some(conn) = conn {
                    shared.record(conn, What::Failed(format!("reading: {e}")));
                }
                break;
            }
        }
    }
    let _ = to.shutdown().await;
}
