//! Test support for the data-access daemon: the engine and the mail server's IMAP session core
//! driven against each other in process, in lock step, with no sockets. The CONDSTORE-only and
//! plain servers are the mail server configured without QRESYNC, or without both extensions.
//!
//! The server half is used only through `server` below, so moving to another crate that serves
//! the same session core changes one line.
#![allow(dead_code)]

use mailpush_imap_server as server;

pub mod scripted;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use mailpush_device_core::Timestamp;

use mailpush_device_core::da::{
    AuthMechanism, ContentState, Credentials, Engine, EngineConfig, Error, Event, MailboxView,
    Method, Security, SyncReport, ViewUpdate,
};
use mailpush_device_core::{AccountId, Token};
use mailpush_imap::framer::{Frame, Framer, FramerConfig};
use mailpush_imap::{
    Code, Command, CommandBody, Data, Decode, Decoded, Encode, Greeting, Mailbox, Response,
};
use mailpush_mail_store::{
    Change, Config as StoreConfig, Flag as StoreFlag, FlagOp, Flags as StoreFlags, InternalDate,
    PasswordHashing, Store, UidSet, UserId,
};

type ServerSession = server::Session<Arc<Store>>;

pub const USER: &str = "fred";
pub const PASSWORD: &str = "secret";

/// What the server offers: its CONDSTORE and QRESYNC switches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    /// Everything (QRESYNC and CONDSTORE).
    QResync,
    /// CONDSTORE without QRESYNC.
    CondStore,
    /// Neither: a plain RFC 3501 server (HIGHESTMODSEQ codes are dropped too).
    Plain,
}

impl Offer {
    pub fn method(self) -> Method {
        match self {
            Offer::QResync => Method::QResync,
            Offer::CondStore => Method::CondStore,
            Offer::Plain => Method::Plain,
        }
    }
    pub const ALL: [Offer; 3] = [Offer::QResync, Offer::CondStore, Offer::Plain];
}

/// The mail server: a real store (SQLite in memory) and the sessions of the mail server.
pub struct MailServer {
    pub store: Arc<Store>,
    pub user: UserId,
}

/// A mailbox as the server has it: UIDVALIDITY and, per UID, flags and content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub uid_validity: u32,
    pub messages: BTreeMap<u32, (BTreeSet<String>, Vec<u8>)>,
}

impl MailServer {
    pub fn new(mailboxes: &[&str]) -> Self {
        let config = StoreConfig {
            password_hashing: PasswordHashing::CHEAPEST,
            ..StoreConfig::default()
        };
        let store = Store::open_in_memory(config).unwrap();
        let user = store.add_user(USER, PASSWORD.as_bytes()).unwrap();
        for m in mailboxes {
            if !m.eq_ignore_ascii_case("INBOX") {
                store.create_mailbox(user, m).unwrap();
            }
        }
        MailServer {
            store: Arc::new(store),
            user,
        }
    }

    fn id(&self, mailbox: &str) -> mailpush_mail_store::MailboxId {
        self.store.mailbox_id(self.user, mailbox).unwrap()
    }

    pub fn append(&self, mailbox: &str, raw: &[u8], flags: &[&str]) -> (u32, Vec<Change>) {
        let flags = StoreFlags::parse(flags.iter().copied()).unwrap();
        let a = self
            .store
            .append(
                self.id(mailbox),
                raw,
                &flags,
                InternalDate::utc(1_700_000_000),
            )
            .unwrap();
        (a.value.uid, a.changes)
    }

    pub fn set_flags(&self, mailbox: &str, uid: u32, flags: &[&str]) -> Vec<Change> {
        let flags = StoreFlags::parse(flags.iter().copied()).unwrap();
        let set: UidSet = [uid].into_iter().collect();
        self.store
            .store_flags(self.id(mailbox), &set, FlagOp::Replace, &flags, None)
            .unwrap()
            .changes
    }

