//! What sources hand the pipeline: typed, keyed events in source order, and the positions they cover.
//!
//! Why typed: the stages after the source must be able to look at a change — a filter at its table,
//! an incremental snapshot at its key, an apply sink at its values — without parsing bytes. Encoding to
//! Debezium JSON is a stage the sink chooses ([`crate::encode`]), not something the source does.
//!
//! Invariant: a [`SourceBatch`]'s `checkpoint` means "every event at or before this position is in this
//! batch or an earlier one". The pipeline confirms a checkpoint to the source only once every record of
//! every batch up to it is durable, so a source that sets checkpoints this way never loses an event.

use std::sync::Arc;

use bytes::Bytes;
use tidemark_debezium::TablePlan;
use tidemark_model::{ChangeEvent, Lsn, SourceInfo, TableId};

/// One thing that happened at the source.
#[derive(Debug, Clone)]
pub enum Event {
    /// A transaction began (stream sources; snapshots and diffs have no transactions).
    Begin {
        /// Transaction id.
        xid: u32,
        /// Position of the BEGIN.
        lsn: Lsn,
        /// Commit time, µs since the Unix epoch.
        commit_ts_us: i64,
    },
    /// A row changed. `plan.table` is the table's shape when the change was written.
    Change(Change),
    /// A logical decoding message (`pg_logical_emit_message`).
    Message {
        /// Its prefix.
        prefix: String,
        /// Its payload.
        content: Bytes,
        /// Part of a transaction (counted in it) or not.
        transactional: bool,
        /// Provenance.
        source: SourceInfo,
    },
    /// The transaction committed.
    Commit {
        /// Transaction id.
        xid: u32,
        /// The commit's end position.
        end_lsn: Lsn,
        /// Commit time, µs since the Unix epoch.
        commit_ts_us: i64,
    },
}

/// A row change with the plan that encodes its table.
#[derive(Debug, Clone)]
pub struct Change {
    /// How the table is encoded (it holds the table's schema, `plan.table`).
    pub plan: Arc<TablePlan>,
    /// The change itself (its `tx` block is filled in by the encode stage, not by sources).
    pub event: ChangeEvent,
}

impl Change {
    /// The table changed.
    pub fn table(&self) -> &TableId {
        &self.event.table.id
    }
}

impl Event {
    /// The table of a row change.
    pub fn table(&self) -> Option<&TableId> {
        match self {
            Event::Change(c) => Some(c.table()),
            _ => None,
        }
    }

    /// Approximate bytes held, for the in-flight bound of typed sinks.
    pub fn weight(&self) -> usize {
        fn row(r: &Option<tidemark_model::Row>) -> usize {
            r.as_ref().map_or(0, |r| {
                r.iter()
                    .map(|d| match d {
                        tidemark_model::Datum::Text(b) | tidemark_model::Datum::Binary(b) => b.len() + 16,
                        _ => 16,
                    })
                    .sum()
            })
        }
        match self {
            Event::Change(c) => 64 + row(&c.event.before) + row(&c.event.after),
            Event::Message { prefix, content, .. } => 64 + prefix.len() + content.len(),
            _ => 64,
        }
    }
}

/// Events plus the position they cover.
#[derive(Debug, Default)]
pub struct SourceBatch {
    /// Events in source order.
    pub events: Vec<Event>,
    /// Every event at or before this position is in this batch or an earlier one.
    pub checkpoint: Option<Lsn>,
}
