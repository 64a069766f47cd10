//! Rows and change events.

use std::sync::Arc;

use bytes::Bytes;

use crate::{Lsn, TableSchema};

/// One column value as it came off the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Datum {
    /// SQL NULL.
    Null,
    /// An unchanged TOASTed value the WAL did not carry (UPDATE under DEFAULT identity).
    UnchangedToast,
    /// PostgreSQL text output of the value (UTF-8).
    Text(Bytes),
    /// PostgreSQL binary send format of the value.
    Binary(Bytes),
}

impl Datum {
    /// The text form, when this is a text datum.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Datum::Text(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }
}

/// A row: one datum per column of its schema.
pub type Row = Vec<Datum>;

/// What happened to a row.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// Snapshot read (`r`).
    Read,
    /// Insert (`c`).
    Insert,
    /// Update (`u`).
    Update,
    /// Delete (`d`).
    Delete,
    /// Truncate (`t`).
    Truncate,
}

impl ChangeKind {
    /// Debezium's op code.
    pub fn op(self) -> &'static str {
        match self {
            ChangeKind::Read => "r",
            ChangeKind::Insert => "c",
            ChangeKind::Update => "u",
            ChangeKind::Delete => "d",
            ChangeKind::Truncate => "t",
        }
    }
}

/// Where an event came from in the source's history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceInfo {
    /// Commit time (or snapshot/diff time), microseconds since the Unix epoch.
    pub ts_us: i64,
    /// Transaction id, when the event belongs to one.
    pub tx_id: Option<u32>,
    /// LSN of the change itself.
    pub lsn: Option<Lsn>,
    /// LSN of the last commit before this event (Debezium's `sequence[0]`).
    pub last_commit_lsn: Option<Lsn>,
    /// Debezium `source.snapshot` value (`None` = streaming, shown as `"false"`).
    pub snapshot: Option<&'static str>,
    /// The replication origin the transaction was written under (`pg_replication_origin_session_setup`
    /// on the writing session, as logical replication subscribers and other replication tools do), so a
    /// later stage can tell changes that came back around from the application's own. `None`: written
    /// without one, or not from a stream.
    pub origin: Option<Arc<str>>,
}

/// Position of an event inside its transaction, for Debezium's `transaction` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxInfo {
    /// `"<xid>:<lsn>"` as Debezium spells it.
    pub id: String,
    /// 1-based order of this event within the transaction.
    pub total_order: u64,
    /// 1-based order of this event among the transaction's events for the same table.
    pub data_collection_order: u64,
}

/// A row-level change.
#[derive(Clone, Debug)]
pub struct ChangeEvent {
    /// The table's shape the rows were decoded with.
    pub table: Arc<TableSchema>,
    /// Kind of change.
    pub kind: ChangeKind,
    /// Old row: full (REPLICA IDENTITY FULL) or key columns only (others `Null`).
    pub before: Option<Row>,
    /// New row.
    pub after: Option<Row>,
    /// Provenance.
    pub source: SourceInfo,
    /// Transaction metadata when enabled.
    pub tx: Option<TxInfo>,
}
