//! Parsers for the basic rules of RFC 3501 §9 (and RFC 9051 §9).
//!
//! All parsers are nom *streaming* parsers over `&[u8]`: at the end of the
//! input they return `Incomplete` rather than guessing. A literal whose
//! octets have not all arrived is reported as a `Failure` carrying
//! [`PErrorKind::Literal`], which the entry points turn into
//! [`crate::Decoded::LiteralFound`].

use std::num::{NonZeroU32, NonZeroU64};

use nom::error::{ErrorKind, ParseError};
use nom::{Err, IResult, Needed};

use crate::types::{
    ATOM_CHAR, Atom, Capability, Date, DateTime, Flag, FlagPerm, IString, MAX_MOD_SEQUENCE, MONTHS,
    Mailbox, SeqNo, SeqRange, SequenceSet, Tag, Text, UidRange, UidSet, Vec1, is_astring_char,
    is_list_char, is_tag_char, is_text_char,
};

/// Parser error: where (the remaining input) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PError<'a> {
    /// Input remaining where the error was found.
    pub input: &'a [u8],
    /// What went wrong.
    pub kind: PErrorKind,
}

/// Why parsing stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PErrorKind {
    /// The grammar wanted this.
    Expected(&'static str),
    /// A nom combinator failed.
    Nom(ErrorKind),
    /// A literal's announcement was read but not all its octets.
    Literal {
        /// Announced length.
        length: u32,
        /// `{n}` (true) or `{n+}` (false).
        synchronizing: bool,
    },
}

impl<'a> ParseError<&'a [u8]> for PError<'a> {
    fn from_error_kind(input: &'a [u8], kind: ErrorKind) -> Self {
        PError {
            input,
            kind: PErrorKind::Nom(kind),
        }
    }
    fn append(_input: &'a [u8], _kind: ErrorKind, other: Self) -> Self {
        other
    }
    fn or(self, other: Self) -> Self {
        // Keep the error that got further into the input.
        if other.input.len() <= self.input.len() {
            other
        } else {
            self
        }
    }
}

/// Result of every parser here.
pub type PResult<'a, T> = IResult<&'a [u8], T, PError<'a>>;

/// A recoverable "expected …" error.
#[inline]
pub(crate) fn expected<'a, T>(input: &'a [u8], what: &'static str) -> PResult<'a, T> {
    Err(Err::Error(PError {
        input,
        kind: PErrorKind::Expected(what),
    }))
}

/// An unrecoverable "expected …" error (no alternative may be tried).
#[inline]
pub(crate) fn fatal<'a, T>(input: &'a [u8], what: &'static str) -> PResult<'a, T> {
    Err(Err::Failure(PError {
        input,
        kind: PErrorKind::Expected(what),
    }))
}

/// Turns a recoverable error into a failure: used once the grammar is
/// committed to a branch, so that messages point at the real problem.
#[inline]
pub(crate) fn cut<'a, T>(r: PResult<'a, T>) -> PResult<'a, T> {
    match r {
        Err(Err::Error(e)) => Err(Err::Failure(e)),
        other => other,
    }
}

#[inline]
pub(crate) fn incomplete<T>() -> PResult<'static, T> {
    Err(Err::Incomplete(Needed::Unknown))
}

/// One exact octet.
#[inline]
pub(crate) fn byte(c: u8, what: &'static str) -> impl Fn(&[u8]) -> PResult<'_, ()> {
    move |i: &[u8]| match i.first() {
        None => Err(Err::Incomplete(Needed::new(1))),
        Some(&b) if b == c => Ok((&i[1..], ())),
        Some(_) => expected(i, what),
    }
}

/// `SP`
#[inline]
pub fn sp(i: &[u8]) -> PResult<'_, ()> {
    match i.first() {
        None => Err(Err::Incomplete(Needed::new(1))),
        Some(b' ') => Ok((&i[1..], ())),
        Some(_) => expected(i, "SP"),
    }
}

