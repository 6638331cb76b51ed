//! The header fields of a push request (PROV-4..PROV-6, PROV-8, PROV-28, PROV-29).

use std::fmt;
use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::payload::AccountId;
use crate::{Error, MailboxDigest};

/// The header field names of the provider API, each defined once. The others are the `http`
/// crate's (`AUTHORIZATION`, `CONTENT_TYPE`, `CONTENT_LENGTH`, `LOCATION`, `RETRY_AFTER`,
/// `WWW_AUTHENTICATE`, `ALLOW`), re-exported here so that one module names them all.
pub mod header {
    use http::header::HeaderName;

    pub use http::header::{
        ALLOW, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RETRY_AFTER, WWW_AUTHENTICATE,
    };

    /// `TTL` (RFC 8030 §5.2, PROV-4): in a push request and in its `201` answer.
    pub const TTL: HeaderName = HeaderName::from_static("ttl");
    /// `Topic` (RFC 8030 §5.4, PROV-5).
    pub const TOPIC: HeaderName = HeaderName::from_static("topic");
    /// `Urgency` (RFC 8030 §5.3, PROV-6).
    pub const URGENCY: HeaderName = HeaderName::from_static("urgency");

    /// The media type of payloads and error bodies (PROV-8, PROV-13).
    pub const APPLICATION_JSON: &str = "application/json";
}

/// The value of the one field line named `name`: `Ok(None)` when there is none, `Err(())` when
/// there are several or the value is not visible US-ASCII (PROV-28).
pub(crate) fn singleton<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'a str>, ()> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(());
    }
    value.to_str().map(|v| Some(v.trim())).map_err(|_| ())
}

/// A `TTL`: seconds, 0 to 4294967295 (`ttl-value`, PROV-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ttl(u32);

impl Ttl {
    /// Thirty days: the push server's default maximum (PROV-4) and the longest TTL a mail server
    /// sends (PROV-22).
    pub const THIRTY_DAYS: Ttl = Ttl(30 * 24 * 60 * 60);

    /// `secs` seconds.
    pub const fn from_secs(secs: u32) -> Self {
        Self(secs)
    }

    /// The whole seconds of `duration`, at most 4294967295.
    pub fn from_duration(duration: Duration) -> Self {
        Self(u32::try_from(duration.as_secs()).unwrap_or(u32::MAX))
    }

    /// Parses `ttl-value`: 1 to 10 digits, at most 4294967295.
    pub fn parse(value: &str) -> Result<Self, Error> {
        //= spec/provider-api.md#PROV-4
        //# A push request MUST carry a `TTL` header field whose value is a decimal number of seconds
        //# (`ttl-value`).
        if !(1..=10).contains(&value.len()) || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::BadTtl);
        }
        value.parse::<u32>().map(Self).map_err(|_| Error::BadTtl)
    }

    /// The seconds.
    pub const fn secs(self) -> u32 {
        self.0
    }

    /// As a duration.
    pub fn as_duration(self) -> Duration {
        Duration::from_secs(u64::from(self.0))
    }

    /// The field value.
    pub fn to_header_value(self) -> HeaderValue {
        HeaderValue::from(self.0)
    }
}

/// A `Topic`: 1 to 32 characters of the base64url alphabet (`topic-value`, PROV-5).
#[derive(Clone, PartialEq, Eq, Debug, Hash, PartialOrd, Ord)]
pub struct Topic(String);

impl Topic {
    /// Longest topic, in characters.
    pub const MAX_LEN: usize = 32;

    /// Checks the syntax of `topic-value`.
    pub fn new(value: impl Into<String>) -> Result<Self, Error> {
        let value = value.into();
        let alphabet = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        if value.is_empty() || value.len() > Self::MAX_LEN || !value.bytes().all(alphabet) {
            return Err(Error::BadTopic);
        }
        Ok(Self(value))
    }

    /// The topic a mail server sends for an account: the lowercase hexadecimal MD5 of its account
    /// id (PROV-21).
    pub fn for_account(account_id: &AccountId) -> Self {
        //= spec/provider-api.md#PROV-21
        //# The mail server SHOULD send a `Topic` equal to the lowercase hexadecimal MD5
        //# of the account id
        Self(MailboxDigest::of(account_id.as_str().as_bytes()).to_string())
    }

