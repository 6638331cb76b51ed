//! Core IMAP value types that cannot be built invalid.
//!
//! Every constructor checks the grammar rule the type stands for, so a value
//! that exists always encodes to bytes the parser accepts.

use std::fmt;
use std::num::NonZeroU32;
use std::ops::RangeInclusive;

use crate::utf7;

/// Why a value could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}: {reason}")]
#[non_exhaustive]
pub struct TypeError {
    /// The type that refused the value.
    pub what: &'static str,
    /// Why it was refused.
    pub reason: &'static str,
}

fn err<T>(what: &'static str, reason: &'static str) -> Result<T, TypeError> {
    Err(TypeError { what, reason })
}

// ---------------------------------------------------------------------------
// Character classes (RFC 3501 §9 / RFC 9051 §9).
// ---------------------------------------------------------------------------

const fn build_atom_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0x21u32; // CHAR minus CTL and SP
    while b < 0x7f {
        let c = b as u8; // const context: `b` < 0x7f
        let special = matches!(c, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']');
        t[b as usize] = !special;
        b += 1;
    }
    t
}

pub(crate) static ATOM_CHAR: [bool; 256] = build_atom_table();

/// `ATOM-CHAR = <any CHAR except atom-specials>` (RFC 3501 §9).
#[inline]
pub fn is_atom_char(b: u8) -> bool {
    ATOM_CHAR[usize::from(b)]
}

/// `ASTRING-CHAR = ATOM-CHAR / resp-specials` (RFC 3501 §9).
#[inline]
pub fn is_astring_char(b: u8) -> bool {
    ATOM_CHAR[usize::from(b)] || b == b']'
}

/// `list-char = ATOM-CHAR / list-wildcards / resp-specials` (RFC 3501 §9).
#[inline]
pub fn is_list_char(b: u8) -> bool {
    is_astring_char(b) || b == b'%' || b == b'*'
}

/// `tag = 1*<any ASTRING-CHAR except "+">` (RFC 3501 §9).
#[inline]
pub fn is_tag_char(b: u8) -> bool {
    is_astring_char(b) && b != b'+'
}

/// `TEXT-CHAR = <any CHAR except CR and LF>` (RFC 3501 §9), widened to
/// UTF-8 octets as RFC 9051 allows; NUL is never text.
#[inline]
pub fn is_text_char(b: u8) -> bool {
    b != 0 && b != b'\r' && b != b'\n'
}

/// Whether bytes may be sent as a `quoted` string by this encoder: 7-bit
/// `QUOTED-CHAR`s (escapes added for `"` and `\`).
pub(crate) fn is_quotable(s: &[u8]) -> bool {
    s.len() < 1024
        && s.iter()
            .all(|&b| b != 0 && b != b'\r' && b != b'\n' && b < 0x80)
}

// ---------------------------------------------------------------------------
// Tag, Atom
// ---------------------------------------------------------------------------

/// A command tag: `tag = 1*<any ASTRING-CHAR except "+">` (RFC 3501 §9).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    /// Builds a tag, refusing empty strings and characters outside the rule.
    pub fn new(s: impl Into<String>) -> Result<Self, TypeError> {
        let s = s.into();
        if s.is_empty() {
            return err("tag", "empty");
        }
        if !s.bytes().all(is_tag_char) {
            return err("tag", "character outside ASTRING-CHAR or '+'");
        }
        Ok(Tag(s))
    }
    pub(crate) fn from_valid(b: &[u8]) -> Self {
        Tag(String::from_utf8_lossy(b).into_owned())
    }
    /// The tag text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `atom = 1*ATOM-CHAR` (RFC 3501 §9).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Atom(String);

