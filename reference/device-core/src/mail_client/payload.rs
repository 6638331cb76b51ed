//! Reading a notification payload of the shape of PROV-8:
//! `{"aps":{"account-id":"<account id>","m":["<md5>", ...]}}`.
//!
//! Kept apart so that it can be replaced by the provider-API types once they exist; the mail
//! client needs only [`parse`] and [`PushPayload`].

use serde_json::Value;

/// A payload of the shape of PROV-8.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushPayload {
    /// `aps.account-id`.
    pub account_id: String,
    /// `aps.m`: the MD5 of each changed mailbox name, in payload order.
    pub mailboxes: Vec<[u8; 16]>,
}

/// Why a payload is not of the shape of PROV-8.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// Not a JSON text (RFC 8259).
    #[error("the payload is not JSON")]
    NotJson,
    /// The payload is not an object with an object `aps`.
    #[error("the payload has no object \"aps\"")]
    NoAps,
    /// `aps.account-id` is missing, not a string, or not 1 to 255 characters.
    #[error("\"aps\".\"account-id\" is not a string of 1 to 255 characters")]
    AccountId,
    /// `aps.m` is missing or not an array.
    #[error("\"aps\".\"m\" is not an array")]
    NoMailboxList,
    /// An entry of `aps.m` is not 32 lowercase hexadecimal characters.
    #[error("an entry of \"aps\".\"m\" is not 32 lowercase hexadecimal characters")]
    MailboxEntry,
}

/// Reads a payload. Members other than those of PROV-8 are allowed and ignored.
pub fn parse(payload: &[u8]) -> Result<PushPayload, PayloadError> {
    let value: Value = serde_json::from_slice(payload).map_err(|_| PayloadError::NotJson)?;
    let aps = value
        .get("aps")
        .and_then(Value::as_object)
        .ok_or(PayloadError::NoAps)?;
    let account_id = aps
        .get("account-id")
        .and_then(Value::as_str)
        .filter(|s| (1..=255).contains(&s.chars().count()))
        .ok_or(PayloadError::AccountId)?;
    let entries = aps
        .get("m")
        .and_then(Value::as_array)
        .ok_or(PayloadError::NoMailboxList)?;
    let mailboxes = entries
        .iter()
        .map(|entry| entry.as_str().and_then(md5_of_hex))
        .collect::<Option<Vec<_>>>()
        .ok_or(PayloadError::MailboxEntry)?;
    Ok(PushPayload {
        account_id: account_id.to_owned(),
        mailboxes,
    })
}

/// Exactly 32 lowercase hexadecimal characters, as PROV-8 requires.
fn md5_of_hex(text: &str) -> Option<[u8; 16]> {
    let lower = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    if text.len() != 32 || !text.bytes().all(lower) {
        return None;
    }
    let mut out = [0u8; 16];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTES: &str = "2a8e6b6ff2a21a2ac15e4d8f0e5bd4b6";

    #[test]
    fn the_shape_of_prov_8_is_read() {
        let text = format!(r#"{{"aps":{{"account-id":"A1","m":["{NOTES}"],"x":1}},"y":[]}}"#);
        let payload = parse(text.as_bytes()).unwrap();
        assert_eq!(payload.account_id, "A1");
        assert_eq!(hex::encode(payload.mailboxes[0]), NOTES);
        let empty = parse(br#"{"aps":{"account-id":"A1","m":[]}}"#).unwrap();
        assert!(empty.mailboxes.is_empty());
    }

    #[test]
    fn other_shapes_are_refused() {
        let long = "a".repeat(256);
        let upper = NOTES.to_uppercase();
        let cases: [(String, PayloadError); 8] = [
            ("".into(), PayloadError::NotJson),
            ("[1]".into(), PayloadError::NoAps),
            (r#"{"aps":[]}"#.into(), PayloadError::NoAps),
            (r#"{"aps":{"m":[]}}"#.into(), PayloadError::AccountId),
            (
                format!(r#"{{"aps":{{"account-id":"{long}","m":[]}}}}"#),
                PayloadError::AccountId,
            ),
            (
                r#"{"aps":{"account-id":"A","m":"x"}}"#.into(),
                PayloadError::NoMailboxList,
            ),
            (
                format!(r#"{{"aps":{{"account-id":"A","m":["{upper}"]}}}}"#),
                PayloadError::MailboxEntry,
            ),
            (
                r#"{"aps":{"account-id":"A","m":[7]}}"#.into(),
                PayloadError::MailboxEntry,
            ),
        ];
        for (text, error) in cases {
            assert_eq!(parse(text.as_bytes()), Err(error), "{text}");
        }
    }
}
