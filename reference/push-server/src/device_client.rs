//! A tokio driver for the device side of the device channel, around the sans-IO
//! [`ClientConnection`]: the piece a mail client embeds. It hands each new notification to a
//! channel, acknowledges it once the channel took it, keeps the connection alive with pings, and
//! reconnects with its cursor after anything but a permanent refusal.

use std::net::SocketAddr;
use std::time::Duration;

use mailpush_driver::{Stream, sleep_until};
use mailpush_push_proto::client::{ClientConnection, ClientEvent};
use mailpush_push_proto::{Credential, NotificationId, Payload, ReasonCode};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsConnector;

use crate::Clock;

/// Where and as whom a device connects.
#[derive(Clone)]
pub struct DeviceClientConfig {
    /// The server's device-channel address.
    pub device_addr: SocketAddr,
    /// TLS connector and server name; `None` for plain TCP on loopback.
    pub tls: Option<(TlsConnector, ServerName<'static>)>,
    /// The device token.
    pub token: String,
    /// The device secret.
    pub secret: String,
}

/// A notification handed to the device-local layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveredNotification {
    /// Its id.
    pub id: NotificationId,
    /// The device must treat every registered mailbox as changed (RING-12).
    pub retained: bool,
    /// The payload, as the mail server sent it.
    pub payload: Payload,
}

/// Why a device connection ended.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceClientError {
    /// The token or secret is not a valid credential.
    #[error("the device token or secret is not 1 to 255 printable characters")]
    BadCredential,
    /// Connecting, TLS or the stream failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The server closed the session with this reason.
    #[error("closed by the server: {}", .0.name())]
    Closed(ReasonCode),
    /// The client closed: a protocol error of the server, or a dead server.
    #[error("closed by the client: {}", .0.name())]
    ClientClosed(ReasonCode),
    /// Nobody receives notifications any more.
    #[error("the notification receiver is gone")]
    SinkClosed,
}

impl DeviceClientError {
    /// True when reconnecting cannot help.
    //= spec/device-channel.md#CHAN-10
    //# An unknown token, an
    //# unregistered device and a wrong secret MUST all be answered with the same `ERROR` code
    //# `auth-failed` and a close
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Self::BadCredential
                | Self::SinkClosed
                | Self::Closed(ReasonCode::AuthFailed | ReasonCode::Unregistered)
        )
    }
}

/// Runs one connection until it ends. `cursor` is the resume cursor; it is advanced as
/// notifications are acknowledged, so the caller can persist it. Returns `Ok` on shutdown.
pub async fn run_device_session(
    config: &DeviceClientConfig,
    cursor: &mut u64,
    sink: &mpsc::Sender<DeliveredNotification>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), DeviceClientError> {
    let tcp = TcpStream::connect(config.device_addr).await?;
    tcp.set_nodelay(true)?;
    let stream = match &config.tls {
        Some((connector, name)) => Stream::connect_tls(tcp, connector, name.clone()).await?,
        None => Stream::Plain(tcp),
    };
    session(stream, config, cursor, sink, shutdown).await
}

async fn session(
    mut stream: Stream,
    config: &DeviceClientConfig,
    cursor: &mut u64,
    sink: &mpsc::Sender<DeliveredNotification>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), DeviceClientError> {
    let (Ok(token), Ok(secret)) = (
        Credential::new(config.token.clone()),
        Credential::new(config.secret.clone()),
    ) else {
        return Err(DeviceClientError::BadCredential);
    };
    let clock = Clock::new();
    let mut client = ClientConnection::new(token, secret, *cursor, clock.now());
    let mut buffer = [0u8; 4096];
    loop {
        while let Some(event) = client.poll_event() {
            match event {
                ClientEvent::Notification {
                    id,
                    retained,
                    payload,
                } => {
                    sink.send(DeliveredNotification {
                        id,
                        retained,
                        payload,
                    })
                    .await
                    .map_err(|_| DeviceClientError::SinkClosed)?;
                    //= spec/device-channel.md#CHAN-20
                    //# A client SHOULD acknowledge a notification as soon as it has handed
                    //# it to the device-local layer
                    client.ack(id, clock.now());
                    *cursor = client.cursor();
                }
                ClientEvent::Closed { code, by_peer } => {
                    if let Some(octets) = client.poll_transmit() {
                        let _ = stream.write_all(&octets).await;
                    }
                    let _ = stream.shutdown().await;
                    return match (code, by_peer) {
                        (ReasonCode::ClientClose, false) => Ok(()),
                        (code, true) => Err(DeviceClientError::Closed(code)),
                        (code, false) => Err(DeviceClientError::ClientClosed(code)),
                    };
                }
                _ => {}
            }
        }
        if let Some(octets) = client.poll_transmit() {
            stream.write_all(&octets).await?;
            stream.flush().await?;
        }
        let deadline = client.poll_timeout().map(|at| clock.instant_at(at));
        tokio::select! {
            read = stream.read(&mut buffer) => match read {
                Ok(0) => {
                    return Err(DeviceClientError::Io(std::io::ErrorKind::UnexpectedEof.into()));
                }
                Ok(n) => client.handle_input(&buffer[..n], clock.now()),
                Err(error) => return Err(error.into()),
            },
            () = sleep_until(deadline) => client.handle_timeout(clock.now()),
            _ = shutdown.changed() => client.close(clock.now()),
        }
    }
}

/// Keeps a device connected until shutdown or a permanent refusal, reconnecting with
/// exponential backoff (100 ms doubling to 30 s) and the advanced cursor.
pub async fn run_device(
    config: DeviceClientConfig,
    mut cursor: u64,
    sink: mpsc::Sender<DeliveredNotification>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<u64, DeviceClientError> {
    let mut backoff = Duration::from_millis(100);
    loop {
        let before = cursor;
        match run_device_session(&config, &mut cursor, &sink, &mut shutdown).await {
            Ok(()) => return Ok(cursor),
            Err(error) if error.is_permanent() => return Err(error),
            Err(error) => {
                tracing::debug!(%error, "device connection ended; reconnecting");
                if cursor > before {
                    backoff = Duration::from_millis(100);
                }
            }
        }
        if *shutdown.borrow() {
            return Ok(cursor);
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return Ok(cursor),
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}
