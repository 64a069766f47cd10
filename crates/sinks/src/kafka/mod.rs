//! `kafka://host:port[,host:port]` and `eventhubs`: records to Kafka (or Azure Event Hubs through its
//! Kafka endpoint) with the guarantees of the Sink contract.
//!
//! - Keyed and ordered per key: the producer uses librdkafka's `murmur2_random` partitioner, the same
//!   murmur2 hash Kafka's Java default partitioner applies to key bytes, so Java consumers co-partition.
//! - Durable before the slot moves: `acks=all`, idempotent producer, and a ticket is acknowledged only
//!   when the broker has acknowledged every record of it ([`delivery`]); the pipeline keeps producing
//!   meanwhile. Deliveries never time out by default (`kafka.delivery.timeout.ms=0`), so while the
//!   broker is down the pipeline stalls (its in-flight bound fills) instead of dropping. A delivery
//!   that fails for good (message too large, authorization) stops the pipeline with the broker's error.
//! - Headers `tidemark.lsn` / `tidemark.txid` carry the change's position for deduplication, next to
//!   Debezium's `__debezium.oldkey` / `__debezium.newkey`.
//! - Missing topics are created through the admin API (many clusters disable auto-creation).

mod config;
mod delivery;
pub mod eventhubs;
mod murmur;

pub use config::{KafkaOptions, OversizePolicy, TopicRouting};
pub use murmur::{java_partition, murmur2};

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::util::Timeout;

use self::config::client_config;
use self::delivery::{Ctx, Outstanding, TicketTrack};
use crate::{AckSender, Record, Sink, SinkError, Ticket};

/// A Kafka producer behind the Sink trait.
pub struct KafkaSink {
    producer: Arc<ThreadedProducer<Ctx>>,
    admin: Option<AdminClient<DefaultClientContext>>,
    outstanding: Arc<Outstanding>,
    acks: Option<AckSender>,
    opts: KafkaOptions,
    known_topics: HashSet<String>,
    /// Record topic → destination topic, for topics already checked (routing and creation once per topic).
    routes: std::collections::HashMap<Arc<str>, Arc<str>>,
    skipped: u64,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink").field("target", &self.opts.label).finish()
    }
}

impl KafkaSink {
    /// Build the producer (no network I/O yet; brokers are contacted on first use).
    pub fn new(opts: KafkaOptions) -> Result<KafkaSink, SinkError> {
        if opts.brokers.trim().is_empty() {
            return Err(SinkError::Config {
                uri: opts.label.clone(),
                reason: "no brokers: use kafka://host:9092[,host:9092]".into(),
            });
        }
        let mut c = client_config(&opts)?;
        c.set("acks", "all")
            .set("enable.idempotence", "true")
            .set("partitioner", "murmur2_random")
            .set("compression.codec", &opts.compression)
            .set("linger.ms", opts.linger_ms.to_string())
            .set("message.max.bytes", opts.max_message_bytes.max(1000).to_string())
            .set("message.timeout.ms", opts.delivery_timeout_ms.to_string());
        let producer: ThreadedProducer<Ctx> = c.create_with_context(Ctx).map_err(|e| SinkError::Config {
            uri: opts.label.clone(),
            reason: format!("cannot create the Kafka producer: {e}"),
        })?;
        let admin = if opts.create_topics {
            Some(client_config(&opts)?.create().map_err(|e| SinkError::Config {
                uri: opts.label.clone(),
                reason: format!("cannot create the Kafka admin client: {e}"),
            })?)
        } else {
            None
        };
        Ok(KafkaSink {
            producer: Arc::new(producer),
            admin,
            outstanding: Arc::new(Outstanding::default()),
            acks: None,
            opts,
            known_topics: HashSet::new(),
            routes: Default::default(),
            skipped: 0,
        })
    }

