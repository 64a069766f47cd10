//! `tidemark stream --sink kafka://…` and `tidemark diff --sink kafka://…` end to end: Debezium keys and
//! values on per-table topics, order per key, dedup headers on streamed events, and the slot confirmed
//! only after the broker acknowledged. The broker is librdkafka's mock cluster in CI, or a real one
//! with `TIDEMARK_TEST_KAFKA_BROKERS` (`scripts/kafka-real-broker.sh`), where the topics must be
//! created by tidemark through the admin API.

mod common;
use common::*;
use tidemark_testkit::kafka::{Consumed, TestBroker};

fn json(b: &[u8]) -> serde_json::Value {
    serde_json::from_slice(b).unwrap()
}

/// The flags that make the sink create `topic` when the broker is real (tansu does not auto-create).
fn topic_flags(broker: &TestBroker, topic: &str, partitions: i32) -> Vec<String> {
    let create = broker.prepare_topic(topic, partitions);
    vec![
        "--set".into(),
        format!("kafka.topic.create={create}"),
        "--set".into(),
        format!("kafka.topic.partitions={partitions}"),
    ]
}

#[test]
fn stream_and_diff_into_kafka() {
    let broker = TestBroker::start(1);
    // Topic prefixes are per run on a real broker, so repeated runs never read each other's messages.
    let prefix = broker.topic("tidemark");
    let topic = format!("{prefix}.public.t");
    let flags = topic_flags(&broker, &topic, 3);
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY, v text)").unwrap();
    let sink = format!("kafka://{}", broker.bootstrap());
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
            &format!("topic.prefix={prefix}"),
            "--set",
            "value.converter.schemas.enable=false",
        ])
        .args(&flags)
        .args(extra)
        .env("TIDEMARK_LOG", "warn");
        run_ok(c)
    };
    run(&[]);
    pg.psql("postgres", "INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 30) g; UPDATE t SET v = 'x' WHERE id = 1; DELETE FROM t WHERE id = 2;").unwrap();
    run(&[]);
    let got: Vec<Consumed> = broker.consume(&topic, 33);
    assert_eq!(got.len(), 33, "30 creates, 1 update, 1 delete, 1 tombstone");
    let ops: Vec<String> = got
        .iter()
        .filter_map(|g| g.value.as_deref())
        .map(|v| json(v)["op"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ops.iter().filter(|o| *o == "c").count(), 30);
    assert!(got.iter().all(|g| g.headers.contains_key("tidemark.lsn")));
    assert!(
        got.iter().any(|g| g.value.is_none() && json(&g.key)["payload"]["id"] == 2),
        "tombstone keyed by the deleted row"
    );
    // Per key, the order of the source: id 1's create comes before its update.
    let id1: Vec<String> = got
        .iter()
        .filter(|g| json(&g.key)["payload"]["id"] == 1)
        .map(|g| json(g.value.as_deref().unwrap())["op"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(id1, ["c", "u"]);
    // The slot moved past what the broker acknowledged.
    assert!(slot_confirmed(&pg, "tidemark") > 0);

    // diff into the same broker.
    pg.psql("postgres", "CREATE DATABASE copy TEMPLATE postgres").unwrap();
    pg.psql("copy", "UPDATE t SET v = 'changed' WHERE id = 3").unwrap();
    let gap_prefix = broker.topic("gap");
    let gap_topic = format!("{gap_prefix}.public.t");
    let gap_flags = topic_flags(&broker, &gap_topic, 1);
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
            &format!("topic.prefix={gap_prefix}"),
            "--set",
            "value.converter.schemas.enable=false",
        ])
        .args(&gap_flags)
        .env("TIDEMARK_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let gap = broker.consume(&gap_topic, 1);
    assert_eq!(gap.len(), 1);
    let v = json(gap[0].value.as_deref().unwrap());
    assert_eq!(v["op"], "u");
    assert_eq!(v["after"]["v"], "changed");
}
