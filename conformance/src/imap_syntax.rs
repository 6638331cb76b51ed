//! IMAP responses as the runner sees them: a leading `*`, `+` or tag, then tokens (atoms,
//! strings, parenthesised lists, bracketed response codes). Status responses (`OK`, `NO`, `BAD`,
//! `BYE`, `PREAUTH`) end in free text, which is split into words; so does a continuation.
//!
//! The tokenizer is deliberately lenient and never fails: a conformance runner must show what a
//! server sent even when it is not IMAP, and judge it by the patterns, not refuse to look.

use std::fmt;

/// One token of a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token {
    /// An atom, a number, `NIL`, a flag, or a word of free text.
    Atom(String),
    /// A quoted string, unescaped.
    Quoted(String),
    /// A literal's octets (as text; invalid UTF-8 replaced).
    Literal(String),
    /// `( ... )`.
    List(Vec<Token>),
    /// `[ ... ]`: a response code.
    Bracket(Vec<Token>),
}

impl Token {
    /// The text of a string-like token (atom, quoted, literal).
    pub fn text(&self) -> Option<&str> {
        match self {
            Token::Atom(s) | Token::Quoted(s) | Token::Literal(s) => Some(s),
            Token::List(_) | Token::Bracket(_) => None,
        }
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Atom(s) => f.write_str(s),
            Token::Quoted(s) => write!(f, "\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
            Token::Literal(s) => write!(f, "{{{}}}{}", s.len(), s.escape_debug()),
            Token::List(items) => {
                f.write_str("(")?;
                write_tokens(f, items)?;
                f.write_str(")")
            }
            Token::Bracket(items) => {
                f.write_str("[")?;
                write_tokens(f, items)?;
                f.write_str("]")
            }
        }
    }
}

fn write_tokens(f: &mut fmt::Formatter<'_>, tokens: &[Token]) -> fmt::Result {
    for (i, token) in tokens.iter().enumerate() {
        if i > 0 {
            f.write_str(" ")?;
        }
        write!(f, "{token}")?;
    }
    Ok(())
}

/// What kind of response a line is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `* ...`
    Untagged,
    /// `+ ...`
    Continuation,
    /// `<tag> ...`
    Tagged(String),
}

/// One response: its kind, its tokens after the `*`, `+` or tag, and the text as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Untagged, continuation or tagged.
    pub kind: Kind,
    /// The tokens after the first.
    pub tokens: Vec<Token>,
    /// The response as received, literals in place, without the final CRLF.
    pub raw: String,
}

impl Response {
    /// The status word (`OK`, `NO`, `BAD`, `BYE`, `PREAUTH`), upper-cased, if it is one.
    pub fn status(&self) -> Option<String> {
        let word = self.tokens.first()?.text()?.to_ascii_uppercase();
        STATUS_WORDS.contains(&word.as_str()).then_some(word)
    }
}

const STATUS_WORDS: [&str; 5] = ["OK", "NO", "BAD", "BYE", "PREAUTH"];

/// Tokenizes one response (literal octets in place after their `{n}` and CRLF).
pub fn parse_response(bytes: &[u8]) -> Response {
    let raw = String::from_utf8_lossy(bytes).into_owned();
    let mut lexer = Lexer { bytes, pos: 0 };
    let first = lexer.word();
    let kind = match first.as_str() {
        "*" => Kind::Untagged,
        "+" => Kind::Continuation,
        _ => Kind::Tagged(first),
    };
    lexer.space();
    let mut tokens = Vec::new();
    if kind == Kind::Continuation {
        tokens.extend(lexer.text_words());
    } else {
        let start = lexer.pos;
        let word = lexer.word();
        if STATUS_WORDS.contains(&word.to_ascii_uppercase().as_str()) {
            tokens.push(Token::Atom(word));
            lexer.space();
            if lexer.peek() == Some(b'[') {
                lexer.pos += 1;
                tokens.push(Token::Bracket(lexer.tokens(Some(b']'), 0)));
                lexer.space();
            }
            tokens.extend(lexer.text_words());
        } else {
            lexer.pos = start;
            tokens = lexer.tokens(None, 0);
        }
    }
    Response {
        kind,
        tokens,
        raw: raw.trim_end_matches(['\r', '\n']).to_owned(),
    }
}

struct Lexer<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// Lists nested deeper than this are read as flat text, so hostile input cannot overflow the
/// stack.
const MAX_NESTING: usize = 64;

