//! One client-side IMAP connection, sans-IO: the plumbing every IMAP user on the device shares,
//! the mail client's push registration and the data-access daemon's sync alike. It frames and
//! decodes what the server sends (under caps), reads the greeting, runs STARTTLS when configured,
//! learns the capabilities, authenticates (`LOGIN`, or `AUTHENTICATE PLAIN` with or without
//! SASL-IR), learns the capabilities listed after authentication, and then sends the owner's
//! commands with tags of its own, waiting for `+` before each synchronizing literal (none when
//! the server announced `LITERAL+`).
//!
//! Octets go in with [`ImapClient::handle_input`], out with [`ImapClient::poll_transmit`];
//! everything else is an [`ImapEvent`]. The core has no timers: an owner that wants a response
//! deadline keeps it. TLS is the driver's: for [`Security::Implicit`] it connects with TLS before
//! feeding the greeting; for [`Security::StartTls`] it starts the handshake when the core says
//! [`ImapEvent::StartTls`] and reports [`ImapClient::handle_tls_established`].
//!
//! Anything that breaks IMAP (an unparseable greeting or tagged line, data after the end of a
//! response, a completion for a tag that is not waiting, a continuation request nothing waits
//! for, a response over the caps) closes the connection with a [`CloseReason`]. An untagged line
//! the codec does not understand is reported as [`ImapEvent::Unparsed`]: the owner decides
//! whether it can do without it.

use std::collections::VecDeque;
use std::fmt;

use mailpush_imap::framer::{Frame, FrameError, Framer, FramerConfig};
use mailpush_imap::{
    Atom, AuthenticateData, Capability, Code, Command, CommandBody, Data, Decode, Decoded, Encode,
    EncodeOptions, Greeting, GreetingKind, IString, Response, Status, StatusKind, Tag,
};

/// How the connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Security {
    /// IMAPS: the driver runs TLS before the first octet (port 993); the client sees a protected
    /// connection from the start.
    Implicit,
    /// `STARTTLS` before authenticating. A server that does not list `STARTTLS`, or greets with
    /// `PREAUTH`, is refused.
    StartTls,
    /// No TLS at all. ARCH-5 allows this only on the loopback interface; the driver, which knows
    /// the address, enforces that.
    Plaintext,
}

/// How the client authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthMechanism {
    /// `LOGIN user password`; refused when the server lists `LOGINDISABLED`.
    Login,
    /// `AUTHENTICATE PLAIN` (RFC 4616), with the initial response on the command line when the
    /// server lists `SASL-IR` (RFC 4959), else after the server's `+`; refused when the server
    /// does not list `AUTH=PLAIN`.
    Plain,
}

/// Who logs in. `Debug` does not show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The IMAP user name.
    pub username: String,
    /// The password, as octets.
    pub password: Vec<u8>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// How to connect and log in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImapClientConfig {
    /// TLS, STARTTLS or (loopback only) none.
    pub security: Security,
    /// LOGIN or AUTHENTICATE PLAIN.
    pub auth: AuthMechanism,
    /// The account's credentials.
    pub credentials: Credentials,
    /// Caps on what the server may send in one response.
    pub limits: FramerConfig,
    /// The first character of every tag (a tag character; `A` otherwise), so that the
    /// connections of different owners read apart in logs.
    pub tag_prefix: char,
}

impl ImapClientConfig {
    /// Default caps: lines of up to 1 MiB (a `SEARCH` of a large mailbox is one line) and
    /// messages of up to 80 MiB; tags `A1`, `A2`, ...
    pub fn new(security: Security, auth: AuthMechanism, credentials: Credentials) -> Self {
        Self {
            security,
            auth,
            credentials,
            limits: FramerConfig {
                max_line: 1024 * 1024,
                ..FramerConfig::default()
            },
            tag_prefix: 'A',
        }
    }
}

