//! The reader: replication connection → pgoutput → change events → records, in commit order.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tidemark_debezium::{Encoder, TablePlan};
use tidemark_model::{ChangeEvent, ChangeKind, Datum, Lsn, Record, Row, SourceInfo, TableId, TxInfo};
use tidemark_pgwire::pgoutput::{self, PgOutput, Relation, StreamState, TupleValue};
use tidemark_pgwire::{ReplicationMessage, ReplicationStream, StartOptions, PG_EPOCH_OFFSET_US};
use tidemark_sinks::Sink;
use tokio::sync::{mpsc, watch};

use super::history::{EnumColumns, History};
use super::liveness::{Due, Liveness};
use super::spill::SpillStore;
use super::writer::{self, Batch};
use super::{map_slot_error, FailureMode, Metrics, StreamOptions, StreamSummary, HEARTBEAT_PREFIX};
use crate::catalog::Catalog;
use crate::filter::TableFilter;
use crate::SourceError;

const BATCH_RECORDS: usize = 1024;

/// The data collection Debezium counts a transactional logical message under (its class name; Debezium
/// appends a per-message Java identity, tidemark the message prefix).
const MESSAGE_COLLECTION: &str =
    "io.debezium.connector.postgresql.LogicalDecodingMessageMonitor$LogicalDecodingMessageId";

fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

struct Tx {
    xid: u32,
    commit_ts_us: i64,
    total: u64,
    per_table: Vec<(String, u64)>,
}

/// How one relation id's changes are emitted.
struct RelPlan {
    plan: Arc<TablePlan>,
    /// Scalar enum columns, checked for labels added since the type was read.
    enums: EnumColumns,
}

struct Reader<'a> {
    opts: &'a StreamOptions,
    catalog: &'a Catalog,
    filter: &'a TableFilter,
    enc: Encoder,
    history: &'a mut History,
    /// Per relation id; `None` when the filter leaves the table out.
    plans: HashMap<u32, Option<RelPlan>>,
    tx: Option<Tx>,
    last_commit_lsn: Option<u64>,
    batch: Vec<Record>,
    state: StreamState,
    stream_xid: Option<u32>,
    spill: SpillStore,
    metrics: &'a Metrics,
    warned_dropped: std::collections::HashSet<u32>,
    out: mpsc::Sender<Batch>,
}

fn to_row(t: Vec<TupleValue>) -> Row {
    t.into_iter()
        .map(|v| match v {
            TupleValue::Null => Datum::Null,
            TupleValue::UnchangedToast => Datum::UnchangedToast,
            TupleValue::Text(b) => Datum::Text(b),
            TupleValue::Binary(b) => Datum::Binary(b),
        })
        .collect()
}