    /// The topic text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The field value.
    pub fn to_header_value(&self) -> HeaderValue {
        // The base64url alphabet holds only visible US-ASCII, always a valid field value.
        HeaderValue::from_str(&self.0).unwrap_or_else(|_| HeaderValue::from_static("-"))
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The `Urgency` of a push request (RFC 8030 §5.3, PROV-6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Urgency {
    /// `very-low`
    VeryLow,
    /// `low`: flag changes and expunges alone (PROV-24).
    Low,
    /// `normal`: the default, and what a new message gets (PROV-24).
    #[default]
    Normal,
    /// `high`
    High,
}

impl Urgency {
    /// Every urgency, lowest first.
    pub const ALL: [Urgency; 4] = [
        Urgency::VeryLow,
        Urgency::Low,
        Urgency::Normal,
        Urgency::High,
    ];

    /// The field value (`urgency-value`).
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::VeryLow => "very-low",
            Urgency::Low => "low",
            Urgency::Normal => "normal",
            Urgency::High => "high",
        }
    }

    /// Parses `urgency-value` (case-sensitive, as its `%s` strings say).
    pub fn parse(value: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|u| u.as_str() == value)
            .ok_or(Error::BadUrgency)
    }
}

/// Whether a `Content-Type` value names `application/json`: type and subtype compared without
/// regard to case, parameters ignored (RFC 9110 §8.3.1, PROV-29).
pub fn is_json_media_type(value: &str) -> bool {
    //= spec/provider-api.md#PROV-29
    //# The server MUST compare the type and subtype of `Content-Type` without regard
    //# to case and MUST ignore its parameters
    let essence = value.split(';').next().unwrap_or_default();
    essence
        .trim()
        .eq_ignore_ascii_case(header::APPLICATION_JSON)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_values() {
        assert_eq!(Ttl::parse("0"), Ok(Ttl::from_secs(0)));
        assert_eq!(Ttl::parse("4294967295"), Ok(Ttl::from_secs(u32::MAX)));
        assert_eq!(Ttl::parse("0000000060"), Ok(Ttl::from_secs(60)));
        for bad in [
            "",
            "-5",
            "+5",
            "4294967296",
            "00000000060",
            "1.5",
            " 5",
            "5s",
        ] {
            assert_eq!(Ttl::parse(bad), Err(Error::BadTtl), "{bad:?}");
        }
        assert_eq!(
            Ttl::from_duration(Duration::from_secs(u64::MAX)).secs(),
            u32::MAX
        );
        assert_eq!(Ttl::THIRTY_DAYS.secs(), 2_592_000);
    }

    #[test]
    fn topics() {
        assert!(Topic::new("aZ09-_").is_ok());
        assert!(Topic::new("a".repeat(32)).is_ok());
        for bad in ["", "has space", "a=", "ü", &"a".repeat(33)] {
            assert_eq!(Topic::new(bad), Err(Error::BadTopic), "{bad:?}");
        }
        let account = AccountId::new("acct").unwrap();
        assert_eq!(
            Topic::for_account(&account).as_str(),
            MailboxDigest::of(b"acct").to_string()
        );
    }

    #[test]
    fn urgencies() {
        for urgency in Urgency::ALL {
            assert_eq!(Urgency::parse(urgency.as_str()), Ok(urgency));
        }
        assert_eq!(Urgency::default(), Urgency::Normal);
        for bad in ["", "Normal", "asap", "normal "] {
            assert_eq!(Urgency::parse(bad), Err(Error::BadUrgency), "{bad:?}");
        }
    }

    #[test]
    fn media_types() {
        for good in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=\"UTF-8\"",
            " application/json ",
        ] {
            assert!(is_json_media_type(good), "{good}");
        }
        for bad in [
            "",
            "text/plain",
            "application/json-seq",
            "text/json",
            "application/ json",
        ] {
            assert!(!is_json_media_type(bad), "{bad}");
        }
    }
}
