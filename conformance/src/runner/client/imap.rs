//! The mail server the runner plays for a device. It answers what carries no behaviour under
//! test by itself (the greeting, `CAPABILITY`, authentication, `ENABLE`, `NOOP`, `IDLE`,
//! `LOGOUT`) and hands every other command to the case, which answers it line by line.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::imap_syntax::{Kind, Token, parse_response};
use crate::transcript::pattern::Bindings;
use crate::transcript::{ImapPattern, Template, Vars};
use serde_json::Value;

/// The capabilities the runner's mail server lists after authentication unless the case names
/// its own (`imap-capabilities:`); before it, without `XAPPLEPUSHSERVICE`, as XAPS-1 requires of
/// a server.
pub const CAPABILITIES: &str =
    "IMAP4rev1 AUTH=PLAIN ENABLE IDLE UIDPLUS CONDSTORE QRESYNC XAPPLEPUSHSERVICE";
const PRE_AUTH_CAPABILITIES: &str = "IMAP4rev1 AUTH=PLAIN ENABLE IDLE UIDPLUS CONDSTORE QRESYNC";

/// The longest command line (literals included) the runner reads.
const MAX_COMMAND: usize = 1 << 20;

/// A command the device sent that the case must answer.
#[derive(Clone, Debug)]
pub struct DeviceCommand {
    /// The device's connection, numbered from 1 in the order they were opened.
    pub conn: usize,
    /// Its place among the commands of its connection that reach the case, from 1 (the
    /// commands the runner answers by itself are not counted).
    pub seq: u64,
    /// Its tag.
    pub tag: String,
    /// Its tokens after the tag.
    pub tokens: Vec<Token>,
    /// The command as received, literals in place.
    pub raw: String,
}

/// A command the device may send next on a connection (`imap <- may`), and the lines it gets.
///
/// The connection's reader answers it as the command arrives, whatever step the case is at: the
/// device may wait for that answer before it does what the case waits for.
#[derive(Clone, Debug)]
pub struct OptionalCommand {
    /// The connection.
    pub conn: usize,
    /// The place the command would have on it: right after the command matched before it.
    pub seq: u64,
    /// What the command looks like.
    pub pattern: ImapPattern,
    /// The answer, rendered once the command's tag is known.
    pub answer: Vec<Template>,
    /// The case's variables when the step was reached.
    pub vars: Vars,
}

/// The write sides of the device's connections, the wire log and the optional commands armed,
/// shared with the case.
#[derive(Clone, Default)]
pub struct Wires {
    writers: Arc<Mutex<HashMap<usize, mpsc::UnboundedSender<Vec<u8>>>>>,
    log: Arc<Mutex<Vec<String>>>,
    /// Armed and not yet answered or lapsed, at most one per connection.
    optional: Arc<Mutex<Vec<OptionalCommand>>>,
}

impl Wires {
    /// Arms `optional` (replacing what was armed on its connection) and gives back, from
    /// `forwarded` (the commands already handed to the case, oldest first), the command it is
    /// about: it is answered there and then, or the step lapses at once. `forwarded` must hold
    /// every command handed over so far: the caller drains its channel into it while this runs.
    pub fn arm(
        &self,
        optional: OptionalCommand,
        forwarded: &mut std::collections::VecDeque<DeviceCommand>,
        drain: impl FnOnce(&mut std::collections::VecDeque<DeviceCommand>),
    ) {
        let Ok(mut armed) = self.optional.lock() else {
            return;
        };
        // Under the lock, no reader hands a command over: every command sent before is in the
        // channel, and every later one is offered to the armed step by its reader.
        drain(forwarded);
        let (conn, seq) = (optional.conn, optional.seq);
        armed.retain(|o| o.conn != conn);
        armed.push(optional);
        if let Some(i) = forwarded
            .iter()
            .position(|c| c.conn == conn && c.seq >= seq)
            && let Some(command) = forwarded.remove(i)
            && let Some(command) = self.offer(&mut armed, command)
        {
            forwarded.insert(i, command);
        }
    }

    /// Forgets every armed optional command.
    pub fn disarm_all(&self) {
        if let Ok(mut armed) = self.optional.lock() {
            armed.clear();
        }
    }

