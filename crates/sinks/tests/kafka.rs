//! The Kafka sink against librdkafka's mock cluster (a real Kafka-protocol broker in-process): keys and
//! Java-compatible partitions, dedup headers, order per key, topic creation through the admin API, a
//! broker outage that stalls flush instead of dropping, the oversize policies, and option conflicts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tidemark_model::{Record, RecordKind, RecordOrigin, ReplicaIdentity, TableId, TableSchema};
use tidemark_sinks::kafka::{java_partition, KafkaOptions, KafkaSink, OversizePolicy};
use tidemark_sinks::Sink;

fn table() -> Arc<TableSchema> {
    Arc::new(TableSchema {
        oid: 1,
        id: TableId::new("public", "a"),
        replica_identity: ReplicaIdentity::Default,
        columns: vec![],
        primary_key: vec![],
    })
}

fn record(topic: &str, key: &str, value: &str, lsn: u64) -> Record {
    Record {
        topic: topic.into(),
        key: Some(key.as_bytes().to_vec()),
        value: Some(value.as_bytes().to_vec()),
        headers: vec![],
        kind: RecordKind::Change,
        op: "c",
        origin: Some(RecordOrigin { lsn: Some(lsn), tx_id: Some(7), table: table() }),
    }
}

/// (partition, key, value, headers) of a consumed message.
type Consumed = (i32, Vec<u8>, Vec<u8>, HashMap<String, Vec<u8>>);

fn consume(bootstrap: &str, topic: &str, partitions: i32, want: usize) -> Vec<Consumed> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "tidemark-test")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning).unwrap();
    }
    c.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let end = Instant::now() + Duration::from_secs(20);
    while out.len() < want && Instant::now() < end {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            let mut h = HashMap::new();
            if let Some(hs) = m.headers() {
                for x in hs.iter() {
                    h.insert(x.key.to_string(), x.value.unwrap_or_default().to_vec());
                }
            }
            out.push((
                m.partition(),
                m.key().unwrap_or_default().to_vec(),
                m.payload().unwrap_or_default().to_vec(),
                h,
            ));
        }
    }
    out
}