/// `CRLF` (RFC 5234 core rule).
#[inline]
pub fn crlf(i: &[u8]) -> PResult<'_, ()> {
    match i {
        [b'\r', b'\n', rest @ ..] => Ok((rest, ())),
        [] | [b'\r'] => Err(Err::Incomplete(Needed::Unknown)),
        _ => expected(i, "CRLF"),
    }
}

/// Case-insensitive keyword followed by a non-keyword character (or an
/// incomplete input). Matches the ABNF's case-insensitive string literals.
#[inline]
pub(crate) fn kw<'a>(i: &'a [u8], word: &'static str) -> PResult<'a, ()> {
    let w = word.as_bytes();
    let n = w.len().min(i.len());
    if !i[..n].eq_ignore_ascii_case(&w[..n]) {
        return expected(i, word);
    }
    if i.len() < w.len() {
        return incomplete();
    }
    Ok((&i[w.len()..], ()))
}

/// Whether the input starts with `word` (case-insensitive); `None` when it
/// cannot tell yet.
#[inline]
pub(crate) fn peek_kw(i: &[u8], word: &str) -> Option<bool> {
    let w = word.as_bytes();
    let n = w.len().min(i.len());
    if !i[..n].eq_ignore_ascii_case(&w[..n]) {
        return Some(false);
    }
    if i.len() < w.len() { None } else { Some(true) }
}

/// A keyword: letters, digits, `.` and `-` (used to dispatch on command
/// names, fetch attributes and response codes before checking the rule).
#[inline]
pub(crate) fn keyword(i: &[u8]) -> PResult<'_, &[u8]> {
    let n = i
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'='))
        .unwrap_or(i.len());
    if n == i.len() {
        return incomplete();
    }
    if n == 0 {
        return expected(i, "keyword");
    }
    Ok((&i[n..], &i[..n]))
}

fn digits(i: &[u8]) -> PResult<'_, &[u8]> {
    let n = i
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(i.len());
    if n == i.len() {
        return incomplete();
    }
    if n == 0 {
        return expected(i, "number");
    }
    Ok((&i[n..], &i[..n]))
}

/// The value of a run of ASCII digits; `None` when it does not fit in 64
/// bits (any number of leading zeros is fine).
pub(crate) fn decimal(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |v, &b| {
        v.checked_mul(10)?
            .checked_add(u64::from(b.wrapping_sub(b'0')))
    })
}

/// `number = 1*DIGIT` — "unsigned 32-bit integer (0 <= n < 4,294,967,296)"
/// (RFC 3501 §9).
pub fn number(i: &[u8]) -> PResult<'_, u32> {
    let (rest, d) = digits(i)?;
    match decimal(d).and_then(|v| u32::try_from(v).ok()) {
        Some(v) => Ok((rest, v)),
        None => fatal(i, "number within 32 bits"),
    }
}

/// `nz-number = digit-nz *DIGIT` (RFC 3501 §9).
pub fn nz_number(i: &[u8]) -> PResult<'_, NonZeroU32> {
    let (rest, n) = number(i)?;
    match NonZeroU32::new(n) {
        Some(n) if i[0] != b'0' => Ok((rest, n)),
        _ => expected(i, "non-zero number"),
    }
}

/// `mod-sequence-value = 1*DIGIT` — "positive unsigned 63-bit integer"
/// (RFC 7162 §7): at most [`MAX_MOD_SEQUENCE`]. Zero is accepted here;
/// callers that need a non-zero value check it.
pub fn mod_sequence_value(i: &[u8]) -> PResult<'_, u64> {
    let (rest, d) = digits(i)?;
    match decimal(d).filter(|&v| v <= MAX_MOD_SEQUENCE) {
        Some(v) => Ok((rest, v)),
        None => fatal(i, "mod-sequence-value within 63 bits"),
    }
}

