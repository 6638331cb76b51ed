//! Oracles of the fuzz targets in `fuzz/` (and of the property tests), compiled only with the
//! `fuzzing` feature: they are test equipment, not API. Each takes arbitrary octets and returns a
//! description of the first property it finds broken.
//!
//! * [`check_roundtrip`]: the codec (`push_frame`);
//! * [`check_server_connection`]: [`ServerConnection`] fed arbitrary client octets
//!   (`push_server_conn`);
//! * [`check_client_connection`]: [`ClientConnection`] fed arbitrary server octets, against a
//!   model of what the client must do with each frame (`push_client_conn`).

use std::collections::{BTreeSet, VecDeque};

use crate::Timestamp;
use crate::client::{ClientConnection, ClientEvent, WELCOME_TIMEOUT_MS};
use crate::codec::{DecodeError, decode_frame, encode_frame, frame_to_vec};
use crate::decoder::FrameDecoder;
use crate::frame::{
    Credential, Frame, Keepalive, MAX_WIRE_FRAME_LEN, NotificationId, PROTOCOL_VERSION, ReasonCode,
    Window,
};
use crate::ring::Outgoing;
use crate::server::{ServerConnection, ServerEvent, ServerSettings};

/// The most octets a connection may hold undecoded: one maximum-size frame and its length.
const MAX_BUFFERED: usize = MAX_WIRE_FRAME_LEN;

/// Checks the fuzz properties on arbitrary input: decoding never panics, whatever decodes
/// re-encodes to the same octets and decodes to the same frame, and feeding the input in two
/// pieces gives the same result as feeding it whole. Returns a description of the first
/// violation. Used by the fuzz targets and the property tests.
pub fn check_roundtrip(input: &[u8]) -> Result<(), String> {
    let whole = decode_frame(input);
    if let Ok((frame, used)) = &whole {
        let encoded = frame_to_vec(frame);
        if encoded != input[..*used] {
            return Err(format!("re-encoding {frame:?} changed the octets"));
        }
        match decode_frame(&encoded) {
            Ok((again, n)) if &again == frame && n == encoded.len() => {}
            other => return Err(format!("re-decoding {frame:?} gave {other:?}")),
        }
    }
    for split in 0..input.len().min(64) {
        let mut decoder = FrameDecoder::new();
        decoder.extend(&input[..split]);
        let early = decoder.next_frame();
        decoder.extend(&input[split..]);
        let result = match early {
            Ok(Some(frame)) => Ok(Some(frame)),
            Ok(None) => decoder.next_frame(),
            Err(error) => Err(error),
        };
        let expected = match &whole {
            Ok((frame, _)) => Ok(Some(frame.clone())),
            Err(DecodeError::Incomplete { .. }) => Ok(None),
            Err(error) => Err(error.clone()),
        };
        if result != expected {
            return Err(format!("split at {split}: {result:?} != {expected:?}"));
        }
    }
    Ok(())
}

/// Drives a [`ServerConnection`] with arbitrary client octets (the first octet picks the chunk
/// size) and checks what it sends: well-formed frames only, `welcome` only after a `hello` and at
/// most once, and nothing at all after an `error` or `close`. Returns the first violation. Used by
/// the `push_server_conn` fuzz target and the tests.
pub fn check_server_connection(input: &[u8]) -> Result<(), String> {
    let Some((&chunk, rest)) = input.split_first() else {
        return Ok(());
    };
    let chunk = usize::from(chunk % 64) + 1;
    let mut now = Timestamp(0);
    let mut connection = ServerConnection::new(ServerSettings::default(), now);
    let mut output = Vec::new();
    let mut hellos = 0usize;
    for piece in rest.chunks(chunk) {
        now = now.plus_ms(u64::from(piece[0]) * 100);
        connection.handle_timeout(now);
        connection.handle_input(piece, now);
        while let Some(event) = connection.poll_event() {
            match event {
                ServerEvent::Hello {
                    version, cursor, ..
                } => {
                    hellos += 1;
                    connection.accept(version, cursor, now);
                }
                ServerEvent::Ack(id) => connection.send_notify(Outgoing {
                    id,
                    retained: false,
                    payload: crate::Payload::default(),
                }),
                ServerEvent::Closed { .. } => {}
            }
        }
        if let Some(octets) = connection.poll_transmit() {
            output.extend(octets);
        }
        if connection.buffered() > MAX_BUFFERED {
            return Err(format!("{} octets buffered", connection.buffered()));
        }
    }
    let mut decoder = FrameDecoder::new();
    decoder.extend(&output);
    let mut welcomes = 0usize;
    let mut ended = false;
    loop {
        let frame = match decoder.next_frame() {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(error) => return Err(format!("server sent an undecodable frame: {error}")),
        };
        if ended {
            return Err(format!("{frame:?} after error or close"));
        }
        if !frame.is_server_frame() {
            return Err(format!("server sent client frame {frame:?}"));
        }
        match frame {
            Frame::Welcome { .. } => welcomes += 1,
            Frame::Notify { .. } if welcomes == 0 => {
                return Err("notify before welcome".into());
            }
            Frame::Error { .. } | Frame::Close { .. } => ended = true,
            _ => {}
        }
    }
    if welcomes > hellos.min(1) {
        return Err(format!("{welcomes} welcomes for {hellos} hellos"));
    }
    if decoder.buffered() != 0 {
        return Err("server output ends in a partial frame".into());
    }
    Ok(())
}

