//! Patterns over IMAP responses, in the imaptest tradition.
//!
//! ```abnf
//! imap-pattern  = pat-token *(SP pat-token)
//! pat-token     = "$" / "$*" / "$" name / "${" expr "}" / pat-quoted / pat-list
//!                 / pat-code / pat-atom
//! pat-quoted    = DQUOTE *(quoted-char / "\" (DQUOTE / "\")) DQUOTE
//!                   ; matches a quoted string or a literal with exactly this text
//! pat-list      = "(" [unordered SP] [imap-pattern] ")"
//! unordered     = "$!unordered" ["=" DIGIT]   ; "=2": key-value pairs, as in FETCH
//! pat-code      = "[" [imap-pattern] "]"
//! pat-atom      = 1*atom-char    ; matches any string form, text compared case-insensitively;
//!                                ; with a "$" inside, it is a text-pattern (case-sensitive)
//! ```
//!
//! `$` matches any one token (a list included), `$*` any run of tokens, `$name` a string-like
//! token (captured when unbound, compared exactly when bound), `${expr}` a string-like token whose
//! text equals the value. A list marked `$!unordered` matches when each of its patterns matches
//! a different element; without a `$*` among them, no element may be left over.

use std::fmt;

use serde_json::Value;

use super::SyntaxError;
use super::cursor::Cursor;
use super::expr::{Expr, Vars, name_char, name_start, render};
use super::pattern::{Bindings, TextPattern, expr_ref, lookup, text_pattern, with_bound};
use crate::imap_syntax::Token;

/// One token of an IMAP pattern.
#[derive(Clone, Debug, PartialEq)]
pub enum PatToken {
    /// An atom pattern: any string form whose text equals this, ignoring ASCII case.
    Atom(String),
    /// An atom pattern with variables: any string form whose text matches.
    AtomText(TextPattern),
    /// A quoted string: a quoted string or literal with exactly this text.
    Quoted(String),
    /// `$`
    Any,
    /// `$*`
    Rest,
    /// `$name`
    Var(String),
    /// `${expr}`
    Expr(Expr),
    /// `( ... )`; with `$!unordered=k`, the group size `k` (1 for plain `$!unordered`), else 0.
    List(Vec<PatToken>, u8),
    /// `[ ... ]`
    Code(Vec<PatToken>),
}

/// A pattern over the tokens of one response (after its `*`, `+` or tag).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ImapPattern {
    /// The tokens in order.
    pub tokens: Vec<PatToken>,
}

const MAX_DEPTH: usize = 32;

/// `imap-pattern` to the end of the cursor.
pub(crate) fn imap_pattern(c: &mut Cursor<'_>) -> Result<ImapPattern, SyntaxError> {
    let tokens = pat_tokens(c, None, 0)?;
    Ok(ImapPattern { tokens })
}

fn pat_tokens(
    c: &mut Cursor<'_>,
    close: Option<char>,
    depth: usize,
) -> Result<Vec<PatToken>, SyntaxError> {
    if depth > MAX_DEPTH {
        return Err(c.error("pattern nested too deeply"));
    }
    let mut out = Vec::new();
    loop {
        c.skip_space();
        let Some(ch) = c.peek() else {
            return match close {
                None => Ok(out),
                Some(x) => Err(c.error(format!("expected `{x}` before the end of the line"))),
            };
        };
        if Some(ch) == close {
            c.bump();
            return Ok(out);
        }
        out.push(match ch {
            '(' => {
                c.bump();
                c.skip_space();
                let group = unordered(c)?;
                PatToken::List(pat_tokens(c, Some(')'), depth + 1)?, group)
            }
            '[' => {
                c.bump();
                PatToken::Code(pat_tokens(c, Some(']'), depth + 1)?)
            }
            ')' | ']' => return Err(c.error(format!("unbalanced `{ch}`"))),
            '"' => PatToken::Quoted(pat_quoted(c)?),
            '$' => pat_dollar(c)?,
            _ => pat_atom(c, close)?,
        });
    }
}

