//! Debezium conformance for initial-snapshot events (`op: r`): rows that exist before the slot is
//! created, read by the initial snapshot, then one streamed change of each kind. Tables in two schemas,
//! a one-row first table (`first` wins over `last_in_data_collection`), a one-row table in the middle,
//! empty tables in the middle and at the end, a keyless table; markers, `before`, `source.lsn`/
//! `sequence`/`txId` presence and the envelope compared field by field with what the real Debezium
//! 3.6.3 connector wrote (`golden/fixtures/snapshot_<mode>.jsonl`, `generate.py --set snapshot`).

mod common;
mod golden_support;
use golden_support::*;

#[test]
fn initial_snapshot_default() {
    assert_mode(&SNAPSHOT, "default");
}

#[test]
fn initial_snapshot_schemas_off() {
    assert_mode(&SNAPSHOT, "schemas_off");
}
