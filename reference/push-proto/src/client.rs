//! The client (mail client) side of the device channel, sans-IO.

use std::collections::VecDeque;

use crate::Timestamp;
use crate::codec::{DecodeError, encode_frame};
use crate::decoder::FrameDecoder;
use crate::frame::{
    Credential, Frame, Keepalive, NotificationId, PROTOCOL_VERSION, Payload, ReasonCode,
    VersionRange, Window,
};

/// How long a client waits for `welcome` after sending `hello`.
//= spec/device-channel.md#CHAN-34
//# A client SHOULD close a connection on which no `welcome` has arrived 30 seconds
//# after it sent `hello`, and connect again later.
pub const WELCOME_TIMEOUT_MS: u64 = 30_000;

/// Something the device must act on.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The session is established.
    Established {
        /// Negotiated version.
        version: u8,
        /// The server's effective cursor.
        cursor: u64,
        /// In-flight window.
        window: Window,
        /// Keepalive interval.
        keepalive: Keepalive,
    },
    /// A new notification: hand it on, then call [`ClientConnection::ack`].
    Notification {
        /// Its id.
        id: NotificationId,
        /// The device must treat every registered mailbox as changed.
        retained: bool,
        /// Its payload.
        payload: Payload,
    },
    /// The connection is closed.
    Closed {
        /// Why.
        code: ReasonCode,
        /// True when the server closed it.
        by_peer: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    AwaitingWelcome { deadline: Timestamp },
    Established { keepalive_ms: u64, window: u16 },
    Closed,
}

/// One client-side device-channel connection.
#[derive(Debug)]
pub struct ClientConnection {
    state: State,
    /// The versions offered in `hello`.
    versions: Option<VersionRange>,
    decoder: FrameDecoder,
    output: Vec<u8>,
    events: VecDeque<ClientEvent>,
    /// Highest id processed (handed on and acknowledged); the next resume cursor.
    processed: u64,
    /// Ids handed on in this session and not yet acknowledged, increasing. At most `window`
    /// long: a server that sends more breaks CHAN-30 and the connection is closed.
    unacked: VecDeque<NotificationId>,
    /// Id of the previous `notify` of this session; 0 before the first.
    session_last_notify: u64,
    last_sent: Timestamp,
    last_received: Timestamp,
    ping_outstanding: bool,
}

impl ClientConnection {
    /// Starts a connection: the `hello` is queued at once.
    pub fn new(token: Credential, secret: Credential, cursor: u64, now: Timestamp) -> Self {
        let mut output = Vec::new();
        let versions = VersionRange::new(PROTOCOL_VERSION, PROTOCOL_VERSION).ok();
        if let Some(versions) = versions {
            encode_frame(
                &Frame::Hello {
                    versions,
                    token,
                    secret,
                    cursor,
                },
                &mut output,
            );
        }
        Self {
            state: State::AwaitingWelcome {
                deadline: now.plus_ms(WELCOME_TIMEOUT_MS),
            },
            versions,
            decoder: FrameDecoder::new(),
            output,
            events: VecDeque::new(),
            processed: cursor,
            unacked: VecDeque::new(),
            session_last_notify: 0,
            last_sent: now,
            last_received: now,
            ping_outstanding: false,
        }
    }

    /// The cursor to resume with on the next connection: the highest id acknowledged.
    pub fn cursor(&self) -> u64 {
        self.processed
    }

