//! The device channel's frames (spec/device-channel.md §3), as the runner writes and reads
//! them: its own small codec, independent of any implementation under test, that can also
//! write frames no conforming peer would (wrong direction, reserved bits, raw octets).

use std::fmt;

/// The largest value of a frame's length field (CHAN-3).
pub const MAX_FRAME_LEN: usize = 8192;

/// Frame types and their names in transcripts.
pub const KINDS: [(u8, &str); 8] = [
    (1, "hello"),
    (2, "welcome"),
    (3, "notify"),
    (4, "ack"),
    (5, "ping"),
    (6, "pong"),
    (7, "error"),
    (8, "close"),
];

/// Reason codes (CHAN-27) and their names.
pub const REASONS: [(u16, &str); 14] = [
    (1, "going-away"),
    (2, "replaced"),
    (3, "timeout"),
    (4, "unregistered"),
    (5, "client-close"),
    (16, "malformed-frame"),
    (17, "frame-too-large"),
    (18, "unexpected-frame"),
    (19, "unsupported-version"),
    (20, "auth-failed"),
    (21, "bad-cursor"),
    (22, "bad-ack"),
    (23, "too-many-connections"),
    (24, "internal-error"),
];

/// The `retained` bit of `notify-flags`.
pub const RETAINED: u8 = 0x01;

/// The name of a reason code, or its number.
pub fn reason_name(code: u16) -> String {
    REASONS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or_else(|| code.to_string(), |(_, n)| (*n).to_owned())
}

/// The code of a reason name.
pub fn reason_code(name: &str) -> Option<u16> {
    REASONS.iter().find(|(_, n)| *n == name).map(|(c, _)| *c)
}

/// A frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// `hello`
    Hello {
        /// min-version
        min: u8,
        /// max-version
        max: u8,
        /// device-token octets
        token: Vec<u8>,
        /// secret octets
        secret: Vec<u8>,
        /// cursor
        cursor: u64,
    },
    /// `welcome`
    Welcome {
        /// version
        version: u8,
        /// cursor
        cursor: u64,
        /// window
        window: u16,
        /// keepalive (seconds)
        keepalive: u16,
    },
    /// `notify`
    Notify {
        /// notification-id
        id: u64,
        /// notify-flags
        flags: u8,
        /// payload octets
        payload: Vec<u8>,
    },
    /// `ack`
    Ack {
        /// notification-id
        id: u64,
    },
    /// `ping`
    Ping,
    /// `pong`
    Pong,
    /// `error`
    Error {
        /// reason-code
        code: u16,
        /// reason-text octets
        reason: Vec<u8>,
    },
    /// `close`
    Close {
        /// reason-code
        code: u16,
        /// reason-text octets
        reason: Vec<u8>,
    },
}

/// A field's value, for patterns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    /// An integer field.
    Int(u64),
    /// An octet-string field.
    Bytes(Vec<u8>),
}

