//! The snapshot's plan: for each table its encoding plan (the same schema and key the stream gives it)
//! and SELECT, then the work list — heap block ranges in table order.
//!
//! Block counts come from `pg_relation_size` read after the export, so they cover every block that
//! can hold a row the snapshot sees (a relation only shrinks by VACUUM truncating empty trailing
//! pages); the last range is open-ended anyway. Ranges use `ctid >= '(a,0)' AND ctid < '(b,0)'`, a TID
//! Range Scan on PostgreSQL ≥ 14 that reads only those pages. Below 14 the predicate would be a filter
//! over a full scan per range, so each table is read whole; a partitioned parent (no storage of its
//! own) is read whole through its partitions.

use std::sync::Arc;

use tidemark_debezium::{EncoderConfig, TablePlan, TypeRegistry};
use tidemark_model::{quote_ident, TableId};

use crate::catalog::Catalog;
use crate::SourceError;

/// One table to read: how its events are encoded and how its rows are selected.
#[derive(Debug)]
pub(crate) struct TableRead {
    pub plan: Arc<TablePlan>,
    /// `SELECT <columns> FROM [ONLY] <table>` without the range predicate.
    pub select: String,
    /// `pg_class.reltuples` (0 when never analyzed): progress and ETA only.
    pub estimated_rows: u64,
}

/// One unit of work: a table's block range, or the whole table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Range {
    /// Index of the table in the plan.
    pub table: usize,
    /// First block, and the block after the last (`None`: to the end); `None` for a whole table.
    pub blocks: Option<(u32, Option<u32>)>,
}

impl Range {
    /// The WHERE clause selecting this range ("" for a whole table).
    pub fn predicate(&self) -> String {
        match self.blocks {
            None => String::new(),
            Some((lo, None)) => format!(" WHERE ctid >= '({lo},0)'::tid"),
            Some((lo, Some(hi))) => format!(" WHERE ctid >= '({lo},0)'::tid AND ctid < '({hi},0)'::tid"),
        }
    }
}

/// Split `blocks` heap pages into ranges of `per` pages; the last one open-ended.
pub(crate) fn split(table: usize, blocks: u32, per: u32) -> Vec<Range> {
    let per = per.max(1);
    let n = blocks.div_ceil(per).max(1);
    (0..n)
        .map(|i| {
            let lo = i * per;
            let hi = if i + 1 == n { None } else { Some(lo + per) };
            Range { table, blocks: Some((lo, hi)) }
        })
        .collect()
}

/// Plan every table: its reading and its ranges.
pub(crate) async fn plan(
    catalog: &Catalog,
    tables: &[TableId],
    types: &mut TypeRegistry,
    cfg: &EncoderConfig,
    pages_per_range: u32,
) -> Result<(Vec<TableRead>, Vec<Range>), SourceError> {
    let tid_ranges = catalog.server_version().await? >= 140000;
    if !tid_ranges {
        tracing::info!("PostgreSQL before 14 has no TID range scans: each table is read whole by one worker");
    }
    let mut reads = Vec::new();
    let mut work = Vec::new();
    for id in tables {
        let Some((mut schema, partitioned)) = catalog.relation_schema(id).await? else {
            return Err(SourceError::NoSuchTable(id.to_string()));
        };
        schema.apply_key_flags();
        catalog.load_types(types, schema.columns.iter().map(|c| c.type_oid)).await?;
        let columns = schema.columns.iter().map(|c| quote_ident(&c.name)).collect::<Vec<_>>().join(", ");
        let oid = schema.oid;
        let plan = Arc::new(TablePlan::build(Arc::new(schema), types, cfg)?);
        let by_blocks = tid_ranges && !partitioned;
        let only = if partitioned { "" } else { "ONLY " };
        let select =
            format!("SELECT {} FROM {only}{}", if columns.is_empty() { "" } else { &columns }, id.quoted());
        let idx = reads.len();
        // The planner's estimate, for progress and ETA only (-1: never analyzed).
        let estimated_rows: f32 = catalog
            .client
            .query_one("SELECT reltuples FROM pg_class WHERE oid = $1", &[&oid])
            .await
            .map_err(|e| catalog.err(e))?
            .get(0);
        if by_blocks {
            let blocks: i64 = catalog
                .client
                .query_one(
                    "SELECT pg_relation_size($1::oid::regclass) / current_setting('block_size')::bigint",
                    &[&oid],
                )
                .await
                .map_err(|e| catalog.err(e))?
                .get(0);
            work.extend(split(idx, blocks.clamp(0, u32::MAX as i64) as u32, pages_per_range));
        } else {
            work.push(Range { table: idx, blocks: None });
        }
        reads.push(TableRead { plan, select, estimated_rows: estimated_rows.max(0.0) as u64 });
    }
    Ok((reads, work))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_every_block_and_the_last_is_open() {
        let r = split(3, 10, 4);
        assert_eq!(
            r.iter().map(|r| r.blocks).collect::<Vec<_>>(),
            vec![Some((0, Some(4))), Some((4, Some(8))), Some((8, None))]
        );
        assert!(r.iter().all(|r| r.table == 3));
        // An empty table still gets one (open) range: rows inserted into new pages after the size was
        // read are invisible to the snapshot anyway, and the range costs one empty scan.
        assert_eq!(split(0, 0, 4), vec![Range { table: 0, blocks: Some((0, None)) }]);
        assert_eq!(split(0, 4, 4), vec![Range { table: 0, blocks: Some((0, None)) }]);
    }

    #[test]
    fn predicates_are_tid_ranges() {
        assert_eq!(Range { table: 0, blocks: None }.predicate(), "");
        assert_eq!(Range { table: 0, blocks: Some((8, None)) }.predicate(), " WHERE ctid >= '(8,0)'::tid");
        assert_eq!(
            Range { table: 0, blocks: Some((0, Some(4))) }.predicate(),
            " WHERE ctid >= '(0,0)'::tid AND ctid < '(4,0)'::tid"
        );
    }
}
