//! PostgreSQL wire-level pieces tidemark needs that no crates.io crate provides well: a
//! `replication=database` connection (startup, TLS, SCRAM/md5/password authentication, CopyBoth
//! streaming, standby status updates), lean `COPY … TO STDOUT` reads for bulk scans, a decoder for
//! every pgoutput message (protocol 1 and 2), and libpq-compatible connection strings.
//!
//! The only tidemark crate it depends on is `tidemark-model`, for [`Lsn`] (the one codec of WAL
//! positions, re-exported here); it speaks bytes and LSNs only, so it can be tested and fuzzed on its
//! own. Plain SQL (catalog queries, heartbeats) goes through `tokio-postgres`; [`sql`] builds that
//! client from the same DSN with the same TLS rules.

pub mod conn;
pub mod dsn;
pub mod dsn_text;
pub mod error;
pub mod pgoutput;
mod pgpass;
pub mod replication;
pub mod sql;
pub mod tls;
mod transport;

pub use conn::{Connection, Frame, QueryResult};
pub use dsn::{edit_distance, Dsn, SslMode};
pub use dsn_text::DsnError;
pub use error::{PgError, ServerError};
pub use replication::{
    IdentifySystem, ReplicationMessage, ReplicationStream, SlotCreated, StartOptions, PG_EPOCH_OFFSET_US,
};
pub use tidemark_model::Lsn;
pub use transport::Keepalive;
