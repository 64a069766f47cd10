//! At-least-once and resource contracts of `tidemark stream`: kill -9 at any moment loses nothing,
//! a restart does not re-emit what was confirmed, idle slots keep advancing, and a 1M-row
//! transaction streams in bounded memory (with and without protocol-2 streaming).

mod common;
use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use common::*;

const NO_SCHEMAS: [&str; 4] =
    ["--set", "value.converter.schemas.enable=false", "--set", "key.converter.schemas.enable=false"];

fn create_ids(dir: &std::path::Path, topic_name: &str) -> Vec<(i64, u64, u64)> {
    read_events(dir)
        .iter()
        .filter(|e| e["topic"] == topic_name && !e["value"].is_null() && payload(e)["op"] == "c")
        .map(|e| {
            let p = payload(e);
            (
                p["after"]["id"].as_i64().unwrap(),
                p["source"]["lsn"].as_u64().unwrap(),
                p["source"]["txId"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn kill_9_during_load_then_restart_delivers_every_row() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY, payload text)").unwrap();
    let out = tempdir();
    setup_slot(&pg, out.path(), "t", &NO_SCHEMAS);
    // 200 transactions of 1000 rows, written while tidemark is repeatedly killed.
    let script = out.path().join("load.sql");
    let sql: String = (0..200)
        .map(|k| {
            format!(
                "INSERT INTO t SELECT g, md5(g::text) FROM generate_series({}, {}) g;\n",
                k * 1000 + 1,
                (k + 1) * 1000
            )
        })
        .collect();
    std::fs::write(&script, sql).unwrap();
    let mut load = Command::new(pg.bin_dir().join("psql"))
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &pg.dsn("postgres"), "-f"])
        .arg(&script)
        .spawn()
        .unwrap();
    let data = out.path().join("data");
    for (i, pause) in [700u64, 400, 1100, 300].iter().enumerate() {
        let mut child =
            stream_cmd(&pg.dsn("postgres"), &data, &["--tables", "t"]).args(NO_SCHEMAS).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(*pause + 100 * i as u64));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    assert!(load.wait().unwrap().success());
    run_ok({
        let mut c = stream_cmd(&pg.dsn("postgres"), &data, &["--tables", "t", "--until-lsn", "current"]);
        c.args(NO_SCHEMAS);
        c
    });
    let ids = create_ids(&data, "tidemark.public.t");
    let mut seen: HashMap<i64, (u64, u64)> = HashMap::new();
    let mut dups = 0;
    for (id, lsn, tx) in &ids {
        if let Some(prev) = seen.insert(*id, (*lsn, *tx)) {
            dups += 1;
            assert_eq!(prev, (*lsn, *tx), "a redelivered row must carry the same source.lsn and source.txId");
        }
    }
    let missing: Vec<i64> = (1..=200_000).filter(|i| !seen.contains_key(i)).take(10).collect();
    assert!(missing.is_empty(), "rows never delivered, e.g. {missing:?}");
    assert_eq!(seen.len(), 200_000);
    eprintln!("delivered 200000 rows with {dups} duplicates across 4 kill -9 restarts");
}

#[test]
fn restart_resumes_from_the_slot_without_reemitting_confirmed_events() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY)").unwrap();
    let out = tempdir();
    setup_slot(&pg, out.path(), "t", &NO_SCHEMAS);
    pg.psql("postgres", "INSERT INTO t SELECT generate_series(1, 100)").unwrap();
    let args = [
        "--tables",
        "t",
        "--until-lsn",
        "current",
        NO_SCHEMAS[0],
        NO_SCHEMAS[1],
        NO_SCHEMAS[2],
        NO_SCHEMAS[3],
    ];
    run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &args));
    let first = slot_confirmed(&pg, "tidemark");
    pg.psql("postgres", "INSERT INTO t SELECT generate_series(101, 150)").unwrap();
    run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &args));
    assert!(slot_confirmed(&pg, "tidemark") > first);
    let ids: Vec<i64> = create_ids(out.path(), "tidemark.public.t").into_iter().map(|x| x.0).collect();
    assert_eq!(ids, (1..=150).collect::<Vec<_>>(), "each row exactly once, in commit order");
}

fn idle_slot_advances(heartbeat_ms: &str) {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE captured (id int PRIMARY KEY); CREATE TABLE other_table (id int);")
        .unwrap();
    pg.psql("postgres", "CREATE DATABASE other").unwrap();
    let out = tempdir();
    setup_slot(&pg, out.path(), "captured", &[]);
    let mut child = stream_cmd(
        &pg.dsn("postgres"),
        out.path(),
        &["--tables", "captured", "--set", &format!("heartbeat.interval.ms={heartbeat_ms}")],
    )
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let before = slot_confirmed(&pg, "tidemark");
    // Heavy writes elsewhere: another database and an unpublished table of this one.
    pg.psql("other", "CREATE TABLE big AS SELECT g, md5(g::text) FROM generate_series(1, 200000) g").unwrap();
    pg.psql("postgres", "INSERT INTO other_table SELECT generate_series(1, 100000)").unwrap();
    let target = pg
        .psql("postgres", "SELECT pg_current_wal_insert_lsn()")
        .unwrap()
        .trim()
        .parse::<tidemark_model::Lsn>()
        .unwrap()
        .0;
    let moved = wait_until(Duration::from_secs(30), || slot_confirmed(&pg, "tidemark") >= target);
    let after = slot_confirmed(&pg, "tidemark");
    sigterm(child.id());
    let status = child.wait().unwrap();
    assert!(moved, "confirmed_flush_lsn stayed at {after:X} (was {before:X}), WAL is at {target:X}");
    assert!(status.success(), "SIGTERM must exit 0, got {status}");
    assert!(read_events(out.path()).is_empty(), "nothing captured was written");
}

