//! Message text helpers: internal dates, header/body sections, partial fetches, LIST patterns.

use mailpush_imap::{DateTime, IString, SectionText};
use mailpush_mail_store::InternalDate;

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `date-time` of APPEND to the store's instant-plus-zone. `DateTime` only holds days that exist,
/// so every value converts.
pub fn internal_date_from(dt: &DateTime) -> InternalDate {
    let zone = i64::from(dt.zone());
    let offset_minutes = zone.signum() * ((zone.abs() / 100) * 60 + zone.abs() % 100);
    let (h, mi, s) = dt.time();
    let days = days_from_civil(
        i64::from(dt.year()),
        i64::from(dt.month()),
        i64::from(dt.day()),
    );
    InternalDate {
        unix_seconds: days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s)
            - offset_minutes * 60,
        // |offset| <= 99*60+59 fits an i16.
        utc_offset_minutes: i16::try_from(offset_minutes).unwrap_or(0),
    }
}

/// The store's internal date as `INTERNALDATE`, in the zone it was given in. `None` for dates
/// outside years 0..=9999.
pub fn date_time_from(d: InternalDate) -> Option<DateTime> {
    let offset = i64::from(d.utc_offset_minutes);
    let local = d.unix_seconds + offset * 60;
    let (y, m, day) = civil_from_days(local.div_euclid(86_400));
    let secs = local.rem_euclid(86_400);
    let zone = offset.signum() * ((offset.abs() / 60) * 100 + offset.abs() % 60);
    DateTime::new(
        u16::try_from(y).ok()?,
        u8::try_from(m).ok()?,
        u8::try_from(day).ok()?,
        u8::try_from(secs / 3600).ok()?,
        u8::try_from(secs / 60 % 60).ok()?,
        u8::try_from(secs % 60).ok()?,
        i16::try_from(zone).ok()?,
    )
    .ok()
}

/// Where the header ends: just after the empty line that separates it from the body (RFC 5322
/// §2.1), or the whole message when there is none.
pub fn header_len(raw: &[u8]) -> usize {
    let mut i = 0;
    while i < raw.len() {
        if raw[i..].starts_with(b"\r\n\r\n") {
            return i + 4;
        }
        if raw[i..].starts_with(b"\n\n") {
            return i + 2;
        }
        i += 1;
    }
    raw.len()
}

/// The octets of a top-level `section-msgtext`.
pub fn msgtext(raw: &[u8], text: &SectionText) -> Vec<u8> {
    let split = header_len(raw);
    match text {
        SectionText::Header => raw[..split].to_vec(),
        SectionText::Text => raw[split..].to_vec(),
        SectionText::HeaderFields { not, fields } => header_fields(&raw[..split], fields, *not),
    }
}

