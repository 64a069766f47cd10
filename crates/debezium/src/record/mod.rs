//! Assembling Debezium records (topic, key, value, headers) from change events and plans.
//!
//! The [`Encoder`] is what the pipeline's encode stage calls for byte sinks. This module holds the
//! change records: the envelope (`before`, `after`, `source`, `transaction`, `op`, `ts_*`), the key,
//! and how each kind of change becomes records (a delete adds a tombstone; a primary-key change is
//! delete + tombstone + create, linked by `__debezium.oldkey`/`newkey` headers). Beside it:
//!
//! - [`columns`]: one column's value inside a row or key (nulls, defaults, NOT NULL fallbacks,
//!   unchanged TOAST values, values Debezium cannot express);
//! - [`blocks`]: the `source` and `transaction` blocks every event carries;
//! - [`metadata`]: the records that are no row change (logical messages, transaction BEGIN/END).
//!
//! Invariants: the bytes follow the Connect schemas the [`TablePlan`] serialized, field for field; a
//! record is pushed only once all of it was written. A change that fails part-way (the create of a
//! key change) may already have pushed earlier records, so [`Encoder::encode_change`]'s callers drop
//! everything it pushed when it returns an [`EncodeError`] (the pipeline's encode stage does).

mod blocks;
mod columns;
mod metadata;

use std::sync::Arc;

use tidemark_model::{ChangeEvent, ChangeKind, Datum, Record, RecordKind, TxInfo};

use crate::config::{EncoderConfig, Op};
use crate::json::{write_int, write_str};
use crate::plan::TablePlan;
use crate::EncodeError;

/// The rows an envelope shows: `before`, `after`, and the old row unchanged TOAST values are copied from.
#[derive(Clone, Copy)]
struct Rows<'a> {
    before: Option<&'a [Datum]>,
    after: Option<&'a [Datum]>,
    old_for_toast: Option<&'a [Datum]>,
}

/// Encodes events under one configuration.
#[derive(Debug, Clone)]
pub struct Encoder {
    cfg: EncoderConfig,
    source_head: Vec<u8>,
    source_db: Vec<u8>,
    tx_topic: Arc<str>,
    msg_topic: Arc<str>,
}

impl Encoder {
    /// New encoder.
    pub fn new(cfg: EncoderConfig) -> Encoder {
        let mut source_head = b"{\"version\":".to_vec();
        write_str(&mut source_head, &cfg.version);
        source_head.extend_from_slice(b",\"connector\":\"postgresql\",\"name\":");
        write_str(&mut source_head, &cfg.topic_prefix);
        source_head.extend_from_slice(b",\"ts_ms\":");
        let mut source_db = b",\"db\":".to_vec();
        write_str(&mut source_db, &cfg.database);
        let d = &cfg.topic_delimiter;
        let tx_topic = format!("{}{d}transaction", cfg.topic_prefix).into();
        let msg_topic = format!("{}{d}message", cfg.topic_prefix).into();
        Encoder { cfg, source_head, source_db, tx_topic, msg_topic }
    }

    /// The configuration.
    pub fn config(&self) -> &EncoderConfig {
        &self.cfg
    }

    fn skipped(&self, op: Op) -> bool {
        self.cfg.skipped.contains(&op)
    }

