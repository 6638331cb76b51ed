//! The payload of a push (PROV-8, PROV-20): the account id and the digests of changed mailboxes.

use std::fmt::{self, Write as _};

use bytes::Bytes;
use md5::{Digest, Md5};

use crate::{Error, MAX_ACCOUNT_ID_LEN, MAX_PAYLOAD_LEN};

/// An account id as a payload carries it (`account-id`, PROV-8): 1 to [`MAX_ACCOUNT_ID_LEN`]
/// octets of UTF-8, opaque. A mail server takes it from `aps-account-id` (XAPS-7 bounds it alike).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

impl AccountId {
    /// Checks the length.
    pub fn new(value: impl Into<String>) -> Result<Self, Error> {
        let value = value.into();
        //= spec/provider-api.md#PROV-8
        //# `account-id` MUST be a string of 1 to 256 octets (in UTF-8)
        if !(1..=MAX_ACCOUNT_ID_LEN).contains(&value.len()) {
            return Err(Error::AccountId(value.len()));
        }
        Ok(Self(value))
    }

    /// The account id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({:?})", self.0)
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The MD5 (RFC 1321) of a mailbox name, as a payload names a changed mailbox (PROV-8, PROV-20);
/// written as 32 lowercase hexadecimal characters. Digests order as their text does.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailboxDigest([u8; 16]);

impl MailboxDigest {
    /// The digest of the octets of `name`, exactly as the client spelled it (PROV-20). Also the
    /// topic of an account (PROV-21, [`crate::Topic::for_account`]).
    pub fn of(name: &[u8]) -> Self {
        Self(Md5::digest(name).into())
    }

    /// The 16 octets of the digest.
    pub fn octets(&self) -> [u8; 16] {
        self.0
    }

    /// Parses 32 lowercase hexadecimal characters.
    pub fn parse(hex: &str) -> Result<Self, Error> {
        let digit = |b: u8| match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            _ => None,
        };
        let octets = hex.as_bytes();
        if octets.len() != 32 {
            return Err(Error::MailboxDigest);
        }
        let mut out = [0u8; 16];
        for (slot, pair) in out.iter_mut().zip(octets.chunks_exact(2)) {
            match (digit(pair[0]), digit(pair[1])) {
                (Some(high), Some(low)) => *slot = high << 4 | low,
                _ => return Err(Error::MailboxDigest),
            }
        }
        Ok(Self(out))
    }
}

impl fmt::Display for MailboxDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for octet in self.0 {
            write!(f, "{octet:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for MailboxDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MailboxDigest({self})")
    }
}

/// A push payload (PROV-8): `{"aps":{"account-id":…,"m":[…]}}` in at most [`MAX_PAYLOAD_LEN`]
/// octets. Built by a mail server with [`Payload::new`] (digests ascending, each once, PROV-20),
/// read by the push server and the device with [`Payload::parse`], which keeps the octets as
/// they came, other members included.
#[derive(Clone, PartialEq, Eq)]
pub struct Payload {
    account_id: AccountId,
    mailboxes: Vec<MailboxDigest>,
    octets: Bytes,
}

/// Octets one digest adds to a payload: 32 hexadecimal characters, two quotes and, after the
/// first, a comma.
const FIRST_DIGEST_LEN: usize = 34;
const NEXT_DIGEST_LEN: usize = 35;

impl Payload {
    /// The payload of `account_id` naming `mailboxes`, ascending and each once (PROV-20).
    /// [`Error::PayloadTooLarge`] when it exceeds [`MAX_PAYLOAD_LEN`] octets; see
    /// [`Payload::capacity`] to split a set beforehand.
    pub fn new(
        account_id: AccountId,
        mailboxes: impl IntoIterator<Item = MailboxDigest>,
    ) -> Result<Self, Error> {
        let mut mailboxes: Vec<MailboxDigest> = mailboxes.into_iter().collect();
        mailboxes.sort_unstable();
        mailboxes.dedup();
        let octets = render(&account_id, &mailboxes);
        if octets.len() > MAX_PAYLOAD_LEN {
            return Err(Error::PayloadTooLarge);
        }
        Ok(Self {
            account_id,
            mailboxes,
            octets: Bytes::from(octets),
        })
    }

