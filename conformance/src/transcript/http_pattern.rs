//! HTTP messages in transcripts: what the runner sends on `api` (requests) and `push`
//! (responses), and what it expects there.
//!
//! ```abnf
//! http-send     = (method SP template / status-code) *(LF indent http-send-line)
//! http-send-line = header-name ":" SP template / "body" SP template
//! http-expect   = (method SP text-pattern / status-pattern) *(LF indent http-expect-line)
//! http-expect-line = header-name ":" SP text-pattern   ; present, and matching
//!                / "!" header-name                      ; absent
//!                / "body" SP ("json" SP json-pattern / "empty" / text-pattern)
//!                / "!body" SP text-pattern              ; the body does not match
//! status-pattern = 3DIGIT / "$" / "$" name
//! method        = 1*ALPHA                               ; upper case
//! header-name   = 1*(ALPHA / DIGIT / "-")
//! indent        = 2*(SP / HTAB)
//! ```

use serde_json::Value;

use super::SyntaxError;
use super::cursor::Cursor;
use super::expr::{Vars, name_char, name_start};
use super::pattern::{
    Bindings, JsonPattern, Piece, Template, TextPattern, json_pattern, lookup, template,
    text_pattern,
};

/// The first line of an HTTP message.
#[derive(Clone, Debug, PartialEq)]
pub enum StartTemplate {
    /// `METHOD target`
    Request(String, Template),
    /// A status code.
    Status(u16),
}

/// An HTTP message the runner sends.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpTemplate {
    /// Request line or status.
    pub start: StartTemplate,
    /// Header fields in order.
    pub headers: Vec<(String, Template)>,
    /// The body, if any.
    pub body: Option<Template>,
}

/// A status code pattern.
#[derive(Clone, Debug, PartialEq)]
pub enum StatusPattern {
    /// Exactly this code.
    Code(u16),
    /// Any code.
    Any,
    /// Captured, or compared when bound.
    Var(String),
}

/// The first line of an expected HTTP message.
#[derive(Clone, Debug, PartialEq)]
pub enum StartPattern {
    /// `METHOD target-pattern`
    Request(String, TextPattern),
    /// A status code pattern.
    Status(StatusPattern),
}

/// What a header line of a pattern says.
#[derive(Clone, Debug, PartialEq)]
pub enum HeaderPattern {
    /// Present with a matching value (the first field of that name).
    Present(String, TextPattern),
    /// Absent.
    Absent(String),
    /// `?Name: pattern`: present with a matching value, or absent, when the pattern is matched
    /// against the empty value (a lone capture binds the empty text). A case that tells one
    /// request from another by headers a server SHOULD send, but need not, says so this way.
    Optional(String, TextPattern),
}

/// What the body must be.
#[derive(Clone, Debug, PartialEq)]
pub enum BodyPattern {
    /// JSON matching the pattern.
    Json(JsonPattern),
    /// Text matching the pattern.
    Text(TextPattern),
    /// No octets.
    Empty,
    /// `!body text-pattern`: text that does not match the pattern (`$*secret$*`: the body does
    /// not contain `secret`). Captures in it bind nothing.
    Not(TextPattern),
}

/// An HTTP message the runner expects.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpPattern {
    /// Request line or status.
    pub start: StartPattern,
    /// Header expectations.
    pub headers: Vec<HeaderPattern>,
    /// Body expectation, if any.
    pub body: Option<BodyPattern>,
}

/// An HTTP message as it arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpMessage {
    /// `Some((method, target))` for a request.
    pub request: Option<(String, String)>,
    /// The status of a response (0 for a request).
    pub status: u16,
    /// Header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body octets (de-chunked).
    pub body: Vec<u8>,
}

