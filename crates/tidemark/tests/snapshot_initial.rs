//! Initial snapshots (`snapshot.mode`): every existing row as an `r` event, read in the slot's exported
//! snapshot by parallel block-range workers, then the stream from the same point — no gap, no overlap.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const SCHEMA: &str = "CREATE TABLE a (id int PRIMARY KEY, v text, n numeric);
     CREATE TABLE b (x int, y text); ALTER TABLE b REPLICA IDENTITY FULL;
     CREATE TABLE c (k text PRIMARY KEY, big text);
     CREATE TABLE d (id bigint PRIMARY KEY);";

#[test]
fn snapshot_then_stream_under_concurrent_writes_reproduces_the_source() {
    // Three tables with rows and an empty one, read by 4 workers in ranges of 8 pages, while a writer
    // commits inserts, updates, deletes and primary-key changes before, during and after the snapshot.
    // The events go through the PostgreSQL apply sink into an empty copy of the schema: a row emitted
    // twice would fail its INSERT on the key, a missed one shows in the fingerprints.
    let pg = source_and_copy(SCHEMA);
    pg.psql(
        "src",
        "INSERT INTO a SELECT g, 'v' || g, g / 7.0 FROM generate_series(1, 60000) g;
         INSERT INTO b SELECT g % 1000, CASE WHEN g % 3 = 0 THEN NULL ELSE 'y' || g END FROM generate_series(1, 20000) g;
         INSERT INTO c SELECT 'k' || g, CASE WHEN g % 100 = 0 THEN repeat(md5(g::text), 300) END FROM generate_series(1, 5000) g;
         CREATE PROCEDURE churn(n int) LANGUAGE plpgsql AS $$
           BEGIN
             FOR i IN 1..n LOOP
               INSERT INTO a VALUES (100000 + i, 'new', i);
               UPDATE a SET v = 'upd' || i WHERE id = (i * 37) % 60000 + 1;
               DELETE FROM a WHERE id = (i * 101) % 60000 + 1;
               UPDATE a SET id = id + 200000 WHERE id = (i * 53) % 60000 + 1;
               INSERT INTO b VALUES (i, 'b' || i);
               DELETE FROM b WHERE ctid = (SELECT ctid FROM b WHERE x = i % 1000 LIMIT 1);
               UPDATE c SET big = NULL WHERE k = 'k' || (i % 5000 + 1);
               INSERT INTO d VALUES (i);
               COMMIT;
               PERFORM pg_sleep(0.002);
             END LOOP;
           END $$;",
    )
    .unwrap();
    let state = tempdir();
    let offsets = state.path().join("offsets.json");
    let before: tidemark_model::Lsn =
        pg.psql("src", "SELECT pg_current_wal_insert_lsn()").unwrap().trim().parse().unwrap();
    let mut writer = Command::new(pg.bin_dir().join("psql"))
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &pg.dsn("src"), "-c", "CALL churn(1500)"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut tm = Command::new(bin())
        .args(["stream", "--source", &pg.dsn("src"), "--sink", &pg.dsn("dst")])
        .args([
            "--tables",
            "public.a,public.b,public.c,public.d",
            "--slot",
            "snap",
            "--publication",
            "snap_pub",
        ])
        .args(["--set", &format!("offset.storage.file.filename={}", offsets.display())])
        .args(["--set", "snapshot.max.threads=4", "--set", "snapshot.pages.per.range=8"])
        .args(["--set", "heartbeat.interval.ms=200", "--set", "status.update.interval.ms=200"])
        .env_remove("TIDEMARK_SOURCE")
        .env("TIDEMARK_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(writer.wait().unwrap().success(), "the writer failed");
    let end: tidemark_model::Lsn =
        pg.psql("src", "SELECT pg_current_wal_insert_lsn()").unwrap().trim().parse().unwrap();
    let mut exited = false;
    let caught_up = wait_until(Duration::from_secs(120), || {
        exited = exited || matches!(tm.try_wait(), Ok(Some(_)));
        exited || slot_confirmed(&pg, "snap") >= end.0
    }) && !exited;
    if !exited {
        sigterm(tm.id());
    }
    let out = tm.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(caught_up, "tidemark did not catch up with the writer:\n{log}");
    assert!(out.status.success(), "{log}");
    assert!(log.contains("initial snapshot done"), "{log}");
    for t in ["a", "b", "c", "d"] {
        assert_eq!(fingerprint(&pg, "dst", t), fingerprint(&pg, "src", t), "table {t}:\n{log}");
    }
    // The snapshot's point lies inside the writes (else this test proves less than it claims).
    let point: tidemark_model::Lsn = log
        .split("consistent_point=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|l| l.trim_matches('"').parse().ok())
        .unwrap_or_else(|| panic!("no consistent point in the log:\n{log}"));
    assert!(before < point && point < end, "snapshot at {point}, writes from {before} to {end}");
}

#[test]
fn snapshot_events_carry_debezium_markers_in_table_order() {
    let pg = Cluster::start().unwrap();
    pg.psql(
        "postgres",
        "CREATE TABLE aa (id int PRIMARY KEY, v text); INSERT INTO aa VALUES (1, 'x'), (2, NULL), (3, 'z');
         CREATE TABLE bb (id int PRIMARY KEY); INSERT INTO bb VALUES (10);
         CREATE TABLE cc (id int PRIMARY KEY);
         CREATE TABLE dd (k text, n int); ALTER TABLE dd REPLICA IDENTITY FULL; INSERT INTO dd VALUES ('p', 1), ('q', 2);
         CREATE TABLE ee (id int PRIMARY KEY);",
    )
    .unwrap();
    let out = tempdir();
    let tables = "public.aa,public.bb,public.cc,public.dd,public.ee";
    run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &["--tables", tables, "--until-lsn", "current"]));
    pg.psql("postgres", "INSERT INTO bb VALUES (11)").unwrap();
    run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &["--tables", tables, "--until-lsn", "current"]));
    let evs = read_events(out.path());
    let reads: Vec<&serde_json::Value> = evs.iter().filter(|e| payload(e)["op"] == "r").collect();
    // Table order is name order; within a table, block order (here: insertion order).
    let got: Vec<(String, String)> = reads
        .iter()
        .map(|e| {
            let p = payload(e);
            (
                p["source"]["table"].as_str().unwrap().to_string(),
                p["source"]["snapshot"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = [
        ("aa", "first"),
        ("aa", "true"),
        ("aa", "last_in_data_collection"),
        ("bb", "last_in_data_collection"),
        ("dd", "first_in_data_collection"),
        ("dd", "last"),
    ];
    // The file sink groups by topic, so compare as a set of (table, marker) plus per-table order.
    let mut sorted = got.clone();
    sorted.sort();
    let mut want_sorted: Vec<(String, String)> =
        want.iter().map(|(t, m)| (t.to_string(), m.to_string())).collect();
    want_sorted.sort();
    assert_eq!(sorted, want_sorted, "{got:?}");
    let aa: Vec<&str> = got.iter().filter(|(t, _)| t == "aa").map(|(_, m)| m.as_str()).collect();
    assert_eq!(aa, ["first", "true", "last_in_data_collection"]);
    let lsn = &payload(reads[0])["source"]["lsn"];
    for e in &reads {
        let p = payload(e);
        assert!(p["before"].is_null(), "{p}");
        assert!(p["after"].is_object(), "{p}");
        assert_eq!(&p["source"]["lsn"], lsn, "every read carries the slot's consistent point");
        assert!(p.get("transaction").is_none_or(|t| t.is_null()), "{p}");
    }
    assert_eq!(
        payload(reads.iter().find(|e| payload(e)["after"]["id"] == 2).unwrap())["after"]["v"],
        serde_json::Value::Null
    );
    // The change after the snapshot is streamed once, as a create.
    let creates: Vec<_> = evs.iter().filter(|e| payload(e)["op"] == "c").collect();
    assert_eq!(creates.len(), 1);
    assert_eq!(payload(creates[0])["after"]["id"], 11);
    assert_eq!(payload(creates[0])["source"]["snapshot"], "false");
}

#[test]
fn initial_only_stops_after_the_snapshot_and_no_data_reads_nothing() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100);")
        .unwrap();
    let only = tempdir();
    // No --until-lsn: initial_only must stop by itself.
    let mut c = stream_cmd(&pg.dsn("postgres"), only.path(), &["--tables", "public.t", "--slot", "only"]);
    c.args(["--set", "snapshot.mode=initial_only"]);
    let done = c.output().unwrap();
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let evs = read_events(only.path());
    assert_eq!(evs.len(), 100);
    assert!(evs.iter().all(|e| payload(e)["op"] == "r"));

    let none = tempdir();
    let mut c = stream_cmd(
        &pg.dsn("postgres"),
        none.path(),
        &["--tables", "public.t", "--slot", "nodata", "--until-lsn", "current"],
    );
    c.args(["--set", "snapshot.mode=never"]);
    run_ok(c);
    assert!(read_events(none.path()).is_empty());
}

#[test]
fn snapshot_interrupted_by_kill_is_taken_again_in_full() {
    let pg = Cluster::start().unwrap();
    pg.psql(
        "postgres",
        "CREATE TABLE big (id int PRIMARY KEY, pad text); \
         INSERT INTO big SELECT g, repeat('p', 200) FROM generate_series(1, 300000) g;",
    )
    .unwrap();
    let out = tempdir();
    let args = ["--tables", "public.big", "--slot", "kill", "--until-lsn", "current"];
    let mut first = stream_cmd(&pg.dsn("postgres"), out.path(), &args);
    first.args(["--set", "snapshot.max.threads=1", "--set", "snapshot.pages.per.range=64"]);
    let mut child = first.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let started = wait_until(Duration::from_secs(60), || {
        std::fs::read_dir(out.path())
            .map(|d| {
                d.flatten().any(|f| {
                    f.file_name().to_string_lossy().ends_with(".jsonl")
                        && f.metadata().is_ok_and(|m| m.len() > 0)
                })
            })
            .unwrap_or(false)
    });
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    assert!(started, "the snapshot never started writing");
    pg.psql("postgres", "UPDATE big SET pad = 'after' WHERE id <= 10").unwrap();
    // Started again: the slot is recreated and the whole table read in a new export.
    let mut again = stream_cmd(&pg.dsn("postgres"), out.path(), &args);
    again.env("TIDEMARK_LOG", "warn");
    let o = run_ok(again);
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(log.contains("initial snapshot"), "the restart says why it reads again:\n{log}");
    let evs = read_events(out.path());
    // The first attempt's rows (up to a line torn by the kill, which the file sink repairs on reopen)
    // and every row again.
    assert!(evs.len() > 300_000, "{} events", evs.len());
    assert!(
        evs.iter().all(|e| payload(e)["op"] == "r"),
        "the update before the restart is in the snapshot, not streamed"
    );
    let mut ids: Vec<i64> = evs.iter().map(|e| payload(e)["after"]["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 300_000);
    let updated = evs.iter().filter(|e| payload(e)["after"]["pad"] == "after").count();
    assert_eq!(updated, 10, "the second attempt reads the rows as of its own export");
    let offsets = std::fs::read_dir(out.path())
        .unwrap()
        .flatten()
        .find(|f| f.file_name().to_string_lossy().starts_with("tidemark-offsets"))
        .expect("offsets file in the sink folder");
    let rec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(offsets.path()).unwrap()).unwrap();
    assert_eq!(rec["snapshot_pending"], false, "{rec}");
}

#[test]
fn snapshot_include_list_must_name_captured_tables() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY); CREATE TABLE u (id int PRIMARY KEY); INSERT INTO t VALUES (1); INSERT INTO u VALUES (2);").unwrap();
    let out = tempdir();
    let mut c = stream_cmd(
        &pg.dsn("postgres"),
        out.path(),
        &["--tables", "public.t", "--until-lsn", "current", "--slot", "inc"],
    );
    c.args(["--set", "snapshot.include.collection.list=public.u"]);
    let err = run_err(c);
    assert!(err.contains("public.u") && err.contains("not captured"), "{err}");
    assert!(read_events(out.path()).is_empty(), "nothing half-written");
    // A valid list narrows the snapshot; the other captured table is streamed only.
    let out = tempdir();
    let mut c = stream_cmd(
        &pg.dsn("postgres"),
        out.path(),
        &[
            "--tables",
            "public.t,public.u",
            "--until-lsn",
            "current",
            "--slot",
            "inc2",
            "--publication",
            "inc2_pub",
        ],
    );
    c.args(["--set", "snapshot.include.collection.list=public.u"]);
    run_ok(c);
    let evs = read_events(out.path());
    assert_eq!(evs.len(), 1);
    assert_eq!(payload(&evs[0])["source"]["table"], "u");
}

