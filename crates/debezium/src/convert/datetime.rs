//! Scalar date, time, timestamp and interval columns under every `time.precision.mode` and
//! `interval.handling.mode`: the glue between a converter and the parsing and arithmetic in
//! [`crate::temporal`] and [`crate::instants`].
//!
//! Array elements of these types take another path ([`crate::array_temporal`]), because Debezium reads
//! them through `java.sql` types; `timestamp` scalars share its [`write_timestamp`] for the modes.
//!
//! Invariants: `±infinity` dates and timestamps become PostgreSQL JDBC's sentinels
//! ([`crate::instants`]), never an overflow; a value Debezium's own decoder stops on (an offset with
//! seconds, interval hours beyond an `int`) is [`ConvError::Invalid`] with the reason, so tidemark
//! stops where the connector does.

use super::ConvError;
use crate::array_temporal::write_timestamp;
use crate::config::{IntervalMode, TimePrecisionMode};
use crate::instants;
use crate::json::{write_int, write_str};
use crate::temporal;

/// `date` under `mode`.
pub(super) fn write_date(out: &mut Vec<u8>, mode: TimePrecisionMode, text: &str) -> Result<(), ConvError> {
    let (y, m, d) = match (text, mode) {
        ("infinity", TimePrecisionMode::IsoString) => {
            write_str(out, instants::DATE_POS_INFINITY_ISO);
            return Ok(());
        }
        ("-infinity", TimePrecisionMode::IsoString) => {
            write_str(out, instants::DATE_NEG_INFINITY_ISO);
            return Ok(());
        }
        ("infinity", _) => {
            write_int(out, instants::DATE_POS_INFINITY_DAYS);
            return Ok(());
        }
        ("-infinity", _) => {
            write_int(out, instants::DATE_NEG_INFINITY_DAYS);
            return Ok(());
        }
        _ => temporal::parse_date(text)?,
    };
    match mode {
        TimePrecisionMode::IsoString => write_str(out, &format!("{}Z", temporal::iso_date(y, m, d))),
        _ => write_int(out, temporal::days_from_civil(y, m, d)),
    }
    Ok(())
}

/// `time(precision)` under `mode`.
pub(super) fn write_time(
    out: &mut Vec<u8>,
    precision: u32,
    mode: TimePrecisionMode,
    text: &str,
) -> Result<(), ConvError> {
    let us = temporal::parse_time_us(text)?;
    match mode {
        TimePrecisionMode::Adaptive if precision <= 3 => write_int(out, us / 1000),
        TimePrecisionMode::Connect => write_int(out, us / 1000),
        TimePrecisionMode::Nanoseconds => write_int(out, us * 1000),
        TimePrecisionMode::IsoString => {
            // java.time.LocalTime: 24:00 wraps to midnight, fewest fraction digits.
            write_str(out, &format!("{}Z", temporal::iso_time(us % 86_400_000_000)))
        }
        _ => write_int(out, us),
    }
    Ok(())
}

/// `timetz`: normalized to UTC, as `ZonedTime`.
pub(super) fn write_timetz(out: &mut Vec<u8>, text: &str) -> Result<(), ConvError> {
    let (t, off) = temporal::split_offset_time(text)?;
    if off % 60 != 0 {
        // java.time's OffsetTime parser stops at the seconds of the offset.
        return Err(ConvError::Invalid(
            "a UTC offset with seconds cannot be read by Debezium (it stops on this value too)".into(),
        ));
    }
    let us = temporal::parse_time_us(t)? - off * 1_000_000;
    let us = us.rem_euclid(86_400_000_000);
    let mut s = temporal::iso_time(us);
    s.push('Z');
    write_str(out, &s);
    Ok(())
}

/// `timestamp(precision)` under `mode`.
pub(super) fn write_timestamp_text(
    out: &mut Vec<u8>,
    precision: u32,
    mode: TimePrecisionMode,
    text: &str,
) -> Result<(), ConvError> {
    let t = match text {
        "infinity" => instants::Instant::from_micros(instants::TS_POS_INFINITY_US),
        "-infinity" => instants::Instant::from_micros(instants::TS_NEG_INFINITY_US),
        _ => instants::parse_timestamp(text)?,
    };
    write_timestamp(out, t, precision, mode, text)?;
    Ok(())
}

/// `timestamptz(precision)` as `ZonedTimestamp` (ISO, UTC, `precision` fraction digits).
pub(super) fn write_timestamptz(out: &mut Vec<u8>, precision: u32, text: &str) -> Result<(), ConvError> {
    match text {
        "infinity" | "-infinity" => write_str(out, text),
        _ => write_str(out, &instants::parse_timestamptz(text)?.iso_fixed(precision as usize)),
    }
    Ok(())
}

/// `interval` under `mode`.
pub(super) fn write_interval(out: &mut Vec<u8>, mode: IntervalMode, text: &str) -> Result<(), ConvError> {
    let p = temporal::parse_interval(text)?;
    if i32::try_from(p.hours).is_err() {
        // PostgreSQL JDBC's PGInterval keeps hours in an int.
        return Err(ConvError::Invalid(
            "interval hours beyond 2147483647 cannot be read by Debezium (it stops on this value too)".into(),
        ));
    }
    match mode {
        IntervalMode::Numeric => write_int(out, p.approx_micros()),
        IntervalMode::String => write_str(out, &p.iso_string()),
    }
    Ok(())
}
