//! RFC 5322 dates (§3.3, and the obsolete forms of §4.3 a reader must accept) and the civil
//! calendar arithmetic under them, in years 0 to 9999 so that no value a peer writes can make
//! the arithmetic overflow.

use std::fmt;

use crate::Error;

/// Days since 1970-01-01 of a civil date in the proleptic Gregorian calendar (H. Hinnant's
/// `days_from_civil`). Every input within the bounds of [`CivilDate`] stays far inside `i64`.
const fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days in `month` (1..=12) of `year`; 0 for a month out of range.
fn days_in_month(year: u16, month: u8) -> u8 {
    if !(1..=12).contains(&month) {
        return 0;
    }
    let (y, m) = (i64::from(year), i64::from(month));
    let next = if m == 12 {
        days_from_civil(y + 1, 1, 1)
    } else {
        days_from_civil(y, m + 1, 1)
    };
    u8::try_from(next - days_from_civil(y, m, 1)).unwrap_or(0)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// A day of the proleptic Gregorian calendar, in years [`CivilDate::MIN_YEAR`] to
/// [`CivilDate::MAX_YEAR`]; it cannot be built for a day that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CivilDate {
    year: u16,
    month: u8,
    day: u8,
}

impl CivilDate {
    /// The first year a date may have.
    pub const MIN_YEAR: u16 = 0;
    /// The last year a date may have (RFC 3501 and most writers use four digits).
    pub const MAX_YEAR: u16 = 9999;
    /// Days since 1970-01-01 of 0000-01-01.
    pub const MIN_DAYS: i64 = days_from_civil(Self::MIN_YEAR as i64, 1, 1);
    /// Days since 1970-01-01 of 9999-12-31.
    pub const MAX_DAYS: i64 = days_from_civil(Self::MAX_YEAR as i64, 12, 31);

    /// The date, when it exists and is within the years supported.
    pub fn new(year: u16, month: u8, day: u8) -> Result<Self, Error> {
        if year > Self::MAX_YEAR {
            return Err(Error::DateOutOfRange("year beyond 9999"));
        }
        if !(1..=12).contains(&month) {
            return Err(Error::DateOutOfRange("month"));
        }
        if !(1..=days_in_month(year, month)).contains(&day) {
            return Err(Error::DateOutOfRange("day not in that month"));
        }
        Ok(CivilDate { year, month, day })
    }

    /// The year.
    pub fn year(self) -> u16 {
        self.year
    }

    /// The month, 1 to 12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// The day of the month, 1 to 31.
    pub fn day(self) -> u8 {
        self.day
    }

    /// Days since 1970-01-01 (negative before), between [`CivilDate::MIN_DAYS`] and
    /// [`CivilDate::MAX_DAYS`].
    pub fn days_since_epoch(self) -> i64 {
        days_from_civil(
            i64::from(self.year),
            i64::from(self.month),
            i64::from(self.day),
        )
    }

    /// The date `days` after 1970-01-01, when it is within the years supported.
    pub fn from_days_since_epoch(days: i64) -> Option<Self> {
        if !(Self::MIN_DAYS..=Self::MAX_DAYS).contains(&days) {
            return None;
        }
        // H. Hinnant's `civil_from_days`; `days` is bounded, so nothing overflows.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        CivilDate::new(
            u16::try_from(y).ok()?,
            u8::try_from(m).ok()?,
            u8::try_from(d).ok()?,
        )
        .ok()
    }

    /// The day of the week, 0 for Sunday.
    pub fn weekday(self) -> u8 {
        // 1970-01-01 was a Thursday.
        u8::try_from((self.days_since_epoch() + 4).rem_euclid(7)).unwrap_or(0)
    }
}

/// An RFC 5322 `date-time`: a civil date, a time of day and the zone it was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateTime {
    date: CivilDate,
    hour: u8,
    minute: u8,
    second: u8,
    offset_minutes: i16,
}

/// Largest zone offset RFC 5322 can write (`+9959`), in minutes.
pub const MAX_OFFSET_MINUTES: i16 = 99 * 60 + 59;

