//! A position in one line of a transcript, for the parsers of its rules. Every parser reports
//! errors at the column where it stands, so a malformed transcript names its line and column.

use super::SyntaxError;

/// A cursor over one line (or a part of it) that knows where the line is in the file.
#[derive(Clone, Debug)]
pub(crate) struct Cursor<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
    /// The 1-based column of `text`'s first character in the line.
    column: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `text`, which stands at `line`, `column` of the file.
    pub(crate) fn new(text: &'a str, line: usize, column: usize) -> Self {
        Self {
            text,
            pos: 0,
            line,
            column,
        }
    }

    /// What is left.
    pub(crate) fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or("")
    }

    /// Whether nothing is left.
    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    /// The next character.
    pub(crate) fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    /// The character after the next one.
    pub(crate) fn peek2(&self) -> Option<char> {
        let mut chars = self.rest().chars();
        chars.next();
        chars.next()
    }

    /// Takes the next character.
    pub(crate) fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    /// Takes `prefix` if the rest starts with it.
    pub(crate) fn eat(&mut self, prefix: &str) -> bool {
        if self.rest().starts_with(prefix) {
            self.pos += prefix.len();
            true
        } else {
            false
        }
    }

    /// Takes `word` (ASCII case-insensitively) if it is followed by a space or the end.
    pub(crate) fn eat_word(&mut self, word: &str) -> bool {
        let rest = self.rest();
        let Some(head) = rest.get(..word.len()) else {
            return false;
        };
        let boundary = rest[word.len()..]
            .chars()
            .next()
            .is_none_or(|c| c == ' ' || c == '\t');
        if head.eq_ignore_ascii_case(word) && boundary {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    /// Skips spaces and tabs.
    pub(crate) fn skip_space(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.pos += 1;
        }
    }

    /// Takes characters while `keep` says so.
    pub(crate) fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if !keep(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        self.text.get(start..self.pos).unwrap_or("")
    }

    /// Takes the rest.
    pub(crate) fn take_rest(&mut self) -> &'a str {
        let rest = self.rest();
        self.pos = self.text.len();
        rest
    }

    /// The byte offset in `text`.
    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    /// Moves back to an offset taken from [`Cursor::offset`].
    pub(crate) fn reset(&mut self, offset: usize) {
        self.pos = offset.min(self.text.len());
    }

    /// The text between two offsets.
    pub(crate) fn slice(&self, from: usize, to: usize) -> &'a str {
        self.text.get(from..to).unwrap_or("")
    }

    /// A cursor over `len` bytes from here, positioned in the file; this cursor moves past them.
    pub(crate) fn split(&mut self, len: usize) -> Cursor<'a> {
        let start = self.pos;
        let end = (start + len).min(self.text.len());
        self.pos = end;
        Cursor {
            text: self.text.get(start..end).unwrap_or(""),
            pos: 0,
            line: self.line,
            column: self.column + self.text.get(..start).map_or(0, |s| s.chars().count()),
        }
    }

    /// The column (1-based, in characters) of the current position.
    pub(crate) fn column(&self) -> usize {
        self.column + self.text.get(..self.pos).map_or(0, |s| s.chars().count())
    }

    /// The line.
    pub(crate) fn line(&self) -> usize {
        self.line
    }

    /// An error at the current position.
    pub(crate) fn error(&self, message: impl Into<String>) -> SyntaxError {
        SyntaxError {
            line: self.line,
            column: self.column(),
            message: message.into(),
        }
    }

    /// An error at an offset taken earlier.
    pub(crate) fn error_at(&self, offset: usize, message: impl Into<String>) -> SyntaxError {
        SyntaxError {
            line: self.line,
            column: self.column + self.text.get(..offset).map_or(0, |s| s.chars().count()),
            message: message.into(),
        }
    }
}
