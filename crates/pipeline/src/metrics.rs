//! The names of every metric tidemark records, in one place.
//!
//! Everything is recorded through the [`metrics`] facade, so a `status` command or a Prometheus
//! endpoint later installs a recorder and touches none of the code that counts. Names follow
//! Prometheus conventions: `tidemark_` prefix, base units in the name, `_total` for counters.
//! Without a recorder installed (tests, the library used alone) recording costs a branch.

/// Counter: events emitted, labelled `op` = c|u|d|r|t|m.
pub const EVENTS: &str = "tidemark_events_total";
/// Counter: events skipped because they cannot be encoded (`event.processing.failure.handling.mode`).
pub const EVENTS_SKIPPED: &str = "tidemark_events_skipped_total";
/// Counter: source transactions committed.
pub const TRANSACTIONS: &str = "tidemark_transactions_total";
/// Counter: records (or typed events) handed to the sink.
pub const SINK_RECORDS: &str = "tidemark_sink_records_total";
/// Counter: records a sink dropped on purpose (Kafka `kafka.oversize.policy=skip`).
pub const SINK_RECORDS_SKIPPED: &str = "tidemark_sink_records_skipped_total";
/// Counter: bytes a sink wrote.
pub const SINK_BYTES: &str = "tidemark_sink_bytes_total";
/// Gauge: highest WAL position received from the source, as a byte offset.
pub const SOURCE_RECEIVED_LSN: &str = "tidemark_source_received_lsn_bytes";
/// Gauge: highest WAL position confirmed to the source (durable at the sink), as a byte offset.
pub const SOURCE_CONFIRMED_LSN: &str = "tidemark_source_confirmed_lsn_bytes";
/// Counter: reconnects to the source after transient failures.
pub const SOURCE_RECONNECTS: &str = "tidemark_source_reconnects_total";
/// Counter (diff): rows read on both sides.
pub const DIFF_ROWS: &str = "tidemark_diff_rows_read_total";
/// Counter (diff): differences found.
pub const DIFF_CHANGES: &str = "tidemark_diff_changes_total";
/// Counter (diff): tables finished.
pub const DIFF_TABLES_DONE: &str = "tidemark_diff_tables_done_total";
/// Gauge (diff): tables selected.
pub const DIFF_TABLES: &str = "tidemark_diff_tables";
/// Counter (snapshot): rows an initial snapshot read, labelled by `table`.
pub const SNAPSHOT_ROWS: &str = "tidemark_snapshot_rows_total";
