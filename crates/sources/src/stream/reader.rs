//! The reader: replication connection → pgoutput → typed events, in commit order, handed to the
//! pipeline with checkpoints (see the module docs of [`super`] for when a position is a checkpoint).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tidemark_debezium::{EncoderConfig, TablePlan};
use tidemark_model::{ChangeEvent, ChangeKind, Datum, Lsn, Row, SourceInfo, TableId};
use tidemark_pgwire::pgoutput::{self, PgOutput, Relation, StreamState, TupleValue};
use tidemark_pgwire::{ReplicationMessage, ReplicationStream, StartOptions, PG_EPOCH_OFFSET_US};
use tidemark_pipeline::{Change, Event, Output, PipelineOptions, Running, SourceBatch};
use tokio::sync::{mpsc, watch};

use super::history::{EnumColumns, History};
use super::liveness::{Due, Liveness};
use super::spill::SpillStore;
use super::{map_slot_error, StreamOptions, StreamSummary, HEARTBEAT_PREFIX};
use crate::catalog::Catalog;
use crate::filter::TableFilter;
use crate::SourceError;

/// Events per batch handed to the pipeline.
const BATCH_EVENTS: usize = 256;

fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// The open transaction.
struct Tx {
    xid: u32,
    commit_ts_us: i64,
    /// Replication origin (pgoutput sends an Origin message right after BEGIN when there is one).
    origin: Option<Arc<str>>,
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
    cfg: &'a EncoderConfig,
    history: &'a mut History,
    /// Per relation id; `None` when the filter leaves the table out.
    plans: HashMap<u32, Option<RelPlan>>,
    tx: Option<Tx>,
    last_commit_lsn: Option<Lsn>,
    batch: Vec<Event>,
    state: StreamState,
    stream_xid: Option<u32>,
    /// Replication origins of streamed (protocol 2) transactions not yet committed: pgoutput sends the
    /// Origin message once, after the transaction's first StreamStart, not at StreamCommit.
    stream_origins: HashMap<u32, Arc<str>>,
    spill: SpillStore,
    warned_dropped: std::collections::HashSet<u32>,
    out: mpsc::Sender<SourceBatch>,
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
    fn source(&self, lsn: Lsn) -> SourceInfo {
        let (ts_us, tx_id, origin) = match &self.tx {
            Some(t) => (t.commit_ts_us, Some(t.xid), t.origin.clone()),
            None => (now_us(), None, None),
        };
        SourceInfo {
            ts_us,
            tx_id,
            lsn: Some(lsn),
            last_commit_lsn: self.last_commit_lsn,
            snapshot: None,
            origin,
        }
    }

    async fn on_relation(&mut self, r: Relation) -> Result<(), SourceError> {
        let schema = if r.namespace.is_empty() { "pg_catalog" } else { r.namespace.as_str() };
        if !self.filter.includes(&TableId::new(schema, r.name.as_str())) {
            // Published but not asked for: its changes are decoded by the server, never emitted.
            self.plans.insert(r.oid, None);
            return Ok(());
        }
        let table = self.history.learn_relation(self.catalog, &r, self.cfg).await?;
        self.build_plan(r.oid, table)
    }

    fn build_plan(&mut self, relid: u32, table: Arc<tidemark_model::TableSchema>) -> Result<(), SourceError> {
        let plan = TablePlan::build(table, &self.history.reg, self.cfg)?;
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
        plan: &Arc<TablePlan>,
        kind: ChangeKind,
        before: Option<Row>,
        after: Option<Row>,
        lsn: Lsn,
    ) {
        let event = ChangeEvent {
            table: plan.table.clone(),
            kind,
            before,
            after,
            source: self.source(lsn),
            tx: None,
        };
        self.batch.push(Event::Change(Change { plan: plan.clone(), event }));
    }