/// `unordered`, if the list opens with it: the group size, else 0.
fn unordered(c: &mut Cursor<'_>) -> Result<u8, SyntaxError> {
    if !c.eat("$!unordered") {
        return Ok(0);
    }
    let group = if c.eat("=") {
        match c.bump().and_then(|d| d.to_digit(10)) {
            Some(d @ 1..=9) => d as u8,
            _ => return Err(c.error("`$!unordered=` takes a group size from 1 to 9")),
        }
    } else {
        1
    };
    if !matches!(c.peek(), None | Some(' ' | '\t' | ')')) {
        return Err(c.error("expected a space after `$!unordered`"));
    }
    Ok(group)
}

fn pat_quoted(c: &mut Cursor<'_>) -> Result<String, SyntaxError> {
    c.bump();
    let mut out = String::new();
    loop {
        match c.bump() {
            None => return Err(c.error("unterminated quoted string")),
            Some('"') => return Ok(out),
            Some('\\') => match c.bump() {
                Some(x @ ('"' | '\\')) => out.push(x),
                _ => return Err(c.error("in a quoted string only \\\" and \\\\ are escapes")),
            },
            Some(x) => out.push(x),
        }
    }
}

fn pat_dollar(c: &mut Cursor<'_>) -> Result<PatToken, SyntaxError> {
    let at = c.offset();
    c.bump();
    let token = match c.peek() {
        Some('*') => {
            c.bump();
            PatToken::Rest
        }
        Some('{') => PatToken::Expr(expr_ref(c)?),
        Some(n) if name_start(n) => PatToken::Var(c.take_while(name_char).to_owned()),
        Some('!') => return Err(c.error_at(at, "`$!unordered` may only open a list")),
        _ => PatToken::Any,
    };
    match c.peek() {
        None | Some(' ' | '\t' | ')' | ']') => Ok(token),
        Some(_) => {
            // `$uid:*` and the like: an atom with a variable in it.
            c.reset(at);
            pat_atom(c, None)
        }
    }
}

fn pat_atom(c: &mut Cursor<'_>, close: Option<char>) -> Result<PatToken, SyntaxError> {
    let start = c.offset();
    let mut brackets = 0usize;
    while let Some(ch) = c.peek() {
        match ch {
            '[' => brackets += 1,
            ']' if brackets > 0 => brackets -= 1,
            ' ' | '\t' | '(' | ')' if brackets == 0 => break,
            _ if Some(ch) == close && brackets == 0 => break,
            _ => {}
        }
        c.bump();
    }
    let text = c.slice(start, c.offset());
    if !text.contains('$') {
        return Ok(PatToken::Atom(text.to_owned()));
    }
    let mut inner = Cursor::new(text, c.line(), c.column() - text.chars().count());
    Ok(PatToken::AtomText(text_pattern(&mut inner)?))
}

impl ImapPattern {
    /// Matches the tokens of a response; on success the captures are appended to `bound`.
    pub fn matches(&self, actual: &[Token], vars: &Vars, bound: &mut Bindings) -> bool {
        let mut scratch = bound.clone();
        if match_seq(&self.tokens, actual, vars, &mut scratch, 0) {
            *bound = scratch;
            true
        } else {
            false
        }
    }

    /// How many leading tokens match, for choosing the closest actual response.
    pub fn closeness(&self, actual: &[Token], vars: &Vars) -> usize {
        let mut bound = Bindings::new();
        self.tokens
            .iter()
            .zip(actual)
            .take_while(|(p, a)| match_one(p, a, vars, &mut bound, 0))
            .count()
    }

    /// The pattern with bound variables and expressions replaced by their values.
    pub fn expand(&self, vars: &Vars) -> String {
        let mut out = String::new();
        write_expanded(&mut out, &self.tokens, vars);
        out
    }
}

