//! The oracle of the `device_imap` fuzz target: an engine brought to a chosen point of a
//! connection by well-formed server replies, then fed arbitrary octets as the server's.
//! It panics only when a property of the engine is broken:
//!
//! * nothing panics, whatever the server sends;
//! * everything the engine sends parses as IMAP commands, none of which changes the mailbox
//!   (SYNC-9);
//! * a sync that does not complete publishes nothing: the engine's view is the one it started
//!   with (SYNC-13); one that completes publishes an update whose added messages had their
//!   content delivered before it;
//! * a malformed reply ends the connection with an error event and [`Event::Close`].
//!
//! Not public API: built only with the `fuzzing` feature.

// Fuzz oracles report a broken property by panicking: that is their job.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use mailpush_imap::framer::{Frame, Framer, FramerConfig};
use mailpush_imap::{
    Command, CommandBody, Decode, Decoded, FetchAttribute, FetchAttributes, Mailbox,
};

use super::{
    AuthMechanism, ContentState, Credentials, Engine, EngineConfig, Error, Event, Flags,
    MailboxView, MessageMeta, Security,
};
use crate::{AccountId, Timestamp, Token};

/// Where the arbitrary octets start.
#[derive(Clone, Copy, Debug)]
enum Point {
    /// Instead of the greeting.
    Greeting,
    /// After the greeting, during authentication.
    Authenticate,
    /// As the answer to LIST.
    List,
    /// As the answer to the first sync's commands.
    Sync,
}

/// Runs the oracle on `data`: the first octet picks the server's capabilities and the point
/// where the arbitrary octets start, the second the size of the pieces they arrive in.
pub fn fuzz_device_imap(data: &[u8]) {
    run(data);
}

/// What became of one run of the oracle.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Syncs completed.
    pub completed: usize,
    /// Errors reported, in order.
    pub errors: Vec<Error>,
}

/// [`fuzz_device_imap`], telling what happened.
pub fn run(data: &[u8]) -> Outcome {
    let [pick, chunk, rest @ ..] = data else {
        return Outcome::default();
    };
    let caps = match pick % 3 {
        0 => "IMAP4rev1 AUTH=PLAIN SASL-IR LITERAL+ ENABLE CONDSTORE QRESYNC",
        1 => "IMAP4rev1 AUTH=PLAIN SASL-IR CONDSTORE",
        _ => "IMAP4rev1 AUTH=PLAIN",
    };
    let point = match (pick / 3) % 4 {
        0 => Point::Greeting,
        1 => Point::Authenticate,
        2 => Point::List,
        _ => Point::Sync,
    };
    let chunk = usize::from(*chunk % 64) + 1;
    let mut h = Harness::new();
    h.script(point, caps);
    for piece in rest.chunks(chunk) {
        h.feed(piece);
    }
    // Time passes: a server that stopped mid-reply times out.
    let later = h.now.plus_ms(3_600_000);
    h.engine.handle_timeout(later);
    h.drain();
    h.check();
    Outcome {
        completed: h
            .events
            .iter()
            .filter(|e| matches!(e, Event::SyncCompleted { .. }))
            .count(),
        errors: h
            .events
            .iter()
            .filter_map(|e| match e {
                Event::SyncFailed { error, .. } | Event::ConnectionFailed { error, .. } => {
                    Some(error.clone())
                }
                _ => None,
            })
            .collect(),
    }
}

/// The engine, what it sent, and what it told.
struct Harness {
    engine: Engine,
    now: Timestamp,
    initial: MailboxView,
    sent: Framer,
    events: Vec<Event>,
    registrations: u32,
}

fn notes() -> Mailbox {
    Mailbox::from("Notes")
}

fn initial_view() -> MailboxView {
    let mut messages = BTreeMap::new();
    for (uid, flag) in [(1, "\\Seen"), (2, "$Note"), (4, "\\Flagged")] {
        messages.insert(
            NonZeroU32::new(uid).unwrap(),
            MessageMeta {
                flags: Flags::new([mailpush_imap::Flag::new(flag).unwrap()]),
                modseq: Some(90 + u64::from(uid)),
            },
        );
    }
    MailboxView {
        mailbox: notes(),
        uid_validity: NonZeroU32::new(7),
        highest_modseq: Some(100),
        uid_next: NonZeroU32::new(5),
        count: Some(3),
        messages,
    }
}

impl Harness {
    fn new() -> Self {
        let mut config = EngineConfig::new(
            AccountId::new("fuzz-account").unwrap(),
            Credentials {
                username: "fred".into(),
                password: b"secret".to_vec(),
            },
            vec![notes()],
        );
        config.security = Security::Plaintext;
        config.auth = AuthMechanism::Plain;
        config.limits.max_message_octets = 4096;
        config.limits.max_line = 64 * 1024;
        config.limits.max_messages = 10_000;
        let now = Timestamp(0);
        let initial = initial_view();
        let engine = Engine::new(config, vec![initial.clone()], now);
        Harness {
            engine,
            now,
            initial,
            sent: Framer::new(FramerConfig::default()),
            events: Vec::new(),
            registrations: 0,
        }
    }

