//! The body of a recorded case: every link's messages in the order they completed, each
//! written as the step or expectation of the role under test.

use std::collections::BTreeMap;

use crate::imap_syntax::Kind;
use crate::transcript::Role;

use super::values::ValueMap;
use super::{ConnId, Event, From, Link, Recording, What, http, imap, link_frames};

/// An IMAP command sent and not yet completed.
struct Pending {
    /// Index of its line in the body, filled when it completes or when something else
    /// happens before that.
    line: usize,
    text: String,
    /// Untagged responses held for the compact form.
    untagged: Vec<String>,
    /// Written in the open form (`N command`, then `N <- *` lines, then `N status`).
    open: bool,
    /// The server asked for more with a `+` that was not for a literal (IDLE, AUTHENTICATE).
    continued: bool,
    logout: bool,
}

#[derive(Default)]
struct ImapConn {
    greeted: bool,
    pending: Option<Pending>,
    logged_out: bool,
}

struct Writer<'a> {
    role: Role,
    values: &'a mut ValueMap,
    out: &'a mut Vec<String>,
    notes: &'a mut Vec<String>,
    imap: BTreeMap<u32, ImapConn>,
    buffers: BTreeMap<(ConnId, bool), Vec<u8>>,
    /// Directions no longer followed after octets the recorder could not cut into messages.
    broken: Vec<(ConnId, bool)>,
    devices_connected: Vec<u32>,
    /// Connections one end closed: the other end's close says nothing more.
    closed: Vec<ConnId>,
    commands: usize,
    requests: usize,
    frames: usize,
}