fn write_expanded(out: &mut String, tokens: &[PatToken], vars: &Vars) {
    for (i, token) in tokens.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        match token {
            PatToken::Var(name) => match vars.get(name) {
                Some(value) => out.push_str(&render(value)),
                None => out.push_str(&format!("${name}")),
            },
            PatToken::Expr(e) => match e.eval(vars) {
                Ok(value) => out.push_str(&render(&value)),
                Err(_) => out.push_str(&format!("${{{e}}}")),
            },
            PatToken::AtomText(t) => out.push_str(&t.expand(vars)),
            PatToken::List(items, group) => {
                out.push('(');
                write_group(out, *group);
                write_expanded(out, items, vars);
                out.push(')');
            }
            PatToken::Code(items) => {
                out.push('[');
                write_expanded(out, items, vars);
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
}

fn write_group(out: &mut String, group: u8) {
    match group {
        0 => {}
        1 => out.push_str("$!unordered "),
        k => out.push_str(&format!("$!unordered={k} ")),
    }
}

impl fmt::Display for PatToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatToken::Atom(s) => f.write_str(s),
            PatToken::AtomText(t) => f.write_str(&t.source()),
            PatToken::Quoted(s) => {
                write!(f, "\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
            }
            PatToken::Any => f.write_str("$"),
            PatToken::Rest => f.write_str("$*"),
            PatToken::Var(name) => write!(f, "${name}"),
            PatToken::Expr(e) => write!(f, "${{{e}}}"),
            PatToken::List(items, group) => {
                f.write_str("(")?;
                let mut text = String::new();
                write_group(&mut text, *group);
                f.write_str(&text)?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str(")")
            }
            PatToken::Code(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl fmt::Display for ImapPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, token) in self.tokens.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{token}")?;
        }
        Ok(())
    }
}

fn token_source(token: &Token) -> String {
    match token {
        Token::Atom(s) | Token::Quoted(s) | Token::Literal(s) => s.clone(),
        other => other.to_string(),
    }
}

fn match_one(
    pattern: &PatToken,
    actual: &Token,
    vars: &Vars,
    bound: &mut Bindings,
    depth: usize,
) -> bool {
    match pattern {
        PatToken::Any => true,
        PatToken::Rest => false,
        PatToken::Atom(text) => actual.text().is_some_and(|a| a.eq_ignore_ascii_case(text)),
        PatToken::AtomText(t) => actual.text().is_some_and(|a| t.matches(a, vars, bound)),
        PatToken::Quoted(text) => match actual {
            Token::Quoted(a) | Token::Literal(a) => a == text,
            _ => false,
        },
        PatToken::Var(name) => {
            let text = token_source(actual);
            match lookup(vars, bound, name) {
                Some(value) => render(value) == text,
                None => {
                    bound.push((name.clone(), Value::String(text)));
                    true
                }
            }
        }
        PatToken::Expr(e) => e
            .eval(&with_bound(vars, bound))
            .is_ok_and(|value| render(&value) == token_source(actual)),
        PatToken::List(items, group) => match actual {
            Token::List(a) if *group > 0 => {
                match_unordered(items, a, usize::from(*group), vars, bound, depth + 1)
            }
            Token::List(a) => match_seq(items, a, vars, bound, depth + 1),
            _ => false,
        },
        PatToken::Code(items) => match actual {
            Token::Bracket(a) => match_seq(items, a, vars, bound, depth + 1),
            _ => false,
        },
    }
}

fn match_seq(
    patterns: &[PatToken],
    actual: &[Token],
    vars: &Vars,
    bound: &mut Bindings,
    depth: usize,
) -> bool {
    if depth > MAX_DEPTH * 2 {
        return false;
    }
    let Some((first, rest)) = patterns.split_first() else {
        return actual.is_empty();
    };
    if *first == PatToken::Rest {
        // Shortest run first, so that later patterns see as much as they can.
        for skip in 0..=actual.len() {
            let mut trial = bound.clone();
            if match_seq(rest, &actual[skip..], vars, &mut trial, depth + 1) {
                *bound = trial;
                return true;
            }
        }
        return false;
    }
    let Some((head, tail)) = actual.split_first() else {
        return false;
    };
    let mut trial = bound.clone();
    if match_one(first, head, vars, &mut trial, depth)
        && match_seq(rest, tail, vars, &mut trial, depth + 1)
    {
        *bound = trial;
        true
    } else {
        false
    }
}

