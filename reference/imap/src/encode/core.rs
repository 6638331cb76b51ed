//! The basic rules of RFC 3501 §9 (strings, numbers, sequence sets,
//! flags, dates) as the encoder writes them.

use base64::Engine;

use super::{EncodeOptions, Encoded};
use crate::types::{
    Date, DateTime, Flag, IString, MONTHS, Mailbox, SeqNo, SeqRange, SequenceSet, Text, UidRange,
    UidSet, is_astring_char, is_list_char, is_quotable,
};

/// Writes IMAP syntax.
#[derive(Debug, Default)]
pub struct Encoder {
    out: Vec<u8>,
    sync_points: Vec<usize>,
    options: EncodeOptions,
}

impl Encoder {
    /// An empty encoder.
    pub fn new(options: EncodeOptions) -> Self {
        Encoder {
            out: Vec::with_capacity(64),
            sync_points: Vec::new(),
            options,
        }
    }
    /// The result.
    pub fn finish(self) -> Encoded {
        Encoded {
            bytes: self.out,
            sync_points: self.sync_points,
        }
    }
    #[inline]
    pub(crate) fn raw(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }
    #[inline]
    pub(crate) fn sp(&mut self) {
        self.out.push(b' ');
    }
    #[inline]
    pub(crate) fn number(&mut self, n: impl Into<u64>) {
        let mut n: u64 = n.into();
        // u64::MAX has 20 digits.
        let mut buf = [0u8; 20];
        let mut p = buf.len();
        for slot in buf.iter_mut().rev() {
            *slot = DIGITS[(n % 10) as usize];
            p -= 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.out.extend_from_slice(&buf[p..]);
    }
    /// `literal`, synchronizing or not.
    pub(crate) fn literal(&mut self, data: &[u8], synchronizing: bool) {
        self.out.push(b'{');
        // A usize always fits in u64 on the targets Rust supports.
        self.number(u64::try_from(data.len()).unwrap_or(u64::MAX));
        if !synchronizing {
            self.out.push(b'+');
        }
        self.out.extend_from_slice(b"}\r\n");
        if synchronizing {
            self.sync_points.push(self.out.len());
        }
        self.out.extend_from_slice(data);
    }
    pub(crate) fn auto_literal(&mut self, data: &[u8]) {
        let sync = !self.options.literal_plus;
        self.literal(data, sync);
    }
    pub(crate) fn quoted(&mut self, s: &[u8]) {
        self.out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                self.out.push(b'\\');
            }
            self.out.push(b);
        }
        self.out.push(b'"');
    }
    /// `string = quoted / literal`.
    pub(crate) fn string(&mut self, s: &[u8]) {
        if is_quotable(s) {
            self.quoted(s)
        } else {
            self.auto_literal(s)
        }
    }
    /// `astring = 1*ASTRING-CHAR / string`.
    pub(crate) fn astring(&mut self, s: &[u8]) {
        if !s.is_empty() && s.len() < 1024 && s.iter().all(|&b| is_astring_char(b)) {
            self.raw(s)
        } else {
            self.string(s)
        }
    }
    /// `nstring = string / nil`.
    pub(crate) fn nstring(&mut self, s: &Option<IString>) {
        match s {
            None => self.raw(b"NIL"),
            Some(s) => self.string(s.as_bytes()),
        }
    }
    pub(crate) fn mailbox(&mut self, m: &Mailbox) {
        self.astring(m.as_wire())
    }
    pub(crate) fn list_mailbox(&mut self, s: &[u8]) {
        if !s.is_empty() && s.len() < 1024 && s.iter().all(|&b| is_list_char(b)) {
            self.raw(s)
        } else {
            self.string(s)
        }
    }
    pub(crate) fn flag(&mut self, f: &Flag) {
        match f {
            Flag::Answered => self.raw(b"\\Answered"),
            Flag::Flagged => self.raw(b"\\Flagged"),
            Flag::Deleted => self.raw(b"\\Deleted"),
            Flag::Seen => self.raw(b"\\Seen"),
            Flag::Draft => self.raw(b"\\Draft"),
            Flag::Recent => self.raw(b"\\Recent"),
            Flag::Keyword(a) => self.raw(a.as_str().as_bytes()),
            Flag::Extension(x) => {
                self.raw(b"\\");
                self.raw(x.as_str().as_bytes())
            }
        }
    }
    pub(crate) fn flag_list(&mut self, f: &[Flag]) {
        self.list(f, |e, f| e.flag(f));
    }
    pub(crate) fn list<T>(&mut self, items: &[T], mut f: impl FnMut(&mut Self, &T)) {
        self.out.push(b'(');
        for (n, x) in items.iter().enumerate() {
            if n > 0 {
                self.out.push(b' ');
            }
            f(self, x);
        }
        self.out.push(b')');
    }
    fn seq_no(&mut self, s: SeqNo) {
        match s {
            SeqNo::Value(n) => self.number(n.get()),
            SeqNo::Largest => self.out.push(b'*'),
        }
    }
    pub(crate) fn sequence_set(&mut self, s: &SequenceSet) {
        for (n, r) in s.ranges().iter().enumerate() {
            if n > 0 {
                self.out.push(b',');
            }
            match *r {
                SeqRange::Single(a) => self.seq_no(a),
                SeqRange::Range(a, b) => {
                    self.seq_no(a);
                    self.out.push(b':');
                    self.seq_no(b);
                }
            }
        }
    }
    pub(crate) fn uid_set(&mut self, s: &UidSet) {
        for (n, r) in s.ranges().iter().enumerate() {
            if n > 0 {
                self.out.push(b',');
            }
            match *r {
                UidRange::Single(a) => self.number(a.get()),
                UidRange::Range(a, b) => {
                    self.number(a.get());
                    self.out.push(b':');
                    self.number(b.get());
                }
            }
        }
    }
    /// `2DIGIT`: the last two decimal digits of `n` (every caller passes
    /// a field its type bounds to 0..=99).
    fn two(&mut self, n: impl Into<u64>) {
        let n: u64 = n.into();
        self.out.push(DIGITS[(n / 10 % 10) as usize]);
        self.out.push(DIGITS[(n % 10) as usize]);
    }
    /// `4DIGIT`: the last four decimal digits of `n` (years and zones are
    /// bounded to 0..=9999 by their types).
    fn four(&mut self, n: impl Into<u64>) {
        let n: u64 = n.into();
        self.two(n / 100);
        self.two(n % 100);
    }
    fn month(&mut self, m: u8) {
        // `DateTime` and `Date` hold a month in 1..=12.
        let name = usize::from(m)
            .checked_sub(1)
            .and_then(|i| MONTHS.get(i))
            .copied()
            .unwrap_or("Jan");
        self.raw(name.as_bytes());
    }
    pub(crate) fn date_time(&mut self, d: &DateTime) {
        self.out.push(b'"');
        if d.day() < 10 {
            self.out.push(b' ');
            self.out.push(DIGITS[usize::from(d.day() % 10)]);
        } else {
            self.two(d.day());
        }
        self.out.push(b'-');
        self.month(d.month());
        self.out.push(b'-');
        self.four(d.year());
        self.out.push(b' ');
        let (h, m, s) = d.time();
        self.two(h);
        self.out.push(b':');
        self.two(m);
        self.out.push(b':');
        self.two(s);
        self.out.push(b' ');
        self.out.push(if d.zone() < 0 { b'-' } else { b'+' });
        self.four(d.zone().unsigned_abs());
        self.out.push(b'"');
    }
    pub(crate) fn date(&mut self, d: &Date) {
        let (y, m, day) = d.ymd();
        self.number(day);
        self.out.push(b'-');
        self.month(m);
        self.out.push(b'-');
        self.four(y);
    }
    pub(crate) fn base64(&mut self, data: &[u8]) {
        let s = base64::engine::general_purpose::STANDARD.encode(data);
        self.raw(s.as_bytes());
    }
    pub(crate) fn text(&mut self, t: &Text) {
        self.raw(t.as_str().as_bytes())
    }
}

const DIGITS: &[u8; 10] = b"0123456789";
