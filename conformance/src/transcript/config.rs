//! Configured values a case depends on (`config:`), and the values the operator declares for the
//! implementation under test (`--config NAME=VALUE`).
//!
//! Some duties only show on the wire within a case's time when the implementation is configured
//! for it: a dead peer is closed after two keepalive intervals (two minutes by default), a
//! registration cap of one million cannot be filled. A case names the configuration it needs;
//! the runner plays it only when the operator declared a value that satisfies the need, and
//! reports UNSUPPORTED otherwise, never FAIL: an implementation that cannot be configured so is
//! not wrong.
//!
//! ```abnf
//! config-field = "config:" SP config-need *("," SP config-need)
//! config-need  = config-name ("<=" / ">=" / "=") config-value
//! config-decl  = config-name "=" config-value         ; --config
//! config-name  = 1*(%x61-7A / "-")                       ; one of CONFIG_NAMES
//! config-value = 1*DIGIT ["ms" / "s"]                    ; a duration has a unit, a count none
//! ```

use std::fmt;

/// Whether a configured value is a duration or a count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigKind {
    /// Written with `ms` or `s`; held in milliseconds.
    Duration,
    /// Written without a unit.
    Count,
}

/// The configured values a case may depend on, with their kind and what they mean.
pub const CONFIG_NAMES: [(&str, ConfigKind, &str); 10] = [
    (
        "registration-expiry",
        ConfigKind::Duration,
        "how long the mail server keeps a registration after it was last stored (XAPS-16)",
    ),
    (
        "keepalive",
        ConfigKind::Duration,
        "the push server's keepalive interval (CHAN-24)",
    ),
    (
        "registration-limit",
        ConfigKind::Count,
        "the push server's cap on registered devices (PROV-17)",
    ),
    (
        "connections-per-address",
        ConfigKind::Count,
        "the push server's cap on device connections from one address (CHAN-28)",
    ),
    (
        "rate-burst",
        ConfigKind::Count,
        "the push server's token-bucket burst per device (PROV-12)",
    ),
    (
        "rate-per-second",
        ConfigKind::Count,
        "the push server's pushes per second per device (PROV-12)",
    ),
    (
        "debounce-burst",
        ConfigKind::Count,
        "the mail server's debounce `burst` (PROV-19)",
    ),
    (
        "debounce-quiet",
        ConfigKind::Duration,
        "the mail server's debounce `quiet` (PROV-19)",
    ),
    (
        "debounce-max-delay",
        ConfigKind::Duration,
        "the mail server's debounce `max-delay` (PROV-19)",
    ),
    (
        "registration-renewal",
        ConfigKind::Duration,
        "how long after an acknowledged push registration a device sends the next (XAPS-16)",
    ),
];

/// How a need compares the declared value with its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigOp {
    /// `<=`: the declared value is at most the need's.
    AtMost,
    /// `>=`: the declared value is at least the need's.
    AtLeast,
    /// `=`: the declared value is the need's.
    Equal,
}

/// One `config:` need of a case, or one `--config` declaration (then `op` is `Equal`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigNeed {
    /// One of [`CONFIG_NAMES`].
    pub name: String,
    /// The comparison.
    pub op: ConfigOp,
    /// Milliseconds for a duration, the number for a count.
    pub value: u64,
}

impl ConfigNeed {
    /// Whether `declared` (of the same name) satisfies this need.
    pub fn satisfied_by(&self, declared: u64) -> bool {
        match self.op {
            ConfigOp::AtMost => declared <= self.value,
            ConfigOp::AtLeast => declared >= self.value,
            ConfigOp::Equal => declared == self.value,
        }
    }

    /// The variable a case reads the declared value from: `config_` and the name with `_` for
    /// `-` (a duration in milliseconds).
    pub fn variable(name: &str) -> String {
        format!("config_{}", name.replace('-', "_"))
    }
}

impl fmt::Display for ConfigNeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            ConfigOp::AtMost => "<=",
            ConfigOp::AtLeast => ">=",
            ConfigOp::Equal => "=",
        };
        let unit = match kind_of(&self.name) {
            Some(ConfigKind::Duration) => "ms",
            _ => "",
        };
        write!(f, "{}{op}{}{unit}", self.name, self.value)
    }
}

/// A malformed need or declaration.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The name is not one of [`CONFIG_NAMES`].
    #[error("unknown configuration `{0}` (known: {known})", known = known_names())]
    UnknownName(String),
    /// No `<=`, `>=` or `=` after the name.
    #[error("`{0}` is NAME<=VALUE, NAME>=VALUE or NAME=VALUE")]
    NoOperator(String),
    /// A declaration (`--config`) compares rather than states.
    #[error("`{0}` must state the value: NAME=VALUE")]
    NotAValue(String),
    /// The value is not digits with the unit its kind needs, or is too large.
    #[error("`{value}` is not a value for `{name}` ({what})")]
    BadValue {
        /// The name.
        name: String,
        /// The value as written.
        value: String,
        /// What is expected.
        what: &'static str,
    },
}

