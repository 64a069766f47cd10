//! The plan: which tables to compare and how, before any row is read. For each table: its columns on
//! both sides, schema drift ([`drift`](super::drift)), the merge key, the Debezium encoding plan, and
//! whether it may take the `(ctid, xmin)` fast path; then the first work list — whole tables, key ranges
//! of large integer-keyed ones, or block ranges of fast-path ones.
//!
//! Invariant: a table either gets a report with a failure (it is not compared, and the reason says what
//! to do) or exactly one job whose columns, key and old-side expressions are the same for every unit of
//! it; reports are in table-name order and jobs point at them by index.

use std::sync::Arc;

use tidemark_debezium::{EncoderConfig, TablePlan, TypeRegistry};
use tidemark_model::{Column as SchemaColumn, TableId, TableSchema};

use super::catalog::{Column, Coordinator};
use super::fast_path::{self, Proof};
use super::keys::KeyKind;
use super::schedule::Work;
use super::{drift, DiffOptions, TableReport};
use crate::catalog::Catalog;
use crate::SourceError;

/// A table ready to diff.
#[derive(Debug, Clone)]
pub(super) struct TableJob {
    /// Index of the table's report.
    pub idx: usize,
    pub id: TableId,
    pub columns: Vec<Column>,
    /// Indexes into `columns` of the key, empty for keyless.
    pub key: Vec<usize>,
    /// Row filter (a publication's).
    pub filter: Option<String>,
    pub plan: Arc<TablePlan>,
    /// Compare through (ctid, xmin) first: both sides are physical copies and the table's file is the same.
    pub fast: bool,
    /// The old side's SELECT expressions, one per column, when the table drifted (see [`drift`]).
    pub old_exprs: Option<Vec<String>>,
    /// The side on which the table does not exist (created or dropped in the gap).
    pub missing: Option<Missing>,
}

/// A side of the diff without the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Missing {
    /// Created in the gap: every new row is a create.
    Old,
    /// Dropped in the gap: every old row is a delete.
    New,
}

/// A unit of the full method (or of the fast path's fetch): a table, a key range of one, or a key-hash
/// class of one.
#[derive(Debug, Clone)]
pub(super) struct Unit {
    pub job: Arc<TableJob>,
    /// Inclusive range of the (single, integer) key.
    pub range: Option<(i64, i64)>,
    /// `(i, n)`: only the rows whose key hashes to class `i` of `n` (the fast path's fetch, split across
    /// workers; a key's old and new versions always fall in the same class).
    pub part: Option<(u32, u32)>,
}

impl Unit {
    /// The whole table.
    pub fn whole(job: Arc<TableJob>) -> Unit {
        Unit { job, range: None, part: None }
    }
}

/// What the plan found: a report per table (name order), and the jobs of the comparable ones.
#[derive(Debug)]
pub(super) struct Plan {
    pub reports: Vec<TableReport>,
    pub jobs: Vec<Arc<TableJob>>,
}

/// Both sides' coordinators and what planning a table needs besides.
pub(super) struct Planner<'a> {
    pub opts: &'a DiffOptions,
    pub old: &'a Coordinator,
    pub new: &'a Coordinator,
    pub proof: &'a Proof,
    pub encoder: EncoderConfig,
    pub new_catalog: Catalog,
    pub old_catalog: Option<Catalog>,
    pub types: TypeRegistry,
}

impl std::fmt::Debug for Planner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Planner").finish_non_exhaustive()
    }
}

