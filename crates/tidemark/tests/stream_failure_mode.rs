//! `event.processing.failure.handling.mode` (issue 9 §1): a change Debezium itself cannot encode — here
//! numeric NaN in a key column under `decimal.handling.mode=precise` — stops the stream with one
//! message under `fail` (and a restart stops at the same change: nothing past it was confirmed), and
//! under `warn`/`skip` is left out while the stream goes on and the slot moves past it, so a restart
//! never delivers it again.

mod common;
use common::*;

/// A table keyed by numeric, the slot and publication created, then a good row, the row Debezium fails
/// on, and a good row after it, each in its own transaction.
fn setup() -> (Cluster, tempfile::TempDir) {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (k numeric PRIMARY KEY, v int)").unwrap();
    let out = tempdir();
    setup_slot(&pg, out.path(), "t", &[]);
    for sql in
        ["INSERT INTO t VALUES (1, 1)", "INSERT INTO t VALUES ('NaN', 2)", "INSERT INTO t VALUES (2, 3)"]
    {
        pg.psql("postgres", sql).unwrap();
    }
    (pg, out)
}

fn values(out: &std::path::Path) -> Vec<i64> {
    read_events(out)
        .iter()
        .filter(|e| e["topic"] == "tidemark.public.t" && !payload(e).is_null())
        .map(|e| payload(e)["after"]["v"].as_i64().unwrap())
        .collect()
}

fn current_lsn(pg: &Cluster) -> u64 {
    let s = pg.psql("postgres", "SELECT pg_current_wal_lsn()").unwrap();
    s.trim().parse::<tidemark_model::Lsn>().unwrap().0
}

fn moves_on(mode: &str) -> String {
    let (pg, out) = setup();
    let args = ["--tables", "t", "--until-lsn", "current", "--set"];
    let set = format!("event.processing.failure.handling.mode={mode}");
    let mut a: Vec<&str> = args.to_vec();
    a.push(&set);
    let res = run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &a));
    assert_eq!(values(out.path()), vec![1, 3], "the bad row is left out, the rows around it delivered");
    let after_bad = current_lsn(&pg);
    assert!(slot_confirmed(&pg, "tidemark") >= after_bad, "the slot moved past the skipped change");
    // Restart: nothing is delivered again, the stream does not stop, new rows flow.
    pg.psql("postgres", "INSERT INTO t VALUES (3, 4)").unwrap();
    let again = tempdir();
    run_ok(stream_cmd(&pg.dsn("postgres"), again.path(), &a));
    assert_eq!(values(again.path()), vec![4], "a restart does not redeliver the skipped change");
    String::from_utf8_lossy(&res.stderr).into_owned()
}

#[test]
fn failure_mode_fail_stops_once_with_message() {
    let (pg, out) = setup();
    let args = ["--tables", "t", "--until-lsn", "current"];
    let e = run_err(stream_cmd(&pg.dsn("postgres"), out.path(), &args));
    assert_eq!(e.matches("cannot encode").count(), 1, "one message, printed once:\n{e}");
    assert_eq!(e.lines().filter(|l| l.starts_with("error:")).count(), 1, "{e}");
    for needle in [
        "public.t",
        "\"k\"",
        "NaN",
        "LSN 0/",
        "decimal.handling.mode=string",
        "event.processing.failure.handling.mode=warn",
    ] {
        assert!(e.contains(needle), "message lacks {needle:?}:\n{e}");
    }
    // The row before is delivered; nothing at or past the bad one is confirmed.
    assert_eq!(values(out.path()), vec![1]);
    let lsn = e.split("LSN ").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    let bad = lsn.parse::<tidemark_model::Lsn>().unwrap().0;
    assert!(slot_confirmed(&pg, "tidemark") <= bad, "the slot must not pass the failed change");
    // A restart stops at the same change with the same message (documented: fix the mode, or warn/skip).
    let again = tempdir();
    let e2 = run_err(stream_cmd(&pg.dsn("postgres"), again.path(), &args));
    assert_eq!(e2.matches("cannot encode").count(), 1, "{e2}");
    assert!(e2.contains(&format!("LSN {lsn}")), "restart stops at the same LSN {lsn}:\n{e2}");
    assert!(values(again.path()).iter().all(|v| *v == 1), "nothing past the bad change");
}

#[test]
fn failure_mode_skip_moves_on() {
    let stderr = moves_on("skip");
    assert!(!stderr.contains("cannot encode"), "skip is silent at warn level:\n{stderr}");
}

#[test]
fn failure_mode_warn_moves_on() {
    let stderr = moves_on("warn");
    assert_eq!(stderr.matches("skipped a change that cannot be encoded").count(), 1, "{stderr}");
    assert!(stderr.contains("public.t") && stderr.contains("lsn=0/") && stderr.contains("NaN"), "{stderr}");
}

#[test]
fn failure_mode_rejects_unknown_values() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (k int PRIMARY KEY)").unwrap();
    let out = tempdir();
    let mut c = stream_cmd(
        &pg.dsn("postgres"),
        out.path(),
        &["--tables", "t", "--set", "event.processing.failure.handling.mode=ignore-all"],
    );
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("event.processing.failure.handling.mode") && e.contains("fail | warn | skip"), "{e}");
}
