//! JSON lines (TRACE-1, TRACE-2): one event per line, and a strict reader that names the line and
//! the field of every fault and bounds what it reads (TRACE-8).

use std::io::{self, BufRead, Read as _, Write};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::{
    Component, Event, EventKind, Label, MAX_MAILBOXES, MAX_SPEC_IDS, MAX_TEXT, Record, SpecId,
    Versions,
};

/// The longest line a writer writes and a reader accepts by default, in octets, newline excluded
/// (TRACE-1). Every event within the sizes of TRACE-6 fits, even with every character escaped.
pub const MAX_LINE: usize = 1024 * 1024;

/// What a reader accepts at most.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The longest line, in octets, newline excluded.
    pub max_line: usize,
    /// The most events in one trace.
    pub max_events: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_line: MAX_LINE,
            max_events: 1_000_000,
        }
    }
}

/// Why a line could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadErrorKind {
    /// Reading the input failed.
    #[error("cannot read: {0}")]
    Io(#[from] io::Error),
    /// The line is longer than the limit.
    #[error("line longer than {limit} octets")]
    LineTooLong {
        /// The limit.
        limit: usize,
    },
    /// The line is not UTF-8.
    #[error("not UTF-8")]
    NotUtf8,
    /// The line is empty.
    #[error("empty line (every line is one event)")]
    EmptyLine,
    /// The line is not one JSON object of the trace's fields (an unknown or repeated field, or
    /// not JSON at all).
    #[error("{0}")]
    Json(String),
    /// A field is missing or has a value the format does not allow.
    #[error("field `{field}`: {problem}")]
    Field {
        /// The field.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// The trace has more events than the limit.
    #[error("more than {limit} events")]
    TooManyEvents {
        /// The limit.
        limit: usize,
    },
}

/// A fault in a trace, with the line it is on (1-based).
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ReadError {
    /// The line number, counting from 1.
    pub line: u64,
    /// What is wrong.
    pub kind: ReadErrorKind,
}

fn field_error(field: &'static str, problem: impl Into<String>) -> ReadErrorKind {
    ReadErrorKind::Field {
        field,
        problem: problem.into(),
    }
}

#[derive(Serialize)]
struct WireVersions {
    #[serde(skip_serializing_if = "Option::is_none")]
    before: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    after: Option<u64>,
}

/// The wire form of an event, as written: the fields of TRACE-2 in a stable order.
#[derive(Serialize)]
struct WireOut<'a> {
    time_us: u64,
    component: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<&'a str>,
    event: &'static str,
    spec: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mailbox: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mailboxes: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retained: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    versions: Option<WireVersions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
}

/// The wire form as read: every field present at most once, none unknown; values are checked one
/// by one so that an error names its field.
//= spec/trace.md#TRACE-2
//# An event object MUST have the fields `time_us`, `component`, `event` and `spec`, MAY
//# have the other fields of this table, and MUST NOT have any other field or the same field twice.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireIn {
    #[serde(default, deserialize_with = "present")]
    time_us: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    component: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    device: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    event: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    spec: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    mailbox: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    mailboxes: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    token: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    id: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    retained: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    cursor: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    versions: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    detail: Option<Value>,
}

/// A field that is there, `null` included: an absent field is left out, never written as `null`
/// (TRACE-2), so `null` is a wrong value rather than an absent one.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// Appends `event` to `out` as one line, newline included (TRACE-1).
pub fn encode_into(event: &Event, out: &mut Vec<u8>) {
    //= spec/trace.md#TRACE-1
    //# A trace MUST be a sequence of lines, each one JSON object (RFC 8259) in UTF-8 that
    //# describes one event, ended by a line feed
    let r = &event.record;
    let wire = WireOut {
        time_us: event.time_us,
        component: event.component.as_str(),
        device: r.device.as_ref().map(Label::as_str),
        event: r.kind.as_str(),
        spec: r.spec.iter().map(SpecId::as_str).collect(),
        mailbox: r.mailbox.as_deref(),
        mailboxes: r.mailboxes.as_deref(),
        token: r.token.as_deref(),
        id: r.id,
        retained: r.retained,
        cursor: r.cursor,
        versions: r.versions.map(|v| WireVersions {
            before: v.before,
            after: v.after,
        }),
        detail: r.detail.as_deref(),
    };
    // Serializing plain strings, numbers and booleans into memory cannot fail; if it ever did,
    // the partial line is removed so that the output stays one event per line.
    let start = out.len();
    if serde_json::to_writer(&mut *out, &wire).is_err() {
        out.truncate(start);
        return;
    }
    out.push(b'\n');
}

