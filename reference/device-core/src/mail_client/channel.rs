//! The device channel, client side (`spec/device-channel.md`, LOCAL-24..26): one push-proto
//! [`ClientConnection`] per connection attempt, the resume cursor, acknowledgements once the
//! cursor is durable, and reconnection with jittered exponential backoff.
//!
//! The cursor has three values. `processed` is the highest id handed to the device-local layer
//! (its local notifications raised); a notification at or below it is a duplicate. `persisted`
//! is the highest id the driver has stored; only ids at or below it are acknowledged, and the
//! next `hello` carries it. A crash therefore never loses an acknowledged notification: what
//! was acknowledged was stored, and what was processed but not stored comes again.

use std::collections::VecDeque;

use mailpush_trace::{EventKind, Record};

use mailpush_push_proto::client::{ClientConnection, ClientEvent};
use mailpush_push_proto::{Credential, NotificationId, Payload, ReasonCode, Timestamp};

use super::backoff::{Backoff, BackoffConfig};
use super::{ConnectionId, Event, Out};

/// A session that lasted this long counts as a success: the next failure starts the backoff
/// from its first step again. Shorter ones (a server that welcomes and drops at once) keep
/// backing off.
const STABLE_SESSION_MS: u64 = 60_000;

/// How long after its `hello` a connection may go without `welcome` (the device channel's
/// recommended welcome timeout).
const WELCOME_TIMEOUT_MS: u64 = 30_000;

/// The device's identity at the push server (PROV-15). `Debug` shows no secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceCredentials {
    /// The device token: given to mail servers in push registrations and to the push server in
    /// `hello`.
    pub token: Credential,
    /// The secret: given only to the push server, in `hello`.
    pub secret: Credential,
}

/// A refusal that reconnecting cannot cure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// `auth-failed`: the push server does not know this token and secret.
    AuthFailed,
    /// `unregistered`: the device was unregistered.
    Unregistered,
    /// `unsupported-version`: the push server speaks no version this client does.
    UnsupportedVersion,
}

/// Where the device channel stands, for logs and status.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChannelStatus {
    /// No device credentials yet.
    NoCredentials,
    /// Connecting (attempt `conn`).
    Connecting {
        /// The attempt.
        conn: ConnectionId,
        /// The cursor the `hello` carries.
        cursor: u64,
    },
    /// A session is established.
    Established {
        /// The effective cursor of the `welcome`.
        cursor: u64,
        /// The keepalive interval, seconds.
        keepalive_secs: u16,
    },
    /// The connection ended; the next attempt follows after `retry_in_ms`.
    Closed {
        /// The reason code (sent or received).
        code: ReasonCode,
        /// True when the server closed it.
        by_peer: bool,
        /// Delay before reconnecting.
        retry_in_ms: u64,
    },
    /// The socket closed, failed or could not be opened; the next attempt follows after
    /// `retry_in_ms`.
    Disconnected {
        /// Delay before reconnecting.
        retry_in_ms: u64,
    },
    /// No `welcome` arrived in time; the next attempt follows after `retry_in_ms`.
    NoWelcome {
        /// Delay before reconnecting.
        retry_in_ms: u64,
    },
    /// The push server refused the device for good; new credentials are needed.
    Refused(Refusal),
    /// The push server answered `bad-cursor`: it lost notifications the device had. The cursor
    /// was reset to 0 and every token woken (LOCAL-25).
    CursorReset,
    /// Shut down.
    Stopped,
}

/// How a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Loss {
    /// An `error` or `close` frame, sent or received.
    Frame { code: ReasonCode, by_peer: bool },
    /// The socket closed, failed, or could not be opened.
    Socket,
    /// No `welcome` within the attempt timeout.
    NoWelcome,
}

/// A notification to forward.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Delivered {
    pub(crate) id: NotificationId,
    pub(crate) retained: bool,
    pub(crate) payload: Payload,
}

/// What the channel asks of the mail client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Output {
    /// Forward it (LOCAL-7, LOCAL-10); it is now processed.
    Notification(Delivered),
    /// The push server lost notifications: wake every token (LOCAL-25).
    CursorReset,
}

