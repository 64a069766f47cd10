//! Sinks: where events go, each in its own folder (Vector's layout: configuration, construction with
//! its health check, encoding of the destination's format, tests).
//!
//! Every sink implements [`tidemark_pipeline::Sink`]: it *accepts* batches with tickets and *reports*
//! each ticket durable (fsynced file, broker-acknowledged message, committed transaction) through the
//! acknowledgement channel; the pipeline confirms the source only past durable tickets. A sink that
//! reports early loses data; one that reports late only delays confirmation. Construction checks the
//! destination is usable, so a misconfiguration fails before any data moves.
//!
//! - [`stdout`], [`file`], [`kafka`] (and Event Hubs through it) take Debezium records;
//! - [`postgres`] takes typed events and applies them to a PostgreSQL database.

pub mod dirlock;
pub mod file;
pub mod kafka;
pub mod postgres;
pub mod stdout;

pub use tidemark_pipeline::{
    Ack, AckSender, Destination, Event, Record, RecordKind, RecordSink, Sink, SinkError, Ticket,
};

/// Parse a sink URI and build the sink, checking the destination: byte sinks (`stdout`, `file:<dir>`,
/// `kafka://…`, `eventhubs`) become [`Destination::Records`], `postgres://…` a typed
/// [`Destination::Events`] sink.
pub fn build(uri: &str, options: &SinkOptions) -> Result<Destination, SinkError> {
    let u = uri.trim();
    if u.starts_with("postgres://") || u.starts_with("postgresql://") {
        let dsn = tidemark_pgwire::Dsn::parse(u).map_err(|e| SinkError::Config {
            uri: "(postgres sink, hidden)".into(),
            reason: e.to_string(),
        })?;
        return Ok(Destination::Events(Box::new(postgres::ApplySink::new(dsn))));
    }
    records(uri, options).map(Destination::Records)
}

/// A byte sink from its URI.
fn records(uri: &str, options: &SinkOptions) -> Result<RecordSink, SinkError> {
    let u = uri.trim();
    if u.is_empty() || u == "stdout" || u == "-" {
        return Ok(Box::new(stdout::StdoutSink::new()));
    }
    if let Some(rest) = u.strip_prefix("file:") {
        let path = rest.strip_prefix("//").unwrap_or(rest);
        if path.is_empty() {
            return Err(SinkError::Config {
                uri: uri.into(),
                reason: "file: needs a directory, e.g. file:./out".into(),
            });
        }
        return Ok(Box::new(file::FileSink::open(path, options.file_rotate_bytes)?));
    }
    if let Some(rest) = u.strip_prefix("kafka://") {
        let mut k = options.kafka.clone();
        k.brokers = rest.trim_end_matches('/').to_string();
        k.label = format!("kafka://{}", k.brokers);
        return Ok(Box::new(kafka::KafkaSink::new(k)?));
    }
    if u == "eventhubs" || u == "eventhubs:" {
        let cs = options.eventhubs_connection_string.as_deref().ok_or_else(|| SinkError::Config {
            uri: uri.into(),
            reason: "no connection string: set eventhubs.connection.string or TIDEMARK_EVENTHUBS_CONNECTION_STRING".into(),
        })?;
        let parsed = kafka::eventhubs::ConnectionString::parse(cs)?;
        return Ok(Box::new(kafka::KafkaSink::new(parsed.kafka_options(options.kafka.clone()))?));
    }
    let scheme = u.split(':').next().unwrap_or(u);
    Err(SinkError::Config {
        uri: uri.into(),
        reason: format!(
            "unknown sink type {scheme:?}; available: stdout, file:<directory> (JSON lines, one file per topic), \
             kafka://host:9092[,host:9092], eventhubs, postgres://user@host/db (apply the changes)"
        ),
    })
}

/// Options shared by sink constructors.
#[derive(Clone)]
pub struct SinkOptions {
    /// File sink: rotate a topic's file once it reaches this many bytes.
    pub file_rotate_bytes: u64,
    /// Kafka / Event Hubs producer settings (brokers come from the URI or the connection string).
    pub kafka: kafka::KafkaOptions,
    /// Event Hubs namespace connection string (a secret).
    pub eventhubs_connection_string: Option<String>,
}

impl std::fmt::Debug for SinkOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkOptions")
            .field("file_rotate_bytes", &self.file_rotate_bytes)
            .field("kafka", &self.kafka)
            .finish_non_exhaustive()
    }
}

impl Default for SinkOptions {
    fn default() -> Self {
        SinkOptions {
            file_rotate_bytes: 256 * 1024 * 1024,
            kafka: Default::default(),
            eventhubs_connection_string: None,
        }
    }
}

/// Append the JSON-lines form of a record: `{"topic":…,"key":…,"value":…}\n`.
pub fn write_json_line(out: &mut Vec<u8>, r: &Record) {
    out.extend_from_slice(b"{\"topic\":");
    write_json_str(out, &r.topic);
    out.extend_from_slice(b",\"key\":");
    out.extend_from_slice(r.key.as_deref().unwrap_or(b"null"));
    out.extend_from_slice(b",\"value\":");
    out.extend_from_slice(r.value.as_deref().unwrap_or(b"null"));
    out.extend_from_slice(b"}\n");
}

fn write_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            c if (c as u32) < 0x20 => out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    out.push(b'"');
}
