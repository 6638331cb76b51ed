//! SEARCH keys (RFC 3501 §6.4.4, RFC 7162 §3.1.5) evaluated against one message.
//!
//! A message is first judged on its metadata alone, in three-valued logic: a key that needs the
//! message text is unknown, `NOT` of unknown is unknown, an `OR` with one true side is true and
//! an `AND` with one false member is false. Only when the answer is still unknown does the
//! session read the message from the store and judge it again with its text, so flag, size,
//! set and date keys never read a message body.

use mailpush_imap::{Atom, Date, IString, SearchKey};
use mailpush_mail_store::{Flag, Keyword, MessageMeta, Uid};

use crate::decode;
use crate::message::{days_from_civil, header_len};
use crate::mime;

/// What every message of one search shares.
pub(crate) struct Context {
    /// Messages in the mailbox (`*` of a message sequence set).
    pub(crate) count: u32,
    /// The largest UID (`*` of a UID set).
    pub(crate) largest_uid: Uid,
}

/// One message as the cheap keys see it.
pub(crate) struct Candidate<'a> {
    /// Message sequence number.
    pub(crate) seq: u32,
    /// Flags, size, dates, MODSEQ.
    pub(crate) meta: &'a MessageMeta,
    /// Whether the message is `\Recent` in this session.
    pub(crate) recent: bool,
}

/// The searchable text of a message: its header fields and, when a key needs it, its body.
pub(crate) struct MessageText {
    /// (lowercase name, value with encoded words decoded, lowercased).
    fields: Vec<(String, String)>,
    /// Every field as `name: value` lines, lowercased (the header part of TEXT).
    header: String,
    /// The body text (see [`mime::body_text`]), lowercased; empty when no key needs it.
    body: String,
    /// The day of the Date field, when it parses.
    sent: Option<i64>,
}

impl MessageText {
    /// Reads `raw`; the body is decoded only when `with_body`.
    pub(crate) fn new(raw: &[u8], with_body: bool) -> Self {
        let raw_fields = mime::fields(&raw[..header_len(raw)]);
        let sent = raw_fields
            .iter()
            .find(|(n, _)| n == "date")
            .and_then(|(_, v)| sent_day(v));
        let fields: Vec<(String, String)> = raw_fields
            .into_iter()
            .map(|(n, v)| {
                let value = decode::header_decoded(&v).to_lowercase();
                (n, value)
            })
            .collect();
        let mut header = String::new();
        for (n, v) in &fields {
            header.push_str(n);
            header.push_str(": ");
            header.push_str(v);
            header.push('\n');
        }
        let body = if with_body {
            mime::body_text(raw).to_lowercase()
        } else {
            String::new()
        };
        Self {
            fields,
            header,
            body,
            sent,
        }
    }

    /// Whether a field named `name` (lowercase) has `needle` (lowercased) in its value; an empty
    /// needle matches any message that has the field.
    fn field_has(&self, name: &str, needle: &str) -> bool {
        self.fields
            .iter()
            .any(|(n, v)| n == name && v.contains(needle))
    }
}

/// The search string as text, lowercased for the case-insensitive comparison RFC 3501 §6.4.4
/// asks for.
fn needle(s: &IString) -> String {
    String::from_utf8_lossy(s.as_bytes()).to_lowercase()
}

/// Days since 1970-01-01 of a SEARCH date.
fn day_of(d: &Date) -> i64 {
    let (y, m, d) = d.ymd();
    days_from_civil(i64::from(y), i64::from(m), i64::from(d))
}