/// `mod-sequence-valzer = "0" / mod-sequence-value` (RFC 7162 §7).
pub fn mod_sequence_valzer(i: &[u8]) -> PResult<'_, u64> {
    mod_sequence_value(i)
}

/// Non-zero mod-sequence (`permsg-modsequence`, RFC 7162 §7).
pub fn nz_mod_sequence(i: &[u8]) -> PResult<'_, NonZeroU64> {
    let (rest, n) = mod_sequence_value(i)?;
    match NonZeroU64::new(n) {
        Some(n) => Ok((rest, n)),
        None => expected(i, "non-zero mod-sequence"),
    }
}

/// `atom = 1*ATOM-CHAR` (RFC 3501 §9).
#[inline]
pub fn atom(i: &[u8]) -> PResult<'_, Atom> {
    let (rest, a) = atom_bytes(i)?;
    Ok((rest, Atom::from_valid(a)))
}

#[inline]
pub(crate) fn atom_bytes(i: &[u8]) -> PResult<'_, &[u8]> {
    let n = i
        .iter()
        .position(|&b| !ATOM_CHAR[usize::from(b)])
        .unwrap_or(i.len());
    if n == i.len() {
        return incomplete();
    }
    if n == 0 {
        return expected(i, "atom");
    }
    Ok((&i[n..], &i[..n]))
}

/// `tag = 1*<any ASTRING-CHAR except "+">` (RFC 3501 §9).
pub fn tag(i: &[u8]) -> PResult<'_, Tag> {
    let n = i.iter().position(|&b| !is_tag_char(b)).unwrap_or(i.len());
    if n == i.len() {
        return incomplete();
    }
    if n == 0 {
        return expected(i, "tag");
    }
    Ok((&i[n..], Tag::from_valid(&i[..n])))
}

/// `quoted = DQUOTE *QUOTED-CHAR DQUOTE` (RFC 3501 §9; RFC 9051 adds
/// UTF-8 octets to `QUOTED-CHAR`).
pub fn quoted(i: &[u8]) -> PResult<'_, Vec<u8>> {
    let (rest, raw) = quoted_raw(i)?;
    Ok((rest, unescape(raw)))
}

/// `quoted`, as an [`IString`] (no copy through a `Vec` when unescaped).
#[inline]
fn quoted_istring(i: &[u8]) -> PResult<'_, IString> {
    let (rest, raw) = quoted_raw(i)?;
    if raw.contains(&b'\\') {
        Ok((rest, IString::new(unescape(raw))))
    } else {
        Ok((rest, IString::from_window(&i[1..], raw.len())))
    }
}

const fn build_quoted_stop() -> [bool; 256] {
    let mut t = [false; 256];
    t[0] = true;
    t[b'\r' as usize] = true;
    t[b'\n' as usize] = true;
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
}

/// Octets that end the fast scan of a quoted string.
static QUOTED_STOP: [bool; 256] = build_quoted_stop();

/// The quoted string's inside, still escaped.
#[inline]
pub(crate) fn quoted_raw(i: &[u8]) -> PResult<'_, &[u8]> {
    match i.first() {
        None => return incomplete(),
        Some(b'"') => {}
        Some(_) => return expected(i, "quoted string"),
    }
    let mut j = 1;
    while j < i.len() {
        // Fast path over ordinary QUOTED-CHARs.
        while j < i.len() && !QUOTED_STOP[usize::from(i[j])] {
            j += 1;
        }
        if j >= i.len() {
            break;
        }
        match i[j] {
            b'"' => return Ok((&i[j + 1..], &i[1..j])),
            b'\\' => match i.get(j + 1) {
                None => return incomplete(),
                Some(b'"' | b'\\') => j += 2,
                Some(_) => return fatal(&i[j..], "\\\\ or \\\" in quoted string"),
            },
            0 | b'\r' | b'\n' => return fatal(&i[j..], "QUOTED-CHAR or closing DQUOTE"),
            _ => j += 1,
        }
    }
    incomplete()
}

