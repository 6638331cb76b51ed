//! `device.toml`: the daemon's configuration, read and checked before anything starts. Every
//! value that is wrong is refused with an error that names the file and the key.
//!
//! Relative paths in the file are relative to the directory of the file.

use std::path::{Path, PathBuf};

use mailpush_device_core::mail_client::{MAX_REFRESH_MS, MIN_REFRESH_MS, PollInterval};
use rustls::pki_types::ServerName;
use serde::Deserialize;
use tokio_rustls::TlsConnector;

use crate::tls::Trust;

/// The name of the local API's socket in the data directory.
pub const SOCKET_NAME: &str = "device.sock";
/// The name of the SQLite database in the data directory.
pub const DATABASE_NAME: &str = "device.sqlite3";

/// A configuration the daemon refuses.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not TOML, has an unknown key or a value of the wrong type (the TOML parser's
    /// message names the line and the key).
    #[error("{}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A key has a value the daemon cannot use.
    #[error("{}: {key}: {message}", path.display())]
    Value {
        /// The file.
        path: PathBuf,
        /// The key, as a path (`accounts[0].poll_interval_secs`).
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// How the connection to an IMAP server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImapSecurity {
    /// TLS from the first octet (`imaps`, port 993).
    Imaps,
    /// `STARTTLS` on a plain connection (`starttls`, port 143).
    StartTls,
}

/// How the daemon authenticates to an IMAP server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImapAuth {
    /// `AUTHENTICATE PLAIN` (`plain`, the default).
    Plain,
    /// `LOGIN` (`login`).
    Login,
}

/// A host and a port, with the name TLS checks the certificate against.
#[derive(Clone)]
pub struct Endpoint {
    /// Host name or IP address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// The name the server's certificate must carry (default: the host).
    pub server_name: ServerName<'static>,
    /// Whom the TLS connection trusts.
    pub tls: TlsConnector,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("address", &self.to_string())
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// One mail account.
#[derive(Clone)]
pub struct AccountSettings {
    /// The name applications and the status use.
    pub name: String,
    /// The IMAP server.
    pub imap: Endpoint,
    /// IMAPS or STARTTLS.
    pub security: ImapSecurity,
    /// The IMAP user.
    pub user: String,
    /// The password.
    pub password: String,
    /// PLAIN or LOGIN.
    pub auth: ImapAuth,
    /// How often mailboxes without push are polled (LOCAL-15, LOCAL-16).
    pub poll_interval: PollInterval,
    /// The monitored mailboxes, as Unicode names.
    pub mailboxes: Vec<String>,
}

impl std::fmt::Debug for AccountSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountSettings")
            .field("name", &self.name)
            .field("imap", &self.imap.to_string())
            .field("security", &self.security)
            .field("user", &self.user)
            .field("auth", &self.auth)
            .field("poll_interval", &self.poll_interval)
            .field("mailboxes", &self.mailboxes)
            .finish_non_exhaustive()
    }
}

/// The push notification server.
#[derive(Clone)]
pub struct PushSettings {
    /// The device channel (always TLS, CHAN-1).
    pub channel: Endpoint,
    /// The provider API's base URL (`https://host:port`, an optional path prefix).
    pub api: http::Uri,
    /// The provider API's TLS (the same trust as the channel).
    pub api_endpoint: Endpoint,
    /// The bearer token devices register with (PROV-15).
    pub registration_token: String,
}

impl std::fmt::Debug for PushSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushSettings")
            .field("channel", &self.channel.to_string())
            .field("api", &self.api)
            .finish_non_exhaustive()
    }
}

/// The whole configuration.
#[derive(Clone, Debug)]
pub struct DeviceConfig {
    /// The file it was read from.
    pub path: PathBuf,
    /// Where the database and the socket live.
    pub data_dir: PathBuf,
    /// The accounts, at least one.
    pub accounts: Vec<AccountSettings>,
    /// The push server; `None`: no push, every mailbox is polled.
    pub push: Option<PushSettings>,
    /// How long after an acknowledged push registration was sent the next one is sent
    /// (`registration_renewal_secs`, default a day; XAPS-16, LOCAL-20).
    pub registration_renewal_ms: u64,
    /// Where the protocol trace goes (spec/trace.md); off unless set (`--trace`).
    pub trace: mailpush_trace::Tracer,
    /// The device's label in the trace; `None` takes the label servers give it, from its
    /// device token (TRACE-3).
    pub trace_label: Option<mailpush_trace::Label>,
}