    /// `\Deleted`, then `UID EXPUNGE` of that message.
    pub fn expunge(&self, mailbox: &str, uid: u32) -> Vec<Change> {
        let set: UidSet = [uid].into_iter().collect();
        let deleted = StoreFlags::parse(["\\Deleted"]).unwrap();
        let id = self.id(mailbox);
        let mut changes = self
            .store
            .store_flags(id, &set, FlagOp::Add, &deleted, None)
            .unwrap()
            .changes;
        changes.extend(self.store.expunge(id, Some(&set)).unwrap().changes);
        changes
    }

    /// A new UIDVALIDITY. The store cannot reset one in place, so the mailbox is deleted and
    /// created again, which gives it the next UIDVALIDITY and no messages.
    pub fn reset(&self, mailbox: &str) -> Vec<Change> {
        let mut changes = self
            .store
            .delete_mailbox(self.user, mailbox)
            .unwrap()
            .changes;
        changes.extend(
            self.store
                .create_mailbox(self.user, mailbox)
                .unwrap()
                .changes,
        );
        changes
    }

    pub fn uids(&self, mailbox: &str) -> Vec<u32> {
        self.store.uids(self.id(mailbox)).unwrap()
    }

    pub fn highest_modseq(&self, mailbox: &str) -> u64 {
        self.store
            .mailbox(self.user, mailbox)
            .unwrap()
            .highest_modseq
    }

    pub fn snapshot(&self, mailbox: &str) -> Snapshot {
        let info = self.store.mailbox(self.user, mailbox).unwrap();
        let mut messages = BTreeMap::new();
        for uid in self.store.uids(info.id).unwrap() {
            let m = self.store.message(info.id, uid).unwrap().unwrap();
            let flags = m.meta.flags.iter().map(flag_text).collect();
            messages.insert(uid, (flags, m.raw));
        }
        Snapshot {
            uid_validity: info.uid_validity,
            messages,
        }
    }

    fn session(&self, protected: bool, offer: Offer, now: Timestamp) -> ServerSession {
        let config = server::Config {
            allow_plaintext_auth: true,
            condstore: offer != Offer::Plain,
            qresync: offer == Offer::QResync,
            ..server::Config::default()
        };
        server::Session::new(self.store.clone(), config, protected, server_now(now))
    }
}

fn flag_text(f: &StoreFlag) -> String {
    f.as_str().to_owned()
}

fn server_now(now: Timestamp) -> server::Now {
    static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let base = *BASE.get_or_init(Instant::now);
    let offset = Duration::from_millis(now.0);
    server::Now {
        instant: base + offset,
        wall: UNIX_EPOCH + Duration::from_secs(1_700_000_000) + offset,
    }
}

/// What a driver persists: views, content, and nothing of a sync that did not complete.
#[derive(Clone, Debug, Default)]
pub struct DeviceStore {
    pub views: BTreeMap<Mailbox, MailboxView>,
    pub content: HashMap<(Mailbox, u32, u32), Vec<u8>>,
    pub too_large: BTreeSet<(Mailbox, u32, u32)>,
}

impl DeviceStore {
    fn commit(&mut self, update: &ViewUpdate) {
        let view = self
            .views
            .entry(update.mailbox.clone())
            .or_insert_with(|| MailboxView::empty(update.mailbox.clone()));
        view.apply(update);
        let uv = update.uid_validity.get();
        for a in &update.added {
            if a.content == ContentState::TooLarge {
                self.too_large
                    .insert((update.mailbox.clone(), uv, a.uid.get()));
            }
        }
        // Content no committed view references is garbage.
        let views = &self.views;
        self.content.retain(|(m, v, u), _| {
            views.get(m).is_some_and(|view| {
                view.uid_validity.map(|x| x.get()) == Some(*v)
                    && view
                        .messages
                        .contains_key(&std::num::NonZeroU32::new(*u).unwrap())
            }) || (m == &update.mailbox && *v == uv)
        });
    }

    /// The view of `mailbox` as an application sees it: flags and content per UID.
    pub fn as_snapshot(&self, mailbox: &Mailbox) -> Option<Snapshot> {
        let view = self.views.get(mailbox)?;
        let uv = view.uid_validity?.get();
        let mut messages = BTreeMap::new();
        for (uid, meta) in &view.messages {
            let flags = meta
                .flags
                .as_slice()
                .iter()
                .map(|f| f.as_str().into_owned())
                .collect();
            let key = (mailbox.clone(), uv, uid.get());
            let content = match self.content.get(&key) {
                Some(c) => c.clone(),
                None if self.too_large.contains(&key) => b"<too large>".to_vec(),
                None => panic!("UID {uid} of {mailbox:?} is in the view without content"),
            };
            messages.insert(uid.get(), (flags, content));
        }
        Some(Snapshot {
            uid_validity: uv,
            messages,
        })
    }
}

