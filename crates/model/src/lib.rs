//! The one vocabulary every tidemark stage shares.
//!
//! Sources (`stream` and `diff` today, snapshots next) produce [`ChangeEvent`]s over [`TableSchema`]s
//! and hand them to the pipeline (`tidemark-pipeline`). What a sink receives depends on its kind: byte
//! sinks (stdout, file, Kafka/Event Hubs) get [`Record`]s, which the pipeline's encode stage makes with
//! the Debezium encoder; typed sinks (the PostgreSQL apply sink) get the events themselves, so they
//! see these types too. Keeping this crate free of I/O and of any other tidemark dependency is what
//! lets every stage agree on what a row *is*.
//!
//! Invariants:
//! - A [`Lsn`] is totally ordered and printed the way PostgreSQL prints it (`X/Y`, upper-case hex).
//! - A [`Row`] has exactly one [`Datum`] per column of the schema it was decoded with.
//! - Values stay in PostgreSQL's text (or binary) wire form until a stage needs them (the encoder; the
//!   apply sink passes the text back to PostgreSQL's input functions), so a row that is only routed
//!   or compared is never parsed.

mod lsn;
mod record;
mod row;
mod schema;
mod table_list;

pub use lsn::{Lsn, ParseLsnError};
pub use record::{Record, RecordKind, RecordOrigin};
pub use row::{ChangeEvent, ChangeKind, Datum, Row, SourceInfo, TxInfo};
pub use schema::{quote_ident, Column, ReplicaIdentity, SchemaRef, TableId, TableSchema};
pub use table_list::{is_table_pattern, parse_table_list, split_table_list, TableListError};