impl DateTime {
    /// The date-time, when the time is one (second 60 allowed for a leap second) and the
    /// offset fits `±hhmm`.
    pub fn new(
        date: CivilDate,
        (hour, minute, second): (u8, u8, u8),
        offset_minutes: i16,
    ) -> Result<Self, Error> {
        if hour > 23 || minute > 59 || second > 60 {
            return Err(Error::DateOutOfRange("time of day"));
        }
        if offset_minutes.unsigned_abs() > MAX_OFFSET_MINUTES.unsigned_abs() {
            return Err(Error::DateOutOfRange("zone offset"));
        }
        Ok(DateTime {
            date,
            hour,
            minute,
            second,
            offset_minutes,
        })
    }

    /// The civil date where it was written.
    pub fn date(&self) -> CivilDate {
        self.date
    }

    /// (hour, minute, second).
    pub fn time(&self) -> (u8, u8, u8) {
        (self.hour, self.minute, self.second)
    }

    /// The zone's offset east of UTC, in minutes (`-0800` is -480).
    pub fn offset_minutes(&self) -> i16 {
        self.offset_minutes
    }

    /// Seconds since 1970-01-01T00:00:00Z (a leap second counts as the next one).
    pub fn unix_seconds(&self) -> i64 {
        self.date.days_since_epoch() * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - i64::from(self.offset_minutes) * 60
    }

    /// The instant `unix_seconds` as written in a zone `offset_minutes` east of UTC; `None`
    /// when its date is outside the years supported or the offset does not fit `±hhmm`.
    pub fn from_unix_seconds(unix_seconds: i64, offset_minutes: i16) -> Option<Self> {
        let local = unix_seconds.checked_add(i64::from(offset_minutes) * 60)?;
        let date = CivilDate::from_days_since_epoch(local.div_euclid(86_400))?;
        let secs = local.rem_euclid(86_400);
        let time = (
            u8::try_from(secs / 3600).ok()?,
            u8::try_from(secs / 60 % 60).ok()?,
            u8::try_from(secs % 60).ok()?,
        );
        DateTime::new(date, time, offset_minutes).ok()
    }

    /// Reads a `date-time` (RFC 5322 §3.3), with the obsolete forms of §4.3: two- and
    /// three-digit years, zone names (`GMT`, `EST`, …; military letters read as `-0000`),
    /// comments and white space anywhere, and a missing seconds field. The day of the week,
    /// when given, is not checked against the date.
    pub fn parse(value: &[u8]) -> Result<Self, Error> {
        let text = without_comments(value);
        let text = text.split_once(',').map_or(text.as_str(), |(_, rest)| rest);
        // `hh : mm` is allowed (obs-time): glue the time into one word.
        let mut glued = String::with_capacity(text.len());
        for word in text.split_ascii_whitespace() {
            let joins = glued.ends_with(':') || word.starts_with(':');
            if !glued.is_empty() && !joins {
                glued.push(' ');
            }
            glued.push_str(word);
        }
        let mut words = glued.split(' ');
        let date = date_words(&mut words).ok_or(Error::InvalidDate("date"))?;
        let time = words.next().ok_or(Error::InvalidDate("time"))?;
        let mut fields = time.split(':');
        let mut number = |what| {
            fields
                .next()
                .and_then(|f| digits(f, 2))
                .and_then(|n| u8::try_from(n).ok())
                .ok_or(Error::InvalidDate(what))
        };
        let hour = number("hour")?;
        let minute = number("minute")?;
        let second = match fields.next() {
            None => 0,
            Some(f) => digits(f, 2)
                .and_then(|n| u8::try_from(n).ok())
                .ok_or(Error::InvalidDate("second"))?,
        };
        if fields.next().is_some() {
            return Err(Error::InvalidDate("time"));
        }
        let zone = words.next().ok_or(Error::InvalidDate("zone"))?;
        let offset = zone_offset(zone).ok_or(Error::InvalidDate("zone"))?;
        if words.next().is_some() {
            return Err(Error::InvalidDate("text after the zone"));
        }
        DateTime::new(date, (hour, minute, second), offset)
    }