    /// Gives `command` to the optional command armed on its connection: answered when it is the
    /// one the step allows (`None` then: no step sees it); given back, the step lapsed, when the
    /// device sent another in its place.
    fn offer(
        &self,
        armed: &mut Vec<OptionalCommand>,
        command: DeviceCommand,
    ) -> Option<DeviceCommand> {
        let Some(i) = armed
            .iter()
            .position(|o| o.conn == command.conn && o.seq <= command.seq)
        else {
            return Some(command);
        };
        let optional = armed.swap_remove(i);
        if optional.seq != command.seq
            || !optional
                .pattern
                .matches(&command.tokens, &optional.vars, &mut Bindings::new())
        {
            return Some(command);
        }
        let mut vars = optional.vars;
        vars.insert("tag".into(), Value::String(command.tag.clone()));
        for line in &optional.answer {
            // Rendered once already when the step was reached, with a stand-in tag.
            let Ok(text) = line.render(&vars) else { break };
            if self.send(command.conn, &text).is_err() {
                break;
            }
        }
        None
    }

    /// Hands a command to the case, unless the optional command armed on its connection takes
    /// it.
    fn forward(
        &self,
        commands: &mpsc::UnboundedSender<DeviceCommand>,
        command: DeviceCommand,
    ) -> bool {
        let Ok(mut armed) = self.optional.lock() else {
            return false;
        };
        match self.offer(&mut armed, command) {
            Some(command) => commands.send(command).is_ok(),
            None => true,
        }
    }

    /// Logs one line of connection `conn`; `from_device` says which way it went.
    pub fn log(&self, conn: usize, from_device: bool, text: &str) {
        if let Ok(mut log) = self.log.lock() {
            let who = if from_device { "C" } else { "S" };
            log.push(format!("imap{conn} {who}: {}", text.trim_end()));
        }
    }

    /// Sends a line (CRLF added) on connection `conn`.
    pub fn send(&self, conn: usize, line: &str) -> Result<(), String> {
        self.log(conn, false, line);
        let sender = self
            .writers
            .lock()
            .map_err(|_| "the IMAP writers' lock is poisoned".to_string())?
            .get(&conn)
            .cloned()
            .ok_or_else(|| format!("IMAP connection {conn} is not open"))?;
        sender
            .send(format!("{line}\r\n").into_bytes())
            .map_err(|_| format!("IMAP connection {conn} is closed"))
    }

    /// The wire log so far.
    pub fn take_log(&self) -> Vec<String> {
        self.log
            .lock()
            .map(|mut log| std::mem::take(&mut *log))
            .unwrap_or_default()
    }
}

/// What the runner's mail server accepts as the device's credentials.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// The user.
    pub user: String,
    /// The password.
    pub password: String,
    /// What the server lists after authentication.
    pub capabilities: String,
}

/// Accepts the device's IMAP connections (IMAPS) until the listener is dropped with its task.
pub async fn serve(
    listener: TcpListener,
    tls: tokio_rustls::TlsAcceptor,
    credentials: Credentials,
    wires: Wires,
    commands: mpsc::UnboundedSender<DeviceCommand>,
) {
    let mut next = 0usize;
    while let Ok((tcp, _)) = listener.accept().await {
        next += 1;
        let conn = next;
        let tls = tls.clone();
        let credentials = credentials.clone();
        let wires = wires.clone();
        let commands = commands.clone();
        tokio::spawn(async move {
            let Ok(stream) = tls.accept(tcp).await else {
                wires.log(conn, true, "(TLS handshake failed)");
                return;
            };
            let (read, mut write) = tokio::io::split(stream);
            let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
            if let Ok(mut writers) = wires.writers.lock() {
                writers.insert(conn, tx.clone());
            }
            tokio::spawn(async move {
                while let Some(octets) = rx.recv().await {
                    if write.write_all(&octets).await.is_err() {
                        break;
                    }
                }
            });
            let session = Session {
                conn,
                credentials,
                wires: wires.clone(),
                commands,
                authenticated: false,
                qresync_enabled: false,
                forwarded: 0,
            };
            session.run(BufReader::new(read)).await;
            if let Ok(mut writers) = wires.writers.lock() {
                writers.remove(&conn);
            }
            wires.log(conn, true, "(closed)");
        });
    }
}

struct Session {
    conn: usize,
    credentials: Credentials,
    wires: Wires,
    commands: mpsc::UnboundedSender<DeviceCommand>,
    authenticated: bool,
    /// `ENABLE QRESYNC` was sent on this connection (RFC 7162 §3.2.3).
    qresync_enabled: bool,
    /// Commands handed to the case so far.
    forwarded: u64,
}

impl Session {
    fn reply(&self, line: &str) -> bool {
        self.wires.send(self.conn, line).is_ok()
    }

