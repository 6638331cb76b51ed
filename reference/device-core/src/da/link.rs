//! The engine's IMAP connection: the shared [`ImapClient`] takes it from the greeting through
//! STARTTLS and authentication; the engine adds `ENABLE QRESYNC` and LIST, and dispatches every
//! response to whatever is running.

use mailpush_imap::framer::FramerConfig;
use mailpush_imap::{
    Capability, CommandBody, Data, IString, Mailbox, Status, StatusKind, Tag, Vec1,
};

use super::engine::{Engine, Event, ListedMailbox};
use super::error::Error;
use super::sync::{Method, Sync};
use super::write::Write;
use crate::Timestamp;
use crate::imap_client::{CloseReason, ImapClient, ImapClientConfig, ImapEvent};

/// The connection, as far as the engine knows.
#[derive(Debug)]
pub(super) enum Link {
    /// None.
    Down,
    /// [`Event::Connect`] was emitted; the driver is connecting.
    Connecting { since: Timestamp },
    /// Connected.
    Up(Box<Up>),
}

impl Link {
    pub(super) fn is_up(&self) -> bool {
        !matches!(self, Link::Down)
    }
}

/// An open connection.
#[derive(Debug)]
pub(super) struct Up {
    pub(super) client: ImapClient,
    pub(super) stage: Stage,
    pub(super) method: Method,
    /// When the server last sent something, or the engine started waiting for it.
    pub(super) last_progress: Timestamp,
    /// Since when the connection has been unused.
    pub(super) idle_since: Timestamp,
    pub(super) sync_rx: u64,
    pub(super) sync_tx: u64,
}

impl Up {
    /// Sends a command of the engine's; `None` when the client cannot take it (it is closed),
    /// which the caller treats as a lost connection.
    pub(super) fn send(&mut self, body: CommandBody) -> Option<Tag> {
        self.client.send(body).ok()
    }
}

/// The most mailboxes one `LIST` may name; a server that lists more is refused.
const MAX_LISTED: usize = 10_000;

/// Where the connection is.
#[derive(Debug)]
pub(super) enum Stage {
    /// The client is greeting, securing and authenticating.
    Opening,
    Enable {
        tag: Tag,
        enabled: bool,
    },
    /// Authenticated and unused.
    Ready,
    List {
        tag: Tag,
        found: Vec<Mailbox>,
        /// Every mailbox the server listed, monitored or not.
        all: Vec<ListedMailbox>,
    },
    Sync(Box<Sync>),
    /// An application write (SYNC-19).
    Write(Box<Write>),
}

impl Engine {
    /// The shared client's configuration: the engine's credentials, and caps that let a content
    /// fetch of `max_message_octets + 1` octets through (SYNC-14); other literals in replies
    /// (names, strings) are small.
    fn client_config(&self) -> ImapClientConfig {
        let limits = &self.config.limits;
        let max_literal = limits.max_message_octets.saturating_add(1).max(64 * 1024);
        let mut config = ImapClientConfig::new(
            self.config.security,
            self.config.auth,
            self.config.credentials.clone(),
        );
        config.limits = FramerConfig {
            max_line: limits.max_line,
            max_literal,
            max_message: limits.max_line.saturating_add(max_literal as usize),
        };
        config.tag_prefix = 'd';
        config
    }

    /// The driver connected (for IMAPS, TLS is up too).
    pub fn handle_connected(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
        if !matches!(self.link, Link::Connecting { .. }) {
            return;
        }
        // A LOGOUT the driver did not write before closing the last connection is not for this one.
        self.pending_output = None;
        self.link = Link::Up(Box::new(Up {
            client: ImapClient::new(self.client_config()),
            stage: Stage::Opening,
            method: Method::Plain,
            last_progress: now,
            idle_since: now,
            sync_rx: 0,
            sync_tx: 0,
        }));
    }

    /// The TLS handshake that [`Event::StartTls`] asked for succeeded. (If it failed, call
    /// [`Engine::handle_disconnected`].)
    pub fn handle_tls_established(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
        let Link::Up(up) = &mut self.link else {
            return;
        };
        up.client.handle_tls_established();
        up.last_progress = now;
        self.pump(now);
        self.drive(now);
    }

