//! Text templates (what the runner sends) and text and JSON patterns (what it expects).
//!
//! ```abnf
//! template      = *(text-char / "$$" / variable-ref / expr-ref)
//! text-pattern  = *(text-char / "$$" / variable-ref / expr-ref / any / any-run)
//! variable-ref  = "$" name                 ; in a pattern: captures when unbound
//! expr-ref      = "${" S expr S "}"
//! any           = "$"                      ; not followed by a name character, "{", "*" or "$"
//! any-run       = "$*"
//! ```
//!
//! A variable that is bound matches exactly its value's text; an unbound one captures at least
//! one character. `$` matches at least one character and `$*` any run, the empty one included.

use serde_json::Value;

use super::SyntaxError;
use super::cursor::Cursor;
use super::expr::{EvalError, Expr, Vars, expr, loose_eq, name_char, name_start, render};

/// One piece of a template or text pattern.
#[derive(Clone, Debug, PartialEq)]
pub enum Piece {
    /// Literal text.
    Lit(String),
    /// `$name`.
    Var(String),
    /// `${expr}`.
    Expr(Expr),
    /// `$` (patterns only).
    Any,
    /// `$*` (patterns only).
    AnyRun,
}

/// Text with variables, rendered when a step runs.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Template {
    /// The pieces in order.
    pub pieces: Vec<Piece>,
}

/// Text with variables and wildcards, matched against what arrives.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct TextPattern {
    /// The pieces in order.
    pub pieces: Vec<Piece>,
}

/// `expr-ref` after its `$`: `{ expr }`.
pub(crate) fn expr_ref(c: &mut Cursor<'_>) -> Result<Expr, SyntaxError> {
    if !c.eat("{") {
        return Err(c.error("expected `{`"));
    }
    c.skip_space();
    let e = expr(c)?;
    c.skip_space();
    if !c.eat("}") {
        return Err(c.error("expected `}` to close `${`"));
    }
    Ok(e)
}

/// Reads pieces until `stop` says a character ends the text (it is not taken).
fn pieces(
    c: &mut Cursor<'_>,
    wildcards: bool,
    stop: &dyn Fn(char) -> bool,
) -> Result<Vec<Piece>, SyntaxError> {
    let mut out: Vec<Piece> = Vec::new();
    let mut lit = String::new();
    while let Some(ch) = c.peek() {
        if stop(ch) {
            break;
        }
        if ch != '$' {
            lit.push(ch);
            c.bump();
            continue;
        }
        let at = c.offset();
        c.bump();
        let piece = match c.peek() {
            Some('$') => {
                c.bump();
                lit.push('$');
                continue;
            }
            Some('{') => Piece::Expr(expr_ref(c)?),
            Some(n) if name_start(n) => Piece::Var(c.take_while(name_char).to_owned()),
            Some('*') if wildcards => {
                c.bump();
                Piece::AnyRun
            }
            _ if wildcards => Piece::Any,
            _ => {
                return Err(c.error_at(
                    at,
                    "`$` starts a variable (`$name`, `${expr}`); write `$$` for a dollar sign",
                ));
            }
        };
        if !lit.is_empty() {
            out.push(Piece::Lit(std::mem::take(&mut lit)));
        }
        out.push(piece);
    }
    if !lit.is_empty() {
        out.push(Piece::Lit(lit));
    }
    Ok(out)
}

/// `template` up to a character `stop` accepts.
pub(crate) fn template_until(
    c: &mut Cursor<'_>,
    stop: &dyn Fn(char) -> bool,
) -> Result<Template, SyntaxError> {
    Ok(Template {
        pieces: pieces(c, false, stop)?,
    })
}

/// `template` to the end of the cursor.
pub(crate) fn template(c: &mut Cursor<'_>) -> Result<Template, SyntaxError> {
    template_until(c, &|_| false)
}

/// `text-pattern` up to a character `stop` accepts.
pub(crate) fn text_pattern_until(
    c: &mut Cursor<'_>,
    stop: &dyn Fn(char) -> bool,
) -> Result<TextPattern, SyntaxError> {
    Ok(TextPattern {
        pieces: pieces(c, true, stop)?,
    })
}

/// `text-pattern` to the end of the cursor.
pub(crate) fn text_pattern(c: &mut Cursor<'_>) -> Result<TextPattern, SyntaxError> {
    text_pattern_until(c, &|_| false)
}

