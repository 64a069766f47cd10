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
//! sides are streams. Nothing is created on either server.
//!
//! Invariant (DESIGN.md contract 7): applying the events to the old database yields the new one, row for
//! row. `tests/diff_*.rs` check it by applying the events and comparing.

pub mod copy;
pub mod drift;
pub mod keys;
pub mod lineage;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use tidemark_debezium::{EncoderConfig, TablePlan, TypeRegistry};
use tidemark_model::{
    quote_ident, ChangeEvent, ChangeKind, Column, Datum, ReplicaIdentity, SourceInfo, TableId, TableSchema,
};
use tidemark_pgwire::{Connection, Dsn};
use tokio::sync::mpsc;
use tokio_postgres::Client;

use self::copy::CopyLines;
use self::keys::KeyKind;
use crate::catalog::{parse_table_name, Catalog};
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

/// One change found by the diff, with the plan to encode it.
#[derive(Debug, Clone)]
pub struct DiffEvent {
    /// Encoding plan of the table.
    pub plan: Arc<TablePlan>,
    /// The change.
    pub event: ChangeEvent,
}

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

/// Live progress.
#[derive(Debug, Default)]
pub struct DiffProgress {
    /// Rows read on both sides so far.
    pub rows: AtomicU64,
    /// Differences found so far.
    pub changes: AtomicU64,
    /// Tables finished.
    pub tables_done: AtomicU64,
    /// Tables to do.
    pub tables_total: AtomicU64,
}

/// A column compared by the diff.
#[derive(Debug, Clone)]
struct DiffColumn {
    name: String,
    type_oid: u32,
    type_modifier: i32,
    format: String,
    not_null: bool,
    default: Option<String>,
}

/// A table ready to diff.
#[derive(Debug, Clone)]
struct TableJob {
    idx: usize,
    id: TableId,
    columns: Vec<DiffColumn>,
    /// Indexes into `columns` of the key, empty for keyless.
    key: Vec<usize>,
    filter: Option<String>,
    plan: Arc<TablePlan>,
    /// Compare through (ctid, xmin) first: both sides are physical copies and the table's file is the same.
    fast: bool,
    /// The old side's SELECT expressions, one per column, when the table drifted (see [`drift`]).
    old_exprs: Option<Vec<String>>,
    /// The side on which the table does not exist (created or dropped in the gap).
    missing: Option<Missing>,
}

/// A side of the diff without the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Missing {
    /// Created in the gap: every new row is a create.
    Old,
    /// Dropped in the gap: every old row is a delete.
    New,
}

/// A unit of work: a table, or a key range of one.
#[derive(Debug, Clone)]
struct Unit {
    job: Arc<TableJob>,
    range: Option<(i64, i64)>,
    /// `(i, n)`: only the rows whose key hashes to class `i` of `n` (the fast path's fetch, split across
    /// workers; a key's old and new versions always fall in the same class).
    part: Option<(u32, u32)>,
}

/// What a worker does next.
#[derive(Debug)]
enum Work {
    /// Full method over a table or a key range of it.
    Full(Unit),
    /// Fast path, phase 1: merge (ctid, xmin) over a block range (`None`: the whole table).
    Scan { job: Arc<TableJob>, blocks: Option<(u32, Option<u32>)> },
    /// Fast path, phase 2: fetch the candidates of the table on both sides (the `tids` predicates for
    /// old and new) and merge them by key; `part` splits that across workers by key hash.
    Fetch { job: Arc<TableJob>, tids: Arc<(String, String)>, part: Option<(u32, u32)>, matched: u64 },
}

impl Work {
    fn table(&self) -> usize {
        match self {
            Work::Full(u) => u.job.idx,
            Work::Scan { job, .. } | Work::Fetch { job, .. } => job.idx,
        }
    }
}

/// Candidates collected so far for a fast-path table.
#[derive(Debug)]
struct FastState {
    scans_left: usize,
    old: Vec<(u32, u16)>,
    new: Vec<(u32, u16)>,
    matched: u64,
    fallback: bool,
}

#[derive(Debug)]
struct Scheduler {
    queue: VecDeque<Work>,
    in_flight: usize,
    fast: std::collections::HashMap<usize, FastState>,
}

/// Session settings that make COPY text deterministic and identical on both sides.
/// (Sequential scans start at block 0 and run unparallelized, so `(ctid, xmin)` streams arrive in ctid
/// order; the fast path checks that order and falls back when it does not hold.)
const SESSION_SETUP: &str = "SET DateStyle = 'ISO'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; \
     SET extra_float_digits = 3; SET bytea_output = 'hex'; SET statement_timeout = 0; \
     SET idle_in_transaction_session_timeout = 0; SET synchronize_seqscans = off; \
     SET max_parallel_workers_per_gather = 0";

