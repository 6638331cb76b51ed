//! One device-channel connection of a case (`devN`): frames out, frames in.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::net::{Io, TlsClient, connect};
use crate::frames::{MAX_FRAME_LEN, Received, decode_body};

/// A device connection and the frames that arrived but no step claimed yet.
pub struct DeviceConn {
    stream: Box<dyn Io>,
    /// Frames read while waiting for another, oldest first.
    pub unclaimed: VecDeque<Received>,
    closed: bool,
    /// What was sent and received, for reports.
    pub log: Vec<String>,
    number: u8,
    /// How the log marks what the runner sent and what it received: `C`/`S` when the runner
    /// is the device, `S`/`C` when it is the push server.
    marks: (&'static str, &'static str),
}

impl DeviceConn {
    /// Connects to the device channel (over TLS when `tls` is given).
    pub async fn connect(
        addr: SocketAddr,
        tls: Option<&TlsClient>,
        number: u8,
        wait: Duration,
    ) -> Result<Self, String> {
        let stream = connect(addr, tls, wait).await?;
        Ok(DeviceConn {
            stream,
            unclaimed: VecDeque::new(),
            closed: false,
            log: Vec::new(),
            number,
            marks: ("C", "S"),
        })
    }

    /// A connection a device under test opened to the runner's device channel.
    pub fn accepted(stream: Box<dyn Io>, number: u8) -> Self {
        DeviceConn {
            stream,
            unclaimed: VecDeque::new(),
            closed: false,
            log: Vec::new(),
            number,
            marks: ("S", "C"),
        }
    }

    /// Sends the octets of a frame (or anything else).
    pub async fn send(&mut self, octets: &[u8]) -> Result<(), String> {
        let shown = match octets.get(4..).map(decode_body) {
            Some(Ok(frame)) => frame.to_string(),
            _ => format!("hex:{}", hex::encode(octets)),
        };
        self.log
            .push(format!("dev{} {}: {shown}", self.number, self.marks.0));
        self.stream
            .write_all(octets)
            .await
            .map_err(|e| format!("sending on dev{}: {e}", self.number))
    }

    /// The next thing that arrives: a frame, a malformed frame, or the end of the connection.
    /// `None` when nothing arrived before `deadline`.
    pub async fn read(&mut self, deadline: Instant) -> Option<Received> {
        if self.closed {
            return Some(Received::Eof);
        }
        let received = tokio::time::timeout_at(deadline, read_frame(&mut self.stream))
            .await
            .ok()?;
        if !matches!(received, Received::Frame(_)) {
            self.closed = true;
        }
        let shown = match &received {
            Received::Frame(frame) => frame.to_string(),
            Received::Malformed { octets, why } => {
                format!("malformed ({why}): hex:{}", hex::encode(octets))
            }
            Received::Eof => "(closed)".into(),
        };
        self.log
            .push(format!("dev{} {}: {shown}", self.number, self.marks.1));
        Some(received)
    }
}

async fn read_frame(stream: &mut Box<dyn Io>) -> Received {
    let mut len = [0u8; 4];
    if stream.read_exact(&mut len).await.is_err() {
        return Received::Eof;
    }
    let n = u32::from_be_bytes(len) as usize;
    if n == 0 || n > MAX_FRAME_LEN {
        return Received::Malformed {
            octets: len.to_vec(),
            why: format!("a frame length of {n}"),
        };
    }
    let mut body = vec![0u8; n];
    if stream.read_exact(&mut body).await.is_err() {
        return Received::Malformed {
            octets: len.to_vec(),
            why: format!("the connection closed inside a frame of {n} octets"),
        };
    }
    match decode_body(&body) {
        Ok(frame) => Received::Frame(frame),
        Err(why) => {
            let mut octets = len.to_vec();
            octets.extend_from_slice(&body[..body.len().min(60)]);
            Received::Malformed { octets, why }
        }
    }
}
