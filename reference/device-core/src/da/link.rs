//! The engine's IMAP connection: from the greeting through STARTTLS, authentication and
//! `ENABLE QRESYNC` to an idle, authenticated connection; LIST; and the dispatch of every
//! response to whatever is running.

use std::time::Instant;

use mailpush_imap::{
    Atom, AuthenticateData, Capability, Code, CommandBody, Data, GreetingKind, IString, Mailbox,
    Response, Status, StatusKind, Tag, Vec1,
};

use super::config::{AuthMechanism, Security};
use super::engine::{Engine, Event};
use super::error::Error;
use super::sync::{Method, Sync};
use super::wire::{Incoming, Wire};

/// The connection, as far as the engine knows.
#[derive(Debug)]
pub(super) enum Link {
    /// None.
    Down,
    /// [`Event::Connect`] was emitted; the driver is connecting.
    Connecting { since: Instant },
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
    pub(super) wire: Wire,
    pub(super) stage: Stage,
    /// The capabilities, once known (they are asked again after STARTTLS and after login).
    caps: Option<Vec<Capability>>,
    tls: bool,
    pub(super) method: Method,
    /// When the server last sent something, or the engine started waiting for it.
    pub(super) last_progress: Instant,
    /// Since when the connection has been unused.
    pub(super) idle_since: Instant,
    pub(super) sync_rx: u64,
    pub(super) sync_tx: u64,
}

impl Up {
    fn has(&self, cap: &str) -> bool {
        self.caps
            .as_ref()
            .is_some_and(|c| c.iter().any(|x| x.is(cap)))
    }
}

/// What to do once the capabilities are known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Then {
    BeforeAuth,
    AfterAuth,
}

/// Where the connection is.
#[derive(Debug)]
pub(super) enum Stage {
    Greeting,
    Capability {
        tag: Tag,
        then: Then,
    },
    StartTls {
        tag: Tag,
    },
    /// The driver runs the TLS handshake.
    Tls,
    Authenticate {
        tag: Tag,
        awaiting_continuation: bool,
    },
    Enable {
        tag: Tag,
        enabled: bool,
    },
    /// Authenticated and unused.
    Ready,
    List {
        tag: Tag,
        found: Vec<Mailbox>,
    },
    Sync(Box<Sync>),
}

impl Engine {
    /// The driver connected (for IMAPS, TLS is up too).
    pub fn handle_connected(&mut self, now: Instant) {
        self.now = self.now.max(now);
        if !matches!(self.link, Link::Connecting { .. }) {
            return;
        }
        // A LOGOUT the driver did not write before closing the last connection is not for this one.
        self.pending_output = None;
        let tls = self.config.security == Security::Implicit;
        self.link = Link::Up(Box::new(Up {
            wire: Wire::new(&self.config.limits, false),
            stage: Stage::Greeting,
            caps: None,
            tls,
            method: Method::Plain,
            last_progress: now,
            idle_since: now,
            sync_rx: 0,
            sync_tx: 0,
        }));
    }

    /// The TLS handshake that [`Event::StartTls`] asked for succeeded. (If it failed, call
    /// [`Engine::handle_disconnected`].)
    pub fn handle_tls_established(&mut self, now: Instant) {
        self.now = self.now.max(now);
        let Link::Up(up) = &mut self.link else {
            return;
        };
        if !matches!(up.stage, Stage::Tls) {
            return;
        }
        up.tls = true;
        // RFC 3501 §6.2.1: nothing read before TLS is kept, the capabilities are asked again.
        up.wire = Wire::new(&self.config.limits, true);
        up.caps = None;
        up.last_progress = now;
        let tag = up.wire.send(CommandBody::Capability);
        up.stage = Stage::Capability {
            tag,
            then: Then::BeforeAuth,
        };
    }

