//! What the mailpush tokio drivers share, and nothing of any protocol: the accept loop every
//! listener runs, a connection that is plain TCP or TLS (and may turn TLS half-way, as IMAP's
//! STARTTLS does), and a sleep until an optional deadline, the shape of a sans-IO core's
//! `poll_timeout`.
//!
//! The protocol cores (`mailpush-imap-server`, `mailpush-push-proto`) know nothing of this
//! crate; the drivers (`mailpush-mail-server`, `mailpush-push-server`, the load tools) build on
//! it.
#![forbid(unsafe_code)]

mod stream;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub use stream::Stream;

/// How long the accept loop waits after a failed `accept` before it tries again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Accepts connections on `listener` until `shutdown` changes, handing each to `serve` and
/// running the future it returns on a task of its own. `serve` runs on the accept loop itself,
/// so it can refuse a connection over a limit before anything is spawned; it gets a clone of
/// `shutdown` for the connection to watch. `what` names the listener in logs.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    what: &'static str,
    mut shutdown: watch::Receiver<bool>,
    mut serve: F,
) where
    F: FnMut(TcpStream, SocketAddr, watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, listener = what, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        // Protocol lines are small and answer each other: Nagle's delay would only add latency.
        let _ = socket.set_nodelay(true);
        tokio::spawn(serve(socket, peer, shutdown.clone()));
    }
}

/// Sleeps until `deadline`, or forever when there is none: the branch of a `select!` over a
/// sans-IO core's `poll_timeout`.
pub async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Every accepted connection is served on its own task, with the shutdown watch; a change
    /// of the watch ends the loop.
    #[tokio::test]
    async fn serves_each_connection_until_shutdown() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, watcher) = watch::channel(false);
        let accepting = tokio::spawn(accept_loop(
            listener,
            "test",
            watcher,
            |mut socket, peer, mut shutdown| async move {
                let greeting = format!("hello {}\n", peer.ip());
                socket.write_all(greeting.as_bytes()).await.unwrap();
                let _ = shutdown.changed().await;
                socket.write_all(b"bye\n").await.unwrap();
            },
        ));
        let mut clients = Vec::new();
        for _ in 0..2 {
            let mut client = TcpStream::connect(addr).await.unwrap();
            let mut line = [0u8; 16];
            let n = client.read(&mut line).await.unwrap();
            assert_eq!(&line[..n], b"hello 127.0.0.1\n");
            clients.push(client);
        }
        stop.send(true).unwrap();
        accepting.await.unwrap();
        for mut client in clients {
            let mut rest = Vec::new();
            client.read_to_end(&mut rest).await.unwrap();
            assert_eq!(rest, b"bye\n");
        }
        assert!(TcpStream::connect(addr).await.is_err(), "still listening");
    }

    #[tokio::test(start_paused = true)]
    async fn sleeps_until_the_deadline_or_forever() {
        let start = tokio::time::Instant::now();
        sleep_until(Some(start + Duration::from_secs(5))).await;
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        let forever = tokio::time::timeout(Duration::from_secs(3600), sleep_until(None)).await;
        assert!(forever.is_err(), "no deadline woke up");
    }
}
