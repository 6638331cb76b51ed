//! The oracle of the `device_mail_client` fuzz target: a mail client with registered tokens and
//! a device, fed arbitrary octets as the server's on its push-registration IMAP connection and on
//! its device channel (optionally after a well-formed start). It reports a violation when:
//!
//! * anything panics, whatever the servers send;
//! * the mail client writes on a connection after it asked for it to be closed;
//! * a connection on which the server sent something that is not its protocol (an IMAP greeting
//!   or tagged line the codec cannot read, a reply over the caps, a malformed or oversize frame)
//!   is not closed;
//! * the servers' octets change the device's state: the token table, the stored token serial
//!   and the device credentials stay as they were, and nothing but registered tokens is woken.
//!
//! Not public API: built only with the `fuzzing` feature.

use std::collections::{BTreeSet, HashMap, HashSet};

use mailpush_imap::framer::{Frame as ImapFrame, Framer};
use mailpush_imap::{Decode, Decoded, Greeting, Response};
use mailpush_push_proto::frame::PROTOCOL_VERSION;
use mailpush_push_proto::{
    Credential, DecodeError, Frame, Keepalive, Window, decode_frame, frame_to_vec,
};

use super::{
    AccountConfig, ConnectionId, DeviceCredentials, Event, MailClient, MailClientConfig,
    MailboxName, PollInterval, Record, Restored,
};
use crate::imap_client::{AuthMechanism, Credentials, ImapClientConfig, Security};
use crate::{AccountId, Timestamp, Token};

/// Runs the oracle and panics on a violation (for the fuzz target).
pub fn fuzz_device_mail_client(data: &[u8]) {
    if let Err(violation) = check_mail_client(data) {
        // A fuzz oracle reports a broken property by panicking: that is its job.
        #[allow(clippy::panic)]
        {
            panic!("{violation}");
        }
    }
}

/// Which connection a piece of input goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Imap,
    Channel,
}

/// Runs the oracle on `data`: the first octet picks the size of the pieces (low six bits) and
/// whether the IMAP connection (bit 6) and the device channel (bit 7) start well-formed; the
/// pieces then go alternately to the device channel and the IMAP connection.
pub fn check_mail_client(data: &[u8]) -> Result<(), String> {
    let Some((&pick, rest)) = data.split_first() else {
        return Ok(());
    };
    let chunk = usize::from(pick & 0x3f) + 1;
    let mut h = Harness::new()?;
    let mut prefix = HashMap::new();
    if pick & 0x40 != 0 {
        prefix.insert(
            Kind::Imap,
            b"* OK [CAPABILITY IMAP4rev1] hi\r\nA1 OK [CAPABILITY IMAP4rev1 XAPPLEPUSHSERVICE] in\r\n"
                .to_vec(),
        );
    }
    if pick & 0x80 != 0 {
        let window = Window::new(4).map_err(|e| e.to_string())?;
        prefix.insert(
            Kind::Channel,
            frame_to_vec(&Frame::Welcome {
                version: PROTOCOL_VERSION,
                cursor: 0,
                window,
                keepalive: Keepalive::DEFAULT,
            }),
        );
    }
    h.drain()?;
    for (i, piece) in rest.chunks(chunk).enumerate() {
        let kind = if i % 2 == 0 {
            Kind::Channel
        } else {
            Kind::Imap
        };
        h.now = h.now.plus_ms(u64::from(piece[0] % 8) * 1000);
        h.feed(kind, piece, &mut prefix)?;
        h.client.handle_timeout(h.now);
        h.drain()?;
    }
    h.check_dropped()?;
    // The servers hang up.
    for (conn, kind) in h.open.clone() {
        match kind {
            Kind::Imap => h.client.handle_imap_closed(conn, h.now),
            Kind::Channel => h.client.handle_channel_closed(conn, h.now),
        }
    }
    h.drain()?;
    h.check_state()
}

struct Harness {
    client: MailClient,
    now: Timestamp,
    tokens: Vec<(Token, AccountId, MailboxName)>,
    /// Open connections and their kind.
    open: HashMap<ConnectionId, Kind>,
    closed: HashSet<ConnectionId>,
    /// Everything each connection was given, in order.
    delivered: HashMap<ConnectionId, (Kind, Vec<u8>)>,
    setup_done: bool,
}

