//! Internal dates (RFC 3501 §2.3.3) as IMAP writes them (`date-time`) and as the store keeps
//! them (an instant and the zone it was given in), on the bounded calendar of
//! `mailpush-message`.

use std::time::SystemTime;

use mailpush_imap::DateTime as ImapDateTime;
use mailpush_message::{CivilDate, DateTime};

use crate::store::InternalDate;

/// Minutes east of UTC of an IMAP zone written as signed `hhmm` (`-0730` is -450).
fn zone_minutes(hhmm: i16) -> i16 {
    hhmm.signum() * ((hhmm.abs() / 100) * 60 + hhmm.abs() % 100)
}

/// An IMAP zone as signed `hhmm` from minutes east of UTC.
fn zone_hhmm(minutes: i16) -> i16 {
    minutes.signum() * ((minutes.abs() / 60) * 100 + minutes.abs() % 60)
}

/// The `date-time` of APPEND as the store keeps it; `None` only for a value the codec's type
/// cannot hold (its year, day and zone are checked when it is built).
pub fn internal_date_from(dt: &ImapDateTime) -> Option<InternalDate> {
    let date = CivilDate::new(dt.year(), dt.month(), dt.day()).ok()?;
    let offset = zone_minutes(dt.zone());
    let dt = DateTime::new(date, dt.time(), offset).ok()?;
    Some(InternalDate {
        unix_seconds: dt.unix_seconds(),
        utc_offset_minutes: offset,
    })
}

/// The store's internal date as `INTERNALDATE`, in the zone it was given in. `None` for an
/// instant outside years 0..=9999 there, or a zone `±hhmm` cannot write.
pub fn date_time_from(d: InternalDate) -> Option<ImapDateTime> {
    let dt = DateTime::from_unix_seconds(d.unix_seconds, d.utc_offset_minutes)?;
    let date = dt.date();
    let (h, m, s) = dt.time();
    ImapDateTime::new(
        date.year(),
        date.month(),
        date.day(),
        h,
        m,
        s,
        zone_hhmm(d.utc_offset_minutes),
    )
    .ok()
}

/// The day (since 1970-01-01) of an internal date in its own zone: RFC 3501 §6.4.4 compares
/// dates "disregarding time and timezone". `None` when the instant and its zone do not make a
/// day (an instant at the edge of `i64`).
pub fn local_day(d: InternalDate) -> Option<i64> {
    let local = d
        .unix_seconds
        .checked_add(i64::from(d.utc_offset_minutes) * 60)?;
    Some(local.div_euclid(86_400))
}

/// An internal date for now, in UTC.
pub fn now(wall: SystemTime) -> InternalDate {
    InternalDate::utc(
        wall.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_through_the_store_form() {
        // RFC 3501 §8's APPEND date.
        let dt = ImapDateTime::new(1994, 2, 7, 21, 52, 25, -800).unwrap();
        let internal = internal_date_from(&dt).unwrap();
        // 1994-02-08T05:52:25Z.
        assert_eq!(internal.unix_seconds, 760_686_745);
        assert_eq!(internal.utc_offset_minutes, -480);
        assert_eq!(date_time_from(internal), Some(dt));
        let feb29 = ImapDateTime::new(2024, 2, 29, 0, 0, 0, 0).unwrap();
        let next_day = ImapDateTime::new(2024, 3, 1, 0, 0, 0, 0).unwrap();
        assert_eq!(
            internal_date_from(&next_day).unwrap().unix_seconds
                - internal_date_from(&feb29).unwrap().unix_seconds,
            86_400
        );
        let half = ImapDateTime::new(2024, 1, 1, 0, 0, 0, -930).unwrap();
        assert_eq!(
            date_time_from(internal_date_from(&half).unwrap()),
            Some(half)
        );
    }

    /// Instants at the edges of `i64` (a store altered by hand, a backend with its own
    /// idea of time) give no date and no day; they used to overflow (a panic in debug
    /// builds, a wrapped date in release).
    #[test]
    fn extreme_instants_give_no_date() {
        for unix_seconds in [i64::MAX, i64::MIN, i64::MAX - 60, 400_000_000_000] {
            for utc_offset_minutes in [-5999, 0, 5999, i16::MAX, i16::MIN] {
                let d = InternalDate {
                    unix_seconds,
                    utc_offset_minutes,
                };
                assert_eq!(date_time_from(d), None, "{d:?}");
            }
        }
        let edge = InternalDate {
            unix_seconds: i64::MAX,
            utc_offset_minutes: 1,
        };
        assert_eq!(local_day(edge), None);
        assert_eq!(local_day(InternalDate::utc(86_400 * 3 + 5)), Some(3));
        // A zone ±hhmm cannot write.
        let odd = InternalDate {
            unix_seconds: 0,
            utc_offset_minutes: 6000,
        };
        assert_eq!(date_time_from(odd), None);
    }
}