impl Frame {
    /// The frame type's name.
    pub fn kind(&self) -> &'static str {
        match self {
            Frame::Hello { .. } => "hello",
            Frame::Welcome { .. } => "welcome",
            Frame::Notify { .. } => "notify",
            Frame::Ack { .. } => "ack",
            Frame::Ping => "ping",
            Frame::Pong => "pong",
            Frame::Error { .. } => "error",
            Frame::Close { .. } => "close",
        }
    }

    /// A field by its transcript name.
    pub fn field(&self, name: &str) -> Option<Field> {
        Some(match (self, name) {
            (Frame::Hello { min, .. }, "min") => Field::Int(u64::from(*min)),
            (Frame::Hello { max, .. }, "max") => Field::Int(u64::from(*max)),
            (Frame::Hello { token, .. }, "token") => Field::Bytes(token.clone()),
            (Frame::Hello { secret, .. }, "secret") => Field::Bytes(secret.clone()),
            (Frame::Hello { cursor, .. } | Frame::Welcome { cursor, .. }, "cursor") => {
                Field::Int(*cursor)
            }
            (Frame::Welcome { version, .. }, "version") => Field::Int(u64::from(*version)),
            (Frame::Welcome { window, .. }, "window") => Field::Int(u64::from(*window)),
            (Frame::Welcome { keepalive, .. }, "keepalive") => Field::Int(u64::from(*keepalive)),
            (Frame::Notify { id, .. } | Frame::Ack { id }, "id") => Field::Int(*id),
            (Frame::Notify { flags, .. }, "flags") => Field::Int(u64::from(*flags)),
            (Frame::Notify { payload, .. }, "payload") => Field::Bytes(payload.clone()),
            (Frame::Error { code, .. } | Frame::Close { code, .. }, "code") => {
                Field::Int(u64::from(*code))
            }
            (Frame::Error { reason, .. } | Frame::Close { reason, .. }, "reason") => {
                Field::Bytes(reason.clone())
            }
            _ => return None,
        })
    }

    /// The frame on the wire: length, type, body. Lengths of strings are truncated to what
    /// their length fields can say; the runner builds oversize frames with `raw`.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        let short = |body: &mut Vec<u8>, s: &[u8]| {
            let s = &s[..s.len().min(255)];
            body.push(s.len() as u8);
            body.extend_from_slice(s);
        };
        match self {
            Frame::Hello {
                min,
                max,
                token,
                secret,
                cursor,
            } => {
                body.push(1);
                body.push(*min);
                body.push(*max);
                short(&mut body, token);
                short(&mut body, secret);
                body.extend_from_slice(&cursor.to_be_bytes());
            }
            Frame::Welcome {
                version,
                cursor,
                window,
                keepalive,
            } => {
                body.push(2);
                body.push(*version);
                body.extend_from_slice(&cursor.to_be_bytes());
                body.extend_from_slice(&window.to_be_bytes());
                body.extend_from_slice(&keepalive.to_be_bytes());
            }
            Frame::Notify { id, flags, payload } => {
                body.push(3);
                body.extend_from_slice(&id.to_be_bytes());
                body.push(*flags);
                let payload = &payload[..payload.len().min(usize::from(u16::MAX))];
                body.extend_from_slice(&(payload.len() as u16).to_be_bytes());
                body.extend_from_slice(payload);
            }
            Frame::Ack { id } => {
                body.push(4);
                body.extend_from_slice(&id.to_be_bytes());
            }
            Frame::Ping => body.push(5),
            Frame::Pong => body.push(6),
            Frame::Error { code, reason } | Frame::Close { code, reason } => {
                body.push(if matches!(self, Frame::Error { .. }) {
                    7
                } else {
                    8
                });
                body.extend_from_slice(&code.to_be_bytes());
                short(&mut body, reason);
            }
        }
        let mut out = (body.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&body);
        out
    }
}

/// Why a frame body does not follow the grammar.
pub type Malformed = String;

/// Decodes one frame body (type octet and fields), strictly, as CHAN-4 describes.
pub fn decode_body(body: &[u8]) -> Result<Frame, Malformed> {
    let mut r = Reader {
        bytes: body,
        pos: 1,
    };
    let kind = *body.first().ok_or("an empty frame")?;
    let frame = match kind {
        1 => {
            let min = r.u8()?;
            let max = r.u8()?;
            let token = r.short(true)?;
            let secret = r.short(true)?;
            let cursor = r.u64()?;
            if min == 0 || max == 0 || min > max {
                return Err(format!("hello versions {min}..{max}"));
            }
            Frame::Hello {
                min,
                max,
                token,
                secret,
                cursor,
            }
        }
        2 => Frame::Welcome {
            version: r.u8()?,
            cursor: r.u64()?,
            window: r.u16()?,
            keepalive: r.u16()?,
        },
        3 => {
            let id = r.u64()?;
            let flags = r.u8()?;
            let len = usize::from(r.u16()?);
            if len > 4096 {
                return Err(format!("a payload of {len} octets"));
            }
            let payload = r.take(len)?.to_vec();
            if id == 0 {
                return Err("notification id 0".into());
            }
            if flags & !RETAINED != 0 {
                return Err(format!("reserved flag bits set ({flags:#04x})"));
            }
            Frame::Notify { id, flags, payload }
        }
        4 => {
            let id = r.u64()?;
            if id == 0 {
                return Err("ack of id 0".into());
            }
            Frame::Ack { id }
        }
        5 => Frame::Ping,
        6 => Frame::Pong,
        7 | 8 => {
            let code = r.u16()?;
            let reason = r.short(false)?;
            if std::str::from_utf8(&reason).is_err() {
                return Err("a reason text that is not UTF-8".into());
            }
            if kind == 7 {
                Frame::Error { code, reason }
            } else {
                Frame::Close { code, reason }
            }
        }
        other => return Err(format!("unknown frame type {other}")),
    };
    if r.pos != body.len() {
        return Err(format!(
            "{} octets after the last field",
            body.len() - r.pos
        ));
    }
    Ok(frame)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], Malformed> {
        let end = self.pos.checked_add(n).ok_or("length overflow")?;
        let slice = self
            .bytes
            .get(self.pos..end)
            .ok_or_else(|| "the body is shorter than its fields".to_owned())?;
        self.pos = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, Malformed> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u64(&mut self) -> Result<u64, Malformed> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    fn short(&mut self, credential: bool) -> Result<Vec<u8>, Malformed> {
        let len = usize::from(self.u8()?);
        let s = self.take(len)?.to_vec();
        if credential && (s.is_empty() || !s.iter().all(|b| (0x21..=0x7e).contains(b))) {
            return Err("a token or secret that is empty or not printable US-ASCII".into());
        }
        Ok(s)
    }
}

