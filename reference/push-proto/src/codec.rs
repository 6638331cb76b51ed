//! nom parser and encoder for device-channel frames. One parser function per ABNF rule of
//! spec/device-channel.md section 3, named after the rule.

use nom::IResult;
use nom::Parser;
use nom::bytes::complete::take;
use nom::combinator::{all_consuming, map_res, verify};
use nom::number::complete::{be_u8, be_u16, be_u64};

use crate::frame::{
    Credential, Frame, Keepalive, MAX_FRAME_LEN, NotificationId, Payload, ReasonCode, ReasonText,
    VersionRange, Window,
};

/// Why a buffer does not (yet) hold a frame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// More octets are needed; at least this many in total.
    #[error("incomplete frame: {needed} octets needed")]
    Incomplete {
        /// Total octets the buffer must hold before trying again.
        needed: usize,
    },
    /// The length field exceeds the maximum; the body was not buffered.
    #[error("frame length {0} exceeds the maximum of {MAX_FRAME_LEN}")]
    TooLarge(u32),
    /// The frame does not match the grammar.
    #[error("malformed frame")]
    Failed,
}

/// Decodes one frame from the start of `input`, returning it and the octets it used.
///
/// Only the 4-octet length is looked at before the whole frame is present, so a caller that
/// buffers until [`DecodeError::Incomplete`] is satisfied never buffers more than
/// `4 + MAX_FRAME_LEN` octets.
//= spec/device-channel.md#CHAN-3
//# A receiver MUST reject a frame
//# whose length field exceeds 8192 as soon as the 4 length octets have been read, without buffering
//# any of its body
pub fn decode_frame(input: &[u8]) -> Result<(Frame, usize), DecodeError> {
    let Some(length_octets) = input.get(..4) else {
        return Err(DecodeError::Incomplete { needed: 4 });
    };
    let mut length = [0u8; 4];
    length.copy_from_slice(length_octets);
    let length = u32::from_be_bytes(length);
    if length > MAX_FRAME_LEN {
        return Err(DecodeError::TooLarge(length));
    }
    //= spec/device-channel.md#CHAN-2
    //# A length of 0 is malformed.
    if length == 0 {
        return Err(DecodeError::Failed);
    }
    let total = usize::try_from(length)
        .ok()
        .and_then(|length| length.checked_add(4))
        .ok_or(DecodeError::TooLarge(length))?;
    let Some(body) = input.get(4..total) else {
        return Err(DecodeError::Incomplete { needed: total });
    };
    //= spec/device-channel.md#CHAN-4
    //# A receiver MUST NOT act on any part of a
    //# malformed frame
    match all_consuming(frame_body).parse(body) {
        Ok((_, frame)) => Ok((frame, total)),
        Err(_) => Err(DecodeError::Failed),
    }
}

/// `frame-body = hello / welcome / notify / ack / ping / pong / error / close`
pub fn frame_body(input: &[u8]) -> IResult<&[u8], Frame> {
    let (input, frame_type) = be_u8(input)?;
    match frame_type {
        0x01 => hello(input),
        0x02 => welcome(input),
        0x03 => notify(input),
        0x04 => ack(input),
        0x05 => Ok((input, Frame::Ping)),
        0x06 => Ok((input, Frame::Pong)),
        0x07 => reason(input).map(|(rest, (code, text))| (rest, Frame::Error { code, text })),
        0x08 => reason(input).map(|(rest, (code, text))| (rest, Frame::Close { code, text })),
        _ => Err(nom::Err::Error(nom::error::Error::new(
            input,
            nom::error::ErrorKind::Switch,
        ))),
    }
}

/// `hello = %x01 min-version max-version device-token secret cursor` (after the type octet)
pub fn hello(input: &[u8]) -> IResult<&[u8], Frame> {
    let (input, versions) =
        map_res((be_u8, be_u8), |(min, max)| VersionRange::new(min, max)).parse(input)?;
    let (input, token) = device_token(input)?;
    let (input, secret) = secret(input)?;
    let (input, cursor) = cursor(input)?;
    Ok((
        input,
        Frame::Hello {
            versions,
            token,
            secret,
            cursor,
        },
    ))
}

/// `device-token = short-len 1*255OCTET`
pub fn device_token(input: &[u8]) -> IResult<&[u8], Credential> {
    credential(input)
}

/// `secret = short-len 1*255OCTET`
pub fn secret(input: &[u8]) -> IResult<&[u8], Credential> {
    credential(input)
}

fn credential(input: &[u8]) -> IResult<&[u8], Credential> {
    map_res(short_bytes, |octets: &[u8]| {
        let text =
            std::str::from_utf8(octets).map_err(|_| crate::ProtoError::CredentialCharacters)?;
        Credential::new(text)
    })
    .parse(input)
}

/// `cursor = u64`
pub fn cursor(input: &[u8]) -> IResult<&[u8], u64> {
    be_u64(input)
}