impl HttpMessage {
    /// The first header field named `name` (case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// One line for reports: the start line and the headers; the body if it is text.
    pub fn summary(&self) -> String {
        let mut out = match &self.request {
            Some((method, target)) => format!("{method} {target}"),
            None => format!("{}", self.status),
        };
        for (name, value) in &self.headers {
            out.push_str(&format!("\n  {name}: {value}"));
        }
        if !self.body.is_empty() {
            match std::str::from_utf8(&self.body) {
                Ok(text) if text.len() <= 2048 => out.push_str(&format!("\n  body {text}")),
                Ok(text) => out.push_str(&format!(
                    "\n  body {}... ({} octets)",
                    text.chars().take(200).collect::<String>(),
                    self.body.len()
                )),
                Err(_) => {
                    out.push_str(&format!("\n  body ({} octets, not UTF-8)", self.body.len()))
                }
            }
        }
        out
    }
}

fn method(c: &mut Cursor<'_>) -> Result<String, SyntaxError> {
    let name = c.take_while(|ch| ch.is_ascii_alphabetic());
    if name.is_empty() || name.chars().any(|ch| ch.is_ascii_lowercase()) {
        return Err(c.error("expected an HTTP method in capitals (POST, GET, DELETE, ...)"));
    }
    let name = name.to_owned();
    if !c.eat(" ") {
        return Err(c.error("expected a space and a request target after the method"));
    }
    Ok(name)
}

fn status_code(c: &mut Cursor<'_>) -> Result<u16, SyntaxError> {
    let at = c.offset();
    let digits = c.take_while(|ch| ch.is_ascii_digit());
    match digits.parse::<u16>() {
        Ok(code) if digits.len() == 3 && (100..=599).contains(&code) => Ok(code),
        _ => Err(c.error_at(at, "expected a status code from 100 to 599")),
    }
}

fn header_name(c: &mut Cursor<'_>) -> Result<String, SyntaxError> {
    let name = c.take_while(|ch| ch.is_ascii_alphanumeric() || ch == '-');
    if name.is_empty() {
        return Err(c.error("expected a header name"));
    }
    Ok(name.to_owned())
}

/// `http-send`'s first line: a request line when `request`, else a status code.
pub(crate) fn http_send_start(
    c: &mut Cursor<'_>,
    request: bool,
) -> Result<StartTemplate, SyntaxError> {
    if request {
        let m = method(c)?;
        Ok(StartTemplate::Request(m, template(c)?))
    } else {
        let code = status_code(c)?;
        if !c.at_end() {
            return Err(c.error("nothing may follow the status code; headers go on indented lines"));
        }
        Ok(StartTemplate::Status(code))
    }
}

/// `http-send-line`
pub(crate) fn http_send_line(
    c: &mut Cursor<'_>,
    message: &mut HttpTemplate,
) -> Result<(), SyntaxError> {
    if c.eat_word("body") {
        if message.body.is_some() {
            return Err(c.error("a second body"));
        }
        c.eat(" ");
        message.body = Some(template(c)?);
        return Ok(());
    }
    let name = header_name(c)?;
    if !c.eat(":") {
        return Err(c.error("expected `:` after the header name"));
    }
    c.skip_space();
    message.headers.push((name, template(c)?));
    Ok(())
}

/// `http-expect`'s first line.
pub(crate) fn http_expect_start(
    c: &mut Cursor<'_>,
    request: bool,
) -> Result<StartPattern, SyntaxError> {
    if request {
        let m = method(c)?;
        return Ok(StartPattern::Request(m, text_pattern(c)?));
    }
    let pattern = if c.eat("$") {
        if c.peek().is_some_and(name_start) {
            StatusPattern::Var(c.take_while(name_char).to_owned())
        } else {
            StatusPattern::Any
        }
    } else {
        StatusPattern::Code(status_code(c)?)
    };
    if !c.at_end() {
        return Err(c.error("nothing may follow the status; headers go on indented lines"));
    }
    Ok(StartPattern::Status(pattern))
}

