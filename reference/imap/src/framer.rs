//! Cuts an IMAP byte stream into complete messages: lines and the
//! literals they announce (RFC 3501 §4.3, RFC 7888), under caps.
//!
//! A message is one or more CRLF-terminated lines; a line that ends with a
//! literal announcement `{n}` or `{n+}` CRLF is followed by `n` octets and
//! the message goes on after them. The framer needs no grammar beyond that,
//! so it frames commands, responses and continuation lines alike.
//!
//! Memory is bounded: a message is never buffered beyond
//! [`FramerConfig::max_message`] (plus whatever the caller pushed at once
//! and has not yet consumed). Oversize input is reported once as
//! [`Frame::Rejected`] and then skipped to the end of the offending message
//! — including the octets of a non-synchronizing literal, which the peer
//! sends regardless — so the next message is framed correctly.
//!
//! Limitation: a response text that itself ends in `{n}` would read as a
//! literal announcement; the grammar is ambiguous there for any framer.

/// Caps on what the framer buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramerConfig {
    /// Longest line, CRLF included.
    pub max_line: usize,
    /// Largest literal.
    pub max_literal: u32,
    /// Largest message (lines and literals together).
    pub max_message: usize,
}

impl Default for FramerConfig {
    fn default() -> Self {
        FramerConfig {
            max_line: 8 * 1024,
            max_literal: 64 * 1024 * 1024,
            max_message: 80 * 1024 * 1024,
        }
    }
}

/// Why input was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A line longer than [`FramerConfig::max_line`].
    #[error("line longer than {max} octets")]
    LineTooLong {
        /// The cap.
        max: usize,
    },
    /// A literal larger than [`FramerConfig::max_literal`].
    #[error("literal of {length} octets exceeds the limit of {max}")]
    LiteralTooLarge {
        /// Announced length.
        length: u64,
        /// Whether the peer waits for `+` (then it sends nothing more of
        /// this message) or sends the octets anyway (then they are skipped).
        synchronizing: bool,
        /// The cap.
        max: u32,
    },
    /// A message larger than [`FramerConfig::max_message`].
    #[error("message longer than {max} octets")]
    MessageTooLarge {
        /// The cap.
        max: usize,
    },
}

/// What the framer found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete message, ready to decode.
    Message(Vec<u8>),
    /// The message being read announced a literal within the caps; for a
    /// synchronizing one a server now sends a continuation request.
    LiteralAnnounced {
        /// Announced length.
        length: u32,
        /// `{n}` rather than `{n+}`.
        synchronizing: bool,
    },
    /// Oversize input; it is being skipped. `head` is the start of the
    /// message (at most 64 octets), so a server can find the tag.
    Rejected {
        /// Why.
        error: FrameError,
        /// The first octets of the message.
        head: Vec<u8>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Reading lines of a message.
    Line,
    /// Reading `remaining` literal octets into the message.
    Literal { remaining: usize },
    /// Skipping to the end of the current line; `tail` keeps its last
    /// octets to spot a literal announcement.
    SkipLine { tail: Vec<u8> },
    /// Skipping a non-synchronizing literal, then the rest of the message.
    SkipLiteral { remaining: u64 },
}

/// The framer. Push bytes with [`Framer::push`], then call
/// [`Framer::next_frame`] until it returns `None`.
#[derive(Debug, Clone)]
pub struct Framer {
    config: FramerConfig,
    buf: Vec<u8>,
    /// Octets of `buf` that belong to the current message and are framed.
    msg_len: usize,
    /// Where the current line starts in `buf`.
    line_start: usize,
    /// Where to resume looking for LF.
    scan: usize,
    state: State,
}

const TAIL: usize = 24;

impl Framer {
    /// A framer with these caps.
    pub fn new(config: FramerConfig) -> Self {
        Framer {
            config,
            buf: Vec::new(),
            msg_len: 0,
            line_start: 0,
            scan: 0,
            state: State::Line,
        }
    }

    /// Adds received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Octets held (current message plus unframed input).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The first octets of the message, as many as are sure to be there
    /// whatever the chunking (`limit`: octets known to belong to it).
    fn head(&self, limit: usize) -> Vec<u8> {
        let n = self
            .buf
            .len()
            .min(limit)
            .min(64)
            .min(self.config.max_line.saturating_add(1))
            .min(self.config.max_message.saturating_add(1));
        self.buf[..n].to_vec()
    }

