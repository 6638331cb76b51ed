//! The runner's two clients: IMAP straight to the mail server (changes made "elsewhere" and the
//! server's side of the comparison), and the device daemon's local API (changes made on a device
//! and the device's side). Every call has a deadline; a failure is a message, since a fault
//! may have caused it.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UnixStream};

/// Longest wait for one answer.
const ANSWER: Duration = Duration::from_secs(10);

/// What a mailbox holds: its UIDVALIDITY and, per UID, its flags (sorted, without `\Recent`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    /// UIDVALIDITY.
    pub uid_validity: u64,
    /// UID and flags, by UID.
    pub messages: Vec<(u32, Vec<String>)>,
}

/// A logged-in IMAP connection (plain, on loopback).
pub struct Imap {
    io: BufReader<TcpStream>,
    tag: u32,
}

impl Imap {
    /// Connects and logs in.
    pub async fn connect(addr: SocketAddr, user: &str, password: &str) -> Result<Imap, String> {
        let stream = tokio::time::timeout(ANSWER, TcpStream::connect(addr))
            .await
            .map_err(|_| "connect timed out".to_owned())?
            .map_err(|e| format!("connect: {e}"))?;
        let mut imap = Imap {
            io: BufReader::new(stream),
            tag: 0,
        };
        imap.read_line().await?;
        imap.command(&format!("LOGIN {user} {password}")).await?;
        Ok(imap)
    }

    async fn read_line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        let n = tokio::time::timeout(ANSWER, self.io.read_line(&mut line))
            .await
            .map_err(|_| "no answer".to_owned())?
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("the server closed the connection".into());
        }
        Ok(line)
    }

    /// Sends a command (a literal inline as `{n+}`) and returns the untagged lines of an `OK`.
    pub async fn command(&mut self, command: &str) -> Result<Vec<String>, String> {
        self.tag += 1;
        let tag = format!("c{} ", self.tag);
        self.io
            .get_mut()
            .write_all(format!("{tag}{command}\r\n").as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut lines = Vec::new();
        loop {
            let line = self.read_line().await?;
            if let Some(status) = line.strip_prefix(&tag) {
                if status.starts_with("OK") {
                    return Ok(lines);
                }
                let head = command.split_whitespace().next().unwrap_or_default();
                return Err(format!("{head}: {}", status.trim_end()));
            }
            lines.push(line);
        }
    }

    /// Appends a message.
    pub async fn append(&mut self, mailbox: &str, message: &str) -> Result<(), String> {
        self.command(&format!(
            "APPEND {mailbox} {{{}+}}\r\n{message}",
            message.len()
        ))
        .await
        .map(drop)
    }

    /// The UIDVALIDITY and the UIDs and flags of `mailbox` (selected read-only).
    pub async fn listing(&mut self, mailbox: &str) -> Result<Listing, String> {
        let examined = self.command(&format!("EXAMINE {mailbox}")).await?;
        let uid_validity = examined
            .iter()
            .find_map(|l| number_after(l, "[UIDVALIDITY "))
            .ok_or("EXAMINE gave no UIDVALIDITY")?;
        let lines = self.command("UID FETCH 1:* (UID FLAGS)").await?;
        let mut messages = Vec::new();
        for line in lines.iter().filter(|l| l.contains(" FETCH (")) {
            let uid = number_after(line, "UID ").ok_or_else(|| format!("no UID in {line}"))?;
            let flags = line
                .split("FLAGS (")
                .nth(1)
                .and_then(|f| f.split(')').next())
                .ok_or_else(|| format!("no FLAGS in {line}"))?;
            let uid = u32::try_from(uid).map_err(|_| format!("UID out of range in {line}"))?;
            messages.push((uid, sorted_flags(flags.split(' '))));
        }
        messages.sort();
        Ok(Listing {
            uid_validity,
            messages,
        })
    }
}

fn number_after(line: &str, marker: &str) -> Option<u64> {
    let rest = line.split(marker).nth(1)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn sorted_flags<'a>(flags: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut flags: Vec<String> = flags
        .filter(|f| !f.is_empty() && !f.eq_ignore_ascii_case("\\Recent"))
        .map(str::to_owned)
        .collect();
    flags.sort();
    flags
}

/// One request to a device daemon's local API on a connection of its own; the `result`.
pub async fn api(socket: &Path, op: &str, args: Value) -> Result<Value, String> {
    let call = async {
        let stream = UnixStream::connect(socket)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let mut io = BufReader::new(stream);
        let mut request = json!({"v": 1, "id": 1, "op": op});
        if let (Some(request), Value::Object(args)) = (request.as_object_mut(), args) {
            request.extend(args);
        }
        io.get_mut()
            .write_all(format!("{request}\n").as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        loop {
            let mut line = String::new();
            if io
                .read_line(&mut line)
                .await
                .map_err(|e| format!("read: {e}"))?
                == 0
            {
                return Err("the daemon closed the connection".to_owned());
            }
            let answer: Value =
                serde_json::from_str(&line).map_err(|e| format!("not JSON: {e}: {line}"))?;
            if answer.get("id") != Some(&json!(1)) {
                continue;
            }
            if let Some(error) = answer.get("error") {
                return Err(format!("{op}: {error}"));
            }
            return Ok(answer.get("result").cloned().unwrap_or(Value::Null));
        }
    };
    tokio::time::timeout(ANSWER, call)
        .await
        .map_err(|_| format!("{op}: no answer"))?
}

/// The device's view of `mailbox` in the form of [`Imap::listing`].
pub async fn view(socket: &Path, account: &str, mailbox: &str) -> Result<Listing, String> {
    let result = api(
        socket,
        "messages",
        json!({"account": account, "mailbox": mailbox}),
    )
    .await?;
    let uid_validity = result["uid_validity"]
        .as_u64()
        .ok_or("the view has no UIDVALIDITY yet")?;
    let mut messages = Vec::new();
    for m in result["messages"].as_array().into_iter().flatten() {
        let uid = m["uid"]
            .as_u64()
            .and_then(|u| u32::try_from(u).ok())
            .ok_or_else(|| format!("a message without a UID: {m}"))?;
        let flags = m["flags"].as_array().into_iter().flatten();
        messages.push((uid, sorted_flags(flags.filter_map(Value::as_str))));
    }
    messages.sort();
    Ok(Listing {
        uid_validity,
        messages,
    })
}
