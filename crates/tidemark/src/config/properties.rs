//! The property table: every name tidemark accepts, with its default and the one line of help
//! `tidemark stream --help` prints (in this order).
//!
//! Why a module of its own: the table is data that grows with every feature, while the code that
//! reads it does not change. [`super::Config::defaults`] loads the defaults, [`super::check`] gives
//! each property its type (inferred from the default where that is unambiguous, see its header), and
//! a name missing here is an unknown property everywhere (flag, file, environment).

/// Known properties: (name, default, help).
pub const PROPERTIES: &[(&str, &str, &str)] = &[
    ("source", "", "source database DSN (postgres://user:pw@host:5432/db?sslmode=prefer or key=value pairs)"),
    ("publication.name", "tidemark", "publication to decode for; created for table.include.list when absent"),
    (
        "table.include.list",
        "",
        "tables to capture, schema.table comma-separated (public.\"a,b\" quotes a name); empty = all the publication has",
    ),
    ("slot.name", "tidemark", "logical replication slot; created when absent"),
    ("sink", "stdout", "where records go: stdout | file:<dir> | kafka://host:9092[,host:9092] | eventhubs"),
    ("topic.prefix", "tidemark", "topic prefix (Debezium's logical server name)"),
    ("topic.delimiter", ".", "topic name delimiter"),
    ("tombstones.on.delete", "true", "emit a null-value record after each delete"),
    ("skipped.operations", "t", "operations not emitted: comma list of c,u,d,t or none"),
    ("provide.transaction.metadata", "false", "emit BEGIN/END events and the envelope's transaction block"),
    (
        "heartbeat.interval.ms",
        "10000",
        "heartbeat logical message interval that keeps idle slots moving; 0 = off",
    ),
    ("status.update.interval.ms", "10000", "standby status update interval"),
    (
        "offset.flush.interval.ms",
        "1000",
        "longest wait before records are made durable and the slot confirmed",
    ),
    ("decimal.handling.mode", "precise", "precise | double | string"),
    (
        "time.precision.mode",
        "adaptive",
        "adaptive | adaptive_time_microseconds | connect | microseconds | nanoseconds | isostring",
    ),
    ("binary.handling.mode", "bytes", "bytes | base64 | base64-url-safe | hex"),
    ("interval.handling.mode", "numeric", "numeric | string"),
    ("hstore.handling.mode", "json", "json | map"),
    (
        "unavailable.value.placeholder",
        "__debezium_unavailable_value",
        "value written for unchanged TOAST columns",
    ),
    ("include.unknown.datatypes", "false", "keep columns of unmapped types as bytes of their text"),
    ("money.fraction.digits", "2", "scale of money values"),
    ("column.exclude.list", "", "regexes over schema.table.column to leave out of values; empty = none"),
    ("message.key.columns", "", "key override: <table regex>:<col>,<col>;..."),
    ("key.converter.schemas.enable", "true", "wrap keys in {schema, payload}"),
    ("value.converter.schemas.enable", "true", "wrap values in {schema, payload}"),
    (
        "replace.null.with.default",
        "true",
        "write a column's default for NULL (Kafka JsonConverter behaviour)",
    ),
    ("debezium.version", tidemark_debezium::DEFAULT_VERSION, "Debezium version written in source.version"),
    ("database.dbname", "", "name written in source.db; empty = the connected database"),
    ("plugin.name", "pgoutput", "logical decoding plugin; only pgoutput is supported"),
    ("pgoutput.proto.version", "1", "pgoutput protocol version: 1, or 2 (needed for streaming)"),
    (
        "pgoutput.streaming",
        "false",
        "receive large in-progress transactions in chunks, spilled to disk until commit",
    ),
    ("emit.messages", "true", "emit logical decoding messages (pg_logical_emit_message) as op m events"),
    ("spill.dir", "", "directory for spilled streamed transactions; empty = the system temp dir"),
    ("file.rotate.bytes", "268435456", "file sink: start a new file per topic after this many bytes"),
    (
        "kafka.topic",
        "",
        "kafka/eventhubs: send every record to this one topic (default: <prefix>.<schema>.<table>)",
    ),
    ("kafka.topic.regex", "", "kafka: rename topics matching this regex (Debezium topic routing)"),
    ("kafka.topic.replacement", "", "kafka: replacement for kafka.topic.regex ($1 for groups)"),
    ("kafka.topic.create", "true", "kafka: create missing topics through the admin API"),
    ("kafka.topic.partitions", "1", "kafka: partitions of created topics"),
    ("kafka.topic.replication.factor", "1", "kafka: replication factor of created topics"),
    ("kafka.compression", "none", "kafka: none | gzip | snappy | lz4 | zstd"),
    ("kafka.linger.ms", "5", "kafka: batching delay"),
    ("kafka.message.max.bytes", "1000000", "kafka: largest record; larger ones follow kafka.oversize.policy"),
    ("kafka.oversize.policy", "fail", "kafka: fail | skip (with a warning) for records over the limit"),
    (
        "kafka.delivery.timeout.ms",
        "0",
        "kafka: give up on a delivery after this long; 0 = wait for the broker forever",
    ),
    (
        "eventhubs.connection.string",
        "",
        "Azure Event Hubs namespace connection string (or TIDEMARK_EVENTHUBS_CONNECTION_STRING)",
    ),
    ("retry.max.attempts", "0", "consecutive reconnect attempts before giving up; 0 = keep trying"),
    (
        "replication.receive.timeout.ms",
        "60000",
        "reconnect when nothing arrives on the replication connection for this long (a reply is \
         requested halfway), like wal_receiver_timeout; 0 = never (tidemark-only, Debezium has none)",
    ),
    ("database.hostname", "", "Debezium-style source host (used when source is unset)"),
    ("database.port", "5432", "Debezium-style source port"),
    ("database.user", "", "Debezium-style source user"),
    ("database.password", "", "Debezium-style source password"),
    (
        "database.sslmode",
        "prefer",
        "Debezium-style sslmode: disable | allow | prefer | require | verify-ca | verify-full",
    ),
    ("database.sslrootcert", "", "Debezium-style CA file to verify the server with (or `system`)"),
    ("database.sslcert", "", "Debezium-style client certificate (PEM)"),
    ("database.sslkey", "", "Debezium-style client key (PEM, unencrypted)"),
    (
        "offset.storage.file.filename",
        "",
        "tidemark's record of the last confirmed position, checked at start to refuse streaming over a gap \
         (default: a file in the file sink's folder, else in $XDG_STATE_HOME/tidemark or ~/.local/state/tidemark)",
    ),
    (
        "snapshot.mode",
        "initial",
        "initial (read every captured row when the slot is created, then stream) | initial_only (then stop) | \
         no_data (never read table data; alias never)",
    ),
    (
        "snapshot.include.collection.list",
        "",
        "captured tables the initial snapshot reads (names or anchored regexes); default: all captured tables",
    ),
    ("snapshot.max.threads", "4", "tables and heap block ranges an initial snapshot reads at once"),
    (
        "snapshot.pages.per.range",
        "4096",
        "heap pages (8 KiB) per block range one snapshot worker reads (tidemark-only)",
    ),
    ("slot.max.retries", "6", "attempts to take a replication slot another process still holds before giving up"),
    ("slot.retry.delay.ms", "10000", "wait between attempts to take a replication slot held by another process"),
    ("connector.class", "", "ignored (accepted so Debezium configurations load)"),
    ("name", "", "ignored (accepted so Debezium configurations load)"),
    (
        "event.processing.failure.handling.mode",
        "fail",
        "a change that cannot be encoded: fail (stop) | warn (log, skip it, go on) | skip (skip it, go on)",
    ),
    (
        "table.exclude.list",
        "",
        "tables never to emit (names or anchored regexes over schema.table); not with table.include.list",
    ),
];