impl DeviceConfig {
    /// The local API's socket.
    pub fn socket_path(&self) -> PathBuf {
        self.data_dir.join(SOCKET_NAME)
    }

    /// The database.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join(DATABASE_NAME)
    }

    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Checks the text of a configuration file; `path` names it in errors and anchors its
    /// relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let c = Checker {
            path,
            base: path.parent().unwrap_or(Path::new(".")),
        };
        let data_dir = c.path_of(
            "data_dir",
            raw.data_dir
                .as_deref()
                .ok_or_else(|| c.error("data_dir", "is required"))?,
        )?;
        if raw.accounts.is_empty() {
            return Err(c.error("accounts", "at least one [[accounts]] table is required"));
        }
        let mut accounts: Vec<AccountSettings> = Vec::new();
        for (i, account) in raw.accounts.into_iter().enumerate() {
            let account = c.account(i, account)?;
            if accounts.iter().any(|a| a.name == account.name) {
                return Err(c.error(
                    &format!("accounts[{i}].name"),
                    &format!("the name {:?} is used by another account", account.name),
                ));
            }
            accounts.push(account);
        }
        let push = raw.push.map(|p| c.push(p)).transpose()?;
        let registration_renewal_ms = c.renewal(raw.registration_renewal_secs)?;
        Ok(Self {
            path: path.to_path_buf(),
            data_dir,
            accounts,
            push,
            registration_renewal_ms,
            trace: mailpush_trace::Tracer::off(),
            trace_label: None,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    data_dir: Option<String>,
    #[serde(default)]
    accounts: Vec<RawAccount>,
    push: Option<RawPush>,
    registration_renewal_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    name: Option<String>,
    address: Option<String>,
    security: Option<String>,
    user: Option<String>,
    password: Option<String>,
    password_file: Option<String>,
    auth: Option<String>,
    ca_file: Option<String>,
    trust_cert: Option<String>,
    server_name: Option<String>,
    poll_interval_secs: Option<u64>,
    testing_override_poll_interval_ms: Option<u64>,
    mailboxes: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPush {
    channel: Option<String>,
    api: Option<String>,
    registration_token: Option<String>,
    registration_token_file: Option<String>,
    ca_file: Option<String>,
    trust_cert: Option<String>,
    server_name: Option<String>,
}

struct Checker<'a> {
    path: &'a Path,
    base: &'a Path,
}

/// The longest account name.
const MAX_ACCOUNT_NAME: usize = 64;

impl Checker<'_> {
    fn error(&self, key: &str, message: &str) -> ConfigError {
        ConfigError::Value {
            path: self.path.to_path_buf(),
            key: key.to_owned(),
            message: message.to_owned(),
        }
    }

    fn path_of(&self, key: &str, value: &str) -> Result<PathBuf, ConfigError> {
        if value.is_empty() {
            return Err(self.error(key, "is empty"));
        }
        Ok(self.base.join(value))
    }

    /// The first line of a file, which must not be empty.
    fn first_line(&self, key: &str, value: &str) -> Result<String, ConfigError> {
        let path = self.path_of(key, value)?;
        let text = std::fs::read_to_string(&path)
            .map_err(|e| self.error(key, &format!("cannot read {}: {e}", path.display())))?;
        let line = text
            .lines()
            .next()
            .unwrap_or_default()
            .trim_end_matches('\r');
        if line.is_empty() {
            return Err(self.error(key, &format!("{} has an empty first line", path.display())));
        }
        Ok(line.to_owned())
    }

    /// A value given inline or in a file, exactly one of the two.
    fn secret(
        &self,
        prefix: &str,
        (key, inline): (&str, Option<String>),
        (file_key, file): (&str, Option<String>),
    ) -> Result<String, ConfigError> {
        match (inline, file) {
            (Some(_), Some(_)) => Err(self.error(
                &format!("{prefix}{key}"),
                &format!("give {key} or {file_key}, not both"),
            )),
            (None, None) => Err(self.error(
                &format!("{prefix}{key}"),
                &format!("is required (or {file_key})"),
            )),
            (Some(value), None) if value.is_empty() => {
                Err(self.error(&format!("{prefix}{key}"), "is empty"))
            }
            (Some(value), None) => Ok(value),
            (None, Some(file)) => self.first_line(&format!("{prefix}{file_key}"), &file),
        }
    }

    fn endpoint(
        &self,
        key: &str,
        address: &str,
        server_name: Option<String>,
        trust: &Trust,
        prefix: &str,
        alpn: &[&[u8]],
    ) -> Result<Endpoint, ConfigError> {
        let (host, port) = split_host_port(address).ok_or_else(|| {
            self.error(
                key,
                &format!(
                    "{address:?} is not host:port (a name or an IP address, then a port 1 to 65535)"
                ),
            )
        })?;
        let name = server_name.unwrap_or_else(|| host.clone());
        let server_name = ServerName::try_from(name.clone()).map_err(|_| {
            self.error(
                &format!("{prefix}server_name"),
                &format!("{name:?} is neither a DNS name nor an IP address"),
            )
        })?;
        let tls = trust
            .connector(alpn)
            .map_err(|e| self.error(&format!("{prefix}trust_cert"), &format!("unusable: {e}")))?;
        Ok(Endpoint {
            host,
            port,
            server_name,
            tls,
        })
    }

    fn trust(
        &self,
        prefix: &str,
        ca_file: Option<String>,
        trust_cert: Option<String>,
    ) -> Result<Trust, ConfigError> {
        let ca_key = format!("{prefix}ca_file");
        let pin_key = format!("{prefix}trust_cert");
        let ca = ca_file.map(|f| self.path_of(&ca_key, &f)).transpose()?;
        let pin = trust_cert.map(|f| self.path_of(&pin_key, &f)).transpose()?;
        let mut trust = Trust::default();
        if let Some(ca) = &ca {
            trust = Trust::load(Some(ca), None).map_err(|e| self.error(&ca_key, &e.to_string()))?;
        }
        if let Some(pin) = &pin {
            trust.pinned = Trust::load(None, Some(pin))
                .map_err(|e| self.error(&pin_key, &e.to_string()))?
                .pinned;
        }
        Ok(trust)
    }

    fn account(&self, i: usize, raw: RawAccount) -> Result<AccountSettings, ConfigError> {
        let prefix = format!("accounts[{i}].");
        let key = |k: &str| format!("{prefix}{k}");
        let name = raw
            .name
            .ok_or_else(|| self.error(&key("name"), "is required"))?;
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
        if name.is_empty() || name.len() > MAX_ACCOUNT_NAME || !name.bytes().all(allowed) {
            return Err(self.error(
                &key("name"),
                &format!("{name:?} is not 1 to {MAX_ACCOUNT_NAME} characters of A-Z a-z 0-9 - _ ."),
            ));
        }
        let security = match raw.security.as_deref() {
            Some("imaps") => ImapSecurity::Imaps,
            Some("starttls") => ImapSecurity::StartTls,
            Some(other) => {
                return Err(self.error(
                    &key("security"),
                    &format!("{other:?} is not \"imaps\" or \"starttls\""),
                ));
            }
            None => {
                return Err(self.error(&key("security"), "is required (\"imaps\" or \"starttls\")"));
            }
        };
        let auth = match raw.auth.as_deref() {
            None | Some("plain") => ImapAuth::Plain,
            Some("login") => ImapAuth::Login,
            Some(other) => {
                return Err(self.error(
                    &key("auth"),
                    &format!("{other:?} is not \"plain\" or \"login\""),
                ));
            }
        };
        let user = raw
            .user
            .filter(|u| !u.is_empty())
            .ok_or_else(|| self.error(&key("user"), "is required and not empty"))?;
        let password = self.secret(
            &prefix,
            ("password", raw.password),
            ("password_file", raw.password_file),
        )?;
        let trust = self.trust(&prefix, raw.ca_file, raw.trust_cert)?;
        let address = raw
            .address
            .ok_or_else(|| self.error(&key("address"), "is required (host:port)"))?;
        let imap = self.endpoint(
            &key("address"),
            &address,
            raw.server_name,
            &trust,
            &prefix,
            &[b"imap"],
        )?;
        let poll_interval = match (
            raw.poll_interval_secs,
            raw.testing_override_poll_interval_ms,
        ) {
            (Some(_), Some(_)) => {
                return Err(self.error(
                    &key("testing_override_poll_interval_ms"),
                    "give poll_interval_secs or the testing override, not both",
                ));
            }
            (None, None) => PollInterval::DEFAULT,
            //= spec/device-local.md#LOCAL-16
            //# the mail client MUST NOT use an interval shorter than 60 seconds.
            (Some(secs), None) if secs < PollInterval::MINIMUM_SECS => {
                return Err(self.error(
                    &key("poll_interval_secs"),
                    &format!(
                        "{secs} s is below the minimum of {} s (spec/device-local.md LOCAL-16); \
                         tests may use testing_override_poll_interval_ms",
                        PollInterval::MINIMUM_SECS
                    ),
                ));
            }
            (Some(secs), None) if secs > MAX_POLL_SECS => {
                return Err(self.error(
                    &key("poll_interval_secs"),
                    &format!("{secs} s is above the maximum of {MAX_POLL_SECS} s (one week)"),
                ));
            }
            (Some(secs), None) => mailpush_device_core::AccountId::new(name.clone())
                .map_err(|e| self.error(&key("name"), &e.to_string()))
                .and_then(|id| {
                    PollInterval::from_secs(&id, secs)
                        .map_err(|e| self.error(&key("poll_interval_secs"), &e.to_string()))
                })?,
            //= spec/device-local.md#LOCAL-19
            //# Such an override MUST be off by default and MUST be
            //# enabled only by a setting that names it as a testing override
            (None, Some(ms)) => PollInterval::testing_override_millis(ms).map_err(|e| {
                self.error(&key("testing_override_poll_interval_ms"), &e.to_string())
            })?,
        };
        let mailboxes = raw.mailboxes.unwrap_or_else(|| vec!["Notes".to_owned()]);
        if mailboxes.is_empty() {
            return Err(self.error(&key("mailboxes"), "names no mailbox"));
        }
        for (j, mailbox) in mailboxes.iter().enumerate() {
            let wire = mailpush_imap::Mailbox::from_unicode(mailbox);
            if mailbox.is_empty() || wire.as_wire().len() > 1000 {
                return Err(self.error(
                    &format!("{prefix}mailboxes[{j}]"),
                    "a mailbox name has 1 to 1000 octets",
                ));
            }
            if mailbox.chars().any(char::is_control) {
                return Err(self.error(
                    &format!("{prefix}mailboxes[{j}]"),
                    &format!("{mailbox:?} has a control character"),
                ));
            }
            if mailboxes[..j]
                .iter()
                .any(|m| mailpush_imap::Mailbox::from_unicode(m) == wire)
            {
                return Err(self.error(
                    &format!("{prefix}mailboxes[{j}]"),
                    &format!("{mailbox:?} is listed twice"),
                ));
            }
        }
        Ok(AccountSettings {
            name,
            imap,
            security,
            user,
            password,
            auth,
            poll_interval,
            mailboxes,
        })
    }

    /// The renewal period of push registrations, in milliseconds: a day unless set.
    fn renewal(&self, secs: Option<u64>) -> Result<u64, ConfigError> {
        let Some(secs) = secs else {
            return Ok(DEFAULT_RENEWAL_SECS * 1000);
        };
        let (min, max) = (MIN_REFRESH_MS / 1000, MAX_REFRESH_MS / 1000);
        if !(min..=max).contains(&secs) {
            //= spec/imap-push.md#XAPS-16
            //# A client MUST register again at
            //# least once in every 30-day period while it wants push
            return Err(self.error(
                "registration_renewal_secs",
                &format!(
                    "{secs} s is not {min} to {max} s (a registration expires 30 days after it \
                     was stored, XAPS-16)"
                ),
            ));
        }
        Ok(secs * 1000)
    }

    fn push(&self, raw: RawPush) -> Result<PushSettings, ConfigError> {
        let prefix = "push.";
        let registration_token = self.secret(
            prefix,
            ("registration_token", raw.registration_token),
            ("registration_token_file", raw.registration_token_file),
        )?;
        if !registration_token
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b))
        {
            return Err(self.error(
                "push.registration_token",
                "has characters other than printable US-ASCII",
            ));
        }
        let trust = self.trust(prefix, raw.ca_file, raw.trust_cert)?;
        let channel = raw
            .channel
            .ok_or_else(|| self.error("push.channel", "is required (host:port)"))?;
        let channel = self.endpoint(
            "push.channel",
            &channel,
            raw.server_name.clone(),
            &trust,
            prefix,
            &[],
        )?;
        let api_text = raw
            .api
            .ok_or_else(|| self.error("push.api", "is required (https://host:port)"))?;
        let api: http::Uri = api_text
            .parse()
            .map_err(|e| self.error("push.api", &format!("{api_text:?} is not a URL: {e}")))?;
        if api.scheme_str() != Some("https") {
            //= spec/provider-api.md#PROV-1
            //# The provider API MUST be served over HTTPS
            return Err(self.error(
                "push.api",
                &format!(
                    "{api_text:?} is not an https:// URL (the provider API is served over TLS)"
                ),
            ));
        }
        if api.query().is_some() {
            return Err(self.error("push.api", "a base URL has no query"));
        }
        let authority = api
            .authority()
            .ok_or_else(|| self.error("push.api", "names no host"))?;
        let address = format!(
            "{}:{}",
            authority.host(),
            authority.port_u16().unwrap_or(443)
        );
        let api_endpoint = self.endpoint(
            "push.api",
            &address,
            raw.server_name,
            &trust,
            prefix,
            &[b"http/1.1"],
        )?;
        Ok(PushSettings {
            channel,
            api,
            api_endpoint,
            registration_token,
        })
    }
}