impl Planner<'_> {
    /// Plan every table, in order.
    pub async fn plan(
        mut self,
        tables: Vec<(TableId, Option<Vec<String>>, Option<String>)>,
    ) -> Result<Plan, SourceError> {
        let mut plan = Plan { reports: Vec::new(), jobs: Vec::new() };
        for (id, col_list, filter) in tables {
            let idx = plan.reports.len();
            let mut report = TableReport { table: id.to_string(), ..Default::default() };
            match self.table(idx, id, col_list, filter, &mut report).await? {
                Ok(job) => plan.jobs.push(Arc::new(job)),
                Err(why) => report.failure = Some(why),
            }
            plan.reports.push(report);
        }
        Ok(plan)
    }

    /// Plan one table: its job, or why it cannot be compared. Fills the report's method and schema
    /// changes.
    async fn table(
        &mut self,
        idx: usize,
        id: TableId,
        col_list: Option<Vec<String>>,
        filter: Option<String>,
        report: &mut TableReport,
    ) -> Result<Result<TableJob, String>, SourceError> {
        let new_cols = self.new.columns(&id).await?;
        let old_cols = self.old.columns(&id).await?;
        // The side whose catalog describes the table (new, unless the table was dropped in the gap), and
        // the side without the table, whose stream is empty: every row a create, or every row a delete.
        let (cols, old_cols, missing) = match (new_cols, old_cols) {
            (None, None) => return Ok(Err("table does not exist on either side".into())),
            (Some(n), None) => (n, None, Some(Missing::Old)),
            (None, Some(o)) => (o, None, Some(Missing::New)),
            (Some(n), Some(o)) => (n, Some(o), None),
        };
        let schema_side = if missing == Some(Missing::New) { self.old } else { self.new };
        let wanted: Vec<Column> = match &col_list {
            Some(list) => cols.iter().filter(|c| list.contains(&c.name)).cloned().collect(),
            None => cols.clone(),
        };
        let mut drift = drift::compare(&wanted, &cols, old_cols.as_deref(), col_list.is_some());
        let (key_names, is_pk) = schema_side.key(&id).await?;
        let key: Vec<usize> =
            key_names.iter().filter_map(|k| wanted.iter().position(|c| &c.name == k)).collect();
        let key = if key.len() == key_names.len() { key } else { Vec::new() };
        for &i in &key {
            if drift.old_side[i] == drift::OldColumn::Added {
                drift.problems.push(drift::key_added(&wanted[i].name));
            }
        }
        if !drift.problems.is_empty() {
            return Ok(Err(drift.problems.join("; ")));
        }
        report.method = if key.is_empty() {
            "keyless".into()
        } else {
            format!("key ({})", key.iter().map(|&i| wanted[i].name.as_str()).collect::<Vec<_>>().join(", "))
        };
        match missing {
            Some(Missing::Old) => drift.notes.push("created in the gap (every row a create)".into()),
            Some(Missing::New) => drift.notes.push("dropped in the gap (every row a delete)".into()),
            None => {}
        }
        report.schema_changes = drift.notes.clone();
        let drifted = !drift.notes.is_empty();
        let old_exprs =
            drift.old_side.iter().any(|o| *o != drift::OldColumn::Same).then(|| {
                wanted.iter().zip(&drift.old_side).map(|(c, o)| o.expr(&c.name, &c.format)).collect()
            });
        let catalog = if missing == Some(Missing::New) {
            match &self.old_catalog {
                Some(c) => c,
                None => self.old_catalog.insert(Catalog::connect(&self.opts.old).await?),
            }
        } else {
            &self.new_catalog
        };
        catalog.load_types(&mut self.types, wanted.iter().map(|c| c.type_oid)).await?;
        let schema = TableSchema {
            oid: 0,
            id: id.clone(),
            replica_identity: schema_side.replica_identity(&id).await?,
            columns: wanted
                .iter()
                .enumerate()
                .map(|(i, c)| SchemaColumn {
                    name: c.name.clone(),
                    type_oid: c.type_oid,
                    type_modifier: c.type_modifier,
                    is_key: key.contains(&i),
                    nullable: !c.not_null,
                    default: c.default.clone(),
                })
                .collect(),
            primary_key: if is_pk { key.clone() } else { Vec::new() },
        };
        let plan = Arc::new(TablePlan::build(Arc::new(schema), &self.types, &self.encoder)?);
        let (fast, note) =
            fast_path::eligible(self.old, self.new, &id, drifted, self.proof, self.opts.method).await?;
        if let Some(note) = note {
            report.method.push_str(note);
        }
        Ok(Ok(TableJob { idx, id, columns: wanted, key, filter, plan, fast, old_exprs, missing }))
    }
}