impl Atom {
    /// Builds an atom, refusing empty strings and atom-specials.
    pub fn new(s: impl Into<String>) -> Result<Self, TypeError> {
        let s = s.into();
        if s.is_empty() {
            return err("atom", "empty");
        }
        if !s.bytes().all(is_atom_char) {
            return err("atom", "character outside ATOM-CHAR");
        }
        Ok(Atom(s))
    }
    pub(crate) fn from_valid(b: &[u8]) -> Self {
        Atom(String::from_utf8_lossy(b).into_owned())
    }
    /// The atom text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Case-insensitive comparison, as IMAP keywords compare.
    pub fn eq_ignore_case(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// ---------------------------------------------------------------------------
// Strings
// ---------------------------------------------------------------------------

/// The content of an IMAP `string`, `astring` or `nstring` (RFC 3501 §9).
///
/// Any octets are representable: the encoder picks an atom (where the
/// grammar allows one), a quoted string or a literal. The representation
/// on the wire is not part of the value.
///
/// Short contents (most envelope and body-structure fields) are stored
/// inline, so decoding them does not allocate.
#[derive(Clone)]
pub struct IString(Repr);

const INLINE: usize = 22;

#[derive(Clone)]
enum Repr {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Vec<u8>),
}

impl IString {
    /// Wraps any bytes.
    pub fn new(b: impl Into<Vec<u8>>) -> Self {
        IString(Repr::Heap(b.into()))
    }
    /// Copies the bytes (inline when short).
    pub fn from_slice(b: &[u8]) -> Self {
        match u8::try_from(b.len()) {
            Ok(len) if b.len() <= INLINE => {
                let mut buf = [0u8; INLINE];
                buf[..b.len()].copy_from_slice(b);
                IString(Repr::Inline { len, buf })
            }
            _ => IString(Repr::Heap(b.to_vec())),
        }
    }
    /// The first `len` octets of `window`; copies a fixed-size block when
    /// the window is long enough (cheaper than a variable-length copy).
    #[inline]
    pub(crate) fn from_window(window: &[u8], len: usize) -> Self {
        match u8::try_from(len) {
            Ok(short) if len <= INLINE && window.len() >= INLINE => {
                let mut buf = [0u8; INLINE];
                buf.copy_from_slice(&window[..INLINE]);
                IString(Repr::Inline { len: short, buf })
            }
            _ => IString::from_slice(&window[..len.min(window.len())]),
        }
    }
    /// The octets.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, buf } => &buf[..usize::from(*len)],
            Repr::Heap(v) => v,
        }
    }
    /// The octets as UTF-8, when they are.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(self.as_bytes()).ok()
    }
    /// Takes the octets.
    pub fn into_bytes(self) -> Vec<u8> {
        match self.0 {
            Repr::Inline { len, buf } => buf[..usize::from(len)].to_vec(),
            Repr::Heap(v) => v,
        }
    }
}

impl Default for IString {
    fn default() -> Self {
        IString::from_slice(b"")
    }
}

