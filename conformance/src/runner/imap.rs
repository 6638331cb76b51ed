//! One IMAP connection of a case: the runner's tags, literals, and the responses read but not
//! yet claimed by a step.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::time::Instant;

use super::net::{Io, TlsClient, connect};
use crate::imap_syntax::{Kind, Response, parse_response};

/// The longest response the runner reads (literals included); a longer one is a harness error,
/// not a reason to exhaust memory.
pub const MAX_RESPONSE_LEN: usize = 4 << 20;

/// Why reading a response stopped.
#[derive(Debug)]
pub enum ReadError {
    /// Nothing complete arrived before the deadline.
    Timeout,
    /// The server closed the connection.
    Eof,
    /// A socket error, or a response beyond [`MAX_RESPONSE_LEN`].
    Io(String),
}

/// A connection and what it has received.
pub struct ImapConn {
    io: BufReader<Box<dyn Io>>,
    next_tag: u32,
    /// Untagged and continuation responses that no step has claimed yet, oldest first.
    pub unclaimed: VecDeque<Response>,
    /// Tagged responses read while waiting for something else.
    pub tagged: Vec<Response>,
    /// Everything sent and received, for reports.
    pub log: Vec<String>,
    /// The connection number in the transcript.
    pub number: u8,
}

impl ImapConn {
    /// Connects (over TLS when `tls` is given) and reads the greeting.
    pub async fn connect(
        addr: SocketAddr,
        tls: Option<&TlsClient>,
        number: u8,
        wait: Duration,
    ) -> Result<Self, String> {
        let stream = connect(addr, tls, wait).await?;
        let mut conn = ImapConn {
            io: BufReader::new(stream),
            next_tag: 0,
            unclaimed: VecDeque::new(),
            tagged: Vec::new(),
            log: Vec::new(),
            number,
        };
        let greeting = conn
            .read(Instant::now() + wait)
            .await
            .map_err(|e| format!("no greeting from {addr}: {e:?}"))?;
        if greeting.kind != Kind::Untagged || greeting.status().as_deref() != Some("OK") {
            return Err(format!("the greeting is not `* OK`: {}", greeting.raw));
        }
        Ok(conn)
    }

    /// A fresh tag.
    pub fn tag(&mut self) -> String {
        self.next_tag += 1;
        format!("c{}.{}", self.number, self.next_tag)
    }

    /// Sends octets as they are.
    pub async fn send(&mut self, octets: &[u8]) -> Result<(), String> {
        self.log.push(format!(
            "{} C: {}",
            self.number,
            String::from_utf8_lossy(octets).trim_end()
        ));
        let stream = self.io.get_mut();
        stream
            .write_all(octets)
            .await
            .map_err(|e| format!("sending on connection {}: {e}", self.number))?;
        stream
            .flush()
            .await
            .map_err(|e| format!("sending on connection {}: {e}", self.number))
    }

    /// Reads one response, literals included.
    pub async fn read(&mut self, deadline: Instant) -> Result<Response, ReadError> {
        match tokio::time::timeout_at(deadline, self.read_response()).await {
            Err(_) => Err(ReadError::Timeout),
            Ok(result) => {
                if let Ok(response) = &result {
                    self.log
                        .push(format!("{} S: {}", self.number, response.raw));
                } else if let Err(ReadError::Eof) = &result {
                    self.log.push(format!("{} S: (closed)", self.number));
                }
                result
            }
        }
    }

    async fn read_response(&mut self) -> Result<Response, ReadError> {
        let mut bytes = Vec::new();
        loop {
            let before = bytes.len();
            let n = (&mut self.io)
                .take((MAX_RESPONSE_LEN - before) as u64 + 1)
                .read_until(b'\n', &mut bytes)
                .await
                .map_err(|e| ReadError::Io(e.to_string()))?;
            if n == 0 {
                return Err(ReadError::Eof);
            }
            if bytes.len() > MAX_RESPONSE_LEN {
                return Err(ReadError::Io(format!(
                    "a response longer than {MAX_RESPONSE_LEN} octets"
                )));
            }
            if !bytes.ends_with(b"\n") {
                return Err(ReadError::Eof);
            }
            let Some(len) = literal_len(&bytes[before..]) else {
                break;
            };
            if bytes.len() + len > MAX_RESPONSE_LEN {
                return Err(ReadError::Io(format!(
                    "a literal of {len} octets in a response"
                )));
            }
            let start = bytes.len();
            bytes.resize(start + len, 0);
            self.io
                .read_exact(&mut bytes[start..])
                .await
                .map_err(|_| ReadError::Eof)?;
        }
        while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            bytes.pop();
        }
        Ok(parse_response(&bytes))
    }

    /// Reads until the tagged response for `tag`, keeping everything else; returns it and the
    /// untagged responses that arrived before it and were not claimed by another step.
    pub async fn complete(
        &mut self,
        tag: &str,
        deadline: Instant,
    ) -> Result<(Response, Vec<Response>), ReadError> {
        loop {
            if let Some(i) = self
                .tagged
                .iter()
                .position(|r| r.kind == Kind::Tagged(tag.to_owned()))
            {
                let tagged = self.tagged.remove(i);
                let untagged = self.unclaimed.drain(..).collect();
                return Ok((tagged, untagged));
            }
            let response = self.read(deadline).await?;
            self.keep(response);
        }
    }

    /// Files a response read while waiting.
    pub fn keep(&mut self, response: Response) {
        if matches!(response.kind, Kind::Tagged(_)) {
            self.tagged.push(response);
        } else {
            self.unclaimed.push_back(response);
        }
    }

    /// The log, for reports.
    pub fn take_log(&mut self) -> Vec<String> {
        std::mem::take(&mut self.log)
    }
}

/// The length of the literal a line announces at its end (`{n}` or `{n+}` before CRLF).
fn literal_len(line: &[u8]) -> Option<usize> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = line.strip_suffix(b"}")?;
    let line = line.strip_suffix(b"+").unwrap_or(line);
    let open = line.iter().rposition(|b| *b == b'{')?;
    let digits = &line[open + 1..];
    if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::literal_len;

    #[test]
    fn literal_lengths_at_line_ends() {
        assert_eq!(literal_len(b"* 1 FETCH (BODY[] {12}\r\n"), Some(12));
        assert_eq!(literal_len(b"* 1 FETCH (BODY[] {3+}\r\n"), Some(3));
        assert_eq!(literal_len(b"* OK {x}\r\n"), None);
        assert_eq!(literal_len(b"* OK done\r\n"), None);
        assert_eq!(literal_len(b"* OK {}\r\n"), None);
    }
}
