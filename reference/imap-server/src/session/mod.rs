//! The per-connection IMAP session: a sans-IO state machine.
//!
//! [`Session`] frames the input, keeps the protocol state (not authenticated, authenticated as
//! a user, a mailbox selected) and dispatches each command to its handler with what that
//! state holds: handlers of the authenticated state get the user, handlers of the selected
//! state the user and the selected mailbox, so none of them checks the state again. Handlers
//! return `Result<Reply, Reply>`; store failures become replies through `From<StoreError>`.
//!
//! * `auth`: capabilities, LOGIN, AUTHENTICATE PLAIN, ENABLE;
//! * `mailbox`: SELECT/EXAMINE, CREATE, DELETE, RENAME, (UN)SUBSCRIBE, LIST, STATUS, APPEND,
//!   CLOSE/UNSELECT;
//! * `messages`: FETCH, STORE, COPY/MOVE, EXPUNGE, SEARCH;
//! * `reconcile`: telling the client what changed (other sessions' changes, IDLE);
//! * `xaps`: XAPPLEPUSHSERVICE;
//! * `output`: replies and the bytes and events that go out.

mod auth;
mod mailbox;
mod messages;
mod output;
mod reconcile;
mod xaps;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Instant, SystemTime};

use mailpush_imap::framer::{Frame, FrameError, Framer, FramerConfig};
use mailpush_imap::{
    AuthenticateData, Code, Command, CommandBody, Data, Decode, Decoded, Greeting, GreetingKind,
    IdleDone, RespText, Response, Tag,
};

use mailpush_trace::TraceBuffer;

use crate::config::Config;
use crate::store::{Change, MailBackend, MailboxId, ModSeq, Uid, UserId};
use output::{Reply, text};

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

#[derive(Debug, Clone)]
enum State {
    NotAuthenticated,
    Authenticated { user: UserId },
    Selected { user: UserId, mailbox: Selected },
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

/// What every handler may use: the store, the policy, what the client enabled, the output.
#[derive(Debug)]
struct Context<B> {
    backend: B,
    config: Config,
    protected: bool,
    /// CONDSTORE is on for this session (RFC 7162 §3.1: enabled, or a command used it).
    condstore: bool,
    /// `ENABLE QRESYNC` was accepted.
    qresync: bool,
    auth_failures: u32,
    output: Vec<u8>,
    events: VecDeque<Event>,
    /// Mailboxes the current command changed.
    touched: Vec<MailboxId>,
    /// BYE was sent: the session is over.
    closing: bool,
    last_activity: Instant,
    now: Now,
    /// Protocol trace records for the driver (spec/trace.md); off unless the driver turns it on.
    trace: TraceBuffer,
}

/// The IMAP session. Feed it bytes with [`Session::handle_input`], changes made by other
/// sessions with [`Session::handle_changes`] and expired timers with
/// [`Session::handle_timeout`]; send what [`Session::poll_output`] returns, act on
/// [`Session::poll_event`], and wake it at [`Session::poll_timeout`].
#[derive(Debug)]
pub struct Session<B> {
    cx: Context<B>,
    framer: Framer,
    state: State,
    pending: Pending,
}

/// Which state a command needs.
enum Needs {
    Any,
    NotAuthenticated,
    Authenticated,
    Selected,
}

/// The state each command is valid in (RFC 3501 §6, RFC 9051 §6); a new command must be
/// placed here, there is no default.
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
        C::Check
        | C::Close
        | C::Unselect
        | C::Expunge
        | C::UidExpunge(_)
        | C::Search { .. }
        | C::Fetch { .. }
        | C::Store { .. }
        | C::Copy { .. }
        | C::Move { .. } => Needs::Selected,
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

fn framer(config: &Config) -> Framer {
    Framer::new(FramerConfig {
        max_line: config.max_line,
        max_literal: config.max_literal,
        max_message: config.max_command,
    })
}

/// Either side of a handler's result: both are the tagged reply.
fn answer(result: Result<Reply, Reply>) -> Reply {
    result.unwrap_or_else(|reply| reply)
}

impl<B: MailBackend> Session<B> {
    /// A new session; the greeting is ready in [`Session::poll_output`]. `protected` says
    /// whether the connection is already under TLS (IMAPS).
    pub fn new(backend: B, config: Config, protected: bool, now: Now) -> Self {
        let mut cx = Context {
            backend,
            config,
            protected,
            condstore: false,
            qresync: false,
            auth_failures: 0,
            output: Vec::new(),
            events: VecDeque::new(),
            touched: Vec::new(),
            closing: false,
            last_activity: now.instant,
            now,
            trace: TraceBuffer::off(),
        };
        let caps = cx.capabilities(false);
        let greeting = Greeting {
            kind: GreetingKind::Ok,
            text: RespText {
                code: caps.map(Code::Capability),
                text: text(&cx.config.greeting),
            },
        };
        cx.output
            .extend_from_slice(&mailpush_imap::Encode::to_bytes(&greeting));
        Session {
            framer: framer(&cx.config),
            cx,
            state: State::NotAuthenticated,
            pending: Pending::None,
        }
    }

