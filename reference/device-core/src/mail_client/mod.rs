//! The device's mail client as a sans-IO state machine (`spec/device-local.md`): the token
//! table, push registration per account (`spec/imap-push.md`), the client side of the device
//! channel (`spec/device-channel.md`), forwarding notifications by token, and scheduled polls
//! for mailboxes without push.
//!
//! The driver calls `handle_*` and the DA-facing calls ([`MailClient::register`],
//! [`MailClient::unregister`]) with the current time, and acts on every [`Event`] of
//! [`MailClient::poll_event`] in order: it opens, writes and closes the sockets the events name,
//! posts [`Event::Wake`] on the local notification bus, answers the DA, and writes each
//! [`Event::Persist`] batch atomically and in order, then reports it with
//! [`MailClient::handle_persisted`]. Whatever must not be lost waits for that report: a token is
//! answered only once stored (LOCAL-18), a notification acknowledged only once its id is stored
//! (LOCAL-24). It calls [`MailClient::handle_timeout`] at [`MailClient::poll_timeout`].

mod backoff;
mod channel;
mod config;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod push;
mod tokens;

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

pub use backoff::BackoffConfig;
pub use channel::{ChannelStatus, DeviceCredentials, Refusal};
pub use config::{
    AccountConfig, ConfigError, MAX_REFRESH_MS, MIN_REFRESH_MS, MailClientConfig, PollInterval,
};
pub use mailpush_push_proto::Timestamp;
pub use push::PushStatus;
pub use tokens::{MailboxName, MailboxNameError, RestoreError, TokenEntry};

use crate::imap_client::ImapClient;
use crate::{AccountId, Token};
use backoff::Rng;
use channel::{Channel, Delivered, Output};
use mailpush_trace::{EventKind, Record as TraceRecord, TraceBuffer};
use push::{AccountPush, Context, Outcome, Timing};
use tokens::TokenTable;

/// The most mailboxes one account may monitor: the default per-registration limit of mail
/// servers (XAPS-7), since every monitored mailbox goes into one registration.
pub const MAX_MAILBOXES_PER_ACCOUNT: usize = 1000;

/// One connection the driver opens for the core (an IMAP connection or a device-channel
/// attempt). Ids are never reused within a run; input for a closed id is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionId(u64);

impl ConnectionId {
    /// The number (for logs).
    pub fn get(self) -> u64 {
        self.0
    }
}

/// One registration request of the DA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(u64);

/// One persistence batch. Tickets increase; reporting one reports every earlier one too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ticket(u64);

/// What the driver stores. A batch is applied atomically.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Record {
    /// A new row of the token table.
    TokenAdded(TokenEntry),
    /// A token was unregistered: delete its row. (Its serial is never issued again: the table
    /// keeps [`Record::NextSerial`].)
    TokenRemoved(Token),
    /// The serial the next token will carry; replaces the stored one.
    NextSerial(u64),
    /// New device credentials; they replace the stored ones, and the stored cursor becomes 0.
    Device(DeviceCredentials),
    /// The device-channel cursor; replaces the stored one.
    Cursor(u64),
}

/// Records to store atomically, after every earlier batch, then report with
/// [`MailClient::handle_persisted`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersistBatch {
    /// Its ticket.
    pub ticket: Ticket,
    /// What to store.
    pub records: Vec<Record>,
}

/// What the driver stored, given back at start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Restored {
    /// Every token row.
    pub tokens: Vec<TokenEntry>,
    /// The last [`Record::NextSerial`] (0 if none).
    pub next_serial: u64,
    /// The device credentials and the cursor, if the device is registered.
    pub device: Option<(DeviceCredentials, u64)>,
}

/// How a notification was forwarded, for logs and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Forwarding {
    /// A payload of the shape of PROV-8 naming this account; `woken` lists what it matched.
    Payload {
        /// `account-id`.
        account: String,
    },
    /// Not of the shape of PROV-8 (LOCAL-8): why, as the provider API's reader says.
    NotPushShape(mailpush_provider_api::Error),
}

