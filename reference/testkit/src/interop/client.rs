//! A minimal IMAP client that works line by line: commands are text, replies are the raw lines
//! the server sent (literals in place, as sent), so tests can check exactly what a third-party server says.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{Credentials, InteropError, ServerTls};

/// How long a reply may take.
const REPLY_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest response line (literals included) the client accepts.
const MAX_LINE: usize = 16 << 20;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The lines a command produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Untagged (`* ...`) and continuation lines before the tagged one, without their final
    /// CRLF.
    pub untagged: Vec<String>,
    /// The tagged line, without CRLF.
    pub tagged: String,
}

impl Reply {
    /// `OK`, `NO` or `BAD` (the word after the tag).
    pub fn status(&self) -> &str {
        self.tagged.split(' ').nth(1).unwrap_or("")
    }

    /// Whether the command completed with `OK`.
    pub fn is_ok(&self) -> bool {
        self.status().eq_ignore_ascii_case("OK")
    }

    /// The untagged lines that start with `* <word>` (case-insensitive), e.g. `"CAPABILITY"`.
    pub fn untagged_named<'a>(&'a self, word: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.untagged
            .iter()
            .map(String::as_str)
            .filter(move |line| {
                line.strip_prefix("* ")
                    .and_then(|rest| rest.get(..word.len()))
                    .is_some_and(|head| head.eq_ignore_ascii_case(word))
            })
    }
}

/// One IMAP connection.
pub struct ImapClient {
    io: BufReader<Box<dyn Io>>,
    greeting: String,
    next_tag: u32,
    idle_tag: Option<String>,
}

impl std::fmt::Debug for ImapClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapClient")
            .field("greeting", &self.greeting)
            .finish_non_exhaustive()
    }
}

impl ImapClient {
    /// Connects to an IMAPS port, trusting `tls`, and reads the greeting.
    pub async fn connect_imaps(addr: SocketAddr, tls: &ServerTls) -> Result<Self, InteropError> {
        let tcp = connect(addr).await?;
        let stream = handshake(tcp, tls).await?;
        Self::greeted(Box::new(stream)).await
    }

    /// Connects to an IMAP port in plaintext and reads the greeting.
    pub async fn connect_plain(addr: SocketAddr) -> Result<Self, InteropError> {
        Self::greeted(Box::new(connect(addr).await?)).await
    }

    /// Connects to an IMAP port, reads the greeting, sends `STARTTLS` and completes the TLS
    /// handshake trusting `tls`. [`ImapClient::greeting`] is the plaintext greeting.
    pub async fn connect_starttls(addr: SocketAddr, tls: &ServerTls) -> Result<Self, InteropError> {
        let mut plain = BufReader::new(connect(addr).await?);
        let greeting = read_response(&mut plain).await?;
        let starttls = "s0";
        send(
            plain.get_mut(),
            format!("{starttls} STARTTLS\r\n").as_bytes(),
        )
        .await?;
        let reply = read_until_tagged(&mut plain, starttls).await?;
        if !reply.is_ok() {
            return Err(InteropError::Protocol(format!(
                "STARTTLS refused: {}",
                reply.tagged
            )));
        }
        if !plain.buffer().is_empty() {
            // RFC 3501 §6.2.1: nothing may follow the OK before the handshake.
            return Err(InteropError::Protocol(
                "the server sent data after STARTTLS's OK, before the TLS handshake".into(),
            ));
        }
        let stream = handshake(plain.into_inner(), tls).await?;
        Ok(Self {
            io: BufReader::new(Box::new(stream)),
            greeting,
            next_tag: 1,
            idle_tag: None,
        })
    }

    async fn greeted(stream: Box<dyn Io>) -> Result<Self, InteropError> {
        let mut io = BufReader::new(stream);
        let greeting = read_response(&mut io).await?;
        Ok(Self {
            io,
            greeting,
            next_tag: 1,
            idle_tag: None,
        })
    }

    /// The server's greeting line.
    pub fn greeting(&self) -> &str {
        &self.greeting
    }

    fn tag(&mut self) -> String {
        let tag = format!("t{}", self.next_tag);
        self.next_tag += 1;
        tag
    }

    /// Sends `<tag> <command>` and collects the reply, whatever its status.
    pub async fn command(&mut self, command: &str) -> Result<Reply, InteropError> {
        let tag = self.tag();
        send(self.io.get_mut(), format!("{tag} {command}\r\n").as_bytes()).await?;
        read_until_tagged(&mut self.io, &tag).await
    }

