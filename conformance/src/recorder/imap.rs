//! IMAP on the recorded link: the octets of each direction cut into lines with their literals,
//! commands written as steps and responses as patterns.

use crate::imap_syntax::{Kind, Response, Token, parse_response};

use super::values::ValueMap;

/// The longest line (without its literals) kept as one; longer runs without a line end are
/// cut there, so that garbage cannot grow a buffer without bound.
pub(crate) const MAX_LINE: usize = 64 * 1024;

/// The largest literal announced that is taken as one; a larger `{n}` is kept as text.
const MAX_LITERAL: usize = 1024 * 1024;

/// A piece of a command or response line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    /// Text up to the line end or up to and including a literal's `{n}`.
    Text(Vec<u8>),
    /// A literal's octets.
    Literal(Vec<u8>),
}

/// Cuts the complete lines (with their literals) off the front of `buffer`.
pub(crate) fn split(buffer: &mut Vec<u8>) -> Vec<Vec<Part>> {
    let mut lines = Vec::new();
    let mut start = 0;
    'lines: loop {
        let mut parts = Vec::new();
        let mut pos = start;
        loop {
            let rest = &buffer[pos..];
            let Some(eol) = rest.iter().position(|&b| b == b'\n') else {
                if rest.len() > MAX_LINE {
                    parts.push(Part::Text(rest[..MAX_LINE].to_vec()));
                    lines.push(parts);
                    start = pos + MAX_LINE;
                    continue 'lines;
                }
                break 'lines;
            };
            let text_end = if eol > 0 && rest[eol - 1] == b'\r' {
                eol - 1
            } else {
                eol
            };
            let text = &rest[..text_end];
            match literal_len(text) {
                Some(n) if rest.len() >= eol + 1 + n => {
                    parts.push(Part::Text(text.to_vec()));
                    parts.push(Part::Literal(rest[eol + 1..eol + 1 + n].to_vec()));
                    pos += eol + 1 + n;
                }
                Some(_) => break 'lines,
                None => {
                    parts.push(Part::Text(text.to_vec()));
                    lines.push(parts);
                    start = pos + eol + 1;
                    continue 'lines;
                }
            }
        }
    }
    buffer.drain(..start);
    lines
}