/// `event` as one line, newline included.
pub fn encode(event: &Event) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    encode_into(event, &mut out);
    out
}

/// Writes `events` as a trace.
pub fn write_events<'a, W: Write>(
    mut out: W,
    events: impl IntoIterator<Item = &'a Event>,
) -> io::Result<()> {
    let mut line = Vec::with_capacity(256);
    for event in events {
        line.clear();
        encode_into(event, &mut line);
        out.write_all(&line)?;
    }
    out.flush()
}

fn u64_field(field: &'static str, value: &Value) -> Result<u64, ReadErrorKind> {
    value
        .as_u64()
        .ok_or_else(|| field_error(field, "expected an unsigned integer"))
}

fn text_field(field: &'static str, value: Value) -> Result<String, ReadErrorKind> {
    match value {
        Value::String(s) if s.len() <= MAX_TEXT => Ok(s),
        Value::String(_) => Err(field_error(field, format!("longer than {MAX_TEXT} octets"))),
        _ => Err(field_error(field, "expected a string")),
    }
}

fn versions_field(value: Value) -> Result<Versions, ReadErrorKind> {
    let Value::Object(map) = value else {
        return Err(field_error("versions", "expected an object"));
    };
    let mut versions = Versions::default();
    for (key, v) in &map {
        let slot = match key.as_str() {
            "before" => &mut versions.before,
            "after" => &mut versions.after,
            _ => {
                return Err(field_error(
                    "versions",
                    "only `before` and `after` are allowed",
                ));
            }
        };
        *slot = Some(u64_field("versions", v)?);
    }
    if versions.before.is_none() && versions.after.is_none() {
        return Err(field_error("versions", "needs `before`, `after` or both"));
    }
    Ok(versions)
}

/// Decodes one line (without its newline) into an event, checking every rule of the format.
pub fn decode_line(line: &str) -> Result<Event, ReadErrorKind> {
    let wire: WireIn =
        serde_json::from_str(line).map_err(|e| ReadErrorKind::Json(e.to_string()))?;
    let missing = |field: &'static str| field_error(field, "missing");

    let time_us = u64_field("time_us", &wire.time_us.ok_or_else(|| missing("time_us"))?)?;
    let component = match wire.component.ok_or_else(|| missing("component"))? {
        Value::String(s) => Component::from_wire(&s)
            .ok_or_else(|| field_error("component", "not a component of the system"))?,
        _ => return Err(field_error("component", "expected a string")),
    };
    let kind = match wire.event.ok_or_else(|| missing("event"))? {
        Value::String(s) => EventKind::from_wire(&s)
            .ok_or_else(|| field_error("event", "not an event of the vocabulary"))?,
        _ => return Err(field_error("event", "expected a string")),
    };
    let mut record = Record::new(kind);
    record.device = match wire.device {
        None => None,
        Some(Value::String(s)) => {
            Some(Label::new(&s).map_err(|e| field_error("device", e.to_string()))?)
        }
        Some(_) => return Err(field_error("device", "expected a string")),
    };
    record.spec = match wire.spec.ok_or_else(|| missing("spec"))? {
        Value::Array(items) if (1..=MAX_SPEC_IDS).contains(&items.len()) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => SpecId::new(s).map_err(|e| field_error("spec", e.to_string())),
                _ => Err(field_error("spec", "expected strings")),
            })
            .collect::<Result<_, _>>()?,
        Value::Array(_) => {
            return Err(field_error(
                "spec",
                format!("must cite 1 to {MAX_SPEC_IDS} requirement IDs"),
            ));
        }
        _ => return Err(field_error("spec", "expected an array")),
    };
    record.mailbox = wire.mailbox.map(|v| text_field("mailbox", v)).transpose()?;
    record.mailboxes = match wire.mailboxes {
        None => None,
        Some(Value::Array(items)) if items.len() <= MAX_MAILBOXES => Some(
            items
                .into_iter()
                .map(|v| text_field("mailboxes", v))
                .collect::<Result<_, _>>()?,
        ),
        Some(Value::Array(_)) => {
            return Err(field_error(
                "mailboxes",
                format!("more than {MAX_MAILBOXES} names"),
            ));
        }
        Some(_) => return Err(field_error("mailboxes", "expected an array")),
    };
    record.token = wire.token.map(|v| text_field("token", v)).transpose()?;
    record.id = wire.id.map(|v| u64_field("id", &v)).transpose()?;
    record.retained = match wire.retained {
        None => None,
        Some(Value::Bool(b)) => Some(b),
        Some(_) => return Err(field_error("retained", "expected true or false")),
    };
    record.cursor = wire.cursor.map(|v| u64_field("cursor", &v)).transpose()?;
    record.versions = wire.versions.map(versions_field).transpose()?;
    record.detail = wire.detail.map(|v| text_field("detail", v)).transpose()?;

    let event = Event {
        time_us,
        component,
        record,
    };
    event.check().map_err(|v| ReadErrorKind::Field {
        field: v.field,
        problem: v.problem,
    })?;
    Ok(event)
}