    async fn run<R: tokio::io::AsyncRead + Unpin>(mut self, mut reader: BufReader<R>) {
        if !self.reply(&format!(
            "* OK [CAPABILITY {PRE_AUTH_CAPABILITIES}] mailpush-conform plays the mail server"
        )) {
            return;
        }
        loop {
            let Some(octets) = self.read_command(&mut reader).await else {
                return;
            };
            let raw = String::from_utf8_lossy(&octets).into_owned();
            self.wires.log(self.conn, true, &raw);
            let response = parse_response(&octets);
            let Kind::Tagged(tag) = response.kind else {
                self.reply("* BAD a command starts with a tag");
                continue;
            };
            let word = response
                .tokens
                .first()
                .and_then(Token::text)
                .unwrap_or("")
                .to_ascii_uppercase();
            let go_on = match word.as_str() {
                "CAPABILITY" => {
                    let list = if self.authenticated {
                        self.credentials.capabilities.as_str()
                    } else {
                        PRE_AUTH_CAPABILITIES
                    };
                    self.reply(&format!("* CAPABILITY {list}"))
                        && self.reply(&format!("{tag} OK CAPABILITY done"))
                }
                "NOOP" | "CHECK" => self.reply(&format!("{tag} OK done")),
                "LOGOUT" => {
                    self.reply("* BYE logging out");
                    self.reply(&format!("{tag} OK LOGOUT done"));
                    false
                }
                "LOGIN" => {
                    let args: Vec<&str> = response.tokens.iter().filter_map(Token::text).collect();
                    let ok = args.get(1..3)
                        == Some(&[self.credentials.user.as_str(), &self.credentials.password]);
                    self.authenticate(&tag, ok)
                }
                "AUTHENTICATE" => {
                    self.authenticate_plain(&tag, &response.tokens, &mut reader)
                        .await
                }
                "ENABLE" => {
                    let names: Vec<&str> = response
                        .tokens
                        .iter()
                        .skip(1)
                        .filter_map(Token::text)
                        .filter(|name| self.listed(name))
                        .collect();
                    self.qresync_enabled |= names.iter().any(|n| n.eq_ignore_ascii_case("QRESYNC"));
                    self.reply(&format!("* ENABLED {}", names.join(" ")))
                        && self.reply(&format!("{tag} OK ENABLE done"))
                }
                "IDLE" => self.idle(&tag, &mut reader).await,
                // RFC 7162 §3.2.5: the server MUST answer BAD to a QRESYNC parameter on a
                // connection that has not enabled it. Answered here, so that every case sees a
                // device that skips `ENABLE QRESYNC` (SYNC-1) fail as a real server makes it.
                "SELECT" | "EXAMINE"
                    if !self.qresync_enabled && names_qresync(&response.tokens) =>
                {
                    self.reply(&format!(
                        "{tag} BAD QRESYNC is not enabled on this connection"
                    ))
                }
                _ => {
                    self.forwarded += 1;
                    let command = DeviceCommand {
                        conn: self.conn,
                        seq: self.forwarded,
                        tag,
                        tokens: response.tokens,
                        raw,
                    };
                    self.wires.forward(&self.commands, command)
                }
            };
            if !go_on {
                return;
            }
        }
    }

    /// Whether the server lists `name` in the state the connection is in.
    fn listed(&self, name: &str) -> bool {
        let list = if self.authenticated {
            self.credentials.capabilities.as_str()
        } else {
            PRE_AUTH_CAPABILITIES
        };
        list.split_whitespace()
            .any(|c| c.eq_ignore_ascii_case(name))
    }

    fn authenticate(&mut self, tag: &str, ok: bool) -> bool {
        self.authenticated = ok;
        if ok {
            self.reply(&format!(
                "{tag} OK [CAPABILITY {}] authenticated",
                self.credentials.capabilities
            ))
        } else {
            self.reply(&format!(
                "{tag} NO [AUTHENTICATIONFAILED] not the credentials the runner gave"
            ))
        }
    }