impl PartialEq for IString {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for IString {}

impl std::hash::Hash for IString {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

impl PartialOrd for IString {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for IString {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl fmt::Debug for IString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(self.as_bytes()) {
            Ok(s) => write!(f, "{s:?}"),
            Err(_) => write!(f, "{:?}", self.as_bytes()),
        }
    }
}

impl From<&str> for IString {
    fn from(s: &str) -> Self {
        IString::from_slice(s.as_bytes())
    }
}

impl From<String> for IString {
    fn from(s: String) -> Self {
        IString::new(s.into_bytes())
    }
}

impl From<&[u8]> for IString {
    fn from(s: &[u8]) -> Self {
        IString::from_slice(s)
    }
}

/// `nstring = string / nil` (RFC 3501 §9).
pub type NString = Option<IString>;

/// Human-readable text: `text = 1*TEXT-CHAR` (RFC 3501 §9), also allowed
/// empty as RFC 9051 `resp-text` does. It never contains CR, LF or NUL.
/// [`Text::new`] refuses a leading `[` (without a response code before it,
/// it would read as one); the parser keeps one in the text after a
/// response code (`* OK [ALERT] [IMPORTANT] ...`), where RFC 3501 §9
/// allows it, and such a text encodes as it was read only after a code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Text(String);

impl Text {
    /// Builds text, refusing CR, LF, NUL and a leading `[`.
    pub fn new(s: impl Into<String>) -> Result<Self, TypeError> {
        let s = s.into();
        if !s.bytes().all(is_text_char) {
            return err("text", "CR, LF or NUL");
        }
        if s.starts_with('[') {
            return err("text", "starts with '[' (would read as a response code)");
        }
        Ok(Text(s))
    }
    pub(crate) fn from_valid(b: &[u8]) -> Self {
        Text(String::from_utf8_lossy(b).into_owned())
    }
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// ---------------------------------------------------------------------------
// Vec1
// ---------------------------------------------------------------------------

/// A non-empty list, for the grammar's `1*(...)` repetitions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Vec1<T>(Vec<T>);

impl<T> Vec1<T> {
    /// Builds from a vector, refusing an empty one.
    pub fn new(v: Vec<T>) -> Result<Self, TypeError> {
        if v.is_empty() {
            return err("list", "empty where the grammar needs at least one element");
        }
        Ok(Vec1(v))
    }
    /// A list of one.
    pub fn one(t: T) -> Self {
        Vec1(vec![t])
    }
    pub(crate) fn from_nonempty(v: Vec<T>) -> Self {
        debug_assert!(!v.is_empty());
        Vec1(v)
    }
    /// The first element (always present).
    pub fn first(&self) -> &T {
        &self.0[0]
    }
    /// The elements.
    pub fn as_slice(&self) -> &[T] {
        &self.0
    }
    /// The elements, to change in place (the list stays non-empty).
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.0
    }
    /// Takes the elements.
    pub fn into_vec(self) -> Vec<T> {
        self.0
    }
}

impl<T> std::ops::Deref for Vec1<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

// ---------------------------------------------------------------------------
// Mailbox names
// ---------------------------------------------------------------------------

/// `mailbox = "INBOX" / astring` (RFC 3501 §9): INBOX is case-insensitive
/// and is always normalised to [`Mailbox::Inbox`].
///
/// The wire name is kept as it is (modified UTF-7 per RFC 3501 §5.1.3, or
/// UTF-8 under RFC 9051); [`Mailbox::from_unicode`] and
/// [`Mailbox::to_unicode`] convert.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mailbox {
    /// The INBOX, in any case.
    Inbox,
    /// Any other name, as on the wire (never case-insensitively "INBOX").
    Other(MailboxName),
}

/// A mailbox name that is not INBOX, as on the wire.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailboxName(Vec<u8>);

impl MailboxName {
    /// The wire octets.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Mailbox {
    /// Builds from wire octets (an astring's content).
    pub fn from_wire(b: impl Into<Vec<u8>>) -> Self {
        let b = b.into();
        if b.eq_ignore_ascii_case(b"INBOX") {
            Mailbox::Inbox
        } else {
            Mailbox::Other(MailboxName(b))
        }
    }
    /// Builds from a Unicode name, encoding it in modified UTF-7
    /// (RFC 3501 §5.1.3).
    pub fn from_unicode(name: &str) -> Self {
        Mailbox::from_wire(utf7::encode(name).into_bytes())
    }
    /// The wire octets (`INBOX` for the inbox).
    pub fn as_wire(&self) -> &[u8] {
        match self {
            Mailbox::Inbox => b"INBOX",
            Mailbox::Other(n) => &n.0,
        }
    }
    /// Decodes the modified UTF-7 name; `None` when the wire name is not
    /// valid modified UTF-7.
    pub fn to_unicode(&self) -> Option<String> {
        utf7::decode(self.as_wire())
    }
}

impl fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mailbox::Inbox => f.write_str("Inbox"),
            Mailbox::Other(n) => write!(f, "Mailbox({:?})", String::from_utf8_lossy(&n.0)),
        }
    }
}

impl fmt::Debug for MailboxName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

impl From<&str> for Mailbox {
    /// Wire form (use [`Mailbox::from_unicode`] for display names).
    fn from(s: &str) -> Self {
        Mailbox::from_wire(s.as_bytes().to_vec())
    }
}

// ---------------------------------------------------------------------------
// Sequence sets
// ---------------------------------------------------------------------------

/// `seq-number = nz-number / "*"` (RFC 3501 §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeqNo {
    /// A message number or UID.
    Value(NonZeroU32),
    /// `*`: the largest number in use.
    Largest,
}

/// One element of a sequence set: `seq-number / seq-range` (RFC 3501 §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeqRange {
    /// A single number.
    Single(SeqNo),
    /// `seq-range = seq-number ":" seq-number`, as written (either order).
    Range(SeqNo, SeqNo),
}

/// `sequence-set = (seq-number / seq-range) ["," sequence-set]`
/// (RFC 3501 §9): never empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SequenceSet(Vec1<SeqRange>);