/// `HEADER.FIELDS (…)` / `HEADER.FIELDS.NOT (…)`: the matching header lines (folded lines kept
/// with their field), then the empty line (RFC 3501 §6.4.5).
fn header_fields(header: &[u8], fields: &[IString], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut keep = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        let continuation = matches!(line.first(), Some(b' ' | b'\t'));
        if !continuation {
            let name = line.split(|&b| b == b':').next().unwrap_or(&[]);
            let listed = fields
                .iter()
                .any(|f| f.as_bytes().eq_ignore_ascii_case(name.trim_ascii()));
            keep = listed != not;
        }
        if keep {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// `<origin.length>` applied to section data (RFC 3501 §6.4.5: an origin past the end gives the
/// empty string).
pub fn partial(data: Vec<u8>, origin: u32, length: u32) -> Vec<u8> {
    let start = (origin as usize).min(data.len());
    let end = start.saturating_add(length as usize).min(data.len());
    data[start..end].to_vec()
}

/// LIST pattern matching (RFC 3501 §6.3.8): `*` matches anything, `%` anything but the
/// hierarchy delimiter; the rest compares exactly, except that `INBOX` is case-insensitive.
pub fn list_matches(pattern: &[u8], name: &[u8], delimiter: u8) -> bool {
    let name_norm: Vec<u8> = if name.eq_ignore_ascii_case(b"INBOX") {
        b"INBOX".to_vec()
    } else {
        name.to_vec()
    };
    let pat_norm: Vec<u8> = if pattern.len() >= 5 && pattern[..5].eq_ignore_ascii_case(b"INBOX") {
        let mut p = b"INBOX".to_vec();
        p.extend_from_slice(&pattern[5..]);
        p
    } else {
        pattern.to_vec()
    };
    glob(&pat_norm, &name_norm, delimiter)
}

fn glob(p: &[u8], n: &[u8], delim: u8) -> bool {
    glob_counting(p, n, delim, &mut 0)
}

/// One `*`-free piece of a pattern: literal octets and `%` (`None`).
type Segment = Vec<Option<u8>>;

/// The pattern as the `*`-free segments between its `*`s, and whether it starts and ends with
/// `*`. `**` is `*`, `%%` is `%`, and a `%` next to a `*` is absorbed by it, so that every `%`
/// in a segment is next to a literal octet and a segment is at most twice as long as its
/// literals plus one.
fn segments(p: &[u8]) -> (Vec<Segment>, bool, bool) {
    // `None` for `*`, `Some(None)` for `%`, `Some(Some(c))` for a literal.
    let mut toks: Vec<Option<Option<u8>>> = Vec::with_capacity(p.len());
    for &c in p {
        match c {
            b'*' => {
                while toks.last() == Some(&Some(None)) {
                    toks.pop();
                }
                if toks.last() != Some(&None) {
                    toks.push(None);
                }
            }
            b'%' => {
                if !matches!(toks.last(), Some(None | Some(None))) {
                    toks.push(Some(None));
                }
            }
            _ => toks.push(Some(Some(c))),
        }
    }
    let leading = toks.first() == Some(&None);
    let trailing = !toks.is_empty() && toks.last() == Some(&None);
    let mut segs: Vec<Segment> = toks
        .split(Option::is_none)
        .map(|s| s.iter().flatten().copied().collect())
        .collect();
    if trailing {
        segs.pop();
    }
    if leading {
        segs.remove(0);
    }
    (segs, leading, trailing)
}

/// Where the earliest match of `seg` in `n[from..]` ends (`anchored`: it must start at
/// `from`; `to_end`: it must end at the end of `n`). A set of positions in the segment is
/// carried along the name: each octet of the name costs one step per position, and each
/// octet is read once.
fn scan(
    seg: &[Option<u8>],
    n: &[u8],
    from: usize,
    anchored: bool,
    to_end: bool,
    delim: u8,
    steps: &mut u64,
) -> Option<usize> {
    let m = seg.len();
    let mut live = vec![false; m + 1];
    let mut next = vec![false; m + 1];
    // `%` may match nothing: a position before a `%` also reaches the one after it.
    let close = |set: &mut Vec<bool>| {
        for k in 0..m {
            if set[k] && seg[k].is_none() {
                set[k + 1] = true;
            }
        }
    };
    live[0] = true;
    close(&mut live);
    for i in from..=n.len() {
        if live[m] && (!to_end || i == n.len()) {
            return Some(i);
        }
        let Some(&c) = n.get(i) else { break };
        next.iter_mut().for_each(|s| *s = false);
        for k in 0..m {
            *steps += 1;
            if !live[k] {
                continue;
            }
            match seg[k] {
                Some(l) if l == c => next[k + 1] = true,
                None if c != delim => next[k] = true,
                _ => {}
            }
        }
        if !anchored {
            next[0] = true;
        }
        close(&mut next);
        std::mem::swap(&mut live, &mut next);
        if anchored && !live.contains(&true) {
            return None;
        }
    }
    None
}

/// [`glob`], counting the steps it takes: at most `(|pattern| + 1) · (|name| + 1)` and,
/// for a pattern whose `*`s cut it into short pieces, about `|name|` times the longest piece,
/// however many wildcards the pattern has.
fn glob_counting(p: &[u8], n: &[u8], delim: u8, steps: &mut u64) -> bool {
    let literal = p.iter().filter(|&&c| c != b'*' && c != b'%').count();
    if literal > n.len() {
        return false;
    }
    let (segs, leading, trailing) = segments(p);
    let last = segs.len().saturating_sub(1);
    let mut pos = 0;
    for (k, seg) in segs.iter().enumerate() {
        let anchored = k == 0 && !leading;
        let to_end = k == last && !trailing;
        match scan(seg, n, pos, anchored, to_end, delim, steps) {
            Some(end) => pos = end,
            None => return false,
        }
    }
    // Without a trailing `*` the last segment was matched up to the end; with one, `*` takes
    // the rest.
    trailing || pos == n.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_through_the_store_form() {
        // RFC 3501 §8's APPEND date.
        let dt = DateTime::new(1994, 2, 7, 21, 52, 25, -800).unwrap();
        let internal = internal_date_from(&dt);
        // 1994-02-08T05:52:25Z.
        assert_eq!(internal.unix_seconds, 760_686_745);
        assert_eq!(internal.utc_offset_minutes, -480);
        assert_eq!(date_time_from(internal), Some(dt));
        let feb29 = DateTime::new(2024, 2, 29, 0, 0, 0, 0).unwrap();
        let next_day = DateTime::new(2024, 3, 1, 0, 0, 0, 0).unwrap();
        assert_eq!(
            internal_date_from(&next_day).unix_seconds - internal_date_from(&feb29).unix_seconds,
            86_400
        );
    }

    #[test]
    fn list_patterns() {
        assert!(list_matches(b"*", b"a/b/c", b'/'));
        assert!(list_matches(b"%", b"Notes", b'/'));
        assert!(!list_matches(b"%", b"a/b", b'/'));
        assert!(list_matches(b"a/%", b"a/b", b'/'));
        assert!(list_matches(b"inbox", b"INBOX", b'/'));
        assert!(!list_matches(b"Notes", b"notes", b'/'));
        assert!(list_matches(b"*b", b"a/b", b'/'));
        assert!(list_matches(b"a***%", b"a/b", b'/'));
        assert!(!list_matches(b"a%%b/c", b"ab", b'/'));
        let hostile = b"*a".repeat(4000);
        assert!(!list_matches(&hostile, &b"a".repeat(1024), b'/'));
        // `*` and `%` together, where taking the first place a piece fits is not enough
        // within a piece: `%` stops at the delimiter.
        assert!(list_matches(b"%/b*", b"a/b/c", b'/'));
        assert!(!list_matches(b"%b", b"a/b", b'/'));
        assert!(list_matches(b"*%", b"a/b", b'/'));
        assert!(list_matches(b"a%c*d", b"abbc/d", b'/'));
        assert!(!list_matches(b"a%c%d", b"abbc/d", b'/'));
        assert!(list_matches(b"a%b%c", b"aXbYbZc", b'/'));
        assert!(!list_matches(b"*/", b"a/b", b'/'));
        assert!(list_matches(b"**%%", b"", b'/'));
        assert!(list_matches(b"", b"", b'/'));
        assert!(!list_matches(b"", b"a", b'/'));
        assert!(list_matches(b"%a", b"aaa", b'/'));
        assert!(list_matches(b"*a*a", b"xaya", b'/'));
        assert!(!list_matches(b"*a*a", b"xay", b'/'));
    }

    use crate::fuzzing::list_rules as naive;

    #[test]
    fn list_patterns_agree_with_the_rules() {
        // Every pattern of up to 5 octets over {a, /, *, %} against every name of up to 5
        // octets over {a, b, /}.
        fn all(alphabet: &[u8], max: usize) -> Vec<Vec<u8>> {
            let mut out = vec![Vec::new()];
            let mut layer = vec![Vec::new()];
            for _ in 0..max {
                let mut grown = Vec::new();
                for w in &layer {
                    for &c in alphabet {
                        let mut v: Vec<u8> = w.clone();
                        v.push(c);
                        grown.push(v);
                    }
                }
                out.extend(grown.iter().cloned());
                layer = grown;
            }
            out
        }
        let names = all(b"ab/", 5);
        for p in all(b"a/*%", 5) {
            for n in &names {
                assert_eq!(
                    glob(&p, n, b'/'),
                    naive(&p, n, b'/'),
                    "pattern {:?} name {:?}",
                    String::from_utf8_lossy(&p),
                    String::from_utf8_lossy(n)
                );
            }
        }
    }

    #[test]
    fn a_pattern_of_many_wildcards_is_cheap() {
        let name = b"a".repeat(1000);
        // 500 pieces `a` between `*`s, then one the name does not have: each octet of the name
        // is read once per piece position it can be in, not once per pattern octet.
        let mut hostile = b"*a%".repeat(499);
        hostile.extend_from_slice(b"*b");
        let mut steps = 0;
        assert!(!glob_counting(&hostile, &name, b'/', &mut steps));
        assert!(steps <= 4 * name.len() as u64, "{steps} steps");
        // The same pattern without the last piece matches, as cheaply.
        let mut steps = 0;
        assert!(glob_counting(&b"*a%".repeat(499), &name, b'/', &mut steps));
        assert!(steps <= 4 * name.len() as u64, "{steps} steps");
        // A DP over the whole pattern would take |pattern| · |name| = 1.5 million steps.
    }

    #[test]
    fn header_fields_keep_folded_lines() {
        let raw = b"From: a\r\nSubject: one\r\n two\r\nTo: b\r\n\r\nbody";
        let fields = [IString::from("subject")];
        assert_eq!(
            header_fields(&raw[..header_len(raw)], &fields, false),
            b"Subject: one\r\n two\r\n\r\n"
        );
        assert_eq!(
            header_fields(&raw[..header_len(raw)], &fields, true),
            b"From: a\r\nTo: b\r\n\r\n"
        );
        assert_eq!(msgtext(raw, &SectionText::Text), b"body");
    }
}
