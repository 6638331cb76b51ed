//! The per-connection IMAP session: a sans-IO state machine.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::num::NonZeroU32;
use std::time::{Instant, SystemTime};

use mailpush_imap::framer::{Frame, FrameError, Framer, FramerConfig};
use mailpush_imap::xaps::{XapsRefusal, XapsRequest};
use mailpush_imap::{
    Atom, AuthenticateData, Capability, Code, Command, CommandBody, Data, Decode, Decoded, Encode,
    FetchAttribute, FetchAttributes, FetchItem, Flag as ImapFlag, FlagPerm, Greeting, GreetingKind,
    IString, IdleDone, Mailbox, OtherCode, RespText, Response, SearchKey, SelectParam, SeqNo,
    SeqRange, SequenceSet, Status, StatusAttribute, StatusItem, StatusKind, StoreKind, Tag, Text,
    UidRange, UidSet as ImapUidSet, Vec1, XapsRegistration, XapsResponse,
};
use mailpush_mail_store::{
    Change, Error as StoreError, Flag, FlagOp, Flags, InternalDate, MailboxId, MessageMeta, ModSeq,
    PushRequest, Uid, UidSet, UserId,
};

use crate::backend::MailBackend;
use crate::config::Config;
use crate::message;
use crate::mime;
use crate::search;

/// The hierarchy delimiter the store uses, as an octet.
const DELIMITER: u8 = b'/';

/// What [`Session::handle_changes`] would do with a list of changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concern {
    /// Nothing: none of them is about the selected mailbox (or none is selected).
    None,
    /// Note that the mailbox changed, to tell the client at its next command; no store call.
    Remember,
    /// Tell the client now (IDLE), which asks the store.
    Store,
}

/// What the session tells its driver besides bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The client sent STARTTLS and got `OK`: the driver starts the TLS handshake on the raw
    /// connection, then calls [`Session::tls_established`]. Until then the session reads nothing.
    StartTls,
    /// The client authenticated as this user: the driver routes this user's changes to the
    /// session ([`Session::handle_changes`]).
    Authenticated {
        /// The user.
        user: UserId,
    },
    /// This session changed the store (durably): the driver gives the changes to the other
    /// sessions of the user and to the push notifier.
    Changes(Vec<Change>),
    /// The session is over (LOGOUT, BYE): the driver flushes the output and closes.
    Closed,
}

/// The current time, as the driver's clocks tell it: a monotonic instant for timers and the wall
/// clock for internal dates and registration expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time.
    pub instant: Instant,
    /// Wall-clock time.
    pub wall: SystemTime,
}

/// The mailbox a session has selected.
#[derive(Debug, Clone)]
struct Selected {
    id: MailboxId,
    read_only: bool,
    /// UIDs by message sequence number − 1.
    uids: Vec<Uid>,
    /// Every flag change and new message up to this MODSEQ has been told to the client.
    flags_modseq: ModSeq,
    /// Every expunge up to this MODSEQ has been told to the client.
    expunge_modseq: ModSeq,
    /// Another session (or this one) changed the mailbox since the client was last told.
    dirty: bool,
    /// Flag changes this session already reported (or must not report: `.SILENT`), with the
    /// MODSEQ they got.
    reported: HashMap<Uid, ModSeq>,
    /// The messages that are `\Recent` in this session (RFC 3501 §2.3.2): claimed in the store
    /// by SELECT and when new messages are told, so that no other session has them; under
    /// EXAMINE, those nobody has claimed, without claiming them.
    recent: BTreeSet<Uid>,
}

impl Selected {
    /// FLAGS of a message as this session tells them: the stored flags, and `\Recent`.
    fn flags_of(&self, uid: Uid, flags: &Flags) -> Vec<ImapFlag> {
        let mut out = imap_flags(flags);
        if self.recent.contains(&uid) {
            out.push(ImapFlag::Recent);
        }
        out
    }

    fn seq_of(&self, uid: Uid) -> Option<u32> {
        self.uids
            .binary_search(&uid)
            .ok()
            .and_then(|i| u32::try_from(i + 1).ok())
    }
}

#[derive(Debug, Clone)]
enum State {
    NotAuthenticated,
    Authenticated { user: UserId },
    Selected { user: UserId, mailbox: Selected },
    Logout,
}

/// What the session waits for besides commands.
#[derive(Debug, Clone)]
enum Pending {
    None,
    /// AUTHENTICATE PLAIN sent `+`; the next line is the response.
    Authenticate(Tag),
    /// IDLE; the next line must be DONE.
    Idle(Tag),
    /// STARTTLS answered; the driver is doing the handshake.
    Tls,
}

/// A tagged reply.
struct Reply {
    kind: StatusKind,
    code: Option<Code>,
    text: String,
}

impl Reply {
    fn ok(text: impl Into<String>) -> Self {
        Reply {
            kind: StatusKind::Ok,
            code: None,
            text: text.into(),
        }
    }
    fn no(text: impl Into<String>) -> Self {
        Reply {
            kind: StatusKind::No,
            code: None,
            text: text.into(),
        }
    }
    fn bad(text: impl Into<String>) -> Self {
        Reply {
            kind: StatusKind::Bad,
            code: None,
            text: text.into(),
        }
    }
    fn code(mut self, code: Option<Code>) -> Self {
        self.code = code;
        self
    }
}

/// A response code this codec does not model (RFC 5530 and others).
fn other_code(name: &str) -> Option<Code> {
    let atom = Atom::new(name).ok()?;
    OtherCode::new(atom, None).ok().map(Code::Other)
}

/// Text safe for `resp-text`: control characters become spaces.
fn text(s: &str) -> Text {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let clean = clean.trim();
    Text::new(if clean.is_empty() { "error" } else { clean })
        .or_else(|_| Text::new("error"))
        .unwrap_or_default()
}

/// A store failure as a tagged reply.
fn store_reply(e: &StoreError) -> Reply {
    let msg = e.to_string();
    match e {
        StoreError::NoSuchMailbox(_) => Reply::no(msg).code(other_code("NONEXISTENT")),
        StoreError::MailboxExists(_) => Reply::no(msg).code(other_code("ALREADYEXISTS")),
        StoreError::MessageTooLarge { .. } => Reply::no(msg).code(other_code("TOOBIG")),
        StoreError::TooManyMailboxes { .. } | StoreError::RegistrationLimit { .. } => {
            Reply::no(msg).code(other_code("LIMIT"))
        }
        StoreError::InvalidFlag(_) | StoreError::InvalidRegistration(_) => Reply::bad(msg),
        StoreError::InvalidMailboxName(_)
        | StoreError::CannotDeleteInbox
        | StoreError::RenameBelowItself => Reply::no(msg).code(other_code("CANNOT")),
        StoreError::UidsExhausted => Reply::no(msg).code(other_code("LIMIT")),
        _ => Reply::no(format!("server failure: {msg}")).code(other_code("SERVERBUG")),
    }
}

/// The store's name for a mailbox the client named; RFC 3501 names are modified UTF-7 (ASCII),
/// RFC 9051 ones UTF-8, and the store keeps UTF-8.
fn mailbox_name(m: &Mailbox) -> Result<String, Reply> {
    match m {
        Mailbox::Inbox => Ok("INBOX".to_owned()),
        Mailbox::Other(_) => std::str::from_utf8(m.as_wire())
            .map(str::to_owned)
            .map_err(|_| Reply::bad("mailbox name is not valid UTF-8")),
    }
}

fn wire_mailbox(name: &str) -> Mailbox {
    Mailbox::from_wire(name.as_bytes().to_vec())
}

fn imap_flags(flags: &Flags) -> Vec<ImapFlag> {
    flags
        .iter()
        .filter_map(|f| ImapFlag::new(f.as_str()).ok())
        .collect()
}

