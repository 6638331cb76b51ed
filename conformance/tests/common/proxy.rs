//! A TCP proxy that can rewrite what passes one way, a line or a device-channel frame at a time:
//! faults seeded on the wire of a reference server, which the suite must notice.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// How the rewritten direction is cut into units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Lines ending in LF (IMAP, HTTP heads; an HTTP body without an LF passes at the end).
    Line,
    /// Device-channel frames: a 4-octet length, then the body.
    Frame,
    /// HTTP/1.1 messages: the head up to its empty line, then `Content-Length` octets of body.
    Http,
}

/// Which direction is rewritten.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Way {
    /// What the server sends.
    FromServer,
    /// What the client sends.
    ToServer,
}

/// A rewrite of one unit: the octets to pass on instead (empty to drop it).
pub type Rewrite = Arc<dyn Fn(Vec<u8>) -> Vec<u8> + Send + Sync>;

/// Starts a proxy to `upstream`; returns where it listens.
pub async fn start(upstream: SocketAddr, unit: Unit, way: Way, rewrite: Rewrite) -> SocketAddr {
    let listener = TcpListener::bind(super::loopback()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(upstream).await else {
                continue;
            };
            let rewrite = Arc::clone(&rewrite);
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            let (plain, plain_to, mutated, mutated_to) = match way {
                Way::FromServer => (client_read, server_write, server_read, client_write),
                Way::ToServer => (server_read, client_write, client_read, server_write),
            };
            tokio::spawn(copy(plain, plain_to));
            tokio::spawn(pump(mutated, mutated_to, unit, rewrite));
        }
    });
    addr
}

async fn copy(mut from: tokio::net::tcp::OwnedReadHalf, mut to: tokio::net::tcp::OwnedWriteHalf) {
    let _ = tokio::io::copy(&mut from, &mut to).await;
    let _ = to.shutdown().await;
}

async fn pump(
    from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    unit: Unit,
    rewrite: Rewrite,
) {
    let mut from = BufReader::new(from);
    loop {
        let mut octets = Vec::new();
        let n = match unit {
            Unit::Line => from.read_until(b'\n', &mut octets).await.unwrap_or(0),
            Unit::Frame => {
                let mut len = [0u8; 4];
                if from.read_exact(&mut len).await.is_err() {
                    0
                } else {
                    let body = u32::from_be_bytes(len) as usize;
                    octets.extend_from_slice(&len);
                    octets.resize(4 + body.min(1 << 16), 0);
                    if from.read_exact(&mut octets[4..]).await.is_err() {
                        0
                    } else {
                        octets.len()
                    }
                }
            }
            Unit::Http => read_http(&mut from, &mut octets).await,
        };
        if n == 0 {
            break;
        }
        let out = rewrite(octets);
        if to.write_all(&out).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

async fn read_http(
    from: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    octets: &mut Vec<u8>,
) -> usize {
    let mut length = 0usize;
    loop {
        let start = octets.len();
        if from.read_until(b'\n', octets).await.unwrap_or(0) == 0 {
            return 0;
        }
        let line = String::from_utf8_lossy(&octets[start..]).to_ascii_lowercase();
        if let Some(value) = line.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
    }
    let start = octets.len();
    octets.resize(start + length.min(1 << 20), 0);
    if from.read_exact(&mut octets[start..]).await.is_err() {
        return 0;
    }
    octets.len()
}

/// Passes everything unchanged.
pub fn identity() -> Rewrite {
    Arc::new(|octets| octets)
}

/// Rewrites lines as text.
pub fn lines(f: impl Fn(&str) -> String + Send + Sync + 'static) -> Rewrite {
    Arc::new(move |octets| f(&String::from_utf8_lossy(&octets)).into_bytes())
}

/// Rewrites frames of one type (the first body octet); others pass.
pub fn frames(kind: u8, f: impl Fn(&mut Vec<u8>) + Send + Sync + 'static) -> Rewrite {
    Arc::new(move |mut octets| {
        if octets.get(4) == Some(&kind) {
            f(&mut octets);
        }
        octets
    })
}
