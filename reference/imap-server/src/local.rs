//! Sessions run in this process, without sockets, threads or a clock: for tests that drive the
//! IMAP server core directly (a client core of the device against a real server, conformance
//! checks).
//!
//! A [`LocalServer`] does what the tokio driver does between sessions, synchronously: it routes
//! each session's [`Event::Changes`] to the other sessions of the same user (so IDLE hears
//! them at once), completes STARTTLS at once (there is no TLS to run), and fires timers when
//! the caller moves its clock. It keeps every change made, in order, for a test to check what
//! the push notifier would have been given.
//!
//! ```
//! use std::sync::Arc;
//!
//! use mailpush_imap_server::{Config, LocalServer};
//! use mailpush_mail_store::Store;
//!
//! let store = Arc::new(Store::for_tests(&[("fred", "secret")])?);
//! let mut server = LocalServer::new(store, Config::default());
//! let reader = server.connect();
//! let writer = server.connect();
//! for c in [reader, writer] {
//!     server.command(c, "a LOGIN fred secret");
//!     server.command(c, "b SELECT INBOX");
//! }
//! assert_eq!(server.command(reader, "c IDLE"), "+ idling\r\n");
//! server.send(writer, b"d APPEND INBOX {5+}\r\nhello\r\n");
//! assert!(server.take_output(reader).starts_with("* 1 EXISTS\r\n"));
//! assert_eq!(server.take_changes().len(), 1);
//! # Ok::<(), mailpush_mail_store::Error>(())
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::config::Config;
use crate::session::{Event, Now, Session};
use crate::store::{Change, MailBackend, UserId};

/// Identifies a connection of a [`LocalServer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(usize);

#[derive(Debug)]
struct Connection<B> {
    session: Session<Arc<B>>,
    user: Option<UserId>,
    output: Vec<u8>,
}

/// Sessions of one backend, run in this process on a clock the caller moves (see the module
/// documentation).
#[derive(Debug)]
pub struct LocalServer<B> {
    backend: Arc<B>,
    config: Config,
    now: Now,
    connections: Vec<Option<Connection<B>>>,
    changes: Vec<Change>,
}

impl<B: MailBackend> LocalServer<B> {
    /// A server whose sessions share `backend` (the test may keep a clone of the `Arc` to
    /// write to the backend directly), each with `config`, on a clock starting at the current
    /// time.
    pub fn new(backend: Arc<B>, config: Config) -> Self {
        Self::with_clock(
            backend,
            config,
            Now {
                instant: Instant::now(),
                wall: SystemTime::now(),
            },
        )
    }

    /// The same, with the clock starting at `now`.
    pub fn with_clock(backend: Arc<B>, config: Config, now: Now) -> Self {
        LocalServer {
            backend,
            config,
            now,
            connections: Vec::new(),
            changes: Vec::new(),
        }
    }

    /// The backend the sessions share.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The clock.
    pub fn now(&self) -> Now {
        self.now
    }

    /// Opens a connection as if it were under TLS (IMAPS); its greeting waits in
    /// [`LocalServer::take_output`].
    pub fn connect(&mut self) -> ConnectionId {
        self.open(true)
    }

    /// Opens a connection without TLS: STARTTLS is offered, and LOGIN is refused unless the
    /// configuration allows plaintext authentication.
    pub fn connect_plain(&mut self) -> ConnectionId {
        self.open(false)
    }

    fn open(&mut self, protected: bool) -> ConnectionId {
        let session = Session::new(
            Arc::clone(&self.backend),
            self.config.clone(),
            protected,
            self.now,
        );
        self.connections.push(Some(Connection {
            session,
            user: None,
            output: Vec::new(),
        }));
        let id = ConnectionId(self.connections.len() - 1);
        self.pump();
        id
    }

    /// Octets from the client of `id` (ignored once the connection is closed).
    pub fn send(&mut self, id: ConnectionId, bytes: &[u8]) {
        let now = self.now;
        if let Some(c) = self.connection(id) {
            c.session.handle_input(bytes, now);
        }
        self.pump();
    }