#[inline]
pub(crate) fn unescape(raw: &[u8]) -> Vec<u8> {
    if !raw.contains(&b'\\') {
        return raw.to_vec();
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut esc = false;
    for &b in raw {
        if !esc && b == b'\\' {
            esc = true;
        } else {
            out.push(b);
            esc = false;
        }
    }
    out
}

/// `literal = "{" number ["+"] "}" CRLF *CHAR8` (RFC 3501 §9, RFC 7888
/// `literal-plus`). Octets are taken as they are (NUL included).
pub fn literal(i: &[u8]) -> PResult<'_, (&[u8], bool)> {
    let (i, _) = byte(b'{', "literal")(i)?;
    let (i, length) = cut(number(i))?;
    let (i, synchronizing) = match i.first() {
        None => return incomplete(),
        Some(b'+') => (&i[1..], false),
        Some(_) => (i, true),
    };
    let (i, _) = cut(byte(b'}', "} after literal length")(i))?;
    let (i, _) = cut(crlf(i))?;
    // A usize holds any u32 on the targets Rust supports; were it not so,
    // the literal could never arrive, which is what the check below says.
    let n = usize::try_from(length).unwrap_or(usize::MAX);
    if i.len() < n {
        return Err(Err::Failure(PError {
            input: i,
            kind: PErrorKind::Literal {
                length,
                synchronizing,
            },
        }));
    }
    Ok((&i[n..], (&i[..n], synchronizing)))
}

/// `string = quoted / literal` (RFC 3501 §9).
#[inline]
pub fn string(i: &[u8]) -> PResult<'_, IString> {
    match i.first() {
        None => incomplete(),
        Some(b'"') => quoted_istring(i),
        Some(b'{') => {
            let (rest, (v, _)) = literal(i)?;
            Ok((rest, IString::from_slice(v)))
        }
        Some(_) => expected(i, "string"),
    }
}

/// `astring = 1*ASTRING-CHAR / string` (RFC 3501 §9).
#[inline]
pub fn astring(i: &[u8]) -> PResult<'_, IString> {
    match i.first() {
        None => incomplete(),
        Some(b'"' | b'{') => string(i),
        Some(_) => {
            let n = i
                .iter()
                .position(|&b| !is_astring_char(b))
                .unwrap_or(i.len());
            if n == i.len() {
                return incomplete();
            }
            if n == 0 {
                return expected(i, "astring");
            }
            Ok((&i[n..], IString::from_window(i, n)))
        }
    }
}

/// `nil = "NIL"` (RFC 3501 §9).
#[inline]
pub fn nil(i: &[u8]) -> PResult<'_, ()> {
    kw(i, "NIL")
}

/// `nstring = string / nil` (RFC 3501 §9).
#[inline]
pub fn nstring(i: &[u8]) -> PResult<'_, Option<IString>> {
    match i.first() {
        None => incomplete(),
        Some(b'N' | b'n') => {
            let (i, _) = nil(i)?;
            Ok((i, None))
        }
        Some(_) => {
            let (i, s) = string(i)?;
            Ok((i, Some(s)))
        }
    }
}

/// `mailbox = "INBOX" / astring` (RFC 3501 §9): INBOX case-insensitive.
#[inline]
pub fn mailbox(i: &[u8]) -> PResult<'_, Mailbox> {
    let (rest, s) = astring(i)?;
    Ok((rest, Mailbox::from_wire(s.into_bytes())))
}

/// `list-mailbox = 1*list-char / string` (RFC 3501 §9).
pub fn list_mailbox(i: &[u8]) -> PResult<'_, IString> {
    match i.first() {
        None => incomplete(),
        Some(b'"' | b'{') => string(i),
        Some(_) => {
            let n = i.iter().position(|&b| !is_list_char(b)).unwrap_or(i.len());
            if n == i.len() {
                return incomplete();
            }
            if n == 0 {
                return expected(i, "list-mailbox");
            }
            Ok((&i[n..], IString::from_window(i, n)))
        }
    }
}

