//! Debezium PostgreSQL-connector encoding: pure functions from [`tidemark_model`] change events to
//! the bytes Debezium's `JsonConverter` would write (topic, key, value), under every handling mode.
//!
//! Why precomputed plans: at 100k+ events/s the per-event cost must be value conversion and byte
//! copies only. A [`TablePlan`] is built once per table shape (on each Relation message) and holds the
//! topic, the serialized Connect schemas and one converter per column. Building it validates the
//! configuration against the table (e.g. `message.key.columns` naming a missing column).
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
