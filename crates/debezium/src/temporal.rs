//! Parsing PostgreSQL's ISO text output of dates, times and timestamps (the replication connection
//! runs with `DateStyle=ISO`, `TimeZone=UTC`, `IntervalStyle=iso_8601`) and spelling them as
//! Debezium does. Proleptic Gregorian arithmetic, BC years and years past 9999 included.

/// Days since 1970-01-01 of a proleptic Gregorian date (`y` astronomical: 1 BC = 0).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Inverse of [`days_from_civil`].
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn num(s: &str) -> Result<i64, String> {
    s.parse::<i64>().map_err(|_| format!("{s:?} is not a number"))
}

/// Parse `YYYY-MM-DD[ BC]` to (astronomical year, month, day).
pub fn parse_date(s: &str) -> Result<(i64, u32, u32), String> {
    let (body, bc) = match s.strip_suffix(" BC") {
        Some(b) => (b, true),
        None => (s, false),
    };
    let mut it = body.rsplitn(3, '-');
    let d = num(it.next().ok_or("missing day")?)?;
    let m = num(it.next().ok_or("missing month")?)?;
    let y = num(it.next().ok_or("missing year")?)?;
    let y = if bc { 1 - y } else { y };
    Ok((y, m as u32, d as u32))
}

/// Parse `HH:MM:SS[.ffffff]` to microseconds of day (24:00:00 allowed).
pub fn parse_time_us(s: &str) -> Result<i64, String> {
    let mut it = s.splitn(3, ':');
    let h = num(it.next().ok_or("missing hour")?)?;
    let m = num(it.next().ok_or("missing minute")?)?;
    let sec = it.next().ok_or("missing second")?;
    let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
    let mut us = num(whole)? * 1_000_000;
    if !frac.is_empty() {
        let mut f: String = frac.chars().take(6).collect();
        while f.len() < 6 {
            f.push('0');
        }
        us += num(&f)?;
    }
    Ok((h * 3600 + m * 60) * 1_000_000 + us)
}

/// Split a trailing UTC offset (`+02`, `-05:30`, `+05:30:15`) off a timestamp text.
pub fn split_offset(s: &str) -> Result<(&str, i64), String> {
    // The date's own dashes end before position 8 (`YYYY-MM-`), so an offset sign comes later.
    split_offset_after(s, 8)
}

/// Split the offset off a `timetz` text (`13:51:30.123+02`).
pub fn split_offset_time(s: &str) -> Result<(&str, i64), String> {
    split_offset_after(s, 5)
}

fn split_offset_after(s: &str, min: usize) -> Result<(&str, i64), String> {
    let pos = s.rfind(['+', '-']).filter(|&p| p >= min).ok_or("missing UTC offset")?;
    let (body, off) = s.split_at(pos);
    let sign = if off.starts_with('-') { -1 } else { 1 };
    let mut secs = 0;
    for (i, p) in off[1..].split(':').enumerate() {
        secs += num(p)? * [3600, 60, 1].get(i).copied().unwrap_or(0);
    }
    Ok((body, sign * secs))
}

