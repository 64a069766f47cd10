//! A librdkafka mock Kafka cluster for benchmarks and manual tries: prints its bootstrap address and
//! serves until standard input closes.
//!
//!     cargo run --release -p tidemark-sinks --example mock_broker
use std::io::Read;

fn main() {
    let cluster = rdkafka::mocking::MockCluster::new(1).expect("mock cluster");
    println!("{}", cluster.bootstrap_servers());
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}