fn store_flags(flags: &[ImapFlag]) -> Result<Flags, Reply> {
    flags
        .iter()
        .map(|f| {
            Flag::parse(&f.as_str())
                .map_err(|_| Reply::bad(format!("flag {} cannot be stored", f.as_str())))
        })
        .collect()
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

/// A store UID set as IMAP writes it, or `None` when empty.
fn imap_uid_set(uids: impl IntoIterator<Item = Uid>) -> Option<ImapUidSet> {
    let set: UidSet = uids.into_iter().collect();
    let ranges: Vec<UidRange> = set
        .ranges()
        .iter()
        .map(|r| {
            if r.start() == r.end() {
                UidRange::Single(nz(*r.start()))
            } else {
                UidRange::Range(nz(*r.start()), nz(*r.end()))
            }
        })
        .collect();
    ImapUidSet::new(ranges).ok()
}

/// Message numbers as a sequence set (for `MODIFIED`), or `None` when empty.
fn sequence_set(numbers: impl IntoIterator<Item = u32>) -> Option<SequenceSet> {
    let set = imap_uid_set(numbers)?;
    let ranges = set
        .ranges()
        .iter()
        .map(|r| match *r {
            UidRange::Single(a) => SeqRange::Single(SeqNo::Value(a)),
            UidRange::Range(a, b) => SeqRange::Range(SeqNo::Value(a), SeqNo::Value(b)),
        })
        .collect();
    SequenceSet::new(ranges).ok()
}

/// The IMAP session. Feed it bytes with [`Session::handle_input`], changes made by other
/// sessions with [`Session::handle_changes`] and expired timers with
/// [`Session::handle_timeout`]; send what [`Session::poll_output`] returns, act on
/// [`Session::poll_event`], and wake it at [`Session::poll_timeout`].
#[derive(Debug)]
pub struct Session<B> {
    backend: B,
    config: Config,
    framer: Framer,
    state: State,
    pending: Pending,
    protected: bool,
    condstore: bool,
    qresync: bool,
    auth_failures: u32,
    output: Vec<u8>,
    events: VecDeque<Event>,
    last_activity: Instant,
    now: Now,
}

impl<B: MailBackend> Session<B> {
    /// A new session; the greeting is ready in [`Session::poll_output`]. `protected` says
    /// whether the connection is already under TLS (IMAPS).
    pub fn new(backend: B, config: Config, protected: bool, now: Now) -> Self {
        let framer = Framer::new(FramerConfig {
            max_line: config.max_line,
            max_literal: config.max_literal,
            max_message: config.max_command,
        });
        let mut session = Session {
            backend,
            config,
            framer,
            state: State::NotAuthenticated,
            pending: Pending::None,
            protected,
            condstore: false,
            qresync: false,
            auth_failures: 0,
            output: Vec::new(),
            events: VecDeque::new(),
            last_activity: now.instant,
            now,
        };
        let caps = session.capabilities();
        let greeting = Greeting {
            kind: GreetingKind::Ok,
            text: RespText {
                code: caps.map(Code::Capability),
                text: text(&session.config.greeting),
            },
        };
        session.output.extend_from_slice(&greeting.to_bytes());
        session
    }

    /// Whether the session is over; the driver closes once the output is flushed.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Logout)
    }

    /// Bytes to send, if any.
    pub fn poll_output(&mut self) -> Option<Vec<u8>> {
        if self.output.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.output))
        }
    }

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Session::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let after = match (&self.state, &self.pending) {
            (State::Logout, _) | (_, Pending::Tls) => return None,
            (State::NotAuthenticated, _) => self.config.login_timeout,
            (_, Pending::Idle(_)) => self.config.idle_timeout,
            _ => self.config.autologout,
        };
        Some(self.last_activity + after)
    }

    /// Ends the session with `BYE` when it has been silent too long.
    pub fn handle_timeout(&mut self, now: Now) {
        self.now = now;
        if let Some(deadline) = self.poll_timeout()
            && now.instant >= deadline
        {
            self.bye("Autologout: no command for too long");
        }
    }

    /// The driver finished the TLS handshake that STARTTLS asked for. Anything the client sent
    /// in plaintext after STARTTLS is discarded (RFC 3501 §6.2.1: it could have been injected).
    pub fn tls_established(&mut self) {
        self.protected = true;
        self.pending = Pending::None;
        self.framer = Framer::new(FramerConfig {
            max_line: self.config.max_line,
            max_literal: self.config.max_literal,
            max_message: self.config.max_command,
        });
    }

    /// Changes that other sessions made (the driver forwards their [`Event::Changes`]). The
    /// client is told at once during IDLE, and at its next command otherwise.
    pub fn handle_changes(&mut self, changes: &[Change], now: Now) {
        self.now = now;
        let State::Selected { mailbox, .. } = &mut self.state else {
            return;
        };
        if changes.iter().any(|c| c.mailbox == mailbox.id) {
            mailbox.dirty = true;
            if matches!(self.pending, Pending::Idle(_)) {
                self.reconcile(true);
            }
        }
    }

    /// Whether [`Session::handle_changes`] would do anything with `changes` (they touch the
    /// selected mailbox), and whether it would ask the store (the session is in IDLE). A driver
    /// skips changes that concern the session not, and handles without the blocking pool those
    /// it only has to remember: with many sessions of one user, most changes are of that kind.
    pub fn concerned_by(&self, changes: &[Change]) -> Concern {
        let State::Selected { mailbox, .. } = &self.state else {
            return Concern::None;
        };
        if !changes.iter().any(|c| c.mailbox == mailbox.id) {
            Concern::None
        } else if matches!(self.pending, Pending::Idle(_)) {
            Concern::Store
        } else {
            Concern::Remember
        }
    }

    /// Bytes received from the client.
    pub fn handle_input(&mut self, data: &[u8], now: Now) {
        self.now = now;
        self.last_activity = now.instant;
        if matches!(self.state, State::Logout) || matches!(self.pending, Pending::Tls) {
            return;
        }
        self.framer.push(data);
        while !matches!(self.state, State::Logout) && !matches!(self.pending, Pending::Tls) {
            let Some(frame) = self.framer.next_frame() else {
                break;
            };
            match frame {
                Frame::Message(bytes) => self.handle_message(&bytes),
                Frame::LiteralAnnounced {
                    synchronizing: true,
                    ..
                } => self.respond(Response::Continue(RespText::plain(text(
                    "Ready for literal data",
                )))),
                Frame::LiteralAnnounced { .. } => {}
                Frame::Rejected { error, head } => self.rejected(error, &head),
            }
        }
    }

    // ----- plumbing -----

    fn respond(&mut self, r: Response) {
        self.output.extend_from_slice(&r.to_bytes());
    }

    fn untagged(&mut self, d: Data) {
        self.respond(Response::Data(d));
    }

    fn untagged_ok(&mut self, code: Option<Code>, t: &str) {
        self.untagged(Data::Status(Status {
            kind: StatusKind::Ok,
            text: RespText {
                code,
                text: text(t),
            },
        }));
    }

    fn tagged(&mut self, tag: Tag, reply: Reply) {
        self.respond(Response::Tagged {
            tag,
            status: Status {
                kind: reply.kind,
                text: RespText {
                    code: reply.code,
                    text: text(&reply.text),
                },
            },
        });
    }

    fn bye(&mut self, t: &str) {
        self.untagged(Data::Bye(RespText::plain(text(t))));
        self.state = State::Logout;
        self.pending = Pending::None;
        self.events.push_back(Event::Closed);
    }

    /// The tag at the start of a message the parser refused, if it is a valid one.
    fn tag_of(bytes: &[u8]) -> Option<Tag> {
        let end = bytes
            .iter()
            .position(|&b| b == b' ' || b == b'\r' || b == b'\n')?;
        let tag = std::str::from_utf8(&bytes[..end]).ok()?;
        Tag::new(tag).ok()
    }

    fn bad_input(&mut self, head: &[u8], t: &str) {
        match Self::tag_of(head) {
            Some(tag) => self.tagged(tag, Reply::bad(t)),
            None => self.untagged(Data::Status(Status {
                kind: StatusKind::Bad,
                text: RespText::plain(text(t)),
            })),
        }
    }

    fn rejected(&mut self, error: FrameError, head: &[u8]) {
        // A refused AUTHENTICATE response or DONE line still ends what it was answering.
        match std::mem::replace(&mut self.pending, Pending::None) {
            Pending::Authenticate(tag) | Pending::Idle(tag) => {
                return self.tagged(tag, Reply::bad(format!("Command refused: {error}")));
            }
            Pending::None | Pending::Tls => {}
        }
        match error {
            FrameError::LiteralTooLarge { .. } => {
                let reply =
                    Reply::no(format!("Literal refused: {error}")).code(other_code("TOOBIG"));
                match Self::tag_of(head) {
                    Some(tag) => self.tagged(tag, reply),
                    None => self.bad_input(head, &format!("Literal refused: {error}")),
                }
            }
            _ => self.bad_input(head, &format!("Command refused: {error}")),
        }
    }

    fn handle_message(&mut self, bytes: &[u8]) {
        match std::mem::replace(&mut self.pending, Pending::None) {
            Pending::Authenticate(tag) => return self.authenticate_response(tag, bytes),
            Pending::Idle(tag) => return self.idle_done(tag, bytes),
            Pending::None | Pending::Tls => {}
        }
        match Command::decode(bytes) {
            Decoded::Complete(cmd, used) if used == bytes.len() => self.command(cmd),
            Decoded::Complete(..) => self.bad_input(bytes, "Unexpected data after the command"),
            Decoded::Failed { message, .. } => {
                self.bad_input(bytes, &format!("Malformed command: {message}"))
            }
            Decoded::Incomplete | Decoded::LiteralFound { .. } => {
                self.bad_input(bytes, "Malformed command: incomplete")
            }
        }
    }

    /// The capabilities for the current state.
    fn capabilities(&self) -> Option<Vec1<Capability>> {
        let mut caps = vec!["IMAP4rev1", "LITERAL+", "ENABLE", "IDLE", "UIDPLUS", "MOVE"];
        caps.extend(["UNSELECT", "CONDSTORE", "QRESYNC"]);
        let authenticated = !matches!(self.state, State::NotAuthenticated);
        if !authenticated {
            if !self.protected {
                caps.push("STARTTLS");
            }
            if self.auth_allowed() {
                caps.extend(["AUTH=PLAIN", "SASL-IR"]);
            } else {
                caps.push("LOGINDISABLED");
            }
        } else {
            //= spec/imap-push.md#XAPS-1
            //# A server that supports this extension MUST list
            //# `XAPPLEPUSHSERVICE` in its capabilities in the authenticated and selected states, and MUST NOT list
            //# it before authentication
            caps.push("XAPPLEPUSHSERVICE");
        }
        let caps: Vec<Capability> = caps
            .into_iter()
            .filter_map(|c| Capability::new(c).ok())
            .collect();
        Vec1::new(caps).ok()
    }

    fn auth_allowed(&self) -> bool {
        self.protected || self.config.allow_plaintext_auth
    }
}

