//! The client end of one IMAP connection at the level of octets: commands out (tags, literals
//! waiting for `+`), responses in (framed under caps, decoded by the codec). What the responses
//! mean is the engine's business.

use std::collections::VecDeque;

use mailpush_imap::framer::{Frame, Framer, FramerConfig};
use mailpush_imap::{
    AuthenticateData, Command, CommandBody, Decode, Decoded, Encode, EncodeOptions, Greeting,
    Response, Tag,
};

use super::config::Limits;
use super::error::Error;

/// A message from the server.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// The first message of the connection.
    Greeting(Greeting),
    /// Anything after it.
    Response(Response),
}

/// Octets to send; after `then_wait` the rest waits for a continuation request.
#[derive(Debug)]
struct Segment {
    bytes: Vec<u8>,
    then_wait: bool,
}

/// One connection's framing, decoding and command encoding.
#[derive(Debug)]
pub(crate) struct Wire {
    framer: Framer,
    greeted: bool,
    out: Vec<u8>,
    held: VecDeque<Segment>,
    blocked: bool,
    next_tag: u64,
    literal_plus: bool,
    /// Octets received and sent on this connection.
    pub(crate) rx: u64,
    pub(crate) tx: u64,
}

impl Wire {
    /// A fresh connection (also after TLS: nothing read before it is kept).
    pub(crate) fn new(limits: &Limits, greeted: bool) -> Self {
        // The content fetch asks for at most `max_message_octets + 1` octets of a message
        // (SYNC-14); other literals in replies (names, strings) are small.
        let max_literal = limits.max_message_octets.saturating_add(1).max(64 * 1024);
        let framer = Framer::new(FramerConfig {
            max_line: limits.max_line,
            max_literal,
            max_message: limits.max_line.saturating_add(max_literal as usize),
        });
        Wire {
            framer,
            greeted,
            out: Vec::new(),
            held: VecDeque::new(),
            blocked: false,
            next_tag: 1,
            literal_plus: false,
            rx: 0,
            tx: 0,
        }
    }

    /// Whether literals may be sent without waiting for `+` (the server offers LITERAL+).
    pub(crate) fn set_literal_plus(&mut self, on: bool) {
        self.literal_plus = on;
    }

    /// Octets from the server.
    pub(crate) fn receive(&mut self, data: &[u8]) {
        self.rx += data.len() as u64;
        self.framer.push(data);
    }

    /// The next complete message, if one has arrived.
    pub(crate) fn next(&mut self) -> Result<Option<Incoming>, Error> {
        loop {
            match self.framer.next_frame() {
                None => return Ok(None),
                Some(Frame::LiteralAnnounced { .. }) => {}
                Some(Frame::Rejected { error, .. }) => return Err(Error::Limit(error.to_string())),
                Some(Frame::Message(bytes)) => return self.decode(&bytes).map(Some),
            }
        }
    }

    fn decode(&mut self, bytes: &[u8]) -> Result<Incoming, Error> {
        let malformed = |what: &str, detail: String| {
            let head = String::from_utf8_lossy(&bytes[..bytes.len().min(80)]).into_owned();
            Error::Malformed(format!("{what}: {detail} (reply starts {head:?})"))
        };
        if !self.greeted {
            return match Greeting::decode(bytes) {
                Decoded::Complete(g, used) if used == bytes.len() => {
                    self.greeted = true;
                    Ok(Incoming::Greeting(g))
                }
                Decoded::Failed { message, .. } => Err(malformed("greeting", message)),
                _ => Err(malformed("greeting", "incomplete".into())),
            };
        }
        match Response::decode(bytes) {
            Decoded::Complete(r, used) if used == bytes.len() => Ok(Incoming::Response(r)),
            Decoded::Complete(..) => Err(malformed("response", "data after the end".into())),
            Decoded::Failed { message, .. } => Err(malformed("response", message)),
            Decoded::Incomplete | Decoded::LiteralFound { .. } => {
                Err(malformed("response", "incomplete".into()))
            }
        }
    }

    /// Queues a command and returns its tag.
    pub(crate) fn send(&mut self, body: CommandBody) -> Tag {
        let tag = self.tag();
        let encoded = Command::new(tag.clone(), body).encode_with(EncodeOptions {
            literal_plus: self.literal_plus,
        });
        let chunks = encoded.chunks();
        let last = chunks.len().saturating_sub(1);
        for (i, chunk) in chunks.into_iter().enumerate() {
            self.held.push_back(Segment {
                bytes: chunk.to_vec(),
                then_wait: i < last,
            });
        }
        self.flush();
        tag
    }

    /// Queues the line answering an AUTHENTICATE continuation request.
    pub(crate) fn send_authenticate_data(&mut self, data: AuthenticateData) {
        self.held.push_back(Segment {
            bytes: data.to_bytes(),
            then_wait: false,
        });
        self.flush();
    }

    /// A continuation request arrived: releases a literal that waits for it. `false` when none
    /// does (the engine decides what else it may mean).
    pub(crate) fn continuation(&mut self) -> bool {
        if !self.blocked {
            return false;
        }
        self.blocked = false;
        self.flush();
        true
    }

    fn flush(&mut self) {
        while !self.blocked {
            let Some(seg) = self.held.pop_front() else {
                break;
            };
            self.out.extend_from_slice(&seg.bytes);
            self.blocked = seg.then_wait;
        }
    }

    fn tag(&mut self) -> Tag {
        let n = self.next_tag;
        self.next_tag += 1;
        // Invariant: "d" followed by digits always matches the tag rule.
        #[allow(clippy::expect_used)]
        Tag::new(format!("d{n}")).expect("d<digits> is a valid tag")
    }

    /// Octets to write, if any.
    pub(crate) fn take_output(&mut self) -> Option<Vec<u8>> {
        if self.out.is_empty() {
            None
        } else {
            self.tx += self.out.len() as u64;
            Some(std::mem::take(&mut self.out))
        }
    }
}