    /// Like [`ImapClient::command`], but a reply other than `OK` is an error.
    pub async fn ok(&mut self, command: &str) -> Result<Reply, InteropError> {
        let reply = self.command(command).await?;
        if reply.is_ok() {
            Ok(reply)
        } else {
            Err(InteropError::Protocol(format!(
                "{command:?} got {:?} after {:?}",
                reply.tagged, reply.untagged
            )))
        }
    }

    /// `LOGIN` (the credentials are atoms, see [`Credentials`]); an answer other than `OK` is an
    /// error.
    pub async fn login(&mut self, credentials: &Credentials) -> Result<Reply, InteropError> {
        self.ok(&format!(
            "LOGIN {} {}",
            credentials.user, credentials.password
        ))
        .await
    }

    /// `CAPABILITY`: the capability names, upper-cased.
    pub async fn capabilities(&mut self) -> Result<BTreeSet<String>, InteropError> {
        let reply = self.ok("CAPABILITY").await?;
        reply
            .untagged_named("CAPABILITY")
            .next()
            .map(|line| capability_names(&line["* CAPABILITY".len()..]))
            .ok_or_else(|| InteropError::Protocol(format!("no CAPABILITY line in {reply:?}")))
    }

    /// `APPEND` of `message` to `mailbox` with a synchronizing literal.
    pub async fn append(&mut self, mailbox: &str, message: &[u8]) -> Result<Reply, InteropError> {
        let tag = self.tag();
        let head = format!("{tag} APPEND {} {{{}}}\r\n", quoted(mailbox), message.len());
        send(self.io.get_mut(), head.as_bytes()).await?;
        let mut untagged = Vec::new();
        loop {
            let line = read_response(&mut self.io).await?;
            if line.starts_with('+') {
                break;
            }
            if is_tagged(&line, &tag) {
                return Ok(Reply {
                    untagged,
                    tagged: line,
                });
            }
            untagged.push(line);
        }
        let mut body = message.to_vec();
        body.extend_from_slice(b"\r\n");
        send(self.io.get_mut(), &body).await?;
        let mut reply = read_until_tagged(&mut self.io, &tag).await?;
        untagged.append(&mut reply.untagged);
        reply.untagged = untagged;
        Ok(reply)
    }

    /// Sends `IDLE` and waits for the continuation; returns the untagged lines before it.
    pub async fn idle(&mut self) -> Result<Vec<String>, InteropError> {
        let tag = self.tag();
        send(self.io.get_mut(), format!("{tag} IDLE\r\n").as_bytes()).await?;
        let mut before = Vec::new();
        loop {
            let line = read_response(&mut self.io).await?;
            if line.starts_with('+') {
                self.idle_tag = Some(tag);
                return Ok(before);
            }
            if is_tagged(&line, &tag) {
                return Err(InteropError::Protocol(format!("IDLE refused: {line}")));
            }
            before.push(line);
        }
    }

    /// The next line the server sends, or `None` if nothing arrives within `wait`.
    pub async fn next_line(&mut self, wait: Duration) -> Result<Option<String>, InteropError> {
        match tokio::time::timeout(wait, read_line(&mut self.io)).await {
            Ok(line) => line.map(Some),
            Err(_) => Ok(None),
        }
    }

    /// Ends `IDLE` with `DONE` and collects the rest of its reply.
    pub async fn done(&mut self) -> Result<Reply, InteropError> {
        let tag = self
            .idle_tag
            .take()
            .ok_or_else(|| InteropError::Protocol("DONE without IDLE".into()))?;
        send(self.io.get_mut(), b"DONE\r\n").await?;
        read_until_tagged(&mut self.io, &tag).await
    }
}

/// The names of a capability list (`IMAP4rev1 IDLE ...`), upper-cased.
pub fn capability_names(list: &str) -> BTreeSet<String> {
    list.split_ascii_whitespace()
        .map(str::to_ascii_uppercase)
        .collect()
}

/// The capability list of a `[CAPABILITY ...]` response code in `line`, if it has one.
pub fn capability_code(line: &str) -> Option<BTreeSet<String>> {
    let start = line.find("[CAPABILITY ")? + "[CAPABILITY ".len();
    let end = start + line[start..].find(']')?;
    Some(capability_names(&line[start..end]))
}

