//! Device-channel frame types. Every type checks its limits on construction, so a [`Frame`] that
//! exists can always be encoded, and encodes to something the parser accepts.

use std::fmt;
use std::num::NonZeroU64;

use crate::ProtoError;

/// The largest value a frame's length field may carry.
//= spec/device-channel.md#CHAN-3
//# The maximum frame length is 8192 octets.
pub const MAX_FRAME_LEN: u32 = 8192;

/// The most octets one frame takes on the wire: its length field and the longest body. (A `u32`
/// always fits a `usize` on the targets this crate builds for.)
pub(crate) const MAX_WIRE_FRAME_LEN: usize = 4 + MAX_FRAME_LEN as usize;

/// The largest notification payload, in octets.
//= spec/device-channel.md#CHAN-5
//# A notification payload is an opaque sequence of 0 to 4096 octets,
pub const MAX_PAYLOAD_LEN: usize = 4096;

/// The only wire version this crate speaks.
pub const PROTOCOL_VERSION: u8 = 1;

/// A device token or secret as carried in `hello`: 1 to 255 printable US-ASCII octets.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Credential(String);

impl Credential {
    /// Checks the ABNF limits (`1*255` octets of `%x21-7E`).
    pub fn new(value: impl Into<String>) -> Result<Self, ProtoError> {
        let value = value.into();
        if value.is_empty() || value.len() > 255 {
            return Err(ProtoError::CredentialLength(value.len()));
        }
        if !value.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(ProtoError::CredentialCharacters);
        }
        Ok(Self(value))
    }

    /// The credential's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets share this type; never print their contents into logs.
        write!(f, "Credential({} octets)", self.0.len())
    }
}

impl fmt::Display for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A notification payload: 0 to [`MAX_PAYLOAD_LEN`] opaque octets.
#[derive(Clone, PartialEq, Eq, Default, Hash)]
pub struct Payload(Vec<u8>);

impl Payload {
    /// Checks the size limit.
    pub fn new(octets: impl Into<Vec<u8>>) -> Result<Self, ProtoError> {
        let octets = octets.into();
        if octets.len() > MAX_PAYLOAD_LEN {
            return Err(ProtoError::PayloadTooLarge(octets.len()));
        }
        Ok(Self(octets))
    }

    /// The payload octets.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Number of octets.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty payload (a marker notification carries one).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(&self.0) {
            Ok(text) => write!(f, "Payload({text:?})"),
            Err(_) => write!(f, "Payload({} octets)", self.0.len()),
        }
    }
}

/// Human-readable text of an `error` or `close` frame: UTF-8, at most 255 octets.
#[derive(Clone, PartialEq, Eq, Default, Debug, Hash)]
pub struct ReasonText(String);

impl ReasonText {
    /// Checks the length limit.
    pub fn new(text: impl Into<String>) -> Result<Self, ProtoError> {
        let text = text.into();
        if text.len() > 255 {
            return Err(ProtoError::ReasonTooLong(text.len()));
        }
        Ok(Self(text))
    }

    /// Builds a reason from text that may be too long, cutting it at a character boundary.
    pub fn truncated(text: &str) -> Self {
        let mut end = text.len().min(255);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        Self(text[..end].to_owned())
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A notification id: per device, strictly increasing, never zero.
pub type NotificationId = NonZeroU64;

/// The in-flight window announced in `welcome`: 1 to 1024.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, PartialOrd, Ord)]
pub struct Window(u16);

impl Window {
    /// The default window of the spec.
    //= spec/device-channel.md#CHAN-17
    //# The window is configured on the server (16 by default, 1 to 1024).
    pub const DEFAULT: Window = Window(16);

    /// Checks the range.
    pub fn new(value: u16) -> Result<Self, ProtoError> {
        if (1..=1024).contains(&value) {
            Ok(Self(value))
        } else {
            Err(ProtoError::WindowRange(value))
        }
    }

    /// The window size.
    pub fn get(self) -> u16 {
        self.0
    }
}

/// The keepalive interval announced in `welcome`: 1 to 3600 seconds.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, PartialOrd, Ord)]
pub struct Keepalive(u16);

impl Keepalive {
    /// The default interval: one minute.
    pub const DEFAULT: Keepalive = Keepalive(60);

    /// Checks the range.
    pub fn from_secs(secs: u16) -> Result<Self, ProtoError> {
        if (1..=3600).contains(&secs) {
            Ok(Self(secs))
        } else {
            Err(ProtoError::KeepaliveRange(secs))
        }
    }

    /// The interval in seconds.
    pub fn secs(self) -> u16 {
        self.0
    }

    /// The interval in milliseconds.
    pub fn millis(self) -> u64 {
        u64::from(self.0) * 1000
    }
}

/// The version range a client offers: `1 <= min <= max`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct VersionRange {
    min: u8,
    max: u8,
}

impl VersionRange {
    /// Checks `1 <= min <= max`.
    pub fn new(min: u8, max: u8) -> Result<Self, ProtoError> {
        if min == 0 || min > max {
            return Err(ProtoError::VersionRange { min, max });
        }
        Ok(Self { min, max })
    }