impl Lexer<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// Everything up to the next space.
    fn word(&mut self) -> String {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b == b' ' || b == b'\r' || b == b'\n' {
                break;
            }
            self.pos += 1;
        }
        String::from_utf8_lossy(&self.bytes[start..self.pos]).into_owned()
    }

    fn text_words(&mut self) -> Vec<Token> {
        let rest = String::from_utf8_lossy(&self.bytes[self.pos..]).into_owned();
        self.pos = self.bytes.len();
        rest.split_whitespace()
            .map(|w| Token::Atom(w.to_owned()))
            .collect()
    }

    fn tokens(&mut self, close: Option<u8>, depth: usize) -> Vec<Token> {
        let mut out = Vec::new();
        loop {
            self.space();
            let Some(b) = self.peek() else {
                return out;
            };
            if Some(b) == close {
                self.pos += 1;
                return out;
            }
            match b {
                b'\r' | b'\n' if close.is_none() => {
                    self.pos = self.bytes.len();
                    return out;
                }
                b'\r' | b'\n' => self.pos += 1,
                b'(' if depth < MAX_NESTING => {
                    self.pos += 1;
                    out.push(Token::List(self.tokens(Some(b')'), depth + 1)));
                }
                b'[' if depth < MAX_NESTING => {
                    self.pos += 1;
                    out.push(Token::Bracket(self.tokens(Some(b']'), depth + 1)));
                }
                b')' | b']' => {
                    // Unbalanced: keep it visible as an atom.
                    self.pos += 1;
                    out.push(Token::Atom(char::from(b).to_string()));
                }
                b'"' => out.push(self.quoted()),
                b'{' => match self.literal() {
                    Some(token) => out.push(token),
                    None => out.push(self.atom(close)),
                },
                _ => out.push(self.atom(close)),
            }
        }
    }

    fn quoted(&mut self) -> Token {
        self.pos += 1;
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(next) = self.peek() {
                        self.pos += 1;
                        out.push(next);
                    }
                }
                _ => out.push(b),
            }
        }
        Token::Quoted(String::from_utf8_lossy(&out).into_owned())
    }

    /// `{n}` or `{n+}` and CRLF, then n octets; `None` (position unchanged) when it is not one.
    fn literal(&mut self) -> Option<Token> {
        let start = self.pos;
        let rest = &self.bytes[self.pos..];
        let close = rest.iter().position(|&b| b == b'}')?;
        let digits = rest.get(1..close)?;
        let digits = digits.strip_suffix(b"+").unwrap_or(digits);
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) || digits.len() > 9 {
            return None;
        }
        let len: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
        let after = rest.get(close + 1..)?;
        let body_start = if after.starts_with(b"\r\n") {
            close + 3
        } else if after.starts_with(b"\n") {
            close + 2
        } else {
            return None;
        };
        let body = rest.get(body_start..body_start + len)?;
        self.pos = start + body_start + len;
        Some(Token::Literal(String::from_utf8_lossy(body).into_owned()))
    }

    fn atom(&mut self, close: Option<u8>) -> Token {
        let start = self.pos;
        let mut brackets = 0usize;
        while let Some(b) = self.peek() {
            match b {
                b'[' => brackets += 1,
                b']' if brackets > 0 => brackets -= 1,
                b' ' | b'(' | b')' if brackets == 0 => break,
                b'\r' | b'\n' => break,
                _ if Some(b) == close && brackets == 0 => break,
                _ => {}
            }
            self.pos += 1;
        }
        if self.pos == start {
            // A lone character that starts nothing: take it so the lexer advances.
            self.pos += 1;
        }
        Token::Atom(String::from_utf8_lossy(&self.bytes[start..self.pos]).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_responses_end_in_words() {
        let r = parse_response(b"a1 OK [READ-WRITE] SELECT completed\r\n");
        assert_eq!(r.kind, Kind::Tagged("a1".into()));
        assert_eq!(r.status().as_deref(), Some("OK"));
        assert_eq!(
            r.tokens[1],
            Token::Bracket(vec![Token::Atom("READ-WRITE".into())])
        );
        assert_eq!(r.tokens.len(), 4);
        let r = parse_response(b"* OK [PERMANENTFLAGS (\\Seen \\*)] Limited");
        assert_eq!(
            r.tokens[1],
            Token::Bracket(vec![
                Token::Atom("PERMANENTFLAGS".into()),
                Token::List(vec![
                    Token::Atom("\\Seen".into()),
                    Token::Atom("\\*".into())
                ])
            ])
        );
    }

    #[test]
    fn data_with_strings_lists_and_literals() {
        let r = parse_response(b"* XAPPLEPUSHSERVICE \"mailbox\" {5}\r\nNotes");
        assert_eq!(
            r.tokens,
            vec![
                Token::Atom("XAPPLEPUSHSERVICE".into()),
                Token::Quoted("mailbox".into()),
                Token::Literal("Notes".into())
            ]
        );
        let r = parse_response(b"* 1 FETCH (UID 4 BODY[HEADER.FIELDS (A B)] {2}\r\nxy)");
        let Token::List(items) = &r.tokens[2] else {
            panic!("{r:?}")
        };
        assert_eq!(items[2], Token::Atom("BODY[HEADER.FIELDS (A B)]".into()));
        assert_eq!(items[3], Token::Literal("xy".into()));
    }

    #[test]
    fn garbage_still_tokenizes() {
        for input in [
            &b")))((("[..],
            b"* {99}\r\nab",
            b"",
            b"+",
            b"* [[[[",
            b"\xff\xfe",
        ] {
            let _ = parse_response(input);
        }
        let deep = vec![b'('; 10_000];
        let _ = parse_response(&deep);
    }
}
