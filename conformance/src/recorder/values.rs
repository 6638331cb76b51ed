//! The rules that turn values varying between runs into variables.
//!
//! A recorded value that another run would not repeat is written as `$name`. One recorded
//! value is always the same variable, wherever it appears (IMAP, provider API, device channel):
//! the runner captures it where it first appears and requires the same value after. The rules:
//!
//! - the `aps-account-id` and `aps-device-token` of an `XAPPLEPUSHSERVICE` command become the
//!   runner's `$account` and `$token`; `LOGIN`'s arguments become `$user` and `$password`;
//! - `UIDVALIDITY` (response codes, `STATUS`, `APPENDUID`, `COPYUID`) becomes `$uidvalidityN`;
//!   `HIGHESTMODSEQ` and `MODSEQ` become `$modseqN`; `INTERNALDATE` becomes `$`; the
//!   `aps-topic` becomes `$topic`; free text after a status word becomes `$*`;
//! - the MD5 of a mailbox name registered with `XAPPLEPUSHSERVICE` becomes `$md5_N`, bound at
//!   the top of the body by `let md5_N = md5("name")`;
//! - a provider request's `TTL` becomes `$ttlN`; its bearer token `$registration` on
//!   `/v1/devices` and `$provider` elsewhere;
//! - a string of 16 or more hexadecimal digits first seen in a response body (JSON member
//!   `key`) becomes `$key_N`, and so does the same string in a path, a header or a frame.
//!
//! Everything else is written as recorded; whoever reviews the case generalises the rest.

use std::collections::BTreeMap;

/// The shortest opaque string captured from a response: shorter strings are too likely to
/// appear by chance elsewhere.
const MIN_OPAQUE_LEN: usize = 16;

/// The shortest value of `$account` and `$token` replaced in free text.
const MIN_FIXED_LEN: usize = 4;

/// Recorded values and the variables they became.
#[derive(Debug, Default)]
pub struct ValueMap {
    by_value: BTreeMap<String, String>,
    counters: BTreeMap<String, usize>,
    /// `let` lines binding the variables of values computed from others.
    lets: Vec<String>,
    legend: Vec<String>,
}

impl ValueMap {
    /// The variable of `value`; a new one, `kind` and a number, on first sight.
    pub fn numbered(&mut self, kind: &str, value: &str) -> String {
        if let Some(name) = self.by_value.get(value) {
            return name.clone();
        }
        let counter = self.counters.entry(kind.to_owned()).or_insert(0);
        *counter += 1;
        let name = format!("{kind}{}", counter);
        self.insert(&name, value, kind);
        name
    }

    /// Binds `value` to the runner's variable `name` (`account`, `token`, `topic`), unless the
    /// value already has a variable.
    pub fn fixed(&mut self, name: &str, value: &str) -> String {
        if let Some(existing) = self.by_value.get(value) {
            return existing.clone();
        }
        self.insert(name, value, name);
        name.to_owned()
    }

    fn insert(&mut self, name: &str, value: &str, kind: &str) {
        self.by_value.insert(value.to_owned(), name.to_owned());
        let shown: String = value.chars().take(24).collect();
        let more = if value.chars().count() > 24 {
            "…"
        } else {
            ""
        };
        self.legend.push(format!(
            "${name} was {shown}{more} in the recording ({kind})"
        ));
    }

    /// Writes `value` as a variable that a `let` binds to `expr`.
    pub fn derived(&mut self, kind: &str, value: &str, expr: &str) {
        if self.by_value.contains_key(value) {
            return;
        }
        let name = self.numbered(kind, value);
        self.lets.push(format!("let {name} = {expr}"));
    }

    /// The `let` lines of [`ValueMap::derived`] values, for the top of the body.
    pub fn lets(&self) -> &[String] {
        &self.lets
    }

    /// The variable of exactly this value, if it has one.
    pub fn get(&self, value: &str) -> Option<&str> {
        self.by_value.get(value).map(String::as_str)
    }

    /// Captures `value`, first seen in a response under `key`, when it looks opaque.
    pub fn capture_opaque(&mut self, key: &str, value: &str) {
        if value.len() >= MIN_OPAQUE_LEN && value.chars().all(|c| c.is_ascii_hexdigit()) {
            let kind: String = key
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .take(20)
                .collect();
            let kind = if kind.starts_with(|c: char| c.is_ascii_alphabetic()) {
                format!("{kind}_")
            } else {
                "value_".to_owned()
            };
            self.numbered(&kind, value);
        }
    }

    /// `text` with `$` escaped and every mapped value long enough to be unambiguous replaced by
    /// its variable; with `strip_quotes`, a value in double quotes loses them (frame fields).
    pub fn substitute(&self, text: &str, strip_quotes: bool) -> String {
        let mut out = text.replace('$', "$$");
        let mut pairs: Vec<(&String, &String)> = self
            .by_value
            .iter()
            .filter(|(value, name)| {
                let least = if name.contains('_') {
                    MIN_OPAQUE_LEN
                } else {
                    MIN_FIXED_LEN
                };
                value.len() >= least
                    && !value.contains('$')
                    && !value.chars().all(|c| c.is_ascii_digit())
            })
            .collect();
        // Longest first, so that no value replaces part of a longer one.
        pairs.sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
        for (value, name) in pairs {
            if strip_quotes {
                out = out.replace(&format!("\"{value}\""), &format!("${name}"));
            }
            out = out.replace(value.as_str(), &format!("${name}"));
        }
        out
    }

    /// One line per variable: its name, what it was, and which rule made it.
    pub fn legend(&self) -> &[String] {
        &self.legend
    }
}