impl Harness {
    fn new() -> Result<Self, String> {
        let account = AccountId::new("fuzz-account").map_err(|e| e.to_string())?;
        let imap = ImapClientConfig::new(
            Security::Plaintext,
            AuthMechanism::Login,
            Credentials {
                username: "fred".into(),
                password: b"secret".to_vec(),
            },
        );
        let config = MailClientConfig::new(
            vec![AccountConfig {
                poll_interval: PollInterval::DEFAULT,
                id: account.clone(),
                imap,
            }],
            7,
        );
        let credential = |text: &str| Credential::new(text).map_err(|e| e.to_string());
        let device = DeviceCredentials {
            token: credential("fuzz-device-token")?,
            secret: credential("fuzz-device-secret")?,
        };
        let restored = Restored {
            device: Some((device, 0)),
            ..Restored::default()
        };
        let now = Timestamp(1_700_000_000_000);
        let mut client = MailClient::new(config, restored, now).map_err(|e| e.to_string())?;
        let names = ["Notes", "Work"]
            .iter()
            .map(|n| MailboxName::new(*n).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        client
            .register(&account, &names, now)
            .map_err(|e| e.to_string())?;
        let mut h = Harness {
            client,
            now,
            tokens: Vec::new(),
            open: HashMap::new(),
            closed: HashSet::new(),
            delivered: HashMap::new(),
            setup_done: false,
        };
        h.drain()?;
        h.tokens = h.token_table();
        if h.tokens.len() != 2 {
            return Err(format!("setup registered {:?}", h.tokens));
        }
        h.setup_done = true;
        Ok(h)
    }

    fn token_table(&self) -> Vec<(Token, AccountId, MailboxName)> {
        let mut v: Vec<_> = self
            .client
            .tokens()
            .map(|(t, a, m)| (t.clone(), a.clone(), m.clone()))
            .collect();
        v.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        v
    }

    /// Gives `piece` to the open connection of `kind`, after its well-formed start if any.
    fn feed(
        &mut self,
        kind: Kind,
        piece: &[u8],
        prefix: &mut HashMap<Kind, Vec<u8>>,
    ) -> Result<(), String> {
        let Some(conn) = self.open.iter().find(|(_, k)| **k == kind).map(|(c, _)| *c) else {
            return Ok(());
        };
        let mut octets = prefix.remove(&kind).unwrap_or_default();
        octets.extend_from_slice(piece);
        self.delivered
            .entry(conn)
            .or_insert_with(|| (kind, Vec::new()))
            .1
            .extend_from_slice(&octets);
        match kind {
            Kind::Imap => self.client.handle_imap_input(conn, &octets, self.now),
            Kind::Channel => self.client.handle_channel_input(conn, &octets, self.now),
        }
        Ok(())
    }

    /// Does what the mail client asks, checking what it says.
    fn drain(&mut self) -> Result<(), String> {
        let registered: BTreeSet<Token> = self.tokens.iter().map(|t| t.0.clone()).collect();
        while let Some(event) = self.client.poll_event() {
            match event {
                Event::Persist(batch) => {
                    for record in &batch.records {
                        let durable = matches!(
                            record,
                            Record::TokenAdded(_)
                                | Record::TokenRemoved(_)
                                | Record::NextSerial(_)
                                | Record::Device(_)
                        );
                        if durable && self.setup_done {
                            return Err(format!("server octets made the client store {record:?}"));
                        }
                    }
                    self.client.handle_persisted(batch.ticket, self.now);
                }
                Event::Wake(token) if self.setup_done && !registered.contains(&token) => {
                    return Err(format!("woke {token}, which is not registered"));
                }
                Event::ImapConnect { conn, .. } => {
                    self.open.insert(conn, Kind::Imap);
                    self.client.handle_imap_connected(conn, self.now);
                }
                Event::ChannelConnect { conn } => {
                    self.open.insert(conn, Kind::Channel);
                    self.client.handle_channel_connected(conn, self.now);
                }
                Event::ImapStartTls { conn } => {
                    return Err(format!("STARTTLS on {conn:?}, configured without TLS"));
                }
                Event::ImapTransmit { conn, .. } | Event::ChannelTransmit { conn, .. }
                    if self.closed.contains(&conn) =>
                {
                    return Err(format!("sent on {conn:?} after closing it"));
                }
                Event::ImapClose { conn } | Event::ChannelClose { conn } => {
                    self.open.remove(&conn);
                    self.closed.insert(conn);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Every connection that was sent something not of its protocol was closed.
    fn check_dropped(&self) -> Result<(), String> {
        for (conn, (kind, octets)) in &self.delivered {
            let broken = match kind {
                Kind::Imap => imap_broken(octets),
                Kind::Channel => channel_broken(octets),
            };
            if let Some(what) = broken
                && !self.closed.contains(conn)
            {
                return Err(format!("{conn:?} stays open after {what}"));
            }
        }
        Ok(())
    }

    /// The device's state is what the setup left.
    fn check_state(&self) -> Result<(), String> {
        let now = self.token_table();
        if now != self.tokens {
            return Err(format!("tokens {:?} became {now:?}", self.tokens));
        }
        Ok(())
    }
}

/// What, if anything, in the IMAP server's octets is not IMAP (with the client's caps).
fn imap_broken(octets: &[u8]) -> Option<String> {
    let limits = ImapClientConfig::new(
        Security::Plaintext,
        AuthMechanism::Login,
        Credentials {
            username: String::new(),
            password: Vec::new(),
        },
    )
    .limits;
    let mut framer = Framer::new(limits);
    framer.push(octets);
    let mut first = true;
    while let Some(frame) = framer.next_frame() {
        let message = match frame {
            ImapFrame::Message(m) => m,
            ImapFrame::LiteralAnnounced { .. } => continue,
            ImapFrame::Rejected { error, .. } => {
                return Some(format!("a reply over the caps: {error}"));
            }
        };
        let complete = |used: usize| used == message.len();
        if first {
            first = false;
            match Greeting::decode(&message) {
                Decoded::Complete(_, used) if complete(used) => continue,
                _ => return Some("a greeting that is not one".into()),
            }
        }
        match Response::decode(&message) {
            Decoded::Complete(_, used) if complete(used) => {}
            // Untagged lines the codec does not know are skipped, not fatal.
            _ if message.starts_with(b"* ") => {}
            _ => return Some("a reply that is not IMAP".into()),
        }
    }
    None
}

/// What, if anything, in the push server's octets is not a frame.
fn channel_broken(mut octets: &[u8]) -> Option<String> {
    loop {
        match decode_frame(octets) {
            Ok((_, used)) => octets = &octets[used..],
            Err(DecodeError::Incomplete { .. }) => return None,
            Err(e) => return Some(format!("a bad frame: {e}")),
        }
    }
}
