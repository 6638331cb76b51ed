//! A driver for the mail client core on virtual time, with in-process servers behind it: what
//! the tokio driver will do with sockets and SQLite, done with function calls and a map.
#![allow(dead_code)]

pub mod mail_server;
pub mod push_server;
pub mod scripted;

use std::collections::{BTreeMap, HashMap, VecDeque};

use mailpush_device_core::imap_client::{AuthMechanism, Credentials, ImapClientConfig, Security};
use mailpush_device_core::mail_client::{
    AccountConfig, ConnectionId, DeviceCredentials, Event, MailClient, MailClientConfig,
    MailboxName, PersistBatch, PollInterval, Record, RequestId, Restored, Timestamp, TokenEntry,
};
use mailpush_device_core::{AccountId, Token};
use mailpush_push_proto::Credential;

pub use push_server::PushServer;

/// 14 November 2023, in milliseconds: wall-clock-like, so the mail server's expiry arithmetic
/// works.
pub const T0: Timestamp = Timestamp(1_700_000_000_000);
pub const MINUTE: u64 = 60_000;
pub const DAY: u64 = 24 * 60 * MINUTE;

pub const DEVICE_TOKEN: &str = "2918390218931890821908309283098109381029309829018310983092892829";
pub const DEVICE_SECRET: &str = "5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7";

pub fn account(id: &str) -> AccountId {
    AccountId::new(id).unwrap()
}

pub fn mailbox(name: &str) -> MailboxName {
    MailboxName::new(name).unwrap()
}

pub fn md5_hex(name: &str) -> String {
    hex::encode(mailbox(name).md5())
}

pub fn credentials(token: &str, secret: &str) -> DeviceCredentials {
    DeviceCredentials {
        token: Credential::new(token).unwrap(),
        secret: Credential::new(secret).unwrap(),
    }
}

pub fn device() -> DeviceCredentials {
    credentials(DEVICE_TOKEN, DEVICE_SECRET)
}

/// An account logging in as fred over cleartext (the servers are in process).
pub fn account_config(id: &str, poll_secs: u64) -> AccountConfig {
    let id = account(id);
    AccountConfig {
        poll_interval: PollInterval::from_secs(&id, poll_secs).unwrap(),
        id,
        imap: ImapClientConfig::new(
            Security::Plaintext,
            AuthMechanism::Login,
            Credentials {
                username: "fred".into(),
                password: b"secret".to_vec(),
            },
        ),
    }
}

/// The PROV-8 payload naming these mailboxes of this account.
pub fn payload(account: &str, mailboxes: &[&str]) -> Vec<u8> {
    let m: Vec<String> = mailboxes.iter().map(|m| md5_hex(m)).collect();
    serde_json::json!({"aps": {"account-id": account, "m": m}})
        .to_string()
        .into_bytes()
}

/// The driver's store.
#[derive(Clone, Debug, Default)]
pub struct Disk {
    pub tokens: BTreeMap<Token, TokenEntry>,
    pub next_serial: u64,
    pub device: Option<(DeviceCredentials, u64)>,
    pub batches: usize,
}

impl Disk {
    pub fn apply(&mut self, batch: &PersistBatch) {
        self.batches += 1;
        for record in &batch.records {
            match record {
                Record::TokenAdded(entry) => {
                    self.tokens.insert(entry.token.clone(), entry.clone());
                }
                Record::TokenRemoved(token) => {
                    self.tokens.remove(token);
                }
                Record::NextSerial(n) => self.next_serial = *n,
                Record::Device(c) => self.device = Some((c.clone(), 0)),
                Record::Cursor(c) => {
                    if let Some((_, cursor)) = &mut self.device {
                        *cursor = *c;
                    }
                }
                _ => panic!("unknown record {record:?}"),
            }
        }
    }

    pub fn restored(&self) -> Restored {
        Restored {
            tokens: self.tokens.values().cloned().collect(),
            next_serial: self.next_serial,
            device: self.device.clone(),
        }
    }