    /// Whether the session is over; the driver closes once the output is flushed.
    pub fn is_closed(&self) -> bool {
        self.cx.closing
    }

    /// Bytes to send, if any.
    pub fn poll_output(&mut self) -> Option<Vec<u8>> {
        if self.cx.output.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.cx.output))
        }
    }

    /// Records protocol trace events in `buffer` from now on (spec/trace.md): a push
    /// registration's acknowledged subset and every change that pushes. Off by default.
    pub fn set_trace(&mut self, buffer: TraceBuffer) {
        self.cx.trace = buffer;
    }

    /// The records waiting for the driver's tracer ([`mailpush_trace::Tracer::drain`]).
    pub fn trace_buffer(&mut self) -> &mut TraceBuffer {
        &mut self.cx.trace
    }

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.cx.events.pop_front()
    }

    /// When [`Session::handle_timeout`] must be called next; `None` when no timer runs (the
    /// session is over, a TLS handshake is under way, or the configured time is beyond what
    /// the clock can hold).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.cx.closing {
            return None;
        }
        let after = match (&self.state, &self.pending) {
            (_, Pending::Tls) => return None,
            (State::NotAuthenticated, _) => self.cx.config.login_timeout,
            (_, Pending::Idle(_)) => self.cx.config.idle_timeout,
            _ => self.cx.config.autologout,
        };
        self.cx.last_activity.checked_add(after)
    }

    /// Ends the session with `BYE` when it has been silent too long.
    pub fn handle_timeout(&mut self, now: Now) {
        self.cx.now = now;
        if let Some(deadline) = self.poll_timeout()
            && now.instant >= deadline
        {
            self.cx.bye("Autologout: no command for too long");
        }
    }

    /// The driver finished the TLS handshake that STARTTLS asked for. Anything the client sent
    /// in plaintext after STARTTLS is discarded (RFC 3501 §6.2.1: it could have been injected).
    pub fn tls_established(&mut self) {
        self.cx.protected = true;
        self.pending = Pending::None;
        self.framer = framer(&self.cx.config);
    }

    /// Changes that other sessions made (the driver forwards their [`Event::Changes`]). The
    /// client is told at once during IDLE, and at its next command otherwise.
    pub fn handle_changes(&mut self, changes: &[Change], now: Now) {
        self.cx.now = now;
        let State::Selected { mailbox, .. } = &mut self.state else {
            return;
        };
        if changes.iter().any(|c| c.mailbox == mailbox.id) {
            mailbox.dirty = true;
            if matches!(self.pending, Pending::Idle(_)) {
                self.cx.reconcile(mailbox, true);
            }
        }
    }

    /// The driver lost track of other sessions' changes (its feed overflowed): the session
    /// acts as if its selected mailbox changed, so a session in IDLE asks the store and tells
    /// the client now, and any other tells it at its next command. It asks the store only in
    /// IDLE (see [`Session::concerned_by`]).
    pub fn handle_changes_lost(&mut self, now: Now) {
        self.cx.now = now;
        if let State::Selected { mailbox, .. } = &mut self.state {
            mailbox.dirty = true;
            if matches!(self.pending, Pending::Idle(_)) {
                self.cx.reconcile(mailbox, true);
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
        self.cx.now = now;
        self.cx.last_activity = now.instant;
        if self.cx.closing || matches!(self.pending, Pending::Tls) {
            return;
        }
        self.framer.push(data);
        while !self.cx.closing && !matches!(self.pending, Pending::Tls) {
            let Some(frame) = self.framer.next_frame() else {
                break;
            };
            match frame {
                Frame::Message(bytes) => self.handle_message(&bytes),
                Frame::LiteralAnnounced {
                    synchronizing: true,
                    ..
                } => self.cx.respond(Response::Continue(RespText::plain(text(
                    "Ready for literal data",
                )))),
                Frame::LiteralAnnounced { .. } => {}
                Frame::Rejected { error, head } => self.rejected(error, &head),
            }
        }
    }

    fn rejected(&mut self, error: FrameError, head: &[u8]) {
        // A refused AUTHENTICATE response or DONE line still ends what it was answering.
        match std::mem::replace(&mut self.pending, Pending::None) {
            Pending::Authenticate(tag) | Pending::Idle(tag) => {
                return self
                    .cx
                    .tagged(tag, Reply::bad(format!("Command refused: {error}")));
            }
            Pending::None | Pending::Tls => {}
        }
        match error {
            FrameError::LiteralTooLarge { .. } => {
                let reply = Reply::no(format!("Literal refused: {error}"))
                    .code(output::other_code("TOOBIG"));
                match output::tag_of(head) {
                    Some(tag) => self.cx.tagged(tag, reply),
                    None => self
                        .cx
                        .bad_input(head, &format!("Literal refused: {error}")),
                }
            }
            _ => self
                .cx
                .bad_input(head, &format!("Command refused: {error}")),
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
            Decoded::Complete(..) => self
                .cx
                .bad_input(bytes, "Unexpected data after the command"),
            Decoded::Failed { message, .. } => self
                .cx
                .bad_input(bytes, &format!("Malformed command: {message}")),
            Decoded::Incomplete | Decoded::LiteralFound { .. } => {
                self.cx.bad_input(bytes, "Malformed command: incomplete")
            }
        }
    }

    fn authenticate_response(&mut self, tag: Tag, bytes: &[u8]) {
        let result = match AuthenticateData::decode(bytes) {
            Decoded::Complete(AuthenticateData::Continue(data), _) => self.plain(&data),
            Decoded::Complete(AuthenticateData::Cancel, _) => {
                Err(Reply::bad("AUTHENTICATE cancelled"))
            }
            _ => Err(Reply::bad(
                "Malformed AUTHENTICATE response: expected base64",
            )),
        };
        if !self.cx.closing {
            self.cx.tagged(tag, answer(result));
        }
    }

    fn idle_done(&mut self, tag: Tag, bytes: &[u8]) {
        match IdleDone::decode(bytes) {
            Decoded::Complete(IdleDone, _) => {
                if let State::Selected { mailbox, .. } = &mut self.state {
                    self.cx.reconcile(mailbox, true);
                }
                if !self.cx.closing {
                    self.cx.tagged(tag, Reply::ok("IDLE terminated"));
                }
            }
            _ => self.cx.tagged(tag, Reply::bad("Expected DONE to end IDLE")),
        }
    }

    fn command(&mut self, cmd: Command) {
        let Command { tag, body } = cmd;
        // EXPUNGE responses may not interrupt FETCH, STORE and SEARCH (RFC 3501 §7.4.1); their
        // UID forms may carry them.
        let (allow_expunge, always_check) = match &body {
            CommandBody::Fetch { uid, .. }
            | CommandBody::Store { uid, .. }
            | CommandBody::Search { uid, .. } => (*uid, false),
            CommandBody::Noop | CommandBody::Check => (true, true),
            _ => (true, false),
        };
        self.cx.touched.clear();
        let reply = match (needs(&body), &mut self.state) {
            (Needs::Any, _) => self.any_state(&tag, body),
            (Needs::NotAuthenticated, State::NotAuthenticated) => {
                self.not_authenticated(&tag, body)
            }
            (
                Needs::Authenticated,
                State::Authenticated { user } | State::Selected { user, .. },
            ) => {
                let user = *user;
                self.authenticated(user, &tag, body)
            }
            (Needs::Selected, State::Selected { user, mailbox }) => {
                let user = *user;
                match body {
                    CommandBody::Close | CommandBody::Unselect => {
                        let expunge = matches!(body, CommandBody::Close);
                        let result = self.cx.close(mailbox, expunge);
                        if result.is_ok() {
                            self.state = State::Authenticated { user };
                        }
                        Some(answer(result))
                    }
                    body => Some(answer(self.cx.selected(user, mailbox, body))),
                }
            }
            (_, state) => {
                //= spec/imap-push.md#XAPS-2
                //# A server MUST reply `BAD` to `XAPPLEPUSHSERVICE` in the not-authenticated state and MUST
                //# NOT record anything for it.
                let when = match state {
                    State::NotAuthenticated => "before authentication",
                    State::Authenticated { .. } => "without a selected mailbox",
                    State::Selected { .. } => "after authentication",
                };
                let name = command_name(&body);
                Some(Reply::bad(format!("{name} is not valid {when}")))
            }
        };
        if let State::Selected { mailbox, .. } = &mut self.state
            && self.cx.touched.contains(&mailbox.id)
        {
            mailbox.dirty = true;
        }
        let Some(reply) = reply else {
            return;
        };
        if self.cx.closing {
            return;
        }
        if let State::Selected { mailbox, .. } = &mut self.state
            && (mailbox.dirty || always_check)
        {
            self.cx.reconcile(mailbox, allow_expunge);
        }
        if !self.cx.closing {
            self.cx.tagged(tag, reply);
        }
    }

    /// CAPABILITY, NOOP, LOGOUT. `None` when the command answered itself.
    fn any_state(&mut self, tag: &Tag, body: CommandBody) -> Option<Reply> {
        Some(match body {
            CommandBody::Capability => {
                let authenticated = !matches!(self.state, State::NotAuthenticated);
                if let Some(caps) = self.cx.capabilities(authenticated) {
                    self.cx.untagged(Data::Capability(caps));
                }
                Reply::ok("CAPABILITY completed")
            }
            CommandBody::Logout => {
                self.cx
                    .untagged(Data::Bye(RespText::plain(text("Logging out"))));
                self.cx.tagged(tag.clone(), Reply::ok("LOGOUT completed"));
                self.cx.close_session();
                return None;
            }
            CommandBody::Noop => Reply::ok("NOOP completed"),
            _ => Reply::bad("not a command of any state"),
        })
    }

    /// STARTTLS, AUTHENTICATE, LOGIN. `None` when the command answered itself or waits.
    fn not_authenticated(&mut self, tag: &Tag, body: CommandBody) -> Option<Reply> {
        let result = match body {
            CommandBody::StartTls => {
                if self.cx.protected {
                    Err(Reply::bad("The connection is already protected by TLS"))
                } else {
                    self.cx
                        .tagged(tag.clone(), Reply::ok("Begin TLS negotiation now"));
                    self.pending = Pending::Tls;
                    self.cx.events.push_back(Event::StartTls);
                    return None;
                }
            }
            CommandBody::Login { username, password } => {
                self.login(username.as_bytes(), password.as_bytes(), "LOGIN")
            }
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            } => match self.cx.authenticate(&mechanism) {
                Err(reply) => Err(reply),
                Ok(()) => match initial_response {
                    Some(ir) => self.plain(&ir),
                    None => {
                        self.cx.respond(Response::Continue(RespText::default()));
                        self.pending = Pending::Authenticate(tag.clone());
                        return None;
                    }
                },
            },
            _ => Err(Reply::bad("not a command of the not-authenticated state")),
        };
        Some(answer(result))
    }

    /// The commands of the authenticated state (also valid with a mailbox selected). `None`
    /// when the command answered itself or waits.
    fn authenticated(&mut self, user: UserId, tag: &Tag, body: CommandBody) -> Option<Reply> {
        let cx = &mut self.cx;
        let result = match body {
            CommandBody::Enable(caps) => Ok(cx.enable(&caps)),
            CommandBody::Select {
                examine,
                mailbox,
                params,
            } => {
                let qresync = match cx.select_params(&params) {
                    Ok(q) => q,
                    Err(reply) => return Some(reply),
                };
                if matches!(self.state, State::Selected { .. }) {
                    self.state = State::Authenticated { user };
                    if self.cx.qresync {
                        // RFC 7162 §3.2.11: the old mailbox is closed before the new one's
                        // responses.
                        self.cx
                            .untagged_ok(Some(Code::Closed), "Previous mailbox closed");
                    }
                }
                match self.cx.select(user, &mailbox, examine, qresync) {
                    Ok((selected, reply)) => {
                        self.state = State::Selected {
                            user,
                            mailbox: selected,
                        };
                        Ok(reply)
                    }
                    Err(reply) => Err(reply),
                }
            }
            CommandBody::Create(m) => cx.create(user, &m),
            CommandBody::Delete(m) => cx.delete(user, &m),
            CommandBody::Rename { from, to } => cx.rename(user, &from, &to),
            CommandBody::Subscribe(m) => cx.subscribe(user, &m, true),
            CommandBody::Unsubscribe(m) => cx.subscribe(user, &m, false),
            CommandBody::List { reference, pattern } => cx.list(user, &reference, &pattern),
            CommandBody::Status { mailbox, items } => cx.status(user, &mailbox, &items),
            CommandBody::Append {
                mailbox,
                flags,
                date,
                message,
                ..
            } => cx.append(user, &mailbox, flags.as_deref(), date.as_ref(), &message),
            CommandBody::Idle => {
                cx.respond(Response::Continue(RespText::plain(text("idling"))));
                self.pending = Pending::Idle(tag.clone());
                if let State::Selected { mailbox, .. } = &mut self.state {
                    self.cx.reconcile(mailbox, true);
                }
                return None;
            }
            CommandBody::XApplePushService(reg) => cx.xaps(user, &reg),
            _ => Err(Reply::bad("not a command of the authenticated state")),
        };
        Some(answer(result))
    }
}