/// Writes the body lines of `recording` for `role`; returns a one-line summary for the title.
pub(crate) fn write(
    recording: &Recording,
    role: Role,
    values: &mut ValueMap,
    out: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> String {
    let mut w = Writer {
        role,
        values,
        out,
        notes,
        imap: BTreeMap::new(),
        buffers: BTreeMap::new(),
        broken: Vec::new(),
        devices_connected: Vec::new(),
        closed: Vec::new(),
        commands: 0,
        requests: 0,
        frames: 0,
    };
    for event in recording.events() {
        w.event(event);
    }
    w.finish();
    format!(
        "{} IMAP commands, {} provider requests, {} frames",
        w.commands, w.requests, w.frames
    )
}

impl Writer<'_> {
    fn event(&mut self, event: &Event) {
        let conn = event.conn;
        let wanted = !matches!(
            (self.role, conn.link),
            (Role::PushServer, Link::Imap) | (Role::ImapServer | Role::Device, Link::Device)
        );
        if !wanted {
            let note = format!(
                "the {} link is not part of a {} case and is left out",
                conn.link.as_str(),
                self.role
            );
            if !self.notes.contains(&note) {
                self.notes.push(note);
            }
            return;
        }
        match &event.what {
            What::Data(from, octets) => {
                let key = (conn, *from == From::Client);
                if self.broken.contains(&key) {
                    return;
                }
                let mut buffer = self.buffers.remove(&key).unwrap_or_default();
                buffer.extend_from_slice(octets);
                match conn.link {
                    Link::Imap => self.imap_data(conn.number, *from, &mut buffer),
                    Link::Push => self.http_data(conn, *from, &mut buffer),
                    Link::Device => self.frame_data(conn, *from, &mut buffer),
                }
                self.buffers.insert(key, buffer);
            }
            What::BeforeTls(from, octets) => self.before_tls(conn, *from, octets),
            What::Secured(how) => {
                let note = format!("{} connection {}: {how}", conn.link.as_str(), conn.number);
                self.notes.push(note);
            }
            What::Closed(from) => self.closed(conn, *from),
            What::Failed(why) => {
                let text = format!("{} connection {}: {why}", conn.link.as_str(), conn.number);
                self.emit(None, vec![format!("# {}", super::one_line(&text))]);
                self.notes.push(text);
            }
        }
    }

    /// Appends `lines`; an IMAP command still held for the compact form on another connection
    /// than `source` is first written in the open form, since something happened meanwhile.
    fn emit(&mut self, source: Option<u32>, lines: Vec<String>) {
        let others: Vec<u32> = self
            .imap
            .iter()
            .filter(|(n, c)| Some(**n) != source && c.pending.as_ref().is_some_and(|p| !p.open))
            .map(|(n, _)| *n)
            .collect();
        for n in others {
            self.open(n);
        }
        self.out.extend(lines);
    }

    fn open(&mut self, n: u32) {
        let Some(p) = self.imap.get_mut(&n).and_then(|c| c.pending.as_mut()) else {
            return;
        };
        if p.open {
            return;
        }
        p.open = true;
        self.out[p.line] = format!("{n} {}", p.text);
        let held = std::mem::take(&mut p.untagged);
        self.out
            .extend(held.into_iter().map(|pat| format!("{n} <- * {pat}")));
    }

    fn imap_data(&mut self, n: u32, from: From, buffer: &mut Vec<u8>) {
        for parts in imap::split(buffer) {
            match from {
                From::Client => self.imap_client(n, &parts),
                From::Server => self.imap_server(n, &parts),
            }
        }
    }

    fn imap_client(&mut self, n: u32, parts: &[imap::Part]) {
        let line = match imap::client_line(parts, self.values) {
            Ok(line) => line,
            Err(why) => {
                self.emit(Some(n), vec![format!("# {n}: a command left out: {why}")]);
                self.notes.push(why);
                return;
            }
        };
        let conn = self.imap.entry(n).or_default();
        let continuation = conn.pending.as_ref().is_some_and(|p| p.continued);
        if line.tag.is_none() || continuation {
            if conn.pending.is_some() {
                self.open(n);
            }
            let text = if continuation && line.tag.is_some() {
                // A continuation line that happens to contain a space: sent as it came.
                parts
                    .first()
                    .map(|p| match p {
                        imap::Part::Text(t) | imap::Part::Literal(t) => {
                            String::from_utf8_lossy(t).replace('$', "$$")
                        }
                    })
                    .unwrap_or_default()
            } else {
                line.text
            };
            self.emit(Some(n), vec![format!("{n} -> {text}")]);
            return;
        }
        self.commands += 1;
        if conn.pending.is_some() {
            self.notes.push(format!(
                "connection {n}: a command sent before the previous one completed (pipelining) is written after it; check the order by hand"
            ));
            self.open(n);
        }
        self.emit(Some(n), Vec::new());
        let index = self.out.len();
        self.out.push(format!("{n} {}", line.text));
        let logout = line.name == "LOGOUT";
        if let Some(conn) = self.imap.get_mut(&n) {
            conn.pending = Some(Pending {
                line: index,
                text: line.text,
                untagged: Vec::new(),
                open: false,
                continued: false,
                logout,
            });
        }
    }

    fn imap_server(&mut self, n: u32, parts: &[imap::Part]) {
        let response = imap::response(parts);
        let client_waiting = self
            .buffers
            .get(&(
                ConnId {
                    link: Link::Imap,
                    number: n,
                },
                true,
            ))
            .is_some_and(|b| !b.is_empty());
        let conn = self.imap.entry(n).or_default();
        if !conn.greeted {
            // The runner connects and reads the greeting itself.
            conn.greeted = true;
            return;
        }
        let pattern = imap::pattern(&response, self.values);
        let conn = self.imap.entry(n).or_default();
        match &response.kind {
            Kind::Continuation => {
                // Asked for a literal the runner sends by itself.
                if client_waiting || conn.pending.is_none() {
                    return;
                }
                if let Some(p) = conn.pending.as_mut() {
                    p.continued = true;
                }
                self.open(n);
                self.emit(Some(n), vec![format!("{n} <- + {pattern}")]);
            }
            Kind::Untagged => match conn.pending.as_mut() {
                Some(p) if !p.open => p.untagged.push(pattern),
                _ => self.emit(Some(n), vec![format!("{n} <- * {pattern}")]),
            },
            Kind::Tagged(_) => {
                let status = response
                    .status()
                    .map(|s| s.to_ascii_lowercase())
                    .filter(|s| ["ok", "no", "bad"].contains(&s.as_str()))
                    .unwrap_or_else(|| "any".to_owned());
                let Some(p) = conn.pending.take() else {
                    self.notes.push(format!(
                        "connection {n}: a tagged response to no command: {}",
                        super::one_line(&response.raw)
                    ));
                    return;
                };
                conn.logged_out |= p.logout;
                if p.open {
                    self.emit(Some(n), vec![format!("{n} {status}")]);
                } else {
                    self.out[p.line] = format!("{n} {status} {}", p.text);
                    self.out
                        .extend(p.untagged.into_iter().map(|pat| format!("* {pat}")));
                }
            }
        }
    }

    fn http_data(&mut self, conn: ConnId, from: From, buffer: &mut Vec<u8>) {
        let requests = from == From::Client;
        match http::split(buffer, requests) {
            Ok(messages) => {
                for m in messages {
                    let lines = match (self.role, requests) {
                        (Role::PushServer, true) => http::api_send(&m, self.values),
                        (Role::PushServer, false) => http::api_expect(&m, self.values),
                        (_, true) => http::push_expect(&m, self.values),
                        (_, false) => vec![format!(
                            "# the push service answered {} (the runner's answers 201)",
                            m.status
                        )],
                    };
                    self.requests += usize::from(requests);
                    self.emit(None, lines);
                }
            }
            Err(why) => self.give_up(conn, requests, buffer, &why),
        }
    }

    fn frame_data(&mut self, conn: ConnId, from: From, buffer: &mut Vec<u8>) {
        let by_device = from == From::Client;
        self.device_connected(conn.number);
        match link_frames::split(buffer) {
            Ok(units) => {
                for unit in units.iter().filter(|u| link_frames::kept(u)) {
                    self.frames += 1;
                    let step = link_frames::step(conn.number, by_device, unit, self.values);
                    self.emit(None, step.lines().map(str::to_owned).collect());
                }
            }
            Err(why) => self.give_up(conn, by_device, buffer, &why),
        }
    }

    fn device_connected(&mut self, number: u32) {
        if !self.devices_connected.contains(&number) {
            self.devices_connected.push(number);
            self.emit(None, vec![format!("dev{number} connect")]);
        }
    }

    /// Stops following one direction of a connection whose octets are not messages of its
    /// link; what they were goes to the notes.
    fn give_up(&mut self, conn: ConnId, client: bool, buffer: &mut Vec<u8>, why: &str) {
        let shown: Vec<u8> = buffer.iter().take(64).copied().collect();
        let text = format!(
            "{} connection {} ({}): {why}; not followed further; it began {}",
            conn.link.as_str(),
            conn.number,
            if client { "client" } else { "server" },
            crate::frames::octets_notation(&shown)
        );
        self.emit(None, vec![format!("# {}", super::one_line(&text))]);
        self.notes.push(text);
        buffer.clear();
        self.broken.push((conn, client));
    }

    fn closed(&mut self, conn: ConnId, from: From) {
        if self.closed.contains(&conn) {
            return;
        }
        self.closed.push(conn);
        match conn.link {
            Link::Imap => {
                let c = self.imap.entry(conn.number).or_default();
                if c.logged_out {
                    return;
                }
                let n = conn.number;
                let line = match from {
                    From::Client => format!("{n} disconnect"),
                    From::Server => format!("{n} <- eof"),
                };
                if self.imap.get(&n).is_some_and(|c| c.pending.is_some()) {
                    self.open(n);
                }
                self.emit(Some(n), vec![line]);
            }
            Link::Device => {
                self.device_connected(conn.number);
                let d = conn.number;
                let line = match from {
                    From::Client => format!("dev{d} disconnect"),
                    From::Server => format!("dev{d} <- eof"),
                };
                self.emit(None, vec![line]);
            }
            Link::Push => {}
        }
    }

    /// The exchange before STARTTLS: the runner connects over TLS from the first octet and
    /// reads the greeting itself, so these lines are comments and the greeting was had.
    fn before_tls(&mut self, conn: ConnId, from: From, octets: &[u8]) {
        if conn.link == Link::Imap {
            self.imap.entry(conn.number).or_default().greeted = true;
        }
        let side = match from {
            From::Client => "client",
            From::Server => "server",
        };
        let text = String::from_utf8_lossy(octets);
        let lines = text
            .lines()
            .map(|line| {
                format!(
                    "# {} before STARTTLS, {side}: {}",
                    conn.number,
                    super::one_line(line)
                )
            })
            .collect();
        self.emit(Some(conn.number), lines);
    }

    fn finish(&mut self) {
        let open: Vec<u32> = self
            .imap
            .iter()
            .filter(|(_, c)| c.pending.is_some())
            .map(|(n, _)| *n)
            .collect();
        for n in open {
            self.open(n);
            self.notes.push(format!(
                "connection {n}: the last command never completed; its status line is missing"
            ));
        }
        for ((conn, client), buffer) in &self.buffers {
            if !buffer.is_empty() && !self.broken.contains(&(*conn, *client)) {
                let shown: Vec<u8> = buffer.iter().take(64).copied().collect();
                self.notes.push(format!(
                    "{} connection {} ({}): {} octets at the end that are not a complete message: {}",
                    conn.link.as_str(),
                    conn.number,
                    if *client { "client" } else { "server" },
                    buffer.len(),
                    crate::frames::octets_notation(&shown)
                ));
            }
        }
    }
}