    /// The connection is gone, or could not be opened: a sync in progress fails (SYNC-12).
    pub fn handle_disconnected(&mut self, now: Instant) {
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
    pub fn handle_input(&mut self, octets: &[u8], now: Instant) {
        self.now = self.now.max(now);
        let Link::Up(up) = &mut self.link else {
            return;
        };
        if matches!(up.stage, Stage::Tls) {
            // Plaintext after STARTTLS's OK could have been injected (RFC 3501 §6.2.1).
            return;
        }
        up.wire.receive(octets);
        up.last_progress = now;
        while let Link::Up(up) = &mut self.link {
            let message = match up.wire.next() {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(e) => {
                    self.fail_link(e, now);
                    break;
                }
            };
            if let Err(e) = self.on_message(message, now) {
                self.fail_link(e, now);
                break;
            }
            if let Link::Up(up) = &self.link
                && matches!(up.stage, Stage::Tls)
            {
                // What follows STARTTLS's OK in plaintext is discarded (RFC 3501 §6.2.1).
                break;
            }
        }
        self.drive(now);
    }

    /// Octets to send to the server.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if let Some(rest) = self.pending_output.take() {
            return Some(rest);
        }
        match &mut self.link {
            Link::Up(up) => up.wire.take_output(),
            _ => None,
        }
    }

    /// Gives the connection up after a failure: a running sync fails (its own retry delay),
    /// otherwise the account waits before it connects again.
    pub(super) fn fail_link(&mut self, error: Error, now: Instant) {
        self.fail_link_quietly(error, now);
        self.events.push_back(Event::Close);
    }

    fn fail_link_quietly(&mut self, error: Error, now: Instant) {
        let link = std::mem::replace(&mut self.link, Link::Down);
        let stage = match link {
            Link::Up(up) => Some(up.stage),
            _ => None,
        };
        match stage {
            Some(Stage::Sync(sync)) => self.sync_failed(&sync.mailbox().clone(), error, now),
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
            up.wire.send(CommandBody::Logout);
            self.link_down_with_close();
        }
    }

    pub(super) fn link_down_with_close(&mut self) {
        if let Link::Up(up) = &mut self.link {
            // Keep what is still to be written: the driver flushes it before closing.
            if let Some(rest) = up.wire.take_output() {
                self.pending_output = Some(rest);
            }
        }
        self.link = Link::Down;
        self.events.push_back(Event::Close);
    }

    pub(super) fn send_list(&mut self, now: Instant) {
        let Link::Up(up) = &mut self.link else {
            return;
        };
        //= spec/device-local.md#LOCAL-1
        //# Before registering, the DA MUST learn the names of the account's mailboxes from the
        //# mail server (an IMAP `LIST`)
        let tag = up.wire.send(CommandBody::List {
            reference: Mailbox::from_wire(Vec::new()),
            pattern: IString::from("*"),
        });
        up.last_progress = now;
        up.stage = Stage::List {
            tag,
            found: Vec::new(),
        };
    }

    fn on_message(&mut self, message: Incoming, now: Instant) -> Result<(), Error> {
        match message {
            Incoming::Greeting(g) => {
                let caps = match g.text.code {
                    Some(Code::Capability(c)) => Some(c.into_vec()),
                    _ => None,
                };
                let Link::Up(up) = &mut self.link else {
                    return Ok(());
                };
                if caps.is_some() {
                    up.caps = caps;
                }
                match g.kind {
                    GreetingKind::Bye => Err(Error::Refused(g.text.text.as_str().to_owned())),
                    GreetingKind::PreAuth if self.config.security == Security::StartTls => {
                        Err(Error::StartTlsUnavailable)
                    }
                    GreetingKind::PreAuth => self.after_auth(),
                    GreetingKind::Ok => self.before_auth(),
                }
            }
            Incoming::Response(Response::Continue(_)) => self.on_continuation(),
            Incoming::Response(Response::Data(data)) => self.on_data(data),
            Incoming::Response(Response::Tagged { tag, status }) => {
                self.on_tagged(tag, status, now)
            }
        }
    }

    fn up(&mut self) -> Result<&mut Up, Error> {
        match &mut self.link {
            Link::Up(up) => Ok(up),
            _ => Err(Error::ConnectionLost),
        }
    }

    /// Greeted, not authenticated: capabilities, then STARTTLS or authentication.
    fn before_auth(&mut self) -> Result<(), Error> {
        let starttls = self.config.security == Security::StartTls;
        let up = self.up()?;
        if up.caps.is_none() {
            let tag = up.wire.send(CommandBody::Capability);
            up.stage = Stage::Capability {
                tag,
                then: Then::BeforeAuth,
            };
            return Ok(());
        }
        if starttls && !up.tls {
            if !up.has("STARTTLS") {
                return Err(Error::StartTlsUnavailable);
            }
            let tag = up.wire.send(CommandBody::StartTls);
            up.stage = Stage::StartTls { tag };
            return Ok(());
        }
        self.authenticate()
    }

    fn authenticate(&mut self) -> Result<(), Error> {
        let auth = self.config.auth;
        let username = self.config.credentials.username.clone();
        let password = self.config.credentials.password.clone();
        let up = self.up()?;
        up.wire.set_literal_plus(up.has("LITERAL+"));
        let (body, awaiting_continuation) = match auth {
            AuthMechanism::Login => {
                if up.has("LOGINDISABLED") {
                    return Err(Error::AuthUnavailable(
                        "the server says LOGINDISABLED".into(),
                    ));
                }
                let body = CommandBody::Login {
                    username: IString::from(username),
                    password: IString::new(password),
                };
                (body, false)
            }
            AuthMechanism::Plain => {
                if !up.has("AUTH=PLAIN") {
                    return Err(Error::AuthUnavailable(
                        "the server does not offer AUTH=PLAIN".into(),
                    ));
                }
                let sasl_ir = up.has("SASL-IR");
                let mechanism =
                    Atom::new("PLAIN").map_err(|e| Error::Protocol(format!("internal: {e}")))?;
                let body = CommandBody::Authenticate {
                    mechanism,
                    initial_response: sasl_ir.then(|| plain_response(&username, &password)),
                };
                (body, !sasl_ir)
            }
        };
        let tag = up.wire.send(body);
        up.stage = Stage::Authenticate {
            tag,
            awaiting_continuation,
        };
        Ok(())
    }

    /// Authenticated: capabilities again if the server did not send them, then ENABLE.
    fn after_auth(&mut self) -> Result<(), Error> {
        let up = self.up()?;
        if up.caps.is_none() {
            let tag = up.wire.send(CommandBody::Capability);
            up.stage = Stage::Capability {
                tag,
                then: Then::AfterAuth,
            };
            return Ok(());
        }
        up.wire.set_literal_plus(up.has("LITERAL+"));
        if up.has("QRESYNC") {
            //= spec/sync.md#SYNC-1
            //# When
            //# it uses QRESYNC it MUST send `ENABLE QRESYNC` once per connection before its first `SELECT` or
            //# `EXAMINE`.
            let cap = Capability::new("QRESYNC")
                .map_err(|e| Error::Protocol(format!("internal: {e}")))?;
            let tag = up.wire.send(CommandBody::Enable(Vec1::one(cap)));
            up.stage = Stage::Enable {
                tag,
                enabled: false,
            };
            return Ok(());
        }
        let method = if up.has("CONDSTORE") {
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

    fn on_continuation(&mut self) -> Result<(), Error> {
        let username = self.config.credentials.username.clone();
        let password = self.config.credentials.password.clone();
        let up = self.up()?;
        if up.wire.continuation() {
            return Ok(());
        }
        if let Stage::Authenticate {
            awaiting_continuation: waiting @ true,
            ..
        } = &mut up.stage
        {
            *waiting = false;
            up.wire
                .send_authenticate_data(AuthenticateData::Continue(plain_response(
                    &username, &password,
                )));
            return Ok(());
        }
        Err(Error::Protocol(
            "a continuation request nothing waited for".into(),
        ))
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
            Data::Capability(caps) => up.caps = Some(caps.into_vec()),
            Data::Status(Status {
                text:
                    mailpush_imap::RespText {
                        code: Some(Code::Capability(caps)),
                        ..
                    },
                ..
            }) => up.caps = Some(caps.into_vec()),
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
                if let Stage::List { found, .. } = &mut up.stage
                    && selectable
                    && monitored
                    && !found.contains(&mailbox)
                {
                    found.push(mailbox);
                }
            }
            other => {
                if let Stage::Sync(sync) = &mut up.stage {
                    let Some(state) = self.mailboxes.get(sync.mailbox()) else {
                        return Ok(());
                    };
                    let mut contents = Vec::new();
                    sync.on_data(&state.view, other, &mut contents)?;
                    self.events.extend(contents.into_iter().map(Event::Content));
                }
            }
        }
        Ok(())
    }

    fn on_tagged(&mut self, tag: Tag, status: Status, now: Instant) -> Result<(), Error> {
        let ok = status.kind == StatusKind::Ok;
        let text = || {
            let kind = match status.kind {
                StatusKind::Ok => "OK",
                StatusKind::No => "NO",
                StatusKind::Bad => "BAD",
            };
            format!("{kind} {}", status.text.text.as_str())
        };
        let up = self.up()?;
        let stage = std::mem::replace(&mut up.stage, Stage::Ready);
        match stage {
            Stage::Capability { tag: t, then } if t == tag => {
                if !ok {
                    return Err(Error::CommandFailed {
                        command: "CAPABILITY",
                        text: text(),
                    });
                }
                if up.caps.is_none() {
                    up.caps = Some(Vec::new());
                }
                match then {
                    Then::BeforeAuth => self.before_auth(),
                    Then::AfterAuth => self.after_auth(),
                }
            }
            Stage::StartTls { tag: t } if t == tag => {
                if !ok {
                    return Err(Error::CommandFailed {
                        command: "STARTTLS",
                        text: text(),
                    });
                }
                up.stage = Stage::Tls;
                up.last_progress = now;
                self.events.push_back(Event::StartTls);
                Ok(())
            }
            Stage::Authenticate { tag: t, .. } if t == tag => {
                if !ok {
                    return Err(Error::AuthenticationFailed(text()));
                }
                up.caps = match status.text.code {
                    Some(Code::Capability(c)) => Some(c.into_vec()),
                    _ => None,
                };
                self.after_auth()
            }
            Stage::Enable { tag: t, enabled } if t == tag => {
                let method = if ok && enabled {
                    Method::QResync
                } else if up.has("CONDSTORE") {
                    Method::CondStore
                } else {
                    Method::Plain
                };
                self.ready(method);
                Ok(())
            }
            Stage::List { tag: t, found } if t == tag => {
                if !ok {
                    return Err(Error::CommandFailed {
                        command: "LIST",
                        text: text(),
                    });
                }
                up.idle_since = now;
                self.listed(found);
                Ok(())
            }
            Stage::Sync(mut sync) => {
                if !sync.on_tagged(&tag, &status) {
                    return Err(Error::Protocol(format!(
                        "a completion for tag {tag}, which no command has"
                    )));
                }
                if sync.round_done() {
                    up.last_progress = now;
                    self.advance_sync(sync, now);
                } else {
                    up.stage = Stage::Sync(sync);
                }
                Ok(())
            }
            other => {
                up.stage = other;
                Err(Error::Protocol(format!(
                    "a completion for tag {tag}, which no command has"
                )))
            }
        }
    }

    /// LIST completed: register what it found (LOCAL-1), forget what it did not.
    fn listed(&mut self, found: Vec<Mailbox>) {
        let missing: Vec<Mailbox> = self
            .config
            .monitored
            .iter()
            .filter(|m| !found.contains(m))
            .cloned()
            .collect();
        if !missing.is_empty() {
            self.events
                .push_back(Event::MonitoredMissing { mailboxes: missing });
        }
        self.unmonitor_except(&found);
        if found.is_empty() {
            return;
        }
        //= spec/device-local.md#LOCAL-1
        //# MUST register each monitored mailbox under its name exactly as
        //# the server listed it
        self.awaiting_registration = Some(found.clone());
        self.events.push_back(Event::Register {
            account: self.config.account.clone(),
            mailboxes: found,
        });
    }
}

/// SASL PLAIN (RFC 4616): no authorization identity, the user, the password.
fn plain_response(username: &str, password: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(username.len() + password.len() + 2);
    v.push(0);
    v.extend_from_slice(username.as_bytes());
    v.push(0);
    v.extend_from_slice(password);
    v
}
