//! The encode stage: typed events → Debezium records, for sinks that take bytes.
//!
//! Why here and not in the source: the source stays a pure producer of typed events, so a typed sink
//! (apply) skips this stage entirely, and the work runs on its own task beside the source's decoding.
//!
//! It owns everything about the Debezium envelope that depends on event order:
//! - the transaction block (`transaction.total_order`, `data_collection_order`) and the BEGIN/END
//!   records, counted here from [`Event::Begin`]/[`Event::Commit`] and the changes between them;
//! - `event.processing.failure.handling.mode` ([`FailureMode`]): a change that cannot be encoded
//!   produces no records at all (never half an envelope) and takes no transaction order number; under
//!   `fail` the stage stops with one error naming the change's position and the ways out.
//!
//! Invariant: with more than one worker ([`crate::PipelineOptions::encode_workers`]) batches are encoded
//! in any order, which only sources whose events carry no order (a diff: each key has at most one
//! event) may ask for; transaction metadata needs one worker.

use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use tidemark_debezium::Encoder;
use tidemark_model::{Record, RecordKind, TableId, TxInfo};

use crate::error::PipelineError;
use crate::event::{Change, Event};

/// The data collection Debezium counts a transactional logical message under (its class name; Debezium
/// appends a per-message Java identity, tidemark the message prefix).
const MESSAGE_COLLECTION: &str =
    "io.debezium.connector.postgresql.LogicalDecodingMessageMonitor$LogicalDecodingMessageId";

/// How an event that cannot be encoded is handled (`event.processing.failure.handling.mode`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum FailureMode {
    /// Stop with an error; nothing at or after the event is confirmed, so a restart stops there again.
    #[default]
    Fail,
    /// Log a warning and skip the event.
    Warn,
    /// Skip the event (debug log only).
    Skip,
}

impl FromStr for FailureMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fail" => Ok(FailureMode::Fail),
            "warn" => Ok(FailureMode::Warn),
            "skip" | "ignore" => Ok(FailureMode::Skip),
            _ => Err("fail | warn | skip".into()),
        }
    }
}

/// What to tell the operator about a stopped stream: the encoder's reason plus the ways out.
pub fn advice(reason: &str) -> String {
    let mut ways = Vec::new();
    if reason.contains("decimal.handling.mode") {
        ways.push("set decimal.handling.mode=string or double (they encode NaN and ±Infinity)".to_string());
    }
    ways.push(
        "set event.processing.failure.handling.mode=warn (or skip) to skip this one event and go on; \
         the slot then moves past it"
            .to_string(),
    );
    format!(
        "{reason}. The stream stopped before this event and a restart stops here again (Debezium stops on \
         this value too). Ways out: {}",
        ways.join("; or ")
    )
}

fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// An open transaction's counters.
#[derive(Debug)]
struct Tx {
    xid: u32,
    commit_ts_us: i64,
    total: u64,
    per_table: Vec<(String, u64)>,
}

/// Encodes events in order, keeping the transaction counters.
#[derive(Debug)]
pub struct EncodeStage {
    enc: Encoder,
    failure: FailureMode,
    tx: Option<Tx>,
    source_time: bool,
    /// Events counted in this batch, per op (flushed to the metrics once per batch).
    counts: OpCounts,
}

/// Per-op event counts, recorded once per batch rather than per event.
#[derive(Debug, Default)]
pub(crate) struct OpCounts([u64; 6]);

impl OpCounts {
    const OPS: [&'static str; 6] = ["c", "u", "d", "r", "t", "m"];

    pub(crate) fn add(&mut self, op: &str) {
        if let Some(i) = Self::OPS.iter().position(|o| *o == op) {
            self.0[i] += 1;
        }
    }

    pub(crate) fn record(&mut self) {
        for (i, n) in self.0.iter_mut().enumerate() {
            if *n > 0 {
                metrics::counter!(crate::metrics::EVENTS, "op" => Self::OPS[i]).increment(*n);
                *n = 0;
            }
        }
    }
}

impl EncodeStage {
    /// A stage with no open transaction. `source_time`: write the event's own time (`source.ts_us`) as
    /// the envelope's processing time `ts_ms` (a diff's `--event-time`) instead of the clock's.
    pub fn new(enc: Encoder, failure: FailureMode, source_time: bool) -> Self {
        EncodeStage { enc, failure, tx: None, source_time, counts: OpCounts::default() }
    }

    /// Encode `events` onto `out`.
    pub fn encode(&mut self, events: Vec<Event>, out: &mut Vec<Record>) -> Result<(), PipelineError> {
        let res = self.encode_all(events, out);
        self.counts.record();
        res
    }