impl Reader<'_> {
    fn source(&self, lsn: u64) -> SourceInfo {
        let (ts_us, tx_id) = match &self.tx {
            Some(t) => (t.commit_ts_us, Some(t.xid)),
            None => (now_us(), None),
        };
        SourceInfo {
            ts_us,
            tx_id,
            lsn: Some(Lsn(lsn)),
            last_commit_lsn: self.last_commit_lsn.map(Lsn),
            snapshot: None,
        }
    }

    fn tx_info(&mut self, table: &TableId, lsn: u64) -> Option<TxInfo> {
        if !self.enc.config().transaction_metadata {
            return None;
        }
        let tx = self.tx.as_mut()?;
        tx.total += 1;
        let name = format!("{}.{}", table.schema, table.name);
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

    async fn on_relation(&mut self, r: Relation) -> Result<(), SourceError> {
        let schema = if r.namespace.is_empty() { "pg_catalog" } else { r.namespace.as_str() };
        if !self.filter.includes(&TableId::new(schema, r.name.as_str())) {
            // Published but not asked for: its changes are decoded by the server, never emitted.
            self.plans.insert(r.oid, None);
            return Ok(());
        }
        let table = self.history.learn_relation(self.catalog, &r, self.enc.config()).await?;
        self.build_plan(r.oid, table)
    }

    fn build_plan(&mut self, relid: u32, table: Arc<tidemark_model::TableSchema>) -> Result<(), SourceError> {
        let plan = TablePlan::build(table, &self.history.reg, self.enc.config())?;
        if !plan.dropped_columns.is_empty() && self.warned_dropped.insert(relid) {
            tracing::warn!(
                table = %plan.table.id,
                columns = ?plan.dropped_columns,
                "columns of types Debezium does not map are left out (set include.unknown.datatypes=true to keep them as bytes)"
            );
        }
        let enums = self.history.enum_columns(&plan.table);
        self.plans.insert(relid, Some(RelPlan { plan: Arc::new(plan), enums }));
        Ok(())
    }

    /// The plan for a relation id; `None` when the filter leaves the table out.
    fn plan(&self, relid: u32) -> Result<Option<Arc<TablePlan>>, SourceError> {
        match self.plans.get(&relid) {
            Some(p) => Ok(p.as_ref().map(|p| p.plan.clone())),
            None => Err(SourceError::Pg(tidemark_pgwire::PgError::Protocol(format!(
                "change for relation {relid} before its Relation message"
            )))),
        }
    }

    /// The plan for a row change, after re-reading any enum type whose value in `row` is a label
    /// added since the type was read (`ALTER TYPE … ADD VALUE` sends no Relation message).
    async fn plan_for_row(&mut self, relid: u32, row: &Row) -> Result<Option<Arc<TablePlan>>, SourceError> {
        let stale = match self.plans.get(&relid) {
            Some(Some(p)) if !p.enums.is_empty() => self.history.stale_enum(&p.enums, row),
            _ => None,
        };
        if let Some(oid) = stale {
            self.catalog.refresh_types(&mut self.history.reg, [oid]).await?;
            let affected: Vec<(u32, Arc<tidemark_model::TableSchema>)> = self
                .plans
                .iter()
                .filter_map(|(id, p)| p.as_ref().map(|p| (*id, p)))
                .filter(|(_, p)| p.enums.iter().any(|(_, o)| *o == oid))
                .map(|(id, p)| (id, p.plan.table.clone()))
                .collect();
            for (id, table) in affected {
                self.build_plan(id, table)?;
            }
        }
        self.plan(relid)
    }

    fn emit(
        &mut self,
        plan: &TablePlan,
        kind: ChangeKind,
        before: Option<Row>,
        after: Option<Row>,
        lsn: u64,
    ) -> Result<(), SourceError> {
        let counters = self.tx.as_ref().map(|t| (t.total, t.per_table.clone()));
        let tx = self.tx_info(&plan.table.id, lsn);
        let ev = ChangeEvent { table: plan.table.clone(), kind, before, after, source: self.source(lsn), tx };
        let start = self.batch.len();
        if let Err(e) = self.enc.encode_change(plan, &ev, now_us(), &mut self.batch) {
            // Nothing of a failed event reaches the sink, and it takes no transaction order number.
            self.batch.truncate(start);
            if let (Some(t), Some((total, per_table))) = (self.tx.as_mut(), counters) {
                t.total = total;
                t.per_table = per_table;
            }
            let at = tidemark_pgwire::replication::fmt_lsn(lsn);
            return match self.opts.failure_mode {
                FailureMode::Fail => {
                    Err(SourceError::EventFailed { lsn: at, detail: super::failure::advice(&e.to_string()) })
                }
                FailureMode::Warn => {
                    tracing::warn!(table = %plan.table.id, lsn = %at, error = %e, "skipped a change that cannot be encoded (event.processing.failure.handling.mode=warn)");
                    Ok(())
                }
                FailureMode::Skip => {
                    tracing::debug!(table = %plan.table.id, lsn = %at, error = %e, "skipped a change that cannot be encoded");
                    Ok(())
                }
            };
        }
        self.metrics.events.fetch_add(1, Ordering::Relaxed);
        let mut changes = 0u64;
        for r in &self.batch[start..] {
            self.metrics.count_op(r.op);
            changes += (r.kind == tidemark_model::RecordKind::Change) as u64;
        }
        // A key change is two change records (delete, create); each takes a transaction order number.
        if changes > 1 && self.enc.config().transaction_metadata {
            if let Some(tx) = self.tx.as_mut() {
                tx.total += changes - 1;
                let name = format!("{}.{}", plan.table.id.schema, plan.table.id.name);
                if let Some((_, n)) = tx.per_table.iter_mut().find(|(t, _)| *t == name) {
                    *n += changes - 1;
                }
            }
        }
        Ok(())
    }

    /// Row-level and message handling shared by normal and replayed (streamed) transactions.
    async fn on_data(&mut self, msg: PgOutput, lsn: u64) -> Result<Option<u64>, SourceError> {
        match msg {
            PgOutput::Relation(r) => self.on_relation(r).await?,
            PgOutput::Insert { relid, new, .. } => {
                let new = to_row(new);
                if let Some(plan) = self.plan_for_row(relid, &new).await? {
                    self.emit(&plan, ChangeKind::Insert, None, Some(new), lsn)?;
                }
            }
            PgOutput::Update { relid, old, new, .. } => {
                let new = to_row(new);
                if let Some(plan) = self.plan_for_row(relid, &new).await? {
                    self.emit(&plan, ChangeKind::Update, old.map(|(_, t)| to_row(t)), Some(new), lsn)?;
                }
            }
            PgOutput::Delete { relid, old, .. } => {
                let old = to_row(old);
                if let Some(plan) = self.plan_for_row(relid, &old).await? {
                    self.emit(&plan, ChangeKind::Delete, Some(old), None, lsn)?;
                }
            }
            PgOutput::Truncate { relids, .. } => {
                for relid in relids {
                    if let Some(plan) = self.plan(relid)? {
                        self.emit(&plan, ChangeKind::Truncate, None, None, lsn)?;
                    }
                }
            }
            PgOutput::Message { transactional, lsn: mlsn, prefix, content, .. } => {
                if prefix == HEARTBEAT_PREFIX {
                    if !transactional && self.tx.is_none() {
                        return Ok(Some(mlsn));
                    }
                } else if self.opts.emit_messages {
                    let source = self.source(mlsn);
                    let tx = if transactional { self.message_tx_info(&prefix, mlsn) } else { None };
                    let rec = self.enc.encode_message(&prefix, &content, &source, tx.as_ref(), now_us());
                    self.metrics.count_op("m");
                    self.batch.push(rec);
                    if !transactional && self.tx.is_none() {
                        return Ok(Some(mlsn));
                    }
                }
            }
            PgOutput::Type { oid, namespace, name, .. } => self.history.learn_type_name(oid, namespace, name),
            PgOutput::Origin { .. } => {}
            other => {
                return Err(SourceError::Pg(tidemark_pgwire::PgError::Protocol(format!(
                    "unexpected message in transaction: {other:?}"
                ))))
            }
        }
        Ok(None)
    }

    fn begin(&mut self, xid: u32, commit_ts: i64, lsn: u64) {
        self.tx =
            Some(Tx { xid, commit_ts_us: commit_ts + PG_EPOCH_OFFSET_US, total: 0, per_table: Vec::new() });
        if self.enc.config().transaction_metadata {
            let rec =
                self.enc.encode_transaction(&format!("{xid}:{lsn}"), commit_ts + PG_EPOCH_OFFSET_US, None);
            self.batch.push(rec);
        }
    }

    fn commit(&mut self, end_lsn: u64) {
        if let Some(tx) = self.tx.take() {
            if self.enc.config().transaction_metadata {
                let rec = self.enc.encode_transaction(
                    &format!("{}:{}", tx.xid, end_lsn),
                    tx.commit_ts_us,
                    Some(&tx.per_table),
                );
                self.batch.push(rec);
            }
        }
        self.last_commit_lsn = Some(end_lsn);
        self.metrics.transactions.fetch_add(1, Ordering::Relaxed);
    }

    /// Hand the current batch to the writer. Fails only when the writer has stopped (its own error is
    /// what the session reports).
    async fn push_batch(&mut self, confirm: Option<u64>) -> Result<(), SourceError> {
        let records = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH_RECORDS));
        self.metrics.records.fetch_add(records.len() as u64, Ordering::Relaxed);
        self.out
            .send(Batch { records, confirm })
            .await
            .map_err(|_| SourceError::Pg(tidemark_pgwire::PgError::Protocol("sink writer stopped".into())))
    }

    fn spill_err(&self, e: std::io::Error) -> SourceError {
        SourceError::Spill { dir: self.spill.dir().display().to_string(), source: e }
    }

    /// Handle one XLogData payload; returns a confirm position when one became safe.
    async fn on_xlog(&mut self, wal_start: u64, data: Bytes) -> Result<Option<u64>, SourceError> {
        let msg = self.state.decode(data.clone())?;
        if let Some(top) = self.stream_xid {
            let sub = match &msg {
                PgOutput::Relation(r) => r.xid,
                PgOutput::Type { xid, .. }
                | PgOutput::Insert { xid, .. }
                | PgOutput::Update { xid, .. }
                | PgOutput::Delete { xid, .. }
                | PgOutput::Truncate { xid, .. }
                | PgOutput::Message { xid, .. } => *xid,
                _ => None,
            };
            if let Some(sub) = sub {
                self.spill.append(top, sub, wal_start, &data).map_err(|e| self.spill_err(e))?;
                return Ok(None);
            }
        }
        match msg {
            PgOutput::Begin { xid, commit_ts, .. } => {
                self.begin(xid, commit_ts, wal_start);
                Ok(None)
            }
            PgOutput::Commit { end_lsn, .. } => {
                self.commit(end_lsn);
                Ok(Some(end_lsn))
            }
            PgOutput::StreamStart { xid, .. } => {
                self.stream_xid = Some(xid);
                Ok(None)
            }
            PgOutput::StreamStop => {
                self.stream_xid = None;
                Ok(None)
            }
            PgOutput::StreamAbort { xid, subxid } => {
                self.spill.abort(xid, subxid).map_err(|e| self.spill_err(e))?;
                Ok(None)
            }
            PgOutput::StreamCommit { xid, end_lsn, commit_ts, .. } => {
                self.begin(xid, commit_ts, wal_start);
                if let Some(mut replay) = self.spill.commit(xid).map_err(|e| self.spill_err(e))? {
                    while let Some((lsn, bytes)) = replay.next_message().map_err(|e| self.spill_err(e))? {
                        let m = pgoutput::decode(bytes, true)?;
                        self.on_data(m, lsn).await?;
                        if self.batch.len() >= BATCH_RECORDS {
                            self.push_batch(None).await?;
                        }
                    }
                }
                self.commit(end_lsn);
                Ok(Some(end_lsn))
            }
            other => self.on_data(other, wal_start).await,
        }
    }
}

