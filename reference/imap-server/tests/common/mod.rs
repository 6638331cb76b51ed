//! Shared harness: a real SQLite store in a temporary directory and transcript helpers.
#![allow(dead_code)]

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, UNIX_EPOCH};

use mailpush_imap_server::{Config, Event, Now, Session};
use mailpush_mail_store::{Config as StoreConfig, Flags, InternalDate, Store, UserId};

pub struct Fixture {
    pub store: Arc<Store>,
    pub user: UserId,
    pub dir: tempfile::TempDir,
}

pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("mail.db"), StoreConfig::for_tests()).unwrap();
    let user = store.add_user("fred", b"secret").unwrap();
    Fixture {
        store: Arc::new(store),
        user,
        dir,
    }
}

impl Fixture {
    /// Appends a message to a mailbox of fred's directly through the store.
    pub fn deliver(&self, mailbox: &str, raw: &str, flags: &[&str]) -> u32 {
        let info = self.store.mailbox(self.user, mailbox).unwrap();
        let flags = Flags::parse(flags.iter().copied()).unwrap();
        self.store
            .append(
                info.id,
                raw.as_bytes(),
                &flags,
                InternalDate::utc(1_700_000_000),
            )
            .unwrap()
            .value
            .uid
    }
}

impl Fixture {
    /// UIDVALIDITY is random per mailbox: transcripts write `$V(name)`.
    fn validities(&self) -> Vec<(String, String)> {
        self.store
            .mailboxes(self.user)
            .unwrap()
            .into_iter()
            .map(|m| (format!("$V({})", m.name), m.uid_validity.to_string()))
            .collect()
    }
    pub fn fill(&self, line: &str) -> String {
        let mut s = line.to_owned();
        for (k, v) in self.validities() {
            s = s.replace(&k, &v);
        }
        s
    }
    pub fn unfill(&self, log: &str) -> String {
        let mut s = log.to_owned();
        for (k, v) in self.validities() {
            s = s.replace(&v, &k);
        }
        s
    }
}

pub fn now(secs: u64) -> Now {
    static BASE: OnceLock<Instant> = OnceLock::new();
    let base = *BASE.get_or_init(Instant::now);
    Now {
        instant: base + Duration::from_secs(secs),
        wall: UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs),
    }
}

pub fn loopback_config() -> Config {
    Config {
        allow_plaintext_auth: true,
        ..Config::default()
    }
}

/// A client connection: everything sent and received is logged as `C:` / `S:` lines.
pub struct Client {
    pub session: Session<Arc<Store>>,
    pub log: String,
    pub events: Vec<Event>,
}

impl Client {
    pub fn new(f: &Fixture, config: Config, protected: bool) -> Self {
        let session = Session::new(f.store.clone(), config, protected, now(0));
        let mut c = Client {
            session,
            log: String::new(),
            events: Vec::new(),
        };
        c.drain();
        c
    }

    pub fn drain(&mut self) -> String {
        let mut out = Vec::new();
        while let Some(b) = self.session.poll_output() {
            out.extend_from_slice(&b);
        }
        while let Some(e) = self.session.poll_event() {
            self.events.push(e);
        }
        let text = String::from_utf8_lossy(&out).into_owned();
        for line in text.split_inclusive("\r\n") {
            self.log.push_str("S: ");
            self.log.push_str(line.trim_end_matches("\r\n"));
            self.log.push('\n');
        }
        text
    }

    /// Sends raw bytes (logged line by line) and returns what the server answered.
    pub fn send_raw(&mut self, bytes: &[u8]) -> String {
        for line in String::from_utf8_lossy(bytes).split_inclusive("\r\n") {
            self.log.push_str("C: ");
            self.log.push_str(line.trim_end_matches("\r\n"));
            self.log.push('\n');
        }
        self.session.handle_input(bytes, now(1));
        self.drain()
    }

    /// Sends one line (CRLF added).
    pub fn send(&mut self, line: &str) -> String {
        self.send_raw(format!("{line}\r\n").as_bytes())
    }

    pub fn take_changes(&mut self) -> Vec<mailpush_mail_store::Change> {
        let mut out = Vec::new();
        self.events.retain(|e| match e {
            Event::Changes(c) => {
                out.extend(c.iter().cloned());
                false
            }
            _ => true,
        });
        out
    }
}

/// Replays a transcript: every `C:` line is sent (with CRLF), and the whole exchange, server
/// lines included, must come out exactly as written. Blank lines and `#` comments are skipped.
pub fn replay(f: &Fixture, config: Config, transcript: &str) {
    let mut client = Client::new(f, config, false);
    let expected: Vec<&str> = transcript
        .lines()
        .map(str::trim_start)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for line in &expected {
        if let Some(c) = line.strip_prefix("C: ") {
            client.send(&f.fill(c));
        }
    }
    let log = f.unfill(&client.log);
    let got: Vec<&str> = log.lines().collect();
    assert_eq!(
        got.join("\n"),
        expected.join("\n"),
        "transcript differs; full log:\n{log}"
    );
}