async fn open_side(dsn: &Dsn, snapshot: Option<&str>) -> Result<Client, SourceError> {
    let c = Catalog::connect(dsn).await?;
    let client = c.client;
    let err = |e| SourceError::Pg(tidemark_pgwire::sql::map_err(dsn, e));
    client.batch_execute(SESSION_SETUP).await.map_err(err)?;
    client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await.map_err(err)?;
    if let Some(s) = snapshot {
        client
            .batch_execute(&format!("SET TRANSACTION SNAPSHOT '{}'", s.replace('\'', "''")))
            .await
            .map_err(err)?;
    }
    Ok(client)
}

/// A worker's connection to one side, in that side's exported snapshot.
async fn open_worker_side(dsn: &Dsn, snapshot: &str) -> Result<Connection, SourceError> {
    let mut c = Connection::connect(dsn, false).await.map_err(SourceError::Pg)?;
    c.simple_query(SESSION_SETUP).await.map_err(SourceError::Pg)?;
    c.simple_query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await.map_err(SourceError::Pg)?;
    c.simple_query(&format!("SET TRANSACTION SNAPSHOT '{}'", snapshot.replace('\'', "''")))
        .await
        .map_err(SourceError::Pg)?;
    Ok(c)
}

fn pg_err(dsn: &Dsn) -> impl Fn(tokio_postgres::Error) -> SourceError + '_ {
    move |e| SourceError::Pg(tidemark_pgwire::sql::map_err(dsn, e))
}

async fn columns_of(client: &Client, dsn: &Dsn, t: &TableId) -> Result<Option<Vec<DiffColumn>>, SourceError> {
    let exists =
        client.query_one("SELECT to_regclass($1) IS NOT NULL", &[&t.quoted()]).await.map_err(pg_err(dsn))?;
    if !exists.get::<_, bool>(0) {
        return Ok(None);
    }
    let rows = client
        .query(
            "SELECT a.attname::text, a.atttypid, a.atttypmod, format_type(a.atttypid, a.atttypmod), a.attnotnull, \
               pg_get_expr(d.adbin, d.adrelid) \
             FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            &[&t.quoted()],
        )
        .await
        .map_err(pg_err(dsn))?;
    Ok(Some(
        rows.iter()
            .map(|r| DiffColumn {
                name: r.get(0),
                type_oid: r.get(1),
                type_modifier: r.get(2),
                format: r.get(3),
                not_null: r.get(4),
                default: r.get(5),
            })
            .collect(),
    ))
}

/// The key to merge on: primary key, else replica-identity index, else a unique index on NOT NULL
/// columns. Empty when the table has none (keyless).
async fn choose_key(client: &Client, dsn: &Dsn, t: &TableId) -> Result<(Vec<String>, bool), SourceError> {
    let rows = client
        .query(
            "SELECT i.indisprimary, \
               (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(n, ord) \
                  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n), \
               (SELECT bool_and(a.attnotnull) FROM unnest(i.indkey::int2[]) k(n) \
                  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n) \
             FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
             WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL \
             ORDER BY i.indisprimary DESC, i.indisreplident DESC, ic.relname",
            &[&t.quoted()],
        )
        .await
        .map_err(pg_err(dsn))?;
    for r in rows {
        let all_not_null: Option<bool> = r.get(2);
        if all_not_null == Some(true) {
            let cols: Vec<String> = r.get::<_, Option<Vec<String>>>(1).unwrap_or_default();
            return Ok((cols, r.get(0)));
        }
    }
    Ok((Vec::new(), false))
}

