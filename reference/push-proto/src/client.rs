//! The client (mail client) side of the device channel, sans-IO.

use std::collections::VecDeque;

use crate::Timestamp;
use crate::codec::{DecodeError, encode_frame};
use crate::decoder::FrameDecoder;
use crate::frame::{
    Credential, Frame, Keepalive, NotificationId, PROTOCOL_VERSION, Payload, ReasonCode,
    VersionRange, Window,
};

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
    AwaitingWelcome,
    Established { keepalive_ms: u64 },
    Closed,
}

/// One client-side device-channel connection.
#[derive(Debug)]
pub struct ClientConnection {
    state: State,
    decoder: FrameDecoder,
    output: Vec<u8>,
    events: VecDeque<ClientEvent>,
    /// Highest id processed (handed on); survives in the caller as the next resume cursor.
    processed: u64,
    /// Highest id received.
    last_received_id: u64,
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
        if let Ok(versions) = VersionRange::new(PROTOCOL_VERSION, PROTOCOL_VERSION) {
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
            state: State::AwaitingWelcome,
            decoder: FrameDecoder::new(),
            output,
            events: VecDeque::new(),
            processed: cursor,
            last_received_id: cursor,
            session_last_notify: 0,
            last_sent: now,
            last_received: now,
            ping_outstanding: false,
        }
    }

    /// The cursor to resume with on the next connection.
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
                    self.fail(ReasonCode::FrameTooLarge, "frame too large");
                    return;
                }
                Err(_) => {
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
                State::AwaitingWelcome,
                Frame::Welcome {
                    version,
                    cursor,
                    window,
                    keepalive,
                },
            ) => {
                self.state = State::Established {
                    keepalive_ms: keepalive.millis(),
                };
                self.processed = self.processed.max(cursor);
                self.last_received_id = self.processed;
                self.events.push_back(ClientEvent::Established {
                    version,
                    cursor,
                    window,
                    keepalive,
                });
            }
            (
                State::Established { .. },
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
                self.last_received_id = self.last_received_id.max(id.get());
                if id.get() <= self.processed {
                    //= spec/device-channel.md#CHAN-18
                    //# it MUST
                    //# acknowledge it again and MUST NOT process it again.
                    self.send(&Frame::Ack { id }, now);
                    return;
                }
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
                self.fail(
                    ReasonCode::UnexpectedFrame,
                    "unexpected frame from the server",
                );
            }
        }
    }

    /// The notification was handed on: acknowledge it (and everything before it).
    //= spec/device-channel.md#CHAN-20
    //# MUST NOT acknowledge an id it has not received.
    pub fn ack(&mut self, id: NotificationId, now: Timestamp) {
        if !self.is_established() || id.get() > self.last_received_id {
            return;
        }
        self.processed = self.processed.max(id.get());
        self.send(&Frame::Ack { id }, now);
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

    fn fail(&mut self, code: ReasonCode, text: &str) {
        encode_frame(&Frame::error(code, text), &mut self.output);
        self.state = State::Closed;
        self.events.push_back(ClientEvent::Closed {
            code,
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
            // Both the next ping and the dead-server check fall one interval after the last send.
            State::Established { keepalive_ms } => Some(self.last_sent.plus_ms(keepalive_ms)),
            _ => None,
        }
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let State::Established { keepalive_ms } = self.state else {
            return;
        };
        if self.ping_outstanding {
            //= spec/device-channel.md#CHAN-24
            //# A client SHOULD consider the server
            //# dead, and reconnect, when it has received nothing for one `keepalive` interval after sending a
            //# `ping`.
            if now >= self.last_sent.plus_ms(keepalive_ms) && self.last_received < self.last_sent {
                self.state = State::Closed;
                self.events.push_back(ClientEvent::Closed {
                    code: ReasonCode::Timeout,
                    by_peer: false,
                });
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
