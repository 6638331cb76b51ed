//! The mailpush device channel (spec/device-channel.md): frame types that cannot be built
//! invalid, a nom codec, the per-device offline ring, and sans-IO server- and client-side
//! connection cores. No sockets, no clocks: time is passed in as [`Timestamp`].
#![forbid(unsafe_code)]

pub mod client;
pub mod codec;
mod decoder;
pub mod frame;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod ring;
pub mod server;

pub use codec::{DecodeError, decode_frame, encode_frame, frame_to_vec};
pub use decoder::FrameDecoder;
pub use frame::{
    Credential, Frame, Keepalive, MAX_FRAME_LEN, MAX_PAYLOAD_LEN, NotificationId, Payload,
    ReasonCode, ReasonText, VersionRange, Window,
};

/// Milliseconds since the Unix epoch, as the caller's clock says. Cores never read a clock.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// This time plus `ms` milliseconds, saturating.
    pub fn plus_ms(self, ms: u64) -> Self {
        Self(self.0.saturating_add(ms))
    }
}

/// Values that do not fit the limits of the device channel.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtoError {
    /// A device token or secret must have 1 to 255 octets.
    #[error("credential length {0} is outside 1..=255")]
    CredentialLength(usize),
    /// A device token or secret must be printable US-ASCII.
    #[error("credential has characters outside %x21-7E")]
    CredentialCharacters,
    /// A payload must have at most 4096 octets.
    #[error("payload of {0} octets exceeds 4096")]
    PayloadTooLarge(usize),
    /// Reason text must have at most 255 octets.
    #[error("reason text of {0} octets exceeds 255")]
    ReasonTooLong(usize),
    /// Reason text must be UTF-8.
    #[error("reason text is not UTF-8")]
    ReasonNotUtf8,
    /// The window must be 1 to 1024.
    #[error("window {0} is outside 1..=1024")]
    WindowRange(u16),
    /// The keepalive must be 1 to 3600 seconds.
    #[error("keepalive {0} is outside 1..=3600")]
    KeepaliveRange(u16),
    /// A version range needs `1 <= min <= max`.
    #[error("version range {min}..={max} is empty or starts at 0")]
    VersionRange {
        /// Lowest offered.
        min: u8,
        /// Highest offered.
        max: u8,
    },
    /// Notification ids start at 1.
    #[error("notification id 0")]
    ZeroId,
    /// A topic is 1 to 32 base64url characters.
    #[error("topic must be 1 to 32 characters of A-Z a-z 0-9 - _")]
    BadTopic,
}
