//! One task per connection the cores ask for (a DA's IMAP connection, a push registration's
//! IMAP connection, a device-channel attempt): it connects (TCP, then TLS at once for IMAPS and
//! the device channel), hands what it reads to the daemon's loop, writes what the loop sends,
//! runs the TLS handshake in place when a STARTTLS was accepted, and closes when told.
//!
//! The loop learns everything as [`IoEvent`]s on one channel, tagged with the connection's key,
//! so the cores see the events of a connection in the order they happened.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::config::Endpoint;

/// How long a TCP connect or a TLS handshake may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The size of one read.
const READ_CHUNK: usize = 64 * 1024;

/// Which core a connection belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnKey {
    /// The DA engine of account `account` (an index), its `generation`-th connection.
    Da {
        /// The account's index in the configuration.
        account: usize,
        /// Counts the engine's connections, so events of an old one are ignored.
        generation: u64,
    },
    /// A push registration connection of the mail client.
    Imap(mailpush_device_core::mail_client::ConnectionId),
    /// A device-channel attempt of the mail client.
    Channel(mailpush_device_core::mail_client::ConnectionId),
}

/// What the loop tells a connection.
#[derive(Debug)]
pub enum IoCommand {
    /// Write these octets.
    Write(Vec<u8>),
    /// Run the TLS handshake now (after everything written before).
    StartTls,
    /// Flush and close; no [`IoEvent::Closed`] follows.
    Close,
}

/// What a connection tells the loop.
#[derive(Debug)]
pub enum IoEvent {
    /// Connected (and TLS established for a TLS-first connection).
    Connected(ConnKey),
    /// The STARTTLS handshake completed.
    TlsEstablished(ConnKey),
    /// Octets read.
    Input(ConnKey, Vec<u8>),
    /// The connection failed or the peer closed it (`why` for the log).
    Closed(ConnKey, String),
}

/// Starts a connection task; the returned sender drives it.
pub fn spawn(
    key: ConnKey,
    endpoint: Endpoint,
    tls_first: bool,
    events: mpsc::UnboundedSender<IoEvent>,
) -> mpsc::UnboundedSender<IoCommand> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        if let Err(why) = connection(key, &endpoint, tls_first, rx, &events).await {
            let _ = events.send(IoEvent::Closed(key, why));
        }
    });
    tx
}

/// How a phase of a connection ended.
enum Phase {
    /// The loop asked for STARTTLS.
    StartTls,
    /// Closed on request.
    Done,
}

async fn connection(
    key: ConnKey,
    endpoint: &Endpoint,
    tls_first: bool,
    mut commands: mpsc::UnboundedReceiver<IoCommand>,
    events: &mpsc::UnboundedSender<IoEvent>,
) -> Result<(), String> {
    let address = (endpoint.host.as_str(), endpoint.port);
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address))
        .await
        .map_err(|_| format!("connecting to {endpoint} timed out"))?
        .map_err(|e| format!("cannot connect to {endpoint}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let tcp = if tls_first {
        let tls = handshake(endpoint, tcp).await?;
        let _ = events.send(IoEvent::Connected(key));
        return pump(key, tls, &mut commands, events).await.map(|_| ());
    } else {
        let _ = events.send(IoEvent::Connected(key));
        let mut tcp = tcp;
        match pump(key, &mut tcp, &mut commands, events).await? {
            Phase::Done => return Ok(()),
            Phase::StartTls => tcp,
        }
    };
    let tls = handshake(endpoint, tcp).await?;
    let _ = events.send(IoEvent::TlsEstablished(key));
    pump(key, tls, &mut commands, events).await.map(|_| ())
}

async fn handshake(
    endpoint: &Endpoint,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    tokio::time::timeout(
        CONNECT_TIMEOUT,
        endpoint.tls.connect(endpoint.server_name.clone(), tcp),
    )
    .await
    .map_err(|_| format!("TLS handshake with {endpoint} timed out"))?
    .map_err(|e| format!("TLS with {endpoint} failed: {e}"))
}

/// Moves octets both ways until the loop asks for STARTTLS or a close, or the stream ends.
async fn pump<S: AsyncRead + AsyncWrite + Unpin>(
    key: ConnKey,
    mut stream: S,
    commands: &mut mpsc::UnboundedReceiver<IoCommand>,
    events: &mpsc::UnboundedSender<IoEvent>,
) -> Result<Phase, String> {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(IoCommand::Write(octets)) => {
                    stream.write_all(&octets).await.map_err(|e| format!("write: {e}"))?;
                    stream.flush().await.map_err(|e| format!("write: {e}"))?;
                }
                Some(IoCommand::StartTls) => return Ok(Phase::StartTls),
                Some(IoCommand::Close) | None => {
                    let _ = stream.shutdown().await;
                    return Ok(Phase::Done);
                }
            },
            read = stream.read(&mut buf) => match read {
                Ok(0) => return Err("closed by the server".to_owned()),
                Ok(n) => {
                    let _ = events.send(IoEvent::Input(key, buf[..n].to_vec()));
                }
                Err(e) => return Err(format!("read: {e}")),
            },
        }
    }
}
