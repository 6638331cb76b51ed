//! Device tokens, device secrets and bearer credentials (PROV-2, PROV-15, PROV-16, PROV-27).

use std::fmt::{self, Write as _};

use http::header::{AUTHORIZATION, HeaderMap, HeaderValue};

use crate::Error;

/// 64 lowercase hexadecimal characters, as 32 octets of a random generator give them.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Hex64(String);

impl Hex64 {
    const LEN: usize = 64;

    fn lower(value: &str) -> Option<Self> {
        let lower = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        (value.len() == Self::LEN && value.bytes().all(lower)).then(|| Self(value.to_owned()))
    }

    fn from_octets(octets: [u8; 32]) -> Self {
        let mut out = String::with_capacity(Self::LEN);
        for octet in octets {
            // Writing to a String cannot fail.
            let _ = write!(out, "{octet:02x}");
        }
        Self(out)
    }
}

/// A device token: 64 lowercase hexadecimal characters (`device-token` of PROV-4), the name of
/// a device's push resource. The push server makes it at registration (PROV-15); a mail server
/// takes it from `XAPPLEPUSHSERVICE` in either case ([`DeviceToken::parse_any_case`], PROV-27).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceToken(Hex64);

impl DeviceToken {
    /// Length of a device token, in characters.
    pub const LEN: usize = Hex64::LEN;

    /// A token spelled exactly as `device-token`: 64 lowercase hexadecimal characters (the push
    /// server's rule for the paths of PROV-4 and PROV-16).
    pub fn parse(value: &str) -> Result<Self, Error> {
        Hex64::lower(value).map(Self).ok_or(Error::DeviceToken)
    }

    /// A token of 64 hexadecimal characters in either case, lowered: the form deployed
    /// `XAPPLEPUSHSERVICE` clients send, and the mail server's rule (PROV-27, XAPS-20).
    //= spec/provider-api.md#PROV-27
    //# A device
    //# token names a push resource only when it is 64 hexadecimal characters (either case, the form of
    //# `device-token` after lowering
    pub fn parse_any_case(value: &str) -> Result<Self, Error> {
        Self::parse(&value.to_ascii_lowercase())
    }

    /// The token of 32 octets of a cryptographically secure generator (PROV-15).
    pub fn from_octets(octets: [u8; 32]) -> Self {
        Self(Hex64::from_octets(octets))
    }

    /// The token's text.
    pub fn as_str(&self) -> &str {
        &self.0.0
    }
}

impl fmt::Display for DeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for DeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceToken({})", self.as_str())
    }
}

impl std::str::FromStr for DeviceToken {
    type Err = Error;

    fn from_str(value: &str) -> Result<Self, Error> {
        Self::parse(value)
    }
}

/// A device secret: 64 lowercase hexadecimal characters (PROV-15). The device keeps it and
/// presents it to unregister (PROV-16) and on the device channel; it never goes to a mail
/// server. `Debug` does not show it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DeviceSecret(Hex64);

impl DeviceSecret {
    /// 64 lowercase hexadecimal characters.
    pub fn parse(value: &str) -> Result<Self, Error> {
        Hex64::lower(value).map(Self).ok_or(Error::DeviceSecret)
    }

    /// The secret of 32 octets of a cryptographically secure generator (PROV-15).
    pub fn from_octets(octets: [u8; 32]) -> Self {
        Self(Hex64::from_octets(octets))
    }

    /// The secret's text.
    pub fn as_str(&self) -> &str {
        &self.0.0
    }
}

impl fmt::Debug for DeviceSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceSecret(..)")
    }
}

/// Longest bearer token [`authorization`] accepts.
const MAX_BEARER_LEN: usize = 4096;

/// The `Authorization: Bearer <token>` field value of a request (PROV-2, PROV-15, PROV-16).
pub fn authorization(token: &str) -> Result<HeaderValue, Error> {
    let visible = token.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if token.is_empty() || token.len() > MAX_BEARER_LEN || !visible {
        return Err(Error::BearerToken);
    }
    HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| Error::BearerToken)
}

/// The token of a request's `Authorization: Bearer <token>` (RFC 6750 §2.1; the scheme in any
/// case). `None` when the field is absent, comes more than once, names another scheme or is
/// malformed: every such request is unauthenticated (PROV-2, PROV-28).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let mut fields = headers.get_all(AUTHORIZATION).iter();
    let value = fields.next()?.to_str().ok()?;
    if fields.next().is_some() {
        return None;
    }
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim_start_matches(' ');
    let well_formed = !token.is_empty() && !token.contains([' ', '\t']);
    (scheme.eq_ignore_ascii_case("bearer") && well_formed).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_tokens() {
        let lower = "0123456789abcdef".repeat(4);
        assert_eq!(DeviceToken::parse(&lower).unwrap().as_str(), lower);
        let upper = lower.to_ascii_uppercase();
        assert_eq!(DeviceToken::parse(&upper), Err(Error::DeviceToken));
        assert_eq!(DeviceToken::parse_any_case(&upper).unwrap().as_str(), lower);
        for bad in ["", "0", &"0".repeat(63), &"0".repeat(65), &"g".repeat(64)] {
            assert!(DeviceToken::parse_any_case(bad).is_err(), "{bad}");
        }
        assert_eq!(
            DeviceToken::from_octets([0xab; 32]).as_str(),
            "ab".repeat(32)
        );
    }

    #[test]
    fn secrets_are_not_shown() {
        let secret = DeviceSecret::from_octets([7; 32]);
        assert_eq!(format!("{secret:?}"), "DeviceSecret(..)");
        assert_eq!(DeviceSecret::parse(secret.as_str()), Ok(secret));
    }

    #[test]
    fn bearer_credentials() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(AUTHORIZATION, authorization("t0k.en").unwrap());
        assert_eq!(bearer(&headers), Some("t0k.en"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("bEaReR   abc"));
        assert_eq!(bearer(&headers), Some("abc"));
        for bad in ["Basic abc", "Bearer", "Bearer ", "Bearer a b", "Bearerabc"] {
            headers.insert(AUTHORIZATION, HeaderValue::from_static(bad));
            assert_eq!(bearer(&headers), None, "{bad}");
        }
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer a"));
        headers.append(AUTHORIZATION, HeaderValue::from_static("Bearer a"));
        assert_eq!(bearer(&headers), None, "two Authorization fields");
        assert!(authorization("").is_err());
        assert!(authorization("a b").is_err());
        assert!(authorization("ä").is_err());
    }
}
