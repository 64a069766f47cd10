#!/usr/bin/env bash
# Benchmark: `tidemark stream` into the file sink vs `pg_recvlogical` draining an identical slot
# over the same WAL (the server's own pgoutput decoding rate: the physical limit for any consumer).
#
#   bash bench/stream.sh              # ROWS=1000000 by default
#   ROWS=200000 bash bench/stream.sh  # quicker
#
# Two workloads: ROWS rows of ~100 bytes in one transaction, and the same rows as 100 transactions.
# For each: create two slots at the same point, load, then drain slot A with pg_recvlogical
# (-E <end LSN>) and slot B with tidemark (--until-lsn <end LSN>), one after the other, each alone.
# Prints events/s, peak RSS and the ratio tidemark / pg_recvlogical.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-1000000}
TXS=${TXS:-100}
# BENCH_BIN=path compares another build (A/B) instead of this tree's.
if [ -z "${BENCH_BIN:-}" ]; then cargo build --release -q; fi
BIN=${BENCH_BIN:-$PWD/target/release/tidemark}
source bench/lib.sh
start_cluster "wal_level = logical
shared_buffers = 1GB
max_replication_slots = 10
max_wal_senders = 10"
DSN="$BASE_DSN/postgres?sslmode=disable"
psql_ postgres -c "CREATE TABLE bench (id bigint PRIMARY KEY, payload text); CREATE PUBLICATION bench_pub FOR TABLE bench;"

peak_rss_of() { # command... ; prints "seconds peak_kb"
  local t0 t1 out
  out=$(mktemp)
  t0=$(now)
  /usr/bin/time -v -o "$out" "$@" >/dev/null 2>"$WORK/cmd.err" || { cat "$WORK/cmd.err" >&2; cat "$out" >&2; return 1; }
  t1=$(now)
  echo "$(echo "$t1 - $t0" | bc -l) $(grep 'Maximum resident' "$out" | awk '{print $NF}') $(grep 'Percent of CPU' "$out" | awk '{print $NF}')"
  rm -f "$out"
}

run_case() { # name load-sql-file
  local name=$1 load=$2
  psql_ postgres -c "TRUNCATE bench" >/dev/null
  psql_ postgres -c "SELECT pg_create_logical_replication_slot('b_recv', 'pgoutput')" >/dev/null
  psql_ postgres -c "SELECT pg_create_logical_replication_slot('b_recv2', 'pgoutput')" >/dev/null
  psql_ postgres -c "SELECT pg_create_logical_replication_slot('b_tm', 'pgoutput')" >/dev/null
  psql_ postgres -c "SELECT pg_create_logical_replication_slot('b_tm_schema', 'pgoutput')" >/dev/null
  psql_ postgres -f "$load" >/dev/null
  local end
  end=$(psql_ postgres -c "SELECT pg_current_wal_insert_lsn()")
  psql_ postgres -c "CHECKPOINT" >/dev/null
  read -r t_recv rss_recv cpu_recv < <(peak_rss_of "$PGBIN/pg_recvlogical" -d "$DSN" --slot b_recv --start -E "$end" --no-loop \
      -o proto_version=1 -o publication_names=bench_pub -f /dev/null)
  rm -rf "$WORK/tm" "$WORK/tm_schema"
  read -r t_tm rss_tm cpu_tm < <(peak_rss_of "$BIN" stream --source "$DSN" --slot b_tm --publication bench_pub \
      --sink "file:$WORK/tm" --until-lsn "$end" --set value.converter.schemas.enable=false \
      --set key.converter.schemas.enable=false --set heartbeat.interval.ms=0 --log warn)
  read -r t_tms rss_tms cpu_tms < <(peak_rss_of "$BIN" stream --source "$DSN" --slot b_tm_schema --publication bench_pub \
      --sink "file:$WORK/tm_schema" --until-lsn "$end" --set heartbeat.interval.ms=0 --log warn)
  # pg_recvlogical again, after tidemark, so neither side profits from running second; the faster
  # of its two runs is the limit.
  read -r t_recv2 rss_recv2 cpu_recv2 < <(peak_rss_of "$PGBIN/pg_recvlogical" -d "$DSN" --slot b_recv2 --start -E "$end" --no-loop \
      -o proto_version=1 -o publication_names=bench_pub -f /dev/null)
  t_recv=$(echo "if ($t_recv2 < $t_recv) $t_recv2 else $t_recv" | bc -l)
  local n
  n=$(cat "$WORK"/tm/*.jsonl | wc -l)
  [ "$n" = "$ROWS" ] || { echo "tidemark wrote $n events, expected $ROWS" >&2; exit 1; }
  local bytes_tm bytes_tms
  bytes_tm=$(du -cb "$WORK"/tm/*.jsonl | tail -1 | cut -f1)
  bytes_tms=$(du -cb "$WORK"/tm_schema/*.jsonl | tail -1 | cut -f1)
  printf '%-26s %-38s %10.0f ev/s  %6.2fs  %5d MB RSS  %4s CPU\n' "$name" "pg_recvlogical >/dev/null (best of 2)" "$(echo "$ROWS / $t_recv" | bc -l)" "$t_recv" $((rss_recv/1024)) "$cpu_recv"
  printf '%-26s %-38s %10.0f ev/s  %6.2fs  %5d MB RSS  %4s CPU  %.2fx limit, %d MB out\n' "$name" "tidemark file sink, schemas off" "$(echo "$ROWS / $t_tm" | bc -l)" "$t_tm" $((rss_tm/1024)) "$cpu_tm" "$(echo "$t_recv / $t_tm" | bc -l)" $((bytes_tm/1048576))
  printf '%-26s %-38s %10.0f ev/s  %6.2fs  %5d MB RSS  %4s CPU  %.2fx limit, %d MB out\n' "$name" "tidemark file sink, schemas on" "$(echo "$ROWS / $t_tms" | bc -l)" "$t_tms" $((rss_tms/1024)) "$cpu_tms" "$(echo "$t_recv / $t_tms" | bc -l)" $((bytes_tms/1048576))
  for s in b_recv b_recv2 b_tm b_tm_schema; do psql_ postgres -c "SELECT pg_drop_replication_slot('$s')" >/dev/null; done
  rm -rf "$WORK/tm" "$WORK/tm_schema" "$WORK/recv.out" "$WORK/recv2.out"
}

echo "$ROWS rows of ~100 bytes; $(nproc) cores; $("$PGBIN/postgres" --version)"
echo "INSERT INTO bench SELECT g, repeat('x', 90) FROM generate_series(1, $ROWS) g;" > "$WORK/one.sql"
per=$((ROWS / TXS))
for ((k = 0; k < TXS; k++)); do
  echo "INSERT INTO bench SELECT g, repeat('x', 90) FROM generate_series($((k * per + 1)), $(((k + 1) * per))) g;"
done > "$WORK/many.sql"
run_case "1 tx x $ROWS rows" "$WORK/one.sql"
run_case "$TXS tx x $per rows" "$WORK/many.sql"