    /// The lowest version offered.
    pub fn min(self) -> u8 {
        self.min
    }

    /// The highest version offered.
    pub fn max(self) -> u8 {
        self.max
    }

    /// The highest version in the range that is also in `supported`.
    //= spec/device-channel.md#CHAN-9
    //# The server MUST choose the highest version it implements that lies in
    //# `min-version` to `max-version` inclusive
    pub fn negotiate(self, supported: VersionRange) -> Option<u8> {
        let high = self.max.min(supported.max);
        let low = self.min.max(supported.min);
        (low <= high).then_some(high)
    }
}

/// Reason codes of `error` and `close` frames (spec/device-channel.md, CHAN-27).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
#[non_exhaustive]
pub enum ReasonCode {
    /// 1: the server is shutting down.
    GoingAway,
    /// 2: a newer session of the same device took over.
    Replaced,
    /// 3: hello timeout or dead peer.
    Timeout,
    /// 4: the device was unregistered.
    Unregistered,
    /// 5: the client is closing.
    ClientClose,
    /// 16: a frame did not match the grammar.
    MalformedFrame,
    /// 17: a frame's length exceeds the maximum.
    FrameTooLarge,
    /// 18: a frame in the wrong direction or state.
    UnexpectedFrame,
    /// 19: no common version.
    UnsupportedVersion,
    /// 20: the token or secret did not authenticate.
    AuthFailed,
    /// 21: the resume cursor is ahead of the server.
    BadCursor,
    /// 22: an ack of something never sent.
    BadAck,
    /// 23: a connection limit was reached.
    TooManyConnections,
    /// 24: the server failed.
    InternalError,
    /// Any other code; receivers treat it like `internal-error`.
    Unknown(u16),
}

impl ReasonCode {
    /// The code on the wire.
    pub fn to_u16(self) -> u16 {
        match self {
            Self::GoingAway => 1,
            Self::Replaced => 2,
            Self::Timeout => 3,
            Self::Unregistered => 4,
            Self::ClientClose => 5,
            Self::MalformedFrame => 16,
            Self::FrameTooLarge => 17,
            Self::UnexpectedFrame => 18,
            Self::UnsupportedVersion => 19,
            Self::AuthFailed => 20,
            Self::BadCursor => 21,
            Self::BadAck => 22,
            Self::TooManyConnections => 23,
            Self::InternalError => 24,
            Self::Unknown(code) => code,
        }
    }

    /// The code for a wire value.
    //= spec/device-channel.md#CHAN-27
    //# a receiver MUST accept any code,
    //# treating an unknown one like `internal-error`.
    pub fn from_u16(code: u16) -> Self {
        match code {
            1 => Self::GoingAway,
            2 => Self::Replaced,
            3 => Self::Timeout,
            4 => Self::Unregistered,
            5 => Self::ClientClose,
            16 => Self::MalformedFrame,
            17 => Self::FrameTooLarge,
            18 => Self::UnexpectedFrame,
            19 => Self::UnsupportedVersion,
            20 => Self::AuthFailed,
            21 => Self::BadCursor,
            22 => Self::BadAck,
            23 => Self::TooManyConnections,
            24 => Self::InternalError,
            other => Self::Unknown(other),
        }
    }