/// Which state a command needs.
enum Needs {
    Any,
    NotAuthenticated,
    Authenticated,
    Selected,
}

fn needs(body: &CommandBody) -> Needs {
    use CommandBody as C;
    match body {
        C::Capability | C::Noop | C::Logout => Needs::Any,
        C::StartTls | C::Authenticate { .. } | C::Login { .. } => Needs::NotAuthenticated,
        C::Enable(_)
        | C::Select { .. }
        | C::Create(_)
        | C::Delete(_)
        | C::Rename { .. }
        | C::Subscribe(_)
        | C::Unsubscribe(_)
        | C::List { .. }
        | C::Status { .. }
        | C::Append { .. }
        | C::Idle
        | C::XApplePushService(_) => Needs::Authenticated,
        _ => Needs::Selected,
    }
}

fn command_name(body: &CommandBody) -> &'static str {
    use CommandBody as C;
    match body {
        C::Capability => "CAPABILITY",
        C::Noop => "NOOP",
        C::Logout => "LOGOUT",
        C::StartTls => "STARTTLS",
        C::Authenticate { .. } => "AUTHENTICATE",
        C::Login { .. } => "LOGIN",
        C::Enable(_) => "ENABLE",
        C::Select { examine: false, .. } => "SELECT",
        C::Select { examine: true, .. } => "EXAMINE",
        C::Create(_) => "CREATE",
        C::Delete(_) => "DELETE",
        C::Rename { .. } => "RENAME",
        C::Subscribe(_) => "SUBSCRIBE",
        C::Unsubscribe(_) => "UNSUBSCRIBE",
        C::List { .. } => "LIST",
        C::Status { .. } => "STATUS",
        C::Append { .. } => "APPEND",
        C::Check => "CHECK",
        C::Close => "CLOSE",
        C::Unselect => "UNSELECT",
        C::Expunge => "EXPUNGE",
        C::UidExpunge(_) => "UID EXPUNGE",
        C::Search { .. } => "SEARCH",
        C::Fetch { .. } => "FETCH",
        C::Store { .. } => "STORE",
        C::Copy { .. } => "COPY",
        C::Move { .. } => "MOVE",
        C::Idle => "IDLE",
        C::XApplePushService(_) => "XAPPLEPUSHSERVICE",
    }
}

impl<B: MailBackend> Session<B> {
    fn user(&self) -> Option<UserId> {
        match &self.state {
            State::Authenticated { user } | State::Selected { user, .. } => Some(*user),
            _ => None,
        }
    }

    fn selected(&mut self) -> Option<&mut Selected> {
        match &mut self.state {
            State::Selected { mailbox, .. } => Some(mailbox),
            _ => None,
        }
    }

    /// Publishes this session's own changes and marks the selected mailbox for a reconcile.
    fn changed(&mut self, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        if let Some(sel) = self.selected()
            && changes.iter().any(|c| c.mailbox == sel.id)
        {
            sel.dirty = true;
        }
        self.events.push_back(Event::Changes(changes));
    }

