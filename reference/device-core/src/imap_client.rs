//! One client-side IMAP connection, sans-IO: the plumbing every IMAP user on the device shares
//! (the mail client's push registration and the DA's sync). It reads the greeting, runs
//! STARTTLS when asked to, authenticates (`LOGIN`, or `AUTHENTICATE PLAIN` with or without
//! SASL-IR), learns the capabilities the server lists after authentication, and then sends the
//! owner's commands, waiting for `+` before each synchronizing literal (none when the server
//! announced `LITERAL+`).
//!
//! Octets go in with [`ImapClient::handle_input`], out with [`ImapClient::poll_transmit`];
//! everything else is an [`ImapEvent`]. The core has no timers: an owner that wants a response
//! deadline keeps it. TLS is the driver's: for [`Security::Tls`] it connects with TLS before
//! feeding the greeting; for [`Security::StartTls`] it starts the handshake when the core says
//! [`ImapEvent::StartTls`] and reports [`ImapClient::handle_tls_established`].

use std::collections::VecDeque;
use std::fmt;

use mailpush_imap::framer::{Frame, FrameError, Framer, FramerConfig};
use mailpush_imap::{
    Atom, AuthenticateData, Capability, Code, Command, CommandBody, Data, Decode, Decoded, Encode,
    EncodeOptions, Greeting, GreetingKind, IString, Response, Status, StatusKind, Tag,
};

/// How the connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first octet (IMAPS); the driver does it before the greeting.
    Tls,
    /// `STARTTLS` before authenticating.
    StartTls,
    /// No TLS at all. Only for a server on the loopback interface (ARCH-5).
    Cleartext,
}

/// The SASL mechanism or command used to authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    /// `LOGIN user password`.
    Login,
    /// `AUTHENTICATE PLAIN` (RFC 4616), with the initial response on the command line when the
    /// server lists `SASL-IR`.
    Plain,
}

/// Who logs in. `Debug` does not show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
    /// How to present them.
    pub mechanism: Mechanism,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("mechanism", &self.mechanism)
            .finish()
    }
}

/// How to connect and log in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImapClientConfig {
    /// TLS, STARTTLS or (loopback only) none.
    pub security: Security,
    /// The account's credentials.
    pub credentials: Credentials,
    /// Caps on what the server may send in one response.
    pub limits: FramerConfig,
}

impl ImapClientConfig {
    /// Default caps: lines of up to 1 MiB (a `SEARCH` of a large mailbox is one line) and
    /// messages of up to 80 MiB.
    pub fn new(security: Security, credentials: Credentials) -> Self {
        Self {
            security,
            credentials,
            limits: FramerConfig {
                max_line: 1024 * 1024,
                ..FramerConfig::default()
            },
        }
    }
}

/// Why the connection ended.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CloseReason {
    /// `LOGOUT` completed, or the owner closed the connection.
    #[error("logged out")]
    Logout,
    /// The server said `BYE`.
    #[error("the server said BYE: {0}")]
    Bye(String),
    /// The server closed the connection without `BYE`.
    #[error("the server closed the connection")]
    Eof,
    /// The server refused the credentials.
    #[error("authentication failed: {0}")]
    AuthenticationFailed(String),
    /// The server lists `LOGINDISABLED` and `LOGIN` is the configured mechanism.
    #[error("the server does not allow LOGIN on this connection")]
    LoginDisabled,
    /// `STARTTLS` was refused, or impossible after a `PREAUTH` greeting.
    #[error("STARTTLS refused: {0}")]
    StartTlsRefused(String),
    /// The server sent something that is not IMAP where IMAP was required.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The server sent a response over the caps.
    #[error("response too large: {0}")]
    TooLarge(FrameError),
}

/// Something the owner must act on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImapEvent {
    /// The server accepted `STARTTLS`: start the TLS handshake on the socket now, then call
    /// [`ImapClient::handle_tls_established`].
    StartTls,
    /// Authenticated; [`ImapClient::capabilities`] are the ones listed after authentication.
    Ready,
    /// Untagged data received once ready.
    Untagged(Data),
    /// An untagged line this codec does not understand (for example `* ID ...`); it was
    /// skipped. An owner that needs every response may close the connection.
    Unparsed {
        /// What the parser said.
        message: String,
    },
    /// A command sent with [`ImapClient::send`] completed.
    Completed {
        /// Its tag.
        tag: Tag,
        /// The server's answer.
        status: Status,
    },
    /// The connection is over: send what [`ImapClient::poll_transmit`] still has, then close.
    Closed(CloseReason),
}