/// Reads a trace line by line: an iterator of events that ends at the first error.
//= spec/trace.md#TRACE-8
//# It MUST bound the length of a line it reads and the number of events it
//# keeps, and report a trace beyond either bound as an error rather than read it in part.
pub struct Reader<R> {
    input: R,
    limits: Limits,
    line: u64,
    events: usize,
    buffer: Vec<u8>,
    done: bool,
}

impl<R: BufRead> Reader<R> {
    /// A reader with the default limits.
    pub fn new(input: R) -> Self {
        Self::with_limits(input, Limits::default())
    }

    /// A reader with `limits`.
    pub fn with_limits(input: R, limits: Limits) -> Self {
        Self {
            input,
            limits,
            line: 0,
            events: 0,
            buffer: Vec::new(),
            done: false,
        }
    }

    /// Reads the next line into the buffer, never more than the limit plus the newline. `None` at
    /// the end of the input.
    fn next_line(&mut self) -> Result<Option<()>, ReadErrorKind> {
        self.buffer.clear();
        let limit = u64::try_from(self.limits.max_line)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let read = io::Read::by_ref(&mut self.input)
            .take(limit)
            .read_until(b'\n', &mut self.buffer)?;
        if read == 0 {
            return Ok(None);
        }
        if self.buffer.last() == Some(&b'\n') {
            self.buffer.pop();
        } else if self.buffer.len() > self.limits.max_line {
            return Err(ReadErrorKind::LineTooLong {
                limit: self.limits.max_line,
            });
        }
        Ok(Some(()))
    }

    fn read_event(&mut self) -> Result<Option<Event>, ReadErrorKind> {
        if self.next_line()?.is_none() {
            return Ok(None);
        }
        if self.events >= self.limits.max_events {
            return Err(ReadErrorKind::TooManyEvents {
                limit: self.limits.max_events,
            });
        }
        let text = std::str::from_utf8(&self.buffer).map_err(|_| ReadErrorKind::NotUtf8)?;
        if text.trim().is_empty() {
            return Err(ReadErrorKind::EmptyLine);
        }
        let event = decode_line(text)?;
        self.events += 1;
        Ok(Some(event))
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<Event, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        self.line += 1;
        match self.read_event() {
            Ok(Some(event)) => Some(Ok(event)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(kind) => {
                self.done = true;
                Some(Err(ReadError {
                    line: self.line,
                    kind,
                }))
            }
        }
    }
}

/// Reads a whole trace with `limits`.
pub fn read_all<R: BufRead>(input: R, limits: Limits) -> Result<Vec<Event>, ReadError> {
    Reader::with_limits(input, limits).collect()
}
