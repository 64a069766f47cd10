//! Assembling Debezium records (topic, key, value, headers) from change events and plans.

use std::sync::Arc;

use tidemark_model::{ChangeEvent, ChangeKind, Datum, Record, RecordKind, SourceInfo, TxInfo};

use crate::config::{EncoderConfig, Op};
use crate::convert::ConvError;
use crate::json::{self, write_int, write_str};
use crate::plan::{source_schema, ColPlan, TablePlan, TX_BLOCK_SCHEMA};
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

fn lsn_num(l: Option<tidemark_model::Lsn>) -> Option<u64> {
    l.map(|l| l.0)
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

    fn write_source(&self, out: &mut Vec<u8>, s: &SourceInfo, schema: &str, table: &str) {
        out.extend_from_slice(&self.source_head);
        write_int(out, s.ts_us.div_euclid(1000));
        out.extend_from_slice(b",\"snapshot\":");
        match s.snapshot {
            Some(v) => write_str(out, v),
            None if self.cfg.replace_null_with_default => out.extend_from_slice(b"\"false\""),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(&self.source_db);
        out.extend_from_slice(b",\"sequence\":");
        if s.lsn.is_some() || s.last_commit_lsn.is_some() {
            let mut seq = String::from("[");
            match lsn_num(s.last_commit_lsn) {
                Some(l) => seq.push_str(&format!("\"{l}\"")),
                None => seq.push_str("null"),
            }
            seq.push(',');
            match lsn_num(s.lsn) {
                Some(l) => seq.push_str(&format!("\"{l}\"")),
                None => seq.push_str("null"),
            }
            seq.push(']');
            write_str(out, &seq);
        } else {
            out.extend_from_slice(b"null");
        }
        out.extend_from_slice(b",\"ts_us\":");
        write_int(out, s.ts_us);
        out.extend_from_slice(b",\"ts_ns\":");
        write_int(out, s.ts_us.saturating_mul(1000));
        out.extend_from_slice(b",\"schema\":");
        write_str(out, schema);
        out.extend_from_slice(b",\"table\":");
        write_str(out, table);
        out.extend_from_slice(b",\"txId\":");
        match s.tx_id {
            Some(x) => write_int(out, x as i64),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"lsn\":");
        match lsn_num(s.lsn) {
            Some(l) => write_int(out, l as i64),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"xmin\":null");
        if self.cfg.origin_fields {
            out.extend_from_slice(b",\"origin\":null,\"origin_lsn\":null");
        }
        out.push(b'}');
    }

    fn write_null_col(&self, out: &mut Vec<u8>, plan: &TablePlan, c: &ColPlan) -> Result<(), EncodeError> {
        match &c.default {
            Some(d) if self.cfg.replace_null_with_default || !c.optional => {
                out.extend_from_slice(d.as_bytes())
            }
            _ if !c.optional => match c.conv.fallback_refused() {
                Some(e) => return Err(self.value_err(plan, c, b"(no value)", e.reason())),
                None => c.conv.write_fallback(out),
            },
            _ => out.extend_from_slice(b"null"),
        }
        Ok(())
    }

    /// A value Debezium's converter cannot express: null where the field may be null, else (and in a
    /// key) the change stops.
    fn unrepresentable(
        &self,
        out: &mut Vec<u8>,
        plan: &TablePlan,
        c: &ColPlan,
        text: &[u8],
        in_key: bool,
        e: ConvError,
    ) -> Result<(), EncodeError> {
        match e {
            ConvError::Unrepresentable(_) if !in_key && c.conv.null_allowed(c.optional) => {
                out.extend_from_slice(b"null");
                Ok(())
            }
            e => Err(self.value_err(plan, c, text, e.reason())),
        }
    }

    fn write_col(
        &self,
        out: &mut Vec<u8>,
        plan: &TablePlan,
        c: &ColPlan,
        row: &[Datum],
        old: Option<&[Datum]>,
        in_key: bool,
    ) -> Result<(), EncodeError> {
        let d = row.get(c.index).unwrap_or(&Datum::Null);
        let d = match d {
            Datum::UnchangedToast => match old.and_then(|o| o.get(c.index)) {
                Some(o @ Datum::Text(_)) => o,
                _ => {
                    if let Some(e) = c.conv.toast_refused() {
                        return self.unrepresentable(out, plan, c, b"(unchanged TOAST value)", in_key, e);
                    }
                    c.conv.write_placeholder(out, &self.cfg.unavailable_placeholder);
                    return Ok(());
                }
            },
            other => other,
        };
        match d {
            Datum::Null | Datum::UnchangedToast => self.write_null_col(out, plan, c)?,
            Datum::Text(b) => {
                let text = std::str::from_utf8(b).map_err(|_| self.value_err(plan, c, b, "not UTF-8"))?;
                let start = out.len();
                if let Err(e) = c.conv.write(out, text) {
                    // Debezium's value converter leaves such a field null; a key (or a field whose
                    // schema is required) stops it.
                    out.truncate(start);
                    self.unrepresentable(out, plan, c, b, in_key, e)?;
                }
            }
            Datum::Binary(b) => {
                return Err(self.value_err(plan, c, b, "binary-format values are not supported"))
            }
        }
        Ok(())
    }

    fn value_err(&self, plan: &TablePlan, c: &ColPlan, b: &[u8], reason: &str) -> EncodeError {
        let text = String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned();
        EncodeError::Value {
            table: plan.table.id.to_string(),
            column: c.name.clone(),
            type_name: c.type_name.clone(),
            text,
            reason: reason.to_string(),
        }
    }

    fn write_row(
        &self,
        out: &mut Vec<u8>,
        plan: &TablePlan,
        row: Option<&[Datum]>,
        old: Option<&[Datum]>,
    ) -> Result<(), EncodeError> {
        let Some(row) = row else {
            out.extend_from_slice(b"null");
            return Ok(());
        };
        out.push(b'{');
        for (i, c) in plan.value_cols.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&c.field_prefix);
            self.write_col(out, plan, c, row, old, false)?;
        }
        out.push(b'}');
        Ok(())
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

    fn write_tx(&self, out: &mut Vec<u8>, tx: Option<&TxInfo>) {
        match tx {
            Some(t) if self.cfg.transaction_metadata => {
                out.extend_from_slice(b"{\"id\":");
                write_str(out, &t.id);
                out.extend_from_slice(b",\"total_order\":");
                write_int(out, t.total_order as i64);
                out.extend_from_slice(b",\"data_collection_order\":");
                write_int(out, t.data_collection_order as i64);
                out.push(b'}');
            }
            _ => out.extend_from_slice(b"null"),
        }
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
        let mut out = Vec::with_capacity(plan.value_prefix.len() + 512);
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

    /// A key struct with one string field, wrapped in `{"schema":…,"payload":…}` when key schemas are on.
    fn string_key(&self, schema: &[u8], field: &[u8], value: &str) -> Vec<u8> {
        let mut key = Vec::with_capacity(schema.len() + value.len() + 32);
        if self.cfg.key_schemas {
            key.extend_from_slice(b"{\"schema\":");
            key.extend_from_slice(schema);
            key.extend_from_slice(b",\"payload\":");
        }
        key.extend_from_slice(b"{\"");
        key.extend_from_slice(field);
        key.extend_from_slice(b"\":");
        write_str(&mut key, value);
        key.push(b'}');
        if self.cfg.key_schemas {
            key.push(b'}');
        }
        key
    }

    /// A logical-decoding message event (`op: m`) on `<prefix>.message`. `tx` is the transaction block
    /// of a transactional message when transaction metadata is on (Debezium counts such a message as an
    /// event of its transaction); non-transactional messages have none.
    pub fn encode_message(
        &self,
        prefix: &str,
        content: &[u8],
        source: &SourceInfo,
        tx: Option<&TxInfo>,
        now_us: i64,
    ) -> Record {
        let key = self.string_key(
            b"{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":true,\"field\":\"prefix\"}],\"optional\":false,\"name\":\"io.debezium.connector.postgresql.MessageKey\",\"version\":1}",
            b"prefix",
            prefix,
        );
        let mut v = Vec::new();
        let binary_schema = match self.cfg.binary {
            crate::BinaryMode::Bytes => "bytes",
            _ => "string",
        };
        if self.cfg.value_schemas {
            v.extend_from_slice(
                format!(
                    "{{\"schema\":{{\"type\":\"struct\",\"fields\":[{{\"type\":\"string\",\"optional\":false,\"field\":\"op\"}},{{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ms\"}},{},{},{{\"type\":\"struct\",\"fields\":[{{\"type\":\"string\",\"optional\":true,\"field\":\"prefix\"}},{{\"type\":\"{binary_schema}\",\"optional\":true,\"field\":\"content\"}}],\"optional\":false,\"name\":\"io.debezium.connector.postgresql.Message\",\"version\":1,\"field\":\"message\"}}],\"optional\":false,\"name\":\"io.debezium.connector.postgresql.MessageValue\",\"version\":1}},\"payload\":",
                    source_schema(&self.cfg),
                    TX_BLOCK_SCHEMA
                )
                .as_bytes(),
            );
        }
        v.extend_from_slice(b"{\"op\":\"m\",\"ts_ms\":");
        write_int(&mut v, now_us.div_euclid(1000));
        v.extend_from_slice(b",\"source\":");
        self.write_source(&mut v, source, "", "");
        v.extend_from_slice(b",\"transaction\":");
        self.write_tx(&mut v, tx);
        v.extend_from_slice(b",\"message\":{\"prefix\":");
        write_str(&mut v, prefix);
        v.extend_from_slice(b",\"content\":");
        match self.cfg.binary {
            crate::BinaryMode::Bytes | crate::BinaryMode::Base64 => json::write_b64(&mut v, content),
            crate::BinaryMode::Base64UrlSafe => write_str(&mut v, &json::b64_string(content, true)),
            crate::BinaryMode::Hex => {
                write_str(&mut v, &content.iter().map(|b| format!("{b:02x}")).collect::<String>())
            }
        }
        v.extend_from_slice(b"}}");
        if self.cfg.value_schemas {
            v.push(b'}');
        }
        Record {
            topic: self.msg_topic.clone(),
            key: Some(key),
            value: Some(v),
            headers: Vec::new(),
            kind: RecordKind::Message,
            op: "m",
            origin: None,
        }
    }

    /// Transaction BEGIN (`counts` None) or END (`counts` = per-table event counts) on `<prefix>.transaction`.
    pub fn encode_transaction(&self, id: &str, ts_us: i64, counts: Option<&[(String, u64)]>) -> Record {
        let key = self.string_key(
            b"{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"id\"}],\"optional\":false,\"name\":\"io.debezium.connector.common.TransactionMetadataKey\",\"version\":1}",
            b"id",
            id,
        );
        let mut v = Vec::new();
        if self.cfg.value_schemas {
            v.extend_from_slice(b"{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"status\"},{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},{\"type\":\"int64\",\"optional\":true,\"field\":\"event_count\"},{\"type\":\"array\",\"items\":{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"data_collection\"},{\"type\":\"int64\",\"optional\":false,\"field\":\"event_count\"}],\"optional\":true,\"name\":\"event.collection\",\"version\":1},\"optional\":true,\"field\":\"data_collections\"},{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"}],\"optional\":false,\"name\":\"io.debezium.connector.common.TransactionMetadataValue\",\"version\":1},\"payload\":");
        }
        v.extend_from_slice(b"{\"status\":");
        write_str(&mut v, if counts.is_some() { "END" } else { "BEGIN" });
        v.extend_from_slice(b",\"id\":");
        write_str(&mut v, id);
        match counts {
            None => v.extend_from_slice(b",\"event_count\":null,\"data_collections\":null"),
            Some(c) => {
                v.extend_from_slice(b",\"event_count\":");
                write_int(&mut v, c.iter().map(|(_, n)| *n as i64).sum());
                v.extend_from_slice(b",\"data_collections\":[");
                for (i, (t, n)) in c.iter().enumerate() {
                    if i > 0 {
                        v.push(b',');
                    }
                    v.extend_from_slice(b"{\"data_collection\":");
                    write_str(&mut v, t);
                    v.extend_from_slice(b",\"event_count\":");
                    write_int(&mut v, *n as i64);
                    v.push(b'}');
                }
                v.push(b']');
            }
        }
        v.extend_from_slice(b",\"ts_ms\":");
        write_int(&mut v, ts_us.div_euclid(1000));
        v.push(b'}');
        if self.cfg.value_schemas {
            v.push(b'}');
        }
        Record {
            topic: self.tx_topic.clone(),
            key: Some(key),
            value: Some(v),
            headers: Vec::new(),
            kind: RecordKind::Transaction,
            op: "",
            origin: None,
        }
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