    /// How many mailboxes a payload of `account_id` holds within `max_len` octets; 0 when not
    /// even one fits. Every digest takes the same room, so a set of mailboxes splits into
    /// payloads of this many (PROV-20).
    pub fn capacity(account_id: &AccountId, max_len: usize) -> usize {
        let base = render(account_id, &[]).len();
        match max_len.checked_sub(base + FIRST_DIGEST_LEN) {
            Some(room) => 1 + room / NEXT_DIGEST_LEN,
            None => 0,
        }
    }

    /// Reads a received payload: at most [`MAX_PAYLOAD_LEN`] octets of JSON of the shape of
    /// PROV-8.
    pub fn parse(octets: &[u8]) -> Result<Self, Error> {
        if octets.len() > MAX_PAYLOAD_LEN {
            return Err(Error::PayloadTooLarge);
        }
        //= spec/provider-api.md#PROV-8
        //# `aps` MUST be an object; `account-id` MUST be a string of 1 to 256 octets (in UTF-8); `m` MUST
        //# be an array of 0 or more strings, each exactly 32 lowercase hexadecimal characters.
        let value: serde_json::Value =
            serde_json::from_slice(octets).map_err(|_| Error::BadPayload("not JSON"))?;
        let aps = value
            .get("aps")
            .and_then(serde_json::Value::as_object)
            .ok_or(Error::BadPayload("no object \"aps\""))?;
        let account_id = aps
            .get("account-id")
            .and_then(serde_json::Value::as_str)
            .ok_or(Error::BadPayload("no string \"account-id\""))?;
        let account_id = AccountId::new(account_id)
            .map_err(|_| Error::BadPayload("\"account-id\" is not 1 to 256 octets"))?;
        let mailboxes = aps
            .get("m")
            .and_then(serde_json::Value::as_array)
            .ok_or(Error::BadPayload("no array \"m\""))?
            .iter()
            .map(|digest| {
                digest
                    .as_str()
                    .and_then(|d| MailboxDigest::parse(d).ok())
                    .ok_or(Error::BadPayload(
                        "an \"m\" entry is not 32 lowercase hexadecimal characters",
                    ))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            account_id,
            mailboxes,
            octets: Bytes::copy_from_slice(octets),
        })
    }

    /// The account the payload is for.
    pub fn account_id(&self) -> &AccountId {
        &self.account_id
    }

    /// The changed mailboxes, in payload order.
    pub fn mailboxes(&self) -> &[MailboxDigest] {
        &self.mailboxes
    }

    /// The octets of the payload.
    pub fn as_bytes(&self) -> &[u8] {
        &self.octets
    }

    /// The octets of the payload, without copying.
    pub fn to_bytes(&self) -> Bytes {
        self.octets.clone()
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Payload({})", String::from_utf8_lossy(&self.octets))
    }
}

