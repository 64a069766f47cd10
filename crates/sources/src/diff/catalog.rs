//! Every catalog and control query the diff sends, in one place: opening each side's snapshot, which
//! tables to compare (publications), their columns, keys and storage facts, and what the fast path's
//! proof needs to know about each side's place in the cluster's history ([`lineage`](super::lineage)
//! decides from it). The rows themselves are read elsewhere, by COPY ([`unit`](super::unit),
//! [`fast_path`](super::fast_path)).
//!
//! Invariant: every query runs in the side's snapshot transaction (the coordinator) unless it must not
//! (positions before the snapshot, the history probe, which uses connections of its own); values are
//! bound as parameters and identifiers quoted, so nothing here depends on table names being tame.

use std::str::FromStr;

use tidemark_model::{quote_ident, Lsn, ReplicaIdentity, TableId};
use tidemark_pgwire::replication::ReplicationStream;
use tidemark_pgwire::{Connection, Dsn};
use tokio_postgres::Client;

use super::lineage::{self, Side};
use super::DiffOptions;
use crate::catalog::{parse_table_name, Catalog};
use crate::copy;
use crate::SourceError;

pub(super) fn pg_err(dsn: &Dsn) -> impl Fn(tokio_postgres::Error) -> SourceError + '_ {
    move |e| SourceError::Pg(tidemark_pgwire::sql::map_err(dsn, e))
}

/// One side's coordinator: the snapshot transaction every worker of that side joins.
#[derive(Debug)]
pub(super) struct Coordinator {
    pub dsn: Dsn,
    pub client: Client,
    /// `pg_export_snapshot()` of the coordinator's transaction.
    pub snapshot: String,
}

impl Coordinator {
    /// Open the coordinator's REPEATABLE READ transaction and export its snapshot.
    pub async fn open(dsn: &Dsn) -> Result<Coordinator, SourceError> {
        let client = Catalog::connect(dsn).await?.client;
        let err = pg_err(dsn);
        client.batch_execute(copy::SESSION_SETUP).await.map_err(&err)?;
        client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await.map_err(&err)?;
        let snapshot: String =
            client.query_one("SELECT pg_export_snapshot()", &[]).await.map_err(&err)?.get(0);
        Ok(Coordinator { dsn: dsn.clone(), client, snapshot })
    }