/// The day of an internal date in its own zone: RFC 3501 §6.4.4 compares dates "disregarding
/// time and timezone".
fn internal_day(meta: &MessageMeta) -> i64 {
    let local =
        meta.internal_date.unix_seconds + i64::from(meta.internal_date.utc_offset_minutes) * 60;
    local.div_euclid(86_400)
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// The date part of an RFC 5322 `date-time` (`[day-of-week ","] day month year …`, two- and
/// three-digit years read as RFC 5322 §4.3 says), as days since 1970-01-01.
fn sent_day(v: &[u8]) -> Option<i64> {
    let s = String::from_utf8_lossy(v);
    let s = s.split_once(',').map_or(&*s, |(_, rest)| rest);
    let mut words = s.split_ascii_whitespace();
    let day: i64 = words.next()?.parse().ok()?;
    let month = words.next()?.to_ascii_lowercase();
    let month = MONTHS.iter().position(|m| month.starts_with(m))?;
    let year_text = words.next()?;
    let year: i64 = year_text.parse().ok()?;
    let year = match year_text.len() {
        1 | 2 if year < 50 => 2000 + year,
        1..=3 => 1900 + year,
        _ => year,
    };
    if !(1..=31).contains(&day) {
        return None;
    }
    Some(days_from_civil(year, i64::try_from(month).ok()? + 1, day))
}

/// Whether any key needs the message body (BODY, TEXT).
pub(crate) fn needs_body(k: &SearchKey) -> bool {
    match k {
        SearchKey::Body(_) | SearchKey::Text(_) => true,
        SearchKey::Not(k) => needs_body(k),
        SearchKey::Or(a, b) => needs_body(a) || needs_body(b),
        SearchKey::And(ks) => ks.iter().any(needs_body),
        _ => false,
    }
}

/// Whether any key is MODSEQ (the answer then carries `(MODSEQ n)`, RFC 7162 §3.1.5).
pub(crate) fn mentions_modseq(k: &SearchKey) -> bool {
    match k {
        SearchKey::ModSeq { .. } => true,
        SearchKey::Not(k) => mentions_modseq(k),
        SearchKey::Or(a, b) => mentions_modseq(a) || mentions_modseq(b),
        SearchKey::And(ks) => ks.iter().any(mentions_modseq),
        _ => false,
    }
}

/// All of `keys` (the implicit AND of a SEARCH command and of a parenthesised list): false as
/// soon as one is false, unknown when none is false and one is unknown.
pub(crate) fn all<'k>(
    keys: impl IntoIterator<Item = &'k SearchKey>,
    c: &Candidate<'_>,
    ctx: &Context,
    text: Option<&MessageText>,
) -> Option<bool> {
    let mut known = true;
    for k in keys {
        match matches(k, c, ctx, text) {
            Some(false) => return Some(false),
            Some(true) => {}
            None => known = false,
        }
    }
    known.then_some(true)
}