    pub fn cursor(&self) -> u64 {
        self.device.as_ref().map_or(0, |(_, c)| *c)
    }
}

/// An IMAP server the world can connect the mail client to.
pub trait ImapServer {
    /// A new connection; returns the greeting.
    fn open(&mut self, conn: ConnectionId, now: Timestamp) -> Vec<u8>;
    /// Client octets; returns the reply and whether the server closed the connection.
    fn input(&mut self, conn: ConnectionId, octets: &[u8], now: Timestamp) -> (Vec<u8>, bool);
    /// The client closed the connection.
    fn close(&mut self, conn: ConnectionId);
    /// For tests that look inside the server.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// The mail client, its driver, its store and the servers it reaches.
pub struct World {
    pub client: MailClient,
    pub config: MailClientConfig,
    pub now: Timestamp,
    pub disk: Disk,
    /// When true, batches wait in `unwritten` until [`World::write`].
    pub hold_writes: bool,
    pub unwritten: VecDeque<PersistBatch>,
    /// Every event except transmissions, in order.
    pub events: Vec<Event>,
    /// When each of `events` happened.
    pub times: Vec<Timestamp>,
    pub wakes: Vec<Token>,
    pub answers: BTreeMap<RequestId, Vec<(MailboxName, Token)>>,
    pub mail: BTreeMap<AccountId, Box<dyn ImapServer>>,
    pub push: Option<PushServer>,
    /// IMAP octets the client sent, per connection (for transcripts).
    pub imap_sent: BTreeMap<ConnectionId, Vec<u8>>,
    /// When true, server replies wait in `held_replies` until [`World::release_imap`].
    pub hold_imap: bool,
    held_replies: VecDeque<(ConnectionId, Vec<u8>, bool)>,
    imap_conns: HashMap<ConnectionId, AccountId>,
    channel_conn: Option<ConnectionId>,
    restarts: u64,
}

impl World {
    pub fn new(config: MailClientConfig, disk: Disk) -> Self {
        let client = MailClient::new(config.clone(), disk.restored(), T0).unwrap();
        Self {
            client,
            config,
            now: T0,
            disk,
            hold_writes: false,
            unwritten: VecDeque::new(),
            events: Vec::new(),
            times: Vec::new(),
            wakes: Vec::new(),
            answers: BTreeMap::new(),
            mail: BTreeMap::new(),
            push: None,
            imap_sent: BTreeMap::new(),
            hold_imap: false,
            held_replies: VecDeque::new(),
            imap_conns: HashMap::new(),
            channel_conn: None,
            restarts: 0,
        }
    }

    pub fn with_mail(mut self, id: &str, server: impl ImapServer + 'static) -> Self {
        self.mail.insert(account(id), Box::new(server));
        self
    }

    pub fn with_push_server(mut self, push: PushServer) -> Self {
        self.push = Some(push);
        self
    }