    /// Brings the connection to `point` with well-formed replies.
    fn script(&mut self, point: Point, caps: &str) {
        self.drain();
        self.engine.handle_connected(self.now);
        if matches!(point, Point::Greeting) {
            return;
        }
        self.feed(format!("* OK [CAPABILITY {caps}] ready\r\n").as_bytes());
        if matches!(point, Point::Authenticate) {
            return;
        }
        self.feed(format!("d1 OK [CAPABILITY {caps}] authenticated\r\n").as_bytes());
        let mut tag = 2;
        if caps.contains("QRESYNC") {
            self.feed(b"* ENABLED QRESYNC\r\nd2 OK enabled\r\n");
            tag += 1;
        }
        if matches!(point, Point::List) {
            return;
        }
        self.feed(format!("* LIST () \"/\" Notes\r\nd{tag} OK listed\r\n").as_bytes());
    }

    /// Octets from the server, then everything the engine does about them.
    fn feed(&mut self, octets: &[u8]) {
        self.engine.handle_input(octets, self.now);
        self.drain();
    }

    fn drain(&mut self) {
        loop {
            let mut progress = false;
            while let Some(bytes) = self.engine.poll_transmit() {
                progress = true;
                self.check_sent(&bytes);
            }
            while let Some(e) = self.engine.poll_event() {
                progress = true;
                if let Event::Register { mailboxes, .. } = &e {
                    // Again after a refused EXAMINE (the mailbox may be gone): LOCAL-6.
                    self.registrations += 1;
                    assert!(self.registrations < 100, "registering in a loop");
                    let token = Token::new("fuzz-token-0000001").unwrap();
                    let answer = mailboxes
                        .iter()
                        .map(|m| (m.clone(), token.clone()))
                        .collect();
                    self.engine.handle_registered(answer, self.now).unwrap();
                }
                self.events.push(e);
            }
            if !progress {
                break;
            }
        }
    }

    /// Whatever the engine writes is IMAP, and reads without changing (SYNC-9).
    fn check_sent(&mut self, bytes: &[u8]) {
        self.sent.push(bytes);
        while let Some(frame) = self.sent.next_frame() {
            let Frame::Message(m) = frame else { continue };
            if m.first() != Some(&b'd') {
                // The AUTHENTICATE continuation line.
                continue;
            }
            let cmd = match Command::decode(&m) {
                Decoded::Complete(c, n) if n == m.len() => c,
                other => panic!(
                    "the engine sent {:?}, which decodes as {other:?}",
                    String::from_utf8_lossy(&m)
                ),
            };
            assert_read_only(&cmd);
        }
    }

    /// What was published is all that changed.
    fn check(&self) {
        let mut expected = self.initial.clone();
        let mut delivered = Vec::new();
        for (i, e) in self.events.iter().enumerate() {
            match e {
                Event::Content(c) => delivered.push((c.uid_validity, c.uid)),
                Event::SyncCompleted { update, report } => {
                    assert!(report.round_trips <= 3, "{report:?}");
                    for a in &update.added {
                        if let ContentState::Downloaded { .. } = a.content {
                            assert!(
                                delivered.contains(&(update.uid_validity, a.uid)),
                                "UID {} added without its content",
                                a.uid
                            );
                        }
                    }
                    expected.apply(update);
                    delivered.clear();
                }
                Event::ConnectionFailed { error, .. } | Event::SyncFailed { error, .. }
                    if matches!(
                        error,
                        Error::Malformed(_) | Error::Protocol(_) | Error::Limit(_)
                    ) =>
                {
                    assert!(
                        self.events[i..].iter().any(|e| matches!(e, Event::Close)),
                        "{error} did not close the connection"
                    );
                }
                _ => {}
            }
        }
        let dropped = self
            .events
            .iter()
            .any(|e| matches!(e, Event::Unmonitored { mailbox, .. } if *mailbox == notes()));
        if dropped {
            // The server's LIST did not name the mailbox: the DA no longer monitors it.
            assert!(self.engine.view(&notes()).is_none());
            return;
        }
        let view = self.engine.view(&notes()).expect("the view of Notes");
        assert_eq!(*view, expected, "the view changed without an update");
    }
}

/// Panics unless `cmd` only reads: no STORE, EXPUNGE, COPY, MOVE, APPEND, CLOSE or mailbox
/// change, `EXAMINE` rather than `SELECT`, and no fetch that sets `\Seen` (SYNC-9).
pub fn assert_read_only(cmd: &Command) {
    match &cmd.body {
        CommandBody::Store { .. }
        | CommandBody::Expunge
        | CommandBody::UidExpunge(_)
        | CommandBody::Copy { .. }
        | CommandBody::Move { .. }
        | CommandBody::Append { .. }
        | CommandBody::Close
        | CommandBody::Delete(_)
        | CommandBody::Rename { .. }
        | CommandBody::Create(_) => panic!("the engine changes the mailbox: {cmd:?}"),
        CommandBody::Select { examine: false, .. } => panic!("SELECT: {cmd:?}"),
        CommandBody::Fetch {
            attributes: FetchAttributes::List(items),
            ..
        } => {
            for a in items.iter() {
                if let FetchAttribute::BodySection { peek: false, .. }
                | FetchAttribute::Rfc822
                | FetchAttribute::Rfc822Text = a
                {
                    panic!("a fetch that sets \\Seen: {cmd:?}");
                }
            }
        }
        _ => {}
    }
}