    fn encode_all(&mut self, events: Vec<Event>, out: &mut Vec<Record>) -> Result<(), PipelineError> {
        for ev in events {
            match ev {
                Event::Begin { xid, lsn, commit_ts_us } => {
                    self.tx = Some(Tx { xid, commit_ts_us, total: 0, per_table: Vec::new() });
                    if self.enc.config().transaction_metadata {
                        out.push(self.enc.encode_transaction(
                            &format!("{xid}:{}", lsn.0),
                            commit_ts_us,
                            None,
                        ));
                    }
                }
                Event::Commit { end_lsn, .. } => {
                    if let Some(tx) = self.tx.take() {
                        if self.enc.config().transaction_metadata {
                            out.push(self.enc.encode_transaction(
                                &format!("{}:{}", tx.xid, end_lsn.0),
                                tx.commit_ts_us,
                                Some(&tx.per_table),
                            ));
                        }
                    }
                    metrics::counter!(crate::metrics::TRANSACTIONS).increment(1);
                }
                Event::Message { prefix, content, transactional, source } => {
                    let lsn = source.lsn.map_or(0, |l| l.0);
                    let tx = if transactional { self.message_tx_info(&prefix, lsn) } else { None };
                    out.push(self.enc.encode_message(&prefix, &content, &source, tx.as_ref(), now_us()));
                    self.counts.add("m");
                }
                Event::Change(c) => self.change(c, out)?,
            }
        }
        Ok(())
    }

    fn change(&mut self, mut c: Change, out: &mut Vec<Record>) -> Result<(), PipelineError> {
        let counters = self.tx.as_ref().map(|t| (t.total, t.per_table.clone()));
        let lsn = c.event.source.lsn.map_or(0, |l| l.0);
        c.event.tx = self.tx_info(&c.plan.table.id, lsn);
        let start = out.len();
        let ts = if self.source_time { c.event.source.ts_us } else { now_us() };
        if let Err(e) = self.enc.encode_change(&c.plan, &c.event, ts, out) {
            // Nothing of a failed event reaches the sink, and it takes no transaction order number.
            out.truncate(start);
            if let (Some(t), Some((total, per_table))) = (self.tx.as_mut(), counters) {
                t.total = total;
                t.per_table = per_table;
            }
            let at = tidemark_model::Lsn(lsn).to_string();
            metrics::counter!(crate::metrics::EVENTS_SKIPPED).increment(1);
            return match self.failure {
                FailureMode::Fail => {
                    Err(PipelineError::EventFailed { lsn: at, detail: advice(&e.to_string()) })
                }
                FailureMode::Warn => {
                    tracing::warn!(table = %c.plan.table.id, lsn = %at, error = %e, "skipped a change that cannot be encoded (event.processing.failure.handling.mode=warn)");
                    Ok(())
                }
                FailureMode::Skip => {
                    tracing::debug!(table = %c.plan.table.id, lsn = %at, error = %e, "skipped a change that cannot be encoded");
                    Ok(())
                }
            };
        }
        let mut changes = 0u64;
        for r in &out[start..] {
            if r.kind == RecordKind::Change {
                changes += 1;
                self.counts.add(r.op);
            }
        }
        // A key change is two change records (delete, create); each takes a transaction order number.
        if changes > 1 && self.enc.config().transaction_metadata {
            if let Some(tx) = self.tx.as_mut() {
                tx.total += changes - 1;
                let name = collection(&c.plan.table.id);
                if let Some((_, n)) = tx.per_table.iter_mut().find(|(t, _)| *t == name) {
                    *n += changes - 1;
                }
            }
        }
        Ok(())
    }

    fn tx_info(&mut self, table: &TableId, lsn: u64) -> Option<TxInfo> {
        if !self.enc.config().transaction_metadata {
            return None;
        }
        let tx = self.tx.as_mut()?;
        tx.total += 1;
        let name = collection(table);
        let n = match tx.per_table.iter_mut().find(|(t, _)| *t == name) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                tx.per_table.push((name, 1));
                1
            }
        };
        Some(TxInfo { id: format!("{}:{}", tx.xid, lsn), total_order: tx.total, data_collection_order: n })
    }

    /// The transaction block of a transactional logical message. Debezium counts each such message as
    /// an event of its transaction in a data collection of its own (named after a Java object identity,
    /// which cannot be reproduced: tidemark names it after the message prefix instead).
    fn message_tx_info(&mut self, prefix: &str, lsn: u64) -> Option<TxInfo> {
        if !self.enc.config().transaction_metadata {
            return None;
        }
        let tx = self.tx.as_mut()?;
        tx.total += 1;
        tx.per_table.push((format!("{MESSAGE_COLLECTION}@{prefix}"), 1));
        Some(TxInfo { id: format!("{}:{}", tx.xid, lsn), total_order: tx.total, data_collection_order: 1 })
    }
}

fn collection(t: &TableId) -> String {
    format!("{}.{}", t.schema, t.name)
}

/// Count events for a typed sink (no encoding, so no records to count from).
pub(crate) fn count_typed(events: &[Event]) {
    let mut counts = OpCounts::default();
    let mut commits = 0;
    for ev in events {
        match ev {
            Event::Change(c) => counts.add(c.event.kind.op()),
            Event::Message { .. } => counts.add("m"),
            Event::Commit { .. } => commits += 1,
            Event::Begin { .. } => {}
        }
    }
    counts.record();
    if commits > 0 {
        metrics::counter!(crate::metrics::TRANSACTIONS).increment(commits);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_debezium_names() {
        assert_eq!("fail".parse(), Ok(FailureMode::Fail));
        assert_eq!("warn".parse(), Ok(FailureMode::Warn));
        assert_eq!("skip".parse(), Ok(FailureMode::Skip));
        assert!("stop".parse::<FailureMode>().is_err());
        assert!(advice("x decimal.handling.mode=precise").contains("decimal.handling.mode=string"));
    }
}