/// A cut of the connection during a sync: server → device traffic stops after this much.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    Octets(usize),
    Responses(usize),
}

/// Rewrites what the server says so that it looks like a server with less.
struct Filter {
    framer: Framer,
    greeted: bool,
    offer: Offer,
    hide: Vec<String>,
    /// Mailboxes that answer NOMODSEQ.
    nomodseq: BTreeSet<Mailbox>,
    /// Like Dovecot: a `SELECT … (QRESYNC (… <known-uids>))` reports changes only of the
    /// known UIDs (RFC 7162 lets a server restrict them so), never a message added since.
    known_uids_only: bool,
    /// The tag and `<known-uids>` of the open in progress, until its completion.
    restrict_to: Option<(mailpush_imap::Tag, mailpush_imap::SequenceSet)>,
}

impl Filter {
    fn hidden(&self, cap: &str) -> bool {
        self.hide.iter().any(|h| h.eq_ignore_ascii_case(cap))
    }

    fn caps(&self, caps: mailpush_imap::Vec1<mailpush_imap::Capability>) -> Option<Code> {
        let kept: Vec<_> = caps
            .into_vec()
            .into_iter()
            .filter(|c| !self.hidden(c.as_str()))
            .collect();
        mailpush_imap::Vec1::new(kept).ok().map(Code::Capability)
    }

    /// Every complete server message, rewritten and encoded again.
    fn apply(&mut self, bytes: &[u8], opening: Option<&Mailbox>) -> Vec<Vec<u8>> {
        self.framer.push(bytes);
        let mut out = Vec::new();
        while let Some(frame) = self.framer.next_frame() {
            let Frame::Message(m) = frame else { continue };
            if !self.greeted {
                self.greeted = true;
                let Decoded::Complete(mut g, _) = Greeting::decode(&m) else {
                    panic!("server greeting does not parse")
                };
                if let Some(Code::Capability(c)) = g.text.code.take() {
                    g.text.code = self.caps(c);
                }
                out.push(g.to_bytes());
                continue;
            }
            let Decoded::Complete(r, _) = Response::decode(&m) else {
                panic!(
                    "server response does not parse: {:?}",
                    String::from_utf8_lossy(&m)
                )
            };
            if let Some(r) = self.rewrite(r, opening) {
                out.push(r.to_bytes());
            }
        }
        out
    }

    /// The device sends `command`: an open with known UIDs restricts what its answer reports.
    fn sent(&mut self, command: &Command) {
        if !self.known_uids_only {
            return;
        }
        if let CommandBody::Select { params, .. } = &command.body {
            self.restrict_to = params.iter().find_map(|p| match p {
                mailpush_imap::SelectParam::QResync(q) => {
                    q.known_uids.clone().map(|k| (command.tag.clone(), k))
                }
                _ => None,
            });
        }
    }

    fn rewrite(&mut self, r: Response, opening: Option<&Mailbox>) -> Option<Response> {
        let nomodseq = opening.is_some_and(|m| self.nomodseq.contains(m));
        if let (Some((_, known)), Response::Data(Data::Fetch { items, .. })) =
            (&self.restrict_to, &r)
        {
            let uid = items.as_slice().iter().find_map(|i| match i {
                mailpush_imap::FetchItem::Uid(u) => Some(u.get()),
                _ => None,
            });
            if uid.is_some_and(|u| !known.contains(u, u32::MAX)) {
                return None;
            }
        }
        if let (Some((open, _)), Response::Tagged { tag, .. }) = (&self.restrict_to, &r)
            && open == tag
        {
            self.restrict_to = None;
        }
        match r {
            Response::Data(Data::Capability(c)) => match self.caps(c) {
                Some(Code::Capability(c)) => Some(Response::Data(Data::Capability(c))),
                _ => None,
            },
            Response::Data(Data::Status(mut s)) => {
                match s.text.code.take() {
                    Some(Code::Capability(c)) => s.text.code = self.caps(c),
                    Some(Code::HighestModSeq(_)) if nomodseq => s.text.code = Some(Code::NoModSeq),
                    other => s.text.code = other,
                }
                Some(Response::Data(Data::Status(s)))
            }
            Response::Tagged { tag, mut status } => {
                status.text.code = match status.text.code.take() {
                    Some(Code::Capability(c)) => self.caps(c),
                    other => other,
                };
                Some(Response::Tagged { tag, status })
            }
            other => Some(other),
        }
    }
}