/// `HH:MM:SS[.fraction]` with Java's ISO_LOCAL_TIME trimming (no trailing zeros).
pub fn iso_time(us_of_day: i64) -> String {
    let secs = us_of_day / 1_000_000;
    let frac = us_of_day % 1_000_000;
    let mut s = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    if frac != 0 {
        let f = format!("{frac:06}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s
}

/// ISO local date.
pub fn iso_date(y: i64, m: u32, d: u32) -> String {
    format!("{}-{:02}-{:02}", crate::instants::iso_year(y), m, d)
}

/// Interval parts parsed from `IntervalStyle=iso_8601` text (`P1Y2M3DT4H5M6.78S`, `PT0S`) or the
/// default `postgres` style (`1 year 2 mons 3 days 04:05:06.78`).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct IntervalParts {
    /// Years.
    pub years: i64,
    /// Months.
    pub months: i64,
    /// Days.
    pub days: i64,
    /// Hours.
    pub hours: i64,
    /// Minutes.
    pub minutes: i64,
    /// Seconds with fraction, in microseconds.
    pub micros: i64,
}

fn parse_seconds_us(s: &str) -> Result<i64, String> {
    let neg = s.starts_with('-');
    let t = s.trim_start_matches(['-', '+']);
    let (w, f) = t.split_once('.').unwrap_or((t, ""));
    let mut f: String = f.chars().take(6).collect();
    while f.len() < 6 {
        f.push('0');
    }
    let v = num(if w.is_empty() { "0" } else { w })? * 1_000_000 + num(&f)?;
    Ok(if neg { -v } else { v })
}

/// Parse an interval.
pub fn parse_interval(s: &str) -> Result<IntervalParts, String> {
    let mut p = IntervalParts::default();
    if let Some(rest) = s.strip_prefix('P') {
        let mut in_time = false;
        let mut cur = String::new();
        for c in rest.chars() {
            match c {
                'T' => in_time = true,
                'Y' | 'M' | 'D' | 'H' | 'S' | 'W' => {
                    match (c, in_time) {
                        ('Y', false) => p.years = num(&cur)?,
                        ('M', false) => p.months = num(&cur)?,
                        ('W', false) => p.days += num(&cur)? * 7,
                        ('D', false) => p.days = num(&cur)?,
                        ('H', true) => p.hours = num(&cur)?,
                        ('M', true) => p.minutes = num(&cur)?,
                        ('S', true) => p.micros = parse_seconds_us(&cur)?,
                        _ => return Err(format!("unexpected {c} in interval")),
                    }
                    cur.clear();
                }
                _ => cur.push(c),
            }
        }
        return Ok(p);
    }
    // postgres style
    let toks: Vec<&str> = s.split_whitespace().collect();
    let mut i = 0;
    let ago = toks.last() == Some(&"ago");
    while i < toks.len() {
        let t = toks[i];
        if t == "ago" {
            i += 1;
            continue;
        }
        if t.contains(':') {
            let neg = t.starts_with('-');
            let body = t.trim_start_matches(['-', '+']);
            let mut it = body.splitn(3, ':');
            let h = num(it.next().unwrap_or("0"))?;
            let m = num(it.next().unwrap_or("0"))?;
            let sec = parse_seconds_us(it.next().unwrap_or("0"))?;
            let sign = if neg { -1 } else { 1 };
            p.hours = sign * h;
            p.minutes = sign * m;
            p.micros = sign * sec;
            i += 1;
            continue;
        }
        let v = num(t)?;
        let unit = toks.get(i + 1).copied().unwrap_or("");
        match unit.trim_end_matches('s') {
            "year" => p.years = v,
            "mon" => p.months = v,
            "day" => p.days = v,
            other => return Err(format!("unknown interval unit {other:?}")),
        }
        i += 2;
    }
    if ago {
        p = IntervalParts {
            years: -p.years,
            months: -p.months,
            days: -p.days,
            hours: -p.hours,
            minutes: -p.minutes,
            micros: -p.micros,
        };
    }
    Ok(p)
}

impl IntervalParts {
    /// Debezium `MicroDuration`: months count 365.25/12 days, computed in doubles like Java.
    pub fn approx_micros(&self) -> i64 {
        let days_per_month = 365.25 / 12.0;
        let days = ((self.years * 12 + self.months) as f64) * days_per_month + self.days as f64;
        let secs = ((days * 24.0 + self.hours as f64) * 60.0 + self.minutes as f64) * 60.0
            + self.micros as f64 / 1_000_000.0;
        (secs * 1_000_000.0) as i64
    }

    /// Debezium `Interval` string: always every field, `P<y>Y<m>M<d>DT<h>H<m>M<s>S`.
    pub fn iso_string(&self) -> String {
        let neg = self.micros < 0;
        let abs = self.micros.abs();
        let whole = abs / 1_000_000;
        let frac = abs % 1_000_000;
        let mut secs = format!("{}{}", if neg { "-" } else { "" }, whole);
        if frac != 0 {
            secs.push('.');
            secs.push_str(format!("{frac:06}").trim_end_matches('0'));
        }
        format!("P{}Y{}M{}DT{}H{}M{}S", self.years, self.months, self.days, self.hours, self.minutes, secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(days_from_civil(2024, 1, 15), 19737);
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(19737), (2024, 1, 15));
        let (y, m, d) = parse_date("0044-03-15 BC").unwrap();
        assert_eq!((y, m, d), (-43, 3, 15));
        for z in [-800_000i64, -1, 0, 1, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }

    #[test]
    fn times_and_timestamps() {
        use crate::instants::{parse_timestamp, parse_timestamptz};
        assert_eq!(parse_time_us("13:51:30.123").unwrap(), 49_890_123_000);
        assert_eq!(parse_time_us("24:00:00").unwrap(), 86_400_000_000);
        assert_eq!(
            parse_timestamp("2024-01-15 10:30:00.123456").unwrap().debezium_micros(),
            1_705_314_600_123_456
        );
        assert_eq!(
            parse_timestamptz("2024-01-15 10:30:00.123456+02").unwrap().debezium_micros(),
            1_705_307_400_123_456
        );
        let t = parse_timestamp("2024-01-15 10:30:00.123456").unwrap();
        assert_eq!(t.iso_fixed(6), "2024-01-15T10:30:00.123456Z");
        let t = parse_timestamp("2024-01-15 10:30:00").unwrap();
        assert_eq!(t.iso_fixed(6), "2024-01-15T10:30:00.000000Z");
        assert_eq!(t.iso_fixed(0), "2024-01-15T10:30:00Z");
        let far = parse_timestamptz("21016-11-04 06:51:30.123456+00").unwrap();
        assert_eq!(far.iso_fixed(6), "+21016-11-04T06:51:30.123456Z");
        assert_eq!(iso_time(42_662_123_789), "11:51:02.123789");
        assert_eq!(iso_time(42_662_000_000), "11:51:02");
    }

    #[test]
    fn intervals() {
        let p = parse_interval("P1Y2M3DT4H5M6.78S").unwrap();
        assert_eq!(p.approx_micros(), 37_091_106_780_000);
        assert_eq!(p.iso_string(), "P1Y2M3DT4H5M6.78S");
        assert_eq!(parse_interval("P1M").unwrap().approx_micros(), 2_629_800_000_000);
        assert_eq!(parse_interval("P1D").unwrap().iso_string(), "P0Y0M1DT0H0M0S");
        assert_eq!(parse_interval("1 year 2 mons 3 days 04:05:06.78").unwrap(), p);
        assert_eq!(parse_interval("-00:00:01.5").unwrap().micros, -1_500_000);
    }
}
