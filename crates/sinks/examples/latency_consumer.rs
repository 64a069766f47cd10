//! Consume a topic and report end-to-end latency: receive time minus the event's commit time
//! (`source.ts_ms`, value JSON without schemas). Prints p50/p99/max after `count` messages.
//!
//!     latency_consumer <bootstrap> <topic> <count>
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::BaseConsumer;
use rdkafka::message::Message;
use rdkafka::ClientConfig;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (bootstrap, topic, count): (&str, &str, usize) =
        (&args[1], &args[2], args[3].parse().expect("count"));
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "latency")
        .set("fetch.wait.max.ms", "5")
        .set("fetch.min.bytes", "1")
        .create()
        .expect("consumer");
    // Wait for the topic to exist, then read it from the start.
    let partitions =
        tidemark_testkit::kafka::assign_from_beginning(&c, topic, Instant::now() + Duration::from_secs(60));
    assert!(partitions > 0, "topic never appeared");
    let mut lat = Vec::with_capacity(count);
    let end = Instant::now() + Duration::from_secs(300);
    while lat.len() < count && Instant::now() < end {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as i64;
            if let Some(v) = m.payload() {
                let v: serde_json::Value = serde_json::from_slice(v).expect("json");
                if let Some(ts) = v["source"]["ts_ms"].as_i64() {
                    lat.push(now - ts);
                }
            }
        }
    }
    lat.sort_unstable();
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p) as usize];
    println!("{} {} {} {}", lat.len(), pct(0.5), pct(0.99), lat.last().copied().unwrap_or(0));
}
