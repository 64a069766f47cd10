//! Sinks: where records go, all behind one [`Sink`] trait.
//!
//! The contract every sink keeps (DESIGN.md, "No loss"): [`Sink::send`] accepts records and may
//! buffer them; [`Sink::flush`] returns only when every record accepted before it is durable at the
//! destination (fsynced file, acknowledged broker write). The pipeline confirms the replication slot
//! only past positions whose records were followed by a successful flush, so a sink that lies in
//! `flush` loses data and one that is slow in `flush` only delays confirmation.
//!
//! Each sink lives in its own module with its configuration, its construction (which checks the
//! destination is usable, so misconfiguration fails before any data moves) and its tests.

pub mod dirlock;
pub mod file;
pub mod kafka;
pub mod stdout;

use async_trait::async_trait;
pub use tidemark_model::{Record, RecordKind};

/// Errors a sink reports. `Display` is written for the user and ends with what to do.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The sink URI is malformed or names an unknown sink.
    #[error("invalid sink {uri:?}: {reason}")]
    Config {
        /// The URI as given.
        uri: String,
        /// What is wrong and what would be right.
        reason: String,
    },
    /// The destination is not usable (permissions, missing bucket, ...).
    #[error("sink destination {dest} is not usable: {reason}")]
    Unusable {
        /// Destination.
        dest: String,
        /// Why, with the fix.
        reason: String,
    },
    /// I/O failed while writing.
    #[error("writing to {dest} failed: {source}")]
    Io {
        /// Destination.
        dest: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The process reading a pipe (stdout) went away.
    #[error(
        "the process reading {dest} went away (broken pipe), so tidemark stops instead of holding the slot. \
         Records it could not write were not confirmed and will be delivered again on the next start"
    )]
    ConsumerGone {
        /// Destination.
        dest: String,
    },
}

/// A destination for records.
#[async_trait]
pub trait Sink: Send {
    /// Accept records (in order). May buffer; not yet durable.
    async fn send(&mut self, records: &[Record]) -> Result<(), SinkError>;
    /// Push buffered records on towards the destination for latency, without the cost of making
    /// them durable. Called when the pipeline is momentarily idle.
    async fn drain(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
    /// Make every record accepted so far durable.
    async fn flush(&mut self) -> Result<(), SinkError>;
    /// Flush and release resources.
    async fn close(&mut self) -> Result<(), SinkError> {
        self.flush().await
    }
    /// Short description for logs (never contains secrets).
    fn describe(&self) -> String;
    /// A flag that turns true when the destination has gone away for good even while nothing is
    /// being written (the reader of a pipe exited), so the pipeline stops at once instead of holding
    /// the slot until its next write. `None`: the sink notices failures only when it writes.
    fn gone(&self) -> Option<tokio::sync::watch::Receiver<bool>> {
        None
    }
}

/// Parse a sink URI (`stdout`, `file:<dir>`) and build the sink, checking the destination.
pub fn build(uri: &str, options: &SinkOptions) -> Result<Box<dyn Sink>, SinkError> {
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
             kafka://host:9092[,host:9092], eventhubs"
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
