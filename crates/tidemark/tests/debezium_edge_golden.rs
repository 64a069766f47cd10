//! Debezium conformance for the edge-value zoo (issue 9 §1): NaN/±Infinity, subnormals, −0 and
//! extremes; ±infinity, BC and far-future dates/timestamps (past year 294247); 24:00 and extreme timetz
//! offsets; extreme and mixed-sign intervals; empty, NULL-only and multi-dimensional arrays; json with
//! duplicate keys and unicode escapes; empty bytea/varbit; money extremes; empty and unbounded ranges;
//! macaddr8; unicode identifiers; negative numeric scale. Every value must match what the real
//! Debezium 3.6.3 connector wrote (`golden/fixtures/edge_<mode>.jsonl`); the values it fails on live
//! in the `edge_fail` set, where tidemark must stop the same way (or skip under warn/skip).

mod common;
mod golden_support;
use golden_support::*;

#[test]
fn edge_zoo_default() {
    assert_mode(&EDGE, "default");
}

#[test]
fn edge_zoo_decimal_string() {
    assert_mode(&EDGE, "decimal_string");
}

#[test]
fn edge_zoo_decimal_double() {
    assert_mode(&EDGE, "decimal_double");
}

#[test]
fn edge_zoo_time_connect() {
    assert_mode(&EDGE, "time_connect");
}

#[test]
fn edge_zoo_time_adaptive_us() {
    assert_mode(&EDGE, "time_adaptive_us");
}

#[test]
fn edge_zoo_time_iso() {
    assert_mode(&EDGE, "time_iso");
}

#[test]
fn edge_zoo_time_micro() {
    assert_mode(&EDGE, "time_micro");
}

#[test]
fn edge_zoo_time_nano() {
    assert_mode(&EDGE, "time_nano");
}

#[test]
fn edge_zoo_binary_hex() {
    assert_mode(&EDGE, "binary_hex");
}

#[test]
fn edge_zoo_interval_string() {
    assert_mode(&EDGE, "interval_string");
}

/// Numeric NaN in a key under precise: Debezium stops; so does tidemark, with one message.
#[test]
fn edge_fail_default_stops_like_debezium() {
    assert_mode(&EDGE_FAIL, "default");
}

/// String mode encodes the key NaN/Infinity, then stops at the timetz offset with seconds.
#[test]
fn edge_fail_decimal_string_stops_like_debezium() {
    assert_mode(&EDGE_FAIL, "decimal_string");
}

#[test]
fn edge_fail_decimal_double_stops_like_debezium() {
    assert_mode(&EDGE_FAIL, "decimal_double");
}

/// event.processing.failure.handling.mode=skip: the failing events are left out, the rest delivered.
#[test]
fn edge_fail_skip_matches_debezium() {
    assert_mode(&EDGE_FAIL, "skip");
}

#[test]
fn edge_fail_warn_matches_debezium() {
    assert_mode(&EDGE_FAIL, "warn");
}
