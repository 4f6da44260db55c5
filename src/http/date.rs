//! HTTP dates, by hand: formatting a time as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`,
//! for `Date` and `Last-Modified`), in the common log format's `[06/Nov/1994:08:49:37 +0000]`,
//! or as the log's RFC 3339 UTC time with milliseconds (`1994-11-06T08:49:37.123Z`), and parsing the three forms RFC 9110 §5.6.7 says a recipient must accept (IMF-fixdate, and
//! the obsolete RFC 850 and asctime forms) for `If-Modified-Since` and `If-Range`.
//!
//! Times are whole seconds since the Unix epoch (`i64`, negative before 1970); calendar
//! arithmetic is Howard Hinnant's `civil_from_days` / `days_from_civil` on the proleptic
//! Gregorian calendar. Formatting writes into fixed arrays and never allocates. A four-digit
//! year bounds what can be written: times before year 0 or after 9999 are clamped to the first
//! or last second that fits.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Bytes in an IMF-fixdate.
pub const IMF_FIXDATE_LEN: usize = 29;
/// Bytes in a common-log-format time, without its brackets: `06/Nov/1994:08:49:37 +0000`.
pub const CLF_LEN: usize = 26;

const DAYS: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];
const LONG_DAYS: [&[u8]; 7] = [
    b"Sunday",
    b"Monday",
    b"Tuesday",
    b"Wednesday",
    b"Thursday",
    b"Friday",
    b"Saturday",
];
const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// The first second an IMF-fixdate can show: 0000-01-01 00:00:00.
const MIN_SECS: i64 = -62_167_219_200;
/// The last: 9999-12-31 23:59:59.
const MAX_SECS: i64 = 253_402_300_799;

/// Whole seconds since the epoch, rounded down (so 1969-12-31 23:59:59.5 is -1), saturating.
pub fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => {
            let d = before.duration();
            let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            if d.subsec_nanos() > 0 {
                secs.saturating_neg().saturating_sub(1)
            } else {
                secs.saturating_neg()
            }
        }
    }
}

/// The `SystemTime` of a whole number of seconds since the epoch.
pub fn from_unix_seconds(secs: i64) -> SystemTime {
    let d = Duration::from_secs(secs.unsigned_abs());
    if secs >= 0 {
        UNIX_EPOCH + d
    } else {
        UNIX_EPOCH - d
    }
}

/// Formats `t` as an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn format(t: SystemTime) -> [u8; IMF_FIXDATE_LEN] {
    format_unix(unix_seconds(t))
}

/// [`format()`] for seconds since the epoch.
pub fn format_unix(secs: i64) -> [u8; IMF_FIXDATE_LEN] {
    let c = Civil::from_unix(secs);
    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    out[0..3].copy_from_slice(DAYS[c.weekday as usize]);
    two_digits(&mut out[5..7], c.day);
    out[8..11].copy_from_slice(MONTHS[c.month as usize - 1]);
    four_digits(&mut out[12..16], c.year as u32);
    two_digits(&mut out[17..19], c.hour);
    two_digits(&mut out[20..22], c.minute);
    two_digits(&mut out[23..25], c.second);
    out
}

/// Formats `t` as the time of a common-log-format line (UTC), without the brackets:
/// `06/Nov/1994:08:49:37 +0000`.
pub fn format_clf(t: SystemTime) -> [u8; CLF_LEN] {
    format_clf_unix(unix_seconds(t))
}

/// [`format_clf`] for seconds since the epoch.
pub fn format_clf_unix(secs: i64) -> [u8; CLF_LEN] {
    let c = Civil::from_unix(secs);
    let mut out = *b"01/Jan/1970:00:00:00 +0000";
    two_digits(&mut out[0..2], c.day);
    out[3..6].copy_from_slice(MONTHS[c.month as usize - 1]);
    four_digits(&mut out[7..11], c.year as u32);
    two_digits(&mut out[12..14], c.hour);
    two_digits(&mut out[15..17], c.minute);
    two_digits(&mut out[18..20], c.second);
    out
}

/// Bytes in an RFC 3339 UTC time with milliseconds: `1994-11-06T08:49:37.123Z`.
pub const RFC3339_MILLIS_LEN: usize = 24;