impl SequenceSet {
    /// Builds from ranges, refusing an empty list.
    pub fn new(v: Vec<SeqRange>) -> Result<Self, TypeError> {
        Ok(SequenceSet(Vec1::new(v).map_err(|_| TypeError {
            what: "sequence set",
            reason: "empty",
        })?))
    }
    pub(crate) fn from_vec1(v: Vec1<SeqRange>) -> Self {
        SequenceSet(v)
    }
    /// A single number.
    pub fn single(n: NonZeroU32) -> Self {
        SequenceSet(Vec1::one(SeqRange::Single(SeqNo::Value(n))))
    }
    /// `a:b`.
    pub fn range(a: NonZeroU32, b: NonZeroU32) -> Self {
        SequenceSet(Vec1::one(SeqRange::Range(SeqNo::Value(a), SeqNo::Value(b))))
    }
    /// `1:*`.
    pub fn all() -> Self {
        SequenceSet(Vec1::one(SeqRange::Range(
            SeqNo::Value(NonZeroU32::MIN),
            SeqNo::Largest,
        )))
    }
    /// The ranges.
    pub fn ranges(&self) -> &[SeqRange] {
        &self.0
    }
    /// Whether `n` is in the set, with `largest` standing for `*`.
    pub fn contains(&self, n: u32, largest: u32) -> bool {
        let v = |s: SeqNo| match s {
            SeqNo::Value(x) => x.get(),
            SeqNo::Largest => largest,
        };
        self.0.iter().any(|r| match *r {
            SeqRange::Single(a) => v(a) == n,
            SeqRange::Range(a, b) => {
                let (lo, hi) = if v(a) <= v(b) {
                    (v(a), v(b))
                } else {
                    (v(b), v(a))
                };
                lo <= n && n <= hi
            }
        })
    }
}

/// A set of UIDs without `*`: `uid-set` (RFC 4315 §4) and the `known-uids`
/// of VANISHED (RFC 7162 §7).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UidSet(Vec1<UidRange>);

/// `uniqueid / uid-range` (RFC 4315 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UidRange {
    /// One UID.
    Single(NonZeroU32),
    /// `uniqueid ":" uniqueid`, as written.
    Range(NonZeroU32, NonZeroU32),
}

impl UidSet {
    /// Builds from ranges, refusing an empty list.
    pub fn new(v: Vec<UidRange>) -> Result<Self, TypeError> {
        Ok(UidSet(Vec1::new(v).map_err(|_| TypeError {
            what: "uid set",
            reason: "empty",
        })?))
    }
    pub(crate) fn from_vec1(v: Vec1<UidRange>) -> Self {
        UidSet(v)
    }
    /// One UID.
    pub fn single(n: NonZeroU32) -> Self {
        UidSet(Vec1::one(UidRange::Single(n)))
    }
    /// The ranges.
    pub fn ranges(&self) -> &[UidRange] {
        &self.0
    }
    /// Each range as `low..=high`, in the order written (`5:3` gives `3..=5`).
    ///
    /// There is no iterator over every UID: a set a peer sends names up to four billion UIDs in
    /// a few octets (`VANISHED 1:4294967295`), so code facing peers works on these ranges, or
    /// asks for the UIDs with a bound ([`UidSet::uids_at_most`]).
    pub fn iter_ranges(&self) -> impl Iterator<Item = RangeInclusive<u32>> + '_ {
        self.0.iter().map(|r| match *r {
            UidRange::Single(a) => a.get()..=a.get(),
            UidRange::Range(a, b) => a.get().min(b.get())..=a.get().max(b.get()),
        })
    }

    /// How many UIDs the set names as written, a UID named twice counted twice (at most
    /// `u32::MAX` per range, so the sum cannot overflow a `u64` for any set that fits in
    /// memory).
    pub fn count(&self) -> u64 {
        self.iter_ranges()
            .map(|r| u64::from(*r.end() - *r.start()) + 1)
            .fold(0, u64::saturating_add)
    }

    /// Whether `uid` is in the set (one comparison per range).
    pub fn contains(&self, uid: u32) -> bool {
        self.iter_ranges().any(|r| r.contains(&uid))
    }

    /// The first UID written (the low end of the first range).
    pub fn first(&self) -> NonZeroU32 {
        match *self.0.first() {
            UidRange::Single(a) => a,
            UidRange::Range(a, b) => a.min(b),
        }
    }

    /// Every UID in the set, in the order written (ranges ascending), when it names at most
    /// `max` (see [`UidSet::count`]); a larger set is refused before any UID is listed.
    pub fn uids_at_most(&self, max: usize) -> Result<Vec<u32>, TypeError> {
        let count = self.count();
        if count > u64::try_from(max).unwrap_or(u64::MAX) {
            return err("uid set", "names more UIDs than the bound");
        }
        Ok(self.iter_ranges().flatten().collect())
    }
}