    fn err(&self) -> impl Fn(tokio_postgres::Error) -> SourceError + '_ {
        pg_err(&self.dsn)
    }

    /// A worker's connection to this side, in its exported snapshot.
    pub async fn worker(dsn: &Dsn, snapshot: &str) -> Result<Connection, SourceError> {
        copy::join_snapshot(dsn, snapshot).await
    }

    /// The server's clock, µs since the epoch.
    pub async fn now_us(&self) -> Result<i64, SourceError> {
        let q = "SELECT (extract(epoch FROM now()) * 1000000)::bigint";
        Ok(self.client.query_one(q, &[]).await.map_err(self.err())?.get(0))
    }

    /// `current_database()`.
    pub async fn database(&self) -> Result<String, SourceError> {
        Ok(self.client.query_one("SELECT current_database()::text", &[]).await.map_err(self.err())?.get(0))
    }

    /// `server_version_num`.
    async fn version(&self) -> Result<i32, SourceError> {
        let q = "SELECT current_setting('server_version_num')::int";
        Ok(self.client.query_one(q, &[]).await.map_err(self.err())?.get(0))
    }

    /// Whether the table exists in the snapshot.
    pub async fn exists(&self, t: &TableId) -> Result<bool, SourceError> {
        let q = "SELECT to_regclass($1) IS NOT NULL";
        Ok(self.client.query_one(q, &[&t.quoted()]).await.map_err(self.err())?.get(0))
    }

    /// The table's columns, `None` when it does not exist on this side.
    pub async fn columns(&self, t: &TableId) -> Result<Option<Vec<Column>>, SourceError> {
        if !self.exists(t).await? {
            return Ok(None);
        }
        let rows = self
            .client
            .query(
                "SELECT a.attname::text, a.atttypid, a.atttypmod, format_type(a.atttypid, a.atttypmod), a.attnotnull, \
                   pg_get_expr(d.adbin, d.adrelid) \
                 FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
                 WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                &[&t.quoted()],
            )
            .await
            .map_err(self.err())?;
        Ok(Some(
            rows.iter()
                .map(|r| Column {
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
    /// columns; and whether it is the primary key. Empty when the table has none (keyless).
    pub async fn key(&self, t: &TableId) -> Result<(Vec<String>, bool), SourceError> {
        let rows = self
            .client
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
            .map_err(self.err())?;
        for r in rows {
            let all_not_null: Option<bool> = r.get(2);
            if all_not_null == Some(true) {
                let cols: Vec<String> = r.get::<_, Option<Vec<String>>>(1).unwrap_or_default();
                return Ok((cols, r.get(0)));
            }
        }
        Ok((Vec::new(), false))
    }

    /// `pg_class.relreplident`.
    pub async fn replica_identity(&self, t: &TableId) -> Result<ReplicaIdentity, SourceError> {
        let q = "SELECT relreplident::text FROM pg_class WHERE oid = to_regclass($1)";
        let r: String = self.client.query_one(q, &[&t.quoted()]).await.map_err(self.err())?.get(0);
        Ok(ReplicaIdentity::from_byte(r.as_bytes().first().copied().unwrap_or(b'd')))
    }

    /// `(relkind, filenode)`: equal filenodes on two physical copies mean the table was not rewritten.
    pub async fn storage(&self, t: &TableId) -> Result<(String, Option<i64>), SourceError> {
        let q = "SELECT c.relkind::text, pg_relation_filenode(c.oid)::int8 FROM pg_class c WHERE c.oid = to_regclass($1)";
        let r = self.client.query_one(q, &[&t.quoted()]).await.map_err(self.err())?;
        Ok((r.get(0), r.get(1)))
    }

    /// The planner's row estimate.
    pub async fn estimated_rows(&self, t: &TableId) -> Result<f32, SourceError> {
        let q = "SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)";
        Ok(self.client.query_one(q, &[&t.quoted()]).await.map_err(self.err())?.get(0))
    }

    /// `min` and `max` of an integer column (`None` for an empty table).
    pub async fn int_range(&self, t: &TableId, column: &str) -> Result<Option<(i64, i64)>, SourceError> {
        let k = quote_ident(column);
        let q = format!("SELECT min({k})::int8, max({k})::int8 FROM {}", t.quoted());
        let r = self.client.query_one(&q, &[]).await.map_err(self.err())?;
        Ok(match (r.get::<_, Option<i64>>(0), r.get::<_, Option<i64>>(1)) {
            (Some(a), Some(b)) => Some((a, b)),
            _ => None,
        })
    }

    /// The table's size in blocks, and `server_version_num`.
    pub async fn blocks(&self, t: &TableId) -> Result<(i64, i32), SourceError> {
        let q = "SELECT (pg_relation_size(to_regclass($1)) / current_setting('block_size')::int8)::int8, current_setting('server_version_num')::int";
        let r = self.client.query_one(q, &[&t.quoted()]).await.map_err(self.err())?;
        Ok((r.get(0), r.get(1)))
    }

    /// Tables (with column list and row filter, PostgreSQL 15+) the publications hold on this side.
    async fn publication_tables(
        &self,
        publications: &[String],
    ) -> Result<Vec<(TableId, Option<Vec<String>>, Option<String>)>, SourceError> {
        let sql = if self.version().await? >= 150000 {
            "SELECT schemaname::text, tablename::text, attnames::text[], rowfilter FROM pg_publication_tables WHERE pubname = ANY($1) ORDER BY 1, 2"
        } else {
            "SELECT schemaname::text, tablename::text, NULL::text[], NULL::text FROM pg_publication_tables WHERE pubname = ANY($1) ORDER BY 1, 2"
        };
        let rows = self.client.query(sql, &[&publications]).await.map_err(self.err())?;
        Ok(rows
            .iter()
            .map(|r| (TableId::new(r.get::<_, String>(0), r.get::<_, String>(1)), r.get(2), r.get(3)))
            .collect())
    }

    /// Whether the publication exists on this side.
    async fn has_publication(&self, name: &str) -> Result<bool, SourceError> {
        let q = "SELECT 1 FROM pg_publication WHERE pubname = $1";
        Ok(self.client.query_opt(q, &[&name]).await.map_err(self.err())?.is_some())
    }

    /// Whether the backend `pid` is visible here (both sides in one running cluster).
    pub async fn sees_backend(&self, pid: i32) -> bool {
        self.client
            .query_one("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", &[&pid])
            .await
            .map(|r| r.get::<_, i64>(0) > 0)
            .unwrap_or(false)
    }
}

/// A column compared by the diff, as `pg_attribute` describes it.
#[derive(Debug, Clone)]
pub(super) struct Column {
    pub name: String,
    pub type_oid: u32,
    pub type_modifier: i32,
    /// `format_type` spelling (`numeric(12,2)`), compared across sides to detect drift.
    pub format: String,
    pub not_null: bool,
    pub default: Option<String>,
}

/// Tables to compare, with optional column list and row filter, in name order: the publications' tables
/// (read on the new side, plus those the old side's publications held that the new side no longer has:
/// dropped in the gap), the explicit tables, minus the excluded ones.
pub(super) async fn discover(
    new: &Coordinator,
    old: &Coordinator,
    opts: &DiffOptions,
) -> Result<Vec<(TableId, Option<Vec<String>>, Option<String>)>, SourceError> {
    let mut out = Vec::new();
    if !opts.publications.is_empty() {
        for p in &opts.publications {
            if !new.has_publication(p).await? {
                return Err(SourceError::DiffNoPublication(p.clone()));
            }
        }
        out = new.publication_tables(&opts.publications).await?;
        // A table only removed from a publication stays out.
        for t in old.publication_tables(&opts.publications).await? {
            if !new.exists(&t.0).await? {
                out.push(t);
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

/// The system identifier and the WAL position (replay position in recovery) before the snapshot is
/// taken, read on a plain connection: a lower bound of what the snapshot contains.
pub(super) async fn position(dsn: &Dsn) -> Result<(String, Lsn), SourceError> {
    let c = Catalog::connect(dsn).await?;
    let r = c
        .client
        .query_one(
            "SELECT system_identifier::text, (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() \
             ELSE pg_current_wal_lsn() END)::text FROM pg_control_system()",
            &[],
        )
        .await
        .map_err(pg_err(dsn))?;
    Ok((r.get(0), parse_lsn(r.get(1))))
}

/// An LSN column; unknown (NULL, unreadable) is `0/0`.
fn parse_lsn(v: Option<String>) -> Lsn {
    v.and_then(|p| Lsn::from_str(&p).ok()).unwrap_or(Lsn::ZERO)
}

/// Everything else [`lineage::prove`] needs about a side, after the diff's snapshot exists. Query
/// failures leave fields unknown (the proof then fails and says why); they never fail the diff.
pub(super) async fn probe(
    label: &'static str,
    coord: &Coordinator,
    sysid: String,
    pos_before: Lsn,
) -> Result<Side, SourceError> {
    let dsn = &coord.dsn;
    // Unknown values fail the proof: xmax "infinite", next xid 0.
    let mut s = Side { label, sysid, pos_before, ..Default::default() };
    if let Ok(r) = coord
        .client
        .query_one("SELECT txid_snapshot_xmax(txid_current_snapshot())::int8, pg_backend_pid()", &[])
        .await
    {
        s.snapshot_xmax = r.get::<_, i64>(0) as u64;
        s.pid = r.get(1);
    }
    let c = Catalog::connect(dsn).await?;
    let q = "SELECT pg_is_in_recovery(), pg_postmaster_start_time()::text, \
               (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text, \
               (CASE WHEN pg_is_in_recovery() THEN NULL \
                     ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END), \
               k.timeline_id, k.prev_timeline_id, k.next_xid \
             FROM pg_control_checkpoint() k";
    let r = match c.client.query_one(q, &[]).await {
        Ok(r) => r,
        Err(e) => {
            s.history = Err(format!("cannot read the {label} side's WAL position: {e}"));
            return Ok(s);
        }
    };
    s.in_recovery = r.get(0);
    s.started = r.get(1);
    s.pos_after = parse_lsn(r.get(2));
    s.timeline = r.get::<_, Option<i32>>(3).map(|t| t as u32);
    s.ckpt_tli = r.get::<_, i32>(4) as u32;
    s.ckpt_prev_tli = r.get::<_, i32>(5) as u32;
    // Unknown next xid: treated as "took writes" (the proof fails safe).
    s.ckpt_next_xid = lineage::parse_full_xid(&r.get::<_, String>(6)).unwrap_or(0);
    // A standby's timeline is what IDENTIFY_SYSTEM reports (needs a replication connection).
    let mut repl = None;
    if s.timeline.is_none() {
        if let Ok(mut rs) = ReplicationStream::connect(dsn).await {
            if let Ok(id) = rs.identify_system().await {
                s.timeline = Some(id.timeline).filter(|t| *t > 0);
            }
            repl = Some(rs);
        }
    }
    let Some(tli) = s.timeline else {
        s.history = Err(format!(
            "cannot learn the {label} side's timeline (a standby needs a role with REPLICATION and a \
             pg_hba.conf replication entry)"
        ));
        return Ok(s);
    };
    if tli == 1 {
        s.history = Ok(Vec::new());
        return Ok(s);
    }
    let file = format!("pg_wal/{tli:08X}.history");
    if let Ok(r) = c.client.query_one("SELECT pg_read_file($1)", &[&file]).await {
        s.history = lineage::parse_history(&r.get::<_, String>(0));
        return Ok(s);
    }
    if repl.is_none() {
        repl = ReplicationStream::connect(dsn).await.ok();
    }
    if let Some(rs) = repl.as_mut() {
        if let Ok(r) = rs.simple_query(&format!("TIMELINE_HISTORY {tli}")).await {
            if let Some(content) = r.get("content") {
                s.history = lineage::parse_history(content);
                return Ok(s);
            }
        }
    }
    s.history = Err(format!(
        "cannot read the history of timeline {tli} on the {label} side (needs superuser, \
         pg_read_server_files, or a role with REPLICATION for TIMELINE_HISTORY)"
    ));
    Ok(s)
}
