//! A line-by-line script of server replies for the engine: what the mail server never sends
//! (hostile or malformed replies), and servers without an extension the mail server always
//! offers (UIDPLUS).

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use mailpush_device_core::Timestamp;
use mailpush_device_core::da::{
    AuthMechanism, Credentials, Engine, EngineConfig, Error, Event, Flags, MailboxView,
    MessageMeta, Security, SyncReport, ViewUpdate,
};
use mailpush_device_core::{AccountId, Token};
use mailpush_imap::Mailbox;

pub const QRESYNC: &str = "IMAP4rev1 AUTH=PLAIN SASL-IR LITERAL+ ENABLE CONDSTORE QRESYNC";
pub const CONDSTORE: &str = "IMAP4rev1 AUTH=PLAIN SASL-IR CONDSTORE";

pub fn view() -> MailboxView {
    let mut messages = BTreeMap::new();
    for uid in [1, 2, 4] {
        messages.insert(
            NonZeroU32::new(uid).unwrap(),
            MessageMeta {
                flags: Flags::new([mailpush_imap::Flag::Seen]),
                modseq: Some(90),
            },
        );
    }
    MailboxView {
        mailbox: Mailbox::from("Notes"),
        uid_validity: NonZeroU32::new(7),
        highest_modseq: Some(100),
        uid_next: NonZeroU32::new(5),
        count: Some(3),
        messages,
    }
}

/// An engine talking to a script.
pub struct Scripted {
    pub engine: Engine,
    pub now: Timestamp,
    pub events: Vec<Event>,
    pub sent: String,
}

impl Scripted {
    pub fn connect(security: Security) -> Self {
        let mut config = EngineConfig::new(
            AccountId::new("adversarial").unwrap(),
            Credentials {
                username: "fred".into(),
                password: b"secret".to_vec(),
            },
            vec![Mailbox::from("Notes")],
        );
        config.security = security;
        config.auth = AuthMechanism::Plain;
        config.limits.max_message_octets = 100;
        config.limits.max_line = 4096;
        config.limits.max_messages = 1000;
        let now = Timestamp(0);
        let engine = Engine::new(config, vec![view()], now);
        let mut s = Scripted {
            engine,
            now,
            events: Vec::new(),
            sent: String::new(),
        };
        s.drain();
        assert!(s.events.contains(&Event::Connect));
        s.engine.handle_connected(now);
        s
    }

    /// Connected, authenticated, listed, registered: the first sync's commands are out.
    pub fn syncing(caps: &str) -> Self {
        let mut s = Self::connect(Security::Plaintext);
        s.reply(&format!("* OK [CAPABILITY {caps}] hi\r\n"));
        s.reply(&format!("d1 OK [CAPABILITY {caps}] in\r\n"));
        let list = if caps.contains("QRESYNC") {
            s.reply("* ENABLED QRESYNC\r\nd2 OK\r\n");
            "d3"
        } else {
            "d2"
        };
        s.reply(&format!("* LIST () \"/\" Notes\r\n{list} OK\r\n"));
        assert!(
            s.events
                .iter()
                .any(|e| matches!(e, Event::SyncStarted { .. })),
            "{:?}",
            s.events
        );
        s
    }

    pub fn reply(&mut self, text: &str) {
        self.engine.handle_input(text.as_bytes(), self.now);
        self.drain();
    }

    pub fn drain(&mut self) {
        loop {
            let mut progress = false;
            while let Some(b) = self.engine.poll_transmit() {
                self.sent.push_str(&String::from_utf8_lossy(&b));
                progress = true;
            }
            while let Some(e) = self.engine.poll_event() {
                if let Event::Register { mailboxes, .. } = &e {
                    let t = Token::new("adversarial-token").unwrap();
                    let answer = mailboxes.iter().map(|m| (m.clone(), t.clone())).collect();
                    self.engine.handle_registered(answer, self.now).unwrap();
                }
                self.events.push(e);
                progress = true;
            }
            if !progress {
                return;
            }
        }
    }

    pub fn failure(&self) -> Option<Error> {
        self.events.iter().find_map(|e| match e {
            Event::SyncFailed { error, .. } | Event::ConnectionFailed { error, .. } => {
                Some(error.clone())
            }
            _ => None,
        })
    }

    /// The update and the report of the first sync that completed.
    pub fn completed(&self) -> Option<(ViewUpdate, SyncReport)> {
        self.events.iter().find_map(|e| match e {
            Event::SyncCompleted { update, report } => Some((update.clone(), report.clone())),
            _ => None,
        })
    }

    pub fn closed(&self) -> bool {
        self.events.contains(&Event::Close)
    }

    pub fn view_unchanged(&self) -> bool {
        self.engine.view(&Mailbox::from("Notes")) == Some(&view())
            && !self
                .events
                .iter()
                .any(|e| matches!(e, Event::SyncCompleted { .. }))
    }

    /// The reply ends the connection with this kind of error and publishes nothing.
    pub fn assert_refused(&self, what: fn(&Error) -> bool) {
        let e = self.failure().expect("an error event");
        assert!(what(&e), "unexpected error {e:?}");
        assert!(self.closed(), "the connection stays open after {e}");
        assert!(self.view_unchanged());
        // Message of the error names the problem.
        assert!(!e.to_string().is_empty());
    }
}
