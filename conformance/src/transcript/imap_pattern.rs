//! Patterns over IMAP responses, in the imaptest tradition.
//!
//! ```abnf
//! imap-pattern  = pat-token *(SP pat-token)
//! pat-token     = "$" / "$*" / "$" name / "${" expr "}" / pat-quoted / pat-list
//!                 / pat-code / pat-atom
//! pat-quoted    = DQUOTE *(quoted-char / "\" (DQUOTE / "\")) DQUOTE
//!                   ; matches a quoted string or a literal with exactly this text
//! pat-list      = "(" [unordered SP] [imap-pattern] ")"
//! unordered     = "$!unordered" ["=" DIGIT]   ; "=2": key-value pairs, as in FETCH;
//!                 ; at most 16 element patterns ("$*" aside), a multiple of the group size
//! pat-code      = "[" [imap-pattern] "]"
//! pat-atom      = 1*atom-char    ; matches any string form, text compared case-insensitively;
//!                                ; with a "$" inside, it is a text-pattern (case-sensitive)
//! ```
//!
//! `$` matches any one token (a list included), `$*` any run of tokens, `$name` a string-like
//! token (captured when unbound, compared exactly when bound), `${expr}` a string-like token whose
//! text equals the value. A list marked `$!unordered` (imaptest's directive of the same name)
//! matches when each of its patterns matches a different element, whatever their order: a
//! multiset match, so a duplicate pattern needs a duplicate element, and a `$` or a capture gives
//! up an element a later pattern needs. Without a `$*` among them, no element may be left over.

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
    /// `A|B|...`: any string form whose text equals one of these, ignoring ASCII case.
    OneOf(Vec<String>),
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

/// The most element patterns (`$*` aside) of one `$!unordered` list.
pub const MAX_UNORDERED: usize = 16;

/// The most element comparisons one unordered list may take before it counts as not matching.
/// With distinct actual elements and at most [`MAX_UNORDERED`] patterns, a list that can match at
/// all matches far below it; the bound is there for a peer that sends a long list of equal-looking
/// elements against a pattern that cannot match.
pub const MAX_UNORDERED_TRIALS: usize = 1 << 16;

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
            '(' => pat_list(c, depth)?,
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

/// `pat-list`. An unordered list is matched by trying its elements against each other, so the
/// number of its elements is bounded where it is written, not where a run would take long.
fn pat_list(c: &mut Cursor<'_>, depth: usize) -> Result<PatToken, SyntaxError> {
    let open_at = c.offset();
    c.bump();
    c.skip_space();
    let group = unordered(c)?;
    let items = pat_tokens(c, Some(')'), depth + 1)?;
    if group > 0 {
        let elements = items.iter().filter(|p| **p != PatToken::Rest).count();
        if elements > MAX_UNORDERED {
            return Err(c.error_at(
                open_at,
                format!(
                    "an unordered list has {elements} elements; at most {MAX_UNORDERED} are allowed"
                ),
            ));
        }
        if !elements.is_multiple_of(usize::from(group)) {
            return Err(c.error_at(
                open_at,
                format!(
                    "an unordered list in groups of {group} has {elements} elements, not a multiple of {group}"
                ),
            ));
        }
    }
    Ok(PatToken::List(items, group))
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
        if text.contains('|') {
            // pat-choice = pat-atom 1*("|" pat-atom): a choice the specification leaves open
            // (`EXAMINE|SELECT`).
            let alternatives: Vec<String> = text.split('|').map(str::to_owned).collect();
            if alternatives.iter().any(String::is_empty) {
                return Err(c.error_at(
                    start,
                    format!("`{text}`: every alternative between `|` must be an atom"),
                ));
            }
            return Ok(PatToken::OneOf(alternatives));
        }
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
            PatToken::OneOf(alternatives) => f.write_str(&alternatives.join("|")),
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
        PatToken::OneOf(alternatives) => actual
            .text()
            .is_some_and(|a| alternatives.iter().any(|t| a.eq_ignore_ascii_case(t))),
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

/// A multiset match: each group of patterns is matched to a different group of elements, trying
/// other assignments when a later pattern finds nothing left (a `$` or a capture that took the
/// element a literal needed gives it up). Without a `$*`, no element may be left over.
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
    if wanted.len() > MAX_UNORDERED
        || !wanted.len().is_multiple_of(group)
        || !actual.len().is_multiple_of(group)
    {
        return false;
    }
    let pattern_groups: Vec<&[&PatToken]> = wanted.chunks(group).collect();
    let chunks: Vec<&[Token]> = actual.chunks(group).collect();
    let count_fits = if open {
        pattern_groups.len() <= chunks.len()
    } else {
        pattern_groups.len() == chunks.len()
    };
    if !count_fits {
        return false;
    }
    let mut assignment = Assignment {
        chunks: &chunks,
        used: vec![false; chunks.len()],
        trials: 0,
        vars,
        depth,
    };
    assignment.assign(&pattern_groups, bound)
}