/// `welcome = %x02 version cursor window keepalive` (after the type octet)
pub fn welcome(input: &[u8]) -> IResult<&[u8], Frame> {
    let (input, version) = verify(be_u8, |v| *v != 0).parse(input)?;
    let (input, cursor) = cursor(input)?;
    let (input, window) = map_res(be_u16, Window::new).parse(input)?;
    let (input, keepalive) = map_res(be_u16, Keepalive::from_secs).parse(input)?;
    Ok((
        input,
        Frame::Welcome {
            version,
            cursor,
            window,
            keepalive,
        },
    ))
}

/// `notify = %x03 notification-id notify-flags payload` (after the type octet)
pub fn notify(input: &[u8]) -> IResult<&[u8], Frame> {
    let (input, id) = notification_id(input)?;
    let (input, retained) = notify_flags(input)?;
    let (input, payload) = payload(input)?;
    Ok((
        input,
        Frame::Notify {
            id,
            retained,
            payload,
        },
    ))
}

/// `notification-id = u64` (1 to 2^64-1)
pub fn notification_id(input: &[u8]) -> IResult<&[u8], NotificationId> {
    map_res(be_u64, |id| {
        NotificationId::new(id).ok_or(crate::ProtoError::ZeroId)
    })
    .parse(input)
}

/// `notify-flags = OCTET`: bit 0 is `retained`, the others must be zero.
pub fn notify_flags(input: &[u8]) -> IResult<&[u8], bool> {
    let (input, flags) = verify(be_u8, |flags| flags & !0x01 == 0).parse(input)?;
    Ok((input, flags & 0x01 != 0))
}

/// `payload = payload-len *4096OCTET`
pub fn payload(input: &[u8]) -> IResult<&[u8], Payload> {
    let (input, length) = be_u16(input)?;
    map_res(take(length), |octets: &[u8]| Payload::new(octets)).parse(input)
}

/// `ack = %x04 notification-id` (after the type octet)
pub fn ack(input: &[u8]) -> IResult<&[u8], Frame> {
    let (input, id) = notification_id(input)?;
    Ok((input, Frame::Ack { id }))
}

/// `reason-code reason-text`, shared by `error` and `close`.
fn reason(input: &[u8]) -> IResult<&[u8], (ReasonCode, ReasonText)> {
    let (input, code) = reason_code(input)?;
    let (input, text) = reason_text(input)?;
    Ok((input, (code, text)))
}

/// `reason-code = u16`
pub fn reason_code(input: &[u8]) -> IResult<&[u8], ReasonCode> {
    let (input, code) = be_u16(input)?;
    Ok((input, ReasonCode::from_u16(code)))
}

/// `reason-text = short-len *255OCTET` (UTF-8)
pub fn reason_text(input: &[u8]) -> IResult<&[u8], ReasonText> {
    map_res(short_bytes, |octets: &[u8]| {
        let text = std::str::from_utf8(octets).map_err(|_| crate::ProtoError::ReasonNotUtf8)?;
        ReasonText::new(text)
    })
    .parse(input)
}

/// `short-len` followed by that many octets.
fn short_bytes(input: &[u8]) -> IResult<&[u8], &[u8]> {
    let (input, length) = be_u8(input)?;
    take(length).parse(input)
}

/// Appends the encoding of `frame` to `out`.
pub fn encode_frame(frame: &Frame, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.push(frame.type_octet());
    match frame {
        Frame::Hello {
            versions,
            token,
            secret,
            cursor,
        } => {
            out.push(versions.min());
            out.push(versions.max());
            put_short(out, token.as_str().as_bytes());
            put_short(out, secret.as_str().as_bytes());
            out.extend_from_slice(&cursor.to_be_bytes());
        }
        Frame::Welcome {
            version,
            cursor,
            window,
            keepalive,
        } => {
            out.push(*version);
            out.extend_from_slice(&cursor.to_be_bytes());
            out.extend_from_slice(&window.get().to_be_bytes());
            out.extend_from_slice(&keepalive.secs().to_be_bytes());
        }
        Frame::Notify {
            id,
            retained,
            payload,
        } => {
            out.extend_from_slice(&id.get().to_be_bytes());
            out.push(u8::from(*retained));
            // Payload::new bounds the length to 4096, which fits in u16.
            let length = u16::try_from(payload.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&length.to_be_bytes());
            out.extend_from_slice(payload.as_bytes());
        }
        Frame::Ack { id } => out.extend_from_slice(&id.get().to_be_bytes()),
        Frame::Ping | Frame::Pong => {}
        Frame::Error { code, text } | Frame::Close { code, text } => {
            out.extend_from_slice(&code.to_u16().to_be_bytes());
            put_short(out, text.as_str().as_bytes());
        }
    }
    // Every field is bounded by its type, so the body stays far below MAX_FRAME_LEN.
    let length = u32::try_from(out.len() - start - 4).unwrap_or(u32::MAX);
    out[start..start + 4].copy_from_slice(&length.to_be_bytes());
}

/// The encoding of `frame` as a new vector.
pub fn frame_to_vec(frame: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(frame, &mut out);
    out
}

fn put_short(out: &mut Vec<u8>, octets: &[u8]) {
    // Credential and ReasonText bound their length to 255.
    out.push(u8::try_from(octets.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(octets);
}
