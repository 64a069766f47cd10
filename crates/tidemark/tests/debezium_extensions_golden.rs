//! Debezium conformance for extension types: PostGIS `geometry`/`geography` (every geometry kind,
//! with and without SRID, Z/M, EMPTY, type modifiers, arrays, keys, REPLICA IDENTITY FULL) and pgvector
//! `vector`/`halfvec`/`sparsevec` (typed dimensions, Java float spelling, keys, arrays, sparse vectors
//! in Java HashMap order, indexes beyond a Java short), NULLs, NOT NULL fallbacks in deletes and
//! unchanged TOAST values. Every event must match what the real Debezium 3.6.3 connector wrote for
//! the same SQL (`golden/fixtures/extensions_<mode>.jsonl`, `generate.py --set extensions`); the
//! changes it stops on are the `extensions_fail` set, where tidemark must stop the same way (or
//! skip them under warn/skip).
//!
//! The server needs PostGIS and pgvector (`.ci/run` installs both); without them these tests fail
//! and say so.

mod common;
mod golden_support;
use golden_support::*;

const NEEDS: &[&str] = &["postgis", "vector"];

#[test]
fn extension_types_default() {
    assert_mode_with(&EXTENSIONS, "default", NEEDS);
}

/// binary.handling.mode does not apply to the geometry `wkb` bytes (always Base64 in JSON).
#[test]
fn extension_types_binary_hex() {
    assert_mode_with(&EXTENSIONS, "binary_hex", NEEDS);
}

#[test]
fn extension_types_binary_base64() {
    assert_mode_with(&EXTENSIONS, "binary_base64", NEEDS);
}

/// include.unknown.datatypes changes nothing: these types are mapped.
#[test]
fn extension_types_unknown_types() {
    assert_mode_with(&EXTENSIONS, "unknown_types", NEEDS);
}

/// A sparsevec key beyond a Java short: Debezium stops; so does tidemark, with one message.
#[test]
fn extension_types_fail_default_stops_like_debezium() {
    assert_mode_with(&EXTENSIONS_FAIL, "default", NEEDS);
}

/// event.processing.failure.handling.mode=warn: the sparsevec key, the unchanged TOAST values in
/// NOT NULL geography/vector columns and the delete with a NOT NULL sparsevec are left out.
#[test]
fn extension_types_fail_warn_matches_debezium() {
    assert_mode_with(&EXTENSIONS_FAIL, "warn", NEEDS);
}

#[test]
fn extension_types_fail_skip_matches_debezium() {
    assert_mode_with(&EXTENSIONS_FAIL, "skip", NEEDS);
}
