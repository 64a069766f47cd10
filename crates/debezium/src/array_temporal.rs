//! How Debezium writes timestamps (every `time.precision.mode`) and the temporal elements of arrays.
//!
//! Why a separate path for arrays: Debezium reads array elements through PostgreSQL JDBC's
//! `java.sql.Date`/`Timestamp`, not `java.time`, so BC dates lose their era, pre-1582 timestamps are
//! counted in the Julian calendar and `±infinity` map to other sentinels than the scalar columns
//! (see [`crate::instants`]). Verified against the real connector (edge-value golden fixtures).

use crate::config::TimePrecisionMode;
use crate::convert::{Conv, ConvError};
use crate::instants::{self, Instant};
use crate::json::{write_int, write_str};
use crate::temporal;

/// A `timestamp(precision)` value under `mode`; `text` only tells the infinities apart.
pub fn write_timestamp(
    out: &mut Vec<u8>,
    t: Instant,
    precision: u32,
    mode: TimePrecisionMode,
    text: &str,
) -> Result<(), ConvError> {
    match mode {
        TimePrecisionMode::Adaptive | TimePrecisionMode::AdaptiveTimeMicroseconds if precision <= 3 => {
            write_int(out, t.millis())
        }
        TimePrecisionMode::Connect => write_int(out, t.millis()),
        TimePrecisionMode::Nanoseconds => match text {
            "infinity" => write_int(out, i64::MAX),
            "-infinity" => write_int(out, i64::MIN),
            // Outside 1677..2262: Debezium's converter gives up (null in a value, stops on a key).
            _ => match t.nanos() {
                Some(ns) => write_int(out, ns),
                None => {
                    return Err(ConvError::Unrepresentable(
                        "a timestamp outside 1677..2262 has no nanosecond value".into(),
                    ))
                }
            },
        },
        TimePrecisionMode::IsoString => write_str(out, &t.iso_trimmed()),
        _ => write_int(out, t.debezium_micros()),
    }
    Ok(())
}

/// One array element.
pub fn write_array_elem(out: &mut Vec<u8>, inner: &Conv, text: &str) -> Result<(), ConvError> {
    match inner {
        Conv::Date(mode) => {
            let iso = *mode == TimePrecisionMode::IsoString;
            match (text, iso) {
                ("infinity", true) => write_str(out, instants::ARRAY_DATE_POS_INFINITY_ISO),
                ("-infinity", true) => write_str(out, instants::ARRAY_DATE_NEG_INFINITY_ISO),
                ("infinity", false) => write_int(out, instants::ARRAY_DATE_POS_INFINITY_DAYS),
                ("-infinity", false) => write_int(out, instants::ARRAY_DATE_NEG_INFINITY_DAYS),
                _ => {
                    let (y, m, d) = instants::parse_array_date(text)?;
                    if iso {
                        write_str(out, &format!("{}Z", temporal::iso_date(y, m, d)))
                    } else {
                        write_int(out, temporal::days_from_civil(y, m, d))
                    }
                }
            }
        }
        Conv::Timestamp { precision, mode } => {
            let t = match text {
                "infinity" => Instant::from_micros(instants::TS_POS_INFINITY_US),
                "-infinity" => Instant::from_micros(instants::TS_NEG_INFINITY_US),
                _ => instants::parse_array_timestamp(text)?,
            };
            // An element Debezium cannot convert is a null element.
            if let Err(ConvError::Unrepresentable(_)) = write_timestamp(out, t, *precision, *mode, text) {
                out.extend_from_slice(b"null");
            }
        }
        Conv::TimestampTz { precision } => match text {
            "infinity" => write_str(out, "infinity"),
            "-infinity" => write_str(out, instants::ARRAY_TSTZ_NEG_INFINITY),
            _ => write_str(out, &instants::array_timestamptz(text, *precision as usize)?),
        },
        _ => inner.write(out, text)?,
    }
    Ok(())
}
