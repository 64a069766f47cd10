//! Unit tests for the edge-value classes of issue 9 §1, one per class, with the values the real
//! Debezium 3.6.3 connector wrote for the same PostgreSQL text
//! (`crates/tidemark/tests/golden/fixtures/edge_*.jsonl`).

use crate::config::{BinaryMode, DecimalMode, EncoderConfig, IntervalMode, TimePrecisionMode};
use crate::convert::{Conv, ConvError};
use crate::types::TypeRegistry;

fn w(c: &Conv, t: &str) -> String {
    let mut o = Vec::new();
    c.write(&mut o, t).unwrap();
    String::from_utf8(o).unwrap()
}

const NUMERIC: u32 = 1700;

fn numeric_typmod(precision: i32, scale: i32) -> i32 {
    ((precision << 16) | (scale & 0x7ff)) + 4
}

#[test]
fn negative_numeric_scale() {
    // numeric(5,-2): Debezium reads the catalog's scale unsigned (2046) and rescales the value to it.
    let reg = TypeRegistry::default();
    let typmod = numeric_typmod(5, -2);
    let precise = Conv::for_type(NUMERIC, typmod, &reg, &EncoderConfig::default()).unwrap();
    assert_eq!(precise, Conv::Decimal { scale: 2046, precision: Some(5) });
    assert!(precise
        .schema_open(true, None)
        .contains("\"scale\":\"2046\",\"connect.decimal.precision\":\"5\""));
    let cfg = EncoderConfig { decimal: DecimalMode::String, ..EncoderConfig::default() };
    let string = Conv::for_type(NUMERIC, typmod, &reg, &cfg).unwrap();
    let v = w(&string, "-99900");
    assert_eq!(v, format!("\"-99900.{}\"", "0".repeat(2046)));
    assert_eq!(w(&string, "0"), format!("\"0.{}\"", "0".repeat(2046)));
    let cfg = EncoderConfig { decimal: DecimalMode::Double, ..EncoderConfig::default() };
    assert_eq!(w(&Conv::for_type(NUMERIC, typmod, &reg, &cfg).unwrap(), "12300"), "12300.0");
    // The precise value is 12300 * 10^2046 as a two's-complement big integer; check its size and sign.
    let b64 = w(&precise, "12300");
    assert!(b64.len() > 1000 && !b64.starts_with("\"/"), "{}", &b64[..20]);
}

#[test]
fn numeric_nan_and_infinity_in_precise_mode() {
    for c in [Conv::VarDecimal, Conv::Decimal { scale: 2, precision: Some(10) }] {
        for t in ["NaN", "Infinity", "-Infinity"] {
            // Unrepresentable: the record writer turns it into null in a value and an error in a key.
            assert!(matches!(c.write(&mut Vec::new(), t), Err(ConvError::Unrepresentable(_))), "{c:?} {t}");
        }
    }
    assert_eq!(w(&Conv::DecimalString, "Infinity"), "\"POSITIVE_INFINITY\"");
    assert_eq!(w(&Conv::DecimalString, "-Infinity"), "\"NEGATIVE_INFINITY\"");
    assert_eq!(w(&Conv::DecimalDouble, "NaN"), "\"NaN\"");
}

