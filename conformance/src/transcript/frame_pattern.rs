//! Device-channel frames in transcripts, written as their type and `field=value` pairs.
//!
//! ```abnf
//! frame-send   = frame-kind *(SP field-name "=" field-value) / "raw" SP template
//!                  ; raw: hexadecimal octets once rendered (spaces ignored)
//! frame-expect = (frame-kind / "any") *(SP field-name "=" (field-value / "$")) / "eof"
//! frame-kind   = "hello" / "welcome" / "notify" / "ack" / "ping" / "pong" / "error" / "close"
//! field-name   = "min" / "max" / "token" / "secret" / "cursor" / "version" / "window"
//!              / "keepalive" / "id" / "flags" / "payload" / "code" / "reason"
//! field-value  = 1*DIGIT / reason-name / "retained" / "-" / "$" name / "${" expr "}"
//!              / string / "hex:" *HEXDIG / "json:" json-text    ; json: runs to the end of the line
//! ```
//!
//! Fields a pattern leaves out match anything. Fields a sent frame leaves out take defaults:
//! `hello min=1 max=1 token=$token secret=$secret cursor=0`, `flags=-`, `payload=""`,
//! `reason=""`, `welcome version=1 cursor=0 window=16 keepalive=60`.

use serde_json::Value;

use super::SyntaxError;
use super::cursor::Cursor;
use super::expr::{EvalError, Expr, Vars, name_char, name_start, render, string};
use super::pattern::{
    Bindings, JsonPattern, Template, expr_ref, json_pattern, lookup, template, with_bound,
};
use crate::frames::{self, Field, Frame, RETAINED};

/// A field value in a transcript.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue {
    /// A number.
    Int(u64),
    /// A reason name (`auth-failed`) or flags name (`retained`, `-`), as its number.
    Named(u64, String),
    /// Octets from a string or `hex:`.
    Octets(Vec<u8>),
    /// `json:` in a pattern.
    Json(JsonPattern),
    /// `json:` in a sent frame: the text, rendered.
    JsonText(Template),
    /// `$name`
    Var(String),
    /// `${expr}`
    Expr(Expr),
    /// `$` (patterns only)
    Any,
}

/// A frame the runner sends.
#[derive(Clone, Debug, PartialEq)]
pub enum FrameTemplate {
    /// A frame of a known type with the fields given.
    Frame(String, Vec<(String, FieldValue)>),
    /// Octets as they are (hexadecimal once rendered).
    Raw(Template),
}

/// What the runner expects on a device-channel connection.
#[derive(Clone, Debug, PartialEq)]
pub enum FramePattern {
    /// A frame of this type (`None`: any) whose named fields match.
    Frame(Option<String>, Vec<(String, FieldValue)>),
    /// The peer closed the connection.
    Eof,
}

fn fields_of(kind: &str) -> &'static [&'static str] {
    match kind {
        "hello" => &["min", "max", "token", "secret", "cursor"],
        "welcome" => &["version", "cursor", "window", "keepalive"],
        "notify" => &["id", "flags", "payload"],
        "ack" => &["id"],
        "error" | "close" => &["code", "reason"],
        _ => &[],
    }
}

fn is_int_field(name: &str) -> bool {
    !matches!(name, "token" | "secret" | "payload" | "reason")
}

fn frame_kind(c: &mut Cursor<'_>, any: bool) -> Result<Option<String>, SyntaxError> {
    let at = c.offset();
    let word = c.take_while(|ch| ch.is_ascii_lowercase());
    if any && word == "any" {
        return Ok(None);
    }
    if frames::KINDS.iter().any(|(_, n)| *n == word) {
        return Ok(Some(word.to_owned()));
    }
    Err(c.error_at(
        at,
        "expected a frame type: hello, welcome, notify, ack, ping, pong, error or close",
    ))
}

