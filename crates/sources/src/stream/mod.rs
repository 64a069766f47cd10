//! `tidemark stream`: logical replication → typed events → the pipeline → sink, at-least-once.
//!
//! Shape: a *reader* ([`reader`], this task) owns the replication connection, decodes pgoutput and
//! hands batches of typed events to a [`tidemark_pipeline`] (encode and deliver stages, the sink).
//! Each batch may carry a checkpoint LSN that means "every event at or below this LSN is in this batch
//! or an earlier one". The pipeline publishes an LSN as durable only once the sink has acknowledged
//! every record up to it, and the reader sends the slot only durable LSNs. That is the whole no-loss
//! argument:
//!
//! - confirm markers are sent at transaction commits (the commit's end LSN), at keepalives and
//!   heartbeat messages received while no transaction is open (everything before was sent already);
//! - streamed (protocol 2) transactions are spilled to disk and replayed at their commit, so a
//!   keepalive confirm can never cover a change we have not emitted: an uncommitted streamed
//!   transaction's commit lies after any position we confirm, and the server resends it after a
//!   restart;
//! - after a crash the slot restarts at its confirmed position and anything after it is sent again,
//!   with the same `source.lsn` and `source.txId`.
//!
//! Idle captures still advance the slot: keepalive positions are confirmed when nothing is in flight,
//! and a heartbeat (`pg_logical_emit_message`, non-transactional, never emitted as an event) gives the
//! slot something to confirm even when other databases or unpublished tables are the only writers.

mod history;
mod liveness;
pub mod offsets;
pub mod preflight;
mod reader;
pub mod spill;

pub use offsets::{OffsetStorage, OffsetStore};
pub use preflight::{prepare, Prepared};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tidemark_debezium::EncoderConfig;
use tidemark_model::{Lsn, TableId};
use tidemark_pgwire::{Dsn, PgError};
use tidemark_pipeline::{Output, Running};
use tokio::sync::watch;

use crate::catalog::Catalog;
use crate::filter::TableFilter;
use crate::snapshot::{Exported, SnapshotOptions};
use crate::SourceError;
pub use tidemark_pipeline::FailureMode;

/// Prefix of the logical messages tidemark writes as heartbeats (never emitted as events).
pub const HEARTBEAT_PREFIX: &str = "tidemark.heartbeat";

/// What `stream` needs to know.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// Source database.
    pub dsn: Dsn,
    /// Publication to decode for (created for `tables` when absent).
    pub publication: String,
    /// Tables to capture (`table.include.list` / `--tables`: names or Debezium patterns, see
    /// [`TableFilter`]); empty = whatever the publication publishes. Events of other tables are
    /// never emitted, whatever the publication sends.
    pub tables: Vec<String>,
    /// Tables never to emit (`table.exclude.list`; exclusive with `tables`).
    pub exclude_tables: Vec<String>,
    /// Replication slot (created when absent).
    pub slot: String,
    /// pgoutput protocol version (1, or 2 with `streaming`).
    pub proto_version: u32,
    /// Stream large in-progress transactions (protocol 2), spilling them to `spill_dir`.
    pub streaming: bool,
    /// Emit logical decoding messages as `op: m` events.
    pub emit_messages: bool,
    /// Heartbeat interval; zero disables.
    pub heartbeat_interval: Duration,
    /// Standby status update interval.
    pub status_interval: Duration,
    /// Longest time records may wait for a durable flush.
    pub flush_interval: Duration,
    /// Where streamed transactions are spilled.
    pub spill_dir: PathBuf,
    /// Encoding settings.
    pub encoder: EncoderConfig,
    /// Stop cleanly once everything up to this LSN is durable (benchmarks, demos, tests).
    pub until_lsn: Option<Lsn>,
    /// Give up after this many consecutive transient failures (0 = never).
    pub max_retries: u32,
    /// `event.processing.failure.handling.mode`: what to do with a change that cannot be encoded.
    pub failure_mode: FailureMode,
    /// tidemark's record of confirmed positions; `None` keeps none (no gap detection, and an initial
    /// snapshot interrupted by a crash is not recognised).
    pub offsets: Option<OffsetStorage>,
    /// Initial snapshot settings (`snapshot.*`).
    pub snapshot: SnapshotOptions,
    /// Retries while another process holds the slot (Debezium's `slot.max.retries`).
    pub slot_max_retries: u32,
    /// Wait between those retries (Debezium's `slot.retry.delay.ms`).
    pub slot_retry_delay: Duration,
    /// The opened offsets file while running (set by [`run`]).
    pub(crate) offsets_store: Option<Arc<OffsetStore>>,
    /// Reconnect when nothing at all arrives on the replication connection for this long, although
    /// tidemark asked for a reply halfway through (like `wal_receiver_timeout`); zero disables.
    pub receive_timeout: Duration,
}