    fn command(&mut self, cmd: Command) {
        let Command { tag, body } = cmd;
        let name = command_name(&body);
        let state_ok = matches!(
            (needs(&body), &self.state),
            (Needs::Any, _)
                | (Needs::NotAuthenticated, State::NotAuthenticated)
                | (
                    Needs::Authenticated,
                    State::Authenticated { .. } | State::Selected { .. }
                )
                | (Needs::Selected, State::Selected { .. })
        );
        if !state_ok {
            //= spec/imap-push.md#XAPS-2
            //# A server MUST reply `BAD` to `XAPPLEPUSHSERVICE` in the not-authenticated state and MUST
            //# NOT record anything for it.
            let state = match self.state {
                State::NotAuthenticated => "before authentication",
                State::Authenticated { .. } => "without a selected mailbox",
                _ => "after authentication",
            };
            return self.tagged(tag, Reply::bad(format!("{name} is not valid {state}")));
        }
        // EXPUNGE responses may not interrupt FETCH, STORE and SEARCH (RFC 3501 §7.4.1); their
        // UID forms may carry them.
        let (allow_expunge, always_check) = match &body {
            CommandBody::Fetch { uid, .. }
            | CommandBody::Store { uid, .. }
            | CommandBody::Search { uid, .. } => (*uid, false),
            CommandBody::Noop | CommandBody::Check => (true, true),
            _ => (true, false),
        };
        let reply = match body {
            CommandBody::Capability => {
                if let Some(caps) = self.capabilities() {
                    self.untagged(Data::Capability(caps));
                }
                Reply::ok("CAPABILITY completed")
            }
            CommandBody::Noop => Reply::ok("NOOP completed"),
            CommandBody::Check => Reply::ok("CHECK completed"),
            CommandBody::Logout => {
                self.untagged(Data::Bye(RespText::plain(text("Logging out"))));
                self.tagged(tag, Reply::ok("LOGOUT completed"));
                self.state = State::Logout;
                self.events.push_back(Event::Closed);
                return;
            }
            CommandBody::StartTls => {
                if self.protected {
                    Reply::bad("The connection is already protected by TLS")
                } else {
                    self.tagged(tag, Reply::ok("Begin TLS negotiation now"));
                    self.pending = Pending::Tls;
                    self.events.push_back(Event::StartTls);
                    return;
                }
            }
            CommandBody::Login { username, password } => {
                self.login(username.as_bytes(), password.as_bytes(), "LOGIN")
            }
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            } => {
                if !mechanism.eq_ignore_case("PLAIN") {
                    Reply::no(format!(
                        "Unsupported authentication mechanism {}",
                        mechanism.as_str()
                    ))
                    .code(other_code("CANNOT"))
                } else if !self.auth_allowed() {
                    self.privacy_required()
                } else if let Some(ir) = initial_response {
                    self.plain(&ir)
                } else {
                    self.respond(Response::Continue(RespText::default()));
                    self.pending = Pending::Authenticate(tag);
                    return;
                }
            }
            CommandBody::Enable(caps) => self.enable(&caps),
            CommandBody::Select {
                examine,
                mailbox,
                params,
            } => self.select(&mailbox, examine, &params),
            CommandBody::Create(m) => self.create(&m),
            CommandBody::Delete(m) => self.delete(&m),
            CommandBody::Rename { from, to } => self.rename(&from, &to),
            CommandBody::Subscribe(m) => self.subscribe(&m, true),
            CommandBody::Unsubscribe(m) => self.subscribe(&m, false),
            CommandBody::List { reference, pattern } => self.list(&reference, &pattern),
            CommandBody::Status { mailbox, items } => self.status(&mailbox, &items),
            CommandBody::Append {
                mailbox,
                flags,
                date,
                message,
                ..
            } => self.append(&mailbox, flags.as_deref(), date.as_ref(), &message),
            CommandBody::Close | CommandBody::Unselect => {
                let close = matches!(body, CommandBody::Close);
                self.close(close, &tag);
                return;
            }
            CommandBody::Expunge => self.expunge(None),
            CommandBody::UidExpunge(set) => self.expunge(Some(&set)),
            CommandBody::Search {
                uid,
                charset,
                criteria,
            } => self.search(uid, charset.as_ref(), &criteria),
            CommandBody::Fetch {
                uid,
                set,
                attributes,
                changed_since,
                vanished,
            } => self.fetch(uid, &set, &attributes, changed_since, vanished),
            CommandBody::Store {
                uid,
                set,
                unchanged_since,
                kind,
                silent,
                flags,
            } => self.store(uid, &set, unchanged_since, kind, silent, &flags),
            CommandBody::Copy { uid, set, mailbox } => self.copy(uid, &set, &mailbox, false),
            CommandBody::Move { uid, set, mailbox } => self.copy(uid, &set, &mailbox, true),
            CommandBody::Idle => {
                self.respond(Response::Continue(RespText::plain(text("idling"))));
                self.pending = Pending::Idle(tag);
                self.reconcile(true);
                return;
            }
            CommandBody::XApplePushService(reg) => self.xaps(&reg),
        };
        if matches!(self.state, State::Logout) {
            return;
        }
        let dirty = matches!(&self.state, State::Selected { mailbox, .. } if mailbox.dirty);
        if dirty || always_check {
            self.reconcile(allow_expunge);
        }
        if !matches!(self.state, State::Logout) {
            self.tagged(tag, reply);
        }
    }

    // ----- authentication -----

    fn privacy_required(&self) -> Reply {
        Reply::no(
            "Plaintext authentication is disabled on an unprotected connection: use STARTTLS first",
        )
        .code(other_code("PRIVACYREQUIRED"))
    }

    fn login(&mut self, user: &[u8], password: &[u8], what: &str) -> Reply {
        if !self.auth_allowed() {
            return self.privacy_required();
        }
        let verified = match std::str::from_utf8(user) {
            Ok(name) => self.backend.verify_password(name, password),
            Err(_) => Ok(None),
        };
        match verified {
            Ok(Some(user)) => {
                self.state = State::Authenticated { user };
                self.events.push_back(Event::Authenticated { user });
                let caps = self.capabilities();
                Reply::ok(format!("{what} completed")).code(caps.map(Code::Capability))
            }
            Ok(None) => {
                self.auth_failures += 1;
                if self.auth_failures >= self.config.max_auth_failures {
                    self.bye("Too many authentication failures");
                }
                Reply::no("Invalid user name or password").code(other_code("AUTHENTICATIONFAILED"))
            }
            Err(e) => store_reply(&e),
        }
    }

    /// SASL PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`.
    fn plain(&mut self, response: &[u8]) -> Reply {
        let parts: Vec<&[u8]> = response.split(|&b| b == 0).collect();
        match parts.as_slice() {
            [authz, authc, passwd] if authz.is_empty() || authz == authc => {
                self.login(authc, passwd, "AUTHENTICATE")
            }
            [_, _, _] => {
                Reply::no("Authorization identity differs from the authentication identity")
                    .code(other_code("AUTHORIZATIONFAILED"))
            }
            _ => Reply::bad("Malformed SASL PLAIN response"),
        }
    }

    fn authenticate_response(&mut self, tag: Tag, bytes: &[u8]) {
        let reply = match AuthenticateData::decode(bytes) {
            Decoded::Complete(AuthenticateData::Continue(data), _) => self.plain(&data),
            Decoded::Complete(AuthenticateData::Cancel, _) => Reply::bad("AUTHENTICATE cancelled"),
            _ => Reply::bad("Malformed AUTHENTICATE response: expected base64"),
        };
        if !matches!(self.state, State::Logout) {
            self.tagged(tag, reply);
        }
    }

    fn idle_done(&mut self, tag: Tag, bytes: &[u8]) {
        match IdleDone::decode(bytes) {
            Decoded::Complete(IdleDone, _) => {
                self.reconcile(true);
                self.tagged(tag, Reply::ok("IDLE terminated"));
            }
            _ => self.tagged(tag, Reply::bad("Expected DONE to end IDLE")),
        }
    }

    fn enable(&mut self, caps: &[Capability]) -> Reply {
        let mut enabled = Vec::new();
        for cap in caps {
            if cap.is("CONDSTORE") && !self.condstore {
                self.condstore = true;
                enabled.push(cap.clone());
            } else if cap.is("QRESYNC") && !self.qresync {
                self.qresync = true;
                self.condstore = true;
                enabled.push(cap.clone());
            }
        }
        self.untagged(Data::Enabled(enabled));
        Reply::ok("ENABLE completed")
    }

    // ----- mailboxes -----

    fn select(&mut self, m: &Mailbox, examine: bool, params: &[SelectParam]) -> Reply {
        let Some(user) = self.user() else {
            return Reply::bad("not authenticated");
        };
        let mut qresync = None;
        for p in params {
            match p {
                SelectParam::CondStore => self.condstore = true,
                SelectParam::QResync(q) => {
                    if !self.qresync {
                        return Reply::bad("QRESYNC parameter requires ENABLE QRESYNC first");
                    }
                    qresync = Some(q.clone());
                }
            }
        }
        if matches!(self.state, State::Selected { .. }) {
            self.state = State::Authenticated { user };
            if self.qresync {
                // RFC 7162 §3.2.11: the old mailbox is closed before the new one's responses.
                self.untagged_ok(Some(Code::Closed), "Previous mailbox closed");
            }
        }
        let name = match mailbox_name(m) {
            Ok(n) => n,
            Err(r) => return r,
        };
        let info = match self.backend.mailbox(user, &name) {
            Ok(i) => i,
            Err(e) => return store_reply(&e),
        };
        let uids = match self.backend.uids(info.id) {
            Ok(u) => u,
            Err(e) => return store_reply(&e),
        };
        let flags = vec![
            ImapFlag::Answered,
            ImapFlag::Flagged,
            ImapFlag::Deleted,
            ImapFlag::Seen,
            ImapFlag::Draft,
        ];
        self.untagged(Data::Flags(flags.clone()));
        let mut perm: Vec<FlagPerm> = Vec::new();
        if !examine {
            perm = flags.into_iter().map(FlagPerm::Flag).collect();
            perm.push(FlagPerm::Wildcard);
        }
        self.untagged_ok(Some(Code::PermanentFlags(perm)), "Limited");
        let recent = match self.recent_among(info.id, examine, &uids) {
            Ok(r) => r,
            Err(e) => return store_reply(&e),
        };
        self.untagged(Data::Exists(u32::try_from(uids.len()).unwrap_or(u32::MAX)));
        self.untagged(Data::Recent(
            u32::try_from(recent.len()).unwrap_or(u32::MAX),
        ));
        self.untagged_ok(Some(Code::UidValidity(nz(info.uid_validity))), "UIDs valid");
        self.untagged_ok(Some(Code::UidNext(nz(info.uid_next))), "Predicted next UID");
        self.untagged_ok(Some(Code::HighestModSeq(info.highest_modseq)), "Highest");
        let mut sel = Selected {
            id: info.id,
            read_only: examine,
            uids,
            flags_modseq: info.highest_modseq,
            expunge_modseq: info.highest_modseq,
            dirty: false,
            reported: HashMap::new(),
            recent,
        };
        if let Some(q) = qresync
            && q.uid_validity.get() == info.uid_validity
            && let Err(r) = self.qresync_select(&mut sel, q.mod_seq, q.known_uids.as_ref())
        {
            return r;
        }
        self.state = State::Selected { user, mailbox: sel };
        if examine {
            Reply::ok("EXAMINE completed").code(Some(Code::ReadOnly))
        } else {
            Reply::ok("SELECT completed").code(Some(Code::ReadWrite))
        }
    }

    /// Which of `uids` (ascending, all of them new to this session) are recent for it. A
    /// read-write session claims them in the store, so that the first session to be told about a
    /// message is the one that has it as recent (RFC 3501 §2.3.2); a read-only one only looks.
    fn recent_among(
        &self,
        id: MailboxId,
        read_only: bool,
        uids: &[Uid],
    ) -> Result<BTreeSet<Uid>, StoreError> {
        let Some(&last) = uids.last() else {
            return Ok(BTreeSet::new());
        };
        let from = if read_only {
            self.backend.recent_watermark(id)?
        } else {
            self.backend.claim_recent(id, last.saturating_add(1))?
        };
        Ok(uids.iter().copied().filter(|u| *u >= from).collect())
    }

    /// RFC 7162 §3.2.5.1: what changed since the client's MODSEQ, expunges first.
    fn qresync_select(
        &mut self,
        sel: &mut Selected,
        since: ModSeq,
        known: Option<&SequenceSet>,
    ) -> Result<(), Reply> {
        let gone = self
            .backend
            .expunged_since(sel.id, since)
            .map_err(|e| store_reply(&e))?;
        let gone = gone
            .into_iter()
            .filter(|u| known.is_none_or(|k| k.contains(*u, u32::MAX)));
        if let Some(uids) = imap_uid_set(gone) {
            self.untagged(Data::Vanished {
                earlier: true,
                uids,
            });
        }
        let changed = self
            .backend
            .changed_since(sel.id, since)
            .map_err(|e| store_reply(&e))?;
        for meta in changed {
            if let Some(seq) = sel.seq_of(meta.uid) {
                self.fetch_data(
                    seq,
                    vec![
                        FetchItem::Uid(nz(meta.uid)),
                        FetchItem::Flags(sel.flags_of(meta.uid, &meta.flags)),
                        FetchItem::ModSeq(meta.modseq),
                    ],
                );
            }
        }
        Ok(())
    }

    fn create(&mut self, m: &Mailbox) -> Reply {
        let Some(user) = self.user() else {
            return Reply::bad("not authenticated");
        };
        let name = match mailbox_name(m) {
            Ok(n) => n,
            Err(r) => return r,
        };
        // RFC 3501 §6.3.3: a trailing delimiter only says the client means to create inferiors.
        let name = name.strip_suffix('/').unwrap_or(&name).to_owned();
        match self.backend.create_mailbox(user, &name) {
            Ok(applied) => {
                self.changed(applied.changes);
                Reply::ok("CREATE completed")
            }
            Err(e) => store_reply(&e),
        }
    }

    fn delete(&mut self, m: &Mailbox) -> Reply {
        let Some(user) = self.user() else {
            return Reply::bad("not authenticated");
        };
        let name = match mailbox_name(m) {
            Ok(n) => n,
            Err(r) => return r,
        };
        match self.backend.delete_mailbox(user, &name) {
            Ok(applied) => {
                self.changed(applied.changes);
                Reply::ok("DELETE completed")
            }
            Err(e) => store_reply(&e),
        }
    }

    fn rename(&mut self, from: &Mailbox, to: &Mailbox) -> Reply {
        let Some(user) = self.user() else {
            return Reply::bad("not authenticated");
        };
        let (from, to) = match (mailbox_name(from), mailbox_name(to)) {
            (Ok(f), Ok(t)) => (f, t),
            (Err(r), _) | (_, Err(r)) => return r,
        };
        match self.backend.rename_mailbox(user, &from, &to) {
            Ok(applied) => {
                self.changed(applied.changes);
                Reply::ok("RENAME completed")
            }
            Err(e) => store_reply(&e),
        }
    }

    fn subscribe(&mut self, m: &Mailbox, on: bool) -> Reply {
        let Some(user) = self.user() else {
            return Reply::bad("not authenticated");
        };
        let name = match mailbox_name(m) {
            Ok(n) => n,
            Err(r) => return r,
        };
        let result = if on {
            self.backend.subscribe(user, &name)
        } else {
            self.backend.unsubscribe(user, &name)
        };
        match result {
            Ok(()) if on => Reply::ok("SUBSCRIBE completed"),
            Ok(()) => Reply::ok("UNSUBSCRIBE completed"),
            Err(e) => store_reply(&e),
        }
    }

    fn list(&mut self, reference: &Mailbox, pattern: &IString) -> Reply {
        let Some(user) = self.user() else {
            return Reply::bad("not authenticated");
        };
        let reference = match reference {
            Mailbox::Inbox => b"INBOX".to_vec(),
            other => other.as_wire().to_vec(),
        };
        if pattern.as_bytes().is_empty() {
            // RFC 3501 §6.3.8: the delimiter and the root of the reference.
            self.untagged(Data::List {
                attributes: Atom::new("Noselect").into_iter().collect(),
                delimiter: Some(DELIMITER),
                mailbox: Mailbox::from_wire(Vec::new()),
            });
            return Reply::ok("LIST completed");
        }
        let mut full = reference;
        full.extend_from_slice(pattern.as_bytes());
        let mailboxes = match self.backend.mailboxes(user) {
            Ok(m) => m,
            Err(e) => return store_reply(&e),
        };
        let names: Vec<&str> = mailboxes.iter().map(|m| m.name.as_str()).collect();
        for name in &names {
            if !message::list_matches(&full, name.as_bytes(), DELIMITER) {
                continue;
            }
            let prefix = format!("{name}/");
            let children = names.iter().any(|n| n.starts_with(&prefix));
            let attr = if children {
                "HasChildren"
            } else {
                "HasNoChildren"
            };
            self.untagged(Data::List {
                attributes: Atom::new(attr).into_iter().collect(),
                delimiter: Some(DELIMITER),
                mailbox: wire_mailbox(name),
            });
        }
        Reply::ok("LIST completed")
    }

    fn status(&mut self, m: &Mailbox, items: &[StatusAttribute]) -> Reply {
        let Some(user) = self.user() else {
            return Reply::bad("not authenticated");
        };
        let name = match mailbox_name(m) {
            Ok(n) => n,
            Err(r) => return r,
        };
        let info = match self.backend.mailbox(user, &name) {
            Ok(i) => i,
            Err(e) => return store_reply(&e),
        };
        let recent = if items.contains(&StatusAttribute::Recent) {
            match self.backend.recent_count(info.id) {
                Ok(n) => n,
                Err(e) => return store_reply(&e),
            }
        } else {
            0
        };
        let values = items
            .iter()
            .map(|item| match item {
                StatusAttribute::Messages => StatusItem::Messages(info.messages),
                StatusAttribute::Recent => StatusItem::Recent(recent),
                StatusAttribute::UidNext => StatusItem::UidNext(info.uid_next),
                StatusAttribute::UidValidity => StatusItem::UidValidity(info.uid_validity),
                StatusAttribute::Unseen => StatusItem::Unseen(info.unseen),
                StatusAttribute::HighestModSeq => {
                    self.condstore = true;
                    StatusItem::HighestModSeq(info.highest_modseq)
                }
            })
            .collect();
        self.untagged(Data::MailboxStatus {
            mailbox: m.clone(),
            items: values,
        });
        Reply::ok("STATUS completed")
    }

    fn append(
        &mut self,
        m: &Mailbox,
        flags: Option<&[ImapFlag]>,
        date: Option<&mailpush_imap::DateTime>,
        raw: &[u8],
    ) -> Reply {
        let Some(user) = self.user() else {
            return Reply::bad("not authenticated");
        };
        let name = match mailbox_name(m) {
            Ok(n) => n,
            Err(r) => return r,
        };
        let flags = match store_flags(flags.unwrap_or(&[])) {
            Ok(f) => f,
            Err(r) => return r,
        };
        let internal_date = match date {
            Some(d) => message::internal_date_from(d),
            None => InternalDate::utc(
                self.now
                    .wall
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0)),
            ),
        };
        let id = match self.backend.mailbox_id(user, &name) {
            Ok(id) => id,
            Err(StoreError::NoSuchMailbox(_)) => {
                return Reply::no("Mailbox does not exist").code(Some(Code::TryCreate));
            }
            Err(e) => return store_reply(&e),
        };
        match self.backend.append(id, raw, &flags, internal_date) {
            Ok(applied) => {
                let a = applied.value;
                self.changed(applied.changes);
                Reply::ok("APPEND completed").code(Some(Code::AppendUid {
                    uid_validity: nz(a.uid_validity),
                    uids: ImapUidSet::single(nz(a.uid)),
                }))
            }
            Err(e) => store_reply(&e),
        }
    }

    fn close(&mut self, expunge: bool, tag: &Tag) {
        let Some(user) = self.user() else {
            return;
        };
        if let State::Selected { mailbox, .. } = &self.state
            && expunge
            && !mailbox.read_only
        {
            // CLOSE expunges silently (RFC 3501 §6.4.2).
            match self.backend.expunge(mailbox.id, None) {
                Ok(applied) if applied.changes.is_empty() => {}
                Ok(applied) => self.events.push_back(Event::Changes(applied.changes)),
                Err(e) => return self.tagged(tag.clone(), store_reply(&e)),
            }
        }
        self.state = State::Authenticated { user };
        let what = if expunge { "CLOSE" } else { "UNSELECT" };
        self.tagged(tag.clone(), Reply::ok(format!("{what} completed")));
    }
}

