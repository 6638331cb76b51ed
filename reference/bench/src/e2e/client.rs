//! The writing device's IMAP client (and, against Dovecot, the reading device's): plain TCP on
//! loopback, LOGIN, APPEND with a LITERAL+ literal, IDLE, UID FETCH. Lines only; the messages the
//! bench writes hold no line that starts with a tag of its own.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::BenchError;

/// Longest wait for any one answer.
pub(super) const WAIT: Duration = Duration::from_secs(30);

pub(super) struct Client {
    io: BufReader<TcpStream>,
    tag: u64,
}

fn protocol(what: impl Into<String>) -> BenchError {
    BenchError::Protocol(what.into())
}

impl Client {
    pub(super) async fn login(
        addr: SocketAddr,
        user: &str,
        password: &str,
    ) -> Result<Client, BenchError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| BenchError::Io {
                address: addr,
                source,
            })?;
        stream.set_nodelay(true)?;
        let mut client = Client {
            io: BufReader::new(stream),
            tag: 0,
        };
        let greeting = client.line().await?;
        if !greeting.starts_with("* OK") {
            return Err(protocol(format!("greeting {greeting:?}")));
        }
        client.command(&format!("LOGIN {user} {password}")).await?;
        Ok(client)
    }

    /// One line, CRLF included; an error when the server closes or is silent for [`WAIT`].
    pub(super) async fn line(&mut self) -> Result<String, BenchError> {
        let mut line = String::new();
        let n = tokio::time::timeout(WAIT, self.io.read_line(&mut line))
            .await
            .map_err(|_| protocol("no answer within 30 s"))??;
        if n == 0 {
            return Err(protocol("the server closed the connection"));
        }
        Ok(line)
    }

    async fn send(&mut self, text: &str) -> Result<String, BenchError> {
        self.tag += 1;
        let tag = format!("e{}", self.tag);
        self.io
            .get_mut()
            .write_all(format!("{tag} {text}\r\n").as_bytes())
            .await?;
        Ok(tag)
    }

    async fn until_tagged(&mut self, tag: &str, what: &str) -> Result<Vec<String>, BenchError> {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await?;
            if let Some(rest) = line.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')) {
                if rest.starts_with("OK") {
                    lines.push(line);
                    return Ok(lines);
                }
                return Err(protocol(format!("{what}: {line:?}")));
            }
            lines.push(line);
        }
    }

    /// Sends `command` and returns every line of its answer, the tagged `OK` last.
    pub(super) async fn command(&mut self, command: &str) -> Result<Vec<String>, BenchError> {
        let tag = self.send(command).await?;
        let what = command.split(' ').next().unwrap_or(command).to_owned();
        self.until_tagged(&tag, &what).await
    }

    /// APPENDs `message` to `mailbox`; the UID of APPENDUID.
    pub(super) async fn append(&mut self, mailbox: &str, message: &str) -> Result<u32, BenchError> {
        let lines = self
            .command(&format!(
                "APPEND {mailbox} {{{}+}}\r\n{message}",
                message.len()
            ))
            .await?;
        let last = lines.last().map(String::as_str).unwrap_or_default();
        last.split("APPENDUID ")
            .nth(1)
            .and_then(|rest| rest.split([' ', ']']).nth(1))
            .and_then(|uid| uid.parse().ok())
            .ok_or_else(|| protocol(format!("APPEND without APPENDUID: {last:?}")))
    }

    /// Starts IDLE; returns once the server's continuation arrived.
    pub(super) async fn idle(&mut self) -> Result<String, BenchError> {
        let tag = self.send("IDLE").await?;
        loop {
            let line = self.line().await?;
            if line.starts_with('+') {
                return Ok(tag);
            }
            if line.starts_with(&tag) {
                return Err(protocol(format!("IDLE: {line:?}")));
            }
        }
    }

    /// Ends IDLE `tag`.
    pub(super) async fn done(&mut self, tag: &str) -> Result<(), BenchError> {
        self.io.get_mut().write_all(b"DONE\r\n").await?;
        self.until_tagged(tag, "IDLE").await.map(drop)
    }
}

/// A note of about the size of a short note, numbered.
pub(super) fn note(n: usize) -> String {
    format!(
        "From: bench@example.invalid\r\nSubject: note {n}\r\nContent-Type: text/html; charset=utf-8\r\nX-Uniform-Type-Identifier: com.apple.mail-note\r\n\r\n<div>note {n}: {}</div>\r\n",
        "lorem ipsum ".repeat(20)
    )
}

/// The time from `since` to `at` (zero when `at` is earlier).
pub(super) fn after(at: Instant, since: Instant) -> Duration {
    at.saturating_duration_since(since)
}