/// What one session hands the next: what was learned of the relations and types, and the walsender
/// that may still hold the slot after a half-open connection.
#[derive(Default)]
pub(crate) struct Carry {
    pub(crate) history: History,
    pub(crate) last_walsender: Option<i32>,
}

/// One connection's worth of streaming. Returns the sink so a reconnect can reuse it.
pub(crate) async fn session(
    opts: &StreamOptions,
    catalog: &Catalog,
    filter: &TableFilter,
    carry: &mut Carry,
    sink: Box<dyn Sink>,
    shutdown: &mut watch::Receiver<bool>,
    metrics: &Metrics,
) -> (Box<dyn Sink>, Result<StreamSummary, SourceError>) {
    let Carry { history, last_walsender } = carry;
    let mut rs = match ReplicationStream::connect(&opts.dsn).await {
        Ok(rs) => rs,
        Err(e) => return (sink, Err(SourceError::from_connect(e, &opts.dsn.user, &opts.dsn.addr()))),
    };
    if let Some(pid) = last_walsender.take() {
        release_stale_walsender(&mut rs, &opts.slot, pid).await;
    }
    let start = StartOptions {
        slot: opts.slot.clone(),
        publications: vec![opts.publication.clone()],
        proto_version: if opts.streaming { opts.proto_version.max(2) } else { opts.proto_version },
        streaming: opts.streaming,
        messages: true,
        start_lsn: 0,
    };
    if let Err(e) = rs.start(&start).await {
        return (sink, Err(map_slot_error(e, &opts.slot)));
    }
    if rs.backend_pid() != 0 {
        *last_walsender = Some(rs.backend_pid());
    }
    let spill = match SpillStore::new(&opts.spill_dir.join(&opts.slot)) {
        Ok(s) => s,
        Err(e) => {
            return (sink, Err(SourceError::Spill { dir: opts.spill_dir.display().to_string(), source: e }))
        }
    };
    let (tx, rx) = mpsc::channel::<Batch>(4);
    let (durable_tx, mut durable_rx) = watch::channel(0u64);
    let writer = tokio::spawn(writer::run(sink, rx, durable_tx, opts.flush_interval));
    let mut reader = Reader {
        opts,
        catalog,
        filter,
        enc: tidemark_debezium::Encoder::new(opts.encoder.clone()),
        history,
        plans: HashMap::new(),
        tx: None,
        last_commit_lsn: None,
        batch: Vec::with_capacity(BATCH_RECORDS),
        state: StreamState::default(),
        stream_xid: None,
        spill,
        metrics,
        warned_dropped: Default::default(),
        out: tx,
    };
    let mut received = 0u64;
    let mut confirmed = 0u64;
    let mut last_marker = 0u64;
    let mut status_tick = tokio::time::interval(opts.status_interval);
    status_tick.tick().await;
    let mut live = Liveness::new(opts.receive_timeout);
    let result: Result<(), SourceError> = async {
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => {
                    if *shutdown.borrow() { return Ok(()); }
                }
                // The writer stopped (its sink failed): stop reading at once; its error is reported
                // below. Without this, a dead sink would only be noticed at the next batch.
                _ = reader.out.closed() => return Ok(()),
                _ = durable_rx.changed() => {
                    let d = *durable_rx.borrow_and_update();
                    if d > confirmed {
                        // Recorded before the slot hears of it: the slot never runs ahead of the file.
                        if let Some(o) = &opts.offsets_store { o.record(Lsn(d))?; }
                        confirmed = d;
                        metrics.confirmed_lsn.store(d, Ordering::Relaxed);
                        rs.send_status(received.max(d), d, false).await?;
                    }
                    if opts.until_lsn.is_some_and(|u| confirmed >= u) {
                        return Ok(());
                    }
                }
                _ = status_tick.tick() => {
                    rs.send_status(received.max(confirmed), confirmed, false).await?;
                }
                msg = rs.next_message() => {
                    let mut msg = Some(msg?);
                    // Drain whatever is already buffered before yielding back to select!.
                    while let Some(m) = msg.take() {
                        match m {
                            ReplicationMessage::XLogData { wal_start, data, .. } => {
                                received = received.max(wal_start);
                                let confirm = reader.on_xlog(wal_start, data).await?;
                                if confirm.is_some() || reader.batch.len() >= BATCH_RECORDS {
                                    if let Some(c) = confirm { last_marker = last_marker.max(c); }
                                    reader.push_batch(confirm).await?;
                                }
                            }
                            ReplicationMessage::Keepalive { wal_end, reply_requested, .. } => {
                                received = received.max(wal_end);
                                if reader.tx.is_none() && wal_end > last_marker {
                                    last_marker = wal_end;
                                    reader.push_batch(Some(wal_end)).await?;
                                }
                                if reply_requested {
                                    rs.send_status(received.max(confirmed), confirmed, false).await?;
                                }
                            }
                            ReplicationMessage::End => {
                                return Err(SourceError::StreamEnded { addr: opts.dsn.addr() })
                            }
                        }
                        msg = rs.try_next_message()?;
                    }
                    metrics.received_lsn.store(received, Ordering::Relaxed);
                    live.heard();
                }
                _ = live.wait() => match live.due() {
                    Some(Due::Ping) => rs.send_status(received.max(confirmed), confirmed, true).await?,
                    Some(Due::Dead(waited)) => {
                        return Err(SourceError::ReceiveTimeout {
                            addr: opts.dsn.addr(),
                            waited_ms: waited.as_millis() as u64,
                        })
                    }
                    None => {}
                },
            }
        }
    }
    .await;
    // Hand over what is left, let the writer flush, then confirm what became durable.
    if !reader.batch.is_empty() {
        let _ = reader.push_batch(None).await;
    }
    drop(reader);
    let (sink, wres) = match writer.await {
        Ok(v) => v,
        Err(e) => panic!("sink writer task panicked: {e}"),
    };
    let durable = *durable_rx.borrow();
    let recorded = match &opts.offsets_store {
        Some(o) if durable > confirmed => o.record(Lsn(durable)),
        _ => Ok(()),
    };
    if durable > confirmed && recorded.is_ok() {
        confirmed = durable;
        metrics.confirmed_lsn.store(durable, Ordering::Relaxed);
    }
    let result = match (result, wres, recorded) {
        (_, Err(e), _) => Err(SourceError::Sink(e)),
        (Err(e), _, _) => Err(e),
        (Ok(()), Ok(()), Err(e)) => Err(e),
        (Ok(()), Ok(()), Ok(())) => {
            let _ = rs.send_status(received.max(confirmed), confirmed, false).await;
            let _ = rs.finish().await;
            Ok(metrics.summary())
        }
    };
    (sink, result)
}

/// After a half-open connection the server may not have noticed yet that tidemark's previous
/// walsender lost its client, and that walsender still holds the slot, so START_REPLICATION would
/// fail with "slot is active" until `wal_sender_timeout` passes. End it — only if it is exactly the
/// process tidemark itself was streaming from and it still holds this slot. Failure (say, a role
/// that may not signal it) only means the slot stays busy until the server times it out; the
/// reconnect then reports that.
async fn release_stale_walsender(rs: &mut ReplicationStream, slot: &str, pid: i32) {
    let wait = if rs.server_version_num() >= 140000 { ", 5000" } else { "" };
    let sql = format!(
        "SELECT pg_terminate_backend(active_pid{wait}) FROM pg_replication_slots \
         WHERE slot_name = '{}' AND active_pid = {pid}",
        slot.replace('\'', "''")
    );
    match rs.simple_query(&sql).await {
        Ok(r) if !r.rows.is_empty() => tracing::warn!(
            slot,
            pid,
            "ended tidemark's previous walsender, which still held the slot after the connection was lost"
        ),
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(slot, pid, error = %e, "could not end tidemark's previous walsender; the slot stays busy until the server's wal_sender_timeout")
        }
    }
}