/// Something the driver must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Store these records, then call [`MailClient::handle_persisted`].
    Persist(PersistBatch),
    /// Answer the DA's registration: one token per mailbox it named, in its order.
    Registered {
        /// The request.
        request: RequestId,
        /// Each named mailbox with its token.
        tokens: Vec<(MailboxName, Token)>,
    },
    /// Post the local notification named by this token on the bus.
    Wake(Token),
    /// Open an IMAP connection to the account's mail server (TLS at once for
    /// [`crate::imap_client::Security::Implicit`], plain TCP for `StartTls` and `Plaintext`), then
    /// call [`MailClient::handle_imap_connected`] or, on failure,
    /// [`MailClient::handle_imap_closed`].
    ImapConnect {
        /// The account.
        account: AccountId,
        /// The connection.
        conn: ConnectionId,
    },
    /// Write these octets.
    ImapTransmit {
        /// The connection.
        conn: ConnectionId,
        /// The octets.
        octets: Vec<u8>,
    },
    /// Start TLS on the connection now, then call [`MailClient::handle_imap_tls_established`].
    ImapStartTls {
        /// The connection.
        conn: ConnectionId,
    },
    /// Flush and close the connection.
    ImapClose {
        /// The connection.
        conn: ConnectionId,
    },
    /// Open the device channel (TLS), then call [`MailClient::handle_channel_connected`] or
    /// [`MailClient::handle_channel_closed`].
    ChannelConnect {
        /// The attempt.
        conn: ConnectionId,
    },
    /// Write these octets.
    ChannelTransmit {
        /// The attempt.
        conn: ConnectionId,
        /// The octets.
        octets: Vec<u8>,
    },
    /// Flush and close the device channel.
    ChannelClose {
        /// The attempt.
        conn: ConnectionId,
    },
    /// The push registration of an account changed state (logs, status).
    Push {
        /// The account.
        account: AccountId,
        /// Its state.
        status: PushStatus,
    },
    /// The device channel changed state (logs, status).
    Channel(ChannelStatus),
    /// A notification arrived and was forwarded to these tokens (logs, tests).
    Notification {
        /// Its id.
        id: u64,
        /// Its `retained` flag.
        retained: bool,
        /// What its payload was.
        forwarding: Forwarding,
        /// The tokens woken for it, payload matches first.
        woken: Vec<Token>,
    },
    /// The push server refused the device for good: register it again (PROV-15) and call
    /// [`MailClient::handle_device_credentials`]. Until then every mailbox is without push.
    DeviceRefused(Refusal),
}

/// A registration request the mail client refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// The account is not configured.
    #[error("account {0} is not configured")]
    UnknownAccount(AccountId),
    /// A request names at least one mailbox (LOCAL-2).
    #[error("a registration names at least one mailbox")]
    NoMailboxes,
    /// The account would monitor more than [`MAX_MAILBOXES_PER_ACCOUNT`] mailboxes.
    #[error("account {account} would monitor more than {limit} mailboxes")]
    TooManyMailboxes {
        /// The account.
        account: AccountId,
        /// The limit.
        limit: usize,
    },
}

/// Why the mail client cannot start.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The stored token table is inconsistent.
    #[error(transparent)]
    Restore(#[from] RestoreError),
}

/// The state of one account, for a status report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountStatus {
    /// The account.
    pub id: AccountId,
    /// Its push registration, once attempted.
    pub push: Option<PushStatus>,
    /// Monitored mailboxes with push, in name order.
    pub with_push: Vec<MailboxName>,
    /// Monitored mailboxes without push (polled), in name order.
    pub without_push: Vec<MailboxName>,
}

/// A status report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// Per account.
    pub accounts: Vec<AccountStatus>,
    /// The device channel.
    pub channel: ChannelStatus,
    /// The stored device-channel cursor.
    pub cursor: u64,
    /// Scheduled local notifications raised since the start (LOCAL-15).
    pub scheduled_polls: u64,
}

/// Output shared by the parts of the mail client.
#[derive(Debug)]
pub(crate) struct Out {
    events: VecDeque<Event>,
    next_conn: u64,
    pub(crate) rng: Rng,
    channel_status: ChannelStatus,
    /// Protocol trace records (spec/trace.md); off unless the driver turns it on.
    pub(crate) trace: TraceBuffer,
}

