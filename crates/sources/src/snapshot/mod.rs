//! Initial snapshots: every row that exists when the slot is created, as Debezium `r` events, before
//! the slot's first change.
//!
//! Consistency: the replication slot is created with an exported snapshot, and the connection that
//! created it stays open (idle) until every row is read — the export lives only that long. Every worker
//! joins that snapshot (`SET TRANSACTION SNAPSHOT`), so all tables are read as of the slot's consistent
//! point; the stream then starts at that point. A change is in the snapshot exactly when it committed
//! before the consistent point, and in the stream exactly when it committed after: nothing is lost,
//! nothing is emitted twice.
//!
//! Parallelism with bounded memory: tables are split into heap block ranges (`ctid` TID range scans,
//! PostgreSQL ≥ 14; one range per table below that, or for partitioned parents) read by
//! `snapshot.max.threads` workers over the COPY reader. Ranges are numbered in table order; each has
//! a channel of two batches, and the emitter drains them strictly in order, so events leave table by
//! table as Debezium emits them, and a worker ahead of the emitter waits once its range's channel is
//! full. No `ORDER BY` is needed, so keyless tables and any key type work.
//!
//! Durability and restarts: the offsets file says "snapshot pending" from before the slot is created
//! until every snapshot event is durable in the sink ([`SnapshotMode`] decides whether one is taken).
//! A run that finds it pending (the previous one was killed mid-snapshot) drops the slot — nothing
//! was confirmed from it — and takes the whole snapshot again in a fresh export, as Debezium reruns an
//! interrupted snapshot; consumers see the rows of the interrupted attempt twice (at-least-once).
//!
//! Events (as the real connector writes them, checked against its fixtures): `op: r`, no `before`,
//! `source.snapshot` from [`markers`], tables in (schema, name) order, `source.lsn` the consistent
//! point (`sequence` `[null, lsn]`), `source.txId` the first transaction id the snapshot does not see,
//! `source.ts_ms` the snapshot's start on the server's clock, no transaction block.

mod markers;
mod ranges;

pub use markers::Markers;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tidemark_debezium::{EncoderConfig, TypeRegistry};
use tidemark_model::{ChangeEvent, ChangeKind, Datum, Lsn, Row, SourceInfo, TableId};
use tidemark_pgwire::Dsn;
use tidemark_pipeline::{Change, Event, SourceBatch};
use tokio::sync::mpsc;

use self::ranges::{Range, TableRead};
use crate::catalog::Catalog;
use crate::copy::{self, CopyLines};
use crate::SourceError;

/// Rows per batch handed from a worker to the emitter, and events per batch into the pipeline.
const BATCH_ROWS: usize = 256;

/// Debezium's `snapshot.mode` values tidemark implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotMode {
    /// Snapshot when the slot is created (no offsets yet), then stream (Debezium's default).
    Initial,
    /// Like `initial`, then stop without streaming.
    InitialOnly,
    /// Never read table data; stream from the slot (`no_data`, formerly `never`).
    NoData,
}

impl SnapshotMode {
    /// Parse a `snapshot.mode` value.
    pub fn parse(s: &str) -> Result<SnapshotMode, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "initial" => Ok(SnapshotMode::Initial),
            "initial_only" => Ok(SnapshotMode::InitialOnly),
            "no_data" | "never" => Ok(SnapshotMode::NoData),
            "when_needed" | "always" | "configuration_based" | "custom" | "recovery" => Err(format!(
                "snapshot.mode={s} is not implemented yet; use initial, initial_only or no_data (or take a one-off \
                 copy of the tables another way and stream with no_data)"
            )),
            _ => Err(format!("unknown snapshot.mode {s:?}: use initial, initial_only or no_data (alias never)")),
        }
    }

    /// Whether this mode reads table data when the slot is created.
    pub fn takes_data(self) -> bool {
        !matches!(self, SnapshotMode::NoData)
    }

    /// Whether streaming follows the snapshot.
    pub fn streams(self) -> bool {
        !matches!(self, SnapshotMode::InitialOnly)
    }
}

/// How an initial snapshot runs.
#[derive(Debug, Clone)]
pub struct SnapshotOptions {
    /// `snapshot.mode`.
    pub mode: SnapshotMode,
    /// `snapshot.include.collection.list`: captured tables to snapshot (names or patterns); empty = all.
    pub include: Vec<String>,
    /// `snapshot.max.threads`: tables and block ranges read at once.
    pub max_threads: usize,
    /// Heap pages per range one worker reads (8 KiB each).
    pub pages_per_range: u32,
}

impl Default for SnapshotOptions {
    fn default() -> Self {
        SnapshotOptions {
            mode: SnapshotMode::Initial,
            include: Vec::new(),
            max_threads: 4,
            pages_per_range: 4096,
        }
    }
}

/// The snapshot a new slot exported, alive while the connection that created the slot is.
#[derive(Debug, Clone)]
pub struct Exported {
    /// `snapshot_name` of CREATE_REPLICATION_SLOT.
    pub name: String,
    /// The slot's consistent point: where streaming starts.
    pub consistent_point: Lsn,
}

