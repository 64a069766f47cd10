//! tidemark sources: each turns a PostgreSQL database into Debezium records.
//!
//! - [`stream`]: logical replication (pgoutput) → records → sink, at-least-once, the slot confirmed
//!   only past what the sink made durable.
//! - [`diff`]: the change feed between two databases (full comparison, or the `(ctid, xmin)` fast path
//!   between physical copies), split by stage: plan, schedule, merge, fast path.
//! - [`snapshot`]: initial snapshots — every captured row as Debezium `r` events, read in the slot's
//!   exported snapshot by parallel block-range workers, before the stream starts at the same point.
//! - [`catalog`]: the catalog queries every source needs (preflight checks with actionable errors,
//!   table shapes, non-built-in types).
//! - [`copy`]: `COPY … TO STDOUT` readers (text lines, binary `(ctid, xmin)`) for bulk reads.
//! - [`filter`]: which tables a capture emits (include/exclude lists and patterns).
//! - [`error`]: [`SourceError`], every way a source fails, each with its fix.

pub mod catalog;
pub mod copy;
pub mod diff;
pub mod error;
pub mod filter;
pub mod snapshot;
pub mod stream;

pub use error::SourceError;