fn field_value(c: &mut Cursor<'_>, field: &str, pattern: bool) -> Result<FieldValue, SyntaxError> {
    let at = c.offset();
    if c.peek() == Some('$') {
        c.bump();
        return match c.peek() {
            Some('{') => Ok(FieldValue::Expr(expr_ref(c)?)),
            Some(n) if name_start(n) => Ok(FieldValue::Var(c.take_while(name_char).to_owned())),
            _ if pattern => Ok(FieldValue::Any),
            _ => Err(c.error_at(at, "`$` alone matches anything; a sent frame needs a value")),
        };
    }
    if c.peek() == Some('"') {
        if is_int_field(field) {
            return Err(c.error(format!("`{field}` is a number")));
        }
        return Ok(FieldValue::Octets(string(c)?.into_bytes()));
    }
    if c.eat("hex:") {
        if is_int_field(field) {
            return Err(c.error_at(at, format!("`{field}` is a number")));
        }
        let digits = c.take_while(|ch| ch.is_ascii_hexdigit());
        return hex::decode(digits)
            .map(FieldValue::Octets)
            .map_err(|_| c.error_at(at, "`hex:` needs an even number of hexadecimal digits"));
    }
    if c.eat("json:") {
        if field != "payload" {
            return Err(c.error_at(at, "only `payload` takes `json:`"));
        }
        return if pattern {
            Ok(FieldValue::Json(json_pattern(c)?))
        } else {
            Ok(FieldValue::JsonText(template(c)?))
        };
    }
    let word = c.take_while(|ch| !ch.is_whitespace());
    if let Ok(n) = word.parse::<u64>() {
        if !is_int_field(field) {
            return Err(c.error_at(at, format!("`{field}` takes a string, `hex:` or `json:`")));
        }
        return Ok(FieldValue::Int(n));
    }
    let named = match field {
        "code" => frames::reason_code(word).map(u64::from),
        "flags" => match word {
            "retained" => Some(u64::from(RETAINED)),
            "-" => Some(0),
            _ => None,
        },
        _ => None,
    };
    named
        .map(|n| FieldValue::Named(n, word.to_owned()))
        .ok_or_else(|| c.error_at(at, format!("`{word}` is not a value of `{field}`")))
}

fn fields(
    c: &mut Cursor<'_>,
    kind: Option<&str>,
    pattern: bool,
) -> Result<Vec<(String, FieldValue)>, SyntaxError> {
    let mut out: Vec<(String, FieldValue)> = Vec::new();
    loop {
        c.skip_space();
        if c.at_end() {
            return Ok(out);
        }
        let at = c.offset();
        let name = c.take_while(|ch| ch.is_ascii_lowercase());
        let known = match kind {
            Some(kind) => fields_of(kind).contains(&name),
            None => frames::KINDS
                .iter()
                .any(|(_, k)| fields_of(k).contains(&name)),
        };
        if !known {
            return Err(c.error_at(
                at,
                format!(
                    "`{name}` is not a field of {}",
                    kind.map_or("any frame".to_owned(), |k| format!("`{k}`"))
                ),
            ));
        }
        if out.iter().any(|(n, _)| n == name) {
            return Err(c.error_at(at, format!("`{name}` given twice")));
        }
        if !c.eat("=") {
            return Err(c.error("expected `=` after the field name"));
        }
        let value = field_value(c, name, pattern)?;
        out.push((name.to_owned(), value));
    }
}

/// `frame-send`
pub(crate) fn frame_send(c: &mut Cursor<'_>) -> Result<FrameTemplate, SyntaxError> {
    if c.eat_word("raw") {
        c.skip_space();
        return Ok(FrameTemplate::Raw(template(c)?));
    }
    let kind = frame_kind(c, false)?.unwrap_or_default();
    let fields = fields(c, Some(&kind), false)?;
    Ok(FrameTemplate::Frame(kind, fields))
}

/// `frame-expect`
pub(crate) fn frame_expect(c: &mut Cursor<'_>) -> Result<FramePattern, SyntaxError> {
    if c.eat_word("eof") {
        if !c.at_end() {
            return Err(c.error("nothing may follow `eof`"));
        }
        return Ok(FramePattern::Eof);
    }
    let kind = frame_kind(c, true)?;
    let fields = fields(c, kind.as_deref(), true)?;
    Ok(FramePattern::Frame(kind, fields))
}

fn eval_int(value: &FieldValue, vars: &Vars, field: &str) -> Result<u64, EvalError> {
    let v = match value {
        FieldValue::Int(n) | FieldValue::Named(n, _) => return Ok(*n),
        FieldValue::Var(name) => vars
            .get(name)
            .cloned()
            .ok_or_else(|| EvalError::Unbound(name.clone()))?,
        FieldValue::Expr(e) => e.eval(vars)?,
        _ => return Err(EvalError::Type(format!("`{field}` is a number"))),
    };
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .ok_or_else(|| EvalError::Type(format!("`{field}`: {v} is not a whole number")))
}

