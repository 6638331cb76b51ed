//! A buffering frame decoder for byte streams.

use crate::codec::{DecodeError, decode_frame};
use crate::frame::{Frame, MAX_WIRE_FRAME_LEN};

/// Accumulates stream octets and yields whole frames. After an error it yields that error
/// forever: a stream that broke framing cannot be resynchronized.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buffer: Vec<u8>,
    failed: Option<DecodeError>,
}

impl FrameDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends octets read from the stream.
    pub fn extend(&mut self, octets: &[u8]) {
        if self.failed.is_none() {
            self.buffer.extend_from_slice(octets);
        }
    }

    /// Octets buffered and not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// The most octets a caller should read before calling [`FrameDecoder::next_frame`] again,
    /// so that the buffer never holds more than one maximum-size frame beyond what is decoded.
    pub fn read_hint(&self) -> usize {
        MAX_WIRE_FRAME_LEN.saturating_sub(self.buffer.len()).max(1)
    }

    /// The next whole frame, `None` if more octets are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, DecodeError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        match decode_frame(&self.buffer) {
            Ok((frame, used)) => {
                self.buffer.drain(..used);
                Ok(Some(frame))
            }
            Err(DecodeError::Incomplete { .. }) => Ok(None),
            Err(error) => {
                self.buffer = Vec::new();
                self.failed = Some(error.clone());
                Err(error)
            }
        }
    }
}