/// A command the owner may not send now.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImapClientError {
    /// The connection is not authenticated yet.
    #[error("the IMAP connection is not ready")]
    NotReady,
    /// The connection is closed.
    #[error("the IMAP connection is closed")]
    Closed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Greeting,
    StartTls(Tag),
    TlsHandshake,
    /// LOGIN or AUTHENTICATE sent; `plain` holds the PLAIN response still to send after `+`.
    Authenticating {
        tag: Tag,
        plain: Option<Vec<u8>>,
    },
    Capability(Tag),
    Ready {
        logout: Option<Tag>,
    },
    Closed,
}

/// A piece of a command; pieces after a synchronizing literal wait for `+`.
#[derive(Debug)]
struct Segment {
    tag: Tag,
    bytes: Vec<u8>,
    after_continuation: bool,
}

/// One IMAP client connection. See the module documentation.
#[derive(Debug)]
pub struct ImapClient {
    config: ImapClientConfig,
    state: State,
    framer: Framer,
    capabilities: Vec<Capability>,
    /// The capabilities were listed after authentication.
    authenticated_capabilities: bool,
    next_tag: u64,
    queue: VecDeque<Segment>,
    /// Tags of the owner's commands not yet completed.
    in_flight: Vec<Tag>,
    continuation_granted: bool,
    output: Vec<u8>,
    events: VecDeque<ImapEvent>,
    bye: Option<String>,
}

impl ImapClient {
    /// A connection whose socket (with TLS for [`Security::Tls`]) is open; the greeting is next.
    pub fn new(config: ImapClientConfig) -> Self {
        let framer = Framer::new(config.limits);
        Self {
            config,
            state: State::Greeting,
            framer,
            capabilities: Vec::new(),
            authenticated_capabilities: false,
            next_tag: 1,
            queue: VecDeque::new(),
            in_flight: Vec::new(),
            continuation_granted: false,
            output: Vec::new(),
            events: VecDeque::new(),
            bye: None,
        }
    }