impl Out {
    pub(crate) fn connection(&mut self) -> ConnectionId {
        self.next_conn += 1;
        ConnectionId(self.next_conn)
    }

    pub(crate) fn emit(&mut self, event: Event) {
        if let Event::Channel(status) = &event {
            self.channel_status = status.clone();
        }
        self.events.push_back(event);
    }
}

/// What becomes true once a batch is stored.
#[derive(Debug)]
enum Completion {
    TokensDurable(Vec<Token>),
    Answer {
        request: RequestId,
        tokens: Vec<(MailboxName, Token)>,
    },
    Cursor {
        epoch: u64,
        cursor: u64,
    },
}

#[derive(Debug)]
struct Account {
    push: AccountPush,
    poll_interval: PollInterval,
}

/// The mail client. See the module documentation.
#[derive(Debug)]
pub struct MailClient {
    subtopic: String,
    tokens: TokenTable,
    accounts: BTreeMap<AccountId, Account>,
    channel: Channel,
    /// The next scheduled local notification of each mailbox without push.
    polls: BTreeMap<Token, Timestamp>,
    /// How many of them were raised since the start, for the status.
    polls_raised: u64,
    out: Out,
    next_ticket: u64,
    completions: VecDeque<(Ticket, Vec<Completion>)>,
    next_request: u64,
    /// After [`MailClient::shutdown`]: no new connections.
    stopped: bool,
}

impl MailClient {
    /// Starts from what the driver stored. Every configured account registers push at once
    /// (LOCAL-20), and the device channel connects if the device has credentials.
    pub fn new(
        config: MailClientConfig,
        restored: Restored,
        now: Timestamp,
    ) -> Result<Self, StartError> {
        config.validate()?;
        let tokens = TokenTable::restore(restored.tokens, restored.next_serial)?;
        let timing = Timing {
            attempt_timeout_ms: config.attempt_timeout_ms,
            refresh_after_ms: config.refresh_after_ms,
            backoff: config.registration_backoff,
        };
        let accounts = config
            .accounts
            .into_iter()
            .map(|a| {
                let mut push = AccountPush::new(a.id.clone(), a.imap, timing);
                //= spec/device-local.md#LOCAL-20
                //# when it starts
                push.want();
                let account = Account {
                    push,
                    poll_interval: a.poll_interval,
                };
                (a.id, account)
            })
            .collect();
        let channel = Channel::new(
            restored.device,
            config.channel_backoff,
            config.attempt_timeout_ms,
        );
        let mut client = Self {
            subtopic: config.subtopic,
            tokens,
            accounts,
            channel,
            polls: BTreeMap::new(),
            polls_raised: 0,
            out: Out {
                events: VecDeque::new(),
                next_conn: 0,
                rng: Rng::new(config.seed),
                channel_status: ChannelStatus::NoCredentials,
                trace: TraceBuffer::off(),
            },
            next_ticket: 0,
            completions: VecDeque::new(),
            next_request: 0,
            stopped: false,
        };
        client.wake_every_token();
        let outputs = client.channel.handle_timeout(now, &mut client.out);
        client.channel_outputs(outputs);
        client.settle(now);
        Ok(client)
    }

    /// LOCAL-27: the wakes posted before a stop may have died with the mail client, after the
    /// notifications that caused them were acknowledged; nothing else would bring them back.
    fn wake_every_token(&mut self) {
        //= spec/device-local.md#LOCAL-27
        //# So when the mail client starts, it MUST raise the local
        //# notification of every registered token of the device, without waiting for the reply to its push
        //# registration
        let all: Vec<Token> = self.tokens.durable().map(|(t, _, _)| t.clone()).collect();
        for token in all {
            self.out.trace.record(|| {
                TraceRecord::new(EventKind::InitialWake)
                    .cite_id("LOCAL-27")
                    .token(token.as_str())
            });
            self.out.emit(Event::Wake(token));
        }
    }