/// Rows above which an integer-keyed table is split into key ranges across workers.
const SPLIT_ROWS: f32 = 500_000.0;

/// The first work list, in job order: fast-path tables as block-range scans (their fetch comes after),
/// large tables with a single integer key as key ranges (two per worker), every other table whole.
pub(super) async fn work(
    old: &Coordinator,
    new: &Coordinator,
    jobs: &[Arc<TableJob>],
    workers: usize,
) -> Result<Vec<Work>, SourceError> {
    let mut out = Vec::new();
    for job in jobs {
        if job.fast {
            // Split by block ranges, never by key.
            for blocks in fast_path::scan_ranges(old, new, &job.id, workers).await? {
                out.push(Work::Scan { job: job.clone(), blocks });
            }
            continue;
        }
        let ranges = if job.missing.is_none()
            && workers > 1
            && job.key.len() == 1
            && KeyKind::for_type(job.columns[job.key[0]].type_oid) == KeyKind::Int
            && new.estimated_rows(&job.id).await? > SPLIT_ROWS
        {
            key_ranges(old, new, job, workers).await?
        } else {
            Vec::new()
        };
        if ranges.is_empty() {
            out.push(Work::Full(Unit::whole(job.clone())));
        }
        for r in ranges {
            out.push(Work::Full(Unit { job: job.clone(), range: Some(r), part: None }));
        }
    }
    Ok(out)
}

/// Two key ranges per worker over the key's span on both sides (none when both sides are empty).
async fn key_ranges(
    old: &Coordinator,
    new: &Coordinator,
    job: &TableJob,
    workers: usize,
) -> Result<Vec<(i64, i64)>, SourceError> {
    let column = &job.columns[job.key[0]].name;
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for side in [old, new] {
        if let Some((a, b)) = side.int_range(&job.id, column).await? {
            lo = lo.min(a);
            hi = hi.max(b);
        }
    }
    Ok(split_span(lo, hi, workers * 2))
}

/// `parts` inclusive ranges of about equal width covering `lo..=hi` (none when `lo > hi`).
fn split_span(lo: i64, hi: i64, parts: usize) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    if lo > hi {
        return out;
    }
    let parts = parts as i128;
    let span = (hi as i128 - lo as i128 + 1).max(1);
    let step = (span + parts - 1) / parts;
    let mut start = lo as i128;
    while start <= hi as i128 {
        let end = (start + step).min(hi as i128 + 1);
        out.push((start as i64, (end - 1) as i64));
        start = end;
    }
    out
}

/// A keyless job over an empty table `public.t<idx>`, for tests of the stages after the plan.
#[cfg(test)]
pub(super) fn test_job(idx: usize, fast: bool) -> TableJob {
    let id = TableId::new("public", format!("t{idx}"));
    let schema = TableSchema {
        oid: 0,
        id: id.clone(),
        replica_identity: tidemark_model::ReplicaIdentity::Default,
        columns: vec![],
        primary_key: vec![],
    };
    let plan = TablePlan::build(Arc::new(schema), &TypeRegistry::default(), &EncoderConfig::default())
        .expect("plan");
    TableJob {
        idx,
        id,
        columns: vec![],
        key: vec![],
        filter: None,
        plan: Arc::new(plan),
        fast,
        old_exprs: None,
        missing: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_split_into_covering_ranges() {
        assert_eq!(split_span(1, 10, 4), vec![(1, 3), (4, 6), (7, 9), (10, 10)]);
        assert_eq!(split_span(5, 5, 4), vec![(5, 5)]);
        assert_eq!(split_span(i64::MIN, i64::MAX, 2), vec![(i64::MIN, -1), (0, i64::MAX)]);
        assert!(split_span(i64::MAX, i64::MIN, 4).is_empty());
    }
}
