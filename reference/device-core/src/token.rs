//! Account ids and tokens: the names the mail client and the DA share.

use std::fmt;

/// Why a string is not an [`AccountId`] or a [`Token`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// A token is 16 to 64 characters (LOCAL's `token` rule).
    #[error("a token has 16 to 64 characters, not {0}")]
    TokenLength(usize),
    /// A token is made of `A-Z a-z 0-9 - _ .` only.
    #[error("a token has only the characters A-Z a-z 0-9 - _ .")]
    TokenCharacters,
    /// An account id is 1 to 255 octets of printable US-ASCII.
    #[error("an account id has 1 to 255 octets, not {0}")]
    AccountIdLength(usize),
    /// An account id is printable US-ASCII without spaces, so it travels as an IMAP atom and a
    /// JSON string alike.
    #[error("an account id has only printable US-ASCII characters other than space")]
    AccountIdCharacters,
}

/// The name of one monitored mailbox of one account on this device: the `token` rule of
/// `spec/device-local.md` (16 to 64 of `A-Z a-z 0-9 - _ .`). It is also the name of that
/// mailbox's local notification.
//= spec/device-local.md#LOCAL-3
//# A token MUST match the `token` rule
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token(String);

impl Token {
    /// Checks the `token` rule.
    pub fn new(value: impl Into<String>) -> Result<Self, TokenError> {
        let value = value.into();
        if !(16..=64).contains(&value.len()) {
            return Err(TokenError::TokenLength(value.len()));
        }
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
        if !value.bytes().all(allowed) {
            return Err(TokenError::TokenCharacters);
        }
        Ok(Self(value))
    }

    /// The token's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({})", self.0)
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The account id the device chose when the account was set up: opaque towards the mail server
/// (`aps-account-id`, `spec/imap-push.md`) and named in every push payload (`account-id`,
/// PROV-8). 1 to 255 octets of printable US-ASCII other than space; the device generates an
/// uppercase UUID, as iOS Mail does.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountId(String);

impl AccountId {
    /// Checks the length and the characters.
    pub fn new(value: impl Into<String>) -> Result<Self, TokenError> {
        let value = value.into();
        if value.is_empty() || value.len() > 255 {
            return Err(TokenError::AccountIdLength(value.len()));
        }
        if !value.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(TokenError::AccountIdCharacters);
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
        write!(f, "AccountId({})", self.0)
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_rule_is_enforced() {
        assert!(Token::new("abcdefghijklmnop").is_ok());
        assert!(Token::new("a".repeat(64)).is_ok());
        assert_eq!(Token::new("short"), Err(TokenError::TokenLength(5)));
        assert_eq!(Token::new("a".repeat(65)), Err(TokenError::TokenLength(65)));
        assert_eq!(
            Token::new("abcdefghijklmno/"),
            Err(TokenError::TokenCharacters)
        );
    }

    #[test]
    fn account_id_is_printable_ascii() {
        assert!(AccountId::new("0715A26B-CA09-4730-A419-793000CA982E").is_ok());
        assert_eq!(AccountId::new(""), Err(TokenError::AccountIdLength(0)));
        assert_eq!(
            AccountId::new("with space"),
            Err(TokenError::AccountIdCharacters)
        );
    }
}