    /// True once authenticated and the capabilities are known, until closed or logging out.
    pub fn is_ready(&self) -> bool {
        matches!(self.state, State::Ready { logout: None })
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// The capabilities the server listed last. Once [`ImapEvent::Ready`] was reported they are
    /// the ones listed after authentication.
    pub fn capabilities(&self) -> &[Capability] {
        &self.capabilities
    }

    /// Whether the server listed `name` after authentication (false before
    /// [`ImapEvent::Ready`]).
    pub fn has_capability(&self, name: &str) -> bool {
        self.authenticated_capabilities && self.capabilities.iter().any(|c| c.is(name))
    }

    /// Sends a command; its completion arrives as [`ImapEvent::Completed`] with the returned
    /// tag. Commands may be pipelined.
    pub fn send(&mut self, body: CommandBody) -> Result<Tag, ImapClientError> {
        match self.state {
            State::Ready { logout: None } => {
                let tag = self.command(body);
                self.in_flight.push(tag.clone());
                Ok(tag)
            }
            State::Closed => Err(ImapClientError::Closed),
            _ => Err(ImapClientError::NotReady),
        }
    }

    /// Ends the session: `LOGOUT` when authenticated, otherwise the connection just closes.
    pub fn logout(&mut self) {
        match self.state {
            State::Ready { logout: None } => {
                let tag = self.command(CommandBody::Logout);
                self.state = State::Ready { logout: Some(tag) };
            }
            State::Ready { logout: Some(_) } | State::Closed => {}
            _ => self.close(CloseReason::Logout),
        }
    }

    /// Octets to write to the socket.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.output.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.output))
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ImapEvent> {
        self.events.pop_front()
    }

    /// The TLS handshake that [`ImapEvent::StartTls`] asked for is done.
    pub fn handle_tls_established(&mut self) {
        if self.state != State::TlsHandshake {
            return;
        }
        // RFC 3501 §6.2.1: what the server listed before TLS may have been forged.
        self.capabilities.clear();
        self.framer = Framer::new(self.config.limits);
        self.authenticate();
    }

    /// The server closed the connection (or the socket failed).
    pub fn handle_eof(&mut self) {
        if self.is_closed() {
            return;
        }
        let reason = match (&self.state, self.bye.take()) {
            (State::Ready { logout: Some(_) }, _) => CloseReason::Logout,
            (_, Some(text)) => CloseReason::Bye(text),
            (_, None) => CloseReason::Eof,
        };
        self.close(reason);
    }

    /// Octets read from the socket.
    pub fn handle_input(&mut self, octets: &[u8]) {
        // Between the tagged OK of STARTTLS and the handshake, plaintext may be injected.
        if matches!(self.state, State::Closed | State::TlsHandshake) {
            return;
        }
        self.framer.push(octets);
        while !matches!(self.state, State::Closed | State::TlsHandshake) {
            match self.framer.next_frame() {
                None => break,
                Some(Frame::LiteralAnnounced { .. }) => {}
                Some(Frame::Rejected { error, .. }) => self.close(CloseReason::TooLarge(error)),
                Some(Frame::Message(message)) => self.message(&message),
            }
        }
    }

    fn message(&mut self, message: &[u8]) {
        if self.state == State::Greeting {
            match Greeting::decode(message) {
                Decoded::Complete(greeting, _) => self.greeting(greeting),
                other => self.close(CloseReason::Protocol(failure("greeting", &other))),
            }
            return;
        }
        match Response::decode(message) {
            Decoded::Complete(Response::Data(data), _) => self.untagged(data),
            Decoded::Complete(Response::Continue(_), _) => self.continuation(),
            Decoded::Complete(Response::Tagged { tag, status }, _) => self.tagged(tag, status),
            other if message.starts_with(b"* ") => self.events.push_back(ImapEvent::Unparsed {
                message: failure("untagged response", &other),
            }),
            other => self.close(CloseReason::Protocol(failure("response", &other))),
        }
    }

    fn greeting(&mut self, greeting: Greeting) {
        if let Some(Code::Capability(caps)) = &greeting.text.code {
            self.capabilities = caps.to_vec();
        }
        match greeting.kind {
            GreetingKind::Bye => self.close(CloseReason::Bye(greeting.text.text.to_string())),
            GreetingKind::PreAuth if self.config.security == Security::StartTls => {
                self.close(CloseReason::StartTlsRefused(
                    "the server greeted with PREAUTH".into(),
                ));
            }
            GreetingKind::PreAuth => self.after_authentication(greeting.text.code),
            GreetingKind::Ok if self.config.security == Security::StartTls => {
                let tag = self.command(CommandBody::StartTls);
                self.state = State::StartTls(tag);
            }
            GreetingKind::Ok => self.authenticate(),
        }
    }

    fn authenticate(&mut self) {
        let Credentials {
            username,
            password,
            mechanism,
        } = self.config.credentials.clone();
        let (body, plain) = match mechanism {
            Mechanism::Login => {
                if self.capabilities.iter().any(|c| c.is("LOGINDISABLED")) {
                    self.close(CloseReason::LoginDisabled);
                    return;
                }
                let body = CommandBody::Login {
                    username: IString::from(username),
                    password: IString::from(password),
                };
                (body, None)
            }
            Mechanism::Plain => {
                let mut response = Vec::with_capacity(username.len() + password.len() + 2);
                response.push(0);
                response.extend_from_slice(username.as_bytes());
                response.push(0);
                response.extend_from_slice(password.as_bytes());
                let sasl_ir = self.capabilities.iter().any(|c| c.is("SASL-IR"));
                let (initial, later) = if sasl_ir {
                    (Some(response), None)
                } else {
                    (None, Some(response))
                };
                let Ok(mechanism) = Atom::new("PLAIN") else {
                    return;
                };
                let body = CommandBody::Authenticate {
                    mechanism,
                    initial_response: initial,
                };
                (body, later)
            }
        };
        let tag = self.command(body);
        self.state = State::Authenticating { tag, plain };
    }

    fn after_authentication(&mut self, code: Option<Code>) {
        match code {
            Some(Code::Capability(caps)) => {
                self.capabilities = caps.into_vec();
                self.ready();
            }
            _ => {
                let tag = self.command(CommandBody::Capability);
                self.state = State::Capability(tag);
            }
        }
    }

    fn ready(&mut self) {
        self.authenticated_capabilities = true;
        self.state = State::Ready { logout: None };
        self.events.push_back(ImapEvent::Ready);
    }

    fn untagged(&mut self, data: Data) {
        match &data {
            Data::Capability(caps) => self.capabilities = caps.to_vec(),
            Data::Bye(text) => self.bye = Some(text.text.to_string()),
            _ => {}
        }
        if matches!(self.state, State::Ready { .. }) {
            self.events.push_back(ImapEvent::Untagged(data));
        }
    }

    fn continuation(&mut self) {
        if let State::Authenticating { plain, .. } = &mut self.state
            && let Some(response) = plain.take()
        {
            let line = AuthenticateData::Continue(response).to_bytes();
            self.output.extend_from_slice(&line);
            return;
        }
        self.continuation_granted = true;
        self.flush();
    }

    fn tagged(&mut self, tag: Tag, status: Status) {
        // A refused command sends nothing more: drop its pieces still waiting for `+`.
        if self.queue.front().is_some_and(|s| s.tag == tag) {
            self.queue.retain(|s| s.tag != tag);
            self.continuation_granted = false;
            self.flush();
        }
        let ok = status.kind == StatusKind::Ok;
        let text = status.text.text.to_string();
        match self.state.clone() {
            State::StartTls(expected) if expected == tag => {
                if ok {
                    self.state = State::TlsHandshake;
                    self.events.push_back(ImapEvent::StartTls);
                } else {
                    self.close(CloseReason::StartTlsRefused(text));
                }
            }
            State::Authenticating { tag: expected, .. } if expected == tag => {
                if ok {
                    self.after_authentication(status.text.code);
                } else {
                    self.close(CloseReason::AuthenticationFailed(text));
                }
            }
            State::Capability(expected) if expected == tag => {
                if ok {
                    self.ready();
                } else {
                    self.close(CloseReason::Protocol(format!("CAPABILITY failed: {text}")));
                }
            }
            State::Ready {
                logout: Some(expected),
            } if expected == tag => self.close(CloseReason::Logout),
            State::Ready { .. } if self.in_flight.contains(&tag) => {
                self.in_flight.retain(|t| *t != tag);
                self.events.push_back(ImapEvent::Completed { tag, status });
            }
            _ => self.close(CloseReason::Protocol(format!(
                "a tagged response for {tag}, which is not waiting"
            ))),
        }
    }

    fn command(&mut self, body: CommandBody) -> Tag {
        let tag = self.tag();
        let options = EncodeOptions {
            literal_plus: self.capabilities.iter().any(|c| c.is("LITERAL+")),
        };
        let encoded = Command::new(tag.clone(), body).encode_with(options);
        for (n, chunk) in encoded.chunks().into_iter().enumerate() {
            self.queue.push_back(Segment {
                tag: tag.clone(),
                bytes: chunk.to_vec(),
                after_continuation: n > 0,
            });
        }
        self.flush();
        tag
    }

    fn tag(&mut self) -> Tag {
        loop {
            let n = self.next_tag;
            self.next_tag += 1;
            // "A" and decimal digits are tag characters, so this is always a tag.
            if let Ok(tag) = Tag::new(format!("A{n}")) {
                return tag;
            }
        }
    }

    fn flush(&mut self) {
        while let Some(segment) = self.queue.front() {
            if segment.after_continuation {
                if !self.continuation_granted {
                    return;
                }
                self.continuation_granted = false;
            }
            if let Some(segment) = self.queue.pop_front() {
                self.output.extend_from_slice(&segment.bytes);
            }
        }
    }

    fn close(&mut self, reason: CloseReason) {
        if self.is_closed() {
            return;
        }
        self.state = State::Closed;
        self.queue.clear();
        self.events.push_back(ImapEvent::Closed(reason));
    }
}

fn failure<T>(what: &str, decoded: &Decoded<T>) -> String {
    match decoded {
        Decoded::Failed { message, .. } => format!("bad {what}: {message}"),
        _ => format!("bad {what}: incomplete"),
    }
}

/// Drives an [`ImapClient`] with arbitrary server octets (the first octet picks the chunk size
/// and the mechanism): it must not panic, must report `Closed` at most once and must send
/// nothing after it. Returns the first violation. Used by the property tests.
pub fn check_imap_client(input: &[u8]) -> Result<(), String> {
    let Some((&first, rest)) = input.split_first() else {
        return Ok(());
    };
    let chunk = usize::from(first % 32) + 1;
    let credentials = Credentials {
        username: "fred".into(),
        password: "a \"secret\"\r\n".into(),
        mechanism: if first & 0x80 == 0 {
            Mechanism::Login
        } else {
            Mechanism::Plain
        },
    };
    let security = match first % 3 {
        0 => Security::StartTls,
        1 => Security::Tls,
        _ => Security::Cleartext,
    };
    let mut client = ImapClient::new(ImapClientConfig::new(security, credentials));
    let mut closed = 0;
    for piece in rest.chunks(chunk) {
        client.handle_input(piece);
        let was_closed = closed > 0;
        let sent = client.poll_transmit();
        while let Some(event) = client.poll_event() {
            match event {
                ImapEvent::StartTls => client.handle_tls_established(),
                ImapEvent::Ready => {
                    let _ = client.send(CommandBody::Noop);
                }
                ImapEvent::Closed(_) => closed += 1,
                _ => {}
            }
        }
        if was_closed && sent.is_some() {
            return Err("sent octets after Closed".into());
        }
    }
    client.handle_eof();
    while let Some(event) = client.poll_event() {
        if matches!(event, ImapEvent::Closed(_)) {
            closed += 1;
        }
    }
    if closed != 1 {
        return Err(format!("Closed reported {closed} times"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(security: Security, mechanism: Mechanism) -> ImapClient {
        ImapClient::new(ImapClientConfig::new(
            security,
            Credentials {
                username: "fred".into(),
                password: "pw".into(),
                mechanism,
            },
        ))
    }

    fn sent(c: &mut ImapClient) -> String {
        String::from_utf8(c.poll_transmit().unwrap_or_default()).unwrap()
    }

    fn events(c: &mut ImapClient) -> Vec<ImapEvent> {
        std::iter::from_fn(|| c.poll_event()).collect()
    }

    #[test]
    fn login_then_capability_when_the_ok_lists_none() {
        let mut c = client(Security::Tls, Mechanism::Login);
        c.handle_input(b"* OK [CAPABILITY IMAP4rev1 XAPPLEPUSHSERVICE] hi\r\n");
        assert_eq!(sent(&mut c), "A1 LOGIN fred pw\r\n");
        // Listed before authentication: does not count.
        assert!(!c.has_capability("XAPPLEPUSHSERVICE"));
        c.handle_input(b"A1 OK done\r\n");
        assert_eq!(sent(&mut c), "A2 CAPABILITY\r\n");
        c.handle_input(b"* CAPABILITY IMAP4rev1 IDLE\r\nA2 OK done\r\n");
        assert_eq!(events(&mut c), [ImapEvent::Ready]);
        assert!(c.has_capability("idle"));
        assert!(!c.has_capability("XAPPLEPUSHSERVICE"));
    }

    #[test]
    fn starttls_then_plain_after_continuation() {
        let mut c = client(Security::StartTls, Mechanism::Plain);
        c.handle_input(b"* OK [CAPABILITY IMAP4rev1 STARTTLS SASL-IR] hi\r\n");
        assert_eq!(sent(&mut c), "A1 STARTTLS\r\n");
        c.handle_input(b"A1 OK go\r\n* OK injected\r\n");
        assert_eq!(events(&mut c), [ImapEvent::StartTls]);
        c.handle_input(b"A2 OK injected too\r\n");
        c.handle_tls_established();
        // SASL-IR was listed before TLS only: forgotten.
        assert_eq!(sent(&mut c), "A2 AUTHENTICATE PLAIN\r\n");
        c.handle_input(b"+ \r\n");
        assert_eq!(sent(&mut c), "AGZyZWQAcHc=\r\n");
        c.handle_input(b"A2 OK [CAPABILITY IMAP4rev1 XAPPLEPUSHSERVICE] in\r\n");
        assert_eq!(events(&mut c), [ImapEvent::Ready]);
        assert!(c.has_capability("XAPPLEPUSHSERVICE"));
    }

    #[test]
    fn literals_wait_for_continuation_unless_literal_plus() {
        let mut c = client(Security::Tls, Mechanism::Login);
        c.handle_input(b"* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n");
        assert_eq!(events(&mut c), [ImapEvent::Ready]);
        let name = IString::new(b"caf\xc3\xa9".to_vec());
        let tag = c
            .send(CommandBody::Create(mailpush_imap::Mailbox::from_wire(
                name.into_bytes(),
            )))
            .unwrap();
        let noop = c.send(CommandBody::Noop).unwrap();
        assert_eq!(sent(&mut c), "A1 CREATE {5}\r\n");
        c.handle_input(b"+ go on\r\n");
        assert_eq!(sent(&mut c).as_bytes(), b"caf\xc3\xa9\r\nA2 NOOP\r\n");
        c.handle_input(b"A1 OK made\r\nA2 OK\r\n");
        let done: Vec<Tag> = events(&mut c)
            .into_iter()
            .filter_map(|e| match e {
                ImapEvent::Completed { tag, .. } => Some(tag),
                _ => None,
            })
            .collect();
        assert_eq!(done, [tag, noop]);
    }

    #[test]
    fn a_refused_literal_releases_the_next_command() {
        let mut c = client(Security::Tls, Mechanism::Login);
        c.handle_input(b"* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n");
        c.send(CommandBody::Create(mailpush_imap::Mailbox::from_wire(
            b"\xff".to_vec(),
        )))
        .unwrap();
        c.send(CommandBody::Noop).unwrap();
        sent(&mut c);
        c.handle_input(b"A1 NO too big\r\n");
        assert_eq!(sent(&mut c), "A2 NOOP\r\n");
    }

    #[test]
    fn failures_close_once() {
        let mut c = client(Security::Cleartext, Mechanism::Login);
        c.handle_input(b"* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] hi\r\n");
        assert_eq!(
            events(&mut c),
            [ImapEvent::Closed(CloseReason::LoginDisabled)]
        );
        let mut c = client(Security::Cleartext, Mechanism::Login);
        c.handle_input(b"* OK hi\r\nA1 NO [AUTHENTICATIONFAILED] nope\r\n");
        assert_eq!(
            events(&mut c),
            [ImapEvent::Closed(CloseReason::AuthenticationFailed(
                "nope".into()
            ))]
        );
        assert_eq!(c.send(CommandBody::Noop), Err(ImapClientError::Closed));
        let mut c = client(Security::Cleartext, Mechanism::Login);
        c.handle_input(b"hello\r\n");
        assert!(matches!(
            events(&mut c)[..],
            [ImapEvent::Closed(CloseReason::Protocol(_))]
        ));
        let mut c = client(Security::Cleartext, Mechanism::Login);
        c.handle_input(b"* BYE busy\r\n");
        assert_eq!(
            events(&mut c),
            [ImapEvent::Closed(CloseReason::Bye("busy".into()))]
        );
    }

    #[test]
    fn unknown_untagged_lines_are_skipped_and_logout_ends() {
        let mut c = client(Security::Tls, Mechanism::Login);
        c.handle_input(b"* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n* ID (\"x\" \"y\")\r\n");
        assert!(matches!(
            events(&mut c)[..],
            [ImapEvent::Ready, ImapEvent::Unparsed { .. }]
        ));
        assert_eq!(c.send(CommandBody::Noop).unwrap().as_str(), "A1");
        c.logout();
        assert_eq!(sent(&mut c), "A1 NOOP\r\nA2 LOGOUT\r\n");
        assert_eq!(c.send(CommandBody::Noop), Err(ImapClientError::NotReady));
        c.handle_input(b"A1 OK\r\n* BYE bye\r\nA2 OK\r\n");
        let got = events(&mut c);
        assert!(matches!(got[0], ImapEvent::Completed { .. }));
        assert_eq!(got.last(), Some(&ImapEvent::Closed(CloseReason::Logout)));
    }

    #[test]
    fn arbitrary_server_octets_never_panic() {
        fn property(input: Vec<u8>) -> bool {
            check_imap_client(&input).is_ok()
        }
        quickcheck::QuickCheck::new()
            .tests(2000)
            .quickcheck(property as fn(Vec<u8>) -> bool);
        for script in [
            &b"\x02* OK hi\r\nA1 OK [CAPABILITY IMAP4rev1] x\r\n* 3 EXISTS\r\n"[..],
            b"\x80* OK hi\r\n+ \r\nA1 OK\r\n* CAPABILITY IMAP4rev1\r\nA2 OK\r\n",
            b"\x00* OK hi\r\nA1 OK\r\n",
        ] {
            assert_eq!(check_imap_client(script), Ok(()));
        }
    }
}