fn eval_octets(value: &FieldValue, vars: &Vars, field: &str) -> Result<Vec<u8>, EvalError> {
    Ok(match value {
        FieldValue::Octets(o) => o.clone(),
        FieldValue::JsonText(t) => t.render(vars)?.into_bytes(),
        FieldValue::Var(name) => render(
            vars.get(name)
                .ok_or_else(|| EvalError::Unbound(name.clone()))?,
        )
        .into_bytes(),
        FieldValue::Expr(e) => render(&e.eval(vars)?).into_bytes(),
        _ => return Err(EvalError::Type(format!("`{field}` takes octets"))),
    })
}

fn narrow<T: TryFrom<u64>>(n: u64, field: &str) -> Result<T, EvalError> {
    T::try_from(n).map_err(|_| EvalError::Type(format!("`{field}`: {n} is out of range")))
}

impl FrameTemplate {
    /// The octets to send.
    pub fn render(&self, vars: &Vars) -> Result<Vec<u8>, EvalError> {
        let (kind, fields) = match self {
            FrameTemplate::Raw(t) => {
                let text: String = t.render(vars)?.split_whitespace().collect();
                return hex::decode(&text)
                    .map_err(|_| EvalError::Type(format!("raw: {text:?} is not hexadecimal")));
            }
            FrameTemplate::Frame(kind, fields) => (kind.as_str(), fields),
        };
        let get = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        let int = |name: &str, default: u64| -> Result<u64, EvalError> {
            get(name).map_or(Ok(default), |v| eval_int(v, vars, name))
        };
        let octets = |name: &str, default: &str| -> Result<Vec<u8>, EvalError> {
            match get(name) {
                Some(v) => eval_octets(v, vars, name),
                None => match default.strip_prefix('$') {
                    Some(var) => Ok(render(
                        vars.get(var)
                            .ok_or_else(|| EvalError::Unbound(var.to_owned()))?,
                    )
                    .into_bytes()),
                    None => Ok(default.as_bytes().to_vec()),
                },
            }
        };
        let required = |name: &str| -> Result<u64, EvalError> {
            get(name)
                .ok_or_else(|| EvalError::Type(format!("`{kind}` needs `{name}=`")))
                .and_then(|v| eval_int(v, vars, name))
        };
        let frame = match kind {
            "hello" => Frame::Hello {
                min: narrow(int("min", 1)?, "min")?,
                max: narrow(int("max", 1)?, "max")?,
                token: octets("token", "$token")?,
                secret: octets("secret", "$secret")?,
                cursor: int("cursor", 0)?,
            },
            "welcome" => Frame::Welcome {
                version: narrow(int("version", 1)?, "version")?,
                cursor: int("cursor", 0)?,
                window: narrow(int("window", 16)?, "window")?,
                keepalive: narrow(int("keepalive", 60)?, "keepalive")?,
            },
            "notify" => Frame::Notify {
                id: required("id")?,
                flags: narrow(int("flags", 0)?, "flags")?,
                payload: octets("payload", "")?,
            },
            "ack" => Frame::Ack {
                id: required("id")?,
            },
            "ping" => Frame::Ping,
            "pong" => Frame::Pong,
            "error" => Frame::Error {
                code: narrow(required("code")?, "code")?,
                reason: octets("reason", "")?,
            },
            _ => Frame::Close {
                code: narrow(required("code")?, "code")?,
                reason: octets("reason", "")?,
            },
        };
        Ok(frame.encode())
    }
}

fn field_as_value(field: &Field) -> Value {
    match field {
        Field::Int(n) => Value::from(*n),
        Field::Bytes(b) => Value::String(match std::str::from_utf8(b) {
            Ok(text) => text.to_owned(),
            Err(_) => format!("hex:{}", hex::encode(b)),
        }),
    }
}