/// What a finished snapshot read.
#[derive(Debug, Clone, Default)]
pub struct SnapshotSummary {
    /// Tables read, in order, with their row counts.
    pub tables: Vec<(TableId, u64)>,
    /// Rows read in all.
    pub rows: u64,
}

/// Read `tables` (already filtered: captured, and in `snapshot.include.collection.list`) in the
/// exported snapshot, handing `r` events to `input` in table order. Returns when every event was
/// handed over (the caller waits for durability).
pub async fn read(
    dsn: &Dsn,
    catalog: &Catalog,
    tables: &[TableId],
    exported: &Exported,
    opts: &SnapshotOptions,
    cfg: &EncoderConfig,
    input: &mpsc::Sender<SourceBatch>,
) -> Result<SnapshotSummary, SourceError> {
    // Inside the export: its start time, and the first transaction id it does not see (what the
    // real connector writes as `txId`: the id its own snapshot transaction gets, which is that one).
    let (started_us, xid) = {
        let mut c =
            copy::join_snapshot(dsn, &exported.name).await.map_err(|e| import_error(e, &exported.name))?;
        let r = c
            .simple_query(
                "SELECT (extract(epoch FROM now()) * 1000000)::bigint::text AS now, \
                 txid_snapshot_xmax(txid_current_snapshot())::text AS xmax",
            )
            .await
            .map_err(SourceError::Pg)?;
        let now: i64 = r.get("now").and_then(|v| v.parse().ok()).unwrap_or(0);
        let xmax: Option<u64> = r.get("xmax").and_then(|v| v.parse().ok());
        (now, xmax.map(|x| (x & 0xffff_ffff) as u32))
    };
    let mut types = TypeRegistry::default();
    let (reads, work) = ranges::plan(catalog, tables, &mut types, cfg, opts.pages_per_range).await?;
    tracing::info!(
        tables = reads.len(),
        ranges = work.len(),
        threads = opts.max_threads,
        snapshot = %exported.name,
        consistent_point = %exported.consistent_point,
        "initial snapshot: reading every captured table as of the slot's consistent point"
    );
    let reads = Arc::new(reads);
    // One channel per range, drained in order by the emitter below.
    let mut senders = Vec::with_capacity(work.len());
    let mut receivers = Vec::with_capacity(work.len());
    for _ in &work {
        let (tx, rx) = mpsc::channel::<RowBatch>(2);
        senders.push(Mutex::new(Some(tx)));
        receivers.push(rx);
    }
    let shared = Arc::new(Shared { work, senders, next: AtomicUsize::new(0), reads: reads.clone() });
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..opts.max_threads.max(1).min(shared.work.len().max(1)) {
        let (sh, dsn, name) = (shared.clone(), dsn.clone(), exported.name.clone());
        workers.spawn(async move { worker(sh, dsn, name).await });
    }

    let source = SourceInfo {
        ts_us: started_us,
        tx_id: xid,
        lsn: Some(exported.consistent_point),
        snapshot: Some("true"),
        ..Default::default()
    };
    let mut markers: Markers<Change> = Markers::default();
    let mut batch: Vec<Event> = Vec::with_capacity(BATCH_ROWS);
    let mut summary =
        SnapshotSummary { tables: reads.iter().map(|r| (r.plan.table.id.clone(), 0)).collect(), rows: 0 };
    let started = Instant::now();
    let mut last_log = Instant::now();
    let estimated: u64 = reads.iter().map(|r| r.estimated_rows).sum();
    let send = |batch: Vec<Event>| async {
        input
            .send(SourceBatch { events: batch, checkpoint: None })
            .await
            .map_err(|_| SourceError::PipelineStopped)
    };
    for (i, mut rx) in receivers.into_iter().enumerate() {
        let table = shared.work[i].table;
        let plan = &reads[table].plan;
        while let Some(rows) = rx.recv().await {
            let rows = rows?;
            let n = rows.len() as u64;
            summary.tables[table].1 += n;
            summary.rows += n;
            metrics::counter!(tidemark_pipeline::metrics::SNAPSHOT_ROWS, "table" => plan.table.id.to_string())
                .increment(n);
            for row in rows {
                let change = Change {
                    plan: plan.clone(),
                    event: ChangeEvent {
                        table: plan.table.clone(),
                        kind: ChangeKind::Read,
                        before: None,
                        after: Some(row),
                        source: source.clone(),
                        tx: None,
                    },
                };
                if let Some((mut c, marker)) = markers.push(table, change) {
                    c.event.source.snapshot = Some(marker);
                    batch.push(Event::Change(c));
                }
            }
            if batch.len() >= BATCH_ROWS {
                send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH_ROWS))).await?;
            }
            if last_log.elapsed().as_secs() >= 5 {
                last_log = Instant::now();
                let secs = started.elapsed().as_secs_f64().max(0.001);
                let rate = summary.rows as f64 / secs;
                // From the planner's row estimates; unknown for never-analyzed tables.
                let eta = if estimated > summary.rows && rate > 0.0 {
                    format!("{:.0}s", (estimated - summary.rows) as f64 / rate)
                } else {
                    "unknown".into()
                };
                tracing::info!(
                    table = %plan.table.id,
                    rows = summary.rows,
                    estimated_rows = estimated,
                    rows_per_s = rate as u64,
                    eta = %eta,
                    ranges_done = i,
                    ranges = shared.work.len(),
                    "initial snapshot in progress"
                );
            }
        }
    }
    if let Some((mut c, marker)) = markers.finish() {
        c.event.source.snapshot = Some(marker);
        batch.push(Event::Change(c));
    }
    if !batch.is_empty() {
        send(batch).await?;
    }
    while let Some(r) = workers.join_next().await {
        match r {
            Ok(res) => res?,
            Err(e) => return Err(SourceError::Internal(format!("a snapshot worker failed: {e}"))),
        }
    }
    for (t, n) in &summary.tables {
        tracing::info!(table = %t, rows = n, "initial snapshot: table read");
    }
    Ok(summary)
}