// ---------------------------------------------------------------------------
// Flags
// ---------------------------------------------------------------------------

/// A message flag: `flag` / `flag-fetch` (RFC 3501 §9).
///
/// [`Flag::Extension`] never holds a system flag's name, so every value has
/// one spelling.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Flag {
    /// `\Answered`
    Answered,
    /// `\Flagged`
    Flagged,
    /// `\Deleted`
    Deleted,
    /// `\Seen`
    Seen,
    /// `\Draft`
    Draft,
    /// `\Recent` (only in FETCH responses: `flag-fetch`)
    Recent,
    /// `flag-keyword = atom`, e.g. `$Forwarded`.
    Keyword(Atom),
    /// `flag-extension = "\" atom`, other than the names above.
    Extension(FlagExtension),
}

/// The atom of a `flag-extension`, never a system flag's name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlagExtension(Atom);

impl FlagExtension {
    /// The atom after the backslash.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl Flag {
    /// Parses the text of one flag (`\Seen`, `$Junk`, `\X-Custom`).
    pub fn new(s: &str) -> Result<Flag, TypeError> {
        match s.strip_prefix('\\') {
            Some(rest) => Ok(Flag::system_or_extension(Atom::new(rest)?)),
            None => Ok(Flag::Keyword(Atom::new(s)?)),
        }
    }
    /// A keyword flag.
    pub fn keyword(s: &str) -> Result<Flag, TypeError> {
        Ok(Flag::Keyword(Atom::new(s)?))
    }
    pub(crate) fn system_or_extension(a: Atom) -> Flag {
        let s = a.as_str();
        if s.eq_ignore_ascii_case("Answered") {
            Flag::Answered
        } else if s.eq_ignore_ascii_case("Flagged") {
            Flag::Flagged
        } else if s.eq_ignore_ascii_case("Deleted") {
            Flag::Deleted
        } else if s.eq_ignore_ascii_case("Seen") {
            Flag::Seen
        } else if s.eq_ignore_ascii_case("Draft") {
            Flag::Draft
        } else if s.eq_ignore_ascii_case("Recent") {
            Flag::Recent
        } else {
            Flag::Extension(FlagExtension(a))
        }
    }
    /// The wire text of the flag.
    pub fn as_str(&self) -> std::borrow::Cow<'_, str> {
        use std::borrow::Cow;
        match self {
            Flag::Answered => Cow::Borrowed("\\Answered"),
            Flag::Flagged => Cow::Borrowed("\\Flagged"),
            Flag::Deleted => Cow::Borrowed("\\Deleted"),
            Flag::Seen => Cow::Borrowed("\\Seen"),
            Flag::Draft => Cow::Borrowed("\\Draft"),
            Flag::Recent => Cow::Borrowed("\\Recent"),
            Flag::Keyword(a) => Cow::Borrowed(a.as_str()),
            Flag::Extension(e) => Cow::Owned(format!("\\{}", e.as_str())),
        }
    }
}

/// `flag-perm = flag / "\*"` (RFC 3501 §9).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FlagPerm {
    /// A flag.
    Flag(Flag),
    /// `\*`: new keywords may be created.
    Wildcard,
}

/// A capability name: `capability = ("AUTH=" auth-type) / atom`
/// (RFC 3501 §9). Compare with [`Capability::is`] (case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Capability(Atom);

impl Capability {
    /// Builds from its atom text.
    pub fn new(s: &str) -> Result<Self, TypeError> {
        Ok(Capability(Atom::new(s)?))
    }
    pub(crate) fn from_atom(a: Atom) -> Self {
        Capability(a)
    }
    /// The text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
    /// Case-insensitive name comparison.
    pub fn is(&self, name: &str) -> bool {
        self.0.eq_ignore_case(name)
    }
}

// ---------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------

/// `date-time` (RFC 3501 §9): `"dd-Mon-yyyy hh:mm:ss +zzzz"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateTime {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    /// Zone as signed `hhmm` (e.g. -0730 is -730).
    zone: i16,
}

