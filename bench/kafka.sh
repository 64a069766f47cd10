#!/usr/bin/env bash
# Benchmark: `tidemark stream` → Kafka, beside the file sink, and end-to-end latency at a steady rate.
#
#   bash bench/kafka.sh                      # ROWS=1000000, RATE_TX=2000 transactions of 50 rows (~5k rows/s)
#   KAFKA_BROKER=tansu bash bench/kafka.sh   # against tansu, a real broker from crates.io (scripts/tansu.sh)
#
# KAFKA_BROKER=mock (default) is librdkafka's mock cluster (crates/sinks/examples/mock_broker.rs): a
# Kafka-protocol broker in another process, in memory and single-node, so its figures measure
# tidemark's producer path. KAFKA_BROKER=tansu runs tansu 0.6.0 in memory: a real broker with its own
# request handling, and no auto-creation, so tidemark creates the topics through the admin API.
#   1. throughput: ROWS rows of ~100 bytes in one transaction, drained from identical slots into Kafka
#      and into the file sink (schemas off, as most Kafka deployments run them);
#   2. latency: tidemark streaming while a procedure commits 50-row transactions every 10 ms; a consumer
#      (examples/latency_consumer.rs) records receive time − commit time (source.ts_ms) per event.
# The mock broker does not implement CreateTopics, so there topic creation is off (it auto-creates).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-1000000}
KAFKA_BROKER=${KAFKA_BROKER:-mock}
RATE_TX=${RATE_TX:-2000}
cargo build --release -q
cargo build --release -q -p tidemark-sinks --examples
BIN=$PWD/target/release/tidemark
EX=$PWD/target/release/examples
source bench/lib.sh
start_cluster "wal_level = logical
shared_buffers = 1GB"
DSN="$BASE_DSN/postgres?sslmode=disable"
if [ "$KAFKA_BROKER" = tansu ]; then
  source scripts/tansu.sh
  on_exit stop_tansu
  start_tansu
  BS=$TANSU_BOOTSTRAP
  BROKER_DESC="tansu $TANSU_VERSION (memory storage) at $BS"
  CREATE=true
else
  BROKER_PID=
  on_exit '[ -n "$BROKER_PID" ] && kill "$BROKER_PID" 2>/dev/null'
  mkfifo "$WORK/broker.in"
  "$EX/mock_broker" < "$WORK/broker.in" > "$WORK/broker.out" &
  BROKER_PID=$!
  exec 3> "$WORK/broker.in"
  for _ in $(seq 100); do [ -s "$WORK/broker.out" ] && break; sleep 0.1; done
  BS=$(head -1 "$WORK/broker.out")
  BROKER_DESC="librdkafka mock cluster at $BS"
  CREATE=false
fi
echo "$ROWS rows; $(nproc) cores; $("$PGBIN/postgres" --version); broker: $BROKER_DESC"

psql_ postgres -c "CREATE TABLE bench (id bigint PRIMARY KEY, payload text); CREATE PUBLICATION bench_pub FOR TABLE bench;
          CREATE TABLE lat (id bigserial PRIMARY KEY, payload text); CREATE PUBLICATION lat_pub FOR TABLE lat;"
for s in b_kafka b_file; do psql_ postgres -c "SELECT pg_create_logical_replication_slot('$s', 'pgoutput')" >/dev/null; done
psql_ postgres -c "INSERT INTO bench SELECT g, repeat('x', 90) FROM generate_series(1, $ROWS) g"
END=$(psql_ postgres -c "SELECT pg_current_wal_insert_lsn()")
common=(--source "$DSN" --publication bench_pub --until-lsn "$END" --set value.converter.schemas.enable=false
        --set key.converter.schemas.enable=false --set heartbeat.interval.ms=0 --log warn)
t0=$(now); "$BIN" stream "${common[@]}" --slot b_kafka --sink "kafka://$BS" --set kafka.linger.ms=20 --set kafka.topic.create=$CREATE; t_k=$(echo "$(now) - $t0" | bc -l)
t0=$(now); "$BIN" stream "${common[@]}" --slot b_file --sink "file:$WORK/out"; t_f=$(echo "$(now) - $t0" | bc -l)
printf '%-46s %10.0f ev/s  %6.2fs\n' "1 tx x $ROWS rows -> Kafka ($KAFKA_BROKER)" "$(echo "$ROWS / $t_k" | bc -l)" "$t_k"
printf '%-46s %10.0f ev/s  %6.2fs\n' "1 tx x $ROWS rows -> file sink" "$(echo "$ROWS / $t_f" | bc -l)" "$t_f"

# Latency at a steady rate.
psql_ postgres -c "CREATE PROCEDURE load(n int) LANGUAGE plpgsql AS \$\$ DECLARE
            t0 timestamptz := clock_timestamp(); BEGIN
            FOR i IN 1..n LOOP INSERT INTO lat (payload) SELECT repeat('y', 90) FROM generate_series(1, 50); COMMIT;
              PERFORM pg_sleep(greatest(0, extract(epoch FROM t0 + i * interval '10 ms' - clock_timestamp()))); END LOOP;
          END \$\$;"
"$BIN" stream --source "$DSN" --publication lat_pub --slot b_lat --sink "kafka://$BS" --set value.converter.schemas.enable=false \
  --set key.converter.schemas.enable=false --set kafka.linger.ms=1 --set kafka.topic.create=$CREATE --log warn &
TM=$!
sleep 2
WANT=$((RATE_TX * 50))
"$EX/latency_consumer" "$BS" tidemark.public.lat "$WANT" > "$WORK/lat.out" &
CONS=$!
sleep 1
t0=$(now); psql_ postgres -c "SET synchronous_commit = on" -c "CALL load($RATE_TX)"; t_l=$(echo "$(now) - $t0" | bc -l)
wait "$CONS"
kill -TERM "$TM"; wait "$TM" || true
read -r n p50 p99 max < "$WORK/lat.out"
printf 'steady %.0f rows/s for %.0fs -> Kafka: %d events, commit-to-consumer latency p50 %d ms, p99 %d ms, max %d ms\n' \
  "$(echo "$WANT / $t_l" | bc -l)" "$t_l" "$n" "$p50" "$p99" "$max"
