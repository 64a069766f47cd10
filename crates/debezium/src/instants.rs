//! Timestamps as `(seconds, microseconds)` since the epoch, so nothing overflows up to PostgreSQL's
//! last year (294276 AD), and the arithmetic Debezium 3.6 applies to them, verified against the real
//! connector (`crates/tidemark/tests/golden/fixtures/edge_*.jsonl`):
//!
//! - `MicroTimestamp` is `TimeUnit.SECONDS.toMicros(s) + micros`: the multiplication saturates at
//!   `Long.MAX_VALUE` and the addition then wraps, so past 294247-01-10T04:00:54.775807 the connector
//!   writes large negative numbers. We reproduce that (it is what consumers of Debezium see); we never
//!   wrap anywhere else (milliseconds, ISO strings and `ZonedTimestamp` are exact).
//! - `infinity`/`-infinity` are PostgreSQL JDBC's sentinels (µs 9223372036825200000 and
//!   -9223372036832400000 for timestamps, fixed days and ISO dates for `date`).
//! - Array elements go through `java.sql.Date`/`Timestamp`: dates before the Gregorian cutover are read
//!   in the Julian calendar and BC years lose their era; the special values differ from the scalars.
//!
//! Invariant: every function is total for the text PostgreSQL prints (`DateStyle=ISO`, UTC).

use crate::temporal::{civil_from_days, days_from_civil, parse_date, parse_time_us, split_offset};

/// JDBC's `DATE_POSITIVE_INFINITY` / `DATE_NEGATIVE_INFINITY` read as microseconds.
pub const TS_POS_INFINITY_US: i64 = 9_223_372_036_825_200_000;
/// See [`TS_POS_INFINITY_US`].
pub const TS_NEG_INFINITY_US: i64 = -9_223_372_036_832_400_000;

/// Epoch days Debezium writes for `date` `infinity` / `-infinity` (every integer mode).
pub const DATE_POS_INFINITY_DAYS: i64 = -2_147_472_692;
/// See [`DATE_POS_INFINITY_DAYS`].
pub const DATE_NEG_INFINITY_DAYS: i64 = -2_147_472_691;
/// `io.debezium.time.IsoDate` of `date` `infinity` / `-infinity`.
pub const DATE_POS_INFINITY_ISO: &str = "-5877611-06-21Z";
/// See [`DATE_POS_INFINITY_ISO`].
pub const DATE_NEG_INFINITY_ISO: &str = "-5877611-06-22Z";
/// Epoch days of `infinity` / `-infinity` inside a `date[]`.
pub const ARRAY_DATE_POS_INFINITY_DAYS: i64 = -622_191_234;
/// See [`ARRAY_DATE_POS_INFINITY_DAYS`].
pub const ARRAY_DATE_NEG_INFINITY_DAYS: i64 = -625_821_272;
/// ISO dates of `infinity` / `-infinity` inside a `date[]`.
pub const ARRAY_DATE_POS_INFINITY_ISO: &str = "+292278994-08-16Z";
/// See [`ARRAY_DATE_POS_INFINITY_ISO`].
pub const ARRAY_DATE_NEG_INFINITY_ISO: &str = "+292269055-12-02Z";
/// `-infinity` inside a `timestamptz[]` (`infinity` stays the word).
pub const ARRAY_TSTZ_NEG_INFINITY: &str = "+292269055-12-02T23:00:00.000000Z";

/// A point in time: whole seconds (floor) and the microseconds within that second (0..1e6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instant {
    /// Seconds since the epoch.
    pub secs: i64,
    /// Microseconds within the second.
    pub us: u32,
}

impl Instant {
    /// From microseconds since the epoch.
    pub fn from_micros(us: i64) -> Instant {
        Instant { secs: us.div_euclid(1_000_000), us: us.rem_euclid(1_000_000) as u32 }
    }

    fn from_days_and_time(days: i64, time_us: i64) -> Instant {
        let secs = days * 86_400 + time_us.div_euclid(1_000_000);
        Instant { secs, us: time_us.rem_euclid(1_000_000) as u32 }
    }