/// The length of the literal that `text` ends by announcing (`{n}` or `{n+}`).
fn literal_len(text: &[u8]) -> Option<usize> {
    let inner = text.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let digits = &inner[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || digits.len() > 7 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
    (n <= MAX_LITERAL).then_some(n)
}

/// A response line as the runner's tokenizer sees it.
pub(crate) fn response(parts: &[Part]) -> Response {
    let mut bytes = Vec::new();
    for part in parts {
        match part {
            Part::Text(t) => bytes.extend_from_slice(t),
            Part::Literal(l) => {
                bytes.extend_from_slice(b"\r\n");
                bytes.extend_from_slice(l);
            }
        }
    }
    parse_response(&bytes)
}

/// A client line: its tag and command text, or `None` when it is not `tag SP text`.
pub(crate) struct ClientLine {
    /// The tag, or `None` for a line that is not a command (a continuation, garbage).
    pub tag: Option<String>,
    /// The command name, upper-cased (`UID FETCH` as `UID`).
    pub name: String,
    /// The line as the transcript writes it (after the tag), variables in place.
    pub text: String,
}

/// Writes a client line: the tag dropped, the rules of [`ValueMap`] applied, literals in
/// `{{...}}`. `Err` names what cannot be written (binary octets in a literal).
pub(crate) fn client_line(parts: &[Part], values: &mut ValueMap) -> Result<ClientLine, String> {
    let first = match parts.first() {
        Some(Part::Text(t)) => String::from_utf8_lossy(t).into_owned(),
        _ => String::new(),
    };
    let (tag, rest) = match first.split_once(' ') {
        Some((tag, rest)) if is_tag(tag) && !rest.is_empty() => (Some(tag.to_owned()), rest),
        _ => (None, first.as_str()),
    };
    let words: Vec<&str> = rest.split(' ').collect();
    let name = words
        .first()
        .map_or(String::new(), |w| w.to_ascii_uppercase());
    if tag.is_none() {
        return Ok(ClientLine {
            tag,
            name,
            text: escape_line(rest),
        });
    }
    if name == "LOGIN" {
        return Ok(ClientLine {
            tag,
            name,
            text: "LOGIN $user $password".into(),
        });
    }
    if name == "XAPPLEPUSHSERVICE" {
        for pair in words.windows(2) {
            let value = pair[1].trim_matches('"');
            match pair[0].to_ascii_lowercase().trim_matches('"') {
                "aps-account-id" => {
                    values.fixed("account", value);
                }
                "aps-device-token" => {
                    values.fixed("token", value);
                }
                _ => {}
            }
        }
        // PROV-20: a push names each mailbox by the MD5 of its name.
        if let Some(list) = rest.rsplit_once('(').map(|(_, l)| l.trim_end_matches(')')) {
            for name in list.split(' ').map(|n| n.trim_matches('"')) {
                if !name.is_empty() && !name.contains(['"', '\\', '$']) {
                    let md5 = hex::encode(<md5::Md5 as md5::Digest>::digest(name.as_bytes()));
                    values.derived("md5_", &md5, &format!("md5(\"{name}\")"));
                }
            }
        }
    }
    let mut text = String::new();
    for (i, part) in parts.iter().enumerate() {
        match part {
            Part::Text(t) => {
                let t = String::from_utf8_lossy(t);
                let t = if i == 0 {
                    rest.to_owned()
                } else {
                    t.into_owned()
                };
                // The runner announces literals itself: drop the `{n}` of the recording.
                let t = match t.rfind('{') {
                    Some(open) if matches!(parts.get(i + 1), Some(Part::Literal(_))) => {
                        t[..open].to_owned()
                    }
                    _ => t,
                };
                text.push_str(&substitute_words(&t, values));
            }
            Part::Literal(l) => {
                text.push_str("{{");
                text.push_str(&escape_literal(l)?);
                text.push_str("}}");
            }
        }
    }
    Ok(ClientLine { tag, name, text })
}

fn is_tag(word: &str) -> bool {
    !word.is_empty()
        && word.len() <= 64
        && word
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\+".contains(&b))
}

/// A line sent as it is (`N -> ...`): `$` escaped, control characters shown.
fn escape_line(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '$' => "$$".to_owned(),
            c if c.is_control() => c.escape_default().to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// The text of a `{{...}}` literal, or why it cannot be one.
fn escape_literal(octets: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(octets)
        .map_err(|_| "a literal that is not UTF-8 cannot be written in a transcript".to_owned())?;
    if text.contains("}}") {
        return Err("a literal containing `}}` cannot be written in a transcript".into());
    }
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                return Err(format!(
                    "a literal with the control character U+{:04X} cannot be written in a transcript",
                    u32::from(c)
                ));
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Command text with `$` escaped and whole words that are mapped values replaced.
fn substitute_words(text: &str, values: &ValueMap) -> String {
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if !word.is_empty() {
            // Short numbers stay: a sequence number or count is more likely than a
            // UIDVALIDITY or modseq that happens to be equal.
            let short_number = word.len() < 4 && word.bytes().all(|b| b.is_ascii_digit());
            match values.get(word).filter(|_| !short_number) {
                Some(name) => {
                    out.push('$');
                    out.push_str(name);
                }
                None => out.push_str(&word.replace('$', "$$")),
            }
            word.clear();
        }
    };
    for c in text.chars() {
        if c == ' ' || c == '(' || c == ')' || c == '"' || c == '[' || c == ']' {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// The pattern of a response (after its `*`, `+` or tag), with the rules of [`ValueMap`].
pub(crate) fn pattern(response: &Response, values: &mut ValueMap) -> String {
    let tokens = &response.tokens;
    let mut out = Vec::new();
    let status = response.kind == Kind::Continuation || response.status().is_some();
    if status {
        let mut rest = tokens.as_slice();
        if response.kind != Kind::Continuation {
            if let Some(first) = rest.first() {
                out.push(token(first, values));
                rest = &rest[1..];
            }
            if let Some(code @ Token::Bracket(_)) = rest.first() {
                out.push(token(code, values));
                rest = &rest[1..];
            }
        }
        if !rest.is_empty() {
            out.push("$*".into());
        }
    } else {
        out = list(tokens, values);
    }
    if out.is_empty() {
        // An empty pattern cannot be written; `$*` matches the nothing that came.
        return "$*".into();
    }
    out.join(" ")
}

fn list(tokens: &[Token], values: &mut ValueMap) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let key = tokens[i]
            .text()
            .map(str::to_ascii_uppercase)
            .unwrap_or_default();
        let next = tokens.get(i + 1);
        let numbered = |kind: &str, values: &mut ValueMap, t: &Token| match t.text() {
            Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                Some(format!("${}", values.numbered(kind, n)))
            }
            _ => None,
        };
        let replaced = match (key.as_str(), next) {
            ("UIDVALIDITY" | "APPENDUID" | "COPYUID", Some(t)) => {
                numbered("uidvalidity", values, t)
            }
            ("HIGHESTMODSEQ", Some(t)) => numbered("modseq", values, t),
            ("MODSEQ", Some(Token::List(inner))) if inner.len() == 1 => {
                numbered("modseq", values, &inner[0]).map(|v| format!("({v})"))
            }
            ("INTERNALDATE", Some(_)) => Some("$".to_owned()),
            ("APS-TOPIC", Some(t)) => t.text().map(|v| format!("${}", values.fixed("topic", v))),
            _ => None,
        };
        out.push(token(&tokens[i], values));
        if let Some(r) = replaced {
            out.push(r);
            i += 1;
        }
        i += 1;
    }
    out
}

fn token(t: &Token, values: &mut ValueMap) -> String {
    match t {
        Token::Atom(a) => match values.get(a) {
            Some(name) if !a.bytes().all(|b| b.is_ascii_digit()) => format!("${name}"),
            _ => a.replace('$', "$$"),
        },
        Token::Quoted(s) | Token::Literal(s) => match values.get(s) {
            Some(name) => format!("${name}"),
            None if s.chars().any(char::is_control) || s.contains('$') => "$".to_owned(),
            None => format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
        },
        Token::List(items) => format!("({})", list(items, values).join(" ")),
        Token::Bracket(items) => format!("[{}]", list(items, values).join(" ")),
    }
}
