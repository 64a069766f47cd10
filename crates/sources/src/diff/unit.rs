//! One unit of work end to end: the two sides' `COPY (SELECT … ORDER BY key) TO STDOUT` queries, the
//! [`merge`](super::merge) over them, and the changes turned into [`DiffEvent`]s.
//!
//! Why it is separate from the merge: this is where PostgreSQL comes in (the SQL both sides run, the
//! connections, progress, the event channel); the merge itself stays pure.
//!
//! Invariant: both sides' queries select the same sort-key expressions in the same order ([`keys`]) and
//! the same columns (the old side through its drift expressions), so the merge compares like with like;
//! a side without the table contributes no rows.

use bytes::Bytes;
use tidemark_model::{quote_ident, ChangeEvent, ChangeKind, Datum, SourceInfo};
use tidemark_pgwire::Connection;
use tokio::sync::mpsc;

use super::keys::KeyKind;
use super::merge::{Change, Counts, Merge, SortedRows};
use super::plan::{Missing, TableJob, Unit};
use super::{progress, DiffEvent};
use crate::copy::{self, CopyLines};
use crate::SourceError;

/// Rows read between two updates of the `tidemark_diff_rows_read_total` counter.
const PROGRESS_EVERY: u64 = 4096;

/// Events handed over at once.
const EVENT_BATCH: usize = 256;

/// A side's COPY lines as [`SortedRows`], counting them into the progress.
struct ProgressRows<'a> {
    lines: CopyLines<'a>,
    since: u64,
}

impl SortedRows for ProgressRows<'_> {
    type Error = SourceError;
    async fn next_row(&mut self) -> Result<Option<Bytes>, SourceError> {
        let line = self.lines.next_line().await.map_err(SourceError::Pg)?;
        if line.is_some() {
            self.since += 1;
            if self.since >= PROGRESS_EVERY {
                progress::rows_read(self.since);
                self.since = 0;
            }
        } else if self.since > 0 {
            progress::rows_read(self.since);
            self.since = 0;
        }
        Ok(line)
    }
}

/// The sort-key comparison kinds of a job: one per key column, or the row's text for keyless tables.
pub(super) fn key_kinds(job: &TableJob) -> Vec<KeyKind> {
    if job.key.is_empty() {
        vec![KeyKind::Repr]
    } else {
        job.key.iter().map(|&i| KeyKind::for_type(job.columns[i].type_oid)).collect()
    }
}

/// The two sides' COPY queries of a unit. `side_predicates`: extra WHERE conditions for old and new
/// (the fast path's TID lists).
fn queries(
    job: &TableJob,
    unit: &Unit,
    kinds: &[KeyKind],
    side_predicates: Option<(&str, &str)>,
) -> (String, String) {
    let cols: Vec<String> = job.columns.iter().map(|c| quote_ident(&c.name)).collect();
    // The old side reads drifted columns through their own expressions (NULL, casts; see `drift`).
    let old_cols: &[String] = job.old_exprs.as_deref().unwrap_or(&cols);
    let sort_exprs_of = |exprs: &[String]| -> Vec<String> {
        if job.key.is_empty() {
            vec![format!("ROW({})::text COLLATE \"C\"", exprs.join(", "))]
        } else {
            job.key
                .iter()
                .zip(kinds)
                .map(|(&i, k)| {
                    let e = if exprs[i] == cols[i] { cols[i].clone() } else { format!("({})", exprs[i]) };
                    k.select_expr_of(e, job.columns[i].type_oid)
                })
                .collect()
        }
    };
    let sort_exprs = sort_exprs_of(&cols);
    let nk = sort_exprs.len();
    let mut wheres = Vec::new();
    if let Some(f) = &job.filter {
        wheres.push(format!("({f})"));
    }
    if let Some((lo, hi)) = unit.range {
        let k = quote_ident(&job.columns[job.key[0]].name);
        wheres.push(format!("{k} BETWEEN {lo} AND {hi}"));
    }
    if let Some((i, n)) = unit.part {
        // hashtext is the same function on both sides: the fast path only runs between physical
        // copies of one cluster, so one major version.
        wheres.push(format!("(hashtext(ROW({})::text) & 2147483647) % {n} = {i}", sort_exprs.join(", ")));
    }
    let order: Vec<String> = (1..=nk).map(|i| i.to_string()).collect();
    let sql_for = |exprs: &[String], extra: Option<&str>| {
        let sorts = sort_exprs_of(exprs);
        let select_list = if exprs.is_empty() {
            sorts.join(", ")
        } else {
            format!("{}, {}", sorts.join(", "), exprs.join(", "))
        };
        let mut w: Vec<&str> = wheres.iter().map(String::as_str).collect();
        w.extend(extra);
        let where_sql = if w.is_empty() { String::new() } else { format!(" WHERE {}", w.join(" AND ")) };
        format!(
            "COPY (SELECT {select_list} FROM {}{where_sql} ORDER BY {}) TO STDOUT",
            job.id.quoted(),
            order.join(", ")
        )
    };
    // A side without the table (created or dropped in the gap) contributes no rows.
    const NO_ROWS: &str = "COPY (SELECT 1 WHERE false) TO STDOUT";
    let (o, n) = side_predicates.map_or((None, None), |(o, n)| (Some(o), Some(n)));
    let old_sql = if job.missing == Some(Missing::Old) { NO_ROWS.to_string() } else { sql_for(old_cols, o) };
    let new_sql = if job.missing == Some(Missing::New) { NO_ROWS.to_string() } else { sql_for(&cols, n) };
    (old_sql, new_sql)
}

