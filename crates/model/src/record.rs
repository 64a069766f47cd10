//! Kafka-shaped records: what the Debezium encoder produces and every byte sink (stdout, file,
//! Kafka/Event Hubs) consumes. Typed sinks get the change events instead, never records.

use std::sync::Arc;

/// What a record is, for sinks and counters.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// A row change (`c`, `u`, `d`, `r`, `t`).
    Change,
    /// Null-value record after a delete.
    Tombstone,
    /// Transaction BEGIN/END metadata.
    Transaction,
    /// Logical decoding message (`m`).
    Message,
}

/// One record ready for a sink: Kafka-shaped.
#[derive(Clone, Debug)]
pub struct Record {
    /// Destination topic.
    pub topic: Arc<str>,
    /// Serialized key; `None` is a null key.
    pub key: Option<Vec<u8>>,
    /// Serialized value; `None` is a tombstone.
    pub value: Option<Vec<u8>>,
    /// Kafka headers.
    pub headers: Vec<(&'static str, Vec<u8>)>,
    /// Kind.
    pub kind: RecordKind,
    /// Op code for counters (`c`, `u`, ...; empty for non-change records).
    pub op: &'static str,
    /// Where the record came from (LSN, transaction, table), for sinks that add dedup or routing
    /// headers. `None` for records without a table (transaction metadata, messages).
    pub origin: Option<RecordOrigin>,
}

/// Provenance of a record, shared cheaply.
#[derive(Clone, Debug)]
pub struct RecordOrigin {
    /// `source.lsn` of the change (`None` for diff-derived events).
    pub lsn: Option<crate::Lsn>,
    /// `source.txId`.
    pub tx_id: Option<u32>,
    /// The table.
    pub table: Arc<crate::TableSchema>,
}