    /// Which cap a line crosses first, if it reaches `end` octets of `buf`.
    fn oversize(&self, end: usize) -> Option<FrameError> {
        let line_cross = self
            .line_start
            .saturating_add(self.config.max_line)
            .saturating_add(1);
        let msg_cross = self.config.max_message.saturating_add(1);
        if end < line_cross.min(msg_cross) {
            None
        } else if msg_cross < line_cross {
            Some(FrameError::MessageTooLarge {
                max: self.config.max_message,
            })
        } else {
            Some(FrameError::LineTooLong {
                max: self.config.max_line,
            })
        }
    }

    /// Drops the current message's bytes and the first `extra` unframed ones.
    fn drop_message(&mut self, upto: usize) {
        self.buf.drain(..upto.min(self.buf.len()));
        self.msg_len = 0;
        self.line_start = 0;
        self.scan = 0;
    }

    /// The next frame, or `None` when more input is needed.
    pub fn next_frame(&mut self) -> Option<Frame> {
        loop {
            match std::mem::replace(&mut self.state, State::Line) {
                State::Line => return self.line(),
                State::Literal { remaining } => {
                    let avail = self.buf.len() - self.msg_len;
                    if avail < remaining {
                        self.state = State::Literal { remaining };
                        return None;
                    }
                    self.msg_len += remaining;
                    self.line_start = self.msg_len;
                    self.scan = self.msg_len;
                    self.state = State::Line;
                }
                State::SkipLine { mut tail } => match self.buf.iter().position(|&b| b == b'\n') {
                    None => {
                        let keep = self.buf.len().min(TAIL);
                        tail.extend_from_slice(&self.buf[self.buf.len() - keep..]);
                        let cut = tail.len().saturating_sub(TAIL);
                        tail.drain(..cut);
                        self.buf.clear();
                        self.state = State::SkipLine { tail };
                        return None;
                    }
                    Some(lf) => {
                        let keep = (lf + 1).min(TAIL);
                        tail.extend_from_slice(&self.buf[lf + 1 - keep..=lf]);
                        self.buf.drain(..=lf);
                        match literal_announcement(&tail) {
                            Some((n, false)) => self.state = State::SkipLiteral { remaining: n },
                            _ => self.state = State::Line,
                        }
                    }
                },
                State::SkipLiteral { remaining } => match usize::try_from(remaining) {
                    Ok(n) if n <= self.buf.len() => {
                        self.buf.drain(..n);
                        self.state = State::SkipLine { tail: Vec::new() };
                    }
                    _ => {
                        let avail = u64::try_from(self.buf.len()).unwrap_or(u64::MAX);
                        self.buf.clear();
                        self.state = State::SkipLiteral {
                            remaining: remaining.saturating_sub(avail),
                        };
                        return None;
                    }
                },
            }
        }
    }

    fn line(&mut self) -> Option<Frame> {
        let from = self.scan;
        let Some(off) = self.buf[from..].iter().position(|&b| b == b'\n') else {
            self.scan = self.buf.len();
            let end = self.buf.len();
            let error = self.oversize(end)?;
            let head = self.head(end);
            // Skip what is here of the line; the rest follows.
            let keep = (end - self.line_start).min(TAIL);
            let tail = self.buf[end - keep..].to_vec();
            self.drop_message(end);
            self.state = State::SkipLine { tail };
            return Some(Frame::Rejected { error, head });
        };
        let lf = from + off;
        let line_end = lf + 1;
        if let Some(error) = self.oversize(line_end) {
            let head = self.head(line_end);
            let tail_start = line_end.saturating_sub(TAIL).max(self.line_start);
            let tail = self.buf[tail_start..line_end].to_vec();
            self.drop_message(line_end);
            self.state = match literal_announcement(&tail) {
                Some((n, false)) => State::SkipLiteral { remaining: n },
                _ => State::Line,
            };
            return Some(Frame::Rejected { error, head });
        }
        let line = &self.buf[self.line_start..line_end];
        match literal_announcement(line) {
            None => {
                let msg: Vec<u8> = self.buf.drain(..line_end).collect();
                self.msg_len = 0;
                self.line_start = 0;
                self.scan = 0;
                Some(Frame::Message(msg))
            }
            Some((n, synchronizing)) => {
                let length = u32::try_from(n)
                    .ok()
                    .filter(|&length| length <= self.config.max_literal);
                // The message so far plus the literal, when that fits a usize.
                let end = length
                    .and_then(|length| usize::try_from(length).ok())
                    .and_then(|length| line_end.checked_add(length));
                let fits = match (length, end) {
                    (None, _) => Err(FrameError::LiteralTooLarge {
                        length: n,
                        synchronizing,
                        max: self.config.max_literal,
                    }),
                    (Some(length), Some(end)) if end <= self.config.max_message => {
                        Ok((length, end - line_end))
                    }
                    (Some(_), _) => Err(FrameError::MessageTooLarge {
                        max: self.config.max_message,
                    }),
                };
                match fits {
                    Err(error) => {
                        let head = self.head(line_end);
                        self.drop_message(line_end);
                        // A synchronizing literal is never sent unless the
                        // server says `+`: the message ends here.
                        self.state = if synchronizing {
                            State::Line
                        } else {
                            State::SkipLiteral { remaining: n }
                        };
                        Some(Frame::Rejected { error, head })
                    }
                    Ok((length, remaining)) => {
                        self.msg_len = line_end;
                        self.line_start = line_end;
                        self.scan = line_end;
                        self.state = State::Literal { remaining };
                        Some(Frame::LiteralAnnounced {
                            length,
                            synchronizing,
                        })
                    }
                }
            }
        }
    }
}