/// Whether the message matches `k`: `None` when that depends on the text and `text` is `None`.
/// With the text, the answer is always known.
pub(crate) fn matches(
    k: &SearchKey,
    c: &Candidate<'_>,
    ctx: &Context,
    text: Option<&MessageText>,
) -> Option<bool> {
    let m = c.meta;
    let has = |f: Flag| m.flags.contains(&f);
    let kw = |a: &Atom| {
        Keyword::new(a.as_str())
            .map(|k| m.flags.contains(&Flag::Keyword(k)))
            .unwrap_or(false)
    };
    let field = |name: &str, s: &IString| text.map(|t| t.field_has(name, &needle(s)));
    Some(match k {
        SearchKey::All => true,
        SearchKey::Answered => has(Flag::Answered),
        SearchKey::Deleted => has(Flag::Deleted),
        SearchKey::Draft => has(Flag::Draft),
        SearchKey::Flagged => has(Flag::Flagged),
        SearchKey::Seen => has(Flag::Seen),
        SearchKey::Unanswered => !has(Flag::Answered),
        SearchKey::Undeleted => !has(Flag::Deleted),
        SearchKey::Undraft => !has(Flag::Draft),
        SearchKey::Unflagged => !has(Flag::Flagged),
        SearchKey::Unseen => !has(Flag::Seen),
        SearchKey::Recent => c.recent,
        SearchKey::New => c.recent && !has(Flag::Seen),
        SearchKey::Old => !c.recent,
        SearchKey::Keyword(a) => kw(a),
        SearchKey::Unkeyword(a) => !kw(a),
        SearchKey::Larger(n) => m.size > u64::from(*n),
        SearchKey::Smaller(n) => m.size < u64::from(*n),
        SearchKey::Uid(set) => set.contains(m.uid, ctx.largest_uid),
        SearchKey::SequenceSet(set) => set.contains(c.seq, ctx.count),
        SearchKey::ModSeq { mod_seq, .. } => m.modseq >= *mod_seq,
        SearchKey::Before(d) => internal_day(m) < day_of(d),
        SearchKey::On(d) => internal_day(m) == day_of(d),
        SearchKey::Since(d) => internal_day(m) >= day_of(d),
        SearchKey::SentBefore(d) => text?.sent.is_some_and(|s| s < day_of(d)),
        SearchKey::SentOn(d) => text?.sent.is_some_and(|s| s == day_of(d)),
        SearchKey::SentSince(d) => text?.sent.is_some_and(|s| s >= day_of(d)),
        SearchKey::Bcc(s) => field("bcc", s)?,
        SearchKey::Cc(s) => field("cc", s)?,
        SearchKey::From(s) => field("from", s)?,
        SearchKey::To(s) => field("to", s)?,
        SearchKey::Subject(s) => field("subject", s)?,
        SearchKey::Header(name, s) => {
            let name = String::from_utf8_lossy(name.as_bytes()).to_ascii_lowercase();
            field(&name, s)?
        }
        SearchKey::Body(s) => text?.body.contains(&needle(s)),
        SearchKey::Text(s) => {
            let t = text?;
            let n = needle(s);
            t.header.contains(&n) || t.body.contains(&n)
        }
        SearchKey::Not(k) => !matches(k, c, ctx, text)?,
        SearchKey::Or(a, b) => match matches(a, c, ctx, text) {
            Some(true) => true,
            a => match (a, matches(b, c, ctx, text)) {
                (_, Some(true)) => true,
                (Some(false), Some(false)) => false,
                _ => return None,
            },
        },
        SearchKey::And(ks) => return all(ks.iter(), c, ctx, text),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailpush_mail_store::{Flags, InternalDate};

    fn meta(flags: &[&str]) -> MessageMeta {
        MessageMeta {
            uid: 7,
            flags: Flags::parse(flags.iter().copied()).unwrap_or_default(),
            modseq: 3,
            internal_date: InternalDate::utc(1_700_000_000),
            size: 100,
        }
    }

    #[test]
    fn metadata_decides_without_the_text_when_it_can() {
        let m = meta(&["\\Seen"]);
        let c = Candidate {
            seq: 1,
            meta: &m,
            recent: false,
        };
        let ctx = Context {
            count: 1,
            largest_uid: 7,
        };
        let body = || SearchKey::Body(IString::from("x"));
        // A false cheap key ends an AND, a true one an OR, whatever the text key says.
        let and = [SearchKey::Unseen, body()];
        assert_eq!(all(&and, &c, &ctx, None), Some(false));
        let or = SearchKey::Or(Box::new(body()), Box::new(SearchKey::Seen));
        assert_eq!(matches(&or, &c, &ctx, None), Some(true));
        // Otherwise the text is needed, and with it the answer is known.
        let and = [SearchKey::Seen, body()];
        assert_eq!(all(&and, &c, &ctx, None), None);
        let text = MessageText::new(b"Subject: a\r\n\r\nX marks\r\n", true);
        assert_eq!(all(&and, &c, &ctx, Some(&text)), Some(true));
        let not = SearchKey::Not(Box::new(body()));
        assert_eq!(matches(&not, &c, &ctx, None), None);
        assert_eq!(matches(&not, &c, &ctx, Some(&text)), Some(false));
    }

    #[test]
    fn sent_dates() {
        let day = |y, m, d| days_from_civil(y, m, d);
        assert_eq!(
            sent_day(b"Mon, 7 Feb 1994 21:52:25 -0800 (PST)"),
            Some(day(1994, 2, 7))
        );
        assert_eq!(sent_day(b"07 feb 94 21:52 GMT"), Some(day(1994, 2, 7)));
        assert_eq!(sent_day(b"1 Jan 05 00:00 +0000"), Some(day(2005, 1, 1)));
        assert_eq!(sent_day(b"1 Jan 105 00:00 +0000"), Some(day(2005, 1, 1)));
        assert_eq!(sent_day(b"not a date"), None);
        assert_eq!(sent_day(b"32 Jan 2020"), None);
        assert_eq!(sent_day(b"1 Foo 2020"), None);
    }
}