    /// The DA registers mailboxes of an account (LOCAL-2). The answer is
    /// [`Event::Registered`] with this request id, once every new token is stored.
    pub fn register(
        &mut self,
        account: &AccountId,
        mailboxes: &[MailboxName],
        now: Timestamp,
    ) -> Result<RequestId, RegisterError> {
        if !self.accounts.contains_key(account) {
            return Err(RegisterError::UnknownAccount(account.clone()));
        }
        if mailboxes.is_empty() {
            return Err(RegisterError::NoMailboxes);
        }
        let known = self.tokens.mailboxes_of(account).len();
        let fresh: BTreeSet<&MailboxName> = mailboxes
            .iter()
            .filter(|m| self.tokens.lookup(account, m).is_none())
            .collect();
        if known + fresh.len() > MAX_MAILBOXES_PER_ACCOUNT {
            return Err(RegisterError::TooManyMailboxes {
                account: account.clone(),
                limit: MAX_MAILBOXES_PER_ACCOUNT,
            });
        }
        self.next_request += 1;
        let request = RequestId(self.next_request);
        let mut answer = Vec::with_capacity(mailboxes.len());
        let mut added = Vec::new();
        let mut waiting = false;
        for mailbox in mailboxes {
            //= spec/device-local.md#LOCAL-2
            //# Registering a mailbox
            //# that is already registered for the same account MUST return the token it already has.
            let token = match self.tokens.lookup(account, mailbox) {
                Some((token, durable)) => {
                    waiting |= !durable;
                    if let Some(a) = self.accounts.get_mut(account)
                        && a.push.left_out(mailbox)
                    {
                        //= spec/device-local.md#LOCAL-4
                        //# After a registration that names a registered mailbox the last
                        //# reply left without push
                        a.push.want();
                    }
                    token.clone()
                }
                None => {
                    let (token, _) = self.tokens.issue(account, mailbox, &mut self.out.rng);
                    added.push(TokenEntry {
                        token: token.clone(),
                        account: account.clone(),
                        mailbox: mailbox.clone(),
                    });
                    token
                }
            };
            //= spec/device-local.md#LOCAL-2
            //# The mail client MUST answer it with exactly one token for each named mailbox.
            answer.push((mailbox.clone(), token));
        }
        let answer = Completion::Answer {
            request,
            tokens: answer,
        };
        if !added.is_empty() {
            //= spec/device-local.md#LOCAL-18
            //# The mail client MUST store a new token durably, together with whatever it needs
            //# never to issue that token again, before it answers the registration with it
            let durable = added.iter().map(|e| e.token.clone()).collect();
            let mut records: Vec<Record> = added.into_iter().map(Record::TokenAdded).collect();
            records.push(Record::NextSerial(self.tokens.next_serial()));
            self.persist(records, vec![Completion::TokensDurable(durable), answer]);
        } else if waiting && let Some((_, last)) = self.completions.back_mut() {
            // A token still being stored: answer once its batch (the latest or an earlier one)
            // is durable.
            last.push(answer);
        } else {
            self.complete(answer, now);
        }
        self.settle(now);
        Ok(request)
    }

    /// The DA unregisters tokens (LOCAL-6). Returns how many were registered. From now on
    /// they are never woken, and push is registered again without their mailboxes.
    pub fn unregister(&mut self, tokens: &[Token], now: Timestamp) -> usize {
        let mut records = Vec::new();
        for token in tokens {
            let Some((account, mailbox)) = self.tokens.remove(token) else {
                continue;
            };
            //= spec/device-local.md#LOCAL-6
            //# After unregistering, the mail client MUST NOT raise
            //# local notifications for them, and MUST register push again without those mailboxes
            self.polls.remove(token);
            if let Some(a) = self.accounts.get_mut(&account) {
                a.push.forget(&mailbox);
                a.push.want();
            }
            records.push(Record::TokenRemoved(token.clone()));
        }
        let removed = records.len();
        if removed > 0 {
            self.persist(records, Vec::new());
        }
        self.settle(now);
        removed
    }