    /// True once the session is established.
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established { .. })
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// How many octets the caller may read before feeding them in, so that an oversize frame is
    /// rejected without its body being buffered.
    pub fn read_hint(&self) -> usize {
        self.decoder.read_hint()
    }

    /// Octets received and not yet decoded (at most one frame's worth).
    #[cfg(feature = "fuzzing")]
    pub(crate) fn buffered(&self) -> usize {
        self.decoder.buffered()
    }

    /// Notifications handed on and not yet acknowledged.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn unacked(&self) -> usize {
        self.unacked.len()
    }

    /// Feeds octets read from the socket.
    pub fn handle_input(&mut self, octets: &[u8], now: Timestamp) {
        if self.is_closed() {
            return;
        }
        self.decoder.extend(octets);
        loop {
            if self.is_closed() {
                return;
            }
            let frame = match self.decoder.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => return,
                Err(DecodeError::TooLarge(_)) => {
                    //= spec/device-channel.md#CHAN-3
                    //# by sending `ERROR` with code `frame-too-large` and closing the connection.
                    self.fail(ReasonCode::FrameTooLarge, "frame too large");
                    return;
                }
                Err(_) => {
                    //= spec/device-channel.md#CHAN-4
                    //# MUST be answered with `ERROR` code
                    //# `malformed-frame` followed by closing the connection.
                    self.fail(ReasonCode::MalformedFrame, "malformed frame");
                    return;
                }
            };
            self.last_received = now;
            self.ping_outstanding = false;
            self.handle_frame(frame, now);
        }
    }

    fn handle_frame(&mut self, frame: Frame, now: Timestamp) {
        match (self.state, frame) {
            (
                State::AwaitingWelcome { .. },
                Frame::Welcome {
                    version,
                    cursor,
                    window,
                    keepalive,
                },
            ) => {
                let offered = self
                    .versions
                    .is_some_and(|v| (v.min()..=v.max()).contains(&version));
                if !offered {
                    //= spec/device-channel.md#CHAN-33
                    //# A client MUST close the connection with `ERROR` code
                    //# `unsupported-version` when the version in `welcome` is not one it offered in its `hello`.
                    self.fail(
                        ReasonCode::UnsupportedVersion,
                        "welcome names a version the client did not offer",
                    );
                    return;
                }
                self.state = State::Established {
                    keepalive_ms: keepalive.millis(),
                    window: window.get(),
                };
                //= spec/device-channel.md#CHAN-33
                //# From
                //# `welcome` on, the highest id the client has processed ([CHAN-18](#CHAN-18)) MUST be taken as the
                //# greater of the cursor it sent in `hello` and the cursor of `welcome`.
                self.processed = self.processed.max(cursor);
                self.events.push_back(ClientEvent::Established {
                    version,
                    cursor,
                    window,
                    keepalive,
                });
            }
            (
                State::Established { window, .. },
                Frame::Notify {
                    id,
                    retained,
                    payload,
                },
            ) => {
                if id.get() <= self.session_last_notify {
                    //= spec/device-channel.md#CHAN-22
                    //# A client MUST close the connection with `ERROR` code `unexpected-frame` when a
                    //# server sends a `notify` whose id is not greater than the id of the previous `notify` of the same
                    //# session
                    self.fail(
                        ReasonCode::UnexpectedFrame,
                        "notification ids went backwards",
                    );
                    return;
                }
                self.session_last_notify = id.get();
                if id.get() <= self.processed {
                    //= spec/device-channel.md#CHAN-18
                    //# it MUST
                    //# acknowledge it again and MUST NOT process it again.
                    self.send(&Frame::Ack { id }, now);
                    return;
                }
                if self.unacked.len() >= usize::from(window) {
                    //= spec/device-channel.md#CHAN-30
                    //# A client MAY check the window: when a `notify` arrives while `window`
                    //# notifications it received on the session are not covered by an `ack` it sent (duplicates it
                    //# acknowledged again under [CHAN-18](#CHAN-18) do not count), it MAY close the connection with
                    //# `ERROR` code `unexpected-frame`.
                    self.fail(
                        ReasonCode::UnexpectedFrame,
                        "more notifications in flight than the window",
                    );
                    return;
                }
                self.unacked.push_back(id);
                self.events.push_back(ClientEvent::Notification {
                    id,
                    retained,
                    payload,
                });
            }
            (State::Established { .. }, Frame::Pong) => {}
            (_, Frame::Close { code, .. } | Frame::Error { code, .. }) => {
                self.state = State::Closed;
                self.events.push_back(ClientEvent::Closed {
                    code,
                    by_peer: true,
                });
            }
            _ => {
                //= spec/device-channel.md#CHAN-22
                //# or sends `notify` before `welcome`.
                //= spec/device-channel.md#CHAN-6
                //# A frame received in the
                //# wrong direction, or a `hello` received after the first frame, MUST be answered with `ERROR` code
                //# `unexpected-frame` and a close.
                self.fail(
                    ReasonCode::UnexpectedFrame,
                    "unexpected frame from the server",
                );
            }
        }
    }

    /// The notification `id` was handed on: acknowledges it and every notification before it.
    /// Returns false, sending nothing, unless `id` is a notification this connection handed on
    /// and has not acknowledged yet (an `ack` of anything else would acknowledge an id the
    /// client did not receive, or repeat one).
    //= spec/device-channel.md#CHAN-20
    //# MUST NOT acknowledge an id it has not received.
    pub fn ack(&mut self, id: NotificationId, now: Timestamp) -> bool {
        if !self.is_established() || !self.unacked.contains(&id) {
            return false;
        }
        while self.unacked.front().is_some_and(|&unacked| unacked <= id) {
            self.unacked.pop_front();
        }
        self.processed = self.processed.max(id.get());
        self.send(&Frame::Ack { id }, now);
        true
    }

    /// Closes the connection.
    pub fn close(&mut self, now: Timestamp) {
        if self.is_closed() {
            return;
        }
        self.send(&Frame::close(ReasonCode::ClientClose, "bye"), now);
        self.state = State::Closed;
        self.events.push_back(ClientEvent::Closed {
            code: ReasonCode::ClientClose,
            by_peer: false,
        });
    }

    //= spec/device-channel.md#CHAN-25
    //# The sender of an `error` frame MUST close the connection right after sending it
    //# and MUST NOT send anything after it.
    fn fail(&mut self, code: ReasonCode, text: &str) {
        if self.is_closed() {
            return;
        }
        encode_frame(&Frame::error(code, text), &mut self.output);
        self.state = State::Closed;
        self.events.push_back(ClientEvent::Closed {
            code,
            by_peer: false,
        });
    }

    /// Closes without a frame: the server is dead or silent, sending to it is pointless.
    fn give_up(&mut self) {
        self.state = State::Closed;
        self.events.push_back(ClientEvent::Closed {
            code: ReasonCode::Timeout,
            by_peer: false,
        });
    }

    fn send(&mut self, frame: &Frame, now: Timestamp) {
        encode_frame(frame, &mut self.output);
        self.last_sent = now;
    }

    /// When [`ClientConnection::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        match self.state {
            State::AwaitingWelcome { deadline } => Some(deadline),
            // Both the next ping and the dead-server check fall one interval after the last send.
            State::Established { keepalive_ms, .. } => Some(self.last_sent.plus_ms(keepalive_ms)),
            State::Closed => None,
        }
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let keepalive_ms = match self.state {
            State::AwaitingWelcome { deadline } => {
                if now >= deadline {
                    self.give_up();
                }
                return;
            }
            State::Established { keepalive_ms, .. } => keepalive_ms,
            State::Closed => return,
        };
        if self.ping_outstanding {
            //= spec/device-channel.md#CHAN-24
            //# A client SHOULD consider the server
            //# dead, and reconnect, when it has received nothing for one `keepalive` interval after sending a
            //# `ping`.
            if now >= self.last_sent.plus_ms(keepalive_ms) && self.last_received < self.last_sent {
                self.give_up();
            }
        } else if now >= self.last_sent.plus_ms(keepalive_ms) {
            //= spec/device-channel.md#CHAN-23
            //# A client MUST send `ping` when it has sent nothing for `keepalive` seconds.
            self.send(&Frame::Ping, now);
            self.ping_outstanding = true;
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Takes the octets to write to the socket.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.output.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.output))
        }
    }
}