/// Formats `t` as an RFC 3339 UTC time with milliseconds, rounded down: the time of a log line.
pub fn format_rfc3339_millis(t: SystemTime) -> [u8; RFC3339_MILLIS_LEN] {
    let secs = unix_seconds(t);
    let c = Civil::from_unix(secs);
    // Milliseconds past `secs`, which is rounded down, so this is the same whichever side of
    // the epoch `t` is.
    let millis = match t.duration_since(UNIX_EPOCH) {
        Ok(after) => after.subsec_millis(),
        Err(before) => (1000 - before.duration().subsec_nanos().div_ceil(1_000_000)) % 1000,
    };
    let mut out = *b"1970-01-01T00:00:00.000Z";
    four_digits(&mut out[0..4], c.year as u32);
    two_digits(&mut out[5..7], c.month);
    two_digits(&mut out[8..10], c.day);
    two_digits(&mut out[11..13], c.hour);
    two_digits(&mut out[14..16], c.minute);
    two_digits(&mut out[17..19], c.second);
    out[20] = b'0' + (millis / 100) as u8;
    two_digits(&mut out[21..23], millis % 100);
    out
}

/// Parses an HTTP-date in any of its three forms; `None` if it is none of them or names no
/// real date (31 April, 29 February 2001, 24:00:00). `now` only serves the RFC 850 form's
/// two-digit year, read as the most recent such year not more than 50 years ahead of `now`.
/// Names are case-sensitive, as RFC 9110 says; the weekday is not checked against the date.
pub fn parse(value: &[u8], now: SystemTime) -> Option<SystemTime> {
    parse_unix(value, unix_seconds(now)).map(from_unix_seconds)
}

