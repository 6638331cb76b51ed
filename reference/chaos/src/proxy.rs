//! A TCP proxy between one device and the push server's device channel, which the runner uses
//! to cut, stall and refuse the device's connection.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with the device's octets. Offline and stalled are independent: a
/// stall that ends while the device is offline leaves it offline.
#[derive(Clone, Copy, Debug)]
struct State {
    /// Connections are closed and new ones refused.
    offline: bool,
    /// Octets are held (the connections stay open).
    stalled: bool,
    /// Connections accepted under an older generation are closed.
    generation: u64,
}

/// A running proxy; dropping it closes everything.
#[derive(Debug)]
pub struct Proxy {
    /// Where the device connects.
    pub addr: SocketAddr,
    state: watch::Sender<State>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on a loopback port chosen by the system and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (state, watcher) = watch::channel(State {
            offline: false,
            stalled: false,
            generation: 0,
        });
        let accept = tokio::spawn(accept_loop(listener, upstream, watcher));
        Ok(Proxy {
            addr,
            state,
            accept,
        })
    }

    /// Closes the open connections; new ones are accepted.
    pub fn cut(&self) {
        self.state.send_modify(|s| s.generation += 1);
    }

    /// Holds the octets of the open connections until [`Proxy::resume`].
    pub fn stall(&self) {
        self.state.send_modify(|s| s.stalled = true);
    }

    /// Forwards the held octets and what follows.
    pub fn resume(&self) {
        self.state.send_modify(|s| s.stalled = false);
    }

    /// Closes the open connections and refuses new ones until [`Proxy::online`].
    pub fn offline(&self) {
        self.state.send_modify(|s| {
            s.offline = true;
            s.generation += 1;
        });
    }

    /// Accepts connections again.
    pub fn online(&self) {
        self.state.send_modify(|s| s.offline = false);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.offline();
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, state: watch::Receiver<State>) {
    while let Ok((device, _)) = listener.accept().await {
        let current = *state.borrow();
        if current.offline {
            continue;
        }
        let state = state.clone();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = device.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (device_read, device_write) = device.into_split();
            let (server_read, server_write) = server.into_split();
            // When either way ends (an end of stream, an error, a cut), both sockets close.
            tokio::select! {
                () = pump(device_read, server_write, state.clone(), current.generation) => {}
                () = pump(server_read, device_write, state, current.generation) => {}
            }
        });
    }
}

async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut state: watch::Receiver<State>,
    generation: u64,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        loop {
            let now = *state.borrow_and_update();
            if now.generation != generation || now.offline {
                return;
            }
            if !now.stalled {
                break;
            }
            if state.changed().await.is_err() {
                return;
            }
        }
        tokio::select! {
            read = from.read(&mut buffer) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if to.write_all(&buffer[..n]).await.is_err() {
                        return;
                    }
                }
            },
            changed = state.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}
