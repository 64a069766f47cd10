//! `tidemark diff`: the change feed between two databases (two PITR restores, or a source and its
//! replica), as Debezium events — or, with `verify`, only the counts.
//!
//! Method: each side is read in one consistent snapshot (REPEATABLE READ; an exported snapshot shared by
//! that side's workers). For every table both sides are streamed with `COPY (SELECT … ORDER BY key) TO
//! STDOUT` and merged in the client: key only in new → `c`, only in old → `d`, in both with different
//! bytes → `u` (before = old row, after = new row). Rows are compared on their COPY text, PostgreSQL's exact
//! spelling of each value, so equal rows are skipped without being decoded and types without `=` (xml,
//! json, point) compare exactly. Keyless tables are ordered by the whole row's text and merged as
//! multisets (three identical rows in old and one in new give two deletes). Memory stays bounded: both
//! sides are streams. Nothing is created on either server. Between physical copies of one cluster the
//! `(ctid, xmin)` fast path reads only the row versions that differ.
//!
//! Stages, one module each:
//! - [`catalog`]: every catalog query (snapshots, tables, columns, keys, storage, lineage facts);
//! - [`plan`]: tables → jobs (columns, [`drift`], key, encoding plan, fast-path eligibility) → first work;
//! - [`schedule`]: the work queue and its workers (tokio `Notify` + `JoinSet`);
//! - [`unit`]: one unit's COPY queries and events around the merge;
//! - [`merge`]: the pure sorted-rows merge ([`merge::SortedRows`]), with [`keys`] ordering;
//! - [`fast_path`]: `(ctid, xmin)` candidates, with the [`lineage`] proof that they may be trusted.
//!
//! The COPY readers live in [`crate::copy`].
//!
//! Invariant (DESIGN.md contract 7): applying the events to the old database yields the new one, row for
//! row. `tests/diff_*.rs` check it by applying the events and comparing; `merge`'s property test checks
//! the core in memory.

mod catalog;
pub mod drift;
mod fast_path;
pub mod keys;
pub mod lineage;
pub mod merge;
mod plan;
mod schedule;
mod unit;

use std::sync::Mutex;
use std::time::Instant;

use tidemark_debezium::{EncoderConfig, TypeRegistry};
use tidemark_pgwire::Dsn;
use tokio::sync::mpsc;

use self::catalog::Coordinator;
use self::plan::Planner;
use self::schedule::{Scheduler, Shared};
use crate::catalog::Catalog;
use crate::SourceError;

/// What to compare and how.
#[derive(Debug, Clone)]
pub struct DiffOptions {
    /// The older database (e.g. PITR1, or a replica being verified).
    pub old: Dsn,
    /// The newer database (e.g. PITR2, or the source of truth).
    pub new: Dsn,
    /// Publications whose tables (and column lists and row filters) to compare, read on the new side.
    pub publications: Vec<String>,
    /// Explicit tables (`schema.table`).
    pub tables: Vec<String>,
    /// Anchored regexes over `schema.table` to leave out.
    pub exclude: Vec<regex::Regex>,
    /// Parallel workers (each holds one connection per side).
    pub jobs: usize,
    /// Event time in µs since the epoch (default: the new database's clock at the start).
    pub event_time_us: Option<i64>,
    /// Count only; emit no events.
    pub verify: bool,
    /// Encoding settings (topic prefix, modes, ...).
    pub encoder: EncoderConfig,
    /// Full comparison, the ctid/xmin fast path for physical copies, or automatic choice.
    pub method: DiffMethod,
}

/// How tables are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DiffMethod {
    /// Fast path where both sides are physical copies of one cluster and the table was not rewritten;
    /// full method elsewhere.
    #[default]
    Auto,
    /// Always stream and compare every row.
    Full,
    /// Like `Auto`, but say so in the report when a table cannot take the fast path.
    Fast,
}

/// One change found by the diff, with the plan to encode it: the pipeline's typed row change.
pub use tidemark_pipeline::Change as DiffEvent;

/// Outcome for one table.
#[derive(Debug, Clone, Default)]
pub struct TableReport {
    /// `schema.table`.
    pub table: String,
    /// `None` when compared; the reason when it could not be.
    pub failure: Option<String>,
    /// `key` (with the key's columns) or `keyless`.
    pub method: String,
    /// Rows only in new.
    pub created: u64,
    /// Rows in both, changed.
    pub updated: u64,
    /// Rows only in old.
    pub deleted: u64,
    /// Rows in both, equal.
    pub unchanged: u64,
    /// Wall time spent on the table (summed over its work units).
    pub seconds: f64,
    /// How the table's schema differs between the sides (created/dropped in the gap, columns added,
    /// dropped or widened); empty when it does not.
    pub schema_changes: Vec<String>,
}