    /// Sends `line` and a CRLF, and returns everything the server has said to this client
    /// since it was last asked (lossily as text).
    pub fn command(&mut self, id: ConnectionId, line: &str) -> String {
        self.send(id, format!("{line}\r\n").as_bytes());
        self.take_output(id)
    }

    /// What the server said to the client of `id` since it was last asked, lossily as text.
    pub fn take_output(&mut self, id: ConnectionId) -> String {
        String::from_utf8_lossy(&self.take_bytes(id)).into_owned()
    }

    /// What the server said to the client of `id` since it was last asked.
    pub fn take_bytes(&mut self, id: ConnectionId) -> Vec<u8> {
        self.connection(id)
            .map(|c| std::mem::take(&mut c.output))
            .unwrap_or_default()
    }

    /// Whether the session of `id` is over (LOGOUT, BYE) or was disconnected.
    pub fn is_closed(&self, id: ConnectionId) -> bool {
        self.connections
            .get(id.0)
            .and_then(Option::as_ref)
            .is_none_or(|c| c.session.is_closed())
    }

    /// Drops the connection, as a client that goes away without LOGOUT.
    pub fn disconnect(&mut self, id: ConnectionId) {
        if let Some(slot) = self.connections.get_mut(id.0) {
            *slot = None;
        }
    }

    /// Moves the clock forward, firing the timers that expire (a step beyond what the clock
    /// can hold leaves it where it is).
    pub fn advance(&mut self, by: Duration) {
        if let (Some(instant), Some(wall)) = (
            self.now.instant.checked_add(by),
            self.now.wall.checked_add(by),
        ) {
            self.now = Now { instant, wall };
        }
        let now = self.now;
        for c in self.connections.iter_mut().flatten() {
            c.session.handle_timeout(now);
        }
        self.pump();
    }

    /// Every change the sessions made since this was last called, in order: what a driver
    /// hands the push notifier.
    pub fn take_changes(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.changes)
    }

    /// Changes made outside any session (a delivery written to the backend directly): routed
    /// to the sessions of their users like a session's own.
    pub fn deliver(&mut self, changes: &[Change]) {
        self.route(None, changes);
        self.pump();
    }

    fn connection(&mut self, id: ConnectionId) -> Option<&mut Connection<B>> {
        self.connections.get_mut(id.0).and_then(Option::as_mut)
    }

    /// Gives `changes` to every session of their users but `origin`'s.
    fn route(&mut self, origin: Option<usize>, changes: &[Change]) {
        let now = self.now;
        for (i, c) in self.connections.iter_mut().enumerate() {
            let Some(c) = c else { continue };
            let Some(user) = c.user else { continue };
            if Some(i) == origin {
                continue;
            }
            let mine: Vec<Change> = changes
                .iter()
                .filter(|ch| ch.user == user)
                .cloned()
                .collect();
            if !mine.is_empty() {
                c.session.handle_changes(&mine, now);
            }
        }
    }

    /// Collects output and carries out events until no session has anything left to say.
    fn pump(&mut self) {
        loop {
            let mut routed = Vec::new();
            for (i, c) in self.connections.iter_mut().enumerate() {
                let Some(c) = c else { continue };
                while let Some(bytes) = c.session.poll_output() {
                    c.output.extend_from_slice(&bytes);
                }
                while let Some(event) = c.session.poll_event() {
                    match event {
                        Event::StartTls => c.session.tls_established(),
                        Event::Authenticated { user } => c.user = Some(user),
                        Event::Changes(list) => routed.push((i, list)),
                        Event::Closed => {}
                    }
                }
            }
            if routed.is_empty() {
                return;
            }
            for (origin, list) in routed {
                self.changes.extend(list.iter().cloned());
                self.route(Some(origin), &list);
            }
        }
    }
}
