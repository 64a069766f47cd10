//! A Kafka-protocol broker for tests: librdkafka's mock cluster by default, or a real broker named by
//! the environment, so the same end-to-end checks run in CI and against a real broker by hand.
//!
//! * Default: [`rdkafka::mocking::MockCluster`] in-process. It implements produce/fetch/metadata and
//!   broker outages, but not CreateTopics, so tests pre-create their topics on it.
//! * `TIDEMARK_TEST_KAFKA_BROKERS=host:port[,…]`: a real broker (`scripts/kafka-real-broker.sh` starts
//!   tansu and sets it). Topics are then *not* pre-created: the code under test must create them
//!   through the admin API, which is the point of running against a broker that does not auto-create.
//!   Topic names get a per-process suffix so repeated runs against one long-lived broker never read
//!   each other's messages. `TIDEMARK_TEST_KAFKA_PID` (optional) is the broker's process id: an outage
//!   is then simulated with SIGSTOP/SIGCONT, which keeps the broker's in-memory state.
//!
//! Invariant: [`TestBroker::topic`] is the only source of topic names in tests that use this module,
//! so the suffixing above holds everywhere.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// Environment variable naming a real broker's bootstrap servers.
pub const BROKERS_ENV: &str = "TIDEMARK_TEST_KAFKA_BROKERS";
/// Environment variable naming the real broker's process id (for outage tests).
pub const PID_ENV: &str = "TIDEMARK_TEST_KAFKA_PID";

/// One consumed message.
#[derive(Debug, Clone)]
pub struct Consumed {
    /// Partition it was read from.
    pub partition: i32,
    /// Offset in that partition.
    pub offset: i64,
    /// Key bytes (empty when absent).
    pub key: Vec<u8>,
    /// Payload bytes; `None` for a tombstone.
    pub value: Option<Vec<u8>>,
    /// Headers by name.
    pub headers: HashMap<String, Vec<u8>>,
}

/// The broker a test talks to.
pub enum TestBroker {
    /// librdkafka's in-process mock cluster.
    Mock(MockCluster<'static, DefaultProducerContext>),
    /// A real broker from [`BROKERS_ENV`].
    Real {
        /// Bootstrap servers.
        bootstrap: String,
        /// Process id from [`PID_ENV`], for outages.
        pid: Option<u32>,
        /// Suffix appended to every topic name.
        suffix: String,
    },
}

impl std::fmt::Debug for TestBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TestBroker::Mock(m) => write!(f, "mock cluster at {}", m.bootstrap_servers()),
            TestBroker::Real { bootstrap, .. } => write!(f, "real broker at {bootstrap}"),
        }
    }
}

impl TestBroker {
    /// The broker named by [`BROKERS_ENV`], else a fresh mock cluster of `brokers` brokers.
    pub fn start(brokers: i32) -> TestBroker {
        match std::env::var(BROKERS_ENV) {
            Ok(bootstrap) if !bootstrap.trim().is_empty() => {
                let pid = std::env::var(PID_ENV).ok().and_then(|p| p.trim().parse().ok());
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0);
                let suffix = format!("_{}_{nanos}", std::process::id());
                TestBroker::Real { bootstrap, pid, suffix }
            }
            _ => TestBroker::Mock(MockCluster::new(brokers).expect("start librdkafka mock cluster")),
        }
    }

    /// Whether this is a real broker (topics must be created by the code under test).
    pub fn is_real(&self) -> bool {
        matches!(self, TestBroker::Real { .. })
    }

    /// Bootstrap servers.
    pub fn bootstrap(&self) -> String {
        match self {
            TestBroker::Mock(m) => m.bootstrap_servers(),
            TestBroker::Real { bootstrap, .. } => bootstrap.clone(),
        }
    }

    /// The topic name to use for `base` (suffixed on a real broker).
    pub fn topic(&self, base: &str) -> String {
        match self {
            TestBroker::Mock(_) => base.to_string(),
            TestBroker::Real { suffix, .. } => format!("{base}{suffix}"),
        }
    }

    /// Pre-creates `topic` on the mock cluster; returns whether the code under test must create it
    /// itself (true on a real broker).
    pub fn prepare_topic(&self, topic: &str, partitions: i32) -> bool {
        match self {
            TestBroker::Mock(m) => {
                m.create_topic(topic, partitions, 1).expect("create topic on mock cluster");
                false
            }
            TestBroker::Real { .. } => true,
        }
    }

    /// Makes the broker unreachable; false when this broker cannot be stopped (real, no pid).
    pub fn down(&self) -> bool {
        match self {
            TestBroker::Mock(m) => m.broker_down(1).is_ok(),
            TestBroker::Real { pid: Some(pid), .. } => signal(*pid, "STOP"),
            TestBroker::Real { pid: None, .. } => false,
        }
    }

    /// Brings the broker back after [`TestBroker::down`].
    pub fn up(&self) {
        match self {
            TestBroker::Mock(m) => m.broker_up(1).expect("mock broker up"),
            TestBroker::Real { pid: Some(pid), .. } => {
                signal(*pid, "CONT");
            }
            TestBroker::Real { pid: None, .. } => {}
        }
    }

    /// Reads `topic` from the beginning of every partition until `want` messages arrived or 30 s
    /// passed.
    pub fn consume(&self, topic: &str, want: usize) -> Vec<Consumed> {
        consume(&self.bootstrap(), topic, want)
    }
}

fn signal(pid: u32, sig: &str) -> bool {
    Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status().is_ok_and(|s| s.success())
}

/// Waits until `topic` exists (its metadata lists partitions) or `deadline` passes, then assigns
/// every partition to `c` from the beginning; returns the number of partitions.
pub fn assign_from_beginning(c: &BaseConsumer, topic: &str, deadline: Instant) -> usize {
    let partitions = loop {
        let n = c
            .fetch_metadata(Some(topic), Duration::from_secs(5))
            .ok()
            .and_then(|md| md.topics().first().map(|t| t.partitions().len()))
            .unwrap_or(0);
        if n > 0 || Instant::now() > deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions as i32 {
        tpl.add_partition_offset(topic, p, Offset::Beginning).expect("assign partition");
    }
    c.assign(&tpl).expect("assign");
    partitions
}

/// Reads `topic` at `bootstrap` from the beginning of every partition until `want` messages arrived or
/// 30 s passed. Partitions come from the broker's metadata.
pub fn consume(bootstrap: &str, topic: &str, want: usize) -> Vec<Consumed> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "tidemark-test")
        .set("enable.auto.commit", "false")
        .create()
        .expect("create consumer");
    let end = Instant::now() + Duration::from_secs(30);
    assign_from_beginning(&c, topic, end);
    let mut out = Vec::new();
    while out.len() < want && Instant::now() < end {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            let mut headers = HashMap::new();
            if let Some(hs) = m.headers() {
                for x in hs.iter() {
                    headers.insert(x.key.to_string(), x.value.unwrap_or_default().to_vec());
                }
            }
            out.push(Consumed {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().unwrap_or_default().to_vec(),
                value: m.payload().map(|v| v.to_vec()),
                headers,
            });
        }
    }
    out
}
