#!/usr/bin/env bash
# The Kafka end-to-end checks against a real broker instead of librdkafka's mock cluster.
#
#   bash scripts/kafka-real-broker.sh
#
# Starts tansu (a Kafka-compatible broker from crates.io; see scripts/tansu.sh) in memory and runs the
# same tests CI runs against the mock cluster, with TIDEMARK_TEST_KAFKA_BROKERS pointing at it:
#   * crates/sinks/tests/kafka.rs — keys and Java-compatible murmur2 partitions, dedup headers, order
#     per key, topic creation through the admin API with the configured partition count (tansu does
#     not auto-create topics, so nothing works unless the sink creates them), a broker outage (SIGSTOP
#     of the broker process for the stall, SIGCONT to resume) with nothing lost or duplicated, and the
#     oversize policies;
#   * crates/tidemark/tests/kafka_e2e.rs — `tidemark stream` and `tidemark diff` into the broker.
# Topic names carry a per-run suffix. Exit status is the tests'.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tansu.sh
trap stop_tansu EXIT
start_tansu
export TIDEMARK_TEST_KAFKA_BROKERS=$TANSU_BOOTSTRAP TIDEMARK_TEST_KAFKA_PID=$TANSU_PID
cargo test --release -p tidemark-sinks --test kafka -p tidemark --test kafka_e2e -- --test-threads=1 "$@"
