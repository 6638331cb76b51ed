//! The recorder: what a transparent proxy saw on the links between two components, turned into
//! a transcript of the corpus format.
//!
//! [`Recording`] is the sans-IO core: the proxy ([`proxy`]) hands it every chunk of octets it
//! forwarded, with the time since the recording began, and [`write_case`] turns what was kept
//! into a case. The case is always one the parser accepts: it is tagged `unreviewed` and cites
//! no requirement until its author adds the citations (conformance/README.md, "Recording
//! cases"), and the rules that turn values varying between runs into variables are those of
//! [`values`].

pub mod cli;
mod http;
mod https;
mod imap;
mod link_frames;
pub mod proxy;
pub mod tls;
pub mod values;
mod write;

use std::fmt::Write as _;
use std::time::Duration;

use crate::transcript::{Level, Role, UNREVIEWED};

use values::ValueMap;

/// The most octets one recording keeps, over every link and direction. Past it the proxy still
/// forwards, but the recording keeps nothing more and the case says where it stopped.
pub const MAX_RECORDED_OCTETS: usize = 16 * 1024 * 1024;

/// The most connections one recording keeps per link: a case has at most nine IMAP connections
/// and nine devices.
pub const MAX_CONNECTIONS_PER_LINK: u32 = 9;

/// Which link between two components a connection belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Link {
    /// Device (mail client) to mail server: IMAP.
    Imap,
    /// Mail server to push service: the provider API (HTTP/1.1, or HTTP/2 over TLS).
    Push,
    /// Push server to device: device-channel frames.
    Device,
}

impl Link {
    /// The link's name on the command line and in the case's comments.
    pub fn as_str(self) -> &'static str {
        match self {
            Link::Imap => "imap",
            Link::Push => "push",
            Link::Device => "device",
        }
    }
}

/// Which end of a connection sent the octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum From {
    /// The component that connected (the proxy's client).
    Client,
    /// The component connected to (the proxy's upstream).
    Server,
}

/// A connection of a recording: its link and its number on that link, from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId {
    /// The link.
    pub link: Link,
    /// 1 for the link's first connection.
    pub number: u32,
}

/// What happened on a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum What {
    /// Octets forwarded.
    Data(From, Vec<u8>),
    /// Octets forwarded in the clear before a STARTTLS upgrade: the runner connects over TLS
    /// from the first octet, so the case shows them as comments.
    BeforeTls(From, Vec<u8>),
    /// The connection went on over TLS (from the first octet or after STARTTLS); what was
    /// negotiated.
    Secured(String),
    /// One end closed the connection.
    Closed(From),
    /// The proxy could not go on with the connection (the upstream refused, an I/O error).
    Failed(String),
}

/// One thing that happened, at a time since the recording began.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Time since the recording began.
    pub at: Duration,
    /// The connection.
    pub conn: ConnId,
    /// What happened.
    pub what: What,
}

/// Why the recorder refused something.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordError {
    /// A link had more connections than a case can hold; the proxy still forwards them.
    #[error("the {link} link had more than {MAX_CONNECTIONS_PER_LINK} connections; the rest are not recorded", link = .0.as_str())]
    TooManyConnections(Link),
    /// The case id is not one the transcript format accepts.
    #[error("case id `{0}`: 1 to 80 of a-z 0-9 - . (a letter or digit first)")]
    BadCaseId(String),
    /// The written case does not parse: a bug of the recorder, reported rather than written.
    #[error("the recorded case does not parse ({0}); the raw recording is in the comments")]
    Unparsable(String),
}

/// Everything one proxy run saw, in the order it saw it.
#[derive(Debug, Default)]
pub struct Recording {
    events: Vec<Event>,
    octets: usize,
    /// Where the octet limit cut the recording, if it did.
    truncated_at: Option<Duration>,
    opened: Vec<(Link, u32)>,
    /// Problems met while recording, for the case's comments.
    notes: Vec<String>,
}