#[test]
fn idle_slot_advances_on_keepalives_while_other_database_writes() {
    idle_slot_advances("0");
}

#[test]
fn idle_slot_advances_with_heartbeats() {
    idle_slot_advances("200");
}

fn count_lines_with(dir: &std::path::Path, needle: &str) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "jsonl") {
            let text = std::fs::read_to_string(e.path()).unwrap();
            n += text.lines().filter(|l| l.contains(needle)).count();
        }
    }
    n
}

#[test]
fn million_row_transaction_streams_in_bounded_memory() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY, payload text)").unwrap();
    let out = tempdir();
    setup_slot(&pg, out.path(), "t", &NO_SCHEMAS);
    pg.psql("postgres", "INSERT INTO t SELECT g, repeat('x', 90) FROM generate_series(1, 1000000) g")
        .unwrap();
    let mut c = stream_cmd(&pg.dsn("postgres"), out.path(), &["--tables", "t", "--until-lsn", "current"]);
    c.args(NO_SCHEMAS);
    let (peak_kb, output) = run_measuring_rss(c);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(count_lines_with(out.path(), "\"op\":\"c\""), 1_000_000);
    eprintln!("peak RSS {} MB for a 1M-row transaction", peak_kb / 1024);
    assert!(peak_kb < 150 * 1024, "peak RSS {peak_kb} kB exceeds 150 MB");
}

#[test]
fn streamed_transactions_spill_replay_and_honour_savepoint_rollbacks() {
    let pg = Cluster::builder().setting("logical_decoding_work_mem", "64kB").start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY, payload text)").unwrap();
    let out = tempdir();
    let spill = tempdir();
    let spill_arg = format!("spill.dir={}", spill.path().display());
    let streaming =
        ["--set", "pgoutput.streaming=true", "--set", "pgoutput.proto.version=2", "--set", &spill_arg];
    setup_slot(&pg, out.path(), "t", &streaming);
    pg.psql(
        "postgres",
        "BEGIN;
         INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 100000) g;
         SAVEPOINT a;
         INSERT INTO t SELECT g, 'rolled back' FROM generate_series(100001, 150000) g;
         ROLLBACK TO SAVEPOINT a;
         INSERT INTO t SELECT g, md5(g::text) FROM generate_series(150001, 200000) g;
         COMMIT;",
    )
    .unwrap();
    let _ = pg.psql(
        "postgres",
        "BEGIN; INSERT INTO t SELECT g, 'aborted' FROM generate_series(300001, 350000) g; ROLLBACK;",
    );
    pg.psql("postgres", "INSERT INTO t VALUES (400000, 'after')").unwrap();
    let mut args = vec!["--tables", "t", "--until-lsn", "current"];
    args.extend_from_slice(&streaming);
    args.extend_from_slice(&NO_SCHEMAS);
    let (peak_kb, output) = run_measuring_rss(stream_cmd(&pg.dsn("postgres"), out.path(), &args));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let ids: Vec<i64> = create_ids(out.path(), "tidemark.public.t").into_iter().map(|x| x.0).collect();
    let expected: Vec<i64> = (1..=100_000).chain(150_001..=200_000).chain([400_000]).collect();
    assert_eq!(ids.len(), expected.len());
    assert_eq!(
        ids, expected,
        "only committed rows, in order, rolled-back savepoint and aborted transaction excluded"
    );
    assert!(peak_kb < 150 * 1024, "peak RSS {peak_kb} kB");
    assert_eq!(
        std::fs::read_dir(spill.path().join("tidemark")).unwrap().count(),
        0,
        "spill files removed after replay"
    );
}

#[test]
fn server_restart_mid_stream_reconnects_and_loses_nothing() {
    let mut pg = Cluster::builder().setting("synchronous_commit", "on").start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY)").unwrap();
    let out = tempdir();
    setup_slot(&pg, out.path(), "t", &NO_SCHEMAS);
    let mut child =
        stream_cmd(&pg.dsn("postgres"), out.path(), &["--tables", "t"]).args(NO_SCHEMAS).spawn().unwrap();
    for k in 0..50 {
        pg.psql(
            "postgres",
            &format!("INSERT INTO t SELECT generate_series({}, {})", k * 100 + 1, (k + 1) * 100),
        )
        .unwrap();
    }
    pg.restart().unwrap(); // immediate stop: the replication and SQL connections die
    for k in 50..100 {
        pg.psql(
            "postgres",
            &format!("INSERT INTO t SELECT generate_series({}, {})", k * 100 + 1, (k + 1) * 100),
        )
        .unwrap();
    }
    let complete = wait_until(Duration::from_secs(60), || {
        let ids: std::collections::HashSet<i64> =
            create_ids(out.path(), "tidemark.public.t").into_iter().map(|x| x.0).collect();
        ids.len() == 10_000
    });
    sigterm(child.id());
    let status = child.wait().unwrap();
    assert!(complete, "not every row arrived after the restart");
    assert!(status.success(), "{status}");
}
