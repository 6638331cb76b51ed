//! HTTP/1.1 on the recorded push link: messages cut off the stream by their `Content-Length`,
//! written as `push <-` (the role under test sends them) or `api ->` / `api <-` (the role
//! under test answers them).

use serde_json::Value;

use super::values::ValueMap;

/// The most header fields of one message.
const MAX_HEADERS: usize = 64;

/// The longest head (start line and headers) of one message.
pub(crate) const MAX_HEAD: usize = 64 * 1024;

/// The largest body kept; the provider API's payloads are 4 KiB at most (PROV-7).
pub(crate) const MAX_BODY: usize = 1024 * 1024;

/// One HTTP message.
#[derive(Clone, Debug)]
pub(crate) struct Message {
    /// `Some((method, target))` for a request.
    pub request: Option<(String, String)>,
    /// The status of a response.
    pub status: u16,
    /// The header fields in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Cuts the complete messages off the front of `buffer`; `Err` when the stream is not HTTP/1.1
/// this recorder can follow (the rest of the connection is then kept as raw octets).
pub(crate) fn split(buffer: &mut Vec<u8>, requests: bool) -> Result<Vec<Message>, String> {
    let mut out = Vec::new();
    loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let (head_len, request, status, fields) = if requests {
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(buffer) {
                Ok(httparse::Status::Complete(n)) => (
                    n,
                    Some((
                        req.method.unwrap_or_default().to_owned(),
                        req.path.unwrap_or_default().to_owned(),
                    )),
                    0,
                    fields(req.headers),
                ),
                Ok(httparse::Status::Partial) => break,
                Err(e) => return Err(format!("not an HTTP/1.1 request: {e}")),
            }
        } else {
            let mut res = httparse::Response::new(&mut headers);
            match res.parse(buffer) {
                Ok(httparse::Status::Complete(n)) => {
                    (n, None, res.code.unwrap_or_default(), fields(res.headers))
                }
                Ok(httparse::Status::Partial) => break,
                Err(e) => return Err(format!("not an HTTP/1.1 response: {e}")),
            }
        };
        let mut message = Message {
            request,
            status,
            headers: fields,
            body: Vec::new(),
        };
        if message
            .header("transfer-encoding")
            .is_some_and(|v| !v.eq_ignore_ascii_case("identity"))
        {
            return Err("a chunked body: the recorder follows Content-Length only".into());
        }
        let length = match message.header("content-length") {
            Some(v) => v
                .trim()
                .parse::<usize>()
                .map_err(|_| format!("Content-Length `{v}` is not a number"))?,
            None => 0,
        };
        if length > MAX_BODY {
            return Err(format!("a body of {length} octets (at most {MAX_BODY})"));
        }
        if buffer.len() < head_len + length {
            break;
        }
        message.body = buffer[head_len..head_len + length].to_vec();
        buffer.drain(..head_len + length);
        out.push(message);
    }
    if buffer.len() > MAX_HEAD + MAX_BODY {
        return Err(format!(
            "more than {} octets without a complete message",
            MAX_HEAD + MAX_BODY
        ));
    }
    Ok(out)
}

fn fields(headers: &[httparse::Header<'_>]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect()
}

/// Assigns variables to the opaque strings of a response body (before it is written).
pub(crate) fn capture(message: &Message, values: &mut ValueMap) {
    if let Ok(json) = serde_json::from_slice::<Value>(&message.body) {
        capture_json("value", &json, values);
    }
}

fn capture_json(key: &str, json: &Value, values: &mut ValueMap) {
    match json {
        Value::String(s) => values.capture_opaque(key, s),
        Value::Array(items) => items.iter().for_each(|v| capture_json(key, v, values)),
        Value::Object(members) => members.iter().for_each(|(k, v)| capture_json(k, v, values)),
        _ => {}
    }
}

/// The body line of a message: `body json ...` for JSON, `body ...` for other text.
fn body_line(message: &Message, values: &ValueMap, expect: bool) -> Option<String> {
    if message.body.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(&message.body);
    let one_line = serde_json::from_slice::<Value>(&message.body)
        .ok()
        .and_then(|v| serde_json::to_string(&v).ok());
    match one_line {
        Some(json) if expect => Some(format!("  body json {}", values.substitute(&json, false))),
        Some(json) => Some(format!("  body {}", values.substitute(&json, false))),
        None if !text.contains(['\r', '\n']) => {
            Some(format!("  body {}", values.substitute(&text, false)))
        }
        // A multi-line body that is not JSON cannot be one transcript line.
        None => None,
    }
}

/// A request the role under test (a mail server) sent, as a `push <-` step.
pub(crate) fn push_expect(message: &Message, values: &mut ValueMap) -> Vec<String> {
    let (method, target) = message.request.clone().unwrap_or_default();
    let mut lines = vec![format!(
        "push <- {method} {}",
        values.substitute(&target, false)
    )];
    if let Some(ttl) = message.header("ttl") {
        lines.push(format!("  TTL: ${}", values.numbered("ttl", ttl.trim())));
    }
    if let Some(body) = body_line(message, values, true) {
        lines.push(body);
    }
    lines
}

/// Headers a request step leaves to the runner or that only describe the connection.
const LEFT_TO_RUNNER: [&str; 7] = [
    "host",
    "content-length",
    "connection",
    "user-agent",
    "accept",
    "accept-encoding",
    "authorization",
];

/// A request sent to the role under test (a push server), as an `api ->` step.
pub(crate) fn api_send(message: &Message, values: &mut ValueMap) -> Vec<String> {
    let (method, target) = message.request.clone().unwrap_or_default();
    let mut lines = vec![format!(
        "api -> {method} {}",
        values.substitute(&target, false)
    )];
    if message.header("authorization").is_some() {
        let token = if target.starts_with("/v1/devices") {
            "$registration"
        } else {
            "$provider"
        };
        lines.push(format!("  Authorization: Bearer {token}"));
    }
    for (name, value) in &message.headers {
        if !LEFT_TO_RUNNER.contains(&name.to_ascii_lowercase().as_str()) {
            lines.push(format!("  {name}: {}", values.substitute(value, false)));
        }
    }
    if let Some(body) = body_line(message, values, false) {
        lines.push(body);
    }
    lines
}

/// A response of the role under test (a push server), as an `api <-` step: the status, the
/// `Location` and the body.
pub(crate) fn api_expect(message: &Message, values: &mut ValueMap) -> Vec<String> {
    capture(message, values);
    let mut lines = vec![format!("api <- {}", message.status)];
    if let Some(location) = message.header("location") {
        for segment in location.split('/') {
            values.capture_opaque("value", segment);
        }
        lines.push(format!(
            "  Location: {}",
            values.substitute(location, false)
        ));
    }
    if let Some(body) = body_line(message, values, true) {
        lines.push(body);
    }
    lines
}