/// What the model expects the client to do with one server frame.
#[derive(Debug, Default)]
struct Expected {
    /// Notification ids handed on, in order.
    handed_on: Vec<u64>,
    /// Ids acknowledged again as duplicates, in order.
    reacked: Vec<u64>,
    /// How the client closes, if it does: the code, and whether it closed by itself (and so
    /// sent `error`) rather than because the server sent `close` or `error`.
    closed: Option<(ReasonCode, bool)>,
    /// The session was established (with its cursor).
    established: Option<u64>,
}

/// The client as the spec describes it, one frame at a time.
#[derive(Debug)]
struct ClientModel {
    established: bool,
    open: bool,
    window: usize,
    processed: u64,
    last_notify: u64,
    unacked: VecDeque<u64>,
    /// Every notification id the server sent while the client was open.
    received: BTreeSet<u64>,
}

impl ClientModel {
    fn close(&mut self, out: &mut Expected, code: ReasonCode, by_itself: bool) {
        self.open = false;
        out.closed = Some((code, by_itself));
    }

    fn item(&mut self, item: Result<Frame, DecodeError>, out: &mut Expected) {
        if !self.open {
            return;
        }
        let frame = match item {
            Ok(frame) => frame,
            Err(DecodeError::TooLarge(_)) => {
                return self.close(out, ReasonCode::FrameTooLarge, true);
            }
            Err(_) => return self.close(out, ReasonCode::MalformedFrame, true),
        };
        match frame {
            Frame::Close { code, .. } | Frame::Error { code, .. } => self.close(out, code, false),
            Frame::Welcome {
                version,
                cursor,
                window,
                ..
            } if !self.established => {
                if version != PROTOCOL_VERSION {
                    return self.close(out, ReasonCode::UnsupportedVersion, true);
                }
                self.established = true;
                self.window = usize::from(window.get());
                self.processed = self.processed.max(cursor);
                out.established = Some(cursor);
            }
            Frame::Notify { id, .. } if self.established => {
                let id = id.get();
                self.received.insert(id);
                if id <= self.last_notify {
                    return self.close(out, ReasonCode::UnexpectedFrame, true);
                }
                self.last_notify = id;
                if id <= self.processed {
                    out.reacked.push(id);
                } else if self.unacked.len() >= self.window {
                    self.close(out, ReasonCode::UnexpectedFrame, true);
                } else {
                    self.unacked.push_back(id);
                    out.handed_on.push(id);
                }
            }
            Frame::Pong if self.established => {}
            _ => self.close(out, ReasonCode::UnexpectedFrame, true),
        }
    }

    /// Whether acknowledging `id` is allowed, and its effect on the model if so.
    fn ack(&mut self, id: u64) -> bool {
        if !self.open || !self.unacked.contains(&id) {
            return false;
        }
        while self.unacked.front().is_some_and(|&u| u <= id) {
            self.unacked.pop_front();
        }
        self.processed = self.processed.max(id);
        true
    }
}

fn decode_all(octets: Option<Vec<u8>>) -> Result<Vec<Frame>, String> {
    let mut decoder = FrameDecoder::new();
    decoder.extend(&octets.unwrap_or_default());
    let mut frames = Vec::new();
    while let Some(frame) = decoder
        .next_frame()
        .map_err(|e| format!("client sent an undecodable frame: {e}"))?
    {
        frames.push(frame);
    }
    if decoder.buffered() != 0 {
        return Err("client output ends in a partial frame".into());
    }
    Ok(frames)
}

