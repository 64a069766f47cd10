//! Debezium conformance for logical-message events (`op: m`): `pg_logical_emit_message`,
//! transactional (delivered at its transaction's commit, in commit order) and not (delivered at once,
//! even from a transaction that rolls back), binary and empty content, a unicode prefix, with and
//! without transaction metadata. Compared field by field with what the real Debezium 3.6.3 connector
//! wrote for the same SQL (`golden/fixtures/messages_<mode>.jsonl`, `generate.py --set messages`).

mod common;
mod golden_support;
use golden_support::*;

#[test]
fn logical_messages_default() {
    assert_mode(&MESSAGES, "default");
}

#[test]
fn logical_messages_with_transaction_metadata() {
    assert_mode(&MESSAGES, "txmeta");
}