/// [`parse`] in seconds since the epoch.
pub fn parse_unix(value: &[u8], now_secs: i64) -> Option<i64> {
    let c = match value.len() {
        IMF_FIXDATE_LEN if value.get(3) == Some(&b',') => parse_imf(value)?,
        24 => parse_asctime(value)?,
        _ => parse_rfc850(value, now_secs)?,
    };
    c.to_unix()
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`
fn parse_imf(v: &[u8]) -> Option<Civil> {
    weekday(&v[0..3])?;
    literal(&v[3..5], b", ")?;
    let day = digits(&v[5..7])?;
    literal(&v[7..8], b" ")?;
    let month = month(&v[8..11])?;
    literal(&v[11..12], b" ")?;
    let year = digits(&v[12..16])? as i64;
    literal(&v[16..17], b" ")?;
    let (hour, minute, second) = clock(&v[17..25])?;
    literal(&v[25..29], b" GMT")?;
    Some(Civil::new(year, month, day, hour, minute, second))
}

/// `Sun Nov  6 08:49:37 1994`
fn parse_asctime(v: &[u8]) -> Option<Civil> {
    weekday(&v[0..3])?;
    literal(&v[3..4], b" ")?;
    let month = month(&v[4..7])?;
    literal(&v[7..8], b" ")?;
    let day = match v[8] {
        b' ' => digits(&v[9..10])?,
        _ => digits(&v[8..10])?,
    };
    literal(&v[10..11], b" ")?;
    let (hour, minute, second) = clock(&v[11..19])?;
    literal(&v[19..20], b" ")?;
    let year = digits(&v[20..24])? as i64;
    Some(Civil::new(year, month, day, hour, minute, second))
}

/// `Sunday, 06-Nov-94 08:49:37 GMT`
fn parse_rfc850(v: &[u8], now_secs: i64) -> Option<Civil> {
    let comma = v.iter().position(|&b| b == b',')?;
    if !LONG_DAYS.contains(&&v[..comma]) {
        return None;
    }
    let v = &v[comma..];
    if v.len() != 24 {
        return None;
    }
    literal(&v[0..2], b", ")?;
    let day = digits(&v[2..4])?;
    literal(&v[4..5], b"-")?;
    let month = month(&v[5..8])?;
    literal(&v[8..9], b"-")?;
    let yy = digits(&v[9..11])? as i64;
    literal(&v[11..12], b" ")?;
    let (hour, minute, second) = clock(&v[12..20])?;
    literal(&v[20..24], b" GMT")?;
    // RFC 9110: a two-digit year more than 50 years in the future means the century before.
    let this_year = Civil::from_unix(now_secs).year;
    let mut year = this_year - this_year.rem_euclid(100) + yy;
    if year > this_year + 50 {
        year -= 100;
    }
    Some(Civil::new(year, month, day, hour, minute, second))
}

fn literal(got: &[u8], want: &[u8]) -> Option<()> {
    (got == want).then_some(())
}

fn weekday(name: &[u8]) -> Option<()> {
    DAYS.iter().any(|d| &d[..] == name).then_some(())
}

fn month(name: &[u8]) -> Option<u32> {
    let i = MONTHS.iter().position(|m| &m[..] == name)?;
    Some(i as u32 + 1)
}

/// `HH:MM:SS`
fn clock(v: &[u8]) -> Option<(u32, u32, u32)> {
    literal(&v[2..3], b":")?;
    literal(&v[5..6], b":")?;
    Some((digits(&v[0..2])?, digits(&v[3..5])?, digits(&v[6..8])?))
}

/// A short run of ASCII digits (at most 4, so no overflow).
fn digits(v: &[u8]) -> Option<u32> {
    v.iter().try_fold(0u32, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
    })
}

fn two_digits(out: &mut [u8], n: u32) {
    out[0] = b'0' + (n / 10 % 10) as u8;
    out[1] = b'0' + (n % 10) as u8;
}

fn four_digits(out: &mut [u8], n: u32) {
    two_digits(&mut out[0..2], n / 100);
    two_digits(&mut out[2..4], n % 100);
}

/// A broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// 0 is Sunday.
    weekday: u32,
}

impl Civil {
    fn new(year: i64, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> Civil {
        Civil {
            year,
            month,
            day,
            hour,
            minute,
            second,
            weekday: 0,
        }
    }

    fn from_unix(secs: i64) -> Civil {
        let secs = secs.clamp(MIN_SECS, MAX_SECS);
        let days = secs.div_euclid(86_400);
        let rest = secs.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: rest / 3600,
            minute: rest / 60 % 60,
            second: rest % 60,
            // 1970-01-01 was a Thursday.
            weekday: (days + 4).rem_euclid(7) as u32,
        }
    }

    /// Seconds since the epoch, or `None` for a date or time that does not exist. A leap
    /// second (`:60`) is accepted, as RFC 5322 allows, and counts as the next second.
    fn to_unix(self) -> Option<i64> {
        let valid = (1..=12).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(self.year, self.month)
            && self.hour < 24
            && self.minute < 60
            && self.second <= 60;
        valid.then(|| {
            days_from_civil(self.year, self.month, self.day) * 86_400
                + i64::from(self.hour * 3600 + self.minute * 60 + self.second)
        })
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Year, month (1-12), day (1-31) of a day counted from 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Days from 0000-03-01, so that a leap day ends its year; eras are 400-year cycles.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of (March-based) year
    let mp = (5 * doy + 2) / 153; // March is 0
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days from 1970-01-01 to a date; the inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (seconds since the epoch, IMF-fixdate)
    const KNOWN: &[(i64, &str)] = &[
        (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
        (-1, "Wed, 31 Dec 1969 23:59:59 GMT"),
        (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"), // RFC 9110's example
        (951_782_399, "Mon, 28 Feb 2000 23:59:59 GMT"),
        (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"), // 2000 is a leap year (400)
        (951_868_800, "Wed, 01 Mar 2000 00:00:00 GMT"),
        (1_078_012_800, "Sun, 29 Feb 2004 00:00:00 GMT"),
        (4_107_542_400, "Mon, 01 Mar 2100 00:00:00 GMT"), // 2100 is not (100)
        (4_107_542_399, "Sun, 28 Feb 2100 23:59:59 GMT"),
        (1_709_164_800, "Thu, 29 Feb 2024 00:00:00 GMT"),
        (1_735_689_599, "Tue, 31 Dec 2024 23:59:59 GMT"),
        (2_147_483_647, "Tue, 19 Jan 2038 03:14:07 GMT"), // i32's last second
        (2_147_483_648, "Tue, 19 Jan 2038 03:14:08 GMT"),
        (4_294_967_296, "Sun, 07 Feb 2106 06:28:16 GMT"), // u32's wrap
        (-2_208_988_800, "Mon, 01 Jan 1900 00:00:00 GMT"),
        (-62_135_596_800, "Mon, 01 Jan 0001 00:00:00 GMT"),
        (MIN_SECS, "Sat, 01 Jan 0000 00:00:00 GMT"),
        (MAX_SECS, "Fri, 31 Dec 9999 23:59:59 GMT"),
        (253_402_214_400, "Fri, 31 Dec 9999 00:00:00 GMT"),
    ];

    #[test]
    fn formats_known_times() {
        for &(secs, want) in KNOWN {
            let got = format_unix(secs);
            assert_eq!(std::str::from_utf8(&got).unwrap(), want, "{secs}");
            assert_eq!(
                format(from_unix_seconds(secs)),
                got,
                "{secs} via SystemTime"
            );
        }
    }

    #[test]
    fn parses_what_it_formats() {
        let now = 1_700_000_000;
        for &(secs, text) in KNOWN {
            assert_eq!(parse_unix(text.as_bytes(), now), Some(secs), "{text}");
        }
    }

    #[test]
    fn times_beyond_four_digit_years_are_clamped() {
        let cases: &[(i64, &str)] = &[
            (MAX_SECS + 1, "Fri, 31 Dec 9999 23:59:59 GMT"),
            (i64::MAX, "Fri, 31 Dec 9999 23:59:59 GMT"),
            (MIN_SECS - 1, "Sat, 01 Jan 0000 00:00:00 GMT"),
            (i64::MIN, "Sat, 01 Jan 0000 00:00:00 GMT"),
        ];
        for &(secs, want) in cases {
            assert_eq!(std::str::from_utf8(&format_unix(secs)).unwrap(), want);
        }
    }

    #[test]
    fn formats_log_times_with_milliseconds() {
        let cases: &[(SystemTime, &str)] = &[
            (UNIX_EPOCH, "1970-01-01T00:00:00.000Z"),
            (
                from_unix_seconds(784_111_777) + Duration::from_micros(123_999),
                "1994-11-06T08:49:37.123Z",
            ),
            (
                UNIX_EPOCH - Duration::from_millis(1),
                "1969-12-31T23:59:59.999Z",
            ),
            (
                UNIX_EPOCH - Duration::from_micros(1_500),
                "1969-12-31T23:59:59.998Z",
            ),
            (
                from_unix_seconds(MAX_SECS) + Duration::from_millis(999),
                "9999-12-31T23:59:59.999Z",
            ),
        ];
        for &(t, want) in cases {
            let got = format_rfc3339_millis(t);
            assert_eq!(std::str::from_utf8(&got).unwrap(), want);
        }
    }

    #[test]
    fn seconds_round_down() {
        let cases: &[(SystemTime, i64)] = &[
            (UNIX_EPOCH, 0),
            (UNIX_EPOCH + Duration::from_millis(1_999), 1),
            (UNIX_EPOCH - Duration::from_millis(1), -1),
            (UNIX_EPOCH - Duration::from_millis(1_000), -1),
            (UNIX_EPOCH - Duration::from_millis(1_001), -2),
        ];
        for &(t, want) in cases {
            assert_eq!(unix_seconds(t), want, "{t:?}");
        }
    }

    #[test]
    fn every_day_of_four_centuries_round_trips() {
        // 1600-01-01 .. 2400-12-31: covers both kinds of century year.
        let first = days_from_civil(1600, 1, 1);
        let last = days_from_civil(2400, 12, 31);
        let mut expect = (1600, 1, 1);
        for days in first..=last {
            assert_eq!(civil_from_days(days), expect, "day {days}");
            assert_eq!(days_from_civil(expect.0, expect.1, expect.2), days);
            expect = if expect.2 < days_in_month(expect.0, expect.1) {
                (expect.0, expect.1, expect.2 + 1)
            } else if expect.1 < 12 {
                (expect.0, expect.1 + 1, 1)
            } else {
                (expect.0 + 1, 1, 1)
            };
        }
    }

    #[test]
    fn obsolete_forms_and_malformed_dates() {
        let now = 1_700_000_000; // November 2023
        let cases: &[(&str, Option<i64>)] = &[
            ("Sun, 06 Nov 1994 08:49:37 GMT", Some(784_111_777)),
            ("Sunday, 06-Nov-94 08:49:37 GMT", Some(784_111_777)),
            ("Sun Nov  6 08:49:37 1994", Some(784_111_777)),
            ("Sun Nov 06 08:49:37 1994", Some(784_111_777)),
            // Two-digit years: at most 50 years ahead of 2023, else the century before.
            ("Wednesday, 01-Jan-70 00:00:00 GMT", Some(3_155_760_000)), // 2070
            ("Saturday, 01-Jan-00 00:00:00 GMT", Some(946_684_800)),
            ("Sunday, 01-Jan-73 00:00:00 GMT", Some(3_250_454_400)), // 2073
            ("Tuesday, 01-Jan-74 00:00:00 GMT", Some(126_230_400)),  // 1974
            // Leap second.
            ("Sat, 31 Dec 2016 23:59:60 GMT", Some(1_483_228_800)),
            // Not dates.
            ("", None),
            ("Sun, 06 Nov 1994 08:49:37 UTC", None),
            ("sun, 06 Nov 1994 08:49:37 GMT", None),
            ("Sun, 06 nov 1994 08:49:37 GMT", None),
            ("Sun, 6 Nov 1994 08:49:37 GMT ", None),
            ("Sun, 06 Nov 1994 08:49:37 GMT ", None),
            (" Sun, 06 Nov 1994 08:49:37 GMT", None),
            ("Sun, 06 Nov 94 08:49:37 GMT", None),
            ("Sun, 31 Apr 1994 08:49:37 GMT", None),
            ("Thu, 29 Feb 2001 00:00:00 GMT", None),
            ("Mon, 29 Feb 2100 00:00:00 GMT", None),
            ("Sun, 00 Nov 1994 08:49:37 GMT", None),
            ("Sun, 06 Nov 1994 24:00:00 GMT", None),
            ("Sun, 06 Nov 1994 08:60:00 GMT", None),
            ("Sun, 06 Nov 1994 08:49:61 GMT", None),
            ("Sun, 06 Nov 1994 08-49-37 GMT", None),
            ("Sun, 06 Nov 1994 +8:49:37 GMT", None),
            ("Sun, 06 Nov 1994 08:49:37 GMTX", None),
            ("Sun, 06 Nov 199X 08:49:37 GMT", None),
            ("Sun, 06 Nov 1994 08:49:3", None),
            ("Sun, 06 Nov 1994 08:49:37 GM\u{e9}", None),
            ("Sund, 06-Nov-94 08:49:37 GMT", None),
            ("Sunday 06-Nov-94 08:49:37 GMT", None),
            ("Sunday, 06-Nov-1994 08:49:37 GMT", None),
            ("Sunday, 06 Nov 94 08:49:37 GMT", None),
            ("Sun Nov  6 08:49:37 94", None),
            ("Sun Nov 6 08:49:37 1994", None),
            ("Sun Nov  6 08:49:37  1994", None),
            ("1994-11-06T08:49:37Z", None),
            ("784111777", None),
            (",", None),
            ("Sunday,", None),
        ];
        for &(text, want) in cases {
            assert_eq!(parse_unix(text.as_bytes(), now), want, "{text:?}");
        }
    }

    #[test]
    fn common_log_format_time() {
        let cases: &[(i64, &str)] = &[
            (0, "01/Jan/1970:00:00:00 +0000"),
            (784_111_777, "06/Nov/1994:08:49:37 +0000"),
            (951_782_400, "29/Feb/2000:00:00:00 +0000"),
        ];
        for &(secs, want) in cases {
            let got = format_clf(from_unix_seconds(secs));
            assert_eq!(std::str::from_utf8(&got).unwrap(), want);
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut rng = crate::http::tests::XorShift::new(0x5eed_da7e);
        let alphabet = b"SunMoTueWdhFrSatJanFebMrApyJlgOctNvDc, -:0123456789GMT\x00\xff";
        let mut buf = [0u8; 40];
        for _ in 0..20_000 {
            let len = rng.below(buf.len() as u64 + 1) as usize;
            for b in &mut buf[..len] {
                *b = alphabet[rng.below(alphabet.len() as u64) as usize];
            }
            if let Some(secs) = parse_unix(&buf[..len], rng.next() as i64) {
                if (MIN_SECS..=MAX_SECS).contains(&secs) {
                    assert_eq!(parse_unix(&format_unix(secs), 0), Some(secs));
                }
            }
        }
        for _ in 0..2_000 {
            let secs = rng.next() as i64;
            let text = format_unix(secs);
            let clamped = secs.clamp(MIN_SECS, MAX_SECS);
            assert_eq!(parse_unix(&text, 0), Some(clamped), "{secs}");
        }
    }
}