impl Template {
    /// A template of literal text.
    pub fn literal(text: &str) -> Self {
        Self {
            pieces: vec![Piece::Lit(text.to_owned())],
        }
    }

    /// The text with every variable and expression replaced by its value.
    pub fn render(&self, vars: &Vars) -> Result<String, EvalError> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Lit(text) => out.push_str(text),
                Piece::Var(name) => out.push_str(&render(
                    vars.get(name)
                        .ok_or_else(|| EvalError::Unbound(name.clone()))?,
                )),
                Piece::Expr(e) => out.push_str(&render(&e.eval(vars)?)),
                Piece::Any | Piece::AnyRun => {}
            }
        }
        Ok(out)
    }

    /// The template as written.
    pub fn source(&self) -> String {
        source(&self.pieces)
    }
}

fn source(pieces: &[Piece]) -> String {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Lit(text) => out.push_str(&text.replace('$', "$$")),
            Piece::Var(name) => {
                out.push('$');
                out.push_str(name);
            }
            Piece::Expr(e) => out.push_str(&format!("${{{e}}}")),
            Piece::Any => out.push('$'),
            Piece::AnyRun => out.push_str("$*"),
        }
    }
    out
}

/// What a successful match binds: new variables, in the order they were captured.
pub type Bindings = Vec<(String, Value)>;

/// Looks a name up in the bindings made so far by this match, then in `vars`.
pub(crate) fn lookup<'a>(vars: &'a Vars, bound: &'a Bindings, name: &str) -> Option<&'a Value> {
    bound
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .or_else(|| vars.get(name))
}

/// `vars` with `bound` applied, for evaluating an expression in the middle of a match.
pub(crate) fn with_bound(vars: &Vars, bound: &Bindings) -> Vars {
    let mut all = vars.clone();
    for (name, value) in bound {
        all.insert(name.clone(), value.clone());
    }
    all
}

impl TextPattern {
    /// A pattern of literal text.
    pub fn literal(text: &str) -> Self {
        Self {
            pieces: vec![Piece::Lit(text.to_owned())],
        }
    }

    /// Whether the pattern is one wildcard or capture that takes a whole value.
    pub fn whole(&self) -> Option<&Piece> {
        match self.pieces.as_slice() {
            [piece @ (Piece::Any | Piece::AnyRun | Piece::Var(_) | Piece::Expr(_))] => Some(piece),
            _ => None,
        }
    }

    /// Matches `actual`; on success, the captures made (appended to `bound`).
    pub fn matches(&self, actual: &str, vars: &Vars, bound: &mut Bindings) -> bool {
        let mut scratch = bound.clone();
        if match_pieces(&self.pieces, actual, vars, &mut scratch, 0) {
            *bound = scratch;
            true
        } else {
            false
        }
    }

    /// The text with bound variables and expressions replaced by their values; wildcards and
    /// unbound variables are left as written.
    pub fn expand(&self, vars: &Vars) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Lit(text) => out.push_str(text),
                Piece::Var(name) => match vars.get(name) {
                    Some(value) => out.push_str(&render(value)),
                    None => {
                        out.push('$');
                        out.push_str(name);
                    }
                },
                Piece::Expr(e) => match e.eval(vars) {
                    Ok(value) => out.push_str(&render(&value)),
                    Err(_) => out.push_str(&format!("${{{e}}}")),
                },
                Piece::Any => out.push('$'),
                Piece::AnyRun => out.push_str("$*"),
            }
        }
        out
    }

    /// The pattern as written.
    pub fn source(&self) -> String {
        source(&self.pieces)
    }
}

