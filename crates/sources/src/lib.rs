//! tidemark sources: each turns a PostgreSQL database into Debezium records.
//!
//! - [`stream`]: logical replication (pgoutput) → records → sink, at-least-once, the slot confirmed
//!   only past what the sink made durable.
//! - [`catalog`]: the catalog queries every source needs (preflight checks with actionable errors,
//!   table shapes, non-built-in types).

pub mod catalog;
pub mod diff;
pub mod error;
pub mod filter;
pub mod stream;

pub use error::SourceError;
