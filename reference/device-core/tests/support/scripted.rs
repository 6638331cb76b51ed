//! A line-by-line IMAP server with fixed answers, for what the mailpush mail server never does:
//! no `XAPPLEPUSHSERVICE` (Dovecot without a push plugin), a version 1 reply in the unquoted
//! form, a `NO`, or no reply at all.

use std::collections::HashMap;

use mailpush_device_core::mail_client::{ConnectionId, Timestamp};

use super::ImapServer;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Xaps {
    /// Not listed after authentication.
    Absent,
    /// `* XAPPLEPUSHSERVICE aps-version 1 aps-topic ...`, unquoted.
    Version1,
    /// Version 2, unquoted, acknowledging every requested mailbox but the last.
    AllButLast,
    /// `NO`.
    Refused,
    /// Never answers the command.
    Silent,
}

pub struct Scripted {
    pub xaps: Xaps,
    /// Every command line received.
    pub lines: Vec<String>,
    buffers: HashMap<ConnectionId, Vec<u8>>,
}

impl Scripted {
    pub fn new(xaps: Xaps) -> Self {
        Self {
            xaps,
            lines: Vec::new(),
            buffers: HashMap::new(),
        }
    }

    pub fn count(&self, command: &str) -> usize {
        self.lines
            .iter()
            .filter(|l| l.split(' ').nth(1) == Some(command))
            .count()
    }

    fn answer(&self, line: &str) -> (String, bool) {
        let mut words = line.split(' ');
        let tag = words.next().unwrap_or("*");
        let command = words.next().unwrap_or("").to_ascii_uppercase();
        let caps = match self.xaps {
            Xaps::Absent => "IMAP4rev1 IDLE",
            _ => "IMAP4rev1 IDLE XAPPLEPUSHSERVICE",
        };
        match command.as_str() {
            "LOGIN" => (format!("{tag} OK [CAPABILITY {caps}] in\r\n"), false),
            "CAPABILITY" => (format!("* CAPABILITY {caps}\r\n{tag} OK\r\n"), false),
            "LOGOUT" => (format!("* BYE bye\r\n{tag} OK\r\n"), true),
            "XAPPLEPUSHSERVICE" => {
                let reply = match self.xaps {
                    Xaps::Absent => format!("{tag} BAD unknown command\r\n"),
                    Xaps::Version1 => format!(
                        "* XAPPLEPUSHSERVICE aps-version 1 aps-topic com.test\r\n{tag} OK\r\n"
                    ),
                    Xaps::AllButLast => {
                        let list = line
                            .split_once("mailboxes (")
                            .map_or("", |(_, l)| l.trim_end_matches(')'));
                        let names: Vec<&str> = list.split(' ').filter(|n| !n.is_empty()).collect();
                        let mut reply = String::new();
                        for name in names.iter().take(names.len().saturating_sub(1)) {
                            reply.push_str(&format!("* XAPPLEPUSHSERVICE mailbox {name}\r\n"));
                        }
                        reply.push_str("* XAPPLEPUSHSERVICE aps-version 2 aps-topic com.test\r\n");
                        reply.push_str(&format!("{tag} OK\r\n"));
                        reply
                    }
                    Xaps::Refused => format!("{tag} NO [LIMIT] too many registrations\r\n"),
                    Xaps::Silent => String::new(),
                };
                (reply, false)
            }
            _ => (format!("{tag} BAD what\r\n"), false),
        }
    }
}

impl ImapServer for Scripted {
    fn open(&mut self, conn: ConnectionId, _: Timestamp) -> Vec<u8> {
        self.buffers.insert(conn, Vec::new());
        b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] scripted\r\n".to_vec()
    }

    fn input(&mut self, conn: ConnectionId, octets: &[u8], _: Timestamp) -> (Vec<u8>, bool) {
        let Some(buffer) = self.buffers.get_mut(&conn) else {
            return (Vec::new(), true);
        };
        buffer.extend_from_slice(octets);
        let mut reply = Vec::new();
        let mut closed = false;
        while let Some(end) = self.buffers[&conn].windows(2).position(|w| w == b"\r\n") {
            let buffer = self.buffers.get_mut(&conn).unwrap();
            let line = String::from_utf8_lossy(&buffer[..end]).into_owned();
            buffer.drain(..end + 2);
            let (answer, close) = self.answer(&line);
            self.lines.push(line);
            reply.extend(answer.into_bytes());
            closed |= close;
        }
        if closed {
            self.buffers.remove(&conn);
        }
        (reply, closed)
    }

    fn close(&mut self, conn: ConnectionId) {
        self.buffers.remove(&conn);
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