    /// The driver stored every batch up to `ticket`.
    pub fn handle_persisted(&mut self, ticket: Ticket, now: Timestamp) {
        while self.completions.front().is_some_and(|(t, _)| *t <= ticket) {
            if let Some((_, completions)) = self.completions.pop_front() {
                for completion in completions {
                    self.complete(completion, now);
                }
            }
        }
        self.settle(now);
    }

    /// New device credentials from the push server's registration (PROV-15): stored, used for
    /// the device channel (from cursor 0) and registered with every account's mail server.
    pub fn handle_device_credentials(&mut self, credentials: DeviceCredentials, now: Timestamp) {
        self.persist(vec![Record::Device(credentials.clone())], Vec::new());
        self.channel
            .set_credentials(credentials, now, &mut self.out);
        for account in self.accounts.values_mut() {
            //= spec/device-local.md#LOCAL-20
            //# when its device token changes
            account.push.want();
            //= spec/device-local.md#LOCAL-22
            //# When the device token changes, every
            //# monitored mailbox is without push until a reply to a registration made with the new token
            //# acknowledges it.
            account.push.new_device_token();
        }
        let outputs = self.channel.handle_timeout(now, &mut self.out);
        self.channel_outputs(outputs);
        self.settle(now);
    }

    /// The IMAP connection the core asked for is open (with TLS for an IMAPS account).
    pub fn handle_imap_connected(&mut self, conn: ConnectionId, now: Timestamp) {
        if let Some(account) = self.account_of(conn) {
            account.push.handle_connected(conn, now);
        }
        self.settle(now);
    }

    /// Octets read from an IMAP connection.
    pub fn handle_imap_input(&mut self, conn: ConnectionId, octets: &[u8], now: Timestamp) {
        self.on_imap(conn, now, |client| client.handle_input(octets));
    }

    /// The STARTTLS handshake of [`Event::ImapStartTls`] is done.
    pub fn handle_imap_tls_established(&mut self, conn: ConnectionId, now: Timestamp) {
        self.on_imap(conn, now, ImapClient::handle_tls_established);
    }

    /// An IMAP connection closed or could not be opened.
    pub fn handle_imap_closed(&mut self, conn: ConnectionId, now: Timestamp) {
        self.on_imap(conn, now, ImapClient::handle_eof);
    }

    fn on_imap(&mut self, conn: ConnectionId, now: Timestamp, act: impl FnOnce(&mut ImapClient)) {
        if let Some(id) = self.account_id_of(conn)
            && let Some(account) = self.accounts.get_mut(&id)
        {
            let outcomes = account.push.on_client(conn, now, &mut self.out, act);
            self.apply(&id, outcomes);
        }
        self.settle(now);
    }

    /// The device-channel connection the core asked for is open (TLS done).
    pub fn handle_channel_connected(&mut self, conn: ConnectionId, now: Timestamp) {
        self.channel.handle_connected(conn, now, &mut self.out);
        self.settle(now);
    }

    /// Octets read from the device channel.
    pub fn handle_channel_input(&mut self, conn: ConnectionId, octets: &[u8], now: Timestamp) {
        let outputs = self.channel.handle_input(conn, octets, now, &mut self.out);
        self.channel_outputs(outputs);
        self.settle(now);
    }

    /// The device channel closed or could not be opened.
    pub fn handle_channel_closed(&mut self, conn: ConnectionId, now: Timestamp) {
        self.channel.handle_closed(conn, now, &mut self.out);
        self.settle(now);
    }