/// A range's rows in batches, or why its worker stopped.
type RowBatch = Result<Vec<Row>, SourceError>;
type RowSender = mpsc::Sender<RowBatch>;

/// What the workers share: the ranges in order, each range's sender, the next range to take.
struct Shared {
    work: Vec<Range>,
    senders: Vec<Mutex<Option<RowSender>>>,
    next: AtomicUsize,
    reads: Arc<Vec<TableRead>>,
}

impl Shared {
    /// A worker failed: no range is taken any more, and the channels of ranges nobody took close. The
    /// emitter reaches the failed range (taken before any of those) first, so it reports the error
    /// rather than a short snapshot.
    fn abandon(&self) {
        self.next.fetch_max(self.work.len(), Ordering::Relaxed);
        for s in &self.senders {
            drop(s.lock().unwrap_or_else(|p| p.into_inner()).take());
        }
    }
}

/// Take ranges in order until none is left; send each range's rows to its channel.
async fn worker(sh: Arc<Shared>, dsn: Dsn, snapshot: String) -> Result<(), SourceError> {
    let mut conn = None;
    loop {
        let i = sh.next.fetch_add(1, Ordering::Relaxed);
        if i >= sh.work.len() {
            return Ok(());
        }
        let Some(tx) = sh.senders[i].lock().unwrap_or_else(|p| p.into_inner()).take() else { continue };
        if conn.is_none() {
            match copy::join_snapshot(&dsn, &snapshot).await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    // The emitter reaches this range before any later one and reports the error.
                    let _ = tx.send(Err(import_error(e, &snapshot))).await;
                    sh.abandon();
                    return Ok(());
                }
            }
        }
        let c = conn.as_mut().expect("connected above");
        let range = &sh.work[i];
        let read = &sh.reads[range.table];
        let sql = format!("COPY ({}{}) TO STDOUT", read.select, range.predicate());
        if let Err(e) = read_range(c, &sql, &tx).await {
            let e = match e {
                SourceError::Pg(p) if p.code() == Some("42501") => SourceError::SnapshotDenied {
                    table: read.plan.table.id.to_string(),
                    user: dsn.user.clone(),
                    reason: p.to_string(),
                },
                other => other,
            };
            let _ = tx.send(Err(e)).await;
            sh.abandon();
            return Ok(());
        }
    }
}

/// A worker that cannot join the exported snapshot: the export ended (the slot's connection closed).
fn import_error(e: SourceError, snapshot: &str) -> SourceError {
    match e {
        SourceError::Pg(p) if p.code().is_some_and(|c| c == "22023" || c == "0A000") => {
            SourceError::SnapshotGone { snapshot: snapshot.to_string(), reason: p.to_string() }
        }
        other => other,
    }
}

async fn read_range(
    conn: &mut tidemark_pgwire::Connection,
    sql: &str,
    tx: &RowSender,
) -> Result<(), SourceError> {
    let mut lines = CopyLines::start(conn, sql).await.map_err(SourceError::Pg)?;
    let mut rows = Vec::with_capacity(BATCH_ROWS);
    while let Some(line) = lines.next_line().await.map_err(SourceError::Pg)? {
        rows.push(
            copy::fields(&line)
                .into_iter()
                .map(|f| if copy::is_null(&f) { Datum::Null } else { Datum::Text(copy::unescape(&f)) })
                .collect::<Row>(),
        );
        if rows.len() >= BATCH_ROWS
            && tx.send(Ok(std::mem::replace(&mut rows, Vec::with_capacity(BATCH_ROWS)))).await.is_err()
        {
            return Err(SourceError::PipelineStopped);
        }
    }
    if !rows.is_empty() && tx.send(Ok(rows)).await.is_err() {
        return Err(SourceError::PipelineStopped);
    }
    Ok(())
}