impl TableReport {
    /// Rows read per second (both sides).
    pub fn rows_per_sec(&self) -> f64 {
        let rows = (self.created + self.deleted + 2 * (self.updated + self.unchanged)) as f64;
        if self.seconds > 0.0 {
            rows / self.seconds
        } else {
            0.0
        }
    }
}

/// Outcome of a diff.
#[derive(Debug, Clone, Default)]
pub struct DiffReport {
    /// Per table, in name order.
    pub tables: Vec<TableReport>,
    /// Event time used, µs since the epoch.
    pub event_time_us: i64,
    /// Total wall time.
    pub seconds: f64,
    /// Whether the `(ctid, xmin)` fast path was allowed for this pair of databases.
    pub fast_path_allowed: bool,
    /// Why it was allowed, or why not (see [`lineage`]).
    pub fast_path_reason: String,
}

impl DiffReport {
    /// Any table differs, in its rows or in its schema.
    pub fn differs(&self) -> bool {
        self.tables.iter().any(|t| t.created + t.updated + t.deleted > 0 || !t.schema_changes.is_empty())
    }
    /// Tables that could not be compared.
    pub fn failed(&self) -> Vec<&TableReport> {
        self.tables.iter().filter(|t| t.failure.is_some()).collect()
    }
}

/// Where the diff reports its progress: the `metrics` facade, under the names in
/// [`tidemark_pipeline::metrics`] (`tidemark_diff_*`). A progress bar, a `status` command or a
/// Prometheus endpoint reads them from the process's recorder; without one, recording costs nothing.
mod progress {
    use tidemark_pipeline::metrics as m;

    /// Rows read (both sides together).
    pub(super) fn rows_read(n: u64) {
        metrics::counter!(m::DIFF_ROWS).increment(n);
    }
    /// Differences found.
    pub(super) fn changes_found(n: u64) {
        metrics::counter!(m::DIFF_CHANGES).increment(n);
    }
    /// A table is finished.
    pub(super) fn table_done() {
        metrics::counter!(m::DIFF_TABLES_DONE).increment(1);
    }
    /// The number of tables selected.
    pub(super) fn tables_total(n: u64) {
        metrics::gauge!(m::DIFF_TABLES).set(n as f64);
    }
}

/// Compare the two databases. Events (unless `verify`) go to `events` in key order per table.
pub async fn run(
    opts: DiffOptions,
    events: Option<mpsc::Sender<Vec<DiffEvent>>>,
) -> Result<DiffReport, SourceError> {
    let started = Instant::now();
    if opts.publications.is_empty() && opts.tables.is_empty() {
        return Err(SourceError::Pg(tidemark_pgwire::PgError::Dsn(
            "nothing to compare: pass --publication NAME or --tables schema.table,...".into(),
        )));
    }
    // WAL positions before the snapshots (lower bounds of what they contain), for the fast path's proof.
    let positions = if opts.method == DiffMethod::Full {
        None
    } else {
        Some((catalog::position(&opts.old).await?, catalog::position(&opts.new).await?))
    };
    // Coordinators hold the exported snapshots for the whole run.
    let old = Coordinator::open(&opts.old).await?;
    let new = Coordinator::open(&opts.new).await?;
    let event_time_us = match opts.event_time_us {
        Some(t) => t,
        None => new.now_us().await?,
    };
    let mut encoder = opts.encoder.clone();
    if encoder.database.is_empty() {
        encoder.database = new.database().await?;
    }
    let tables = catalog::discover(&new, &old, &opts).await?;
    let proof = fast_path::prove(positions, &old, &new).await?;
    let planner = Planner {
        opts: &opts,
        old: &old,
        new: &new,
        proof: &proof,
        encoder,
        new_catalog: Catalog::connect(&opts.new).await?,
        old_catalog: None,
        types: TypeRegistry::default(),
    };
    let plan = planner.plan(tables).await?;
    progress::tables_total(plan.jobs.len() as u64);
    let workers = opts.jobs.max(1);
    let work = plan::work(&old, &new, &plan.jobs, workers).await?;
    let shared = Shared {
        old_snapshot: old.snapshot.clone(),
        new_snapshot: new.snapshot.clone(),
        opts,
        event_time_us,
        events,
        reports: Mutex::new(plan.reports),
    };
    let tables = schedule::run(Scheduler::new(work, workers), shared, workers).await?;
    drop((old, new));
    let (fast_path_allowed, fast_path_reason) = match proof.result {
        Ok(why) => (true, why),
        Err(why) => (false, why),
    };
    Ok(DiffReport {
        tables,
        event_time_us,
        seconds: started.elapsed().as_secs_f64(),
        fast_path_allowed,
        fast_path_reason,
    })
}