    async fn authenticate_plain<R: tokio::io::AsyncRead + Unpin>(
        &mut self,
        tag: &str,
        tokens: &[Token],
        reader: &mut BufReader<R>,
    ) -> bool {
        if !tokens
            .get(1)
            .and_then(Token::text)
            .is_some_and(|m| m.eq_ignore_ascii_case("PLAIN"))
        {
            return self.reply(&format!("{tag} NO only PLAIN"));
        }
        let answer = match tokens.get(2).and_then(Token::text) {
            Some(initial) => initial.to_owned(),
            None => {
                if !self.reply("+ ") {
                    return false;
                }
                let Some(line) = self.read_command(reader).await else {
                    return false;
                };
                let line = String::from_utf8_lossy(&line).into_owned();
                self.wires.log(self.conn, true, &line);
                line
            }
        };
        let expected = format!("\0{}\0{}", self.credentials.user, self.credentials.password);
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD.decode(answer.trim());
        let ok = decoded.ok().is_some_and(|decoded| {
            decoded == expected.as_bytes()
                || decoded
                    .iter()
                    .position(|b| *b == 0)
                    .is_some_and(|i| decoded.get(i..) == Some(expected.as_bytes()))
        });
        self.authenticate(tag, ok)
    }

    async fn idle<R: tokio::io::AsyncRead + Unpin>(
        &mut self,
        tag: &str,
        reader: &mut BufReader<R>,
    ) -> bool {
        if !self.reply("+ idling") {
            return false;
        }
        let Some(done) = self.read_command(reader).await else {
            return false;
        };
        self.wires
            .log(self.conn, true, &String::from_utf8_lossy(&done));
        self.reply(&format!("{tag} OK IDLE done"))
    }

    /// One command, its literals read in place (a synchronizing literal is invited with `+`).
    /// `None` at the end of the connection or past [`MAX_COMMAND`].
    async fn read_command<R: tokio::io::AsyncRead + Unpin>(
        &self,
        reader: &mut BufReader<R>,
    ) -> Option<Vec<u8>> {
        let mut command = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = (&mut *reader)
                .take((MAX_COMMAND - command.len().min(MAX_COMMAND)) as u64)
                .read_until(b'\n', &mut line)
                .await
                .ok()?;
            if n == 0 || !line.ends_with(b"\n") {
                return None;
            }
            while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                line.pop();
            }
            let literal = literal_length(&line);
            command.extend_from_slice(&line);
            let Some((length, synchronizing)) = literal else {
                return Some(command);
            };
            if command.len() + length > MAX_COMMAND {
                return None;
            }
            if synchronizing && !self.reply("+ go ahead") {
                return None;
            }
            let mut octets = vec![0u8; length];
            reader.read_exact(&mut octets).await.ok()?;
            command.extend_from_slice(b"\r\n");
            command.extend_from_slice(&octets);
        }
    }
}

/// Whether the arguments of a `SELECT` or `EXAMINE` (after the mailbox) name `QRESYNC`.
fn names_qresync(tokens: &[Token]) -> bool {
    tokens.iter().skip(2).any(|token| match token {
        Token::List(items) => items.iter().any(|item| {
            item.text()
                .is_some_and(|t| t.eq_ignore_ascii_case("QRESYNC"))
        }),
        other => other
            .text()
            .is_some_and(|t| t.eq_ignore_ascii_case("QRESYNC")),
    })
}

/// `{n}` or `{n+}` at the end of a line: the literal's length and whether it is synchronizing.
fn literal_length(line: &[u8]) -> Option<(usize, bool)> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|b| *b == b'{')?;
    let digits = inner.get(open + 1..)?;
    let (digits, synchronizing) = match digits.strip_suffix(b"+") {
        Some(d) => (d, false),
        None => (digits, true),
    };
    if digits.is_empty() || digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let length = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((length, synchronizing))
}

#[cfg(test)]
mod tests {
    use super::{literal_length, names_qresync};
    use crate::imap_syntax::parse_response;

    #[test]
    fn a_qresync_parameter_is_found_after_the_mailbox_only() {
        let tokens = |line: &str| parse_response(line.as_bytes()).tokens;
        assert!(names_qresync(&tokens(
            "A1 EXAMINE Notes (QRESYNC (7 4 1:2))"
        )));
        assert!(names_qresync(&tokens(
            "A1 SELECT Notes (CONDSTORE qresync (7 4))"
        )));
        assert!(!names_qresync(&tokens("A1 EXAMINE Notes (CONDSTORE)")));
        assert!(!names_qresync(&tokens("A1 EXAMINE QRESYNC")));
        assert!(!names_qresync(&tokens("A1 EXAMINE Notes")));
    }

    #[test]
    fn literals_are_recognised_at_the_end_only() {
        assert_eq!(literal_length(b"A1 APPEND Notes {12}"), Some((12, true)));
        assert_eq!(literal_length(b"A1 APPEND Notes {12+}"), Some((12, false)));
        assert_eq!(literal_length(b"A1 APPEND Notes {}"), None);
        assert_eq!(literal_length(b"A1 NOOP"), None);
    }
}