#[test]
fn numeric_arrays_with_special_values_are_null() {
    for inner in [Conv::VarDecimal, Conv::DecimalString, Conv::DecimalDouble] {
        let a = Conv::Array(Box::new(inner));
        assert!(matches!(a.write(&mut Vec::new(), "{NaN,1.5,NULL}"), Err(ConvError::Unrepresentable(_))));
        assert!(matches!(
            a.write(&mut Vec::new(), "{Infinity,-Infinity}"),
            Err(ConvError::Unrepresentable(_))
        ));
    }
    assert_eq!(w(&Conv::Array(Box::new(Conv::DecimalString)), "{0.0,0.000}"), r#"["0.0","0.000"]"#);
}

#[test]
fn date_infinity_in_every_time_precision_mode() {
    use TimePrecisionMode::*;
    for mode in [Adaptive, AdaptiveTimeMicroseconds, Connect, Microseconds, Nanoseconds] {
        assert_eq!(w(&Conv::Date(mode), "infinity"), "-2147472692", "{mode:?}");
        assert_eq!(w(&Conv::Date(mode), "-infinity"), "-2147472691", "{mode:?}");
        let a = Conv::Array(Box::new(Conv::Date(mode)));
        assert_eq!(w(&a, "{infinity,-infinity}"), "[-622191234,-625821272]");
    }
    assert_eq!(w(&Conv::Date(IsoString), "infinity"), "\"-5877611-06-21Z\"");
    assert_eq!(w(&Conv::Date(IsoString), "-infinity"), "\"-5877611-06-22Z\"");
    let a = Conv::Array(Box::new(Conv::Date(IsoString)));
    assert_eq!(w(&a, "{infinity,-infinity}"), r#"["+292278994-08-16Z","+292269055-12-02Z"]"#);
}

#[test]
fn bc_and_far_future_dates() {
    let d = Conv::Date(TimePrecisionMode::Adaptive);
    assert_eq!(w(&d, "4713-01-01 BC"), "-2440550");
    assert_eq!(w(&d, "5874897-12-31"), "2145042905");
    assert_eq!(w(&Conv::Date(TimePrecisionMode::IsoString), "0001-12-31 BC"), "\"0000-12-31Z\"");
    // In arrays the BC era is lost, as java.sql.Date loses it.
    assert_eq!(w(&Conv::Array(Box::new(d)), r#"{"4713-01-01 BC","0001-12-31 BC"}"#), "[1001860,-718798]");
}

#[test]
fn timestamps_infinity_and_far_future_in_every_mode() {
    use TimePrecisionMode::*;
    let ts = |precision, mode| Conv::Timestamp { precision, mode };
    assert_eq!(w(&ts(6, Adaptive), "infinity"), "9223372036825200000");
    assert_eq!(w(&ts(3, Adaptive), "-infinity"), "-9223372036832400");
    assert_eq!(w(&ts(6, Connect), "294276-12-31 23:59:59.999999"), "9224318015999999");
    assert_eq!(w(&ts(6, Adaptive), "294276-12-31 23:59:59.999999"), "-9223372036853775810");
    assert_eq!(w(&ts(3, Microseconds), "294276-12-31 23:59:59.999"), "-9223372036853776809");
    assert_eq!(w(&ts(6, IsoString), "294276-12-31 23:59:59.999999"), "\"+294276-12-31T23:59:59.999999Z\"");
    assert_eq!(w(&ts(6, IsoString), "infinity"), "\"+294247-01-10T04:00:25.2Z\"");
    assert_eq!(w(&ts(3, IsoString), "4713-01-01 00:00:00.001 BC"), "\"-4712-01-01T00:00:00.001Z\"");
    let tz = Conv::TimestampTz { precision: 6 };
    assert_eq!(w(&tz, "294276-12-31 23:59:59.999999+00"), "\"+294276-12-31T23:59:59.999999Z\"");
    let atz = Conv::Array(Box::new(tz));
    assert_eq!(w(&atz, "{infinity,-infinity}"), r#"["infinity","+292269055-12-02T23:00:00.000000Z"]"#);
    let ats = Conv::Array(Box::new(ts(6, Adaptive)));
    assert_eq!(w(&ats, r#"{"4713-01-01 00:00:00 BC"}"#), "[-210866803200000000]");
}

#[test]
fn time_24_00_and_extreme_timetz_offsets() {
    use TimePrecisionMode::*;
    assert_eq!(w(&Conv::Time { precision: 6, mode: Adaptive }, "24:00:00"), "86400000000");
    assert_eq!(w(&Conv::Time { precision: 6, mode: Connect }, "24:00:00"), "86400000");
    assert_eq!(w(&Conv::Time { precision: 6, mode: IsoString }, "24:00:00"), "\"00:00:00Z\"");
    assert_eq!(w(&Conv::Time { precision: 3, mode: IsoString }, "12:00:00.5"), "\"12:00:00.5Z\"");
    assert_eq!(w(&Conv::TimeTz, "24:00:00+15:59"), "\"08:01:00Z\"");
    assert_eq!(w(&Conv::TimeTz, "00:00:00-15:59"), "\"15:59:00Z\"");
    // Debezium's decoder stops on an offset with seconds; so do we (and the failure mode applies).
    assert!(matches!(
        Conv::TimeTz.write(&mut Vec::new(), "23:59:59.999999+15:59:59"),
        Err(ConvError::Invalid(_))
    ));
}

#[test]
fn extreme_and_mixed_sign_intervals() {
    let n = Conv::Interval(IntervalMode::Numeric);
    assert_eq!(w(&n, "178000000 years"), "9223372036854775807");
    assert_eq!(w(&n, "-178000000 years"), "-9223372036854775808");
    assert_eq!(w(&n, "-1 days +00:00:01"), "-86399000000");
    let s = Conv::Interval(IntervalMode::String);
    assert_eq!(w(&s, "-1 days +00:00:01"), "\"P0Y0M-1DT0H0M1S\"");
    assert_eq!(
        w(&s, "178956970 years 7 mons 2147483647 days 2147483647:59:59.999999"),
        "\"P178956970Y7M2147483647DT2147483647H59M59.999999S\""
    );
    assert!(matches!(n.write(&mut Vec::new(), "2562047788:00:54.775807"), Err(ConvError::Invalid(_))));
}

#[test]
fn empty_bytea_and_varbit() {
    assert_eq!(w(&Conv::Bytea(BinaryMode::Bytes), "\\x"), "\"\"");
    assert_eq!(w(&Conv::Bytea(BinaryMode::Hex), "\\x"), "\"\"");
    // BitSet.toByteArray: empty and all-zero bit strings are no bytes.
    assert_eq!(w(&Conv::Bits { length: 16 }, ""), "\"\"");
    assert_eq!(w(&Conv::Bits { length: 16 }, "0000000000"), "\"\"");
    assert_eq!(w(&Conv::Bits { length: 40 }, "1000000000000000000000000000000000000001"), "\"AQAAAIA=\"");
}