/// `name` as an IMAP quoted string.
pub(crate) fn quoted(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

async fn connect(addr: SocketAddr) -> Result<TcpStream, InteropError> {
    TcpStream::connect(addr)
        .await
        .map_err(super::io_error(format!("connecting to {addr}")))
}

async fn handshake(
    tcp: TcpStream,
    tls: &ServerTls,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, InteropError> {
    tls.connector()?
        .connect(mailpush_tls::localhost(), tcp)
        .await
        .map_err(|e| InteropError::Tls(format!("handshake: {e}")))
}

async fn send(io: &mut (impl AsyncWrite + Unpin), bytes: &[u8]) -> Result<(), InteropError> {
    io.write_all(bytes)
        .await
        .map_err(super::io_error("sending to the server"))?;
    io.flush()
        .await
        .map_err(super::io_error("sending to the server"))
}

fn is_tagged(line: &str, tag: &str) -> bool {
    line.strip_prefix(tag)
        .is_some_and(|rest| rest.starts_with(' '))
}

async fn read_until_tagged(
    io: &mut (impl AsyncBufRead + Unpin),
    tag: &str,
) -> Result<Reply, InteropError> {
    let mut untagged = Vec::new();
    loop {
        let line = read_response(io).await?;
        if is_tagged(&line, tag) {
            return Ok(Reply {
                untagged,
                tagged: line,
            });
        }
        untagged.push(line);
    }
}

/// One response line within [`REPLY_TIMEOUT`].
async fn read_response(io: &mut (impl AsyncBufRead + Unpin)) -> Result<String, InteropError> {
    tokio::time::timeout(REPLY_TIMEOUT, read_line(io))
        .await
        .map_err(|_| InteropError::Timeout(format!("no reply within {REPLY_TIMEOUT:?}")))?
}

/// One response line without its final CRLF; a literal stays in it as sent (`{n}` CRLF and the
/// n octets), so the line is the wire form.
async fn read_line(io: &mut (impl AsyncBufRead + Unpin)) -> Result<String, InteropError> {
    let mut line = Vec::new();
    loop {
        let read = io
            .take((MAX_LINE - line.len()) as u64)
            .read_until(b'\n', &mut line)
            .await
            .map_err(super::io_error("reading from the server"))?;
        if read == 0 || !line.ends_with(b"\n") {
            return Err(InteropError::Protocol(if line.len() >= MAX_LINE {
                format!("a response line is longer than {MAX_LINE} octets")
            } else {
                format!(
                    "the server closed the connection after {:?}",
                    String::from_utf8_lossy(&line)
                )
            }));
        }
        match literal_length(&line) {
            Some(length) if length <= MAX_LINE - line.len() => {
                let start = line.len();
                line.resize(start + length, 0);
                io.read_exact(&mut line[start..])
                    .await
                    .map_err(super::io_error("reading a literal"))?;
            }
            Some(length) => {
                return Err(InteropError::Protocol(format!(
                    "a literal of {length} octets is longer than the client accepts"
                )));
            }
            None => {
                while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    line.pop();
                }
                return Ok(String::from_utf8_lossy(&line).into_owned());
            }
        }
    }
}

/// The length of the literal announced at the end of `line` (`{n}` CRLF), if any.
fn literal_length(line: &[u8]) -> Option<usize> {
    let body = line.strip_suffix(b"\r\n").or(line.strip_suffix(b"\n"))?;
    let body = body.strip_suffix(b"}")?;
    let open = body.iter().rposition(|b| *b == b'{')?;
    let digits = &body[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn literals_stay_in_the_line_as_sent_and_the_final_crlf_goes() {
        let mut input: &[u8] = b"* 1 FETCH (BODY[] {5}\r\nab\r\nc)\r\n* OK done\r\n";
        assert_eq!(
            read_line(&mut input).await.unwrap(),
            "* 1 FETCH (BODY[] {5}\r\nab\r\nc)"
        );
        assert_eq!(read_line(&mut input).await.unwrap(), "* OK done");
        assert!(read_line(&mut input).await.is_err());
    }

    #[test]
    fn capability_codes_and_quoting() {
        let code = capability_code("t1 OK [CAPABILITY IMAP4rev1 idle] Logged in").unwrap();
        assert_eq!(code, ["IDLE", "IMAP4REV1"].map(String::from).into());
        assert_eq!(capability_code("t1 OK Logged in"), None);
        assert_eq!(quoted(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(literal_length(b"x {12+}\r\n"), Some(12));
        assert_eq!(literal_length(b"x {}\r\n"), None);
    }
}