//= spec/provider-api.md#PROV-20
//# A push request MUST carry the account id of the registration as
//# `account-id` and, in `m`, the lowercase hexadecimal MD5 (RFC 1321) of each mailbox name of the
//# pending set, computed over the octets of the name exactly as the client sent it in its
//# registration, each once, in ascending order.
fn render(account_id: &AccountId, mailboxes: &[MailboxDigest]) -> Vec<u8> {
    let account = serde_json::Value::String(account_id.0.clone());
    let mut out = format!("{{\"aps\":{{\"account-id\":{account},\"m\":[");
    for (i, digest) in mailboxes.iter().enumerate() {
        let comma = if i == 0 { "" } else { "," };
        // Writing to a String cannot fail.
        let _ = write!(out, "{comma}\"{digest}\"");
    }
    out.push_str("]}}");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: &str) -> AccountId {
        AccountId::new(id).unwrap()
    }

    #[test]
    fn digests() {
        // RFC 1321 §A.5.
        assert_eq!(
            MailboxDigest::of(b"").to_string(),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert_eq!(
            MailboxDigest::of(b"message digest").to_string(),
            "f96b697d7cb7938d525a2f31aaf161d0"
        );
        let digest = MailboxDigest::of(b"INBOX");
        assert_eq!(MailboxDigest::parse(&digest.to_string()), Ok(digest));
        let upper = digest.to_string().to_ascii_uppercase();
        assert_eq!(MailboxDigest::parse(&upper), Err(Error::MailboxDigest));
        assert_eq!(MailboxDigest::parse("abc"), Err(Error::MailboxDigest));
    }

    #[test]
    fn account_ids() {
        assert_eq!(AccountId::new(""), Err(Error::AccountId(0)));
        assert!(AccountId::new("a".repeat(MAX_ACCOUNT_ID_LEN)).is_ok());
        assert_eq!(
            AccountId::new("a".repeat(MAX_ACCOUNT_ID_LEN + 1)),
            Err(Error::AccountId(257))
        );
        // Octets, not characters: 128 two-octet characters fit, 129 do not.
        assert!(AccountId::new("é".repeat(128)).is_ok());
        assert!(AccountId::new("é".repeat(129)).is_err());
    }

    #[test]
    fn payloads_sort_dedup_and_escape() {
        let (a, b) = (MailboxDigest::of(b"A"), MailboxDigest::of(b"B"));
        let payload = Payload::new(account("a\"c"), [b, a, b]).unwrap();
        let mut expected = [a, b];
        expected.sort();
        assert_eq!(payload.mailboxes(), &expected);
        let text = String::from_utf8(payload.as_bytes().to_vec()).unwrap();
        assert_eq!(
            text,
            format!(
                "{{\"aps\":{{\"account-id\":\"a\\\"c\",\"m\":[\"{}\",\"{}\"]}}}}",
                expected[0], expected[1]
            )
        );
        assert_eq!(Payload::parse(payload.as_bytes()), Ok(payload));
    }

    #[test]
    fn capacity_is_exact() {
        for id in ["a", "acct", &"x".repeat(256), &"\"".repeat(200)] {
            let id = account(id);
            let n = Payload::capacity(&id, MAX_PAYLOAD_LEN);
            let digests: Vec<MailboxDigest> = (0..=n as u32)
                .map(|i| MailboxDigest::of(&i.to_be_bytes()))
                .collect();
            assert!(Payload::new(id.clone(), digests[..n].to_vec()).is_ok());
            assert_eq!(
                Payload::new(id.clone(), digests),
                Err(Error::PayloadTooLarge)
            );
        }
        assert_eq!(Payload::capacity(&account("a"), 10), 0);
    }

    #[test]
    fn received_payloads() {
        let ok =
            br#"{"aps":{"account-id":"x","m":["0123456789abcdef0123456789abcdef"]},"extra":1}"#;
        let payload = Payload::parse(ok).unwrap();
        assert_eq!(payload.account_id().as_str(), "x");
        assert_eq!(payload.as_bytes(), ok, "delivered unchanged");
        assert!(Payload::parse(br#"{"aps":{"account-id":"x","m":[]}}"#).is_ok());
        for bad in [
            &br#"{"aps":{"account-id":"","m":[]}}"#[..],
            br#"{"aps":{"account-id":"x","m":["0123456789ABCDEF0123456789ABCDEF"]}}"#,
            br#"{"aps":{"account-id":"x"}}"#,
            br#"{"aps":{"m":[]}}"#,
            br#"{"aps":[]}"#,
            br#"[]"#,
            b"not json",
        ] {
            assert!(
                matches!(Payload::parse(bad), Err(Error::BadPayload(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            Payload::parse(&[b' '; MAX_PAYLOAD_LEN + 1]),
            Err(Error::PayloadTooLarge)
        );
    }
}
