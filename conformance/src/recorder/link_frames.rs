//! The device channel on the recorded link: frames cut off the stream by their length field
//! (CHAN-3) and written as `devN ->` and `devN <-` steps.

use crate::frames::{Frame, MAX_FRAME_LEN, decode_body};

use super::values::ValueMap;

/// One frame, or octets that are not one.
#[derive(Clone, Debug)]
pub(crate) enum Unit {
    /// A well-formed frame.
    Frame(Frame),
    /// A frame the codec refuses (kept as it came: the peer under test may be judged on it).
    Malformed(Vec<u8>, String),
}

/// Cuts the complete frames off the front of `buffer`; `Err` for a length field no frame can
/// have (the rest of the connection is then not followed).
pub(crate) fn split(buffer: &mut Vec<u8>) -> Result<Vec<Unit>, String> {
    let mut out = Vec::new();
    while let Some(len) = buffer.get(..4) {
        let n = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if n == 0 || n > MAX_FRAME_LEN {
            return Err(format!(
                "a frame length of {n} (1 to {MAX_FRAME_LEN}, CHAN-3)"
            ));
        }
        if buffer.len() < 4 + n {
            break;
        }
        let body: Vec<u8> = buffer[4..4 + n].to_vec();
        buffer.drain(..4 + n);
        out.push(match decode_body(&body) {
            Ok(frame) => Unit::Frame(frame),
            Err(why) => Unit::Malformed(body, why),
        });
    }
    Ok(out)
}

/// Whether a frame is kept: keepalives depend on timing, not on the case, and the runner's
/// device connections answer them.
pub(crate) fn kept(unit: &Unit) -> bool {
    !matches!(unit, Unit::Frame(Frame::Ping | Frame::Pong))
}

/// The step of a frame sent by the device (`->`) or the push server (`<-`).
pub(crate) fn step(device: u32, sent_by_device: bool, unit: &Unit, values: &ValueMap) -> String {
    let arrow = if sent_by_device { "->" } else { "<-" };
    match unit {
        Unit::Frame(frame) => {
            format!(
                "dev{device} {arrow} {}",
                values.substitute(&frame.to_string(), true)
            )
        }
        Unit::Malformed(body, why) if sent_by_device => {
            let mut octets = (body.len() as u32).to_be_bytes().to_vec();
            octets.extend_from_slice(body);
            format!(
                "# not a frame ({why})\ndev{device} -> raw {}",
                hex::encode(&octets)
            )
        }
        Unit::Malformed(_, why) => {
            format!("# dev{device} received something that is not a frame: {why}")
        }
    }
}