    /// Records skipped by the oversize policy.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    fn route(&self, topic: &str) -> String {
        match &self.opts.routing {
            TopicRouting::PerTable => topic.to_string(),
            TopicRouting::Single(t) => t.clone(),
            TopicRouting::Regex { pattern, replacement } => {
                pattern.replace(topic, replacement.as_str()).into_owned()
            }
        }
    }

    async fn ensure_topic(&mut self, topic: &str) -> Result<(), SinkError> {
        if self.known_topics.contains(topic) {
            return Ok(());
        }
        if let Some(admin) = &self.admin {
            let new = NewTopic::new(
                topic,
                self.opts.partitions,
                TopicReplication::Fixed(self.opts.replication_factor),
            );
            let opts = AdminOptions::new()
                .operation_timeout(Some(Timeout::After(self.opts.admin_timeout)))
                .request_timeout(Some(Timeout::After(self.opts.admin_timeout)));
            match admin.create_topics([&new], &opts).await {
                Ok(results) => {
                    for r in results {
                        match r {
                            Ok(_) => tracing::info!(topic, "created Kafka topic"),
                            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                            Err((t, e)) => {
                                return Err(SinkError::Unusable {
                                    dest: self.opts.label.clone(),
                                    reason: format!(
                                        "cannot create topic {t}: {e}; create it yourself or grant CREATE on the cluster \
                                         (kafka.topic.create=false skips this)"
                                    ),
                                })
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(
                    topic,
                    error = %e,
                    "the broker did not create the topic; relying on its auto-creation (create it yourself if that is disabled)"
                ),
            }
        }
        self.known_topics.insert(topic.to_string());
        Ok(())
    }
}

#[async_trait]
impl Sink<Record> for KafkaSink {
    fn attach(&mut self, acks: AckSender) {
        self.acks = Some(acks);
    }

    async fn send(&mut self, ticket: Ticket, records: Vec<Record>) -> Result<(), SinkError> {
        let acks = self.acks.clone().ok_or_else(|| SinkError::Internal {
            dest: self.opts.label.clone(),
            reason: "send before attach".into(),
        })?;
        let track = TicketTrack::new(ticket, acks, self.opts.label.clone(), self.outstanding.clone());
        let res = self.produce(&track, &records).await;
        // Reports for the messages already handed over still arrive; the ticket completes (or fails)
        // when the last of them does.
        track.sent();
        res
    }

    async fn drain(&mut self) -> Result<(), SinkError> {
        // A zero-timeout rd_kafka_flush wakes the broker threads so lingering records go out now.
        let _ = self.producer.flush(Timeout::After(Duration::ZERO));
        Ok(())
    }

    async fn sync(&mut self) -> Result<(), SinkError> {
        // Durability is the broker's acknowledgement, reported per ticket as it arrives; all a sync
        // can do is stop records from lingering.
        self.drain().await
    }

    async fn close(&mut self) -> Result<(), SinkError> {
        // The wait is on our own count of outstanding delivery reports: rdkafka's `flush` polls the
        // event queue in 100 ms slices, racing the producer's polling thread for the reports.
        let _ = self.producer.flush(Timeout::After(Duration::ZERO));
        let mut waited = 0u32;
        loop {
            let settled = self.outstanding.settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            if self.outstanding.count.load(Ordering::Acquire) == 0 {
                return Ok(());
            }
            if tokio::time::timeout(Duration::from_secs(5), settled).await.is_err() {
                waited += 5;
                tracing::warn!(target = %self.opts.label, waited_s = waited, outstanding = self.outstanding.count.load(Ordering::Acquire), "Kafka has not acknowledged everything yet (broker unavailable?); the slot stays where it is until it does");
            }
        }
    }

    fn describe(&self) -> String {
        self.opts.label.clone()
    }
}

impl KafkaSink {
    /// Hand a ticket's records to the producer, each carrying the ticket's track.
    async fn produce(&mut self, track: &Arc<TicketTrack>, records: &[Record]) -> Result<(), SinkError> {
        for r in records {
            let topic = match self.routes.get(&r.topic) {
                Some(t) => t.clone(),
                None => {
                    let t: Arc<str> = self.route(&r.topic).into();
                    self.ensure_topic(&t).await?;
                    self.routes.insert(r.topic.clone(), t.clone());
                    t
                }
            };
            let topic = &*topic;
            let size = r.key.as_ref().map_or(0, |k| k.len()) + r.value.as_ref().map_or(0, |v| v.len());
            if size > self.opts.max_message_bytes {
                let key = String::from_utf8_lossy(r.key.as_deref().unwrap_or(b"null"))
                    .chars()
                    .take(200)
                    .collect::<String>();
                match self.opts.oversize {
                    OversizePolicy::Fail => {
                        return Err(SinkError::Unusable {
                            dest: self.opts.label.clone(),
                            reason: format!(
                                "a record for topic {topic} (key {key}) is {size} bytes, over the {} byte limit; raise \
                                 kafka.message.max.bytes (and the broker's), disable schemas, or set \
                                 kafka.oversize.policy=skip to skip such records with a warning",
                                self.opts.max_message_bytes
                            ),
                        })
                    }
                    OversizePolicy::Skip => {
                        self.skipped += 1;
                        metrics::counter!(tidemark_pipeline::metrics::SINK_RECORDS_SKIPPED, "reason" => "oversize")
                            .increment(1);
                        tracing::warn!(topic, key, size, limit = self.opts.max_message_bytes, "skipping an oversized record (kafka.oversize.policy=skip)");
                        continue;
                    }
                }
            }
            let headers = self.headers(r);
            let mut rec: BaseRecord<'_, [u8], [u8], Arc<TicketTrack>> =
                BaseRecord::with_opaque_to(topic, track.clone()).headers(headers);
            if let Some(k) = &r.key {
                rec = rec.key(k.as_slice());
            }
            if let Some(v) = &r.value {
                rec = rec.payload(v.as_slice());
            }
            // Counted before the hand-over: the delivery callback may run before send returns.
            track.add();
            loop {
                match self.producer.send(rec) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        rec = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => {
                        let reason = format!("cannot produce to {topic}: {e}");
                        track.abandon(reason.clone());
                        return Err(SinkError::Unusable { dest: self.opts.label.clone(), reason });
                    }
                }
            }
            metrics::counter!(tidemark_pipeline::metrics::SINK_BYTES).increment(size as u64);
        }
        Ok(())
    }

    fn headers(&self, r: &Record) -> OwnedHeaders {
        let mut headers = OwnedHeaders::new_with_capacity(r.headers.len() + 5);
        for (k, v) in &r.headers {
            headers = headers.insert(Header { key: k, value: Some(v.as_slice()) });
        }
        if let Some(o) = &r.origin {
            if let Some(l) = o.lsn {
                // Decimal, as Debezium writes `source.lsn` (formatted on the stack: this runs per record).
                let mut buf = itoa::Buffer::new();
                headers =
                    headers.insert(Header { key: "tidemark.lsn", value: Some(buf.format(l.0).as_bytes()) });
            }
            if let Some(t) = o.tx_id {
                let mut buf = itoa::Buffer::new();
                headers =
                    headers.insert(Header { key: "tidemark.txid", value: Some(buf.format(t).as_bytes()) });
            }
            if self.opts.table_headers {
                headers = headers
                    .insert(Header { key: "tidemark.schema", value: Some(o.table.id.schema.as_bytes()) })
                    .insert(Header { key: "tidemark.table", value: Some(o.table.id.name.as_bytes()) });
            }
        }
        if self.opts.table_headers {
            headers = headers.insert(Header { key: "tidemark.topic", value: Some(r.topic.as_bytes()) });
        }
        headers
    }
}