/// Why the connection ended.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CloseReason {
    /// `LOGOUT` completed, or the owner logged out before authentication.
    #[error("logged out")]
    Logout,
    /// The greeting was `BYE`.
    #[error("the server refused the connection: {0}")]
    Refused(String),
    /// The server said `BYE`.
    #[error("the server said BYE: {0}")]
    Bye(String),
    /// The server closed the connection without `BYE`.
    #[error("the server closed the connection")]
    Eof,
    /// [`Security::StartTls`] is configured and the server does not list `STARTTLS`, or greeted
    /// with `PREAUTH`, which leaves no room for it.
    #[error("the server does not offer STARTTLS, which the configuration requires")]
    StartTlsUnavailable,
    /// The server lists `LOGINDISABLED`, or not `AUTH=PLAIN` when PLAIN is configured.
    #[error("the server does not accept this authentication mechanism: {0}")]
    AuthUnavailable(String),
    /// The server refused the credentials (`NO` or `BAD` to LOGIN or AUTHENTICATE).
    #[error("authentication failed: {0}")]
    AuthenticationFailed(String),
    /// `STARTTLS` or `CAPABILITY` got `NO` or `BAD`.
    #[error("{command} failed: {text}")]
    CommandFailed {
        /// Which command.
        command: &'static str,
        /// The server's status and text.
        text: String,
    },
    /// The server's octets are not IMAP: a greeting or a tagged line the codec cannot parse, or
    /// data after the end of a response.
    #[error("malformed server reply: {0}")]
    Malformed(String),
    /// A well-formed reply that breaks the protocol: a completion for a tag that is not
    /// waiting, a continuation request nothing waits for.
    #[error("the server broke the protocol: {0}")]
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
    /// Untagged data received once ready (`BYE` included: the owner decides whether it is a
    /// failure; the connection ends with [`CloseReason::Bye`] at EOF).
    Untagged(Data),
    /// An untagged line this codec does not understand (for example `* ID ...`); it was
    /// skipped. An owner that needs every response closes the connection.
    Unparsed {
        /// What the parser said, and how the line starts.
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
    /// The connection is not authenticated yet, or is logging out.
    #[error("the IMAP connection is not ready")]
    NotReady,
    /// The connection is closed.
    #[error("the IMAP connection is closed")]
    Closed,
}

/// What the capabilities are asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Then {
    BeforeAuth,
    AfterAuth,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Greeting,
    Capability {
        tag: Tag,
        then: Then,
    },
    StartTls(Tag),
    TlsHandshake,
    /// LOGIN or AUTHENTICATE sent; `plain` holds the PLAIN response still to send after `+`.
    Authenticating {
        tag: Tag,
        plain: Option<Vec<u8>>,
    },
    Ready {
        logout: Option<Tag>,
    },
    Closed,
}

/// A piece of a command; after one with `then_wait` the rest waits for `+`.
#[derive(Debug)]
struct Segment {
    tag: Tag,
    bytes: Vec<u8>,
    then_wait: bool,
}

/// One IMAP client connection. See the module documentation.
#[derive(Debug)]
pub struct ImapClient {
    config: ImapClientConfig,
    state: State,
    framer: Framer,
    /// `None` until the server listed them (again, after STARTTLS).
    capabilities: Option<Vec<Capability>>,
    /// The capabilities were listed after authentication.
    authenticated_capabilities: bool,
    /// TLS protects the connection.
    tls: bool,
    next_tag: u64,
    held: VecDeque<Segment>,
    /// The last segment written waits for `+` before the next one.
    blocked: bool,
    /// Tags of the owner's commands not yet completed.
    in_flight: Vec<Tag>,
    output: Vec<u8>,
    events: VecDeque<ImapEvent>,
    bye: Option<String>,
    received: u64,
    sent: u64,
}

