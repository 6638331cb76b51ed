//! The push notification server's device side, in process: the real push-proto
//! [`ServerConnection`] and [`DeviceRing`] cores, with the hub's decisions (authenticate, open
//! the ring's session, send what the ring holds, apply acks) done here for one device.

use mailpush_device_core::mail_client::{ConnectionId, Timestamp};
use mailpush_push_proto::ring::{DeviceRing, RingError};
use mailpush_push_proto::server::{ServerConnection, ServerEvent, ServerSettings};
use mailpush_push_proto::{Keepalive, NotificationId, Payload, ReasonCode, Window};

use super::{DEVICE_SECRET, DEVICE_TOKEN};

pub struct PushServer {
    pub ring: DeviceRing,
    pub capacity: usize,
    pub token: String,
    pub secret: String,
    /// False after unregistration: `hello` gets `auth-failed`.
    pub registered: bool,
    /// False: connection attempts fail.
    pub reachable: bool,
    /// True: the server reads but never answers (a dead server behind a live socket).
    pub mute: bool,
    pub settings: ServerSettings,
    /// Every ack received, in order.
    pub acks: Vec<u64>,
    /// Every `hello` cursor received, in order.
    pub hellos: Vec<u64>,
    conn: Option<(ConnectionId, ServerConnection)>,
}

impl PushServer {
    pub fn new(capacity: usize) -> Self {
        Self {
            ring: DeviceRing::new(capacity),
            capacity,
            token: DEVICE_TOKEN.into(),
            secret: DEVICE_SECRET.into(),
            registered: true,
            reachable: true,
            mute: false,
            settings: ServerSettings {
                keepalive: Keepalive::from_secs(60).unwrap(),
                window: Window::new(16).unwrap(),
                ..ServerSettings::default()
            },
            acks: Vec::new(),
            hellos: Vec::new(),
            conn: None,
        }
    }

    /// A provider's push: accepted into the ring (RING-1..5). Returns its id.
    pub fn push(&mut self, payload: &[u8], now: Timestamp) -> u64 {
        let accepted = self
            .ring
            .accept(now, 86_400, None, Payload::new(payload.to_vec()).unwrap())
            .unwrap();
        accepted.id.get()
    }

    pub fn online(&self) -> bool {
        self.conn.as_ref().is_some_and(|(_, c)| c.is_established())
    }

    pub fn open(&mut self, conn: ConnectionId, now: Timestamp) {
        self.close_current();
        self.conn = Some((conn, ServerConnection::new(self.settings, now)));
    }

    pub fn close(&mut self, conn: ConnectionId) {
        if self.conn.as_ref().is_some_and(|(c, _)| *c == conn) {
            self.close_current();
        }
    }

    fn close_current(&mut self) {
        if self.conn.take().is_some() {
            self.ring.close_session();
        }
    }

    /// The server unregisters the device (PROV-16): `close unregistered` on its session.
    pub fn unregister(&mut self) -> Option<(ConnectionId, Vec<u8>)> {
        self.registered = false;
        let (conn, mut c) = self.conn.take()?;
        self.ring.close_session();
        c.close(ReasonCode::Unregistered, "unregistered");
        Some((conn, c.poll_transmit().unwrap_or_default()))
    }

    /// The server loses its state (restored from an old backup): ids start again.
    pub fn lose_state(&mut self) {
        self.close_current();
        self.ring = DeviceRing::new(self.capacity);
    }

    pub fn input(&mut self, conn: ConnectionId, octets: &[u8], now: Timestamp) -> (Vec<u8>, bool) {
        let Some((current, c)) = &mut self.conn else {
            return (Vec::new(), true);
        };
        if *current != conn {
            return (Vec::new(), true);
        }
        if self.mute {
            return (Vec::new(), false);
        }
        c.handle_input(octets, now);
        self.pump(now)
    }

    pub fn poll_timeout(&self) -> Option<Timestamp> {
        if self.mute {
            return None;
        }
        self.conn.as_ref().and_then(|(_, c)| c.poll_timeout())
    }

    pub fn handle_timeout(&mut self, now: Timestamp) -> Option<(ConnectionId, Vec<u8>, bool)> {
        if self.mute {
            return None;
        }
        let (conn, c) = self.conn.as_mut()?;
        let conn = *conn;
        c.handle_timeout(now);
        let (octets, closed) = self.pump(now);
        Some((conn, octets, closed))
    }

    /// Sends what the ring holds on the established session.
    pub fn flush(&mut self, now: Timestamp) -> Option<(ConnectionId, Vec<u8>)> {
        let conn = self.conn.as_ref()?.0;
        let (octets, _) = self.pump(now);
        Some((conn, octets))
    }

    fn pump(&mut self, now: Timestamp) -> (Vec<u8>, bool) {
        let Some((_, c)) = &mut self.conn else {
            return (Vec::new(), true);
        };
        while let Some(event) = c.poll_event() {
            match event {
                ServerEvent::Hello {
                    version,
                    token,
                    secret,
                    cursor,
                } => {
                    self.hellos.push(cursor);
                    let known = token.as_str() == self.token && secret.as_str() == self.secret;
                    if !(known && self.registered) {
                        c.reject(ReasonCode::AuthFailed, "authentication failed");
                        continue;
                    }
                    match self.ring.open_session(cursor, self.settings.window) {
                        Ok(_) => c.accept(version, self.ring.meta().cursor, now),
                        Err(RingError::BadCursor { .. }) => {
                            c.reject(ReasonCode::BadCursor, "cursor ahead of the server")
                        }
                        Err(_) => c.reject(ReasonCode::InternalError, "ring"),
                    }
                }
                ServerEvent::Ack(id) => {
                    self.acks.push(id.get());
                    if self.ring.ack(id).is_err() {
                        c.fail(ReasonCode::BadAck, "ack of something never sent");
                    }
                }
                ServerEvent::Closed { .. } => self.ring.close_session(),
                _ => {}
            }
        }
        if c.is_established() {
            while let (Some(outgoing), _) = self.ring.poll_send(now) {
                c.send_notify(outgoing);
            }
        }
        let octets = c.poll_transmit().unwrap_or_default();
        let closed = c.is_closed();
        if closed {
            self.conn = None;
            self.ring.close_session();
        }
        (octets, closed)
    }

    pub fn last_id(&self) -> u64 {
        self.ring.meta().last_id
    }

    pub fn id(n: u64) -> NotificationId {
        NotificationId::new(n).unwrap()
    }
}
