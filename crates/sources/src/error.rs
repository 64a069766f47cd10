//! Errors a user can act on. Every variant's message names the problem and the fix; none contains a
//! password.

use tidemark_pgwire::PgError;

/// Anything that stops a source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// `wal_level` is not `logical`.
    #[error(
        "the source server runs with wal_level={0}, but logical decoding needs wal_level=logical. Fix: run \
         `ALTER SYSTEM SET wal_level = logical;` and restart PostgreSQL (on RDS/Aurora set \
         rds.logical_replication=1; on Azure set wal_level in server parameters)"
    )]
    WalLevel(String),
    /// The role lacks REPLICATION.
    #[error(
        "role {0:?} may not start logical replication (it lacks the REPLICATION attribute). Fix: `ALTER ROLE \
         \"{0}\" REPLICATION;` as a superuser (on RDS: `GRANT rds_replication TO \"{0}\";`)"
    )]
    NoReplicationRole(String),
    /// The role cannot log in.
    #[error(
        "role {0:?} is not permitted to log in. Fix: `ALTER ROLE \"{0}\" LOGIN;` or connect as another role"
    )]
    NoLogin(String),
    /// Wrong password.
    #[error(
        "password authentication failed for user {user:?} at {addr}. Fix: check the password in the DSN or \
         PGPASSWORD (it is not shown here)"
    )]
    BadPassword {
        /// Role.
        user: String,
        /// Server.
        addr: String,
    },
    /// The server cannot be reached.
    #[error(
        "cannot reach PostgreSQL at {addr}: {reason}. Fix: check host and port, that the server is running and \
         that listen_addresses, pg_hba.conf and firewalls allow this machine"
    )]
    Unreachable {
        /// Server.
        addr: String,
        /// Cause.
        reason: String,
    },
    /// The publication does not exist.
    #[error(
        "publication {0:?} does not exist. Fix: create it (`CREATE PUBLICATION \"{0}\" FOR TABLE ...;`) or pass \
         --tables schema.table,... and tidemark creates it"
    )]
    NoPublication(String),
    /// The publication has no tables.
    #[error(
        "publication {0:?} publishes no tables, so there is nothing to capture. Fix: `ALTER PUBLICATION \"{0}\" \
         ADD TABLE ...;` or pass --tables"
    )]
    EmptyPublication(String),
    /// A requested table does not exist.
    #[error("table {0} does not exist on the source. Fix: check --tables (names are schema.table, case-sensitive)")]
    NoSuchTable(String),
    /// A table in an existing publication is missing from it.
    #[error(
        "publication {publication:?} exists but does not publish {table}. Fix: `ALTER PUBLICATION \"{publication}\" \
         ADD TABLE {table};` or use another publication name"
    )]
    TableNotPublished {
        /// Publication.
        publication: String,
        /// Table.
        table: String,
    },
    /// Tables whose updates/deletes PostgreSQL would reject.
    #[error(
        "these published tables have no primary key and REPLICA IDENTITY {identity}: {tables}. PostgreSQL rejects \
         UPDATE and DELETE on them while they are published. Fix: add a primary key, or `ALTER TABLE ... REPLICA \
         IDENTITY FULL;` (or USING INDEX on a unique NOT NULL index)"
    )]
    NoReplicaIdentity {
        /// Comma-separated list.
        tables: String,
        /// `DEFAULT` or `NOTHING`.
        identity: String,
    },
    /// The slot is in use.
    #[error(
        "replication slot {slot:?} is in use by another process (PID {pid}). Fix: stop the other consumer \
         (another tidemark, Debezium, a subscription) or pass another --slot"
    )]
    SlotInUse {
        /// Slot.
        slot: String,
        /// Holder PID, or "unknown".
        pid: String,
    },
    /// The slot was invalidated.
    #[error(
        "replication slot {slot:?} was invalidated (wal_status=lost): the WAL it needed was removed, so changes \
         after {confirmed} are gone from this server. Fix: recover the gap with `tidemark diff` between restores \
         taken before and after the loss, then drop the slot (`SELECT pg_drop_replication_slot('{slot}');`) and \
         start again; consider raising max_slot_wal_keep_size"
    )]
    SlotLost {
        /// Slot.
        slot: String,
        /// Its confirmed_flush_lsn.
        confirmed: String,
    },
    /// The slot exists but belongs to another database or plugin.
    #[error("replication slot {slot:?} cannot be used: {reason}. Fix: pass another --slot")]
    SlotMismatch {
        /// Slot.
        slot: String,
        /// Why.
        reason: String,
    },
    /// Encoding failed.
    #[error("{0}")]
    Encode(#[from] tidemark_debezium::EncodeError),
    /// The sink failed.
    #[error("{0}")]
    Sink(#[from] tidemark_sinks::SinkError),
    /// A pgoutput message could not be decoded.
    #[error("{0}")]
    Decode(#[from] tidemark_pgwire::pgoutput::DecodeError),
    /// Spill files for large streamed transactions failed.
    #[error("spilling a large transaction to {dir} failed: {source}. Fix: make the spill directory writable and give it space")]
    Spill {
        /// Directory.
        dir: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Other server/protocol errors.
    #[error("{0}")]
    Pg(PgError),
    /// The server ended the replication stream on its own (shutdown or restart). Transient.
    #[error(
        "the server at {addr} ended the replication stream (it is shutting down or restarting). tidemark \
         reconnects with backoff; nothing is lost (the slot resumes at the last confirmed position)"
    )]
    StreamEnded {
        /// Server.
        addr: String,
    },
    /// Nothing arrived on the replication connection for too long. Transient.
    #[error(
        "no message from the server at {addr} for {waited_ms} ms, although tidemark asked for a reply: the \
         connection is presumed dead (network partition, or the walsender is gone). tidemark reconnects with \
         backoff; if the network is merely slow, raise replication.receive.timeout.ms"
    )]
    ReceiveTimeout {
        /// Server.
        addr: String,
        /// How long nothing arrived.
        waited_ms: u64,
    },
}

impl SourceError {
    /// Transient: retry with backoff (connection lost, server restarting).
    pub fn is_transient(&self) -> bool {
        match self {
            SourceError::Pg(e) => e.is_transient(),
            SourceError::Unreachable { .. } => true,
            SourceError::StreamEnded { .. } | SourceError::ReceiveTimeout { .. } => true,
            _ => false,
        }
    }

    /// Map a connection-time error to the specific variant.
    pub fn from_connect(e: PgError, user: &str, addr: &str) -> SourceError {
        match &e {
            PgError::Server(s) if s.code == "28P01" => {
                SourceError::BadPassword { user: user.to_string(), addr: addr.to_string() }
            }
            PgError::Server(s) if s.code == "28000" && s.message.contains("not permitted to log in") => {
                SourceError::NoLogin(user.to_string())
            }
            PgError::Server(s) if s.code == "42501" && s.message.contains("replication") => {
                SourceError::NoReplicationRole(user.to_string())
            }
            PgError::Server(s) if s.code == "28000" && s.message.contains("replication connection") => {
                SourceError::NoReplicationRole(user.to_string())
            }
            PgError::Io { source, .. } => {
                SourceError::Unreachable { addr: addr.to_string(), reason: source.to_string() }
            }
            PgError::Timeout(_) => {
                SourceError::Unreachable { addr: addr.to_string(), reason: "connection timed out".into() }
            }
            _ => SourceError::Pg(e),
        }
    }
}

impl From<PgError> for SourceError {
    fn from(e: PgError) -> Self {
        SourceError::Pg(e)
    }
}