/// How often push registrations are renewed unless configured: daily (LOCAL-20's "much more
/// often" than the 30 days of XAPS-16).
const DEFAULT_RENEWAL_SECS: u64 = 24 * 3600;

/// The longest poll interval taken: a week.
const MAX_POLL_SECS: u64 = 7 * 24 * 3600;

/// `host:port`, `[v6]:port`: the host (brackets removed) and the port (1 to 65535).
fn split_host_port(address: &str) -> Option<(String, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    let host = match host.strip_prefix('[') {
        Some(inner) => inner.strip_suffix(']')?,
        None if host.contains(':') => return None,
        None => host,
    };
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_');
    if host.is_empty() || !host.chars().all(ok) {
        return None;
    }
    Some((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_value_is_refused_naming_its_key() {
        let base = "data_dir = \"d\"\n[[accounts]]\nname = \"A1\"\naddress = \"mail.example:143\"\n\
                    security = \"starttls\"\nuser = \"u\"\npassword = \"p\"\n";
        let path = Path::new("device.toml");
        let ok = DeviceConfig::parse(path, base).unwrap();
        assert_eq!(ok.accounts[0].poll_interval.millis(), 900_000);
        assert_eq!(ok.accounts[0].mailboxes, ["Notes"]);
        assert_eq!(ok.registration_renewal_ms, 86_400_000);
        let short = DeviceConfig::parse(path, &format!("registration_renewal_secs = 1\n{base}"));
        assert_eq!(short.unwrap().registration_renewal_ms, 1000);
        let push = "[push]\nchannel = \"push.example:1\"\nregistration_token = \"t\"\n";
        let cases = [
            (
                base.replace("\"starttls\"", "\"tls\""),
                "accounts[0].security",
            ),
            (
                base.replace("mail.example:143", "mail.example"),
                "accounts[0].address",
            ),
            (
                format!("{base}poll_interval_secs = 59\n"),
                "accounts[0].poll_interval_secs",
            ),
            (
                base.replace("password = \"p\"\n", ""),
                "accounts[0].password",
            ),
            (
                format!("{base}password_file = \"x\"\n"),
                "accounts[0].password",
            ),
            (format!("{base}mailboxes = []\n"), "accounts[0].mailboxes"),
            (format!("{base}frob = 1\n"), "frob"),
            (
                format!("registration_renewal_secs = 0\n{base}"),
                "registration_renewal_secs: 0 s is not 1 to 2505600 s",
            ),
            (
                format!("registration_renewal_secs = 2505601\n{base}"),
                "registration_renewal_secs: 2505601 s is not 1 to 2505600 s",
            ),
            (base.replace("data_dir = \"d\"\n", ""), "data_dir"),
            (
                format!("{base}{push}api = \"http://push.example:2\"\n"),
                "push.api",
            ),
            (format!("{base}{push}"), "push.api"),
        ];
        for (text, key) in cases {
            let error = DeviceConfig::parse(path, &text).unwrap_err().to_string();
            assert!(error.starts_with("device.toml: "), "{error}");
            assert!(error.contains(key), "{key}: {error}");
        }
    }

    #[test]
    fn host_and_port_are_split() {
        assert_eq!(
            split_host_port("mail.example:993"),
            Some(("mail.example".into(), 993))
        );
        assert_eq!(split_host_port("[::1]:143"), Some(("::1".into(), 143)));
        assert_eq!(split_host_port("::1:143"), None);
        assert_eq!(split_host_port("host:0"), None);
        assert_eq!(split_host_port("host"), None);
        assert_eq!(split_host_port(":993"), None);
        assert_eq!(split_host_port("a b:993"), None);
    }
}
