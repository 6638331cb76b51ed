//! The server side of one device-channel connection, sans-IO: octets and time in, octets,
//! events and a deadline out. Authentication and delivery decisions belong to the caller, which
//! owns the store and the rings; this core enforces framing, ordering of the handshake,
//! directions, keepalive and the dead-peer timeout.

use std::collections::VecDeque;

use crate::Timestamp;
use crate::codec::{DecodeError, encode_frame};
use crate::decoder::FrameDecoder;
use crate::frame::{
    Credential, Frame, Keepalive, PROTOCOL_VERSION, ReasonCode, VersionRange, Window,
};
use crate::ring::Outgoing;

/// Server-side settings of the device channel.
#[derive(Clone, Copy, Debug)]
pub struct ServerSettings {
    /// How long a client has to complete its `hello`.
    pub hello_timeout_ms: u64,
    /// Keepalive interval announced in `welcome`.
    pub keepalive: Keepalive,
    /// In-flight window announced in `welcome`.
    pub window: Window,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            //= spec/device-channel.md#CHAN-8
            //# the hello timeout (10 seconds by default,
            //# configurable)
            hello_timeout_ms: 10_000,
            keepalive: Keepalive::DEFAULT,
            window: Window::DEFAULT,
        }
    }
}

/// Something the caller must act on.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A well-formed `hello` with a common version: authenticate it, then call
    /// [`ServerConnection::accept`] or [`ServerConnection::reject`].
    Hello {
        /// Negotiated version.
        version: u8,
        /// Device token.
        token: Credential,
        /// Device secret.
        secret: Credential,
        /// Resume cursor.
        cursor: u64,
    },
    /// The device acknowledged every id at or below this one. Acks that arrive back to back are
    /// folded into one event carrying the highest id, so a burst read at once costs the caller
    /// one ring update and one store write.
    Ack(crate::frame::NotificationId),
    /// The connection is closed; send what is left in the output, then close the socket.
    Closed {
        /// Why.
        code: ReasonCode,
        /// True when the peer closed (or failed), false when this side did.
        by_peer: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    AwaitingHello { deadline: Timestamp },
    Authenticating { deadline: Timestamp },
    Established { last_received: Timestamp },
    Closed,
}

/// One server-side device-channel connection.
#[derive(Debug)]
pub struct ServerConnection {
    settings: ServerSettings,
    state: State,
    decoder: FrameDecoder,
    output: Vec<u8>,
    events: VecDeque<ServerEvent>,
}

/// The versions this server implements.
fn supported_versions() -> Option<VersionRange> {
    VersionRange::new(PROTOCOL_VERSION, PROTOCOL_VERSION).ok()
}

impl ServerConnection {
    /// A freshly accepted connection.
    pub fn new(settings: ServerSettings, now: Timestamp) -> Self {
        Self {
            settings,
            state: State::AwaitingHello {
                deadline: now.plus_ms(settings.hello_timeout_ms),
            },
            decoder: FrameDecoder::new(),
            output: Vec::new(),
            events: VecDeque::new(),
        }
    }

    /// A connection over a limit: it gets one `error` and is closed before anything is read.
    //= spec/device-channel.md#CHAN-28
    //# A connection over a limit MUST be answered
    //# with `ERROR` code `too-many-connections` and closed before anything else is read from it.
    pub fn refuse(settings: ServerSettings, now: Timestamp) -> Self {
        let mut connection = Self::new(settings, now);
        connection.fail(ReasonCode::TooManyConnections, "connection limit reached");
        connection
    }