#[derive(Debug)]
enum State {
    Idle,
    Waiting {
        until: Timestamp,
    },
    Connecting {
        conn: ConnectionId,
        deadline: Timestamp,
    },
    Open {
        conn: ConnectionId,
        client: Box<ClientConnection>,
        established_at: Option<Timestamp>,
        handshake_deadline: Timestamp,
        /// Ids handed on by this session's connection and not acknowledged yet, increasing.
        unacked: VecDeque<NotificationId>,
    },
}

/// The client side of the device channel.
#[derive(Debug)]
pub(crate) struct Channel {
    credentials: Option<DeviceCredentials>,
    refused: Option<Refusal>,
    stopped: bool,
    state: State,
    processed: u64,
    persisted: u64,
    /// The highest cursor handed to the driver to store, in this epoch.
    persist_requested: u64,
    /// Counts cursor resets; a stored cursor of an older epoch no longer counts.
    epoch: u64,
    backoff: Backoff,
    timeout_ms: u64,
}

impl Channel {
    pub(crate) fn new(
        restored: Option<(DeviceCredentials, u64)>,
        backoff: BackoffConfig,
        timeout_ms: u64,
    ) -> Self {
        let (credentials, cursor) = match restored {
            Some((c, cursor)) => (Some(c), cursor),
            None => (None, 0),
        };
        Self {
            credentials,
            refused: None,
            stopped: false,
            state: State::Idle,
            processed: cursor,
            persisted: cursor,
            persist_requested: cursor,
            epoch: 0,
            backoff: Backoff::new(backoff),
            timeout_ms,
        }
    }

    /// The device token, while the push server has not refused it (LOCAL-23).
    pub(crate) fn usable_token(&self) -> Option<&str> {
        match (&self.credentials, self.refused) {
            (Some(c), None) => Some(c.token.as_str()),
            _ => None,
        }
    }