impl StreamOptions {
    /// Defaults for a source, publication and slot.
    pub fn new(dsn: Dsn, publication: &str, slot: &str) -> StreamOptions {
        StreamOptions {
            dsn,
            publication: publication.into(),
            tables: Vec::new(),
            exclude_tables: Vec::new(),
            slot: slot.into(),
            proto_version: 1,
            streaming: false,
            emit_messages: true,
            heartbeat_interval: Duration::from_secs(10),
            status_interval: Duration::from_secs(10),
            flush_interval: Duration::from_millis(1000),
            spill_dir: std::env::temp_dir().join("tidemark-spill"),
            encoder: EncoderConfig::default(),
            until_lsn: None,
            max_retries: 0,
            failure_mode: FailureMode::Fail,
            offsets: None,
            snapshot: SnapshotOptions::default(),
            slot_max_retries: 6,
            slot_retry_delay: Duration::from_secs(10),
            offsets_store: None,
            receive_timeout: Duration::from_secs(60),
        }
    }
}

/// Outcome of a stream run that ended cleanly.
#[derive(Debug, Clone)]
pub struct StreamSummary {
    /// Last LSN confirmed to the slot.
    pub confirmed_lsn: Lsn,
}

/// Preflight, create what is missing (publication, slot), then stream until `shutdown` turns true,
/// `until_lsn` is reached, or a definite error occurs. Transient failures reconnect with backoff.
/// Progress is recorded through the `metrics` facade ([`tidemark_pipeline::metrics`]).
pub async fn run(
    opts: StreamOptions,
    output: Output,
    mut shutdown: watch::Receiver<bool>,
) -> Result<StreamSummary, SourceError> {
    let filter = TableFilter::new(&opts.tables, &opts.exclude_tables)?;
    let prepared = prepare(&opts).await?;
    let mut catalog = Some(prepared.catalog);
    let mut opts = opts;
    opts.offsets_store = prepared.offsets.map(Arc::new);
    let export = prepared.export;
    let mut slot_busy: Option<(u32, std::time::Instant)> = None;
    if opts.encoder.database.is_empty() {
        if let Some(c) = &catalog {
            opts.encoder.database = c.current_database().await?;
        }
    }
    let mut output = Some(output);
    if let Some((rs, exported)) = export {
        let c = catalog.as_ref().expect("prepared above");
        let (returned, res) =
            initial_snapshot(&opts, c, &filter, &exported, output.take().expect("set")).await;
        drop(rs);
        let res = match res {
            Ok(()) => match &opts.offsets_store {
                Some(o) => o.record_snapshot(exported.consistent_point, false),
                None => Ok(()),
            },
            Err(e) => Err(e),
        };
        if let Err(e) = res {
            if let Some(out) = returned {
                let _ = out.close().await;
            }
            return Err(e);
        }
        output = returned;
        if !opts.snapshot.mode.streams() {
            if let Some(out) = output {
                out.close().await.map_err(|e| SourceError::Pipeline(e.into()))?;
            }
            return Ok(StreamSummary { confirmed_lsn: Lsn::ZERO });
        }
    }
    let heartbeat = spawn_heartbeat(opts.dsn.clone(), opts.heartbeat_interval, opts.receive_timeout);
    let mut confirmed = Lsn::ZERO;
    let summary = |confirmed: Lsn| StreamSummary { confirmed_lsn: confirmed };
    let mut failures = 0u32;
    // What sessions learn of the catalog, and the last walsender (after a half-open connection it may
    // still hold the slot).
    let mut carry = reader::Carry::default();
    let result = loop {
        let progress_before = confirmed;
        let attempt: Result<StreamSummary, SourceError> = async {
            if catalog.is_none() {
                catalog = Some(Catalog::connect(&opts.dsn).await?);
            }
            let c = catalog.as_ref().expect("connected above");
            let Some(out) = output.take() else {
                return Err(SourceError::Internal("the sink was lost by an earlier pipeline failure".into()));
            };
            let (returned, res) =
                reader::session(&opts, c, &filter, &mut carry, out, &mut shutdown, &mut confirmed).await;
            output = returned;
            match res {
                Err(e) => Err(preflight::explain(e, &opts, c, confirmed).await),
                ok => ok,
            }
        }
        .await;
        if confirmed > progress_before {
            failures = 0;
        }
        match attempt {
            Ok(summary) => break Ok(summary),
            // A previous instance's walsender may still hold the slot (host crash): bounded retries.
            Err(SourceError::SlotInUse { slot, pid }) => {
                let (n, since) = slot_busy.get_or_insert((0, std::time::Instant::now()));
                *n += 1;
                if *n > opts.slot_max_retries {
                    break Err(SourceError::SlotBusy {
                        slot,
                        pid,
                        attempts: *n,
                        waited_secs: since.elapsed().as_secs(),
                    });
                }
                tracing::warn!(slot = %slot, pid = %pid, attempt = *n, "replication slot is in use by another process; retrying in {:?}", opts.slot_retry_delay);
                tokio::select! {
                    _ = tokio::time::sleep(opts.slot_retry_delay) => {}
                    _ = shutdown.changed() => break Ok(summary(confirmed)),
                }
            }
            Err(e) if e.is_transient() && (opts.max_retries == 0 || failures < opts.max_retries) => {
                failures += 1;
                metrics::counter!(tidemark_pipeline::metrics::SOURCE_RECONNECTS).increment(1);
                // The SQL connection may have died with the replication one; start both afresh.
                catalog = None;
                let delay = Duration::from_millis((250u64 << failures.min(7)).min(30_000));
                tracing::warn!(error = %e, attempt = failures, "connection to the source failed; retrying in {delay:?}");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.changed() => break Ok(summary(confirmed)),
                }
            }
            Err(e) => break Err(e),
        }
    };
    if let Some(h) = heartbeat {
        h.abort();
    }
    if let Some(out) = output {
        if let Err(e) = out.close().await {
            tracing::warn!(error = %e, "closing the sink failed");
        }
    }
    result
}

