//! Errors a user can act on. Every variant's message names the problem and the fix; none contains a
//! password.

use tidemark_pgwire::PgError;

/// Anything that stops a source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The snapshot's user may not read a captured table.
    #[error(
        "the initial snapshot cannot read {table}: {reason}. Fix: `GRANT SELECT ON {table} TO {user};` (or \
         leave the table out of snapshot.include.collection.list, or use snapshot.mode=no_data); restart and the \
         snapshot is taken again"
    )]
    SnapshotDenied {
        /// The table.
        table: String,
        /// The connecting user.
        user: String,
        /// The server's message.
        reason: String,
    },
    /// A worker could not join the exported snapshot (it ended with the connection that created the slot).
    #[error(
        "cannot join the exported snapshot {snapshot}: {reason}. The connection that created the slot ended \
         before the snapshot was read (a network drop, or the server's idle timeouts). Fix: start tidemark again: it \
         drops the slot it created and takes the snapshot anew"
    )]
    SnapshotGone {
        /// The snapshot's name.
        snapshot: String,
        /// The server's message.
        reason: String,
    },
    /// `snapshot.include.collection.list` names a table that is not captured.
    #[error(
        "snapshot.include.collection.list names {table}, which is not captured (not in the publication, or left out \
         by table.include.list/--tables/table.exclude.list). Fix: capture it too, or remove it from the list"
    )]
    SnapshotNotCaptured {
        /// The table.
        table: String,
    },
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
        "these tables cannot be published for updates and deletes: {tables}. PostgreSQL rejects UPDATE and \
         DELETE on them while they are published. Fix: {fix}"
    )]
    NoReplicaIdentity {
        /// Each table with what is wrong with it, e.g. `public.t (no primary key, REPLICA IDENTITY DEFAULT)`.
        tables: String,
        /// The statements that fix them.
        fix: String,
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
    /// The pipeline stopped: the sink failed, or a change could not be encoded under
    /// `event.processing.failure.handling.mode=fail`.
    #[error("{0}")]
    Pipeline(#[from] tidemark_pipeline::PipelineError),
    /// The pipeline's input closed although it reported no error (a stage ended early).
    #[error(
        "the pipeline stopped taking events without saying why. This is a bug in tidemark; please report it"
    )]
    PipelineStopped,
    /// An internal invariant failed (a task panicked, state was lost). Never retried.
    #[error("internal error: {0}. This is a bug in tidemark; please report it")]
    Internal(String),
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
    /// The database named in the DSN does not exist on the server.
    #[error(
        "database {db:?} does not exist on the PostgreSQL server at {addr}. Fix: correct the database name in \
         the DSN (dbname=... or postgres://host/DBNAME; list them with `psql -l`), or create it with \
         `CREATE DATABASE \"{db}\";`"
    )]
    NoDatabase {
        /// Database name.
        db: String,
        /// Server.
        addr: String,
    },
    /// `diff`/`verify`: a publication named with --publication does not exist (they never create one).
    #[error(
        "publication {0:?} does not exist on the database the tables are read from (--new for diff, --source \
         for verify). Fix: name an existing publication (`SELECT pubname FROM pg_publication;` there) or list \
         the tables with --tables schema.table,...; diff and verify create nothing on either server"
    )]
    DiffNoPublication(String),
    /// `table.include.list` / `table.exclude.list` cannot be used.
    #[error("{0}")]
    Filter(#[from] crate::filter::FilterError),
    /// A slot, publication or table name that PostgreSQL would reject or silently change.
    #[error("{what} {value:?} is not valid: {reason}. Fix: {fix}")]
    InvalidName {
        /// `slot.name`, `publication.name`, `table.include.list`.
        what: String,
        /// The name.
        value: String,
        /// What is wrong.
        reason: String,
        /// What to pass instead.
        fix: String,
    },
    /// The role may not create the publication tidemark was asked to create.
    #[error(
        "role {user:?} may not create publication {publication:?} ({reason}). Fix: create it as the tables' owner \
         or a superuser (`CREATE PUBLICATION \"{publication}\" FOR TABLE {tables};`) and start tidemark again, or \
         `GRANT CREATE ON DATABASE \"{database}\" TO \"{user}\";` and make {user:?} own the tables"
    )]
    NoCreatePrivilege {
        /// Role.
        user: String,
        /// Publication.
        publication: String,
        /// Database.
        database: String,
        /// Tables it would publish.
        tables: String,
        /// The server's words.
        reason: String,
    },
    /// max_replication_slots are all taken.
    #[error(
        "cannot create replication slot {slot:?}: all replication slots are in use (max_replication_slots = {max}). \
         Fix: drop a slot nobody reads (`SELECT slot_name, database, active FROM pg_replication_slots;` then \
         `SELECT pg_drop_replication_slot('name');`), or raise max_replication_slots and restart PostgreSQL"
    )]
    NoFreeSlots {
        /// Slot.
        slot: String,
        /// The server's setting.
        max: String,
    },
    /// Changes were (or may have been) lost between what tidemark confirmed and where the slot is.
    #[error(
        "replication slot {slot:?} {reason}, so the changes between {from} and {to} were never delivered by \
         tidemark; it will not stream over that gap. Fix: recover the gap with `tidemark diff --old <a restore of \
         this server at {from}> --new <a restore at {to}, or the source itself> --sink <your sink>`, then start \
         fresh deliberately: {fresh}"
    )]
    SlotGap {
        /// Slot.
        slot: String,
        /// What happened to it.
        reason: String,
        /// Last position tidemark confirmed.
        from: tidemark_model::Lsn,
        /// Where streaming would resume.
        to: tidemark_model::Lsn,
        /// How to start again once the gap is recovered.
        fresh: String,
    },
    /// The publication was dropped while the slot was decoding through it.
    #[error(
        "publication {publication:?} was dropped while tidemark was streaming from slot {slot:?}: PostgreSQL cannot \
         decode changes through a publication that does not exist at their position. Fix: recreate it \
         (`CREATE PUBLICATION \"{publication}\" FOR TABLE ...;`); the slot's position will then predate the new \
         publication, and tidemark explains the two ways on at the next start"
    )]
    PublicationDropped {
        /// Publication.
        publication: String,
        /// Slot.
        slot: String,
    },
    /// The slot's position predates the publication (created after the slot, or dropped and recreated).
    #[error(
        "publication {publication:?} is newer than the position of replication slot {slot:?} ({slot_lsn}): it was \
         created after the slot (or dropped and recreated), and PostgreSQL cannot decode changes written before a \
         publication existed (\"publication does not exist\"), so every restart would fail here. Fix, either: \
         (1) start a new slot and recover the changes since {slot_lsn} with `tidemark diff`: \
         `SELECT pg_drop_replication_slot('{slot}');`, {offsets}start tidemark, and diff a restore at {slot_lsn} \
         against the source; or (2) skip the changes written before the publication existed: \
         `SELECT pg_replication_slot_advance('{slot}', pg_current_wal_lsn());` (the changes between {slot_lsn} and \
         then are lost to this feed; recover them with `tidemark diff` if you need them), {offsets}start tidemark \
         again"
    )]
    PublicationAfterSlot {
        /// Publication.
        publication: String,
        /// Slot.
        slot: String,
        /// The slot's confirmed position.
        slot_lsn: tidemark_model::Lsn,
        /// `delete <offsets file>, ` when tidemark keeps one, else empty.
        offsets: String,
    },
    /// The slot stayed in use by another process through every retry.
    #[error(
        "replication slot {slot:?} is in use by another process (PID {pid}) and stayed in use through {attempts} \
         attempts over {waited_secs} s (slot.max.retries, slot.retry.delay.ms). Fix: stop the other consumer \
         (another tidemark, Debezium, a subscription); after a host crash the old walsender leaves once \
         wal_sender_timeout expires, or end it with `SELECT pg_terminate_backend({pid});`; or pass another --slot"
    )]
    SlotBusy {
        /// Slot.
        slot: String,
        /// Holder PID.
        pid: String,
        /// Attempts made.
        attempts: u32,
        /// Seconds waited.
        waited_secs: u64,
    },
    /// tidemark's own record of confirmed positions cannot be read or written.
    #[error("offsets file {path}: {reason}. Fix: {fix}")]
    Offsets {
        /// Path.
        path: String,
        /// What failed.
        reason: String,
        /// What to do.
        fix: String,
    },
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
            SourceError::Pipeline(e) => e.is_transient(),
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
            PgError::Server(s) if s.code == "3D000" => SourceError::NoDatabase {
                db: s.message.split('"').nth(1).unwrap_or(&s.message).to_string(),
                addr: addr.to_string(),
            },
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