    /// The earliest time [`MailClient::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let polls = self.polls.values().min().copied();
        let accounts = self.accounts.values().filter_map(|a| a.push.poll_timeout());
        [polls, self.channel.poll_timeout()]
            .into_iter()
            .flatten()
            .chain(accounts)
            .min()
    }

    /// Time passed: scheduled polls, keepalive, reconnects, retries and renewals.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let due: Vec<Token> = self
            .polls
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(t, _)| t.clone())
            .collect();
        for token in due {
            let interval = self.interval_of(&token);
            if let Some(at) = self.polls.get_mut(&token) {
                //= spec/device-local.md#LOCAL-15
                //# For every registered mailbox without push, the mail client MUST
                //# raise the mailbox's local notification once per poll interval, as if a push for it had arrived.
                let next = at.plus_ms(interval);
                *at = if next <= now {
                    now.plus_ms(interval)
                } else {
                    next
                };
                let mailbox = self.tokens.get(&token).map(|(_, m)| m.clone());
                self.out.trace.record(|| {
                    let record = TraceRecord::new(EventKind::ScheduledPoll).token(token.as_str());
                    match &mailbox {
                        Some(m) => record.mailbox(&String::from_utf8_lossy(m.as_bytes())),
                        None => record,
                    }
                });
                self.polls_raised += 1;
                self.out.emit(Event::Wake(token));
            }
        }
        let outputs = self.channel.handle_timeout(now, &mut self.out);
        self.channel_outputs(outputs);
        self.settle(now);
    }

    /// Records protocol trace events in `buffer` from now on (spec/trace.md): tokens given out,
    /// push registrations sent, device-channel sessions opened and acknowledgements, and every
    /// wake with its cause. Off by default.
    pub fn set_trace(&mut self, buffer: TraceBuffer) {
        self.out.trace = buffer;
    }

    /// The records waiting for the driver's tracer ([`mailpush_trace::Tracer::drain`]).
    pub fn trace_buffer(&mut self) -> &mut TraceBuffer {
        &mut self.out.trace
    }

    /// The next thing to do.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.events.pop_front()
    }

    /// Closes the device channel (`close` frame) and logs out of every IMAP connection.
    pub fn shutdown(&mut self, now: Timestamp) {
        self.stopped = true;
        self.channel.shutdown(now, &mut self.out);
        for account in self.accounts.values_mut() {
            account.push.shutdown(now, &mut self.out);
        }
    }

    /// The token of a registered, stored mailbox.
    pub fn token_of(&self, account: &AccountId, mailbox: &MailboxName) -> Option<&Token> {
        match self.tokens.lookup(account, mailbox) {
            Some((token, true)) => Some(token),
            _ => None,
        }
    }

    /// Every registered, stored token with its account and mailbox.
    pub fn tokens(&self) -> impl Iterator<Item = (&Token, &AccountId, &MailboxName)> {
        self.tokens.durable()
    }

    /// The next scheduled local notification of each mailbox without push.
    pub fn polls(&self) -> impl Iterator<Item = (&Token, Timestamp)> {
        self.polls.iter().map(|(t, at)| (t, *at))
    }

    /// The state of every account and of the device channel.
    pub fn status(&self, now: Timestamp) -> Status {
        let accounts = self
            .accounts
            .iter()
            .map(|(id, account)| {
                let (with_push, without_push) = self
                    .tokens
                    .mailboxes_of(id)
                    .into_iter()
                    .partition(|m| self.has_push(id, m, now));
                AccountStatus {
                    id: id.clone(),
                    push: account.push.status().cloned(),
                    with_push,
                    without_push,
                }
            })
            .collect();
        Status {
            accounts,
            channel: self.out.channel_status.clone(),
            cursor: self.channel.persisted_cursor(),
            scheduled_polls: self.polls_raised,
        }
    }

    fn persist(&mut self, records: Vec<Record>, completions: Vec<Completion>) {
        self.next_ticket += 1;
        let ticket = Ticket(self.next_ticket);
        self.completions.push_back((ticket, completions));
        self.out
            .emit(Event::Persist(PersistBatch { ticket, records }));
    }

    fn complete(&mut self, completion: Completion, now: Timestamp) {
        match completion {
            Completion::TokensDurable(tokens) => {
                for token in tokens {
                    self.tokens.mark_durable(&token);
                    if let Some((account, _)) = self.tokens.get(&token)
                        && let Some(a) = self.accounts.get_mut(account)
                    {
                        //= spec/device-local.md#LOCAL-4
                        //# After a registration that adds a mailbox, the mail client
                        //# MUST (re)register push for the account with the mail server
                        a.push.want();
                    }
                }
            }
            Completion::Answer { request, tokens } => {
                for (mailbox, token) in &tokens {
                    self.out.trace.record(|| {
                        TraceRecord::new(EventKind::Token)
                            .mailbox(&String::from_utf8_lossy(mailbox.as_bytes()))
                            .token(token.as_str())
                    });
                }
                self.out.emit(Event::Registered { request, tokens });
            }
            Completion::Cursor { epoch, cursor } => {
                self.channel.persisted(epoch, cursor, now, &mut self.out);
            }
        }
    }

    fn account_id_of(&self, conn: ConnectionId) -> Option<AccountId> {
        self.accounts
            .iter()
            .find(|(_, a)| a.push.owns(conn))
            .map(|(id, _)| id.clone())
    }

    fn account_of(&mut self, conn: ConnectionId) -> Option<&mut Account> {
        self.accounts.values_mut().find(|a| a.push.owns(conn))
    }

    fn interval_of(&self, token: &Token) -> u64 {
        self.tokens
            .get(token)
            .and_then(|(account, _)| self.accounts.get(account))
            .map_or(PollInterval::DEFAULT, |a| a.poll_interval)
            .millis()
    }

    /// Whether a monitored mailbox has push now (LOCAL-22, LOCAL-23).
    fn has_push(&self, account: &AccountId, mailbox: &MailboxName, now: Timestamp) -> bool {
        //= spec/device-local.md#LOCAL-23
        //# it MUST treat every monitored
        //# mailbox as without push
        self.channel.usable_token().is_some()
            && self
                .accounts
                .get(account)
                .and_then(|a| a.push.with_push(now))
                .is_some_and(|s| s.contains(mailbox))
    }

    /// Acts on what registrations concluded.
    fn apply(&mut self, account: &AccountId, outcomes: Vec<Outcome>) {
        let replied = outcomes.iter().any(|o| {
            matches!(
                o,
                Outcome::Acknowledged | Outcome::Refused | Outcome::Unsupported
            )
        });
        if replied {
            //= spec/device-local.md#LOCAL-5
            //# When the mail server's reply to a push registration arrives, the mail client MUST
            //# raise the local notification of every token of the account, with and without push.
            let tokens: Vec<Token> = self
                .tokens
                .of_account(account)
                .map(|(t, _)| t.clone())
                .collect();
            for token in tokens {
                self.out
                    .trace
                    .record(|| TraceRecord::new(EventKind::InitialWake).token(token.as_str()));
                self.out.emit(Event::Wake(token));
            }
        }
    }

    fn channel_outputs(&mut self, outputs: Vec<Output>) {
        for output in outputs {
            match output {
                Output::Notification(delivered) => self.forward(delivered),
                Output::CursorReset => {
                    //= spec/device-local.md#LOCAL-25
                    //# raise the local notification of every registered token of the device
                    let all: Vec<Token> =
                        self.tokens.durable().map(|(t, _, _)| t.clone()).collect();
                    for token in all {
                        self.out.trace.record(|| {
                            TraceRecord::new(EventKind::FanOut)
                                .cite_id("LOCAL-25")
                                .token(token.as_str())
                        });
                        self.out.emit(Event::Wake(token));
                    }
                    self.persist(vec![Record::Cursor(0)], Vec::new());
                }
            }
        }
    }

    /// LOCAL-7, LOCAL-8, LOCAL-10.
    fn forward(&mut self, delivered: Delivered) {
        let mut woken = Vec::new();
        let mut seen = HashSet::new();
        let forwarding = match mailpush_provider_api::Payload::parse(delivered.payload.as_bytes()) {
            Ok(push) => {
                //= spec/device-local.md#LOCAL-7
                //# it MUST
                //# select the account whose account id equals `account-id` and, for each entry of `m`, compare it with
                //# the lowercase hexadecimal MD5 of the name of each monitored mailbox of that account
                if let Ok(account) = AccountId::new(push.account_id().as_str()) {
                    for digest in push.mailboxes() {
                        for token in self.tokens.matching(&account, &digest.octets()) {
                            if seen.insert(token.clone()) {
                                woken.push(token.clone());
                            }
                        }
                    }
                }
                Forwarding::Payload {
                    account: push.account_id().as_str().to_owned(),
                }
            }
            //= spec/device-local.md#LOCAL-8
            //# payloads that are not of the shape of
            //# [PROV-8](provider-api.md#PROV-8) MUST NOT raise any local notification, except as required by
            //# [LOCAL-10](#LOCAL-10) when the notification is flagged `retained`.
            Err(error) => Forwarding::NotPushShape(error),
        };
        let matched = woken.len();
        if delivered.retained
            && !mailpush_mutants::active(mailpush_mutants::Mutant::MailClientNoFanoutOnRetained)
        {
            //= spec/device-local.md#LOCAL-10
            //# On a notification flagged `retained`, the mail client MUST raise the
            //# local notification of every registered token of the device, in addition to those that
            //# [LOCAL-7](#LOCAL-7) raises for the payload, and whatever the payload names (it may be empty).
            //= spec/device-channel.md#RING-12
            //# A client that receives a `notify` carrying `retained` MUST treat every
            //# registered mailbox of the device as changed, whatever the payload lists
            for (token, _, _) in self.tokens.durable() {
                if seen.insert(token.clone()) {
                    woken.push(token.clone());
                }
            }
        }
        self.out.emit(Event::Notification {
            id: delivered.id.get(),
            retained: delivered.retained,
            forwarding,
            woken: woken.clone(),
        });
        for (i, token) in woken.into_iter().enumerate() {
            self.out.trace.record(|| {
                let kind = if i < matched {
                    EventKind::Forward
                } else {
                    EventKind::FanOut
                };
                let record = TraceRecord::new(kind)
                    .token(token.as_str())
                    .id(delivered.id.get());
                let record = match self.tokens.get(&token) {
                    Some((_, m)) => record.mailbox(&String::from_utf8_lossy(m.as_bytes())),
                    None => record,
                };
                if delivered.retained {
                    record.retained(true).cite_id("RING-12")
                } else {
                    record
                }
            });
            self.out.emit(Event::Wake(token));
        }
    }

    /// After every input: move registrations on, start and stop polls, store the cursor.
    fn settle(&mut self, now: Timestamp) {
        let device_token = self.channel.usable_token().map(str::to_owned);
        let ids: Vec<AccountId> = self.accounts.keys().cloned().collect();
        for id in ids {
            let mailboxes = self.tokens.mailboxes_of(&id);
            let cx = Context {
                device_token: device_token.as_deref(),
                subtopic: &self.subtopic,
                mailboxes: &mailboxes,
                stopped: self.stopped,
            };
            let Some(account) = self.accounts.get_mut(&id) else {
                continue;
            };
            let outcomes = account.push.drive(now, &cx, &mut self.out);
            self.apply(&id, outcomes);
        }
        self.sync_polls(now);
        if let Some(cursor) = self.channel.cursor_to_persist() {
            let epoch = self.channel.epoch();
            self.persist(
                vec![Record::Cursor(cursor)],
                vec![Completion::Cursor { epoch, cursor }],
            );
        }
    }

    /// LOCAL-15: a schedule for every mailbox without push, none for the others.
    fn sync_polls(&mut self, now: Timestamp) {
        let without: Vec<(Token, u64)> = self
            .tokens
            .durable()
            .filter(|(_, account, mailbox)| !self.has_push(account, mailbox, now))
            .map(|(token, _, _)| (token.clone(), self.interval_of(token)))
            .collect();
        let keep: HashSet<&Token> = without.iter().map(|(t, _)| t).collect();
        //= spec/device-local.md#LOCAL-15
        //# When a later push registration reply acknowledges the mailbox, the mail client MUST
        //# stop the schedule for it
        self.polls.retain(|t, _| keep.contains(t));
        if mailpush_mutants::active(mailpush_mutants::Mutant::NoScheduledPolls) {
            return;
        }
        for (token, interval) in without {
            //= spec/device-local.md#LOCAL-15
            //# when a reply no longer acknowledges a mailbox, the mail client MUST
            //# start one.
            self.polls
                .entry(token)
                .or_insert_with(|| now.plus_ms(interval));
        }
    }
}