/// `http-expect-line`
pub(crate) fn http_expect_line(
    c: &mut Cursor<'_>,
    message: &mut HttpPattern,
) -> Result<(), SyntaxError> {
    if c.eat_word("body") {
        if message.body.is_some() {
            return Err(c.error("a second body"));
        }
        c.skip_space();
        message.body = Some(if c.eat_word("json") {
            c.skip_space();
            BodyPattern::Json(json_pattern(c)?)
        } else if c.eat_word("empty") {
            if !c.at_end() {
                return Err(c.error("nothing may follow `body empty`"));
            }
            BodyPattern::Empty
        } else {
            BodyPattern::Text(text_pattern(c)?)
        });
        return Ok(());
    }
    if c.eat("?") {
        let (name, value) = header_field(c)?;
        message.headers.push(HeaderPattern::Optional(name, value));
        return Ok(());
    }
    if c.eat("!") {
        if c.eat_word("body") {
            if message.body.is_some() {
                return Err(c.error("a second body"));
            }
            c.skip_space();
            message.body = Some(BodyPattern::Not(text_pattern(c)?));
            return Ok(());
        }
        let name = header_name(c)?;
        if !c.at_end() {
            return Err(c.error("`!Name` says a header is absent; nothing may follow"));
        }
        message.headers.push(HeaderPattern::Absent(name));
        return Ok(());
    }
    let (name, value) = header_field(c)?;
    message.headers.push(HeaderPattern::Present(name, value));
    Ok(())
}

/// `Name: pattern`, the form of a header that must be there and of one that may be.
fn header_field(c: &mut Cursor<'_>) -> Result<(String, TextPattern), SyntaxError> {
    let name = header_name(c)?;
    if !c.eat(":") {
        return Err(c.error("expected `:` after the header name"));
    }
    c.skip_space();
    Ok((name, text_pattern(c)?))
}