    /// True once the session is established.
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established { .. })
    }

    /// True once closed; the caller flushes the output and closes the socket.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// How many octets the caller may read before feeding them in, so that an oversize frame is
    /// rejected without its body being buffered.
    pub fn read_hint(&self) -> usize {
        self.decoder.read_hint()
    }

    /// Octets received and not yet decoded.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn buffered(&self) -> usize {
        self.decoder.buffered()
    }

    /// Feeds octets read from the socket.
    pub fn handle_input(&mut self, octets: &[u8], now: Timestamp) {
        if self.is_closed() {
            return;
        }
        self.decoder.extend(octets);
        self.process(now);
    }

    /// The peer closed its side of the stream.
    pub fn handle_eof(&mut self) {
        if !self.is_closed() {
            self.closed_by_peer();
        }
    }

    fn process(&mut self, now: Timestamp) {
        loop {
            // While the caller authenticates, later frames wait in the decoder.
            //= spec/device-channel.md#CHAN-29
            //# A server MUST NOT act on any
            //# frame that follows a `hello` until it has answered that `hello`
            if matches!(self.state, State::Authenticating { .. } | State::Closed) {
                return;
            }
            let frame = match self.decoder.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => return,
                Err(DecodeError::TooLarge(length)) => {
                    //= spec/device-channel.md#CHAN-3
                    //# by sending `ERROR` with code `frame-too-large` and closing the connection.
                    self.fail(
                        ReasonCode::FrameTooLarge,
                        &format!("frame length {length} exceeds 8192"),
                    );
                    return;
                }
                Err(_) => {
                    //= spec/device-channel.md#CHAN-4
                    //# A frame that does not match the grammar of section 3 (an unknown frame type,
                    //# a body shorter or longer than its fields, a reserved flag bit set, an id of zero, a string longer
                    //# than its limit, text that is not UTF-8 where UTF-8 is required) MUST be answered with `ERROR` code
                    //# `malformed-frame` followed by closing the connection.
                    self.fail(ReasonCode::MalformedFrame, "malformed frame");
                    return;
                }
            };
            self.handle_frame(frame, now);
        }
    }

    fn handle_frame(&mut self, frame: Frame, now: Timestamp) {
        match (self.state, frame) {
            (
                State::AwaitingHello { deadline },
                Frame::Hello {
                    versions,
                    token,
                    secret,
                    cursor,
                },
            ) => {
                let version = supported_versions().and_then(|ours| versions.negotiate(ours));
                let Some(version) = version else {
                    //= spec/device-channel.md#CHAN-9
                    //# If there is none, the server
                    //# MUST answer `ERROR` code `unsupported-version` and close.
                    self.fail(
                        ReasonCode::UnsupportedVersion,
                        "this server speaks version 1",
                    );
                    return;
                };
                self.state = State::Authenticating { deadline };
                self.events.push_back(ServerEvent::Hello {
                    version,
                    token,
                    secret,
                    cursor,
                });
            }
            //= spec/device-channel.md#CHAN-29
            //# except `close` and `error`: after either the
            //# server MUST send nothing and close
            (State::AwaitingHello { .. }, Frame::Close { .. } | Frame::Error { .. }) => {
                self.closed_by_peer();
            }
            (State::AwaitingHello { .. }, _) => {
                //= spec/device-channel.md#CHAN-8
                //# The first frame a client sends MUST be `hello`.
                //= spec/device-channel.md#CHAN-29
                //# A first frame that is well formed but is not `hello` MUST be answered
                //# with `ERROR` code `unexpected-frame` and a close
                self.fail(ReasonCode::UnexpectedFrame, "the first frame must be hello");
            }
            (State::Established { .. }, frame) => {
                //= spec/device-channel.md#CHAN-24
                //# The server MUST close a session on which it has received nothing for two
                //# `keepalive` intervals
                //= spec/device-channel.md#CHAN-31
                //# from the later of two moments: when it sent `welcome`, and when it last received a complete frame
                //# on the session (octets of a frame not yet complete do not count).
                self.state = State::Established { last_received: now };
                match frame {
                    Frame::Ack { id } => self.queue_ack(id),
                    //= spec/device-channel.md#CHAN-23
                    //# The
                    //# server MUST answer every `ping` with `pong`.
                    Frame::Ping => encode_frame(&Frame::Pong, &mut self.output),
                    //= spec/device-channel.md#CHAN-25
                    //# A receiver of `error` or `close` MUST NOT send anything
                    //# further and SHOULD close the connection.
                    Frame::Close { .. } | Frame::Error { .. } => self.closed_by_peer(),
                    _ => self.fail(
                        ReasonCode::UnexpectedFrame,
                        "frame not allowed from a client",
                    ),
                }
            }
            (State::Authenticating { .. } | State::Closed, _) => {}
        }
    }

    fn closed_by_peer(&mut self) {
        self.state = State::Closed;
        self.events.push_back(ServerEvent::Closed {
            code: ReasonCode::ClientClose,
            by_peer: true,
        });
    }

    //= spec/device-channel.md#CHAN-14
    //# An `ack` acknowledges every notification with an id at or below its id
    //# (acknowledgements are cumulative).
    fn queue_ack(&mut self, id: crate::frame::NotificationId) {
        // Only an ack directly behind another is folded, so events keep their order; an ack
        // above the highest id sent still surfaces (as the highest) and is refused as `bad-ack`.
        if let Some(ServerEvent::Ack(queued)) = self.events.back_mut() {
            *queued = (*queued).max(id);
        } else {
            self.events.push_back(ServerEvent::Ack(id));
        }
    }

    /// Authentication succeeded: send `welcome` with the effective cursor.
    //= spec/device-channel.md#CHAN-13
    //# After a successful `hello` the server MUST send `welcome` carrying the negotiated
    //# version, the effective cursor
    pub fn accept(&mut self, version: u8, cursor: u64, now: Timestamp) {
        if !matches!(self.state, State::Authenticating { .. }) {
            return;
        }
        encode_frame(
            &Frame::Welcome {
                version,
                cursor,
                window: self.settings.window,
                keepalive: self.settings.keepalive,
            },
            &mut self.output,
        );
        self.state = State::Established { last_received: now };
        self.process(now);
    }

    /// Authentication (or the cursor check) failed.
    pub fn reject(&mut self, code: ReasonCode, text: &str) {
        self.fail(code, text);
    }

    /// Sends one notification. Ignored unless established.
    //= spec/device-channel.md#CHAN-11
    //# Before it has sent `welcome`, a server MUST NOT send anything
    //# but `error` or `close` on a connection, and it MUST NOT send any notification to it.
    pub fn send_notify(&mut self, outgoing: Outgoing) {
        if !self.is_established() {
            return;
        }
        encode_frame(
            &Frame::Notify {
                id: outgoing.id,
                retained: outgoing.retained,
                payload: outgoing.payload,
            },
            &mut self.output,
        );
    }

    /// Closes a healthy session with a `close` frame.
    //= spec/device-channel.md#CHAN-26
    //# A server that closes a healthy session (shutdown, replacement, unregistration,
    //# dead peer) SHOULD send `close` with the reason first.
    pub fn close(&mut self, code: ReasonCode, text: &str) {
        if self.is_closed() {
            return;
        }
        encode_frame(&Frame::close(code, text), &mut self.output);
        self.state = State::Closed;
        self.events.push_back(ServerEvent::Closed {
            code,
            by_peer: false,
        });
    }

    /// Sends an `error` frame and closes.
    //= spec/device-channel.md#CHAN-25
    //# The sender of an `error` frame MUST close the connection right after sending it
    //# and MUST NOT send anything after it.
    pub fn fail(&mut self, code: ReasonCode, text: &str) {
        if self.is_closed() {
            return;
        }
        encode_frame(&Frame::error(code, text), &mut self.output);
        self.state = State::Closed;
        self.events.push_back(ServerEvent::Closed {
            code,
            by_peer: false,
        });
    }

    /// When [`ServerConnection::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        match self.state {
            State::AwaitingHello { deadline } | State::Authenticating { deadline } => {
                Some(deadline)
            }
            //= spec/device-channel.md#CHAN-31
            //# It MUST NOT close the session as
            //# dead before two `keepalive` intervals have passed since then
            State::Established { last_received } => {
                Some(last_received.plus_ms(self.settings.keepalive.millis().saturating_mul(2)))
            }
            State::Closed => None,
        }
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let Some(deadline) = self.poll_timeout() else {
            return;
        };
        if now < deadline {
            return;
        }
        match self.state {
            State::AwaitingHello { .. } | State::Authenticating { .. } => {
                //= spec/device-channel.md#CHAN-8
                //# A server MUST close a connection
                //# that has not delivered a complete `hello` within the hello timeout
                self.fail(ReasonCode::Timeout, "no hello in time");
            }
            State::Established { .. } => {
                //= spec/device-channel.md#CHAN-24
                //# sending `CLOSE` code `timeout` first.
                self.close(
                    ReasonCode::Timeout,
                    "nothing received for two keepalive intervals",
                );
            }
            State::Closed => {}
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
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
