//! Kafka sink settings and the librdkafka client configuration built from them.

use std::time::Duration;

use rdkafka::config::ClientConfig;

use crate::SinkError;

/// What to do with a record larger than `message.max.bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OversizePolicy {
    /// Stop with an error naming the topic, key and size (default).
    Fail,
    /// Skip it, log a warning with the topic, key and size, and count it.
    Skip,
}

/// Where records go.
#[derive(Debug, Clone)]
pub enum TopicRouting {
    /// The record's own topic (`<prefix>.<schema>.<table>`).
    PerTable,
    /// Every record to one topic (schema and table travel in headers).
    Single(String),
    /// Debezium's topic routing: regex over the topic, replacement with `$1`-style groups.
    Regex {
        /// Anchored pattern.
        pattern: regex::Regex,
        /// Replacement.
        replacement: String,
    },
}

/// Kafka sink settings. `Debug` leaves out the security settings (they hold secrets).
#[derive(Clone)]
pub struct KafkaOptions {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// Topic routing.
    pub routing: TopicRouting,
    /// Create missing topics with the admin API.
    pub create_topics: bool,
    /// Partitions of created topics.
    pub partitions: i32,
    /// Replication factor of created topics.
    pub replication_factor: i32,
    /// `compression.codec`: none, gzip, snappy, lz4, zstd.
    pub compression: String,
    /// `linger.ms`.
    pub linger_ms: u64,
    /// `message.max.bytes` (also the oversize threshold).
    pub max_message_bytes: usize,
    /// Oversized records.
    pub oversize: OversizePolicy,
    /// `message.timeout.ms`; 0 = retry forever (the stream stalls while the broker is away).
    pub delivery_timeout_ms: u64,
    /// Add `tidemark.schema`/`tidemark.table`/`tidemark.topic` headers (single-topic layouts).
    pub table_headers: bool,
    /// Extra librdkafka settings (`kafka.property.<name>`), which may not override typed ones.
    pub properties: Vec<(String, String)>,
    /// Security settings (SASL/TLS, e.g. from an Event Hubs connection string). They hold secrets and are
    /// left out of `Debug` and `describe`.
    pub security: Vec<(String, String)>,
    /// What `describe` shows.
    pub label: String,
    /// How long to wait for the broker to answer a topic creation before relying on auto-creation.
    pub admin_timeout: Duration,
}

impl std::fmt::Debug for KafkaOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaOptions")
            .field("target", &self.label)
            .field("routing", &self.routing)
            .field("partitions", &self.partitions)
            .field("compression", &self.compression)
            .finish_non_exhaustive()
    }
}

impl Default for KafkaOptions {
    fn default() -> Self {
        KafkaOptions {
            brokers: String::new(),
            routing: TopicRouting::PerTable,
            create_topics: true,
            partitions: 1,
            replication_factor: 1,
            compression: "none".into(),
            linger_ms: 5,
            max_message_bytes: 1_000_000,
            oversize: OversizePolicy::Fail,
            delivery_timeout_ms: 0,
            table_headers: false,
            properties: Vec::new(),
            security: Vec::new(),
            label: String::new(),
            admin_timeout: Duration::from_secs(15),
        }
    }
}

/// librdkafka settings tidemark sets itself; `kafka.property.*` may not change them.
pub(super) const TYPED: &[&str] = &[
    "bootstrap.servers",
    "metadata.broker.list",
    "acks",
    "request.required.acks",
    "enable.idempotence",
    "partitioner",
    "compression.codec",
    "compression.type",
    "linger.ms",
    "queue.buffering.max.ms",
    "message.max.bytes",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "security.protocol",
    "sasl.mechanisms",
    "sasl.mechanism",
    "sasl.username",
    "sasl.password",
];

/// The client configuration shared by the producer and the admin client (brokers, security, extra
/// properties); refuses `kafka.property.*` entries that would override what tidemark manages.
pub(super) fn client_config(o: &KafkaOptions) -> Result<ClientConfig, SinkError> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &o.brokers);
    for (k, v) in &o.security {
        c.set(k, v);
    }
    for (k, v) in &o.properties {
        if TYPED.contains(&k.as_str()) {
            return Err(SinkError::Config {
                uri: o.label.clone(),
                reason: format!(
                    "kafka.property.{k} conflicts with a setting tidemark manages; use the typed kafka.* property instead"
                ),
            });
        }
        c.set(k, v);
    }
    Ok(c)
}