fn opts(bootstrap: &str) -> KafkaOptions {
    KafkaOptions {
        brokers: bootstrap.to_string(),
        label: format!("kafka://{bootstrap}"),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_partitions_headers_and_order_per_key() {
    let cluster = MockCluster::new(3).unwrap();
    let bs = cluster.bootstrap_servers();
    cluster.create_topic("p.public.a", 4, 1).unwrap();
    let mut o = opts(&bs);
    o.create_topics = false;
    let mut sink = KafkaSink::new(o).unwrap();
    let records: Vec<Record> = (0..200)
        .map(|i| record("p.public.a", &format!("{{\"id\":{}}}", i % 20), &format!("{{\"n\":{i}}}"), 1000 + i))
        .collect();
    sink.send(&records).await.unwrap();
    sink.flush().await.unwrap();
    let got = consume(&bs, "p.public.a", 4, 200);
    assert_eq!(got.len(), 200);
    let mut last: HashMap<Vec<u8>, i64> = HashMap::new();
    for (part, key, value, headers) in &got {
        assert_eq!(*part, java_partition(key, 4), "murmur2 partition like the Java client");
        let n: i64 = String::from_utf8_lossy(value)
            .trim_start_matches("{\"n\":")
            .trim_end_matches('}')
            .parse()
            .unwrap();
        assert_eq!(headers["tidemark.lsn"], (1000 + n).to_string().into_bytes());
        assert_eq!(headers["tidemark.txid"], b"7");
        if let Some(prev) = last.insert(key.clone(), n) {
            assert!(n > prev, "order per key kept");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn topic_creation_is_bounded_when_the_broker_does_not_answer() {
    // librdkafka's mock cluster does not implement CreateTopics; the sink must wait at most
    // admin_timeout, warn, and go on with the broker's auto-creation. (Creation itself is exercised
    // against a real broker outside CI.)
    let cluster = MockCluster::new(1).unwrap();
    let bs = cluster.bootstrap_servers();
    let mut o = opts(&bs);
    o.partitions = 3;
    o.admin_timeout = Duration::from_secs(1);
    let mut sink = KafkaSink::new(o).unwrap();
    let t0 = Instant::now();
    sink.send(&[record("p.public.new_topic", "{\"id\":1}", "{}", 1)]).await.unwrap();
    sink.flush().await.unwrap();
    assert!(t0.elapsed() < Duration::from_secs(20), "took {:?}", t0.elapsed());
    assert_eq!(consume(&bs, "p.public.new_topic", 1, 1).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn broker_outage_stalls_flush_then_delivers_everything() {
    let cluster = MockCluster::new(1).unwrap();
    let bs = cluster.bootstrap_servers();
    cluster.create_topic("p.public.a", 1, 1).unwrap();
    let mut o = opts(&bs);
    o.create_topics = false;
    let mut sink = KafkaSink::new(o).unwrap();
    sink.send(&[record("p.public.a", "{\"id\":0}", "{\"n\":0}", 1)]).await.unwrap();
    sink.flush().await.unwrap();
    cluster.broker_down(1).unwrap();
    let records: Vec<Record> =
        (1..=50).map(|i| record("p.public.a", "{\"id\":1}", &format!("{{\"n\":{i}}}"), 10 + i)).collect();
    sink.send(&records).await.unwrap();
    let stalled = tokio::time::timeout(Duration::from_secs(3), sink.flush()).await;
    assert!(stalled.is_err(), "flush must not report durability while the broker is down");
    cluster.broker_up(1).unwrap();
    tokio::time::timeout(Duration::from_secs(60), sink.flush())
        .await
        .expect("flush completes once the broker is back")
        .unwrap();
    let got = consume(&bs, "p.public.a", 1, 51);
    let values: Vec<String> = got.iter().map(|g| String::from_utf8_lossy(&g.2).into_owned()).collect();
    for i in 0..=50 {
        assert!(values.contains(&format!("{{\"n\":{i}}}")), "record {i} lost");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_records_fail_clearly_or_are_skipped_with_a_count() {
    let cluster = MockCluster::new(1).unwrap();
    let bs = cluster.bootstrap_servers();
    cluster.create_topic("p.public.a", 1, 1).unwrap();
    let big = format!("{{\"blob\":\"{}\"}}", "x".repeat(5000));
    let mut o = opts(&bs);
    o.create_topics = false;
    o.max_message_bytes = 2000;
    let mut sink = KafkaSink::new(o.clone()).unwrap();
    let e = sink.send(&[record("p.public.a", "{\"id\":1}", &big, 1)]).await.unwrap_err().to_string();
    assert!(e.contains("over the 2000 byte limit") && e.contains("kafka.oversize.policy=skip"), "{e}");
    o.oversize = OversizePolicy::Skip;
    let mut sink = KafkaSink::new(o).unwrap();
    sink.send(&[
        record("p.public.a", "{\"id\":1}", &big, 1),
        record("p.public.a", "{\"id\":2}", "{\"ok\":1}", 2),
    ])
    .await
    .unwrap();
    sink.flush().await.unwrap();
    assert_eq!(sink.skipped(), 1);
    let got = consume(&bs, "p.public.a", 1, 1);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].2, b"{\"ok\":1}");
}

#[test]
fn passthrough_options_may_not_override_typed_ones() {
    let mut o = opts("127.0.0.1:1");
    o.properties = vec![("acks".into(), "1".into())];
    let e = KafkaSink::new(o).unwrap_err().to_string();
    assert!(e.contains("kafka.property.acks conflicts"), "{e}");
    let mut o = opts("127.0.0.1:1");
    o.properties = vec![("socket.timeout.ms".into(), "30000".into())];
    assert!(KafkaSink::new(o).is_ok());
}