#[test]
fn snapshot_without_select_privilege_names_the_grant() {
    // A replication user that may read one published table but not the other: one message with the
    // GRANT that fixes it, and a restart after the grant takes the whole snapshot.
    let pg = Cluster::start().unwrap();
    pg.psql(
        "postgres",
        "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1);
         CREATE TABLE secret (id int PRIMARY KEY); INSERT INTO secret VALUES (2);
         CREATE PUBLICATION p FOR TABLE t, secret;
         CREATE ROLE snap LOGIN REPLICATION; GRANT SELECT ON t TO snap;",
    )
    .unwrap();
    let out = tempdir();
    let dsn = pg.dsn_as("postgres", "snap", None);
    let args = ["--publication", "p", "--slot", "snap", "--until-lsn", "current"];
    let err = run_err(stream_cmd(&dsn, out.path(), &args));
    assert!(
        err.contains("cannot read public.secret") && err.contains("GRANT SELECT ON public.secret TO snap"),
        "{err}"
    );
    assert_eq!(err.lines().filter(|l| l.starts_with("error:")).count(), 1, "{err}");
    pg.psql("postgres", "GRANT SELECT ON secret TO snap").unwrap();
    run_ok(stream_cmd(&dsn, out.path(), &args));
    let evs = read_events(out.path());
    let ids: std::collections::BTreeSet<i64> = evs
        .iter()
        .filter(|e| payload(e)["op"] == "r")
        .map(|e| payload(e)["after"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2].into_iter().collect());
}