    /// Handles every event until the client is quiet.
    pub fn run(&mut self) {
        let now = self.now;
        while let Some(event) = self.client.poll_event() {
            if !matches!(
                event,
                Event::ImapTransmit { .. } | Event::ChannelTransmit { .. }
            ) {
                self.events.push(event.clone());
                self.times.push(now);
            }
            match event {
                Event::Persist(batch) if self.hold_writes => self.unwritten.push_back(batch),
                Event::Persist(batch) => {
                    self.disk.apply(&batch);
                    self.client.handle_persisted(batch.ticket, now);
                }
                Event::Registered { request, tokens } => {
                    self.answers.insert(request, tokens);
                }
                Event::Wake(token) => self.wakes.push(token),
                Event::ImapConnect { account, conn } => match self.mail.get_mut(&account) {
                    Some(server) => {
                        self.imap_conns.insert(conn, account);
                        self.client.handle_imap_connected(conn, now);
                        let greeting = server.open(conn, now);
                        self.client.handle_imap_input(conn, &greeting, now);
                    }
                    None => self.client.handle_imap_closed(conn, now),
                },
                Event::ImapTransmit { conn, octets } => {
                    self.imap_sent.entry(conn).or_default().extend(&octets);
                    let Some(server) = self
                        .imap_conns
                        .get(&conn)
                        .and_then(|a| self.mail.get_mut(a))
                    else {
                        continue;
                    };
                    let (reply, closed) = server.input(conn, &octets, now);
                    if self.hold_imap {
                        self.held_replies.push_back((conn, reply, closed));
                    } else {
                        self.imap_reply(conn, &reply, closed);
                    }
                }
                Event::ImapStartTls { conn } => self.client.handle_imap_tls_established(conn, now),
                Event::ImapClose { conn } => {
                    if let Some(a) = self.imap_conns.remove(&conn)
                        && let Some(server) = self.mail.get_mut(&a)
                    {
                        server.close(conn);
                    }
                }
                Event::ChannelConnect { conn } => match &mut self.push {
                    Some(push) if push.reachable => {
                        push.open(conn, now);
                        self.channel_conn = Some(conn);
                        self.client.handle_channel_connected(conn, now);
                    }
                    _ => self.client.handle_channel_closed(conn, now),
                },
                Event::ChannelTransmit { conn, octets } => {
                    let Some(push) = &mut self.push else { continue };
                    let (reply, closed) = push.input(conn, &octets, now);
                    if !reply.is_empty() {
                        self.client.handle_channel_input(conn, &reply, now);
                    }
                    if closed {
                        self.client.handle_channel_closed(conn, now);
                    }
                }
                Event::ChannelClose { conn } => {
                    if let Some(push) = &mut self.push {
                        push.close(conn);
                    }
                    if self.channel_conn == Some(conn) {
                        self.channel_conn = None;
                    }
                }
                _ => {}
            }
        }
    }

    fn imap_reply(&mut self, conn: ConnectionId, reply: &[u8], closed: bool) {
        if !reply.is_empty() {
            self.client.handle_imap_input(conn, reply, self.now);
        }
        if closed {
            self.imap_conns.remove(&conn);
            self.client.handle_imap_closed(conn, self.now);
        }
    }

    /// Delivers the held IMAP replies, and those they cause, until none is held.
    pub fn release_imap(&mut self) {
        while let Some((conn, reply, closed)) = self.held_replies.pop_front() {
            self.imap_reply(conn, &reply, closed);
            self.run();
        }
    }

    /// Delivers one held IMAP reply (and runs the client).
    pub fn release_one_imap(&mut self) -> bool {
        let Some((conn, reply, closed)) = self.held_replies.pop_front() else {
            return false;
        };
        self.imap_reply(conn, &reply, closed);
        self.run();
        true
    }

    /// The device channel's TCP connection breaks (both sides see it).
    pub fn drop_channel(&mut self) {
        if let Some(conn) = self.channel_conn.take() {
            if let Some(push) = &mut self.push {
                push.close(conn);
            }
            self.client.handle_channel_closed(conn, self.now);
        }
        self.run();
    }