    /// The connection is gone, or could not be opened: a sync in progress fails (SYNC-12).
    pub fn handle_disconnected(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
        match &self.link {
            Link::Down => {}
            Link::Up(up) if matches!(up.stage, Stage::Ready) => self.link = Link::Down,
            _ => {
                self.fail_link_quietly(Error::ConnectionLost, now);
            }
        }
        self.drive(now);
    }

    /// Octets from the server.
    pub fn handle_input(&mut self, octets: &[u8], now: Timestamp) {
        self.now = self.now.max(now);
        let Link::Up(up) = &mut self.link else {
            return;
        };
        up.client.handle_input(octets);
        up.last_progress = now;
        self.pump(now);
        self.drive(now);
    }

    /// Octets to send to the server.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if let Some(rest) = self.pending_output.take() {
            return Some(rest);
        }
        match &mut self.link {
            Link::Up(up) => up.client.poll_transmit(),
            _ => None,
        }
    }

    /// Acts on everything the client has to say.
    fn pump(&mut self, now: Timestamp) {
        loop {
            let Link::Up(up) = &mut self.link else {
                return;
            };
            let Some(event) = up.client.poll_event() else {
                return;
            };
            let result = match event {
                ImapEvent::StartTls => {
                    self.events.push_back(Event::StartTls);
                    Ok(())
                }
                ImapEvent::Ready => self.authenticated(),
                ImapEvent::Untagged(data) => self.on_data(data),
                // The engine needs every response: one it cannot read may be a change it would
                // miss.
                ImapEvent::Unparsed { message } => Err(Error::Malformed(message)),
                ImapEvent::Completed { tag, status } => self.on_tagged(tag, status, now),
                ImapEvent::Closed(reason) => Err(closed(reason)),
            };
            if let Err(e) = result {
                self.fail_link(e, now);
                return;
            }
        }
    }

    /// Gives the connection up after a failure: a running sync fails (its own retry delay),
    /// otherwise the account waits before it connects again.
    pub(super) fn fail_link(&mut self, error: Error, now: Timestamp) {
        self.fail_link_quietly(error, now);
        self.events.push_back(Event::Close);
    }

    fn fail_link_quietly(&mut self, error: Error, now: Timestamp) {
        let link = std::mem::replace(&mut self.link, Link::Down);
        let stage = match link {
            Link::Up(up) => Some(up.stage),
            _ => None,
        };
        match stage {
            Some(Stage::Sync(sync)) => self.sync_failed(&sync.mailbox().clone(), error, now),
            Some(Stage::Write(write)) => {
                // The connection is gone: the next one waits like after any failure.
                self.account_failure(now);
                self.write_failed(*write, error);
            }
            other => {
                if matches!(other, Some(Stage::List { .. })) {
                    self.need_list = true;
                }
                let retry_at = self.account_failure(now);
                self.events
                    .push_back(Event::ConnectionFailed { error, retry_at });
            }
        }
    }

    /// Closes an unused connection.
    pub(super) fn logout(&mut self) {
        if let Link::Up(up) = &mut self.link {
            up.client.logout();
            self.link_down_with_close();
        }
    }

    pub(super) fn link_down_with_close(&mut self) {
        if let Link::Up(up) = &mut self.link {
            // Keep what is still to be written: the driver flushes it before closing.
            if let Some(rest) = up.client.poll_transmit() {
                self.pending_output = Some(rest);
            }
        }
        self.link = Link::Down;
        self.events.push_back(Event::Close);
    }

    pub(super) fn send_list(&mut self, now: Timestamp) {
        let Link::Up(up) = &mut self.link else {
            return;
        };
        //= spec/device-local.md#LOCAL-1
        //# Before registering, the DA MUST learn the names of the account's mailboxes from the
        //# mail server (an IMAP `LIST`)
        let Some(tag) = up.send(CommandBody::List {
            reference: Mailbox::from_wire(Vec::new()),
            pattern: IString::from("*"),
        }) else {
            self.fail_link(Error::ConnectionLost, now);
            return;
        };
        up.last_progress = now;
        up.stage = Stage::List {
            tag,
            found: Vec::new(),
            all: Vec::new(),
        };
    }

    /// Authenticated, with the capabilities listed after authentication: ENABLE, or ready.
    fn authenticated(&mut self) -> Result<(), Error> {
        let Link::Up(up) = &mut self.link else {
            return Err(Error::ConnectionLost);
        };
        let offered = |name: &str| {
            up.client.has_capability(name)
                && !self
                    .config
                    .masked_capabilities
                    .iter()
                    .any(|m| m.eq_ignore_ascii_case(name))
        };
        let condstore = offered("CONDSTORE");
        if offered("QRESYNC") {
            //= spec/sync.md#SYNC-1
            //# When
            //# it uses QRESYNC it MUST send `ENABLE QRESYNC` once per connection before its first `SELECT` or
            //# `EXAMINE`.
            let cap = Capability::new("QRESYNC")
                .map_err(|e| Error::Protocol(format!("internal: {e}")))?;
            let tag = up
                .send(CommandBody::Enable(Vec1::one(cap)))
                .ok_or(Error::ConnectionLost)?;
            up.stage = Stage::Enable {
                tag,
                enabled: false,
            };
            return Ok(());
        }
        let method = if condstore {
            Method::CondStore
        } else {
            Method::Plain
        };
        self.ready(method);
        Ok(())
    }

    fn ready(&mut self, method: Method) {
        if let Link::Up(up) = &mut self.link {
            up.method = method;
            up.stage = Stage::Ready;
            up.idle_since = self.now;
        }
        self.account_failures = 0;
        self.account_failed_at = None;
        self.reconnect_at = None;
    }

    fn on_data(&mut self, data: Data) -> Result<(), Error> {
        let Link::Up(up) = &mut self.link else {
            return Err(Error::ConnectionLost);
        };
        match data {
            Data::Bye(text) => {
                if matches!(up.stage, Stage::Ready) {
                    // An unused connection closed by the server (autologout): no failure.
                    self.link_down_with_close();
                    return Ok(());
                }
                return Err(Error::Bye(text.text.as_str().to_owned()));
            }
            Data::Enabled(caps) => {
                if let Stage::Enable { enabled, .. } = &mut up.stage {
                    *enabled |= caps.iter().any(|c| c.is("QRESYNC"));
                }
            }
            Data::List {
                attributes,
                mailbox,
                ..
            } => {
                let selectable = !attributes
                    .iter()
                    .any(|a| a.eq_ignore_case("Noselect") || a.eq_ignore_case("NonExistent"));
                let monitored = self.config.monitored.contains(&mailbox);
                if let Stage::List { found, all, .. } = &mut up.stage {
                    if all.len() >= MAX_LISTED {
                        return Err(Error::Limit(format!(
                            "more than {MAX_LISTED} mailboxes listed"
                        )));
                    }
                    if !all.iter().any(|l| l.mailbox == mailbox) {
                        all.push(ListedMailbox {
                            mailbox: mailbox.clone(),
                            attributes: attributes.iter().map(|a| a.as_str().to_owned()).collect(),
                            selectable,
                        });
                    }
                    if selectable && monitored && !found.contains(&mailbox) {
                        found.push(mailbox);
                    }
                }
            }
            other => match &mut up.stage {
                Stage::Sync(sync) => {
                    let Some(state) = self.mailboxes.get(sync.mailbox()) else {
                        return Ok(());
                    };
                    let mut contents = Vec::new();
                    sync.on_data(&state.view, other, &mut contents)?;
                    self.events.extend(contents.into_iter().map(Event::Content));
                }
                Stage::Write(write) => write.on_data(other),
                _ => {}
            },
        }
        Ok(())
    }

    fn on_tagged(&mut self, tag: Tag, status: Status, now: Timestamp) -> Result<(), Error> {
        let ok = status.kind == StatusKind::Ok;
        let Link::Up(up) = &mut self.link else {
            return Err(Error::ConnectionLost);
        };
        let stage = std::mem::replace(&mut up.stage, Stage::Ready);
        match stage {
            Stage::Enable { tag: t, enabled } if t == tag => {
                let method = if ok && enabled {
                    Method::QResync
                } else if up.client.has_capability("CONDSTORE") {
                    Method::CondStore
                } else {
                    Method::Plain
                };
                self.ready(method);
                Ok(())
            }
            Stage::List { tag: t, found, all } if t == tag => {
                if !ok {
                    return Err(Error::CommandFailed {
                        command: "LIST",
                        text: status_text(&status),
                    });
                }
                up.idle_since = now;
                self.events.push_back(Event::Listed { mailboxes: all });
                self.listed(found);
                Ok(())
            }
            Stage::Sync(mut sync) => {
                if !sync.on_tagged(&tag, &status) {
                    return Err(unknown_tag(&tag));
                }
                if sync.round_done() {
                    up.last_progress = now;
                    self.advance_sync(sync, now);
                } else {
                    up.stage = Stage::Sync(sync);
                }
                Ok(())
            }
            Stage::Write(mut write) => {
                if !write.on_tagged(&tag, &status) {
                    return Err(unknown_tag(&tag));
                }
                if write.round_done() {
                    up.last_progress = now;
                    self.advance_write(write, now);
                } else {
                    up.stage = Stage::Write(write);
                }
                Ok(())
            }
            other => {
                up.stage = other;
                Err(unknown_tag(&tag))
            }
        }
    }

    /// LIST completed: register what it found (LOCAL-1) and the configured mailboxes it held
    /// that the list no longer shows, which keep their tokens (SYNC-23); forget what is no
    /// longer configured.
    fn listed(&mut self, found: Vec<Mailbox>) {
        let missing: Vec<Mailbox> = self
            .config
            .monitored
            .iter()
            .filter(|m| !found.contains(m))
            .cloned()
            .collect();
        if !missing.is_empty() {
            self.events.push_back(Event::MonitoredMissing {
                mailboxes: missing.clone(),
            });
        }
        self.unmonitor_except(&self.config.monitored.clone());
        for mailbox in &found {
            if let Some(state) = self.mailboxes.get_mut(mailbox) {
                // Back under its name: synchronized once registered, like any listed mailbox.
                state.absent = false;
            }
        }
        let mut register = found;
        for mailbox in missing {
            let Some(state) = self.mailboxes.get_mut(&mailbox) else {
                continue;
            };
            //= spec/sync.md#SYNC-23
            //# A mailbox that the DA is configured to monitor and that the
            //# list no longer shows MUST keep its token and stay monitored
            state.absent = true;
            state.dirty = false;
            // A restarted DA holds the view but not yet the token: the mail client gives back
            // the one it kept (LOCAL-2), which its polls wake.
            if state.token.is_none() {
                register.push(mailbox);
            }
        }
        if register.is_empty() {
            return;
        }
        //= spec/device-local.md#LOCAL-1
        //# MUST register each monitored mailbox under its name exactly as
        //# the server listed it
        self.awaiting_registration = Some(register.clone());
        self.events.push_back(Event::Register {
            account: self.config.account.clone(),
            mailboxes: register,
        });
    }
}

/// `NO text` / `BAD text`, for errors.
pub(super) fn status_text(status: &Status) -> String {
    let kind = match status.kind {
        StatusKind::Ok => "OK",
        StatusKind::No => "NO",
        StatusKind::Bad => "BAD",
    };
    format!("{kind} {}", status.text.text.as_str())
}

fn unknown_tag(tag: &Tag) -> Error {
    Error::Protocol(format!("a completion for tag {tag}, which no command has"))
}

/// What the engine reports when the shared client closed the connection.
fn closed(reason: CloseReason) -> Error {
    match reason {
        CloseReason::Bye(text) => Error::Bye(text),
        CloseReason::CommandFailed { command, text } => Error::CommandFailed { command, text },
        CloseReason::Malformed(text) => Error::Malformed(text),
        CloseReason::Protocol(text) => Error::Protocol(text),
        CloseReason::TooLarge(error) => Error::Limit(error.to_string()),
        CloseReason::Logout | CloseReason::Eof => Error::ConnectionLost,
        other => Error::Connection(other),
    }
}