/// Reads the commands the device sends.
struct Recorder {
    framer: Framer,
}

impl Recorder {
    fn push(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        self.framer.push(bytes);
        let mut out = Vec::new();
        while let Some(f) = self.framer.next_frame() {
            if let Frame::Message(m) = f {
                out.push(m);
            }
        }
        out
    }
}

struct Conn {
    session: ServerSession,
    filter: Filter,
    recorder: Recorder,
    /// The mailbox of the last EXAMINE/SELECT the device sent.
    opening: Option<Mailbox>,
    closed: bool,
}

/// A completed sync with the round trips the harness counted on the wire.
#[derive(Clone, Debug)]
pub struct Completed {
    pub report: SyncReport,
    pub update: ViewUpdate,
    /// Times the device sent commands during the sync (each flight waits for a completion).
    pub flights: u32,
}

/// The device (engine, its persisted store, the mail client's token table) and the mail
/// server, wired together.
pub struct World {
    pub server: MailServer,
    pub offer: Offer,
    pub hide: Vec<String>,
    pub nomodseq: BTreeSet<Mailbox>,
    /// The server reports changes only of the UIDs a QRESYNC open names, as Dovecot does
    /// (taken at each connection: set it before [`World::start`]).
    pub known_uids_only: bool,
    pub config: EngineConfig,
    pub engine: Engine,
    pub store: DeviceStore,
    /// The mail client's token table: durable, one token per mailbox, never reused.
    pub tokens: BTreeMap<Mailbox, Token>,
    next_token: u32,
    /// Answer registrations at once.
    pub auto_register: bool,
    pub pending_register: Option<Vec<Mailbox>>,
    conn: Option<Conn>,
    pub now: Timestamp,
    pub events: Vec<Event>,
    pub completed: Vec<Completed>,
    pub commands: Vec<Command>,
    pub connects: u32,
    flights: Option<u32>,
    cut: Option<Cut>,
    /// A server change to make after this many more device flights during a sync.
    concurrent: Vec<(u32, ServerChange)>,
}