/// Days in `month` (1..=12) of `year` in the proleptic Gregorian calendar; 0 for a month out of
/// range, so no day is valid in it.
pub fn days_in_month(year: u16, month: u8) -> u8 {
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 0,
    }
}

impl DateTime {
    /// Builds a date-time, checking every field's range (`zone` as signed
    /// `hhmm`, e.g. `-730` for `-0730`).
    pub fn new(
        year: u16,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
        zone: i16,
    ) -> Result<Self, TypeError> {
        if year > 9999 {
            return err("date-time", "year beyond 4 digits");
        }
        if !(1..=12).contains(&month) {
            return err("date-time", "month");
        }
        if !(1..=days_in_month(year, month)).contains(&day) {
            return err("date-time", "day (not in that month)");
        }
        if hour > 23 || minute > 59 || second > 60 {
            return err("date-time", "time");
        }
        if zone.unsigned_abs() > 9959 || zone.unsigned_abs() % 100 > 59 {
            return err("date-time", "zone");
        }
        Ok(DateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
            zone,
        })
    }
    /// Year.
    pub fn year(&self) -> u16 {
        self.year
    }
    /// Month 1..=12.
    pub fn month(&self) -> u8 {
        self.month
    }
    /// Day 1..=31.
    pub fn day(&self) -> u8 {
        self.day
    }
    /// (hour, minute, second).
    pub fn time(&self) -> (u8, u8, u8) {
        (self.hour, self.minute, self.second)
    }
    /// Zone as signed hhmm.
    pub fn zone(&self) -> i16 {
        self.zone
    }
}

/// `date-text = date-day "-" date-month "-" date-year` (RFC 3501 §9), for
/// SEARCH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// Builds a date, checking ranges.
    pub fn new(year: u16, month: u8, day: u8) -> Result<Self, TypeError> {
        if year > 9999
            || !(1..=12).contains(&month)
            || !(1..=days_in_month(year, month)).contains(&day)
        {
            return err("date", "out of range");
        }
        Ok(Date { year, month, day })
    }
    /// (year, month, day).
    pub fn ymd(&self) -> (u16, u8, u8) {
        (self.year, self.month, self.day)
    }
}

/// The largest mod-sequence: `mod-sequence-value` is a "positive unsigned
/// 63-bit integer (1 <= n <= 9,223,372,036,854,775,807)" (RFC 7162 §7).
/// The parser refuses larger values; the encoder writes any `u64` it is
/// given, so a value above this one does not survive encode → decode.
pub const MAX_MOD_SEQUENCE: u64 = (1 << 63) - 1;

pub(crate) const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_and_atom_refuse_specials() {
        assert!(Tag::new("A001").is_ok());
        assert!(Tag::new("A+1").is_err());
        assert!(Tag::new("").is_err());
        assert!(Atom::new("a b").is_err());
        assert!(Atom::new("x]").is_err());
        assert!(Tag::new("x]").is_ok());
    }

    #[test]
    fn inbox_is_normalised() {
        assert_eq!(Mailbox::from("inBoX"), Mailbox::Inbox);
        assert_ne!(Mailbox::from("INBOX.x"), Mailbox::Inbox);
    }

    #[test]
    fn flags_have_one_spelling() {
        assert_eq!(Flag::new("\\sEEn").unwrap(), Flag::Seen);
        assert!(matches!(Flag::new("\\X").unwrap(), Flag::Extension(_)));
        assert!(Flag::new("\\").is_err());
    }

    #[test]
    fn dates_only_exist_on_days_their_month_has() {
        assert!(DateTime::new(2026, 2, 31, 0, 0, 0, 0).is_err());
        assert!(DateTime::new(2026, 4, 31, 0, 0, 0, 0).is_err());
        assert!(DateTime::new(2026, 2, 29, 0, 0, 0, 0).is_err());
        assert!(DateTime::new(2024, 2, 29, 12, 0, 0, 100).is_ok());
        assert!(DateTime::new(2000, 2, 29, 0, 0, 0, 0).is_ok());
        assert!(DateTime::new(1900, 2, 29, 0, 0, 0, 0).is_err());
        assert!(DateTime::new(2026, 12, 31, 23, 59, 60, -1200).is_ok());
        assert!(Date::new(2026, 2, 29).is_err());
        assert!(Date::new(2028, 2, 29).is_ok());
        assert!(Date::new(2026, 13, 1).is_err());
    }
}