    /// The cursor stored last.
    pub(crate) fn persisted_cursor(&self) -> u64 {
        self.persisted
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// New device credentials (a new registration at the push server): a new id space, so the
    /// cursor starts at 0 again.
    pub(crate) fn set_credentials(
        &mut self,
        credentials: DeviceCredentials,
        now: Timestamp,
        out: &mut Out,
    ) {
        self.close_current(out);
        self.credentials = Some(credentials);
        self.refused = None;
        self.reset_cursor();
        self.backoff.reset();
        self.state = State::Waiting { until: now };
    }

    fn reset_cursor(&mut self) {
        self.epoch += 1;
        self.processed = 0;
        self.persisted = 0;
        self.persist_requested = 0;
    }

    /// A cursor to store now, if processing moved past what was asked to be stored.
    pub(crate) fn cursor_to_persist(&mut self) -> Option<u64> {
        (self.processed > self.persist_requested).then(|| {
            self.persist_requested = self.processed;
            self.processed
        })
    }

    /// The driver stored `cursor` (of `epoch`): acknowledge up to it.
    //= spec/device-local.md#LOCAL-24
    //# it MUST store the id of a notification durably before it
    //# acknowledges it
    pub(crate) fn persisted(&mut self, epoch: u64, cursor: u64, now: Timestamp, out: &mut Out) {
        if epoch == self.epoch {
            self.persisted = self.persisted.max(cursor);
            self.try_ack(now, out);
        }
    }

    fn try_ack(&mut self, now: Timestamp, out: &mut Out) {
        if let State::Open {
            client,
            established_at: Some(_),
            unacked,
            ..
        } = &mut self.state
        {
            // The highest id of this session that is stored; acks are cumulative.
            let mut upto = None;
            while let Some(id) = unacked.front().filter(|id| id.get() <= self.persisted) {
                upto = Some(*id);
                unacked.pop_front();
            }
            if let Some(id) = upto {
                //= spec/device-channel.md#CHAN-20
                //# A client SHOULD acknowledge a notification as soon as it has handed
                //# it to the device-local layer, and MUST NOT acknowledge an id it has not received.
                client.ack(id, now);
                out.trace
                    .record(|| Record::new(EventKind::Ack).cursor(id.get()));
            }
        }
        self.transmit(out);
    }

    pub(crate) fn poll_timeout(&self) -> Option<Timestamp> {
        match &self.state {
            State::Idle => None,
            State::Waiting { until } => Some(*until),
            State::Connecting { deadline, .. } => Some(*deadline),
            State::Open {
                client,
                established_at,
                handshake_deadline,
                ..
            } => match established_at {
                None => [Some(*handshake_deadline), client.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min(),
                Some(_) => client.poll_timeout(),
            },
        }
    }

    /// Starts, reconnects, and runs the keepalive.
    pub(crate) fn handle_timeout(&mut self, now: Timestamp, out: &mut Out) -> Vec<Output> {
        match &mut self.state {
            State::Idle => {
                if !self.stopped && self.usable_token().is_some() {
                    self.state = State::Waiting { until: now };
                    return self.handle_timeout(now, out);
                }
                Vec::new()
            }
            State::Waiting { until } if now >= *until => {
                let conn = out.connection();
                self.state = State::Connecting {
                    conn,
                    deadline: now.plus_ms(self.timeout_ms),
                };
                out.emit(Event::ChannelConnect { conn });
                out.emit(Event::Channel(ChannelStatus::Connecting {
                    conn,
                    cursor: self.persisted,
                }));
                Vec::new()
            }
            State::Connecting { deadline, .. } if now >= *deadline => {
                self.lost(now, Loss::Socket, out);
                Vec::new()
            }
            State::Open {
                established_at: None,
                handshake_deadline,
                ..
            } if now >= *handshake_deadline => {
                self.lost(now, Loss::NoWelcome, out);
                Vec::new()
            }
            State::Open { client, .. } => {
                client.handle_timeout(now);
                self.process(now, out)
            }
            _ => Vec::new(),
        }
    }

    pub(crate) fn handle_connected(&mut self, conn: ConnectionId, now: Timestamp, out: &mut Out) {
        let State::Connecting { conn: expected, .. } = self.state else {
            return;
        };
        let Some(credentials) = &self.credentials else {
            return;
        };
        if expected != conn {
            return;
        }
        //= spec/device-local.md#LOCAL-24
        //# It MUST resume with the stored cursor
        let cursor = if mailpush_mutants::active(mailpush_mutants::Mutant::HelloCursorZero) {
            0
        } else {
            self.persisted
        };
        let client = ClientConnection::new(
            credentials.token.clone(),
            credentials.secret.clone(),
            cursor,
            now,
        );
        out.trace
            .record(|| Record::new(EventKind::Connect).cursor(self.persisted));
        self.state = State::Open {
            conn,
            client: Box::new(client),
            established_at: None,
            //= spec/device-local.md#LOCAL-26
            //# or gets no
            //# `welcome` in time
            handshake_deadline: now.plus_ms(WELCOME_TIMEOUT_MS),
            unacked: VecDeque::new(),
        };
        self.transmit(out);
    }

    pub(crate) fn handle_input(
        &mut self,
        conn: ConnectionId,
        octets: &[u8],
        now: Timestamp,
        out: &mut Out,
    ) -> Vec<Output> {
        match &mut self.state {
            State::Open {
                conn: current,
                client,
                ..
            } if *current == conn => {
                client.handle_input(octets, now);
                self.process(now, out)
            }
            _ => Vec::new(),
        }
    }

    /// The socket closed or failed.
    pub(crate) fn handle_closed(&mut self, conn: ConnectionId, now: Timestamp, out: &mut Out) {
        let current = match &self.state {
            State::Connecting { conn, .. } | State::Open { conn, .. } => Some(*conn),
            _ => None,
        };
        if current == Some(conn) {
            self.lost(now, Loss::Socket, out);
        }
    }

    pub(crate) fn shutdown(&mut self, now: Timestamp, out: &mut Out) {
        self.stopped = true;
        if let State::Open { client, .. } = &mut self.state {
            client.close(now);
        }
        self.close_current(out);
        out.emit(Event::Channel(ChannelStatus::Stopped));
    }

    fn close_current(&mut self, out: &mut Out) {
        self.transmit(out);
        if let State::Connecting { conn, .. } | State::Open { conn, .. } = self.state {
            out.emit(Event::ChannelClose { conn });
        }
        self.state = State::Idle;
    }

    fn transmit(&mut self, out: &mut Out) {
        if let State::Open { conn, client, .. } = &mut self.state
            && let Some(octets) = client.poll_transmit()
        {
            out.emit(Event::ChannelTransmit {
                conn: *conn,
                octets,
            });
        }
    }

    fn process(&mut self, now: Timestamp, out: &mut Out) -> Vec<Output> {
        let mut outputs = Vec::new();
        while let State::Open {
            client,
            established_at,
            unacked,
            ..
        } = &mut self.state
        {
            let Some(event) = client.poll_event() else {
                break;
            };
            match event {
                ClientEvent::Established {
                    cursor, keepalive, ..
                } => {
                    *established_at = Some(now);
                    // The server's cursor is ahead when acknowledgements were stored there and
                    // lost here: those notifications were processed before.
                    self.processed = self.processed.max(cursor);
                    out.emit(Event::Channel(ChannelStatus::Established {
                        cursor,
                        keepalive_secs: keepalive.secs(),
                    }));
                }
                ClientEvent::Notification {
                    id,
                    retained,
                    payload,
                } => {
                    unacked.push_back(id);
                    //= spec/device-channel.md#CHAN-18
                    //# The client MUST treat a
                    //# notification whose id is at or below the highest id it has processed as a duplicate: it MUST
                    //# acknowledge it again and MUST NOT process it again.
                    if id.get() > self.processed {
                        self.processed = id.get();
                        outputs.push(Output::Notification(Delivered {
                            id,
                            retained,
                            payload,
                        }));
                    }
                }
                ClientEvent::Closed { code, by_peer } => {
                    outputs.extend(self.lost(now, Loss::Frame { code, by_peer }, out));
                    return outputs;
                }
                _ => {}
            }
        }
        self.try_ack(now, out);
        outputs
    }

    /// The connection ended: refused for good, reset, or retried after a delay.
    fn lost(&mut self, now: Timestamp, loss: Loss, out: &mut Out) -> Option<Output> {
        let stable = match &self.state {
            State::Open {
                established_at: Some(at),
                ..
            } => now.0.saturating_sub(at.0) >= STABLE_SESSION_MS,
            _ => false,
        };
        self.close_current(out);
        let refusal = match loss {
            Loss::Frame {
                code: ReasonCode::AuthFailed,
                by_peer: true,
            } => Some(Refusal::AuthFailed),
            Loss::Frame {
                code: ReasonCode::Unregistered,
                by_peer: true,
            } => Some(Refusal::Unregistered),
            Loss::Frame {
                code: ReasonCode::UnsupportedVersion,
                by_peer: true,
            } => Some(Refusal::UnsupportedVersion),
            _ => None,
        };
        if let Some(refusal) = refusal {
            //= spec/device-local.md#LOCAL-26
            //# On `auth-failed`, `unregistered` or `unsupported-version` it MUST NOT
            //# reconnect with the same credentials
            self.refused = Some(refusal);
            out.emit(Event::Channel(ChannelStatus::Refused(refusal)));
            out.emit(Event::DeviceRefused(refusal));
            return None;
        }
        if stable {
            self.backoff.reset();
        }
        //= spec/device-local.md#LOCAL-26
        //# the mail client MUST reconnect after a delay that grows exponentially with each
        //# consecutive failure and is randomly jittered
        let delay = self.backoff.next_delay(&mut out.rng);
        self.state = State::Waiting {
            until: now.plus_ms(delay),
        };
        if loss
            == (Loss::Frame {
                code: ReasonCode::BadCursor,
                by_peer: true,
            })
        {
            self.reset_cursor();
            out.emit(Event::Channel(ChannelStatus::CursorReset));
            return Some(Output::CursorReset);
        }
        let status = match loss {
            Loss::Frame { code, by_peer } => ChannelStatus::Closed {
                code,
                by_peer,
                retry_in_ms: delay,
            },
            Loss::Socket => ChannelStatus::Disconnected { retry_in_ms: delay },
            Loss::NoWelcome => ChannelStatus::NoWelcome { retry_in_ms: delay },
        };
        out.emit(Event::Channel(status));
        None
    }
}
