//! `tidemark stream --sink kafka://…` and `tidemark diff --sink kafka://…` end to end against librdkafka's
//! mock cluster: Debezium keys and values on per-table topics, dedup headers on streamed events, and
//! the slot confirmed only after the broker acknowledged.

mod common;
use std::time::{Duration, Instant};

use common::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

fn consume_all(
    bootstrap: &str,
    topic: &str,
    want: usize,
) -> Vec<(serde_json::Value, serde_json::Value, Vec<String>)> {
    let c: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", bootstrap).set("group.id", "e2e").create().unwrap();
    let md = c.fetch_metadata(Some(topic), Duration::from_secs(10)).unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in md.topics()[0].partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning).unwrap();
    }
    c.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let end = Instant::now() + Duration::from_secs(20);
    while out.len() < want && Instant::now() < end {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            let key = m.key().map(|k| serde_json::from_slice(k).unwrap()).unwrap_or(serde_json::Value::Null);
            let value =
                m.payload().map(|v| serde_json::from_slice(v).unwrap()).unwrap_or(serde_json::Value::Null);
            let headers =
                m.headers().map(|h| h.iter().map(|x| x.key.to_string()).collect()).unwrap_or_default();
            out.push((key, value, headers));
        }
    }
    out
}

#[test]
fn stream_and_diff_into_kafka() {
    let cluster = MockCluster::new(1).unwrap();
    let bs = cluster.bootstrap_servers();
    cluster.create_topic("tidemark.public.t", 3, 1).unwrap();
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY, v text)").unwrap();
    let sink = format!("kafka://{bs}");
    let run = |extra: &[&str]| {
        let mut c = std::process::Command::new(bin());
        c.args([
            "stream",
            "--source",
            &pg.dsn("postgres"),
            "--tables",
            "t",
            "--sink",
            &sink,
            "--until-lsn",
            "current",
        ])
        .args([
            "--set",
            "heartbeat.interval.ms=200",
            "--set",
            "kafka.topic.create=false",
            "--set",
            "value.converter.schemas.enable=false",
        ])
        .args(extra)
        .env("TIDEMARK_LOG", "warn");
        run_ok(c)
    };
    run(&[]);
    pg.psql("postgres", "INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 30) g; UPDATE t SET v = 'x' WHERE id = 1; DELETE FROM t WHERE id = 2;").unwrap();
    run(&[]);
    let got = consume_all(&bs, "tidemark.public.t", 33);
    assert_eq!(got.len(), 33, "30 creates, 1 update, 1 delete, 1 tombstone");
    let ops: Vec<&str> = got.iter().filter(|g| !g.1.is_null()).map(|g| g.1["op"].as_str().unwrap()).collect();
    assert_eq!(ops.iter().filter(|o| **o == "c").count(), 30);
    assert!(got.iter().all(|g| g.2.contains(&"tidemark.lsn".to_string())));
    assert!(
        got.iter().any(|g| g.1.is_null() && g.0["payload"]["id"] == 2),
        "tombstone keyed by the deleted row"
    );
    // The slot moved past what the broker acknowledged.
    assert!(slot_confirmed(&pg, "tidemark") > 0);

    // diff into the same broker.
    pg.psql("postgres", "CREATE DATABASE copy TEMPLATE postgres").unwrap();
    pg.psql("copy", "UPDATE t SET v = 'changed' WHERE id = 3").unwrap();
    cluster.create_topic("gap.public.t", 1, 1).unwrap();
    let out = std::process::Command::new(bin())
        .args([
            "diff",
            "--old",
            &pg.dsn("postgres"),
            "--new",
            &pg.dsn("copy"),
            "--tables",
            "t",
            "--sink",
            &sink,
        ])
        .args([
            "--set",
            "topic.prefix=gap",
            "--set",
            "kafka.topic.create=false",
            "--set",
            "value.converter.schemas.enable=false",
        ])
        .env("TIDEMARK_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let gap = consume_all(&bs, "gap.public.t", 1);
    assert_eq!(gap.len(), 1);
    assert_eq!(gap[0].1["op"], "u");
    assert_eq!(gap[0].1["after"]["v"], "changed");
}
