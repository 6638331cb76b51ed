//! Session configuration.

use std::time::Duration;

use mailpush_imap::xaps::XapsLimits;

/// Limits and policy of one IMAP session. The driver builds it from its own configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Longest command line, CRLF included (default 8 KiB).
    pub max_line: usize,
    /// Largest literal, octets (default 50 MiB, the store's message limit).
    pub max_literal: u32,
    /// Largest command (lines and literals together; default 51 MiB).
    pub max_command: usize,
    /// Failed LOGIN/AUTHENTICATE attempts before the session says BYE (default 3).
    pub max_auth_failures: u32,
    /// Allow LOGIN and AUTHENTICATE PLAIN on a connection that is not protected by TLS. A
    /// driver sets this only for loopback connections.
    pub allow_plaintext_auth: bool,
    /// How long a not-authenticated session may stay silent (default 60 s).
    pub login_timeout: Duration,
    /// How long an authenticated session may stay silent outside IDLE (default 30 min, the
    /// minimum of RFC 3501 §5.4).
    pub autologout: Duration,
    /// How long IDLE may last without a command (default 30 min; RFC 2177 asks clients to
    /// re-issue IDLE at least every 29 minutes).
    pub idle_timeout: Duration,
    /// The `aps-topic` of XAPPLEPUSHSERVICE replies (XAPS-11).
    pub xaps_topic: String,
    /// Per-registration limits (XAPS-7).
    pub xaps_limits: XapsLimits,
    /// Text of the greeting.
    pub greeting: String,
    /// Offer CONDSTORE (RFC 7162 §3.1, default on). Off, the session is a plain RFC 3501
    /// server for it: CONDSTORE is not advertised, cannot be enabled, SELECT and EXAMINE
    /// answer no `HIGHESTMODSEQ`, and the `CONDSTORE` select parameter, `STATUS
    /// HIGHESTMODSEQ`, the `MODSEQ` fetch item and search key, `CHANGEDSINCE` and
    /// `UNCHANGEDSINCE` get `BAD`. QRESYNC, which needs it, is off too.
    pub condstore: bool,
    /// Offer QRESYNC (RFC 7162 §3.2, default on; only with [`Config::condstore`]). Off, it is
    /// not advertised and cannot be enabled, and the `QRESYNC` select parameter and `VANISHED`
    /// get `BAD`.
    pub qresync: bool,
    /// Offer UIDPLUS (RFC 4315, default on). Off, it is not advertised, `UID EXPUNGE` gets
    /// `BAD`, and APPEND, COPY and MOVE answer without `APPENDUID` and `COPYUID`.
    pub uidplus: bool,
    /// Offer XAPPLEPUSHSERVICE (spec/imap-push.md, default on). Off, it is not advertised and
    /// the command gets `BAD`: a server without the extension, whose mailboxes a device polls.
    pub xaps: bool,
}

impl Config {
    /// Whether CONDSTORE is offered.
    pub fn offers_condstore(&self) -> bool {
        self.condstore
    }

    /// Whether QRESYNC is offered (it needs CONDSTORE).
    pub fn offers_qresync(&self) -> bool {
        self.condstore && self.qresync
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_line: 8 * 1024,
            max_literal: 50 * 1024 * 1024,
            max_command: 51 * 1024 * 1024,
            max_auth_failures: 3,
            allow_plaintext_auth: false,
            login_timeout: Duration::from_secs(60),
            autologout: Duration::from_secs(30 * 60),
            idle_timeout: Duration::from_secs(30 * 60),
            xaps_topic: "com.mailpush.mail".to_owned(),
            xaps_limits: XapsLimits::default(),
            greeting: "mailpush IMAP server ready".to_owned(),
            condstore: true,
            qresync: true,
            uidplus: true,
            xaps: true,
        }
    }
}