impl ImapClient {
    /// A connection whose socket (with TLS for [`Security::Implicit`]) is open; the greeting is
    /// next.
    pub fn new(config: ImapClientConfig) -> Self {
        let framer = Framer::new(config.limits);
        let tls = config.security == Security::Implicit;
        Self {
            config,
            state: State::Greeting,
            framer,
            capabilities: None,
            authenticated_capabilities: false,
            tls,
            next_tag: 1,
            held: VecDeque::new(),
            blocked: false,
            in_flight: Vec::new(),
            output: Vec::new(),
            events: VecDeque::new(),
            bye: None,
            received: 0,
            sent: 0,
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
        self.capabilities.as_deref().unwrap_or_default()
    }

    /// Whether the server listed `name` after authentication (false before
    /// [`ImapEvent::Ready`]).
    pub fn has_capability(&self, name: &str) -> bool {
        //= spec/sync.md#SYNC-1
        //# the list before authentication MUST NOT decide
        //# the method
        self.authenticated_capabilities && self.listed(name)
    }

    fn listed(&self, name: &str) -> bool {
        self.capabilities().iter().any(|c| c.is(name))
    }

    /// Octets read from the server so far (those discarded around STARTTLS included).
    pub fn octets_received(&self) -> u64 {
        self.received
    }

    /// Octets handed out by [`ImapClient::poll_transmit`] so far.
    pub fn octets_sent(&self) -> u64 {
        self.sent
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
            self.sent += self.output.len() as u64;
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
        self.tls = true;
        // RFC 3501 §6.2.1: nothing read before TLS is kept, and what the server listed before it
        // may have been forged.
        self.capabilities = None;
        self.framer = Framer::new(self.config.limits);
        self.before_authentication();
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
        self.received += octets.len() as u64;
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
        let head = || {
            let head = String::from_utf8_lossy(&message[..message.len().min(80)]).into_owned();
            format!("(reply starts {head:?})")
        };
        if self.state == State::Greeting {
            match Greeting::decode(message) {
                Decoded::Complete(greeting, used) if used == message.len() => {
                    self.greeting(greeting)
                }
                other => {
                    let detail = failure(&other);
                    self.close(CloseReason::Malformed(format!(
                        "greeting: {detail} {}",
                        head()
                    )));
                }
            }
            return;
        }
        match Response::decode(message) {
            Decoded::Complete(response, used) if used == message.len() => match response {
                Response::Data(data) => self.untagged(data),
                Response::Continue(_) => self.continuation(),
                Response::Tagged { tag, status } => self.tagged(tag, status),
            },
            other => {
                let text = format!("response: {} {}", failure(&other), head());
                if message.starts_with(b"* ") {
                    self.events.push_back(ImapEvent::Unparsed { message: text });
                } else {
                    self.close(CloseReason::Malformed(text));
                }
            }
        }
    }

    fn greeting(&mut self, greeting: Greeting) {
        if let Some(Code::Capability(caps)) = &greeting.text.code {
            self.capabilities = Some(caps.to_vec());
        }
        match greeting.kind {
            GreetingKind::Bye => self.close(CloseReason::Refused(greeting.text.text.to_string())),
            GreetingKind::PreAuth if self.config.security == Security::StartTls => {
                self.close(CloseReason::StartTlsUnavailable);
            }
            GreetingKind::PreAuth => self.after_authentication(),
            GreetingKind::Ok => self.before_authentication(),
        }
    }

    /// Greeted, not authenticated: the capabilities, then STARTTLS or authentication.
    fn before_authentication(&mut self) {
        if self.capabilities.is_none() {
            self.ask_capabilities(Then::BeforeAuth);
            return;
        }
        if self.config.security == Security::StartTls && !self.tls {
            if !self.listed("STARTTLS") {
                self.close(CloseReason::StartTlsUnavailable);
                return;
            }
            let tag = self.command(CommandBody::StartTls);
            self.state = State::StartTls(tag);
            return;
        }
        self.authenticate();
    }

    fn authenticate(&mut self) {
        let Credentials { username, password } = self.config.credentials.clone();
        let (body, plain) = match self.config.auth {
            AuthMechanism::Login => {
                if self.listed("LOGINDISABLED") {
                    self.close(CloseReason::AuthUnavailable(
                        "the server says LOGINDISABLED".into(),
                    ));
                    return;
                }
                let body = CommandBody::Login {
                    username: IString::from(username),
                    password: IString::new(password),
                };
                (body, None)
            }
            AuthMechanism::Plain => {
                if !self.listed("AUTH=PLAIN") {
                    self.close(CloseReason::AuthUnavailable(
                        "the server does not offer AUTH=PLAIN".into(),
                    ));
                    return;
                }
                let response = plain_response(&username, &password);
                let (initial, later) = if self.listed("SASL-IR") {
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

    /// Authenticated: the capabilities again unless the server just listed them.
    fn after_authentication(&mut self) {
        if self.capabilities.is_none() {
            self.ask_capabilities(Then::AfterAuth);
            return;
        }
        self.authenticated_capabilities = true;
        self.state = State::Ready { logout: None };
        self.events.push_back(ImapEvent::Ready);
    }

    fn ask_capabilities(&mut self, then: Then) {
        let tag = self.command(CommandBody::Capability);
        self.state = State::Capability { tag, then };
    }

    fn untagged(&mut self, data: Data) {
        match &data {
            Data::Capability(caps) => self.capabilities = Some(caps.to_vec()),
            Data::Status(Status {
                text:
                    mailpush_imap::RespText {
                        code: Some(Code::Capability(caps)),
                        ..
                    },
                ..
            }) => self.capabilities = Some(caps.to_vec()),
            Data::Bye(text) => {
                if !matches!(self.state, State::Ready { .. }) {
                    self.close(CloseReason::Bye(text.text.to_string()));
                    return;
                }
                self.bye = Some(text.text.to_string());
            }
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
        if !self.blocked {
            self.close(CloseReason::Protocol(
                "a continuation request nothing waited for".into(),
            ));
            return;
        }
        self.blocked = false;
        self.flush();
    }

    fn tagged(&mut self, tag: Tag, status: Status) {
        // A refused command sends nothing more: drop its pieces still waiting for `+`.
        if self.held.iter().any(|s| s.tag == tag) {
            self.held.retain(|s| s.tag != tag);
            self.blocked = false;
            self.flush();
        }
        let ok = status.kind == StatusKind::Ok;
        let text = || {
            let kind = match status.kind {
                StatusKind::Ok => "OK",
                StatusKind::No => "NO",
                StatusKind::Bad => "BAD",
            };
            format!("{kind} {}", status.text.text)
        };
        match self.state.clone() {
            State::Capability {
                tag: expected,
                then,
            } if expected == tag => {
                if !ok {
                    self.close(CloseReason::CommandFailed {
                        command: "CAPABILITY",
                        text: text(),
                    });
                    return;
                }
                if self.capabilities.is_none() {
                    self.capabilities = Some(Vec::new());
                }
                match then {
                    Then::BeforeAuth => self.before_authentication(),
                    Then::AfterAuth => self.after_authentication(),
                }
            }
            State::StartTls(expected) if expected == tag => {
                if ok {
                    self.state = State::TlsHandshake;
                    self.events.push_back(ImapEvent::StartTls);
                } else {
                    self.close(CloseReason::CommandFailed {
                        command: "STARTTLS",
                        text: text(),
                    });
                }
            }
            State::Authenticating { tag: expected, .. } if expected == tag => {
                if ok {
                    self.capabilities = match status.text.code {
                        Some(Code::Capability(caps)) => Some(caps.into_vec()),
                        _ => None,
                    };
                    self.after_authentication();
                } else {
                    self.close(CloseReason::AuthenticationFailed(text()));
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
                "a completion for tag {tag}, which no command has"
            ))),
        }
    }

    fn command(&mut self, body: CommandBody) -> Tag {
        let tag = self.tag();
        let options = EncodeOptions {
            literal_plus: self.listed("LITERAL+"),
        };
        let encoded = Command::new(tag.clone(), body).encode_with(options);
        let chunks = encoded.chunks();
        let last = chunks.len().saturating_sub(1);
        for (n, chunk) in chunks.into_iter().enumerate() {
            self.held.push_back(Segment {
                tag: tag.clone(),
                bytes: chunk.to_vec(),
                then_wait: n < last,
            });
        }
        self.flush();
        tag
    }

    fn tag(&mut self) -> Tag {
        loop {
            let n = self.next_tag;
            self.next_tag += 1;
            if let Ok(tag) = Tag::new(format!("{}{n}", self.config.tag_prefix)) {
                return tag;
            }
            // "A" and decimal digits are tag characters, so this is always a tag.
            if let Ok(tag) = Tag::new(format!("A{n}")) {
                return tag;
            }
        }
    }

    fn flush(&mut self) {
        while !self.blocked {
            let Some(segment) = self.held.pop_front() else {
                break;
            };
            self.output.extend_from_slice(&segment.bytes);
            self.blocked = segment.then_wait;
        }
    }

    fn close(&mut self, reason: CloseReason) {
        if self.is_closed() {
            return;
        }
        self.state = State::Closed;
        self.held.clear();
        self.blocked = false;
        self.events.push_back(ImapEvent::Closed(reason));
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

fn failure<T>(decoded: &Decoded<T>) -> String {
    match decoded {
        Decoded::Failed { message, .. } => message.clone(),
        Decoded::Complete(..) => "data after the end".into(),
        _ => "incomplete".into(),
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
        password: b"a \"secret\"\r\n".to_vec(),
    };
    let auth = if first & 0x80 == 0 {
        AuthMechanism::Login
    } else {
        AuthMechanism::Plain
    };
    let security = match first % 3 {
        0 => Security::StartTls,
        1 => Security::Implicit,
        _ => Security::Plaintext,
    };
    let mut client = ImapClient::new(ImapClientConfig::new(security, auth, credentials));
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
mod tests;
