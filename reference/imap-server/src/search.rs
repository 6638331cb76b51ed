//! SEARCH keys (RFC 3501 §6.4.4, RFC 7162 §3.1.5) evaluated against one message.
//!
//! A message is first judged on its metadata alone, in three-valued logic: a key that needs the
//! message text is unknown, `NOT` of unknown is unknown, an `OR` with one true side is true and
//! an `AND` with one false member is false. Only when the answer is still unknown does the
//! session read the message from the store and judge it again with its text, so flag, size,
//! set and date keys never read a message body.

use mailpush_imap::{Atom, Date, IString, SearchKey};
use mailpush_message::date::date_of;
use mailpush_message::{CivilDate, Entity, Fields, text};

use crate::dates::local_day;
use crate::store::{Flag, Keyword, MessageMeta, Uid};

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

/// A message alone in its mailbox (number 1, the largest UID its own), not `\Recent`: how
/// tests and the fuzz oracle judge one message.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn alone(meta: &MessageMeta) -> (Candidate<'_>, Context) {
    let candidate = Candidate {
        seq: 1,
        meta,
        recent: false,
    };
    let ctx = Context {
        count: 1,
        largest_uid: meta.uid,
    };
    (candidate, ctx)
}

/// The searchable text of a message: its header fields and, when a key needs it, its body.
pub(crate) struct MessageText {
    /// (lowercase name, value with encoded words decoded, lowercased).
    fields: Vec<(String, String)>,
    /// Every field as `name: value` lines, lowercased (the header part of TEXT).
    header: String,
    /// The body text (see [`text::body_text`]), lowercased; empty when no key needs it.
    body: String,
    /// The day of the Date field, when it parses.
    sent: Option<i64>,
}

impl MessageText {
    /// Reads `raw`; the body is decoded only when `with_body`.
    pub(crate) fn new(raw: &[u8], with_body: bool) -> Self {
        // The MIME tree only when a key looks in the body.
        let message = with_body.then(|| Entity::parse(raw));
        let header_fields = match &message {
            Some(m) => m.fields.clone(),
            None => Fields::parse(raw),
        };
        let sent = header_fields
            .get("date")
            .and_then(date_of)
            .map(CivilDate::days_since_epoch);
        let fields: Vec<(String, String)> = header_fields
            .iter()
            .map(|f| (f.name().to_ascii_lowercase(), f.decoded().to_lowercase()))
            .collect();
        let mut header = String::new();
        for (n, v) in &fields {
            header.push_str(n);
            header.push_str(": ");
            header.push_str(v);
            header.push('\n');
        }
        let body = message
            .map(|m| text::body_text(&m).to_lowercase())
            .unwrap_or_default();
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
fn day_of(d: &Date) -> Option<i64> {
    let (y, m, d) = d.ymd();
    CivilDate::new(y, m, d)
        .ok()
        .map(CivilDate::days_since_epoch)
}

/// Compares the day of the internal date (in its own zone: RFC 3501 §6.4.4 compares dates
/// "disregarding time and timezone") with a SEARCH date; false when either is not a day.
fn internal(m: &MessageMeta, d: &Date, cmp: fn(&i64, &i64) -> bool) -> bool {
    matches!((local_day(m.internal_date), day_of(d)), (Some(a), Some(b)) if cmp(&a, &b))
}

/// Compares the day of the Date field with a SEARCH date; false when the message has no
/// readable Date field.
fn sent(t: &MessageText, d: &Date, cmp: fn(&i64, &i64) -> bool) -> bool {
    matches!((t.sent, day_of(d)), (Some(a), Some(b)) if cmp(&a, &b))
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
        SearchKey::Before(d) => internal(m, d, i64::lt),
        SearchKey::On(d) => internal(m, d, i64::eq),
        SearchKey::Since(d) => internal(m, d, i64::ge),
        SearchKey::SentBefore(d) => sent(text?, d, i64::lt),
        SearchKey::SentOn(d) => sent(text?, d, i64::eq),
        SearchKey::SentSince(d) => sent(text?, d, i64::ge),
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
    use crate::store::{Flags, InternalDate};

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
        let (c, ctx) = alone(&m);
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

    /// A Date field a peer wrote with an 18-digit year used to overflow the day count (a
    /// panic in debug builds, a wrapped day in release): it is no date now, so SENT* keys do
    /// not match it, and the other keys still work.
    #[test]
    fn a_date_with_a_huge_year_is_no_date() {
        let m = meta(&[]);
        let (c, ctx) = alone(&m);
        let since = SearchKey::SentSince(Date::new(1970, 1, 1).unwrap());
        let before = SearchKey::SentBefore(Date::new(9999, 12, 31).unwrap());
        for year in ["123456789012345678", "99999", "+2000", "-5"] {
            let raw = format!("Date: 1 Jan {year} 00:00 +0000\r\nSubject: x\r\n\r\n");
            let text = MessageText::new(raw.as_bytes(), false);
            assert_eq!(text.sent, None, "{year}");
            assert_eq!(matches(&since, &c, &ctx, Some(&text)), Some(false));
            assert_eq!(matches(&before, &c, &ctx, Some(&text)), Some(false));
            let subject = SearchKey::Subject(IString::from("x"));
            assert_eq!(matches(&subject, &c, &ctx, Some(&text)), Some(true));
        }
        let text = MessageText::new(b"Date: 7 Feb 1994 21:52 -0800\r\n\r\n", false);
        let on = SearchKey::SentOn(Date::new(1994, 2, 7).unwrap());
        assert_eq!(matches(&on, &c, &ctx, Some(&text)), Some(true));
    }

    /// An internal date at the edge of `i64` (a backend's own idea of time) used to overflow
    /// when its zone was added; it is no day now, so BEFORE/ON/SINCE do not match it.
    #[test]
    fn an_internal_date_at_the_edge_is_no_day() {
        let mut m = meta(&[]);
        m.internal_date = InternalDate {
            unix_seconds: i64::MAX,
            utc_offset_minutes: 60,
        };
        let (c, ctx) = alone(&m);
        let d = Date::new(2000, 1, 1).unwrap();
        for k in [SearchKey::Before(d), SearchKey::On(d), SearchKey::Since(d)] {
            assert_eq!(matches(&k, &c, &ctx, None), Some(false), "{k:?}");
        }
    }
}