/// A change the server makes (as another client would).
#[derive(Clone, Debug)]
pub enum ServerChange {
    Append(String, Vec<u8>, Vec<&'static str>),
    SetFlags(String, u32, Vec<&'static str>),
    Expunge(String, u32),
    Reset(String),
}

pub fn account() -> AccountId {
    AccountId::new("0715A26B-CA09-4730-A419-793000CA982E").unwrap()
}

pub fn config(monitored: &[&str]) -> EngineConfig {
    let mut c = EngineConfig::new(
        account(),
        Credentials {
            username: USER.into(),
            password: PASSWORD.into(),
        },
        monitored.iter().map(|m| Mailbox::from(*m)).collect(),
    );
    c.security = Security::Plaintext;
    c.auth = AuthMechanism::Plain;
    c
}

pub fn mailbox(name: &str) -> Mailbox {
    Mailbox::from(name)
}

pub fn note(n: u32) -> Vec<u8> {
    format!(
        "Subject: note {n}\r\nX-Uniform-Type-Identifier: com.apple.mail-note\r\n\r\nbody of note {n}\r\n"
    )
    .into_bytes()
}

impl World {
    /// A server with these mailboxes, a device monitoring `monitored`, nothing run yet.
    pub fn new(offer: Offer, mailboxes: &[&str], monitored: &[&str]) -> Self {
        Self::with_config(offer, mailboxes, config(monitored))
    }

    pub fn with_config(offer: Offer, mailboxes: &[&str], config: EngineConfig) -> Self {
        let now = Timestamp(0);
        let engine = Engine::new(config.clone(), Vec::new(), now);
        World {
            server: MailServer::new(mailboxes),
            offer,
            hide: Vec::new(),
            nomodseq: BTreeSet::new(),
            known_uids_only: false,
            config,
            engine,
            store: DeviceStore::default(),
            tokens: BTreeMap::new(),
            next_token: 0,
            auto_register: true,
            pending_register: None,
            conn: None,
            now,
            events: Vec::new(),
            completed: Vec::new(),
            commands: Vec::new(),
            connects: 0,
            flights: None,
            cut: None,
            concurrent: Vec::new(),
        }
    }

    /// The token of a monitored mailbox.
    pub fn token(&self, name: &str) -> Token {
        self.tokens[&mailbox(name)].clone()
    }

    /// Kill -9 of the device and a start: every in-memory state is lost; the persisted views,
    /// content and token table stay.
    pub fn restart(&mut self) {
        self.conn = None;
        self.cut = None;
        self.flights = None;
        let views = self.store.views.values().cloned().collect();
        self.engine = Engine::new(self.config.clone(), views, self.now);
    }

    /// Makes a server change now, and tells the live session (as the server's driver would).
    pub fn change(&mut self, change: ServerChange) {
        let changes = match change {
            ServerChange::Append(m, raw, flags) => self.server.append(&m, &raw, &flags).1,
            ServerChange::SetFlags(m, uid, flags) => self.server.set_flags(&m, uid, &flags),
            ServerChange::Expunge(m, uid) => self.server.expunge(&m, uid),
            ServerChange::Reset(m) => self.server.reset(&m),
        };
        if let Some(conn) = &mut self.conn {
            conn.session.handle_changes(&changes, server_now(self.now));
        }
    }

    /// Makes `change` after the device's next `after` flights of the running (or next) sync.
    pub fn change_during_sync(&mut self, after: u32, change: ServerChange) {
        self.concurrent.push((after, change));
    }

    /// Cuts the connection during the next sync.
    pub fn cut_next_sync(&mut self, cut: Cut) {
        self.cut = Some(cut);
    }

    /// Forgets a cut that did not happen, and makes the concurrent changes that did not.
    pub fn disarm(&mut self) {
        self.cut = None;
        for (_, c) in std::mem::take(&mut self.concurrent) {
            self.change(c);
        }
    }

    /// Wakes `name` and runs, moving the clock through a pending retry delay, until a sync of
    /// it completes or fails.
    pub fn attempt(&mut self, name: &str) {
        let from = self.events.len();
        self.wake(name);
        let m = mailbox(name);
        for _ in 0..20 {
            let ended = self.events[from..].iter().any(|e| match e {
                Event::SyncCompleted { report, .. } => report.mailbox == m,
                Event::SyncFailed { mailbox, .. } => *mailbox == m,
                _ => false,
            });
            if ended || !self.tick(Duration::from_secs(3600)) {
                return;
            }
        }
    }

    pub fn wake(&mut self, name: &str) -> mailpush_device_core::da::WakeOutcome {
        let token = self.token(name);
        let outcome = self.engine.handle_wake(&token, self.now);
        self.pump();
        outcome
    }

    /// The connection breaks now, whatever runs on it.
    pub fn drop_connection(&mut self) {
        self.conn = None;
        self.engine.handle_disconnected(self.now);
    }

    /// Runs until nothing moves without the clock.
    pub fn pump(&mut self) {
        for _ in 0..100_000 {
            if !self.step() {
                return;
            }
        }
        panic!("the device and the server do not settle");
    }

    /// Advances the clock to the engine's next deadline (if any within `limit`) and pumps.
    pub fn tick(&mut self, limit: Duration) -> bool {
        match self.engine.poll_timeout() {
            Some(t) if t <= later(self.now, limit) => {
                self.now = self.now.max(t);
                self.engine.handle_timeout(self.now);
                self.pump();
                true
            }
            _ => false,
        }
    }

    /// Wakes `name` and runs, moving the clock through retries, until a sync of it completes.
    pub fn sync(&mut self, name: &str) -> Completed {
        let before = self.completed.len();
        self.wake(name);
        self.finish(name, before)
    }

    /// Runs, moving the clock through retries, until a sync of `name` completes after the
    /// `before`-th completion.
    pub fn finish(&mut self, name: &str, before: usize) -> Completed {
        let m = mailbox(name);
        for _ in 0..200 {
            if let Some(c) = self.completed[before..]
                .iter()
                .find(|c| c.report.mailbox == m)
            {
                return c.clone();
            }
            if !self.tick(Duration::from_secs(3600)) {
                break;
            }
        }
        panic!(
            "no sync of {name} completed; events: {:#?}",
            &self.events[self.events.len().saturating_sub(20)..]
        );
    }

    /// Starts the device and runs its first syncs (LOCAL-14).
    pub fn start(&mut self) {
        self.pump();
    }

    /// One exchange: the device's events and octets, the server's answer.
    pub fn step(&mut self) -> bool {
        let mut progress = false;
        while let Some(ev) = self.engine.poll_event() {
            progress = true;
            self.on_event(ev);
        }
        if let Some(bytes) = self.engine.poll_transmit() {
            progress = true;
            if let Some(n) = &mut self.flights {
                *n += 1;
                let due: Vec<ServerChange> = self
                    .concurrent
                    .iter_mut()
                    .filter_map(|(after, c)| {
                        if *after == 0 {
                            return None;
                        }
                        *after -= 1;
                        (*after == 0).then(|| c.clone())
                    })
                    .collect();
                self.concurrent.retain(|(after, _)| *after > 0);
                for c in due {
                    self.change(c);
                }
            }
            if let Some(conn) = &mut self.conn {
                for m in conn.recorder.push(&bytes) {
                    if let Decoded::Complete(cmd, _) = Command::decode(&m) {
                        if let CommandBody::Select { mailbox, .. } = &cmd.body {
                            conn.opening = Some(mailbox.clone());
                        }
                        conn.filter.sent(&cmd);
                        self.commands.push(cmd);
                    }
                }
                conn.session.handle_input(&bytes, server_now(self.now));
            }
        }
        let Some(conn) = &mut self.conn else {
            return progress;
        };
        let mut out = Vec::new();
        while let Some(b) = conn.session.poll_output() {
            out.extend_from_slice(&b);
        }
        let mut tls = false;
        while let Some(e) = conn.session.poll_event() {
            match e {
                server::Event::Closed => conn.closed = true,
                server::Event::StartTls => tls = true,
                _ => {}
            }
        }
        if tls {
            conn.session.tls_established();
        }
        if !out.is_empty() {
            progress = true;
            let frames = conn.filter.apply(&out, conn.opening.as_ref());
            self.deliver(frames);
        }
        if let Some(conn) = &self.conn
            && conn.closed
        {
            self.conn = None;
            self.engine.handle_disconnected(self.now);
            progress = true;
        }
        progress
    }

    fn deliver(&mut self, frames: Vec<Vec<u8>>) {
        for frame in frames {
            let cut_here = match &mut self.cut {
                Some(_) if self.flights.is_none() => None,
                Some(Cut::Responses(0)) => Some(Vec::new()),
                Some(Cut::Responses(n)) => {
                    *n -= 1;
                    None
                }
                Some(Cut::Octets(n)) if *n < frame.len() => Some(frame[..*n].to_vec()),
                Some(Cut::Octets(n)) => {
                    *n -= frame.len();
                    None
                }
                None => None,
            };
            if let Some(partial) = cut_here {
                if !partial.is_empty() {
                    self.engine.handle_input(&partial, self.now);
                }
                self.cut = None;
                self.conn = None;
                self.engine.handle_disconnected(self.now);
                return;
            }
            self.engine.handle_input(&frame, self.now);
            if self.conn.is_none() {
                return;
            }
        }
    }

    fn on_event(&mut self, ev: Event) {
        self.events.push(ev.clone());
        match ev {
            Event::Connect => {
                self.connects += 1;
                let protected = self.config.security == Security::Implicit;
                self.conn = Some(Conn {
                    session: self.server.session(protected, self.offer, self.now),
                    filter: Filter {
                        framer: Framer::new(FramerConfig::default()),
                        greeted: false,
                        offer: self.offer,
                        hide: self.hide.clone(),
                        nomodseq: self.nomodseq.clone(),
                        known_uids_only: self.known_uids_only,
                        restrict_to: None,
                    },
                    recorder: Recorder {
                        framer: Framer::new(FramerConfig::default()),
                    },
                    opening: None,
                    closed: false,
                });
                self.engine.handle_connected(self.now);
            }
            Event::StartTls => self.engine.handle_tls_established(self.now),
            Event::Close => {
                if let (Some(conn), Some(rest)) = (&mut self.conn, self.engine.poll_transmit()) {
                    conn.session.handle_input(&rest, server_now(self.now));
                }
                self.conn = None;
            }
            Event::Register { mailboxes, .. } => {
                if self.auto_register {
                    let tokens = self.register(&mailboxes);
                    self.engine.handle_registered(tokens, self.now).unwrap();
                } else {
                    self.pending_register = Some(mailboxes);
                }
            }
            Event::Unmonitored { mailbox, .. } => {
                self.store.views.remove(&mailbox);
            }
            Event::Content(c) => {
                self.store
                    .content
                    .insert((c.mailbox, c.uid_validity.get(), c.uid.get()), c.octets);
            }
            Event::SyncStarted { .. } => self.flights = Some(0),
            Event::SyncCompleted { update, report } => {
                self.store.commit(&update);
                let flights = self.flights.take().unwrap_or(0);
                self.completed.push(Completed {
                    report,
                    update,
                    flights,
                });
            }
            Event::SyncFailed { .. } => self.flights = None,
            _ => {}
        }
    }

    /// Tokens this mail client hands out start after `n` (another device's client).
    pub fn next_token_offset(&mut self, n: u32) {
        self.next_token = n;
    }

    /// The mail client's side of a registration: the token it has, or a new one (LOCAL-2).
    pub fn register(&mut self, mailboxes: &[Mailbox]) -> Vec<(Mailbox, Token)> {
        mailboxes
            .iter()
            .map(|m| {
                let token = match self.tokens.get(m) {
                    Some(t) => t.clone(),
                    None => {
                        self.next_token += 1;
                        let t = Token::new(format!("tok-{:012}", self.next_token)).unwrap();
                        self.tokens.insert(m.clone(), t.clone());
                        t
                    }
                };
                (m.clone(), token)
            })
            .collect()
    }

    /// The failures the engine reported.
    pub fn failures(&self) -> Vec<Error> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::SyncFailed { error, .. } | Event::ConnectionFailed { error, .. } => {
                    Some(error.clone())
                }
                _ => None,
            })
            .collect()
    }

    /// The device's persisted view of `name` equals the server's mailbox, and the engine's
    /// copy equals the persisted one.
    pub fn assert_converged(&self, name: &str) {
        let m = mailbox(name);
        let server = self.server.snapshot(name);
        let device = self
            .store
            .as_snapshot(&m)
            .unwrap_or_else(|| panic!("no view of {name}"));
        assert_eq!(device, server, "view of {name} differs from the server");
        assert_eq!(
            self.engine.view(&m),
            self.store.views.get(&m),
            "the engine's copy of {name} differs from what was persisted"
        );
    }

    /// Every command the device sent reads the mailbox and changes nothing (SYNC-9).
    pub fn assert_read_only(&self) {
        for c in &self.commands {
            mailpush_device_core::da::fuzzing::assert_read_only(c);
        }
    }

    /// The commands sent since the `from`-th, as text.
    pub fn commands_since(&self, from: usize) -> Vec<String> {
        self.commands[from..]
            .iter()
            .map(|c| {
                let s = String::from_utf8_lossy(&c.to_bytes()).into_owned();
                s.trim_end()
                    .split_once(' ')
                    .map_or(s.clone(), |(_, rest)| rest.to_owned())
            })
            .collect()
    }
}

/// `now` plus `d`.
pub fn later(now: Timestamp, d: Duration) -> Timestamp {
    now.plus_ms(u64::try_from(d.as_millis()).unwrap())
}