    /// The `date-time` as RFC 5322 §3.3 writes it: `Tue, 1 Jul 2003 10:52:37 +0200`.
    pub fn to_rfc5322(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let offset = self.offset_minutes.unsigned_abs();
        write!(
            f,
            "{}, {} {} {:04} {:02}:{:02}:{:02} {}{:02}{:02}",
            WEEKDAYS[usize::from(self.date.weekday() % 7)],
            self.date.day,
            MONTHS[usize::from(self.date.month.clamp(1, 12) - 1)],
            self.date.year,
            self.hour,
            self.minute,
            self.second,
            if self.offset_minutes < 0 { '-' } else { '+' },
            offset / 60,
            offset % 60
        )
    }
}

/// The value without its comments (RFC 5322 §3.2.2: parenthesized, nested, with quoted-pairs),
/// each replaced by a space. An unclosed comment runs to the end.
fn without_comments(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if depth > 0 => {
                chars.next();
            }
            '(' => depth = depth.saturating_add(1),
            ')' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    out.push(' ');
                }
            }
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// A number of ASCII digits (at most `max` of them, so it cannot overflow).
fn digits(word: &str, max: usize) -> Option<u32> {
    if word.is_empty() || word.len() > max || !word.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    word.parse().ok()
}

/// `day month year` from the next three words: the day of one or two digits (more are
/// accepted when they read as one or two: `007`), the month by its first three letters (any
/// case), the year of four digits, or two or three read as RFC 5322 §4.3 says (2-digit years
/// below 50 are 20xx, others 19xx; 3-digit years are 1900 plus the number).
fn date_words<'a>(words: &mut impl Iterator<Item = &'a str>) -> Option<CivilDate> {
    let day_word = words.next()?.trim_start_matches('0');
    let day = digits(if day_word.is_empty() { "0" } else { day_word }, 2)?;
    let month_word = words.next()?.to_ascii_lowercase();
    let month = MONTHS
        .iter()
        .position(|m| month_word.starts_with(&m.to_ascii_lowercase()))?;
    let year_word = words.next()?;
    let year = digits(year_word, 4)?;
    let year = match year_word.len() {
        1 | 2 if year < 50 => 2000 + year,
        1..=3 => 1900 + year,
        _ => year,
    };
    CivilDate::new(
        u16::try_from(year).ok()?,
        u8::try_from(month + 1).ok()?,
        u8::try_from(day).ok()?,
    )
    .ok()
}

/// The offset of a zone: `+hhmm`/`-hhmm`, or an obsolete name (RFC 5322 §4.3).
fn zone_offset(zone: &str) -> Option<i16> {
    if let Some(sign) = zone.chars().next().filter(|c| matches!(c, '+' | '-')) {
        let hhmm = digits(&zone[1..], 4).filter(|_| zone.len() == 5)?;
        if hhmm % 100 > 59 {
            return None;
        }
        let minutes = i16::try_from(hhmm / 100 * 60 + hhmm % 100).ok()?;
        return Some(if sign == '-' { -minutes } else { minutes });
    }
    let named = [
        ("UT", 0),
        ("GMT", 0),
        ("EST", -5),
        ("EDT", -4),
        ("CST", -6),
        ("CDT", -5),
        ("MST", -7),
        ("MDT", -6),
        ("PST", -8),
        ("PDT", -7),
    ];
    if let Some((_, hours)) = named.iter().find(|(n, _)| zone.eq_ignore_ascii_case(n)) {
        return Some(hours * 60);
    }
    // Military zones: their meaning was botched in RFC 822, so they say nothing (`-0000`).
    let military = zone.len() == 1
        && zone
            .bytes()
            .all(|b| b.is_ascii_alphabetic() && !b.eq_ignore_ascii_case(&b'j'));
    military.then_some(0)
}