    /// Row-level and message handling shared by normal and replayed (streamed) transactions.
    async fn on_data(&mut self, msg: PgOutput, lsn: Lsn) -> Result<Option<Lsn>, SourceError> {
        match msg {
            PgOutput::Relation(r) => self.on_relation(r).await?,
            PgOutput::Insert { relid, new, .. } => {
                let new = to_row(new);
                if let Some(plan) = self.plan_for_row(relid, &new).await? {
                    self.emit(&plan, ChangeKind::Insert, None, Some(new), lsn);
                }
            }
            PgOutput::Update { relid, old, new, .. } => {
                let new = to_row(new);
                if let Some(plan) = self.plan_for_row(relid, &new).await? {
                    self.emit(&plan, ChangeKind::Update, old.map(|(_, t)| to_row(t)), Some(new), lsn);
                }
            }
            PgOutput::Delete { relid, old, .. } => {
                let old = to_row(old);
                if let Some(plan) = self.plan_for_row(relid, &old).await? {
                    self.emit(&plan, ChangeKind::Delete, Some(old), None, lsn);
                }
            }
            PgOutput::Truncate { relids, .. } => {
                for relid in relids {
                    if let Some(plan) = self.plan(relid)? {
                        self.emit(&plan, ChangeKind::Truncate, None, None, lsn);
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
                    self.batch.push(Event::Message { prefix, content, transactional, source });
                    if !transactional && self.tx.is_none() {
                        return Ok(Some(mlsn));
                    }
                }
            }
            PgOutput::Type { oid, namespace, name, .. } => self.history.learn_type_name(oid, namespace, name),
            PgOutput::Origin { name, .. } => {
                if let Some(t) = self.tx.as_mut() {
                    t.origin = Some(name.into());
                }
            }
            other => {
                return Err(SourceError::Pg(tidemark_pgwire::PgError::Protocol(format!(
                    "unexpected message in transaction: {other:?}"
                ))))
            }
        }
        Ok(None)
    }

    fn begin(&mut self, xid: u32, commit_ts: i64, lsn: Lsn) {
        let commit_ts_us = commit_ts + PG_EPOCH_OFFSET_US;
        self.tx = Some(Tx { xid, commit_ts_us, origin: None });
        self.batch.push(Event::Begin { xid, lsn, commit_ts_us });
    }

    fn commit(&mut self, end_lsn: Lsn) {
        if let Some(tx) = self.tx.take() {
            self.batch.push(Event::Commit { xid: tx.xid, end_lsn, commit_ts_us: tx.commit_ts_us });
        }
        self.last_commit_lsn = Some(end_lsn);
    }

    /// Hand the current batch to the pipeline. Fails only when the pipeline has stopped (its own error
    /// is what the session reports).
    async fn push_batch(&mut self, confirm: Option<Lsn>) -> Result<(), SourceError> {
        let events = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH_EVENTS));
        self.out
            .send(SourceBatch { events, checkpoint: confirm })
            .await
            .map_err(|_| SourceError::PipelineStopped)
    }

    fn spill_err(&self, e: std::io::Error) -> SourceError {
        SourceError::Spill { dir: self.spill.dir().display().to_string(), source: e }
    }

    /// Handle one XLogData payload; returns a confirm position when one became safe.
    async fn on_xlog(&mut self, wal_start: Lsn, data: Bytes) -> Result<Option<Lsn>, SourceError> {
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
            if let PgOutput::Origin { name, .. } = &msg {
                self.stream_origins.insert(top, name.as_str().into());
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
                if xid == subxid {
                    self.stream_origins.remove(&xid);
                }
                self.spill.abort(xid, subxid).map_err(|e| self.spill_err(e))?;
                Ok(None)
            }
            PgOutput::StreamCommit { xid, end_lsn, commit_ts, .. } => {
                self.begin(xid, commit_ts, wal_start);
                if let (Some(t), Some(origin)) = (self.tx.as_mut(), self.stream_origins.remove(&xid)) {
                    t.origin = Some(origin);
                }
                if let Some(mut replay) = self.spill.commit(xid).map_err(|e| self.spill_err(e))? {
                    while let Some((lsn, bytes)) = replay.next_message().map_err(|e| self.spill_err(e))? {
                        let m = pgoutput::decode(bytes, true)?;
                        self.on_data(m, lsn).await?;
                        if self.batch.len() >= BATCH_EVENTS {
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

/// The pipeline's settings for a stream session.
pub(crate) fn pipeline_options(opts: &StreamOptions) -> PipelineOptions {
    let mut p = PipelineOptions::new(tidemark_debezium::Encoder::new(opts.encoder.clone()));
    p.failure_mode = opts.failure_mode;
    p.deliver.flush_interval = opts.flush_interval;
    p
}

/// One connection's worth of streaming, through a pipeline of its own (so a reconnect starts with no
/// half-seen transaction). Returns the output so a reconnect can reuse it (`None` only when the
/// pipeline lost it, which is then the error). `confirmed` is the position confirmed to the slot,
/// carried across sessions.
pub(crate) async fn session(
    opts: &StreamOptions,
    catalog: &Catalog,
    filter: &TableFilter,
    carry: &mut Carry,
    output: Output,
    shutdown: &mut watch::Receiver<bool>,
    confirmed: &mut Lsn,
) -> (Option<Output>, Result<StreamSummary, SourceError>) {
    let Carry { history, last_walsender } = carry;
    let mut rs = match ReplicationStream::connect(&opts.dsn).await {
        Ok(rs) => rs,
        Err(e) => return (Some(output), Err(SourceError::from_connect(e, &opts.dsn.user, &opts.dsn.addr()))),
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
        start_lsn: Lsn::ZERO,
    };
    if let Err(e) = rs.start(&start).await {
        return (Some(output), Err(map_slot_error(e, &opts.slot)));
    }
    if rs.backend_pid() != 0 {
        *last_walsender = Some(rs.backend_pid());
    }
    let spill = match SpillStore::new(&opts.spill_dir.join(&opts.slot)) {
        Ok(s) => s,
        Err(e) => {
            return (
                Some(output),
                Err(SourceError::Spill { dir: opts.spill_dir.display().to_string(), source: e }),
            )
        }
    };
    let pipeline = Running::start(output, &pipeline_options(opts));
    let mut durable_rx = pipeline.durable.clone();
    let mut reader = Reader {
        opts,
        catalog,
        filter,
        cfg: &opts.encoder,
        history,
        plans: HashMap::new(),
        tx: None,
        last_commit_lsn: None,
        batch: Vec::with_capacity(BATCH_EVENTS),
        state: StreamState::default(),
        stream_xid: None,
        stream_origins: HashMap::new(),
        spill,
        warned_dropped: Default::default(),
        out: pipeline.input.clone(),
    };
    let mut received = Lsn::ZERO;
    let mut last_marker = Lsn::ZERO;
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
                // The pipeline stopped (its sink failed, or a change could not be encoded): stop reading
                // at once; its error is reported below. Without this, a dead sink would only be noticed
                // at the next batch.
                _ = reader.out.closed() => return Ok(()),
                _ = durable_rx.changed() => {
                    let d = *durable_rx.borrow_and_update();
                    if d > *confirmed {
                        // Recorded before the slot hears of it: the slot never runs ahead of the file.
                        if let Some(o) = &opts.offsets_store { o.record(d)?; }
                        *confirmed = d;
                        metrics::gauge!(tidemark_pipeline::metrics::SOURCE_CONFIRMED_LSN).set(d.0 as f64);
                        rs.send_status(received.max(d), d, false).await?;
                    }
                    if opts.until_lsn.is_some_and(|u| *confirmed >= u) {
                        return Ok(());
                    }
                }
                _ = status_tick.tick() => {
                    rs.send_status(received.max(*confirmed), *confirmed, false).await?;
                }
                msg = rs.next_message() => {
                    let mut msg = Some(msg?);
                    // Drain whatever is already buffered before yielding back to select!.
                    while let Some(m) = msg.take() {
                        match m {
                            ReplicationMessage::XLogData { wal_start, data, .. } => {
                                received = received.max(wal_start);
                                let confirm = reader.on_xlog(wal_start, data).await?;
                                if confirm.is_some() || reader.batch.len() >= BATCH_EVENTS {
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
                                    rs.send_status(received.max(*confirmed), *confirmed, false).await?;
                                }
                            }
                            ReplicationMessage::End => {
                                return Err(SourceError::StreamEnded { addr: opts.dsn.addr() })
                            }
                        }
                        msg = rs.try_next_message()?;
                    }
                    metrics::gauge!(tidemark_pipeline::metrics::SOURCE_RECEIVED_LSN).set(received.0 as f64);
                    live.heard();
                }
                _ = live.wait() => match live.due() {
                    Some(Due::Ping) => rs.send_status(received.max(*confirmed), *confirmed, true).await?,
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
    // Hand over what is left, let the pipeline make it durable, then confirm what became durable.
    if !reader.batch.is_empty() {
        let _ = reader.push_batch(None).await;
    }
    drop(reader);
    let (output, pres) = match pipeline.finish().await {
        Ok(out) => (Some(out), Ok(())),
        Err((out, e)) => (out, Err(SourceError::Pipeline(e))),
    };
    let durable = *durable_rx.borrow();
    let recorded = match &opts.offsets_store {
        Some(o) if durable > *confirmed => o.record(durable),
        _ => Ok(()),
    };
    if durable > *confirmed && recorded.is_ok() {
        *confirmed = durable;
        metrics::gauge!(tidemark_pipeline::metrics::SOURCE_CONFIRMED_LSN).set(durable.0 as f64);
    }
    let result = match (result, pres, recorded) {
        (_, Err(e), _) => Err(e),
        (Err(e), _, _) => Err(e),
        (Ok(()), Ok(()), Err(e)) => Err(e),
        (Ok(()), Ok(()), Ok(())) => {
            let _ = rs.send_status(received.max(*confirmed), *confirmed, false).await;
            let _ = rs.finish().await;
            Ok(StreamSummary { confirmed_lsn: *confirmed })
        }
    };
    (output, result)
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