fn known_names() -> String {
    CONFIG_NAMES
        .iter()
        .map(|(n, _, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

fn kind_of(name: &str) -> Option<ConfigKind> {
    CONFIG_NAMES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, k, _)| *k)
}

/// The longest value, in characters, that is read at all (a u64 has at most 20 digits).
const MAX_VALUE_LEN: usize = 24;

/// Parses one `config-need`.
pub fn parse_need(text: &str) -> Result<ConfigNeed, ConfigError> {
    let text = text.trim();
    let (name, op, value) = if let Some((n, v)) = text.split_once("<=") {
        (n, ConfigOp::AtMost, v)
    } else if let Some((n, v)) = text.split_once(">=") {
        (n, ConfigOp::AtLeast, v)
    } else if let Some((n, v)) = text.split_once('=') {
        (n, ConfigOp::Equal, v)
    } else {
        return Err(ConfigError::NoOperator(text.to_owned()));
    };
    let name = name.trim();
    let kind = kind_of(name).ok_or_else(|| ConfigError::UnknownName(name.to_owned()))?;
    let value = value.trim();
    let bad = |what| ConfigError::BadValue {
        name: name.to_owned(),
        value: value.chars().take(MAX_VALUE_LEN).collect(),
        what,
    };
    let parsed = match kind {
        ConfigKind::Count => value.parse::<u64>().ok().filter(|_| digits(value)),
        ConfigKind::Duration => {
            if let Some(ms) = value.strip_suffix("ms") {
                ms.parse::<u64>().ok().filter(|_| digits(ms))
            } else if let Some(s) = value.strip_suffix('s') {
                s.parse::<u64>()
                    .ok()
                    .filter(|_| digits(s))
                    .and_then(|s| s.checked_mul(1000))
            } else {
                None
            }
        }
    };
    let what = match kind {
        ConfigKind::Count => "a count: digits, no unit",
        ConfigKind::Duration => "a duration: digits and `ms` or `s`",
    };
    let value = parsed.ok_or_else(|| bad(what))?;
    Ok(ConfigNeed {
        name: name.to_owned(),
        op,
        value,
    })
}

fn digits(text: &str) -> bool {
    !text.is_empty() && text.len() <= MAX_VALUE_LEN && text.bytes().all(|b| b.is_ascii_digit())
}

/// Parses a `config:` header value: needs separated by commas.
pub fn parse_needs(text: &str) -> Result<Vec<ConfigNeed>, ConfigError> {
    text.split(',').map(parse_need).collect()
}

/// Parses one `--config NAME=VALUE` declaration.
pub fn parse_declaration(text: &str) -> Result<ConfigNeed, ConfigError> {
    let need = parse_need(text)?;
    if need.op != ConfigOp::Equal {
        return Err(ConfigError::NotAValue(text.trim().to_owned()));
    }
    Ok(need)
}

/// The first need of `needs` that `declared` does not satisfy (undeclared, or another value).
pub fn unmet<'a>(needs: &'a [ConfigNeed], declared: &[ConfigNeed]) -> Option<&'a ConfigNeed> {
    needs.iter().find(|need| {
        !declared
            .iter()
            .rev()
            .find(|d| d.name == need.name)
            .is_some_and(|d| need.satisfied_by(d.value))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn needs_and_declarations() {
        let needs = parse_needs("keepalive<=2s, registration-limit>=3").unwrap();
        assert_eq!(needs[0].value, 2000);
        assert_eq!(needs[1].op, ConfigOp::AtLeast);
        let declared = vec![parse_declaration("keepalive=1500ms").unwrap()];
        assert_eq!(
            unmet(&needs, &declared).map(|n| n.name.as_str()),
            Some("registration-limit")
        );
        let declared = vec![
            parse_declaration("keepalive=3s").unwrap(),
            parse_declaration("registration-limit=5").unwrap(),
        ];
        assert_eq!(
            unmet(&needs, &declared).map(|n| n.name.as_str()),
            Some("keepalive")
        );
        assert!(matches!(
            parse_declaration("keepalive<=3s"),
            Err(ConfigError::NotAValue(_))
        ));
        assert!(matches!(
            parse_need("keepalive<=3"),
            Err(ConfigError::BadValue { .. })
        ));
        assert!(matches!(
            parse_need("registration-limit=3s"),
            Err(ConfigError::BadValue { .. })
        ));
        assert!(matches!(
            parse_need("keep-alive=3s"),
            Err(ConfigError::UnknownName(_))
        ));
        assert!(matches!(
            parse_need("keepalive=99999999999999999999999s"),
            Err(ConfigError::BadValue { .. })
        ));
        assert_eq!(ConfigNeed::variable("rate-burst"), "config_rate_burst");
    }
}