/// Message data a FETCH asks for, after macros are expanded.
#[derive(Default)]
struct Wanted {
    uid: bool,
    flags: bool,
    internal_date: bool,
    size: bool,
    modseq: bool,
    envelope: bool,
    body: bool,
    body_structure: bool,
    /// Sections, in request order.
    sections: Vec<FetchAttribute>,
    /// Whether a section sets `\Seen`.
    sets_seen: bool,
}

impl Wanted {
    fn needs_text(&self) -> bool {
        self.envelope || self.body || self.body_structure || !self.sections.is_empty()
    }
}

fn wanted(attributes: &FetchAttributes) -> Wanted {
    use FetchAttribute as A;
    let mut w = Wanted::default();
    let list: Vec<FetchAttribute> = match attributes {
        FetchAttributes::Fast => vec![A::Flags, A::InternalDate, A::Rfc822Size],
        FetchAttributes::All => vec![A::Flags, A::InternalDate, A::Rfc822Size, A::Envelope],
        FetchAttributes::Full => vec![
            A::Flags,
            A::InternalDate,
            A::Rfc822Size,
            A::Envelope,
            A::Body,
        ],
        FetchAttributes::List(l) => l.as_slice().to_vec(),
    };
    for a in list {
        match a {
            A::Uid => w.uid = true,
            A::Flags => w.flags = true,
            A::InternalDate => w.internal_date = true,
            A::Rfc822Size => w.size = true,
            A::ModSeq => w.modseq = true,
            A::Envelope => w.envelope = true,
            A::Body => w.body = true,
            A::BodyStructure => w.body_structure = true,
            A::BodySection { peek, .. } => {
                w.sets_seen |= !peek;
                w.sections.push(a);
            }
            A::Rfc822 | A::Rfc822Text => {
                w.sets_seen = true;
                w.sections.push(a);
            }
            A::Rfc822Header => w.sections.push(a),
        }
    }
    w
}