/// Drives a [`ClientConnection`] with arbitrary server octets and checks it against a model of
/// the spec's client: it never panics; it hands on exactly the notifications the model does, in
/// order, never one at or below its cursor or twice (CHAN-18, CHAN-22); it acknowledges only ids
/// it received (CHAN-20) and acknowledges duplicates again; any malformed, oversize or unexpected
/// frame, a version it did not offer, or more notifications than the window closes it with the
/// `error` the spec names (CHAN-3, CHAN-4, CHAN-6, CHAN-22, CHAN-30, CHAN-33), while a `close` or
/// `error` from the server closes it silently (CHAN-25); it sends only well-formed client
/// frames, `hello` first and nothing after closing; and it never holds more than one frame's
/// octets undecoded, nor more unacknowledged notifications than the window.
///
/// The first octet picks the chunk size (low 6 bits), whether the input is preceded by a valid
/// `welcome` (bit 7) and whether notifications are acknowledged at once or in pairs with stray
/// acknowledgements tried in between (bit 6); the second picks the client's cursor (low 4 bits)
/// and that `welcome`'s cursor (high 4 bits). Each chunk advances time by its first octet
/// times 100 ms, so keepalives, dead-server detection and the welcome timeout happen too.
pub fn check_client_connection(input: &[u8]) -> Result<(), String> {
    let [mode, cursors, rest @ ..] = input else {
        return Ok(());
    };
    let chunk = usize::from(mode & 0x3f) + 1;
    let acks_in_pairs = mode & 0x40 != 0;
    let mut stream = Vec::new();
    if mode & 0x80 != 0 {
        let window = Window::new(2).map_err(|e| e.to_string())?;
        encode_frame(
            &Frame::Welcome {
                version: PROTOCOL_VERSION,
                cursor: u64::from(cursors >> 4),
                window,
                keepalive: Keepalive::DEFAULT,
            },
            &mut stream,
        );
    }
    stream.extend_from_slice(rest);
    let credential = |text: &str| Credential::new(text).map_err(|e| e.to_string());
    let cursor = u64::from(cursors & 0x0f);
    let started = Timestamp(0);
    let mut now = started;
    let mut client = ClientConnection::new(credential("tok")?, credential("sec")?, cursor, now);
    match decode_all(client.poll_transmit())?.as_slice() {
        [Frame::Hello { cursor: sent, .. }] if *sent == cursor => {}
        other => return Err(format!("the client began with {other:?}, not its hello")),
    }
    let mut model = ClientModel {
        established: false,
        open: true,
        window: 0,
        processed: cursor,
        last_notify: 0,
        unacked: VecDeque::new(),
        received: BTreeSet::new(),
    };
    let mut reference = FrameDecoder::new();
    let mut waiting_ack: Option<NotificationId> = None;
    for piece in stream.chunks(chunk) {
        now = now.plus_ms(u64::from(piece[0]) * 100);
        let was_established = client.is_established();
        client.handle_timeout(now);
        let after_timeout = decode_all(client.poll_transmit())?;
        if client.is_closed() && model.open {
            // Only silence ends a connection on time: a welcome that never came, or a ping
            // that went unanswered. Neither sends anything.
            let on_time = if was_established {
                after_timeout.is_empty()
            } else {
                now >= started.plus_ms(WELCOME_TIMEOUT_MS) && after_timeout.is_empty()
            };
            match client.poll_event() {
                Some(ClientEvent::Closed {
                    code: ReasonCode::Timeout,
                    by_peer: false,
                }) if on_time => {}
                other => return Err(format!("timeout at {now:?} gave {other:?}")),
            }
            model.open = false;
        } else if !matches!(after_timeout.as_slice(), [] | [Frame::Ping]) {
            return Err(format!("a timeout sent {after_timeout:?}"));
        }
        if !model.open {
            // A closed client reads nothing and sends nothing more.
            client.handle_input(piece, now);
            if client.poll_transmit().is_some() || client.poll_event().is_some() {
                return Err("the client acted after closing".into());
            }
            continue;
        }

        client.handle_input(piece, now);
        reference.extend(piece);
        let mut expected = Expected::default();
        loop {
            match reference.next_frame() {
                Ok(Some(frame)) => model.item(Ok(frame), &mut expected),
                Ok(None) => break,
                Err(error) => {
                    model.item(Err(error), &mut expected);
                    break;
                }
            }
            if !model.open {
                break;
            }
        }

        // Events: exactly the model's, in order.
        let mut handed_on = Vec::new();
        let mut closed = None;
        while let Some(event) = client.poll_event() {
            if closed.is_some() {
                return Err(format!("{event:?} after Closed"));
            }
            match event {
                ClientEvent::Established { cursor, .. } => {
                    if expected.established != Some(cursor) || !handed_on.is_empty() {
                        return Err(format!("unexpected Established (cursor {cursor})"));
                    }
                    expected.established = None;
                }
                ClientEvent::Notification { id, .. } => handed_on.push(id),
                ClientEvent::Closed { code, by_peer } => closed = Some((code, !by_peer)),
            }
        }
        if expected.established.is_some() {
            return Err("the session was not established".into());
        }
        let handed_ids: Vec<u64> = handed_on.iter().map(|id| id.get()).collect();
        if handed_ids != expected.handed_on {
            return Err(format!(
                "handed on {handed_ids:?}, expected {:?}",
                expected.handed_on
            ));
        }
        if closed != expected.closed {
            return Err(format!("closed {closed:?}, expected {:?}", expected.closed));
        }

        // Output: the duplicates acknowledged again, then the error if the client failed.
        let mut wanted: Vec<Frame> = Vec::new();
        for id in &expected.reacked {
            let id = NotificationId::new(*id).ok_or("re-ack of id 0")?;
            wanted.push(Frame::Ack { id });
        }
        let sent = decode_all(client.poll_transmit())?;
        let (body, error) = match (expected.closed, sent.split_last()) {
            (
                Some((code, true)),
                Some((
                    Frame::Error {
                        code: sent_code, ..
                    },
                    body,
                )),
            ) => {
                if *sent_code != code {
                    return Err(format!("error {sent_code:?}, expected {code:?}"));
                }
                (body, true)
            }
            (Some((_, true)), _) => return Err(format!("closed without an error: {sent:?}")),
            _ => (sent.as_slice(), false),
        };
        if body != wanted.as_slice() {
            return Err(format!(
                "sent {sent:?}, expected {wanted:?} (error: {error})"
            ));
        }
        if client.is_closed() == model.open
            || client.is_established() != (model.open && model.established)
        {
            return Err(format!("state differs from the model: {model:?}"));
        }

        // Acknowledge what was handed on: at once, or in pairs with stray acks between.
        for id in handed_on {
            if acks_in_pairs {
                let stray = [
                    id.get().saturating_add(1),
                    model.processed,
                    id.get().saturating_sub(1),
                ];
                for stray in stray.into_iter().filter_map(NotificationId::new) {
                    check_ack(&mut client, &mut model, stray, now)?;
                }
                match waiting_ack.take() {
                    None => waiting_ack = Some(id),
                    Some(_) => check_ack(&mut client, &mut model, id, now)?,
                }
            } else {
                check_ack(&mut client, &mut model, id, now)?;
            }
        }

        if client.buffered() > MAX_BUFFERED {
            return Err(format!("{} octets buffered", client.buffered()));
        }
        if model.established && client.unacked() > model.window {
            return Err(format!("{} unacknowledged notifications", client.unacked()));
        }
        if client.cursor() != model.processed {
            return Err(format!(
                "cursor {} but {} processed",
                client.cursor(),
                model.processed
            ));
        }
    }
    Ok(())
}

/// Acknowledges `id` and checks that the client sends an `ack` exactly when the model allows,
/// and only of an id it received.
fn check_ack(
    client: &mut ClientConnection,
    model: &mut ClientModel,
    id: NotificationId,
    now: Timestamp,
) -> Result<(), String> {
    let allowed = model.ack(id.get());
    let queued = client.ack(id, now);
    let sent = decode_all(client.poll_transmit())?;
    let expected = if allowed {
        vec![Frame::Ack { id }]
    } else {
        Vec::new()
    };
    if queued != allowed || sent != expected {
        return Err(format!("ack({id}) sent {sent:?}, expected {expected:?}"));
    }
    if allowed && !model.received.contains(&id.get()) {
        return Err(format!("acknowledged {id}, never received"));
    }
    Ok(())
}