    /// Debezium's `MicroTimestamp`: saturating seconds-to-micros, then a wrapping add.
    pub fn debezium_micros(&self) -> i64 {
        self.secs.saturating_mul(1_000_000).wrapping_add(self.us as i64)
    }

    /// Milliseconds since the epoch (floor), exact.
    pub fn millis(&self) -> i64 {
        self.secs * 1000 + (self.us / 1000) as i64
    }

    /// Nanoseconds since the epoch, when they fit in an i64.
    pub fn nanos(&self) -> Option<i64> {
        i64::try_from(self.secs as i128 * 1_000_000_000 + self.us as i128 * 1000).ok()
    }

    /// `YYYY-MM-DDTHH:MM:SS` plus the fraction `frac` renders, plus `Z`.
    fn iso_with(&self, frac: impl FnOnce(u32) -> String) -> String {
        let (y, m, d) = civil_from_days(self.secs.div_euclid(86_400));
        let s = self.secs.rem_euclid(86_400);
        format!(
            "{}-{:02}-{:02}T{:02}:{:02}:{:02}{}Z",
            iso_year(y),
            m,
            d,
            s / 3600,
            s / 60 % 60,
            s % 60,
            frac(self.us)
        )
    }

    /// ISO instant with exactly `digits` fraction digits (0 = none); `ZonedTimestamp`.
    pub fn iso_fixed(&self, digits: usize) -> String {
        self.iso_with(|us| {
            if digits == 0 {
                return String::new();
            }
            let f = format!("{us:06}");
            let mut s = format!(".{}", &f[..digits.min(6)]);
            s.extend(std::iter::repeat_n('0', digits.saturating_sub(6)));
            s
        })
    }

    /// ISO instant with the fewest fraction digits (Java's `ISO_LOCAL_DATE_TIME`); `IsoTimestamp`.
    pub fn iso_trimmed(&self) -> String {
        self.iso_with(|us| {
            if us == 0 {
                String::new()
            } else {
                format!(".{}", format!("{us:06}").trim_end_matches('0'))
            }
        })
    }
}

/// Java ISO year: 4 digits, sign when negative or past 9999.
pub fn iso_year(y: i64) -> String {
    if y > 9999 {
        format!("+{y}")
    } else if y < 0 {
        format!("-{:04}", -y)
    } else {
        format!("{y:04}")
    }
}

/// `(astronomical year, month, day, BC written)` and the time text of a timestamp text.
fn split_timestamp(s: &str) -> Result<((i64, u32, u32), &str), String> {
    let (body, bc) = match s.strip_suffix(" BC") {
        Some(b) => (b, true),
        None => (s, false),
    };
    let (date, time) = body.split_once(' ').ok_or("missing time part")?;
    let (y, m, d) = parse_date(date)?;
    Ok(((if bc { 1 - y } else { y }, m, d), time))
}

/// A `timestamp` text (wall clock read as UTC).
pub fn parse_timestamp(s: &str) -> Result<Instant, String> {
    let ((y, m, d), time) = split_timestamp(s)?;
    Ok(Instant::from_days_and_time(days_from_civil(y, m, d), parse_time_us(time)?))
}

/// A `timestamptz` text (`... +00`, possibly `BC` after the offset).
pub fn parse_timestamptz(s: &str) -> Result<Instant, String> {
    let (body, bc) = match s.strip_suffix(" BC") {
        Some(b) => (b, true),
        None => (s, false),
    };
    let (ts, off) = split_offset(body)?;
    let i = if bc { parse_timestamp(&format!("{ts} BC"))? } else { parse_timestamp(ts)? };
    let us = i.us as i64 - off * 1_000_000;
    Ok(Instant { secs: i.secs + us.div_euclid(1_000_000), us: us.rem_euclid(1_000_000) as u32 })
}

/// Days since the epoch of a Julian-calendar date (astronomical year).
fn julian_days(y: i64, m: u32, d: u32) -> i64 {
    let a = (14 - m as i64) / 12;
    let yy = y + 4800 - a;
    let mm = m as i64 + 12 * a - 3;
    let jdn = d as i64 + (153 * mm + 2) / 5 + 365 * yy + yy.div_euclid(4) - 32083;
    jdn - 2_440_588
}