impl HttpPattern {
    /// Matches a message; on success the captures are appended to `bound`, otherwise the
    /// first difference is returned.
    pub fn matches(
        &self,
        actual: &HttpMessage,
        vars: &Vars,
        bound: &mut Bindings,
    ) -> Result<(), String> {
        let mut scratch = bound.clone();
        match (&self.start, &actual.request) {
            (StartPattern::Request(method, target), Some((m, t))) => {
                if method != m {
                    return Err(format!("method {m}, expected {method}"));
                }
                if !target.matches(t, vars, &mut scratch) {
                    return Err(format!("target {t}, expected {}", target.expand(vars)));
                }
            }
            (StartPattern::Status(pattern), None) => match pattern {
                StatusPattern::Any => {}
                StatusPattern::Code(code) if *code == actual.status => {}
                StatusPattern::Code(code) => {
                    return Err(format!("status {}, expected {code}", actual.status));
                }
                StatusPattern::Var(name) => match lookup(vars, &scratch, name) {
                    Some(value) if super::expr::loose_eq(value, &Value::from(actual.status)) => {}
                    Some(value) => {
                        return Err(format!("status {}, expected {value}", actual.status));
                    }
                    None => scratch.push((name.clone(), Value::from(actual.status))),
                },
            },
            (StartPattern::Request(..), None) => {
                return Err("a response, expected a request".into());
            }
            (StartPattern::Status(_), Some(_)) => {
                return Err("a request, expected a response".into());
            }
        }
        for header in &self.headers {
            match header {
                HeaderPattern::Present(name, pattern) => match actual.header(name) {
                    None => return Err(format!("no {name} header")),
                    Some(value) => {
                        if !pattern.matches(value, vars, &mut scratch) {
                            return Err(format!(
                                "{name}: {value}, expected {}",
                                pattern.expand(&super::pattern::with_bound(vars, &scratch))
                            ));
                        }
                    }
                },
                HeaderPattern::Absent(name) => {
                    if let Some(value) = actual.header(name) {
                        return Err(format!("{name}: {value} is present, expected none"));
                    }
                }
                HeaderPattern::Optional(name, pattern) => {
                    let value = actual.header(name);
                    let matched = match (value, pattern.whole()) {
                        (Some(value), _) => pattern.matches(value, vars, &mut scratch),
                        // A capture takes at least one character; absence binds it empty.
                        (None, Some(Piece::Var(var))) => match lookup(vars, &scratch, var) {
                            Some(bound) => super::expr::render(bound).is_empty(),
                            None => {
                                scratch.push((var.clone(), Value::String(String::new())));
                                true
                            }
                        },
                        (None, _) => pattern.matches("", vars, &mut scratch),
                    };
                    if !matched {
                        return Err(format!(
                            "{name}: {}, expected {}",
                            value.unwrap_or("(absent)"),
                            pattern.expand(&super::pattern::with_bound(vars, &scratch))
                        ));
                    }
                }
            }
        }
        match &self.body {
            None => {}
            Some(BodyPattern::Empty) if !actual.body.is_empty() => {
                return Err(format!(
                    "a body of {} octets, expected none",
                    actual.body.len()
                ));
            }
            Some(BodyPattern::Empty) => {}
            Some(BodyPattern::Text(pattern)) => {
                let text = String::from_utf8_lossy(&actual.body);
                if !pattern.matches(&text, vars, &mut scratch) {
                    return Err("the body does not match".into());
                }
            }
            Some(BodyPattern::Not(pattern)) => {
                let text = String::from_utf8_lossy(&actual.body);
                // Matched on a copy: what a forbidden body would have bound is thrown away.
                if pattern.matches(&text, vars, &mut scratch.clone()) {
                    return Err(format!(
                        "the body matches {}, expected it not to",
                        pattern.expand(&super::pattern::with_bound(vars, &scratch))
                    ));
                }
            }
            Some(BodyPattern::Json(pattern)) => {
                let value: Value = serde_json::from_slice(&actual.body)
                    .map_err(|e| format!("the body is not JSON ({e})"))?;
                if !pattern.matches(&value, vars, &mut scratch) {
                    return Err(format!(
                        "the JSON body does not match {}",
                        pattern.expand(&super::pattern::with_bound(vars, &scratch))
                    ));
                }
            }
        }
        *bound = scratch;
        Ok(())
    }

    /// The pattern with variables expanded, for reports.
    pub fn expand(&self, vars: &Vars) -> String {
        let mut out = match &self.start {
            StartPattern::Request(method, target) => format!("{method} {}", target.expand(vars)),
            StartPattern::Status(StatusPattern::Code(code)) => code.to_string(),
            StartPattern::Status(StatusPattern::Any) => "$".into(),
            StartPattern::Status(StatusPattern::Var(name)) => vars
                .get(name)
                .map_or_else(|| format!("${name}"), super::expr::render),
        };
        for header in &self.headers {
            match header {
                HeaderPattern::Present(name, pattern) => {
                    out.push_str(&format!("\n  {name}: {}", pattern.expand(vars)));
                }
                HeaderPattern::Absent(name) => out.push_str(&format!("\n  !{name}")),
                HeaderPattern::Optional(name, pattern) => {
                    out.push_str(&format!("\n  ?{name}: {}", pattern.expand(vars)));
                }
            }
        }
        match &self.body {
            None => {}
            Some(BodyPattern::Empty) => out.push_str("\n  body empty"),
            Some(BodyPattern::Text(p)) => out.push_str(&format!("\n  body {}", p.expand(vars))),
            Some(BodyPattern::Not(p)) => out.push_str(&format!("\n  !body {}", p.expand(vars))),
            Some(BodyPattern::Json(p)) => {
                out.push_str(&format!("\n  body json {}", p.expand(vars)))
            }
        }
        out
    }
}

impl HttpTemplate {
    /// Whether the template names a header (case-insensitively).
    pub fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }
}