    /// The name the spec gives the code.
    pub fn name(self) -> &'static str {
        match self {
            Self::GoingAway => "going-away",
            Self::Replaced => "replaced",
            Self::Timeout => "timeout",
            Self::Unregistered => "unregistered",
            Self::ClientClose => "client-close",
            Self::MalformedFrame => "malformed-frame",
            Self::FrameTooLarge => "frame-too-large",
            Self::UnexpectedFrame => "unexpected-frame",
            Self::UnsupportedVersion => "unsupported-version",
            Self::AuthFailed => "auth-failed",
            Self::BadCursor => "bad-cursor",
            Self::BadAck => "bad-ack",
            Self::TooManyConnections => "too-many-connections",
            Self::InternalError | Self::Unknown(_) => "internal-error",
        }
    }
}

/// A device-channel frame (spec/device-channel.md, section 3).
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Frame {
    /// Client → server: version offer, credentials, resume cursor.
    Hello {
        /// Versions the client speaks.
        versions: VersionRange,
        /// The device token.
        token: Credential,
        /// The device secret.
        secret: Credential,
        /// Highest id the device has acknowledged; 0 for none.
        cursor: u64,
    },
    /// Server → client: the session is established.
    Welcome {
        /// The negotiated version.
        version: u8,
        /// The effective cursor.
        cursor: u64,
        /// Maximum notifications in flight.
        window: Window,
        /// Keepalive interval.
        keepalive: Keepalive,
    },
    /// Server → client: one notification.
    Notify {
        /// Its id.
        id: NotificationId,
        /// Something was held, dropped, expired or replaced while the device was away.
        retained: bool,
        /// Opaque payload.
        payload: Payload,
    },
    /// Client → server: cumulative acknowledgement.
    Ack {
        /// Every id at or below this one is acknowledged.
        id: NotificationId,
    },
    /// Client → server keepalive.
    Ping,
    /// Server → client keepalive answer.
    Pong,
    /// A protocol error; the sender closes.
    Error {
        /// Why.
        code: ReasonCode,
        /// Human-readable detail.
        text: ReasonText,
    },
    /// A graceful close; the sender closes.
    Close {
        /// Why.
        code: ReasonCode,
        /// Human-readable detail.
        text: ReasonText,
    },
}

impl Frame {
    /// The frame type octet.
    pub fn type_octet(&self) -> u8 {
        match self {
            Self::Hello { .. } => 0x01,
            Self::Welcome { .. } => 0x02,
            Self::Notify { .. } => 0x03,
            Self::Ack { .. } => 0x04,
            Self::Ping => 0x05,
            Self::Pong => 0x06,
            Self::Error { .. } => 0x07,
            Self::Close { .. } => 0x08,
        }
    }

    /// True for the frames a client may send.
    //= spec/device-channel.md#CHAN-6
    //# A client MUST only send `hello`, `ack`, `ping`, `error` and `close`.
    pub fn is_client_frame(&self) -> bool {
        matches!(
            self,
            Self::Hello { .. }
                | Self::Ack { .. }
                | Self::Ping
                | Self::Error { .. }
                | Self::Close { .. }
        )
    }

    /// True for the frames a server may send.
    //= spec/device-channel.md#CHAN-6
    //# A
    //# server MUST only send `welcome`, `notify`, `pong`, `error` and `close`.
    pub fn is_server_frame(&self) -> bool {
        matches!(
            self,
            Self::Welcome { .. }
                | Self::Notify { .. }
                | Self::Pong
                | Self::Error { .. }
                | Self::Close { .. }
        )
    }

    /// An `error` frame with a short text.
    pub fn error(code: ReasonCode, text: &str) -> Self {
        Self::Error {
            code,
            text: ReasonText::truncated(text),
        }
    }

    /// A `close` frame with a short text.
    pub fn close(code: ReasonCode, text: &str) -> Self {
        Self::Close {
            code,
            text: ReasonText::truncated(text),
        }
    }
}