/// Backtracking bounded by the pattern's shape: every piece that can stretch tries each end.
/// Inputs are header values and paths, so the cost stays small; `depth` guards the recursion.
fn match_pieces(
    pieces: &[Piece],
    actual: &str,
    vars: &Vars,
    bound: &mut Bindings,
    depth: usize,
) -> bool {
    if depth > 64 {
        return false;
    }
    let Some((first, rest)) = pieces.split_first() else {
        return actual.is_empty();
    };
    let fixed = |text: &str, bound: &mut Bindings| -> bool {
        actual.strip_prefix(text).is_some_and(|after| {
            let mut trial = bound.clone();
            if match_pieces(rest, after, vars, &mut trial, depth + 1) {
                *bound = trial;
                true
            } else {
                false
            }
        })
    };
    match first {
        Piece::Lit(text) => fixed(text, bound),
        Piece::Expr(e) => match e.eval(&with_bound(vars, bound)) {
            Ok(value) => fixed(&render(&value), bound),
            Err(_) => false,
        },
        Piece::Var(name) => match lookup(vars, bound, name) {
            Some(value) => {
                let text = render(value);
                fixed(&text, bound)
            }
            None => stretch(actual, 1, |taken, after| {
                let mut trial = bound.clone();
                trial.push((name.clone(), Value::String(taken.to_owned())));
                if match_pieces(rest, after, vars, &mut trial, depth + 1) {
                    *bound = trial;
                    true
                } else {
                    false
                }
            }),
        },
        Piece::Any | Piece::AnyRun => {
            let least = usize::from(matches!(first, Piece::Any));
            stretch(actual, least, |_, after| {
                let mut trial = bound.clone();
                if match_pieces(rest, after, vars, &mut trial, depth + 1) {
                    *bound = trial;
                    true
                } else {
                    false
                }
            })
        }
    }
}

/// Tries every split of `actual` whose head has at least `least` characters, shortest head
/// first, until `attempt` accepts one.
fn stretch(actual: &str, least: usize, mut attempt: impl FnMut(&str, &str) -> bool) -> bool {
    let mut boundaries: Vec<usize> = actual.char_indices().map(|(i, _)| i).collect();
    boundaries.push(actual.len());
    for (count, end) in boundaries.into_iter().enumerate() {
        if count < least {
            continue;
        }
        let (head, tail) = actual.split_at(end);
        if attempt(head, tail) {
            return true;
        }
    }
    false
}

/// A JSON body pattern: JSON in which strings are text patterns. A string that is exactly
/// `$`, `$name` or `${expr}` takes a whole value of any kind; `"$*"` as the last element of an
/// array accepts any further elements. Objects match when every member the pattern names
/// matches (others may be present); arrays match element by element.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonPattern {
    /// The pattern as JSON.
    pub value: Value,
}

/// Nesting allowed in a JSON pattern.
const MAX_JSON_DEPTH: usize = 32;

/// Parses a JSON pattern from the rest of the cursor.
pub(crate) fn json_pattern(c: &mut Cursor<'_>) -> Result<JsonPattern, SyntaxError> {
    let at = c.offset();
    let text = c.take_rest();
    let value: Value =
        serde_json::from_str(text.trim()).map_err(|e| c.error_at(at, format!("not JSON: {e}")))?;
    check_json(&value, 0).map_err(|m| c.error_at(at, m))?;
    Ok(JsonPattern { value })
}

fn check_json(value: &Value, depth: usize) -> Result<(), String> {
    if depth > MAX_JSON_DEPTH {
        return Err("JSON nested too deeply".into());
    }
    match value {
        Value::String(s) => {
            let mut c = Cursor::new(s, 0, 0);
            text_pattern(&mut c).map(|_| ()).map_err(|e| e.message)
        }
        Value::Array(items) => items.iter().try_for_each(|v| check_json(v, depth + 1)),
        Value::Object(members) => members.values().try_for_each(|v| check_json(v, depth + 1)),
        _ => Ok(()),
    }
}

fn string_pattern(s: &str) -> TextPattern {
    let mut c = Cursor::new(s, 0, 0);
    // Checked when the pattern was parsed.
    text_pattern(&mut c).unwrap_or_else(|_| TextPattern::literal(s))
}

impl JsonPattern {
    /// Matches a JSON value; on success the captures are appended to `bound`.
    pub fn matches(&self, actual: &Value, vars: &Vars, bound: &mut Bindings) -> bool {
        let mut scratch = bound.clone();
        if match_json(&self.value, actual, vars, &mut scratch) {
            *bound = scratch;
            true
        } else {
            false
        }
    }

    /// The pattern with bound variables and expressions replaced by their values.
    pub fn expand(&self, vars: &Vars) -> String {
        expand_json(&self.value, vars).to_string()
    }
}