/// If the line ends with `{n}` CRLF or `{n+}` CRLF (or `~{n}` for
/// literal8), the length and whether it is synchronizing.
///
/// `n` is read as the parser reads `number`: any count of digits, leading
/// zeros included. A length beyond 64 bits reads as `u64::MAX`, which no
/// cap admits.
pub fn literal_announcement(line: &[u8]) -> Option<(u64, bool)> {
    let body = line.strip_suffix(b"\r\n")?;
    let body = body.strip_suffix(b"}")?;
    let (body, sync) = match body.strip_suffix(b"+") {
        Some(b) => (b, false),
        None => (body, true),
    };
    let open = body.iter().rposition(|&b| b == b'{')?;
    let digits = &body[open + 1..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some((
        crate::parse::core::decimal(digits).unwrap_or(u64::MAX),
        sync,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(f: &mut Framer) -> Vec<Frame> {
        std::iter::from_fn(|| f.next_frame()).collect()
    }

    #[test]
    fn frames_lines_and_literals() {
        let mut f = Framer::new(FramerConfig::default());
        f.push(b"a1 NOOP\r\na2 APPEND x {3}\r\nabc\r\na3 NO");
        assert_eq!(
            all(&mut f),
            vec![
                Frame::Message(b"a1 NOOP\r\n".to_vec()),
                Frame::LiteralAnnounced {
                    length: 3,
                    synchronizing: true
                },
                Frame::Message(b"a2 APPEND x {3}\r\nabc\r\n".to_vec()),
            ]
        );
        f.push(b"OP\r\n");
        assert_eq!(all(&mut f), vec![Frame::Message(b"a3 NOOP\r\n".to_vec())]);
    }

    #[test]
    fn oversize_nonsync_literal_is_skipped() {
        let cfg = FramerConfig {
            max_line: 100,
            max_literal: 4,
            max_message: 1000,
        };
        let mut f = Framer::new(cfg);
        f.push(b"a1 APPEND x {10+}\r\n0123456789 more {2+}\r\nxy\r\na2 NOOP\r\n");
        let frames = all(&mut f);
        assert!(matches!(
            frames[0],
            Frame::Rejected {
                error: FrameError::LiteralTooLarge { .. },
                ..
            }
        ));
        assert_eq!(frames[1], Frame::Message(b"a2 NOOP\r\n".to_vec()));
        assert_eq!(frames.len(), 2);
    }

    #[test]
    fn long_line_is_skipped_in_pieces() {
        let cfg = FramerConfig {
            max_line: 16,
            max_literal: 4,
            max_message: 1000,
        };
        let mut f = Framer::new(cfg);
        f.push(b"a1 LOGIN aaaaaaaaaaaaaaaaaaaaaaaa");
        assert!(matches!(f.next_frame(), Some(Frame::Rejected { .. })));
        f.push(b"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\na2 NOOP\r\n");
        assert_eq!(all(&mut f), vec![Frame::Message(b"a2 NOOP\r\n".to_vec())]);
        assert!(f.buffered() == 0);
    }
}