/// `text = 1*TEXT-CHAR` (RFC 3501 §9), possibly empty (RFC 9051), up to
/// CRLF (not consumed). Where no response code came first, a text that
/// starts with `[` is a response code that did not parse: refused.
pub fn text(i: &[u8]) -> PResult<'_, Text> {
    let (rest, t) = text_after_code(i)?;
    if t.as_str().starts_with('[') {
        return fatal(i, "response code");
    }
    Ok((rest, t))
}

/// `text` after `"[" resp-text-code "]" SP` (RFC 3501 §9 `resp-text`):
/// there it may start with `[` (`* OK [ALERT] [IMPORTANT] ...`).
pub fn text_after_code(i: &[u8]) -> PResult<'_, Text> {
    let n = i.iter().position(|&b| !is_text_char(b)).unwrap_or(i.len());
    if n == i.len() {
        return incomplete();
    }
    if i[n] != b'\r' {
        return fatal(&i[n..], "TEXT-CHAR or CRLF");
    }
    Ok((&i[n..], Text::from_valid(&i[..n])))
}

/// `seq-number = nz-number / "*"` (RFC 3501 §9).
#[inline]
pub fn seq_number(i: &[u8]) -> PResult<'_, SeqNo> {
    match i.first() {
        None => incomplete(),
        Some(b'*') => Ok((&i[1..], SeqNo::Largest)),
        Some(_) => {
            let (i, n) = nz_number(i)?;
            Ok((i, SeqNo::Value(n)))
        }
    }
}

/// `sequence-set = (seq-number / seq-range) ["," sequence-set]`,
/// `seq-range = seq-number ":" seq-number` (RFC 3501 §9).
pub fn sequence_set(i: &[u8]) -> PResult<'_, SequenceSet> {
    let mut out = Vec::new();
    let mut i = i;
    loop {
        let (r, a) = seq_number(i)?;
        let (r, item) = match r.first() {
            None => return incomplete(),
            Some(b':') => {
                let (r, b) = cut(seq_number(&r[1..]))?;
                (r, SeqRange::Range(a, b))
            }
            Some(_) => (r, SeqRange::Single(a)),
        };
        out.push(item);
        match r.first() {
            None => return incomplete(),
            Some(b',') => i = &r[1..],
            Some(_) => return Ok((r, SequenceSet::from_vec1(Vec1::from_nonempty(out)))),
        }
    }
}

/// `uid-set = (uniqueid / uid-range) *("," uid-set)` (RFC 4315 §4);
/// also `known-uids` of VANISHED (RFC 7162 §7, `*` not allowed).
pub fn uid_set(i: &[u8]) -> PResult<'_, UidSet> {
    let mut out = Vec::new();
    let mut i = i;
    loop {
        let (r, a) = nz_number(i)?;
        let (r, item) = match r.first() {
            None => return incomplete(),
            Some(b':') => {
                let (r, b) = cut(nz_number(&r[1..]))?;
                (r, UidRange::Range(a, b))
            }
            Some(_) => (r, UidRange::Single(a)),
        };
        out.push(item);
        match r.first() {
            None => return incomplete(),
            Some(b',') => i = &r[1..],
            Some(_) => return Ok((r, UidSet::from_vec1(Vec1::from_nonempty(out)))),
        }
    }
}