fn expand_json(value: &Value, vars: &Vars) -> Value {
    match value {
        Value::String(s) => {
            let pattern = string_pattern(s);
            match pattern.whole() {
                Some(Piece::Var(name)) => vars.get(name).cloned().unwrap_or(value.clone()),
                Some(Piece::Expr(e)) => e.eval(vars).unwrap_or(value.clone()),
                _ => Value::String(pattern.expand(vars)),
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| expand_json(v, vars)).collect()),
        Value::Object(members) => Value::Object(
            members
                .iter()
                .map(|(k, v)| (k.clone(), expand_json(v, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn match_json(pattern: &Value, actual: &Value, vars: &Vars, bound: &mut Bindings) -> bool {
    match pattern {
        Value::String(s) => {
            let text = string_pattern(s);
            match text.whole() {
                Some(Piece::Any) => return true,
                Some(Piece::Var(name)) => {
                    return match lookup(vars, bound, name) {
                        Some(value) => loose_eq(value, actual),
                        None => {
                            bound.push((name.clone(), actual.clone()));
                            true
                        }
                    };
                }
                Some(Piece::Expr(e)) => {
                    return e
                        .eval(&with_bound(vars, bound))
                        .is_ok_and(|value| loose_eq(&value, actual));
                }
                _ => {}
            }
            match actual {
                Value::String(a) => text.matches(a, vars, bound),
                _ => false,
            }
        }
        Value::Array(items) => {
            let Value::Array(actual) = actual else {
                return false;
            };
            let open = items.last() == Some(&Value::String("$*".into()));
            let fixed = if open {
                &items[..items.len() - 1]
            } else {
                &items[..]
            };
            if actual.len() < fixed.len() || (!open && actual.len() != fixed.len()) {
                return false;
            }
            fixed
                .iter()
                .zip(actual)
                .all(|(p, a)| match_json(p, a, vars, bound))
        }
        Value::Object(members) => {
            let Value::Object(actual) = actual else {
                return false;
            };
            members.iter().all(|(key, p)| {
                actual
                    .get(key)
                    .is_some_and(|a| match_json(p, a, vars, bound))
            })
        }
        other => loose_eq(other, actual),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> TextPattern {
        text_pattern(&mut Cursor::new(text, 1, 1)).unwrap()
    }

    #[test]
    fn captures_and_wildcards_in_text() {
        let mut vars = Vars::new();
        vars.insert("token".into(), Value::from("abc"));
        let mut bound = Bindings::new();
        assert!(pattern("/v1/message/$token/$id").matches("/v1/message/abc/17", &vars, &mut bound));
        assert_eq!(bound, vec![("id".to_owned(), Value::from("17"))]);
        let mut bound = Bindings::new();
        assert!(!pattern("/v1/message/$token/$id").matches("/v1/message/abd/1", &vars, &mut bound));
        assert!(bound.is_empty());
        assert!(pattern("Bearer $").matches("Bearer x", &vars, &mut bound));
        assert!(!pattern("Bearer $").matches("Bearer ", &vars, &mut bound));
        assert!(pattern("a$*").matches("a", &vars, &mut bound));
        assert!(pattern("${upper(token)}-$$").matches("ABC-$", &vars, &mut bound));
    }

    #[test]
    fn json_patterns_capture_values_of_any_kind() {
        let p = json_pattern(&mut Cursor::new(
            r#"{"aps":{"account-id":"$account","m":["${md5(\"INBOX\")}", "$*"]},"n":"$n"}"#,
            1,
            1,
        ))
        .unwrap();
        let actual: Value = serde_json::from_str(
            r#"{"aps":{"account-id":"a1","m":["7e33429f656f1e6e9d79b29c3f82c57e","x"],"extra":1},"n":5}"#,
        )
        .unwrap();
        let mut bound = Bindings::new();
        assert!(p.matches(&actual, &Vars::new(), &mut bound));
        assert_eq!(bound[0], ("account".to_owned(), Value::from("a1")));
        assert_eq!(bound[1], ("n".to_owned(), Value::from(5)));
        let wrong: Value = serde_json::from_str(r#"{"aps":{"account-id":"a1","m":[]}}"#).unwrap();
        assert!(!p.matches(&wrong, &Vars::new(), &mut Bindings::new()));
    }

    #[test]
    fn templates_render_and_refuse_stray_dollars() {
        let mut vars = Vars::new();
        vars.insert("n".into(), Value::from(3));
        let t = template(&mut Cursor::new("a $n ${n + 1} $$", 1, 1)).unwrap();
        assert_eq!(t.render(&vars).unwrap(), "a 3 4 $");
        assert!(template(&mut Cursor::new("a $ b", 1, 1)).is_err());
    }
}