impl<B: MailBackend> Session<B> {
    fn fetch_data(&mut self, seq: u32, items: Vec<FetchItem>) {
        if let Ok(items) = Vec1::new(items) {
            self.untagged(Data::Fetch {
                seq: nz(seq),
                items,
            });
        }
    }

    /// The (sequence number, UID) pairs a set names, ascending. Message numbers beyond the
    /// mailbox are an error (RFC 9051 §6.4.4 `BAD`); UIDs that do not exist are skipped.
    fn resolve(&self, uid: bool, set: &SequenceSet) -> Result<Vec<(u32, Uid)>, Reply> {
        let State::Selected { mailbox, .. } = &self.state else {
            return Err(Reply::bad("no mailbox selected"));
        };
        let count = u32::try_from(mailbox.uids.len()).unwrap_or(u32::MAX);
        if uid {
            let largest = mailbox.uids.last().copied().unwrap_or(0);
            return Ok(mailbox
                .uids
                .iter()
                .enumerate()
                .filter(|(_, u)| set.contains(**u, largest))
                .map(|(i, u)| (u32::try_from(i + 1).unwrap_or(u32::MAX), *u))
                .collect());
        }
        for r in set.ranges() {
            let values = match *r {
                SeqRange::Single(a) => [a, a],
                SeqRange::Range(a, b) => [a, b],
            };
            for v in values {
                if let SeqNo::Value(n) = v
                    && n.get() > count
                {
                    return Err(Reply::bad(format!(
                        "Message number {n} does not exist (the mailbox has {count} messages)"
                    )));
                }
            }
        }
        Ok(mailbox
            .uids
            .iter()
            .enumerate()
            .filter_map(|(i, u)| {
                let seq = u32::try_from(i + 1).ok()?;
                set.contains(seq, count).then_some((seq, *u))
            })
            .collect())
    }

    fn selected_id(&self) -> Option<(MailboxId, bool)> {
        match &self.state {
            State::Selected { mailbox, .. } => Some((mailbox.id, mailbox.read_only)),
            _ => None,
        }
    }

    fn expunge(&mut self, set: Option<&SequenceSet>) -> Reply {
        let Some((id, read_only)) = self.selected_id() else {
            return Reply::bad("no mailbox selected");
        };
        if read_only {
            return Reply::no("The mailbox is read-only").code(other_code("CANNOT"));
        }
        let uids = match set {
            Some(set) => match self.resolve(true, set) {
                Ok(t) => Some(t.into_iter().map(|(_, u)| u).collect::<UidSet>()),
                Err(r) => return r,
            },
            None => None,
        };
        if uids.as_ref().is_some_and(UidSet::is_empty) {
            return Reply::ok("UID EXPUNGE completed");
        }
        match self.backend.expunge(id, uids.as_ref()) {
            Ok(applied) => {
                self.changed(applied.changes);
                Reply::ok("EXPUNGE completed")
            }
            Err(e) => store_reply(&e),
        }
    }

    fn fetch(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        attributes: &FetchAttributes,
        changed_since: Option<u64>,
        vanished: bool,
    ) -> Reply {
        let Some((id, read_only)) = self.selected_id() else {
            return Reply::bad("no mailbox selected");
        };
        let mut w = wanted(attributes);
        if vanished && (!uid || !self.qresync || changed_since.is_none()) {
            return Reply::bad(
                "VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC (RFC 7162 §3.2.6)",
            );
        }
        w.uid |= uid;
        if w.modseq || changed_since.is_some() {
            self.condstore = true;
            w.modseq = true;
        }
        let targets = match self.resolve(uid, set) {
            Ok(t) => t,
            Err(r) => return r,
        };
        if let Some(since) = changed_since
            && vanished
        {
            let largest = match &self.state {
                State::Selected { mailbox, .. } => mailbox.uids.last().copied().unwrap_or(0),
                _ => 0,
            };
            match self.backend.expunged_since(id, since) {
                Ok(gone) => {
                    let gone = gone.into_iter().filter(|u| set.contains(*u, largest));
                    if let Some(uids) = imap_uid_set(gone) {
                        self.untagged(Data::Vanished {
                            earlier: true,
                            uids,
                        });
                    }
                }
                Err(e) => return store_reply(&e),
            }
        }
        if targets.is_empty() {
            return Reply::ok("FETCH completed");
        }
        let uid_set: UidSet = targets.iter().map(|(_, u)| *u).collect();
        let metas = match self.backend.messages(id, &uid_set) {
            Ok(m) => m,
            Err(e) => return store_reply(&e),
        };
        let mut metas: HashMap<Uid, MessageMeta> = metas.into_iter().map(|m| (m.uid, m)).collect();
        // Fetching a body without PEEK sets \Seen (RFC 3501 §6.4.5); the FETCH then carries the
        // new FLAGS.
        let mut seen_set: HashMap<Uid, ()> = HashMap::new();
        if w.sets_seen && !read_only {
            let unseen: UidSet = targets
                .iter()
                .filter(|(_, u)| metas.get(u).is_some_and(|m| !m.flags.contains(&Flag::Seen)))
                .map(|(_, u)| *u)
                .collect();
            if !unseen.is_empty() {
                let seen: Flags = [Flag::Seen].into_iter().collect();
                match self
                    .backend
                    .store_flags(id, &unseen, FlagOp::Add, &seen, None)
                {
                    Ok(applied) => {
                        for m in &applied.value.updated {
                            seen_set.insert(m.uid, ());
                            if let Some(sel) = self.selected() {
                                sel.reported.insert(m.uid, m.modseq);
                            }
                            metas.insert(m.uid, m.clone());
                        }
                        self.changed(applied.changes);
                    }
                    Err(e) => return store_reply(&e),
                }
            }
        }
        for (seq, u) in targets {
            let Some(meta) = metas.get(&u) else {
                continue;
            };
            if changed_since.is_some_and(|since| meta.modseq <= since) {
                continue;
            }
            let mut items = Vec::new();
            if w.uid {
                items.push(FetchItem::Uid(nz(u)));
            }
            if w.flags || seen_set.contains_key(&u) {
                let flags = match &self.state {
                    State::Selected { mailbox, .. } => mailbox.flags_of(u, &meta.flags),
                    _ => imap_flags(&meta.flags),
                };
                items.push(FetchItem::Flags(flags));
            }
            if w.internal_date
                && let Some(dt) = message::date_time_from(meta.internal_date)
            {
                items.push(FetchItem::InternalDate(dt));
            }
            if w.size {
                items.push(FetchItem::Rfc822Size(
                    u32::try_from(meta.size).unwrap_or(u32::MAX),
                ));
            }
            if w.modseq {
                items.push(FetchItem::ModSeq(meta.modseq));
            }
            if w.needs_text() {
                let raw = match self.backend.message(id, u) {
                    Ok(Some(m)) => m.raw,
                    Ok(None) => continue,
                    Err(e) => return store_reply(&e),
                };
                if w.envelope {
                    items.push(FetchItem::Envelope(Box::new(mime::envelope(&raw))));
                }
                if w.body {
                    items.push(FetchItem::Body(Box::new(mime::body(&raw))));
                }
                if w.body_structure {
                    items.push(FetchItem::BodyStructure(Box::new(mime::body_structure(
                        &raw,
                    ))));
                }
                for a in &w.sections {
                    items.push(section_item(a, &raw));
                }
            }
            self.fetch_data(seq, items);
        }
        Reply::ok("FETCH completed")
    }