/// The date of a `Date` field, read leniently: an optional day of the week and comma, then
/// `day month year` as [`DateTime::parse`] reads them; the time and the zone are not needed
/// and not checked. What SEARCH SENTON and the like compare (RFC 3501 §6.4.4: the date
/// "disregarding time and timezone").
pub fn date_of(value: &[u8]) -> Option<CivilDate> {
    let text = without_comments(value);
    let text = text.split_once(',').map_or(text.as_str(), |(_, rest)| rest);
    date_words(&mut text.split_ascii_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: u16, m: u8, d: u8) -> CivilDate {
        CivilDate::new(y, m, d).unwrap()
    }

    #[test]
    fn civil_dates_and_day_counts() {
        assert_eq!(date(1970, 1, 1).days_since_epoch(), 0);
        assert_eq!(
            date(2024, 3, 1).days_since_epoch() - date(2024, 2, 29).days_since_epoch(),
            1
        );
        assert_eq!(date(1994, 2, 7).weekday(), 1);
        assert!(CivilDate::new(2023, 2, 29).is_err());
        assert!(CivilDate::new(10_000, 1, 1).is_err());
        for days in [CivilDate::MIN_DAYS, -1, 0, 1, 19_000, CivilDate::MAX_DAYS] {
            let d = CivilDate::from_days_since_epoch(days).unwrap();
            assert_eq!(d.days_since_epoch(), days);
        }
        assert_eq!(
            CivilDate::from_days_since_epoch(CivilDate::MAX_DAYS + 1),
            None
        );
        assert_eq!(CivilDate::from_days_since_epoch(i64::MIN), None);
        assert_eq!(CivilDate::from_days_since_epoch(i64::MAX), None);
    }

    #[test]
    fn date_times_parse_format_and_convert() {
        let dt = DateTime::parse(b"Mon, 7 Feb 1994 21:52:25 -0800 (PST)").unwrap();
        assert_eq!(dt.date(), date(1994, 2, 7));
        assert_eq!(dt.time(), (21, 52, 25));
        assert_eq!(dt.offset_minutes(), -480);
        assert_eq!(dt.unix_seconds(), 760_686_745);
        assert_eq!(dt.to_rfc5322(), "Mon, 7 Feb 1994 21:52:25 -0800");
        assert_eq!(DateTime::parse(dt.to_rfc5322().as_bytes()), Ok(dt));
        assert_eq!(DateTime::from_unix_seconds(760_686_745, -480), Some(dt));
        let obs = DateTime::parse(b"07 feb 94 21 : 52 GMT").unwrap();
        assert_eq!(
            (obs.date(), obs.time(), obs.offset_minutes()),
            (date(1994, 2, 7), (21, 52, 0), 0)
        );
        assert_eq!(
            DateTime::parse(b"1 Jan 105 00:00 EST").unwrap().date(),
            date(2005, 1, 1)
        );
        for bad in [
            &b"not a date"[..],
            b"32 Jan 2020 00:00 +0000",
            b"29 Feb 2023 00:00 +0000",
            b"1 Jan 2020 24:00 +0000",
            b"1 Jan 2020 00:00 +0060",
            b"1 Jan 2020 00:00",
            b"1 Jan 2020 00:00 +0000 extra",
            b"1 Jan 123456789012345678 00:00 +0000",
        ] {
            assert!(
                DateTime::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(DateTime::from_unix_seconds(i64::MAX, 1), None);
        assert_eq!(DateTime::from_unix_seconds(i64::MIN, -1), None);
    }

    #[test]
    fn dates_of_date_fields() {
        assert_eq!(
            date_of(b"Mon, 7 Feb 1994 21:52:25 -0800 (PST)"),
            Some(date(1994, 2, 7))
        );
        assert_eq!(date_of(b"07 feb 94 21:52 GMT"), Some(date(1994, 2, 7)));
        assert_eq!(date_of(b"1 Jan 05 00:00 +0000"), Some(date(2005, 1, 1)));
        assert_eq!(date_of(b"1 Jan 105 00:00 +0000"), Some(date(2005, 1, 1)));
        assert_eq!(date_of(b"Tue, 1 July 2003"), Some(date(2003, 7, 1)));
        assert_eq!(date_of(b"not a date"), None);
        assert_eq!(date_of(b"32 Jan 2020"), None);
        assert_eq!(date_of(b"1 Foo 2020"), None);
        // Values a peer controls stay within the calendar's bounds: no overflow, no wrap.
        assert_eq!(date_of(b"1 Jan 123456789012345678"), None);
        assert_eq!(date_of(b"1 Jan 99999"), None);
        assert_eq!(date_of(b"1 Jan +1994"), None);
        assert_eq!(date_of(b"1 Jan -5"), None);
        assert_eq!(date_of(b"99999999999999999999 Jan 2000"), None);
    }
}