impl FramePattern {
    /// Matches what arrived; on success the captures are appended to `bound`.
    pub fn matches(&self, actual: &frames::Received, vars: &Vars, bound: &mut Bindings) -> bool {
        let (kind, fields) = match (self, actual) {
            (FramePattern::Eof, frames::Received::Eof) => return true,
            (FramePattern::Frame(kind, fields), frames::Received::Frame(frame)) => {
                if kind.as_deref().is_some_and(|k| k != frame.kind()) {
                    return false;
                }
                (frame, fields)
            }
            _ => return false,
        };
        let mut scratch = bound.clone();
        for (name, pattern) in fields {
            let Some(field) = kind.field(name) else {
                return false;
            };
            let ok = match (pattern, &field) {
                (FieldValue::Any, _) => true,
                (FieldValue::Int(n) | FieldValue::Named(n, _), Field::Int(a)) => n == a,
                (FieldValue::Octets(o), Field::Bytes(a)) => o == a,
                (FieldValue::Json(p), Field::Bytes(a)) => serde_json::from_slice::<Value>(a)
                    .is_ok_and(|v| p.matches(&v, vars, &mut scratch)),
                (FieldValue::Var(name), field) => match lookup(vars, &scratch, name) {
                    Some(value) => super::expr::loose_eq(value, &field_as_value(field)),
                    None => {
                        scratch.push((name.clone(), field_as_value(field)));
                        true
                    }
                },
                (FieldValue::Expr(e), field) => e
                    .eval(&with_bound(vars, &scratch))
                    .is_ok_and(|v| super::expr::loose_eq(&v, &field_as_value(field))),
                _ => false,
            };
            if !ok {
                return false;
            }
        }
        *bound = scratch;
        true
    }

    /// The pattern with bound variables expanded, for reports.
    pub fn expand(&self, vars: &Vars) -> String {
        let (kind, fields) = match self {
            FramePattern::Eof => return "eof".into(),
            FramePattern::Frame(kind, fields) => (kind.as_deref().unwrap_or("any"), fields),
        };
        let mut out = kind.to_owned();
        for (name, value) in fields {
            let text = match value {
                FieldValue::Int(n) => n.to_string(),
                FieldValue::Named(_, word) => word.clone(),
                FieldValue::Octets(o) => frames::octets_notation(o),
                FieldValue::Json(p) => format!("json:{}", p.expand(vars)),
                FieldValue::JsonText(t) => format!("json:{}", t.source()),
                FieldValue::Var(n) => vars.get(n).map_or_else(|| format!("${n}"), render),
                FieldValue::Expr(e) => e
                    .eval(vars)
                    .map_or_else(|_| format!("${{{e}}}"), |v| render(&v)),
                FieldValue::Any => "$".into(),
            };
            out.push_str(&format!(" {name}={text}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::Received;

    #[test]
    fn send_defaults_and_raw() {
        let mut vars = Vars::new();
        vars.insert("token".into(), Value::from("t"));
        vars.insert("secret".into(), Value::from("s"));
        let t = frame_send(&mut Cursor::new("hello cursor=${1 + 1}", 1, 1)).unwrap();
        let octets = t.render(&vars).unwrap();
        assert_eq!(
            frames::decode_body(&octets[4..]).unwrap(),
            Frame::Hello {
                min: 1,
                max: 1,
                token: b"t".to_vec(),
                secret: b"s".to_vec(),
                cursor: 2
            }
        );
        let raw = frame_send(&mut Cursor::new("raw 00 00 20 01", 1, 1)).unwrap();
        assert_eq!(raw.render(&vars).unwrap(), vec![0, 0, 0x20, 1]);
    }

    #[test]
    fn patterns_capture_and_compare() {
        let p = frame_expect(&mut Cursor::new(
            "notify id=$n flags=retained payload=json:{\"aps\":{\"m\":[]}}",
            1,
            1,
        ))
        .unwrap();
        let frame = Received::Frame(Frame::Notify {
            id: 4,
            flags: 1,
            payload: br#"{"aps":{"m":[]}}"#.to_vec(),
        });
        let mut bound = Bindings::new();
        assert!(p.matches(&frame, &Vars::new(), &mut bound));
        assert_eq!(bound, vec![("n".to_owned(), Value::from(4))]);
        let p = frame_expect(&mut Cursor::new("error code=auth-failed", 1, 1)).unwrap();
        assert!(!p.matches(&frame, &Vars::new(), &mut Bindings::new()));
        assert!(frame_expect(&mut Cursor::new("ack flags=1", 1, 1)).is_err());
        assert!(frame_expect(&mut Cursor::new("error code=nonsense", 1, 1)).is_err());
        assert!(frame_send(&mut Cursor::new("ack id=$", 1, 1)).is_err());
    }
}