    /// Key bytes for `row`, or `None` when the table has no key.
    pub fn key(&self, plan: &TablePlan, row: &[Datum]) -> Result<Option<Vec<u8>>, EncodeError> {
        if plan.key_cols.is_empty() {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(plan.key_prefix.len() + 32);
        out.extend_from_slice(&plan.key_prefix);
        out.push(b'{');
        for (i, c) in plan.key_cols.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&c.field_prefix);
            self.write_col(&mut out, plan, c, row, None, true)?;
        }
        out.push(b'}');
        if !plan.key_prefix.is_empty() {
            out.push(b'}');
        }
        Ok(Some(out))
    }

    fn envelope(
        &self,
        plan: &TablePlan,
        op: &str,
        rows: Rows<'_>,
        ev: &ChangeEvent,
        now_us: i64,
    ) -> Result<Vec<u8>, EncodeError> {
        let Rows { before, after, old_for_toast } = rows;
        let mut out = Vec::with_capacity(plan.value_size.capacity(plan.value_prefix.len() + 512));
        out.extend_from_slice(&plan.value_prefix);
        out.extend_from_slice(b"{\"before\":");
        self.write_row(&mut out, plan, before, None)?;
        out.extend_from_slice(b",\"after\":");
        self.write_row(&mut out, plan, after, old_for_toast)?;
        out.extend_from_slice(b",\"source\":");
        self.write_source(&mut out, &ev.source, &plan.table.id.schema, &plan.table.id.name);
        out.extend_from_slice(b",\"transaction\":");
        self.write_tx(&mut out, ev.tx.as_ref());
        out.extend_from_slice(b",\"op\":\"");
        out.extend_from_slice(op.as_bytes());
        out.extend_from_slice(b"\",\"ts_ms\":");
        write_int(&mut out, now_us.div_euclid(1000));
        out.extend_from_slice(b",\"ts_us\":");
        write_int(&mut out, now_us);
        out.extend_from_slice(b",\"ts_ns\":");
        write_int(&mut out, now_us.saturating_mul(1000));
        out.push(b'}');
        if !plan.value_prefix.is_empty() {
            out.push(b'}');
        }
        plan.value_size.record(out.len());
        Ok(out)
    }

    /// Encode one change into zero or more records (a delete adds a tombstone; a key change becomes
    /// delete + tombstone + create). `now_us` is the processing time written in the envelope's ts.
    pub fn encode_change(
        &self,
        plan: &TablePlan,
        ev: &ChangeEvent,
        now_us: i64,
        out: &mut Vec<Record>,
    ) -> Result<(), EncodeError> {
        let topic = plan.topic.clone();
        let origin = Some(tidemark_model::RecordOrigin {
            lsn: ev.source.lsn,
            tx_id: ev.source.tx_id,
            table: plan.table.clone(),
        });
        match ev.kind {
            ChangeKind::Insert | ChangeKind::Read => {
                if ev.kind == ChangeKind::Insert && self.skipped(Op::Create) {
                    return Ok(());
                }
                let after = ev.after.as_deref();
                let key = match after {
                    Some(a) => self.key(plan, a)?,
                    None => None,
                };
                let value = self.envelope(
                    plan,
                    ev.kind.op(),
                    Rows { before: None, after, old_for_toast: None },
                    ev,
                    now_us,
                )?;
                out.push(Record {
                    topic,
                    key,
                    value: Some(value),
                    headers: Vec::new(),
                    kind: RecordKind::Change,
                    op: ev.kind.op(),
                    origin: origin.clone(),
                });
            }
            ChangeKind::Update => {
                let after = ev.after.as_deref().unwrap_or_default();
                let before = ev.before.as_deref();
                if let Some(b) = before {
                    if plan.has_key() && plan.key_changed(b, after) {
                        // Primary-key change: delete (+ tombstone) of the old key, create of the new.
                        let old_key = self.key(plan, b)?;
                        let new_key = self.key(plan, after)?;
                        if !self.skipped(Op::Delete) {
                            let mut headers = Vec::new();
                            if let Some(k) = &new_key {
                                headers.push((
                                    "__debezium.newkey",
                                    strip_schema(k, !plan.key_prefix.is_empty()),
                                ));
                            }
                            let v = self.envelope(
                                plan,
                                "d",
                                Rows { before: Some(b), after: None, old_for_toast: None },
                                ev,
                                now_us,
                            )?;
                            out.push(Record {
                                topic: topic.clone(),
                                key: old_key.clone(),
                                value: Some(v),
                                headers,
                                kind: RecordKind::Change,
                                op: "d",
                                origin: origin.clone(),
                            });
                            if self.cfg.tombstones_on_delete {
                                out.push(Record {
                                    topic: topic.clone(),
                                    key: old_key.clone(),
                                    value: None,
                                    headers: Vec::new(),
                                    kind: RecordKind::Tombstone,
                                    op: "",
                                    origin: origin.clone(),
                                });
                            }
                        }
                        if !self.skipped(Op::Create) {
                            // Debezium numbers each emitted change record in the transaction.
                            let next_tx = ev.tx.as_ref().map(|t| TxInfo {
                                id: t.id.clone(),
                                total_order: t.total_order + 1,
                                data_collection_order: t.data_collection_order + 1,
                            });
                            let create_ev = ChangeEvent { tx: next_tx, ..ev.clone() };
                            let ev = &create_ev;
                            let mut headers = Vec::new();
                            if let Some(k) = &old_key {
                                headers.push((
                                    "__debezium.oldkey",
                                    strip_schema(k, !plan.key_prefix.is_empty()),
                                ));
                            }
                            let v = self.envelope(
                                plan,
                                "c",
                                Rows { before: None, after: Some(after), old_for_toast: before },
                                ev,
                                now_us,
                            )?;
                            out.push(Record {
                                topic,
                                key: new_key,
                                value: Some(v),
                                headers,
                                kind: RecordKind::Change,
                                op: "c",
                                origin: origin.clone(),
                            });
                        }
                        return Ok(());
                    }
                }
                if self.skipped(Op::Update) {
                    return Ok(());
                }
                // DEFAULT identity without key change: before is null (the old tuple is not sent).
                let key = self.key(plan, after)?;
                let v = self.envelope(
                    plan,
                    "u",
                    Rows { before, after: Some(after), old_for_toast: before },
                    ev,
                    now_us,
                )?;
                out.push(Record {
                    topic,
                    key,
                    value: Some(v),
                    headers: Vec::new(),
                    kind: RecordKind::Change,
                    op: "u",
                    origin: origin.clone(),
                });
            }
            ChangeKind::Delete => {
                if self.skipped(Op::Delete) {
                    return Ok(());
                }
                let before = ev.before.as_deref();
                let key = match before {
                    Some(b) => self.key(plan, b)?,
                    None => None,
                };
                let v =
                    self.envelope(plan, "d", Rows { before, after: None, old_for_toast: None }, ev, now_us)?;
                out.push(Record {
                    topic: topic.clone(),
                    key: key.clone(),
                    value: Some(v),
                    headers: Vec::new(),
                    kind: RecordKind::Change,
                    op: "d",
                    origin: origin.clone(),
                });
                if self.cfg.tombstones_on_delete {
                    out.push(Record {
                        topic,
                        key,
                        value: None,
                        headers: Vec::new(),
                        kind: RecordKind::Tombstone,
                        op: "",
                        origin: origin.clone(),
                    });
                }
            }
            ChangeKind::Truncate => {
                if self.skipped(Op::Truncate) {
                    return Ok(());
                }
                let v = self.envelope(
                    plan,
                    "t",
                    Rows { before: None, after: None, old_for_toast: None },
                    ev,
                    now_us,
                )?;
                out.push(Record {
                    topic,
                    key: None,
                    value: Some(v),
                    headers: Vec::new(),
                    kind: RecordKind::Change,
                    op: "t",
                    origin: origin.clone(),
                });
            }
        }
        Ok(())
    }
}

/// The payload part of a key (headers carry the bare key struct).
fn strip_schema(k: &[u8], has_schema: bool) -> Vec<u8> {
    if !has_schema {
        return k.to_vec();
    }
    let marker = b",\"payload\":";
    match k.windows(marker.len()).rposition(|w| w == marker) {
        Some(p) => k[p + marker.len()..k.len() - 1].to_vec(),
        None => k.to_vec(),
    }
}