    #[allow(clippy::too_many_arguments)]
    fn store(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        unchanged_since: Option<u64>,
        kind: StoreKind,
        silent: bool,
        flags: &[ImapFlag],
    ) -> Reply {
        let Some((id, read_only)) = self.selected_id() else {
            return Reply::bad("no mailbox selected");
        };
        if read_only {
            return Reply::no("The mailbox is read-only").code(other_code("CANNOT"));
        }
        let flags = match store_flags(flags) {
            Ok(f) => f,
            Err(r) => return r,
        };
        if unchanged_since.is_some() {
            self.condstore = true;
        }
        let targets = match self.resolve(uid, set) {
            Ok(t) => t,
            Err(r) => return r,
        };
        if targets.is_empty() {
            return Reply::ok("STORE completed");
        }
        let op = match kind {
            StoreKind::Replace => FlagOp::Replace,
            StoreKind::Add => FlagOp::Add,
            StoreKind::Remove => FlagOp::Remove,
        };
        let uids: UidSet = targets.iter().map(|(_, u)| *u).collect();
        let applied = match self
            .backend
            .store_flags(id, &uids, op, &flags, unchanged_since)
        {
            Ok(a) => a,
            Err(e) => return store_reply(&e),
        };
        let stored = applied.value;
        let condstore = self.condstore;
        for m in &stored.updated {
            if let Some(sel) = self.selected() {
                sel.reported.insert(m.uid, m.modseq);
            }
            if silent && !condstore {
                continue;
            }
            let seq = targets
                .iter()
                .find(|(_, u)| *u == m.uid)
                .map_or(0, |(s, _)| *s);
            let mut items = Vec::new();
            if uid || condstore {
                items.push(FetchItem::Uid(nz(m.uid)));
            }
            // RFC 7162 §3.1.3: with CONDSTORE, even .SILENT gets the new MODSEQ (without FLAGS).
            if !silent {
                let flags = match &self.state {
                    State::Selected { mailbox, .. } => mailbox.flags_of(m.uid, &m.flags),
                    _ => imap_flags(&m.flags),
                };
                items.push(FetchItem::Flags(flags));
            }
            if condstore {
                items.push(FetchItem::ModSeq(m.modseq));
            }
            self.fetch_data(seq, items);
        }
        self.changed(applied.changes);
        if stored.modified.is_empty() {
            return Reply::ok("STORE completed");
        }
        let numbers: Vec<u32> = if uid {
            stored.modified.clone()
        } else {
            stored
                .modified
                .iter()
                .filter_map(|u| targets.iter().find(|(_, t)| t == u).map(|(s, _)| *s))
                .collect()
        };
        Reply::ok("Conditional STORE failed for some messages")
            .code(sequence_set(numbers).map(Code::Modified))
    }

    fn copy(&mut self, uid: bool, set: &SequenceSet, m: &Mailbox, is_move: bool) -> Reply {
        let (Some(user), Some((id, read_only))) = (self.user(), self.selected_id()) else {
            return Reply::bad("no mailbox selected");
        };
        if is_move && read_only {
            return Reply::no("The mailbox is read-only").code(other_code("CANNOT"));
        }
        let name = match mailbox_name(m) {
            Ok(n) => n,
            Err(r) => return r,
        };
        let targets = match self.resolve(uid, set) {
            Ok(t) => t,
            Err(r) => return r,
        };
        let dest = match self.backend.mailbox(user, &name) {
            Ok(i) => i,
            Err(StoreError::NoSuchMailbox(_)) => {
                return Reply::no("Mailbox does not exist").code(Some(Code::TryCreate));
            }
            Err(e) => return store_reply(&e),
        };
        let what = if is_move { "MOVE" } else { "COPY" };
        if targets.is_empty() {
            return Reply::ok(format!("{what} completed"));
        }
        let uids: UidSet = targets.iter().map(|(_, u)| *u).collect();
        let result = if is_move {
            self.backend.move_messages(id, &uids, dest.id)
        } else {
            self.backend.copy(id, &uids, dest.id)
        };
        let applied = match result {
            Ok(a) => a,
            Err(e) => return store_reply(&e),
        };
        let copied = applied.value;
        self.changed(applied.changes);
        let code = match (
            imap_uid_set(copied.mapping.iter().map(|(s, _)| *s)),
            imap_uid_set(copied.mapping.iter().map(|(_, d)| *d)),
        ) {
            (Some(source), Some(destination)) => Some(Code::CopyUid {
                uid_validity: nz(copied.uid_validity),
                source,
                destination,
            }),
            _ => None,
        };
        if is_move {
            // RFC 6851 §4.3: COPYUID goes in an untagged OK before the expunges.
            if code.is_some() {
                self.untagged_ok(code, "Moved UIDs");
            }
            self.reconcile(true);
            Reply::ok("MOVE completed")
        } else {
            Reply::ok("COPY completed").code(code)
        }
    }

    /// Tells the client what changed in the selected mailbox since it was last told: expunges
    /// (when allowed), new messages, then flag changes.
    fn reconcile(&mut self, allow_expunge: bool) {
        let State::Selected { mailbox, .. } = &self.state else {
            return;
        };
        let id = mailbox.id;
        let read_only = mailbox.read_only;
        let told_max = mailbox.uids.last().copied().unwrap_or(0);
        // Only HIGHESTMODSEQ: the counts of `mailbox_by_id` would read the whole mailbox after
        // every command.
        let highest_modseq = match self.backend.highest_modseq(id) {
            Ok(m) => m,
            Err(StoreError::NoSuchMailbox(_)) => {
                return self.bye("The selected mailbox was deleted");
            }
            Err(_) => return,
        };
        let (expunge_modseq, flags_modseq) = (mailbox.expunge_modseq, mailbox.flags_modseq);
        let mut out: Vec<Data> = Vec::new();
        let mut gone_uids: Vec<Uid> = Vec::new();
        if allow_expunge && highest_modseq > expunge_modseq {
            match self.backend.expunged_since(id, expunge_modseq) {
                Ok(g) => gone_uids = g,
                Err(_) => return,
            }
        }
        let changed = if highest_modseq > flags_modseq {
            match self.backend.changed_since(id, flags_modseq) {
                Ok(c) => c,
                Err(_) => return,
            }
        } else {
            Vec::new()
        };
        // Every UID above the highest told one is a message the client is told about now.
        let arriving: Vec<Uid> = changed
            .iter()
            .filter(|m| m.uid > told_max)
            .map(|m| m.uid)
            .collect();
        let Ok(arriving_recent) = self.recent_among(id, read_only, &arriving) else {
            return;
        };
        let qresync = self.qresync;
        let condstore = self.condstore;
        let State::Selected { mailbox: sel, .. } = &mut self.state else {
            return;
        };
        // Expunges, highest message number first so that each number is still valid.
        let gone: Vec<Uid> = gone_uids
            .into_iter()
            .filter(|u| sel.uids.binary_search(u).is_ok())
            .collect();
        if !gone.is_empty() {
            if qresync {
                if let Some(uids) = imap_uid_set(gone.iter().copied()) {
                    out.push(Data::Vanished {
                        earlier: false,
                        uids,
                    });
                }
            } else {
                for u in gone.iter().rev() {
                    if let Some(seq) = sel.seq_of(*u) {
                        out.push(Data::Expunge(nz(seq)));
                    }
                }
            }
            sel.uids.retain(|u| gone.binary_search(u).is_err());
            sel.recent.retain(|u| gone.binary_search(u).is_err());
        }
        if allow_expunge {
            sel.expunge_modseq = highest_modseq;
        }
        let known_max = sel.uids.last().copied().unwrap_or(0);
        let new: Vec<Uid> = changed
            .iter()
            .filter(|m| m.uid > known_max)
            .map(|m| m.uid)
            .collect();
        if !new.is_empty() {
            sel.uids.extend(new);
            sel.recent.extend(arriving_recent);
            out.push(Data::Exists(
                u32::try_from(sel.uids.len()).unwrap_or(u32::MAX),
            ));
            // RFC 3501 §7.3.2: RECENT comes with a change of the mailbox size.
            out.push(Data::Recent(
                u32::try_from(sel.recent.len()).unwrap_or(u32::MAX),
            ));
        }
        for meta in changed.iter().filter(|m| m.uid <= known_max) {
            if sel.reported.get(&meta.uid) == Some(&meta.modseq) {
                continue;
            }
            let Some(seq) = sel.seq_of(meta.uid) else {
                continue;
            };
            let mut items = vec![
                FetchItem::Uid(nz(meta.uid)),
                FetchItem::Flags(sel.flags_of(meta.uid, &meta.flags)),
            ];
            if condstore {
                items.push(FetchItem::ModSeq(meta.modseq));
            }
            if let Ok(items) = Vec1::new(items) {
                out.push(Data::Fetch {
                    seq: nz(seq),
                    items,
                });
            }
        }
        sel.flags_modseq = sel.flags_modseq.max(highest_modseq);
        sel.reported.clear();
        // Expunges held back (FETCH, STORE, SEARCH) are still owed to the client.
        sel.dirty = sel.expunge_modseq < highest_modseq;
        for d in out {
            self.untagged(d);
        }
    }