    /// IMAP connections the client opened, in order.
    pub fn imap_connects(&self) -> Vec<(AccountId, ConnectionId)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::ImapConnect { account, conn } => Some((account.clone(), *conn)),
                _ => None,
            })
            .collect()
    }

    /// The `XAPPLEPUSHSERVICE` lines the client sent, in order.
    pub fn xaps_sent(&self) -> Vec<String> {
        self.imap_sent
            .values()
            .flat_map(|octets| {
                String::from_utf8_lossy(octets)
                    .split("\r\n")
                    .filter(|l| l.contains("XAPPLEPUSHSERVICE"))
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Writes the held batches, in order.
    pub fn write(&mut self) {
        let mut last = None;
        while let Some(batch) = self.unwritten.pop_front() {
            self.disk.apply(&batch);
            last = Some(batch.ticket);
        }
        if let Some(ticket) = last {
            self.client.handle_persisted(ticket, self.now);
        }
        self.run();
    }

    /// Lets `ms` of virtual time pass, firing every timer on the way.
    pub fn advance(&mut self, ms: u64) {
        let target = self.now.plus_ms(ms);
        let mut spins = 0;
        let mut last = self.now;
        loop {
            self.run();
            let push = self.push.as_ref().and_then(PushServer::poll_timeout);
            let next = [self.client.poll_timeout(), push]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next.filter(|t| *t <= target) else {
                break;
            };
            self.now = self.now.max(next);
            let now = self.now;
            spins = if now == last { spins + 1 } else { 0 };
            last = now;
            assert!(spins < 1000, "a timer at {now:?} does not move");
            if let Some(push) = &mut self.push
                && let Some((conn, octets, closed)) = push.handle_timeout(now)
            {
                if !octets.is_empty() {
                    self.client.handle_channel_input(conn, &octets, now);
                }
                if closed {
                    self.client.handle_channel_closed(conn, now);
                }
            }
            self.client.handle_timeout(now);
        }
        self.now = target;
        self.run();
    }

    /// The push server sends what its ring holds to the connected client.
    pub fn deliver(&mut self) {
        let now = self.now;
        if let Some(push) = &mut self.push
            && let Some((conn, octets)) = push.flush(now)
        {
            self.client.handle_channel_input(conn, &octets, now);
        }
        self.run();
    }

    /// A crash: unwritten batches are lost, connections drop, and the mail client starts again
    /// from the store with another seed.
    pub fn crash_and_restart(&mut self) {
        self.unwritten.clear();
        self.answers.clear();
        for (conn, a) in self.imap_conns.drain() {
            if let Some(server) = self.mail.get_mut(&a) {
                server.close(conn);
            }
        }
        if let (Some(conn), Some(push)) = (self.channel_conn.take(), &mut self.push) {
            push.close(conn);
        }
        self.restarts += 1;
        self.config.seed = self.config.seed.wrapping_add(self.restarts);
        self.client = MailClient::new(self.config.clone(), self.disk.restored(), self.now).unwrap();
        self.run();
    }

    /// Registers and returns the tokens of the answer.
    pub fn register(&mut self, id: &str, names: &[&str]) -> Vec<Token> {
        let names: Vec<MailboxName> = names.iter().map(|n| mailbox(n)).collect();
        let request = self
            .client
            .register(&account(id), &names, self.now)
            .unwrap();
        self.run();
        self.answers
            .get(&request)
            .map(|a| a.iter().map(|(_, t)| t.clone()).collect())
            .unwrap_or_default()
    }

    pub fn take_wakes(&mut self) -> Vec<Token> {
        std::mem::take(&mut self.wakes)
    }

    pub fn token(&self, id: &str, name: &str) -> Token {
        self.client
            .token_of(&account(id), &mailbox(name))
            .unwrap()
            .clone()
    }

    /// The mailboxes of an account that have push now.
    pub fn with_push(&self, id: &str) -> Vec<String> {
        let status = self.client.status(self.now);
        status
            .accounts
            .iter()
            .find(|a| a.id == account(id))
            .map(|a| {
                a.with_push
                    .iter()
                    .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn polled(&self) -> Vec<Token> {
        self.client.polls().map(|(t, _)| t.clone()).collect()
    }
}

impl World {
    /// When each event matching `pick` happened.
    pub fn times_of(&self, pick: impl Fn(&Event) -> bool) -> Vec<u64> {
        self.events
            .iter()
            .zip(&self.times)
            .filter(|(e, _)| pick(e))
            .map(|(_, t)| t.0)
            .collect()
    }
}

/// A configuration with these accounts and the given seed.
pub fn config(accounts: Vec<AccountConfig>, seed: u64) -> MailClientConfig {
    MailClientConfig::new(accounts, seed)
}