/// `flag = "\Answered" / "\Flagged" / "\Deleted" / "\Seen" / "\Draft" /
/// flag-keyword / flag-extension` and `flag-fetch = flag / "\Recent"`
/// (RFC 3501 §9).
#[inline]
pub fn flag(i: &[u8]) -> PResult<'_, Flag> {
    match i.first() {
        None => incomplete(),
        Some(b'\\') => {
            let (rest, a) = atom_bytes(&i[1..])?;
            let f = match a.len() {
                4 if a.eq_ignore_ascii_case(b"Seen") => Flag::Seen,
                5 if a.eq_ignore_ascii_case(b"Draft") => Flag::Draft,
                6 if a.eq_ignore_ascii_case(b"Recent") => Flag::Recent,
                7 if a.eq_ignore_ascii_case(b"Flagged") => Flag::Flagged,
                7 if a.eq_ignore_ascii_case(b"Deleted") => Flag::Deleted,
                8 if a.eq_ignore_ascii_case(b"Answered") => Flag::Answered,
                _ => Flag::system_or_extension(Atom::from_valid(a)),
            };
            Ok((rest, f))
        }
        Some(_) => {
            let (rest, a) = atom(i)?;
            Ok((rest, Flag::Keyword(a)))
        }
    }
}

/// `flag-perm = flag / "\*"` (RFC 3501 §9).
pub fn flag_perm(i: &[u8]) -> PResult<'_, FlagPerm> {
    if i.starts_with(b"\\*") {
        return Ok((&i[2..], FlagPerm::Wildcard));
    }
    if i.len() < 2 && i.first().is_none_or(|&b| b == b'\\') {
        return incomplete();
    }
    let (i, f) = flag(i)?;
    Ok((i, FlagPerm::Flag(f)))
}

/// `"(" [elem *(SP elem)] ")"`: a parenthesised, possibly empty list.
#[inline]
pub(crate) fn paren_list<'a, T>(
    i: &'a [u8],
    mut elem: impl FnMut(&'a [u8]) -> PResult<'a, T>,
) -> PResult<'a, Vec<T>> {
    let (mut i, _) = byte(b'(', "(")(i)?;
    let mut out = Vec::new();
    if let Some(b')') = i.first() {
        return Ok((&i[1..], out));
    }
    loop {
        let (r, v) = elem(i)?;
        out.push(v);
        match r.first() {
            None => return incomplete(),
            Some(b' ') => i = &r[1..],
            Some(b')') => return Ok((&r[1..], out)),
            Some(_) => return expected(r, "SP or )"),
        }
    }
}

/// `"(" elem *(SP elem) ")"`: a parenthesised non-empty list.
#[inline]
pub(crate) fn paren_list1<'a, T>(
    i: &'a [u8],
    elem: impl FnMut(&'a [u8]) -> PResult<'a, T>,
) -> PResult<'a, Vec1<T>> {
    let (rest, v) = paren_list(i, elem)?;
    match Vec1::new(v) {
        Ok(v) => Ok((rest, v)),
        Err(_) => expected(i, "non-empty list"),
    }
}

/// `flag-list = "(" [flag *(SP flag)] ")"` (RFC 3501 §9).
pub fn flag_list(i: &[u8]) -> PResult<'_, Vec<Flag>> {
    paren_list(i, flag)
}

/// `capability = ("AUTH=" auth-type) / atom` (RFC 3501 §9).
pub fn capability(i: &[u8]) -> PResult<'_, Capability> {
    let (i, a) = atom(i)?;
    Ok((i, Capability::from_atom(a)))
}

fn two_digits(i: &[u8]) -> PResult<'_, u8> {
    match i {
        [a, b, ..] if a.is_ascii_digit() && b.is_ascii_digit() => {
            Ok((&i[2..], (a - b'0') * 10 + (b - b'0')))
        }
        [] => incomplete(),
        [a] if a.is_ascii_digit() => incomplete(),
        _ => expected(i, "2DIGIT"),
    }
}

fn four_digits(i: &[u8]) -> PResult<'_, u16> {
    if i.len() < 4 {
        if i.iter().all(u8::is_ascii_digit) {
            return incomplete();
        }
        return expected(i, "4DIGIT");
    }
    if !i[..4].iter().all(u8::is_ascii_digit) {
        return expected(i, "4DIGIT");
    }
    // Four digits: at most 9999.
    let v = i[..4]
        .iter()
        .fold(0u16, |a, &b| a * 10 + u16::from(b - b'0'));
    Ok((&i[4..], v))
}

