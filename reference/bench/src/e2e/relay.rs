//! A loopback TCP relay that notes when bytes pass in each direction: the bench puts one between
//! the mail server and the push server's provider API, and one between device B and the device
//! channel, to see when a request leaves, when its answer comes back and when a frame reaches
//! the device, without any hook inside the components. TLS passes through untouched.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// When bytes passed, per direction, since the last [`Relay::clear`].
#[derive(Default)]
struct Seen {
    /// Client to server (towards the listener's target).
    upstream: Vec<Instant>,
    /// Server to client.
    downstream: Vec<Instant>,
}

/// A running relay; dropping it stops accepting (open connections end with their peers).
pub(super) struct Relay {
    /// Where clients connect.
    pub(super) addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    task: JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Relay {
    /// Listens on a loopback port of the OS's choosing and relays each connection to `target`.
    pub(super) async fn start(target: SocketAddr) -> std::io::Result<Relay> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(target).await else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pipe(client_read, server_write, Arc::clone(&shared), true));
                tokio::spawn(pipe(server_read, client_write, Arc::clone(&shared), false));
            }
        });
        Ok(Relay { addr, seen, task })
    }

    /// Forgets what passed so far.
    pub(super) fn clear(&self) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.upstream.clear();
            seen.downstream.clear();
        }
    }

    /// The first time bytes went towards the target at or after `from`.
    pub(super) fn first_upstream(&self, from: Instant) -> Option<Instant> {
        let seen = self.seen.lock().ok()?;
        seen.upstream.iter().copied().find(|t| *t >= from)
    }

    /// The first time bytes came back from the target at or after `from`.
    pub(super) fn first_downstream(&self, from: Instant) -> Option<Instant> {
        let seen = self.seen.lock().ok()?;
        seen.downstream.iter().copied().find(|t| *t >= from)
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    seen: Arc<Mutex<Seen>>,
    upstream: bool,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let at = Instant::now();
        if let Ok(mut seen) = seen.lock() {
            // Bounded: the bench clears between notes; a long idle stretch of keepalives stays
            // far below this.
            let list = if upstream {
                &mut seen.upstream
            } else {
                &mut seen.downstream
            };
            if list.len() < 1_000_000 {
                list.push(at);
            }
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
