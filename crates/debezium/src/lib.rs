//! Debezium PostgreSQL-connector encoding: pure functions from [`tidemark_model`] change events to
//! the bytes Debezium's `JsonConverter` would write (topic, key, value), under every handling mode.
//! The pipeline's encode stage (`tidemark_pipeline::encode`) calls the [`Encoder`] for byte sinks;
//! typed sinks get the events without it.
//!
//! Why precomputed plans: at 100k+ events/s the per-event cost must be value conversion and byte
//! copies only. A [`TablePlan`] is built once per table shape (by the stream on each Relation
//! message, by `diff` from the catalog) and holds the topic, the serialized Connect schemas and one
//! converter per column. Building it validates the configuration against the table (e.g.
//! `message.key.columns` naming a missing column).
//!
//! Layout: `config` (settings named after Debezium's properties), `types` (what is known about
//! column types beyond their OID), `plan` (building plans), `convert` (the per-type converters, split
//! by type family), `record` (assembling records); `temporal`, `instants`, `array_temporal`, `json`,
//! `java_float` and `java_hashmap` reproduce the Java-side spelling and arithmetic the connector's
//! output depends on; `extension_types` covers PostGIS and pgvector.
//!
//! Invariants:
//! - Object keys are written in Connect schema field order, compact, no whitespace, exactly as
//!   `JsonConverter` does; numbers follow Java's `Double.toString` for floats.
//! - The encoder never performs I/O and never panics on malformed values: a value it cannot parse
//!   becomes an [`EncodeError`] naming the table, column and text.

mod array_temporal;
mod config;
mod convert;
#[cfg(test)]
mod edge_tests;
mod extension_types;
mod instants;
mod java_float;
mod java_hashmap;
mod json;
mod plan;
mod record;
mod temporal;
mod types;

pub use config::{
    BinaryMode, DecimalMode, EncoderConfig, HstoreMode, IntervalMode, Op, TimePrecisionMode, DEFAULT_VERSION,
};
pub use plan::TablePlan;
pub use record::Encoder;
pub use tidemark_model::{Record, RecordKind};
pub use types::{is_builtin, TypeInfo, TypeKind, TypeRegistry};

/// A value could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// A column's text could not be parsed as its declared type.
    #[error("cannot encode column {column:?} of {table} ({type_name}) from {text:?}: {reason}")]
    Value {
        /// Table.
        table: String,
        /// Column.
        column: String,
        /// Type name.
        type_name: String,
        /// Offending text (truncated).
        text: String,
        /// Why.
        reason: String,
    },
    /// The configuration does not fit the table.
    #[error("configuration does not fit table {table}: {reason}")]
    Config {
        /// Table.
        table: String,
        /// Why.
        reason: String,
    },
}