/// Before 1582-10-15 `java.sql` types count days in the Julian calendar.
fn before_cutover(y: i64, m: u32, d: u32) -> bool {
    (y, m, d) < (1582, 10, 15)
}

/// A `timestamp[]` element as `java.sql.Timestamp` reads it (Julian before the cutover).
pub fn parse_array_timestamp(s: &str) -> Result<Instant, String> {
    let ((y, m, d), time) = split_timestamp(s)?;
    let days = if before_cutover(y, m, d) { julian_days(y, m, d) } else { days_from_civil(y, m, d) };
    Ok(Instant::from_days_and_time(days, parse_time_us(time)?))
}

/// A `date[]` element's `(year of era, month, day)`: `java.sql.Date` drops the BC era.
pub fn parse_array_date(s: &str) -> Result<(i64, u32, u32), String> {
    let (y, m, d) = parse_date(s)?;
    Ok((if y <= 0 { 1 - y } else { y }, m, d))
}

/// A `timestamptz[]` element as Debezium prints it: the fields PostgreSQL printed (UTC), the BC era
/// dropped, `digits` fraction digits.
pub fn array_timestamptz(s: &str, digits: usize) -> Result<String, String> {
    let i = parse_timestamptz(s)?;
    let iso = i.iso_fixed(digits);
    if !s.ends_with(" BC") {
        return Ok(iso);
    }
    // Same text with the year of era: "-4712-01-01T..." becomes "4713-01-01T...".
    let (y, _, _) = civil_from_days(i.secs.div_euclid(86_400));
    let rest = &iso[iso_year(y).len()..];
    Ok(format!("{}{rest}", iso_year(1 - y)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_past_294247_does_not_wrap() {
        // Values written by the real connector for these texts (edge_default / edge_time_iso /
        // edge_time_connect fixtures).
        let t = parse_timestamp("294276-12-31 23:59:59.999999").unwrap();
        assert_eq!(t.iso_trimmed(), "+294276-12-31T23:59:59.999999Z");
        assert_eq!(t.millis(), 9_224_318_015_999_999);
        // Debezium's own MicroTimestamp arithmetic (saturate, then wrap) is reproduced, not ours.
        assert_eq!(t.debezium_micros(), -9_223_372_036_853_775_810);
        let z = parse_timestamptz("294276-12-31 23:59:59.999999+00").unwrap();
        assert_eq!(z.iso_fixed(6), "+294276-12-31T23:59:59.999999Z");
        let last = parse_timestamp("294247-01-10 04:00:54.775807").unwrap();
        assert_eq!(last.debezium_micros(), i64::MAX);
        assert_eq!(
            parse_timestamp("294248-06-01 12:34:56.123456").unwrap().debezium_micros(),
            -9_223_372_036_854_652_353
        );
        assert_eq!(Instant::from_micros(TS_POS_INFINITY_US).iso_trimmed(), "+294247-01-10T04:00:25.2Z");
        assert_eq!(Instant::from_micros(TS_NEG_INFINITY_US).iso_trimmed(), "-290308-12-21T19:59:27.6Z");
        assert_eq!(Instant::from_micros(TS_NEG_INFINITY_US).millis(), -9_223_372_036_832_400);
    }

    #[test]
    fn bc_and_array_calendars() {
        let t = parse_timestamp("4713-01-01 00:00:00 BC").unwrap();
        assert_eq!(t.debezium_micros(), -210_863_520_000_000_000);
        assert_eq!(
            parse_array_timestamp("4713-01-01 00:00:00 BC").unwrap().debezium_micros(),
            -210_866_803_200_000_000
        );
        assert_eq!(
            parse_array_timestamp("0001-01-01 00:00:00 BC").unwrap().iso_trimmed(),
            "-0001-12-30T00:00:00Z"
        );
        assert_eq!(parse_array_date("4713-01-01 BC").unwrap(), (4713, 1, 1));
        assert_eq!(array_timestamptz("4713-01-01 00:00:00+00 BC", 6).unwrap(), "4713-01-01T00:00:00.000000Z");
        assert_eq!(parse_timestamp("0001-12-31 23:59:59.999999 BC").unwrap().millis(), -62_135_596_800_001);
    }
}