/// `date-month = "Jan" / "Feb" / ... / "Dec"` (RFC 3501 §9).
pub fn date_month(i: &[u8]) -> PResult<'_, u8> {
    if i.len() < 3 {
        return incomplete();
    }
    for (n, m) in (1u8..).zip(MONTHS) {
        if i[..3].eq_ignore_ascii_case(m.as_bytes()) {
            return Ok((&i[3..], n));
        }
    }
    expected(i, "date-month")
}

/// `date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time
/// SP zone DQUOTE` (RFC 3501 §9).
pub fn date_time(i: &[u8]) -> PResult<'_, DateTime> {
    let start = i;
    let (i, _) = byte(b'"', "date-time")(i)?;
    // date-day-fixed = (SP DIGIT) / 2DIGIT
    let (i, day) = match i {
        [b' ', d, ..] if d.is_ascii_digit() => (&i[2..], d - b'0'),
        [b' '] | [] => return incomplete(),
        _ => two_digits(i)?,
    };
    let (i, _) = byte(b'-', "-")(i)?;
    let (i, month) = date_month(i)?;
    let (i, _) = byte(b'-', "-")(i)?;
    let (i, year) = four_digits(i)?;
    let (i, _) = sp(i)?;
    let (i, hour) = two_digits(i)?;
    let (i, _) = byte(b':', ":")(i)?;
    let (i, minute) = two_digits(i)?;
    let (i, _) = byte(b':', ":")(i)?;
    let (i, second) = two_digits(i)?;
    let (i, _) = sp(i)?;
    let (i, neg) = match i.first() {
        None => return incomplete(),
        Some(b'+') => (&i[1..], false),
        Some(b'-') => (&i[1..], true),
        Some(_) => return expected(i, "zone"),
    };
    let (i, z) = four_digits(i)?;
    let (i, _) = byte(b'"', "closing DQUOTE of date-time")(i)?;
    // Four digits fit an i16 (at most 9999).
    let zone = i16::try_from(z).map(|z| if neg { -z } else { z });
    match zone.map(|zone| DateTime::new(year, month, day, hour, minute, second, zone)) {
        Ok(Ok(d)) => Ok((i, d)),
        _ => expected(start, "valid date-time"),
    }
}

/// `date = date-text / DQUOTE date-text DQUOTE`, `date-text = date-day "-"
/// date-month "-" date-year` (RFC 3501 §9).
pub fn date(i: &[u8]) -> PResult<'_, Date> {
    let start = i;
    let (i, q) = match i.first() {
        None => return incomplete(),
        Some(b'"') => (&i[1..], true),
        Some(_) => (i, false),
    };
    let (i, d) = digits(i)?;
    if d.len() > 2 {
        return expected(start, "date-day");
    }
    let day = d.iter().fold(0u8, |a, &b| a * 10 + (b - b'0'));
    let (i, _) = byte(b'-', "-")(i)?;
    let (i, month) = date_month(i)?;
    let (i, _) = byte(b'-', "-")(i)?;
    let (i, year) = four_digits(i)?;
    let i = if q {
        byte(b'"', "closing DQUOTE of date")(i)?.0
    } else {
        i
    };
    match Date::new(year, month, day) {
        Ok(d) => Ok((i, d)),
        Err(_) => expected(start, "valid date"),
    }
}

/// Base64 as in `base64 = *(4base64-char) [base64-terminal]` (RFC 3501
/// §9), up to CRLF (not consumed), decoded.
pub fn base64(i: &[u8]) -> PResult<'_, Vec<u8>> {
    use base64::Engine;
    let n = i
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='))
        .unwrap_or(i.len());
    if n == i.len() {
        return incomplete();
    }
    match base64::engine::general_purpose::STANDARD.decode(&i[..n]) {
        Ok(v) => Ok((&i[n..], v)),
        Err(_) => expected(i, "base64"),
    }
}