/// Tables (with optional column list and row filter) to compare.
async fn discover(
    client: &Client,
    old_client: &Client,
    opts: &DiffOptions,
) -> Result<Vec<(TableId, Option<Vec<String>>, Option<String>)>, SourceError> {
    let mut out = Vec::new();
    if !opts.publications.is_empty() {
        let version: i32 = client
            .query_one("SELECT current_setting('server_version_num')::int", &[])
            .await
            .map_err(pg_err(&opts.new))?
            .get(0);
        for p in &opts.publications {
            let found = client
                .query_opt("SELECT 1 FROM pg_publication WHERE pubname = $1", &[p])
                .await
                .map_err(pg_err(&opts.new))?;
            if found.is_none() {
                return Err(SourceError::DiffNoPublication(p.clone()));
            }
        }
        let sql = if version >= 150000 {
            "SELECT schemaname::text, tablename::text, attnames::text[], rowfilter FROM pg_publication_tables WHERE pubname = ANY($1) ORDER BY 1, 2"
        } else {
            "SELECT schemaname::text, tablename::text, NULL::text[], NULL::text FROM pg_publication_tables WHERE pubname = ANY($1) ORDER BY 1, 2"
        };
        for r in client.query(sql, &[&opts.publications]).await.map_err(pg_err(&opts.new))? {
            out.push((TableId::new(r.get::<_, String>(0), r.get::<_, String>(1)), r.get(2), r.get(3)));
        }
        // Tables the publications held on the old side that no longer exist on the new one were dropped
        // in the gap: their rows are deletes. (A table only removed from a publication stays out.)
        let old_version: i32 = old_client
            .query_one("SELECT current_setting('server_version_num')::int", &[])
            .await
            .map_err(pg_err(&opts.old))?
            .get(0);
        let old_sql = if old_version >= 150000 {
            "SELECT schemaname::text, tablename::text, attnames::text[], rowfilter FROM pg_publication_tables WHERE pubname = ANY($1) ORDER BY 1, 2"
        } else {
            "SELECT schemaname::text, tablename::text, NULL::text[], NULL::text FROM pg_publication_tables WHERE pubname = ANY($1) ORDER BY 1, 2"
        };
        for r in old_client.query(old_sql, &[&opts.publications]).await.map_err(pg_err(&opts.old))? {
            let id = TableId::new(r.get::<_, String>(0), r.get::<_, String>(1));
            let gone = client
                .query_one("SELECT to_regclass($1) IS NULL", &[&id.quoted()])
                .await
                .map_err(pg_err(&opts.new))?
                .get::<_, bool>(0);
            if gone {
                out.push((id, r.get(2), r.get(3)));
            }
        }
    }
    for t in &opts.tables {
        out.push((parse_table_name(t), None, None));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.dedup_by(|a, b| a.0 == b.0);
    out.retain(|(t, _, _)| !opts.exclude.iter().any(|r| r.is_match(&t.to_string())));
    Ok(out)
}

/// Compare the two databases. Events (unless `verify`) go to `events` in key order per table.
pub async fn run(
    opts: DiffOptions,
    events: Option<mpsc::Sender<DiffEvent>>,
    progress: Arc<DiffProgress>,
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
        Some((lineage::position(&opts.old).await?, lineage::position(&opts.new).await?))
    };
    // Coordinators hold the exported snapshots for the whole run.
    let old_coord = open_side(&opts.old, None).await?;
    let new_coord = open_side(&opts.new, None).await?;
    let old_snap: String =
        old_coord.query_one("SELECT pg_export_snapshot()", &[]).await.map_err(pg_err(&opts.old))?.get(0);
    let new_snap: String =
        new_coord.query_one("SELECT pg_export_snapshot()", &[]).await.map_err(pg_err(&opts.new))?.get(0);
    let event_time_us = match opts.event_time_us {
        Some(t) => t,
        None => new_coord
            .query_one("SELECT (extract(epoch FROM now()) * 1000000)::bigint", &[])
            .await
            .map_err(pg_err(&opts.new))?
            .get(0),
    };
    let mut enc_cfg = opts.encoder.clone();
    if enc_cfg.database.is_empty() {
        enc_cfg.database = new_coord
            .query_one("SELECT current_database()::text", &[])
            .await
            .map_err(pg_err(&opts.new))?
            .get(0);
    }
    let tables = discover(&new_coord, &old_coord, &opts).await?;
    let mut same_sysid = false;
    let fast_proof: Result<String, String> = match positions {
        None => Err("--method full".into()),
        Some(((old_sys, _), (new_sys, _))) if old_sys != new_sys => {
            Err("not physical copies of one cluster (different system identifiers)".into())
        }
        Some(((old_sys, old_pos), (new_sys, new_pos))) => {
            let o = lineage::probe("old", &opts.old, &old_coord, old_sys, old_pos).await?;
            let n = lineage::probe("new", &opts.new, &new_coord, new_sys, new_pos).await?;
            same_sysid = o.sysid == n.sysid;
            let same_cluster = same_sysid
                && lineage::sees_backend(&new_coord, o.pid).await
                && lineage::sees_backend(&old_coord, n.pid).await;
            let proof = lineage::prove(&o, &n, same_cluster);
            match &proof {
                Ok(why) => tracing::info!("(ctid, xmin) fast path allowed: {why}"),
                Err(why) if same_sysid => {
                    tracing::warn!("comparing every row instead of the (ctid, xmin) fast path: {why}")
                }
                Err(_) => {}
            }
            proof
        }
    };
    let physical = fast_proof.is_ok();
    let new_catalog_conn = Catalog::connect(&opts.new).await?;
    let mut old_catalog_conn: Option<Catalog> = None;
    let mut reg = TypeRegistry::default();
    let mut reports: Vec<TableReport> = Vec::new();
    let mut jobs: Vec<Arc<TableJob>> = Vec::new();
    for (id, col_list, filter) in tables {
        let idx = reports.len();
        let mut report = TableReport { table: id.to_string(), ..Default::default() };
        let new_cols = columns_of(&new_coord, &opts.new, &id).await?;
        let old_cols = columns_of(&old_coord, &opts.old, &id).await?;
        // The side whose catalog describes the table (new, unless the table was dropped in the gap), and
        // the side without the table, whose stream is empty: every row a create, or every row a delete.
        let (cols, old_cols, missing) = match (new_cols, old_cols) {
            (None, None) => {
                report.failure = Some("table does not exist on either side".into());
                reports.push(report);
                continue;
            }
            (Some(n), None) => (n, None, Some(Missing::Old)),
            (None, Some(o)) => (o, None, Some(Missing::New)),
            (Some(n), Some(o)) => (n, Some(o), None),
        };
        let (schema_client, schema_dsn) = match missing {
            Some(Missing::New) => (&old_coord, &opts.old),
            _ => (&new_coord, &opts.new),
        };
        let wanted: Vec<DiffColumn> = match &col_list {
            Some(list) => cols.iter().filter(|c| list.contains(&c.name)).cloned().collect(),
            None => cols.clone(),
        };
        let mut problems = Vec::new();
        let mut notes = Vec::new();
        let mut old_side = vec![drift::OldColumn::Same; wanted.len()];
        if let Some(old_cols) = &old_cols {
            for (i, c) in wanted.iter().enumerate() {
                match old_cols.iter().find(|o| o.name == c.name) {
                    None => {
                        old_side[i] = drift::OldColumn::Added;
                        notes.push(format!("column {} added in the gap (old rows read as NULL)", quote_ident(&c.name)));
                    }
                    Some(o) if o.format == c.format => {}
                    Some(o) if drift::lossless_widening(&o.format, &c.format) => {
                        old_side[i] = drift::OldColumn::Widened { from: o.format.clone() };
                        notes.push(format!(
                            "column {} widened from {} to {} (compared by value)",
                            quote_ident(&c.name),
                            o.format,
                            c.format
                        ));
                    }
                    Some(o) => problems.push(format!(
                        "column {} changed type from {} (old) to {} (new), which is not a lossless widening, so \
                         old and new values cannot be compared. Fix: leave the table out (--exclude) and compare it \
                         by other means",
                        quote_ident(&c.name),
                        o.format,
                        c.format
                    )),
                }
            }
            if col_list.is_none() {
                for o in old_cols {
                    if !cols.iter().any(|c| c.name == o.name) {
                        notes.push(format!(
                            "column {} dropped in the gap (not compared)",
                            quote_ident(&o.name)
                        ));
                    }
                }
            }
        }
        let (key_names, is_pk) = choose_key(schema_client, schema_dsn, &id).await?;
        let key: Vec<usize> =
            key_names.iter().filter_map(|k| wanted.iter().position(|c| &c.name == k)).collect();
        let key = if key.len() == key_names.len() { key } else { Vec::new() };
        for &i in &key {
            if old_side[i] == drift::OldColumn::Added {
                problems.push(format!(
                    "key column {} was added in the gap, so old and new rows cannot be matched. Fix: leave the \
                     table out (--exclude) and compare it by other means",
                    quote_ident(&wanted[i].name)
                ));
            }
        }
        if !problems.is_empty() {
            report.failure = Some(problems.join("; "));
            reports.push(report);
            continue;
        }
        report.method = if key.is_empty() {
            "keyless".into()
        } else {
            format!("key ({})", key.iter().map(|&i| wanted[i].name.as_str()).collect::<Vec<_>>().join(", "))
        };
        match missing {
            Some(Missing::Old) => notes.push("created in the gap (every row a create)".into()),
            Some(Missing::New) => notes.push("dropped in the gap (every row a delete)".into()),
            None => {}
        }
        report.schema_changes = notes.clone();
        let drifted = !notes.is_empty();
        let old_exprs = old_side
            .iter()
            .any(|o| *o != drift::OldColumn::Same)
            .then(|| wanted.iter().zip(&old_side).map(|(c, o)| o.expr(&c.name, &c.format)).collect());
        if missing == Some(Missing::New) {
            let cat = match &old_catalog_conn {
                Some(c) => c,
                None => old_catalog_conn.insert(Catalog::connect(&opts.old).await?),
            };
            cat.load_types(&mut reg, wanted.iter().map(|c| c.type_oid)).await?;
        } else {
            new_catalog_conn.load_types(&mut reg, wanted.iter().map(|c| c.type_oid)).await?;
        }
        let replident: String = schema_client
            .query_one("SELECT relreplident::text FROM pg_class WHERE oid = to_regclass($1)", &[&id.quoted()])
            .await
            .map_err(pg_err(schema_dsn))?
            .get(0);
        let schema = TableSchema {
            oid: 0,
            id: id.clone(),
            replica_identity: ReplicaIdentity::from_byte(
                replident.as_bytes().first().copied().unwrap_or(b'd'),
            ),
            columns: wanted
                .iter()
                .enumerate()
                .map(|(i, c)| Column {
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
        let plan = Arc::new(TablePlan::build(Arc::new(schema), &reg, &enc_cfg)?);
        let fast = if drifted {
            if physical {
                report.method.push_str("; full (the table differs between the sides)");
            }
            false
        } else if physical {
            let q = "SELECT c.relkind::text, pg_relation_filenode(c.oid)::int8 FROM pg_class c WHERE c.oid = to_regclass($1)";
            let o = old_coord.query_one(q, &[&id.quoted()]).await.map_err(pg_err(&opts.old))?;
            let n = new_coord.query_one(q, &[&id.quoted()]).await.map_err(pg_err(&opts.new))?;
            let same_file = o.get::<_, Option<i64>>(1) == n.get::<_, Option<i64>>(1);
            let plain = o.get::<_, String>(0) == "r" && n.get::<_, String>(0) == "r";
            if !(same_file && plain) {
                report.method.push_str(if plain {
                    "; full (table rewritten since the copies split)"
                } else {
                    "; full (partitioned tables take the full method)"
                });
            }
            same_file && plain
        } else {
            if same_sysid {
                report.method.push_str("; full (neither side provably an earlier state of the other)");
            } else if opts.method == DiffMethod::Fast {
                report.method.push_str("; full (not physical copies of one cluster)");
            }
            false
        };
        if fast {
            report.method.push_str("; fast path (ctid, xmin)");
        }
        jobs.push(Arc::new(TableJob {
            idx,
            id,
            columns: wanted,
            key,
            filter,
            plan,
            fast,
            old_exprs,
            missing,
        }));
        reports.push(report);
    }
    progress.tables_total.store(jobs.len() as u64, AtomicOrdering::Relaxed);

    // Work units: whole tables, or key ranges of large single-integer-key tables.
    let workers = opts.jobs.max(1);
    let mut units = VecDeque::new();
    for job in &jobs {
        let mut split = false;
        // Fast-path tables are split by block ranges below, never by key.
        if !job.fast
            && job.missing.is_none()
            && workers > 1
            && job.key.len() == 1
            && KeyKind::for_type(job.columns[job.key[0]].type_oid) == KeyKind::Int
        {
            let est: f32 = new_coord
                .query_one("SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)", &[&job.id.quoted()])
                .await
                .map_err(pg_err(&opts.new))?
                .get(0);
            if est > 500_000.0 {
                let k = quote_ident(&job.columns[job.key[0]].name);
                let q = format!("SELECT min({k})::int8, max({k})::int8 FROM {}", job.id.quoted());
                let (mut lo, mut hi) = (i64::MAX, i64::MIN);
                for c in [&old_coord, &new_coord] {
                    let r = c.query_one(&q, &[]).await.map_err(pg_err(&opts.new))?;
                    if let (Some(a), Some(b)) = (r.get::<_, Option<i64>>(0), r.get::<_, Option<i64>>(1)) {
                        lo = lo.min(a);
                        hi = hi.max(b);
                    }
                }
                if lo <= hi {
                    let parts = (workers * 2) as i128;
                    let span = (hi as i128 - lo as i128 + 1).max(1);
                    let step = (span + parts - 1) / parts;
                    let mut start = lo as i128;
                    while start <= hi as i128 {
                        let end = (start + step).min(hi as i128 + 1);
                        units.push_back(Unit {
                            job: job.clone(),
                            range: Some((start as i64, (end - 1) as i64)),
                            part: None,
                        });
                        start = end;
                    }
                    split = true;
                }
            }
        }
        if !split {
            units.push_back(Unit { job: job.clone(), range: None, part: None });
        }
    }
    // Fast-path tables: phase 1 scans (ctid, xmin) by block ranges in parallel, phase 2 fetches the
    // candidates of the whole table and merges them by key (a row's old and new versions may lie in
    // different block ranges, so the key merge must see all candidates at once).
    let mut queue: VecDeque<Work> = units
        .into_iter()
        .map(|u| if u.job.fast { Work::Scan { job: u.job, blocks: None } } else { Work::Full(u) })
        .collect();
    let mut fast_state = std::collections::HashMap::new();
    let mut expanded = VecDeque::new();
    for w in queue.drain(..) {
        match w {
            Work::Scan { job, .. } if fast_state.contains_key(&job.idx) => {}
            Work::Scan { job, .. } => {
                let q = "SELECT (pg_relation_size(to_regclass($1)) / current_setting('block_size')::int8)::int8, current_setting('server_version_num')::int";
                let o = old_coord.query_one(q, &[&job.id.quoted()]).await.map_err(pg_err(&opts.old))?;
                let n = new_coord.query_one(q, &[&job.id.quoted()]).await.map_err(pg_err(&opts.new))?;
                let blocks = o.get::<_, i64>(0).max(n.get::<_, i64>(0)).max(0) as u32;
                let tid_range = o.get::<_, i32>(1) >= 140000 && n.get::<_, i32>(1) >= 140000;
                let parts = if tid_range && workers > 1 && blocks > 2000 { (workers * 2) as u32 } else { 1 };
                let step = blocks.div_ceil(parts).max(1);
                let mut scans = 0;
                for i in 0..parts {
                    let lo = i * step;
                    let hi = if i + 1 == parts { None } else { Some((i + 1) * step) };
                    expanded.push_back(Work::Scan {
                        job: job.clone(),
                        blocks: if parts == 1 { None } else { Some((lo, hi)) },
                    });
                    scans += 1;
                }
                fast_state.insert(
                    job.idx,
                    FastState {
                        scans_left: scans,
                        old: Vec::new(),
                        new: Vec::new(),
                        matched: 0,
                        fallback: false,
                    },
                );
            }
            other => expanded.push_back(other),
        }
    }
    let sched = Arc::new(Mutex::new(Scheduler { queue: expanded, in_flight: 0, fast: fast_state }));
    let reports = Arc::new(Mutex::new(reports));
    let mut handles = Vec::new();
    let n_workers = workers.min(sched.lock().expect("lock").queue.len().max(1));
    for _ in 0..n_workers {
        let opts = opts.clone();
        let (old_snap, new_snap) = (old_snap.clone(), new_snap.clone());
        let sched = sched.clone();
        let reports = reports.clone();
        let events = events.clone();
        let progress = progress.clone();
        handles.push(tokio::spawn(async move {
            // Workers read over lean connections of their own (see copy::TidXminReader), in the sides'
            // exported snapshots.
            let mut old = open_worker_side(&opts.old, &old_snap).await?;
            let mut new = open_worker_side(&opts.new, &new_snap).await?;
            loop {
                let next = {
                    let mut s = sched.lock().expect("lock");
                    match s.queue.pop_front() {
                        Some(w) => {
                            s.in_flight += 1;
                            Some(Some(w))
                        }
                        None if s.in_flight == 0 => None,
                        None => Some(None),
                    }
                };
                let work = match next {
                    None => break,
                    Some(None) => {
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    }
                    Some(Some(w)) => w,
                };
                let t0 = Instant::now();
                let (idx, counts, finished) = match work {
                    Work::Full(unit) => {
                        let c = diff_unit(&opts, &mut old, &mut new, &unit, None, event_time_us, events.as_ref(), &progress).await?;
                        (unit.job.idx, c, true)
                    }
                    Work::Scan { job, blocks } => {
                        let found = fast_candidates(&mut old, &mut new, &job, blocks, &progress).await?;
                        let mut s = sched.lock().expect("lock");
                        let st = s.fast.get_mut(&job.idx).expect("fast state");
                        match found {
                            Some(c) if !st.fallback => {
                                st.old.extend(c.old);
                                st.new.extend(c.new);
                                st.matched += c.matched;
                                if st.old.len() + st.new.len() > MAX_FAST_CANDIDATES {
                                    st.fallback = true;
                                }
                            }
                            _ => st.fallback = true,
                        }
                        st.scans_left -= 1;
                        if st.scans_left == 0 {
                            let st = s.fast.remove(&job.idx).expect("fast state");
                            let next = if st.fallback {
                                tracing::info!(table = %job.id, "fast path not usable here; comparing every row");
                                Work::Full(Unit { job: job.clone(), range: None, part: None })
                            } else {
                                let (mut old_tids, mut new_tids) = (st.old, st.new);
                                old_tids.sort_unstable();
                                new_tids.sort_unstable();
                                let tids = Arc::new((tid_predicate(&old_tids), tid_predicate(&new_tids)));
                                // Many candidates: fetch and encode them on every worker, by key hash.
                                let n = if old_tids.len() + new_tids.len() >= FETCH_SPLIT_MIN { workers as u32 } else { 1 };
                                for i in (1..n).rev() {
                                    s.queue.push_front(Work::Fetch { job: job.clone(), tids: tids.clone(), part: Some((i, n)), matched: 0 });
                                }
                                Work::Fetch { job: job.clone(), tids, part: (n > 1).then_some((0, n)), matched: st.matched }
                            };
                            s.queue.push_front(next);
                        }
                        (job.idx, (0, 0, 0, 0), false)
                    }
                    Work::Fetch { job, tids, part, matched } => {
                        let unit = Unit { job: job.clone(), range: None, part };
                        let preds = Some((tids.0.as_str(), tids.1.as_str()));
                        let (cr, up, de, un) =
                            diff_unit(&opts, &mut old, &mut new, &unit, preds, event_time_us, events.as_ref(), &progress).await?;
                        (job.idx, (cr, up, de, un + matched), true)
                    }
                };
                {
                    let mut r = reports.lock().expect("lock");
                    let rep = &mut r[idx];
                    rep.created += counts.0;
                    rep.updated += counts.1;
                    rep.deleted += counts.2;
                    rep.unchanged += counts.3;
                    rep.seconds += t0.elapsed().as_secs_f64();
                }
                let mut s = sched.lock().expect("lock");
                s.in_flight -= 1;
                if finished && !s.queue.iter().any(|w| w.table() == idx) {
                    progress.tables_done.fetch_add(1, AtomicOrdering::Relaxed);
                }
            }
            Ok::<(), SourceError>(())
        }));
    }
    drop(events);
    for h in handles {
        match h.await {
            Ok(r) => r?,
            Err(e) => {
                return Err(SourceError::Pg(tidemark_pgwire::PgError::Protocol(format!(
                    "diff worker panicked: {e}"
                ))))
            }
        }
    }
    drop(old_coord);
    drop(new_coord);
    let tables = reports.lock().expect("lock").clone();
    let (fast_path_allowed, fast_path_reason) = match fast_proof {
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

/// Diff one unit; returns (created, updated, deleted, unchanged).
#[allow(clippy::too_many_arguments)]
async fn diff_unit(
    opts: &DiffOptions,
    old: &mut Connection,
    new: &mut Connection,
    unit: &Unit,
    side_predicates: Option<(&str, &str)>,
    event_time_us: i64,
    events: Option<&mpsc::Sender<DiffEvent>>,
    progress: &DiffProgress,
) -> Result<(u64, u64, u64, u64), SourceError> {
    let job = &unit.job;
    let cols: Vec<String> = job.columns.iter().map(|c| quote_ident(&c.name)).collect();
    // The old side reads drifted columns through their own expressions (NULL, casts; see `drift`).
    let old_cols: &[String] = job.old_exprs.as_deref().unwrap_or(&cols);
    let kinds: Vec<KeyKind> = if job.key.is_empty() {
        vec![KeyKind::Repr]
    } else {
        job.key.iter().map(|&i| KeyKind::for_type(job.columns[i].type_oid)).collect()
    };
    let sort_exprs_of = |exprs: &[String]| -> Vec<String> {
        if job.key.is_empty() {
            vec![format!("ROW({})::text COLLATE \"C\"", exprs.join(", "))]
        } else {
            job.key
                .iter()
                .zip(&kinds)
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
    let (old_sql, new_sql) = match side_predicates {
        Some((o, n)) => (sql_for(old_cols, Some(o)), sql_for(&cols, Some(n))),
        None => (sql_for(old_cols, None), sql_for(&cols, None)),
    };
    let old_sql = if job.missing == Some(Missing::Old) { NO_ROWS.to_string() } else { old_sql };
    let new_sql = if job.missing == Some(Missing::New) { NO_ROWS.to_string() } else { new_sql };
    let (mut a, mut b) = tokio::try_join!(CopyLines::start(old, &old_sql), CopyLines::start(new, &new_sql))
        .map_err(SourceError::Pg)?;
    let mut la = a.next_line().await?;
    let mut lb = b.next_line().await?;
    let (mut created, mut updated, mut deleted, mut unchanged) = (0u64, 0u64, 0u64, 0u64);
    let mut rows_since = 0u64;
    let emit = |kind: ChangeKind, before: Option<&Bytes>, after: Option<&Bytes>| -> Option<DiffEvent> {
        let row = |l: &Bytes| -> Vec<Datum> {
            copy::fields(l)
                .into_iter()
                .skip(nk)
                .map(|f| if copy::is_null(&f) { Datum::Null } else { Datum::Text(copy::unescape(&f)) })
                .collect()
        };
        Some(DiffEvent {
            plan: job.plan.clone(),
            event: ChangeEvent {
                table: job.plan.table.clone(),
                kind,
                before: before.map(row),
                after: after.map(row),
                source: SourceInfo {
                    ts_us: event_time_us,
                    tx_id: None,
                    lsn: None,
                    last_commit_lsn: None,
                    snapshot: None,
                },
                tx: None,
            },
        })
    };
    loop {
        let ord = match (&la, &lb) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            // Most keys match byte for byte (the same text is the same key, whatever the type);
            // only differing ones need the typed comparison and its field split.
            (Some(x), Some(y)) if key_part(x, nk) == key_part(y, nk) => std::cmp::Ordering::Equal,
            (Some(x), Some(y)) => keys::compare_keys(&kinds, &key_fields(x, nk), &key_fields(y, nk)),
        };
        let ev = match ord {
            std::cmp::Ordering::Less => {
                deleted += 1;
                let e = if opts.verify { None } else { emit(ChangeKind::Delete, la.as_ref(), None) };
                la = a.next_line().await?;
                rows_since += 1;
                e
            }
            std::cmp::Ordering::Greater => {
                created += 1;
                let e = if opts.verify { None } else { emit(ChangeKind::Insert, None, lb.as_ref()) };
                lb = b.next_line().await?;
                rows_since += 1;
                e
            }
            std::cmp::Ordering::Equal => {
                let (x, y) = (la.as_ref().expect("some"), lb.as_ref().expect("some"));
                let e = if data_part(x, nk) == data_part(y, nk) {
                    unchanged += 1;
                    None
                } else {
                    updated += 1;
                    if opts.verify {
                        None
                    } else {
                        emit(ChangeKind::Update, Some(x), Some(y))
                    }
                };
                la = a.next_line().await?;
                lb = b.next_line().await?;
                rows_since += 2;
                e
            }
        };
        if let (Some(ev), Some(tx)) = (ev, events) {
            progress.changes.fetch_add(1, AtomicOrdering::Relaxed);
            if tx.send(ev).await.is_err() {
                return Err(SourceError::Pg(tidemark_pgwire::PgError::Protocol(
                    "event consumer stopped".into(),
                )));
            }
        }
        if rows_since >= 4096 {
            progress.rows.fetch_add(rows_since, AtomicOrdering::Relaxed);
            rows_since = 0;
        }
    }
    progress.rows.fetch_add(rows_since, AtomicOrdering::Relaxed);
    if opts.verify {
        progress.changes.fetch_add(created + updated + deleted, AtomicOrdering::Relaxed);
    }
    Ok((created, updated, deleted, unchanged))
}

/// The first `nk` fields of a line.
fn key_fields(line: &Bytes, nk: usize) -> Vec<Bytes> {
    let mut out = Vec::with_capacity(nk);
    let mut start = 0;
    for i in memchr::memchr_iter(b'\t', line) {
        if out.len() == nk {
            break;
        }
        out.push(line.slice(start..i));
        start = i + 1;
    }
    if out.len() < nk {
        out.push(line.slice(start..));
    }
    out
}

/// Where the first `nk` fields of a line end: the tab after them, if any.
fn key_end(line: &[u8], nk: usize) -> Option<usize> {
    memchr::memchr_iter(b'\t', line).nth(nk - 1)
}

/// The first `nk` fields of a line, tabs between them included.
fn key_part(line: &Bytes, nk: usize) -> &[u8] {
    key_end(line, nk).map_or(&line[..], |i| &line[..i])
}

/// Everything after the first `nk` fields (the row's columns).
fn data_part(line: &Bytes, nk: usize) -> &[u8] {
    key_end(line, nk).map_or(&[], |i| &line[i + 1..])
}

/// Row versions that differ between two physical copies of one table.
struct Candidates {
    old: Vec<(u32, u16)>,
    new: Vec<(u32, u16)>,
    /// Versions present on both sides with the same (ctid, xmin): unchanged rows.
    matched: u64,
}

/// Candidates (old + new) from which the fetch is split across workers.
const FETCH_SPLIT_MIN: usize = 4096;

/// Most candidates worth fetching by TID before the full method is cheaper.
const MAX_FAST_CANDIDATES: usize = 2_000_000;

/// Merge the `(ctid, xmin)` streams of both sides. `None` means "use the full method" (order not
/// as expected, or too many candidates).
async fn fast_candidates(
    old: &mut Connection,
    new: &mut Connection,
    job: &TableJob,
    blocks: Option<(u32, Option<u32>)>,
    progress: &DiffProgress,
) -> Result<Option<Candidates>, SourceError> {
    let range = match blocks {
        None => String::new(),
        Some((lo, None)) => format!(" WHERE ctid >= '({lo},0)'::tid"),
        Some((lo, Some(hi))) => format!(" WHERE ctid >= '({lo},0)'::tid AND ctid < '({hi},0)'::tid"),
    };
    let sql =
        format!("COPY (SELECT ctid, xmin FROM ONLY {}{range}) TO STDOUT (FORMAT binary)", job.id.quoted());
    let (mut a, mut b) =
        tokio::try_join!(copy::TidXminReader::start(old, &sql), copy::TidXminReader::start(new, &sql))
            .map_err(SourceError::Pg)?;
    let mut c = Candidates { old: Vec::new(), new: Vec::new(), matched: 0 };
    let mut la = a.next_row().await?;
    let mut lb = b.next_row().await?;
    let (mut last_a, mut last_b) = ((0u32, 0u16), (0u32, 0u16));
    let mut rows = 0u64;
    // true: give up (order not as expected, or too many candidates).
    let gave_up = loop {
        let ord = match (&la, &lb) {
            (None, None) => break false,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => x.0.cmp(&y.0),
        };
        match ord {
            std::cmp::Ordering::Less => c.old.push(la.take().expect("some").0),
            std::cmp::Ordering::Greater => c.new.push(lb.take().expect("some").0),
            std::cmp::Ordering::Equal => {
                let (x, y) = (la.take().expect("some"), lb.take().expect("some"));
                if x.1 == y.1 {
                    c.matched += 1;
                } else {
                    c.old.push(x.0);
                    c.new.push(y.0);
                }
            }
        }
        if la.is_none() {
            la = a.next_row().await?;
            if let Some(x) = &la {
                if x.0 < last_a {
                    break true;
                }
                last_a = x.0;
            }
        }
        if lb.is_none() {
            lb = b.next_row().await?;
            if let Some(y) = &lb {
                if y.0 < last_b {
                    break true;
                }
                last_b = y.0;
            }
        }
        rows += 1;
        if rows.is_multiple_of(65_536) {
            progress.rows.fetch_add(65_536, AtomicOrdering::Relaxed);
        }
        if c.old.len() + c.new.len() > MAX_FAST_CANDIDATES {
            tracing::info!(table = %job.id, "many changed row versions; using the full method");
            break true;
        }
    };
    if gave_up {
        // Both COPYs are still running: read them out so the connections stay usable.
        a.drain().await?;
        b.drain().await?;
        return Ok(None);
    }
    Ok(Some(c))
}

/// `ctid = ANY('{"(b,o)",...}'::tid[])`
fn tid_predicate(tids: &[(u32, u16)]) -> String {
    let mut s = String::with_capacity(tids.len() * 12 + 32);
    s.push_str("ctid = ANY('{");
    for (i, (b, o)) in tids.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!("\"({b},{o})\""));
    }
    s.push_str("}'::tid[])");
    s
}