/// The state of the search for an unordered list's assignment.
struct Assignment<'a> {
    chunks: &'a [&'a [Token]],
    used: Vec<bool>,
    trials: usize,
    vars: &'a Vars,
    depth: usize,
}

impl Assignment<'_> {
    fn assign(&mut self, groups: &[&[&PatToken]], bound: &mut Bindings) -> bool {
        let Some((first, rest)) = groups.split_first() else {
            return true;
        };
        for (i, chunk) in self.chunks.iter().enumerate() {
            self.trials += 1;
            if self.trials > MAX_UNORDERED_TRIALS {
                return false;
            }
            if self.used.get(i).is_none_or(|used| *used) || self.tried_an_equal_one(i) {
                continue;
            }
            let mut trial = bound.clone();
            let fits = first
                .iter()
                .zip(chunk.iter())
                .all(|(p, a)| match_one(p, a, self.vars, &mut trial, self.depth));
            if !fits {
                continue;
            }
            self.mark(i, true);
            if self.assign(rest, &mut trial) {
                *bound = trial;
                return true;
            }
            self.mark(i, false);
        }
        false
    }

    fn mark(&mut self, i: usize, used: bool) {
        if let Some(slot) = self.used.get_mut(i) {
            *slot = used;
        }
    }

    /// Whether an earlier free element equals element `i`: it got the same patterns with the same
    /// bindings, so trying `i` again can only repeat its failure.
    fn tried_an_equal_one(&self, i: usize) -> bool {
        self.chunks.get(i).is_some_and(|chunk| {
            self.chunks
                .iter()
                .zip(&self.used)
                .take(i)
                .any(|(earlier, used)| !used && earlier == chunk)
        })
    }
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

    fn command(text: &str) -> Vec<Token> {
        parse_response(format!("* {text}").as_bytes()).tokens
    }

    #[test]
    fn an_unordered_list_matches_its_elements_in_any_order() {
        let sent = command("XAPPLEPUSHSERVICE mailboxes (Archive INBOX)");
        let mut vars = Vars::new();
        vars.insert("mailbox1".into(), Value::from("INBOX"));
        vars.insert("mailbox2".into(), Value::from("Archive"));
        let unordered = pattern("XAPPLEPUSHSERVICE mailboxes ($!unordered $mailbox1 $mailbox2)");
        assert!(unordered.matches(&sent, &vars, &mut Bindings::new()));
        let ordered = pattern("XAPPLEPUSHSERVICE mailboxes ($mailbox1 $mailbox2)");
        assert!(!ordered.matches(&sent, &vars, &mut Bindings::new()));
        for wrong in [
            "XAPPLEPUSHSERVICE mailboxes (INBOX)",
            "XAPPLEPUSHSERVICE mailboxes (Archive INBOX Notes)",
            "XAPPLEPUSHSERVICE mailboxes (Archive Notes)",
            "XAPPLEPUSHSERVICE mailboxes ()",
        ] {
            assert!(
                !unordered.matches(&command(wrong), &vars, &mut Bindings::new()),
                "{wrong}"
            );
        }
    }

    #[test]
    fn duplicates_are_counted() {
        let vars = Vars::new();
        let twice = pattern("L ($!unordered a a b)");
        assert!(twice.matches(&command("L (a b a)"), &vars, &mut Bindings::new()));
        assert!(!twice.matches(&command("L (a b b)"), &vars, &mut Bindings::new()));
        assert!(!twice.matches(&command("L (a b)"), &vars, &mut Bindings::new()));
        let once = pattern("L ($!unordered a b)");
        assert!(!once.matches(&command("L (a b a)"), &vars, &mut Bindings::new()));
        let open = pattern("L ($!unordered a b $*)");
        assert!(open.matches(&command("L (a c b a)"), &vars, &mut Bindings::new()));
        assert!(!open.matches(&command("L (a c c)"), &vars, &mut Bindings::new()));
    }

    /// A wildcard or a capture that first takes the element a later literal needs gives it up.
    #[test]
    fn a_capture_gives_up_an_element_a_later_pattern_needs() {
        let vars = Vars::new();
        let mut bound = Bindings::new();
        assert!(pattern("L ($!unordered $other INBOX)").matches(
            &command("L (INBOX Archive)"),
            &vars,
            &mut bound
        ));
        assert_eq!(bound, vec![("other".to_owned(), Value::from("Archive"))]);
        assert!(pattern("L ($!unordered $ $ INBOX)").matches(
            &command("L (INBOX a b)"),
            &vars,
            &mut Bindings::new()
        ));
        let mut bound = Bindings::new();
        assert!(pattern("L ($!unordered=2 $key $ a 2)").matches(
            &command("L (a 2 b 1)"),
            &vars,
            &mut bound
        ));
        assert_eq!(bound, vec![("key".to_owned(), Value::from("b"))]);
    }

    /// What an unordered list captured is bound for the patterns after it.
    #[test]
    fn captures_through_an_unordered_list_are_bound_later() {
        let vars = Vars::new();
        let mut bound = Bindings::new();
        assert!(pattern("L ($!unordered $first INBOX) $first").matches(
            &command("L (INBOX Archive) Archive"),
            &vars,
            &mut bound
        ));
        let later = pattern("M $first");
        assert!(later.matches(&command("M Archive"), &vars, &mut bound.clone()));
        assert!(!later.matches(&command("M INBOX"), &vars, &mut bound));
        assert!(!pattern("L ($!unordered $first INBOX) $first").matches(
            &command("L (INBOX Archive) INBOX"),
            &vars,
            &mut Bindings::new()
        ));
    }

    /// A hopeless pattern against a long list of equal elements ends, and does not match.
    #[test]
    fn a_long_list_of_equal_elements_is_searched_once() {
        let elements = vec!["a"; 200].join(" ");
        let patterns = format!("{} b", vec!["$"; MAX_UNORDERED - 1].join(" "));
        let hopeless = pattern(&format!("L ($!unordered {patterns} $*)"));
        assert!(!hopeless.matches(
            &command(&format!("L ({elements})")),
            &Vars::new(),
            &mut Bindings::new()
        ));
        let hopeful = pattern(&format!("L ($!unordered {patterns} $*)"));
        assert!(hopeful.matches(
            &command(&format!("L ({elements} b)")),
            &Vars::new(),
            &mut Bindings::new()
        ));
    }

    #[test]
    fn unordered_lists_are_bounded_where_they_are_written() {
        let at_limit = format!("L ($!unordered {})", vec!["a"; MAX_UNORDERED].join(" "));
        assert!(imap_pattern(&mut Cursor::new(&at_limit, 3, 7)).is_ok());
        let over = format!(
            "L ($!unordered {} $*)",
            vec!["a"; MAX_UNORDERED + 1].join(" ")
        );
        let e = imap_pattern(&mut Cursor::new(&over, 3, 7)).unwrap_err();
        assert_eq!((e.line, e.column), (3, 9), "{e}");
        assert!(e.to_string().contains("at most 16"), "{e}");
        let odd = imap_pattern(&mut Cursor::new("L ($!unordered=2 UID $uid FLAGS)", 1, 1));
        assert_eq!(odd.unwrap_err().column, 3);
        let misplaced = imap_pattern(&mut Cursor::new("L (a $!unordered b)", 2, 1)).unwrap_err();
        assert_eq!((misplaced.line, misplaced.column), (2, 6), "{misplaced}");
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
            "EXAMINE|",
            "|SELECT",
            "A||B",
        ] {
            assert!(imap_pattern(&mut Cursor::new(bad, 1, 1)).is_err(), "{bad}");
        }
    }

    #[test]
    fn alternatives_match_any_one_of_their_atoms() {
        let p = pattern("EXAMINE|SELECT $ $*");
        assert_eq!(p.to_string(), "EXAMINE|SELECT $ $*");
        for text in [
            "EXAMINE Notes",
            "select Notes (QRESYNC (7 1))",
            "SELECT \"Notes\"",
        ] {
            let tokens = command(text);
            assert!(
                p.matches(&tokens, &Vars::new(), &mut Bindings::new()),
                "{text}"
            );
        }
        for text in ["STATUS Notes (UIDNEXT)", "\"EXAMINE|SELECT\" Notes"] {
            let tokens = command(text);
            assert!(
                !p.matches(&tokens, &Vars::new(), &mut Bindings::new()),
                "{text}"
            );
        }
        assert_eq!(
            imap_pattern(&mut Cursor::new("x EXAMINE||SELECT", 1, 1))
                .unwrap_err()
                .column,
            3
        );
    }
}