/// What arrived on a device-channel connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    /// A well-formed frame.
    Frame(Frame),
    /// A frame that does not follow the grammar (the connection is read no further).
    Malformed {
        /// Its octets (length field included), at most the first 64.
        octets: Vec<u8>,
        /// Why.
        why: String,
    },
    /// The peer closed the connection.
    Eof,
}

/// Octets as text in transcripts: `"text"` when printable UTF-8, `json:...` for JSON objects,
/// else `hex:...`.
pub fn octets_notation(octets: &[u8]) -> String {
    match std::str::from_utf8(octets) {
        Ok(text)
            if text.starts_with('{') && serde_json::from_str::<serde_json::Value>(text).is_ok() =>
        {
            format!("json:{text}")
        }
        Ok(text) if !text.chars().any(|c| c.is_control()) => {
            format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
        }
        _ => format!("hex:{}", hex::encode(octets)),
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Frame::Hello {
                min,
                max,
                token,
                secret,
                cursor,
            } => write!(
                f,
                "hello min={min} max={max} token={} secret={} cursor={cursor}",
                octets_notation(token),
                octets_notation(secret)
            ),
            Frame::Welcome {
                version,
                cursor,
                window,
                keepalive,
            } => write!(
                f,
                "welcome version={version} cursor={cursor} window={window} keepalive={keepalive}"
            ),
            Frame::Notify { id, flags, payload } => {
                let flags = match *flags {
                    0 => "-".to_owned(),
                    RETAINED => "retained".to_owned(),
                    other => format!("{other}"),
                };
                write!(
                    f,
                    "notify id={id} flags={flags} payload={}",
                    octets_notation(payload)
                )
            }
            Frame::Ack { id } => write!(f, "ack id={id}"),
            Frame::Ping => f.write_str("ping"),
            Frame::Pong => f.write_str("pong"),
            Frame::Error { code, reason } | Frame::Close { code, reason } => write!(
                f,
                "{} code={} reason={}",
                self.kind(),
                reason_name(*code),
                octets_notation(reason)
            ),
        }
    }
}

impl fmt::Display for Received {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Received::Frame(frame) => write!(f, "{frame}"),
            Received::Malformed { octets, why } => {
                write!(f, "malformed ({why}): hex:{}", hex::encode(octets))
            }
            Received::Eof => f.write_str("eof"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let frames = [
            Frame::Hello {
                min: 1,
                max: 1,
                token: b"t".to_vec(),
                secret: b"s".to_vec(),
                cursor: 7,
            },
            Frame::Welcome {
                version: 1,
                cursor: 7,
                window: 16,
                keepalive: 60,
            },
            Frame::Notify {
                id: 9,
                flags: RETAINED,
                payload: b"{}".to_vec(),
            },
            Frame::Ack { id: 9 },
            Frame::Ping,
            Frame::Pong,
            Frame::Error {
                code: 20,
                reason: b"no".to_vec(),
            },
            Frame::Close {
                code: 2,
                reason: Vec::new(),
            },
        ];
        for frame in frames {
            let wire = frame.encode();
            let len = u32::from_be_bytes([wire[0], wire[1], wire[2], wire[3]]) as usize;
            assert_eq!(len, wire.len() - 4);
            assert_eq!(decode_body(&wire[4..]), Ok(frame));
        }
    }

    #[test]
    fn malformed_bodies_are_named() {
        assert!(decode_body(&[3, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0]).is_err());
        assert!(decode_body(&[4, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(decode_body(&[9]).is_err());
        assert!(decode_body(&[5, 0]).is_err());
        assert!(decode_body(&[]).is_err());
    }
}