/// Where a unit's events go.
#[derive(Debug, Clone, Copy)]
pub(super) struct Output<'a> {
    /// Count only.
    pub verify: bool,
    /// Event time, µs since the epoch.
    pub event_time_us: i64,
    /// The consumer, when there is one.
    pub events: Option<&'a mpsc::Sender<Vec<DiffEvent>>>,
}

/// Diff one unit over a worker's two connections.
pub(super) async fn diff_unit(
    old: &mut Connection,
    new: &mut Connection,
    unit: &Unit,
    side_predicates: Option<(&str, &str)>,
    out: Output<'_>,
) -> Result<Counts, SourceError> {
    let job = &unit.job;
    let kinds = key_kinds(job);
    let nk = kinds.len();
    let (old_sql, new_sql) = queries(job, unit, &kinds, side_predicates);
    let (a, b) = tokio::try_join!(CopyLines::start(old, &old_sql), CopyLines::start(new, &new_sql))
        .map_err(SourceError::Pg)?;
    let rows = |lines| ProgressRows { lines, since: 0 };
    let mut merge = Merge::new(rows(a), rows(b), kinds);
    let event = |kind: ChangeKind, before: Option<&Bytes>, after: Option<&Bytes>| -> DiffEvent {
        let row = |l: &Bytes| -> Vec<Datum> {
            copy::fields(l)
                .into_iter()
                .skip(nk)
                .map(|f| if copy::is_null(&f) { Datum::Null } else { Datum::Text(copy::unescape(&f)) })
                .collect()
        };
        DiffEvent {
            plan: job.plan.clone(),
            event: ChangeEvent {
                table: job.plan.table.clone(),
                kind,
                before: before.map(row),
                after: after.map(row),
                source: SourceInfo {
                    ts_us: out.event_time_us,
                    tx_id: None,
                    lsn: None,
                    last_commit_lsn: None,
                    snapshot: None,
                    origin: None,
                },
                tx: None,
            },
        }
    };
    // Events leave in batches: a diff finds its changes one at a time, and handing each over alone
    // would wake every stage downstream per change.
    let tx = out.events.filter(|_| !out.verify);
    let mut batch = Vec::new();
    let send = |batch: Vec<DiffEvent>| async move {
        progress::changes_found(batch.len() as u64);
        match tx {
            Some(tx) if !batch.is_empty() => tx.send(batch).await.map_err(|_| SourceError::PipelineStopped),
            _ => Ok(()),
        }
    };
    while let Some(change) = merge.next_change().await? {
        if tx.is_none() {
            continue;
        }
        batch.push(match &change {
            Change::Delete(o) => event(ChangeKind::Delete, Some(o), None),
            Change::Create(n) => event(ChangeKind::Insert, None, Some(n)),
            Change::Update { old, new } => event(ChangeKind::Update, Some(old), Some(new)),
        });
        if batch.len() >= EVENT_BATCH {
            // An error means the pipeline stopped; its own error is what the command reports.
            send(std::mem::take(&mut batch)).await?;
        }
    }
    send(batch).await?;
    let counts = merge.counts();
    if out.verify {
        progress::changes_found(counts.changes());
    }
    Ok(counts)
}