impl Recording {
    /// An empty recording.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new connection on `link`; its id, or an error past the per-link limit.
    pub fn open(&mut self, link: Link) -> Result<ConnId, RecordError> {
        let number = match self.opened.iter_mut().find(|(l, _)| *l == link) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                self.opened.push((link, 1));
                1
            }
        };
        if number > MAX_CONNECTIONS_PER_LINK {
            let error = RecordError::TooManyConnections(link);
            if number == MAX_CONNECTIONS_PER_LINK + 1 {
                self.notes.push(error.to_string());
            }
            return Err(error);
        }
        Ok(ConnId { link, number })
    }

    /// Keeps `what` of `conn` at `at`, unless the octet limit was reached.
    pub fn record(&mut self, conn: ConnId, at: Duration, what: What) {
        if self.truncated_at.is_some() {
            return;
        }
        if let What::Data(_, octets) | What::BeforeTls(_, octets) = &what {
            if self.octets + octets.len() > MAX_RECORDED_OCTETS {
                self.truncated_at = Some(at);
                self.notes.push(format!(
                    "the recording stopped at {MAX_RECORDED_OCTETS} octets ({:.3}s); later traffic was forwarded but not recorded",
                    at.as_secs_f64()
                ));
                return;
            }
            self.octets += octets.len();
        }
        self.events.push(Event { at, conn, what });
    }

    /// Marks the octets `conn` forwarded so far as the exchange before STARTTLS.
    pub fn before_tls(&mut self, conn: ConnId) {
        for event in self.events.iter_mut().filter(|e| e.conn == conn) {
            if let What::Data(from, octets) = &mut event.what {
                event.what = What::BeforeTls(*from, std::mem::take(octets));
            }
        }
    }

    /// Notes a problem of the recording itself (not of one connection) for the case's comments.
    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    /// What was kept, in order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// What the header of a recorded case says.
#[derive(Clone, Debug)]
pub struct CaseOptions {
    /// The case id.
    pub id: String,
    /// The role under test: `imap-server` (the upstream of the IMAP link; the push link's
    /// requests become `push <-`) or `push-server` (the upstream of the push and device links).
    pub role: Role,
    /// MUST unless the author says otherwise.
    pub level: Level,
    /// The case's `timeout:`.
    pub timeout: Duration,
    /// The title, if the author gave one.
    pub title: Option<String>,
}

/// Writes the case of `recording`, parsed back before it is returned.
pub fn write_case(recording: &Recording, options: &CaseOptions) -> Result<String, RecordError> {
    if !valid_case_id(&options.id) {
        return Err(RecordError::BadCaseId(options.id.clone()));
    }
    let mut values = ValueMap::default();
    let mut body = Vec::new();
    let mut notes = recording.notes.clone();
    let summary = write::write(recording, options.role, &mut values, &mut body, &mut notes);
    let mut text = String::new();
    let _ = writeln!(text, "case: {}", options.id);
    let title = options
        .title
        .clone()
        .unwrap_or_else(|| format!("recorded: {summary}"));
    let _ = writeln!(text, "title: {}", one_line(&title));
    let _ = writeln!(
        text,
        "# Recorded by `mailpush-conform record` from real traffic; not yet reviewed. To review:"
    );
    let _ = writeln!(
        text,
        "# read it, generalise what varies by hand, add the requirements it shows as"
    );
    let _ = writeln!(
        text,
        "# `#= spec/<document>.md#<ID>` lines with `##` quotes, and remove the tag `{UNREVIEWED}`."
    );
    let _ = writeln!(text, "level: {}", options.level.as_str());
    let _ = writeln!(text, "role: {}", options.role.name());
    let state = match options.role {
        Role::ImapServer | Role::Device => "nonauth",
        Role::PushServer => "none",
    };
    let _ = writeln!(text, "state: {state}");
    let connections = recording
        .opened
        .iter()
        .find(|(l, _)| *l == Link::Imap)
        .map_or(1, |(_, n)| (*n).clamp(1, MAX_CONNECTIONS_PER_LINK));
    if options.role != Role::PushServer && connections > 1 {
        let _ = writeln!(text, "connections: {connections}");
    }
    let _ = writeln!(text, "timeout: {}s", options.timeout.as_secs().max(1));
    let _ = writeln!(text, "tags: recorded {UNREVIEWED}");
    for note in &notes {
        let _ = writeln!(text, "# note: {}", one_line(note));
    }
    for rule in values.legend() {
        let _ = writeln!(text, "# variable: {rule}");
    }
    text.push('\n');
    for line in values.lets() {
        text.push_str(line);
        text.push('\n');
    }
    for line in &body {
        text.push_str(line);
        text.push('\n');
    }
    crate::transcript::parse("recorded.case", &text)
        .map_err(|e| RecordError::Unparsable(e.to_string()))?;
    Ok(text)
}

/// The same rule as the parser's for `case:`.
fn valid_case_id(id: &str) -> bool {
    id.len() <= 80
        && id
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
}

/// Text for a comment or a header value: one line, no control characters.
pub(crate) fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A case id from a time, for recordings whose author named none.
pub fn derived_case_id(role: Role, unix_seconds: u64) -> String {
    format!("recorded.{}.{unix_seconds}", role.name())
}