    fn search(&mut self, uid: bool, charset: Option<&IString>, criteria: &[SearchKey]) -> Reply {
        let Some((id, _)) = self.selected_id() else {
            return Reply::bad("no mailbox selected");
        };
        // Search strings are compared as UTF-8 text, of which US-ASCII is a subset.
        if let Some(c) = charset
            && !c.as_bytes().eq_ignore_ascii_case(b"US-ASCII")
            && !c.as_bytes().eq_ignore_ascii_case(b"UTF-8")
        {
            return Reply::no("Unsupported charset").code(Some(Code::BadCharset(vec![
                IString::from("US-ASCII"),
                IString::from("UTF-8"),
            ])));
        }
        let all = SequenceSet::all();
        let targets = match self.resolve(true, &all) {
            Ok(t) => t,
            Err(r) => return r,
        };
        let metas = if targets.is_empty() {
            Vec::new()
        } else {
            match self.backend.messages(id, &UidSet::all()) {
                Ok(m) => m,
                Err(e) => return store_reply(&e),
            }
        };
        let metas: HashMap<Uid, MessageMeta> = metas.into_iter().map(|m| (m.uid, m)).collect();
        let ctx = search::Context {
            count: u32::try_from(targets.len()).unwrap_or(u32::MAX),
            largest_uid: targets.last().map_or(0, |(_, u)| *u),
        };
        let with_body = criteria.iter().any(search::needs_body);
        let mut ids = Vec::new();
        let mut max_modseq = 0;
        let uses_modseq = criteria.iter().any(search::mentions_modseq);
        for (seq, u) in &targets {
            let Some(meta) = metas.get(u) else {
                continue;
            };
            let recent = match &self.state {
                State::Selected { mailbox, .. } => mailbox.recent.contains(u),
                _ => false,
            };
            let candidate = search::Candidate {
                seq: *seq,
                meta,
                recent,
            };
            let hit = match search::all(criteria, &candidate, &ctx, None) {
                Some(hit) => hit,
                // The metadata does not decide: read this one message (one short store read
                // per message, so other sessions' calls interleave with a long search).
                None => match self.backend.message(id, *u) {
                    Ok(Some(m)) => {
                        let text = search::MessageText::new(&m.raw, with_body);
                        search::all(criteria, &candidate, &ctx, Some(&text)) == Some(true)
                    }
                    Ok(None) => false,
                    Err(e) => return store_reply(&e),
                },
            };
            if hit {
                ids.push(nz(if uid { *u } else { *seq }));
                max_modseq = max_modseq.max(meta.modseq);
            }
        }
        if uses_modseq {
            self.condstore = true;
        }
        self.untagged(Data::Search {
            mod_seq: (uses_modseq && !ids.is_empty()).then_some(max_modseq),
            ids,
        });
        Reply::ok("SEARCH completed")
    }

    fn xaps(&mut self, reg: &XapsRegistration) -> Reply {
        let Some(user) = self.user() else {
            return Reply::bad("not authenticated");
        };
        let request: XapsRequest = match reg.interpret(self.config.xaps_limits) {
            Ok(r) => r,
            Err(XapsRefusal::Bad(t)) => return Reply::bad(t),
            Err(XapsRefusal::No(t)) => return Reply::no(t),
        };
        let utf8 = |b: &[u8], what: &str| {
            String::from_utf8(b.to_vec()).map_err(|_| Reply::bad(format!("{what} must be UTF-8")))
        };
        let account_id = match utf8(&request.account_id, "aps-account-id") {
            Ok(s) => s,
            Err(r) => return r,
        };
        let device_token = match utf8(&request.device_token, "aps-device-token") {
            Ok(s) => s,
            Err(r) => return r,
        };
        //= spec/imap-push.md#XAPS-20
        //# A server MUST reply `NO` with a text naming the problem,
        //# and record nothing, when the value of `aps-device-token` names no push resource of its push
        //# service
        //= spec/provider-api.md#PROV-27
        //# the mail server MUST refuse to register any other token
        if !mailpush_mail_notify::is_device_token(&device_token) {
            return Reply::no("aps-device-token must be 64 hexadecimal characters");
        }
        //= spec/imap-push.md#XAPS-20
        //# a mailpush mail server accepts exactly 64
        //# hexadecimal characters, in either case, and stores and pushes the token in lowercase, so that the
        //# same device registered with either spelling is one registration.
        let device_token = device_token.to_ascii_lowercase();
        let subtopic = match request.subtopic.as_deref().map(|s| utf8(s, "aps-subtopic")) {
            None => None,
            Some(Ok(s)) => Some(s),
            Some(Err(r)) => return r,
        };
        let version = request.negotiated_version();
        // A name that is not UTF-8 names no mailbox of the store, so it is simply not
        // acknowledged (XAPS-10).
        let mailboxes: Vec<String> = request
            .requested_mailboxes()
            .iter()
            .filter_map(|m| String::from_utf8(m.as_bytes().to_vec()).ok())
            .collect();
        let push = PushRequest {
            account_id,
            device_token,
            subtopic,
            version: version.get(),
            mailboxes,
        };
        //= spec/imap-push.md#XAPS-15
        //# The server MUST store the registration durably before it sends the tagged
        //# `OK`
        let acknowledged = match self.backend.register_push(user, &push, self.now.wall) {
            Ok(a) => a,
            Err(StoreError::RegistrationLimit { limit }) => {
                //= spec/imap-push.md#XAPS-17
                //# A command that would create a registration beyond the limit MUST get
                //# `NO [LIMIT]` (RFC 5530) and MUST NOT change or evict any stored registration
                return Reply::no(format!("Too many push registrations (limit {limit})"))
                    .code(other_code("LIMIT"));
            }
            Err(e) => return store_reply(&e),
        };
        //= spec/imap-push.md#XAPS-11
        //# Under version 2 the server MUST send, before the tagged `OK`, one untagged
        //# `* XAPPLEPUSHSERVICE "mailbox" <name>` line per acknowledged mailbox, in the order of the request,
        //# with the name spelled exactly as the client sent it (after unquoting), followed by exactly one
        //# `* XAPPLEPUSHSERVICE "aps-version" "<v>" "aps-topic" <topic>` line
        if version.get() >= 2 {
            for name in acknowledged {
                self.untagged(Data::XApplePushService(XapsResponse::Mailbox(
                    IString::from(name),
                )));
            }
        }
        //= spec/imap-push.md#XAPS-11
        //# Under version 1 the server MUST send only the `aps-version` line.
        self.untagged(Data::XApplePushService(XapsResponse::Version {
            version,
            topic: IString::from(self.config.xaps_topic.as_str()),
        }));
        Reply::ok("XAPPLEPUSHSERVICE completed")
    }
}

/// `BODY[…]`, `RFC822`, `RFC822.HEADER` or `RFC822.TEXT` of a message.
fn section_item(a: &FetchAttribute, raw: &[u8]) -> FetchItem {
    let data = |b: Vec<u8>| Some(IString::new(b));
    match a {
        FetchAttribute::Rfc822 => FetchItem::Rfc822(data(raw.to_vec())),
        FetchAttribute::Rfc822Header => FetchItem::Rfc822Header(data(message::msgtext(
            raw,
            &mailpush_imap::SectionText::Header,
        ))),
        FetchAttribute::Rfc822Text => FetchItem::Rfc822Text(data(message::msgtext(
            raw,
            &mailpush_imap::SectionText::Text,
        ))),
        FetchAttribute::BodySection {
            section, partial, ..
        } => {
            // A part that does not exist reads as empty (RFC 3501 §6.4.5 leaves it open; an
            // empty string keeps the response well-formed for every client).
            let bytes = mime::section(raw, section).unwrap_or_default();
            let (bytes, origin) = match partial {
                Some((o, l)) => (message::partial(bytes, *o, l.get()), Some(*o)),
                None => (bytes, None),
            };
            FetchItem::BodySection {
                section: section.clone(),
                origin,
                data: data(bytes),
            }
        }
        _ => FetchItem::Rfc822(None),
    }
}