fn match_unordered(
    patterns: &[PatToken],
    actual: &[Token],
    group: usize,
    vars: &Vars,
    bound: &mut Bindings,
    depth: usize,
) -> bool {
    let open = patterns.contains(&PatToken::Rest);
    let wanted: Vec<&PatToken> = patterns.iter().filter(|p| **p != PatToken::Rest).collect();
    if !wanted.len().is_multiple_of(group) || !actual.len().is_multiple_of(group) {
        return false;
    }
    let chunks: Vec<&[Token]> = actual.chunks(group).collect();
    let mut used = vec![false; chunks.len()];
    for pattern in wanted.chunks(group) {
        let found = chunks.iter().enumerate().find_map(|(i, chunk)| {
            if used[i] {
                return None;
            }
            let mut trial = bound.clone();
            pattern
                .iter()
                .zip(chunk.iter())
                .all(|(p, a)| match_one(p, a, vars, &mut trial, depth))
                .then_some((i, trial))
        });
        match found {
            Some((i, trial)) => {
                used[i] = true;
                *bound = trial;
            }
            None => return false,
        }
    }
    open || used.iter().all(|u| *u)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap_syntax::parse_response;

    fn pattern(text: &str) -> ImapPattern {
        imap_pattern(&mut Cursor::new(text, 1, 1)).unwrap()
    }

    #[test]
    fn quoted_patterns_insist_on_strings_atoms_do_not() {
        let r = parse_response(b"* XAPPLEPUSHSERVICE \"mailbox\" INBOX");
        let mut bound = Bindings::new();
        assert!(pattern("XAPPLEPUSHSERVICE \"mailbox\" inbox").matches(
            &r.tokens,
            &Vars::new(),
            &mut bound
        ));
        assert!(!pattern("XAPPLEPUSHSERVICE \"mailbox\" \"INBOX\"").matches(
            &r.tokens,
            &Vars::new(),
            &mut bound
        ));
        let r = parse_response(b"* XAPPLEPUSHSERVICE mailbox INBOX");
        assert!(!pattern("XAPPLEPUSHSERVICE \"mailbox\" $").matches(
            &r.tokens,
            &Vars::new(),
            &mut bound
        ));
    }

    #[test]
    fn rest_captures_and_unordered_lists() {
        let r = parse_response(b"* CAPABILITY IMAP4rev1 IDLE XAPPLEPUSHSERVICE UIDPLUS");
        let mut bound = Bindings::new();
        assert!(pattern("CAPABILITY $* XAPPLEPUSHSERVICE $*").matches(
            &r.tokens,
            &Vars::new(),
            &mut bound
        ));
        let r = parse_response(b"* 3 FETCH (FLAGS (\\Seen) UID 17)");
        let mut bound = Bindings::new();
        assert!(
            pattern("$n FETCH ($!unordered=2 UID $uid FLAGS $ $*)").matches(
                &r.tokens,
                &Vars::new(),
                &mut bound
            )
        );
        assert_eq!(bound[0], ("n".to_owned(), Value::from("3")));
        assert_eq!(bound[1], ("uid".to_owned(), Value::from("17")));
        let mut vars = Vars::new();
        vars.insert("uid".into(), Value::from("18"));
        assert!(!pattern("$ FETCH ($!unordered=2 UID $uid $*)").matches(
            &r.tokens,
            &vars,
            &mut Bindings::new()
        ));
    }

    #[test]
    fn malformed_patterns_are_refused() {
        for bad in [
            "(a",
            "a)",
            "\"open",
            "x $!unordered",
            "[a",
            "($!unordered=0 a)",
        ] {
            assert!(imap_pattern(&mut Cursor::new(bad, 1, 1)).is_err(), "{bad}");
        }
    }
}