/// The initial snapshot through a pipeline of its own over `output`: every event is durable when this
/// returns `Ok` (the pipeline finished), so the caller may record the snapshot done.
async fn initial_snapshot(
    opts: &StreamOptions,
    catalog: &Catalog,
    filter: &TableFilter,
    exported: &Exported,
    output: Output,
) -> (Option<Output>, Result<(), SourceError>) {
    let tables = match snapshot_tables(opts, catalog, filter).await {
        Ok(t) => t,
        Err(e) => return (Some(output), Err(e)),
    };
    let pipeline = Running::start(output, &reader::pipeline_options(opts));
    let read = crate::snapshot::read(
        &opts.dsn,
        catalog,
        &tables,
        exported,
        &opts.snapshot,
        &opts.encoder,
        &pipeline.input,
    )
    .await;
    match (pipeline.finish().await, read) {
        (Ok(out), Ok(summary)) => {
            tracing::info!(
                rows = summary.rows,
                tables = summary.tables.len(),
                "initial snapshot done and durable"
            );
            (Some(out), Ok(()))
        }
        // The pipeline's own failure explains a read that stopped because the pipeline did.
        (Err((out, e)), _) => (out, Err(SourceError::Pipeline(e))),
        (Ok(out), Err(e)) => (Some(out), Err(e)),
    }
}

/// The captured tables an initial snapshot reads, in name order: the publication's tables the filter
/// keeps, narrowed by `snapshot.include.collection.list`.
async fn snapshot_tables(
    opts: &StreamOptions,
    catalog: &Catalog,
    filter: &TableFilter,
) -> Result<Vec<TableId>, SourceError> {
    let mut tables: Vec<TableId> = catalog
        .publication_tables(&opts.publication)
        .await?
        .into_iter()
        .filter(|t| filter.includes(t))
        .collect();
    if !opts.snapshot.include.is_empty() {
        let include = TableFilter::new(&opts.snapshot.include, &[])?;
        let all = tables.clone();
        tables.retain(|t| include.includes(t));
        // An exact name that is not captured is a mistake worth stopping for.
        for name in &opts.snapshot.include {
            if !tidemark_model::is_table_pattern(name) {
                let id = crate::catalog::parse_table_name(name);
                if !all.contains(&id) {
                    return Err(SourceError::SnapshotNotCaptured { table: id.to_string() });
                }
            }
        }
    }
    tables.sort();
    Ok(tables)
}

/// Heartbeats on their own connection, reconnecting after failures. A heartbeat that gets no answer
/// within `timeout` (60 s when zero) counts as failed, so a half-open connection cannot stall them.
fn spawn_heartbeat(dsn: Dsn, every: Duration, timeout: Duration) -> Option<tokio::task::JoinHandle<()>> {
    let timeout = if timeout.is_zero() { Duration::from_secs(60) } else { timeout };
    if every.is_zero() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        let mut conn: Option<Catalog> = None;
        let mut warned = false;
        loop {
            tick.tick().await;
            if conn.is_none() {
                conn = Catalog::connect(&dsn).await.ok();
            }
            let Some(c) = &conn else { continue };
            let res = match tokio::time::timeout(timeout, c.emit_message(HEARTBEAT_PREFIX, "")).await {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(_) => Err(format!("no answer within {timeout:?}")),
            };
            if let Err(e) = res {
                if !warned {
                    tracing::warn!(error = %e, "heartbeat failed; retrying on the next tick (a read-only source cannot take heartbeats, so idle slots may lag)");
                    warned = true;
                }
                conn = None;
            }
        }
    }))
}

/// Turn slot-related server errors into their specific variants.
pub(crate) fn map_slot_error(e: PgError, slot: &str) -> SourceError {
    if let PgError::Server(s) = &e {
        if s.code == "55006" {
            let pid = s.message.rsplit("PID ").next().unwrap_or("unknown").trim().to_string();
            return SourceError::SlotInUse { slot: slot.into(), pid };
        }
        if s.message.contains("can no longer get changes") || s.message.contains("has been invalidated") {
            return SourceError::SlotLost { slot: slot.into(), confirmed: "its confirmed position".into() };
        }
    }
    SourceError::Pg(e)
}
