//! The slot and the publication while and between runs: tidemark keeps its own record of the last
//! confirmed position (an offsets file) and refuses to stream over a gap — a slot that went missing, was
//! invalidated or moved past that record — naming the gap and how to recover it; a publication newer
//! than the slot's position, or dropped while streaming, is explained; a slot still held by another
//! walsender is retried for a bounded time.

mod common;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use tidemark_model::Lsn;

/// The offsets file tidemark keeps in a file sink's folder.
fn offsets_file(dir: &Path) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().unwrap().to_string_lossy().starts_with("tidemark-offsets-")
                && p.extension().is_some_and(|x| x == "json")
        })
        .collect();
    assert_eq!(found.len(), 1, "one offsets file in {}: {found:?}", dir.display());
    found[0].clone()
}

fn recorded(file: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

fn recorded_lsn(file: &Path) -> Lsn {
    recorded(file)["confirmed_lsn"].as_str().unwrap().parse().unwrap()
}

fn until_current(extra: &[&'static str]) -> Vec<&'static str> {
    let mut v = vec!["--tables", "t", "--until-lsn", "current"];
    v.extend_from_slice(extra);
    v
}

fn slots(pg: &Cluster) -> String {
    pg.psql("postgres", "SELECT count(*) FROM pg_replication_slots").unwrap()
}

/// Wait for a child to exit, failing the test after `secs`.
fn wait_exit(mut child: Child, secs: u64) -> (bool, String) {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            return (status.success(), err);
        }
        if Instant::now() > end {
            child.kill().unwrap();
            panic!("tidemark did not exit within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn offsets_file_written_atomically_and_resumed() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY)").unwrap();
    let out = tempdir();
    setup_slot(&pg, out.path(), "t", &[]);
    let file = offsets_file(out.path());
    let rec = recorded(&file);
    let sysid = pg.psql("postgres", "SELECT system_identifier FROM pg_control_system()").unwrap();
    assert_eq!(rec["slot"], "tidemark");
    assert_eq!(rec["system_identifier"].as_str().unwrap(), sysid);
    assert_eq!(rec["database"], "postgres");
    assert_eq!(rec["timeline"], 1);
    let first = recorded_lsn(&file);
    assert!(Lsn(slot_confirmed(&pg, "tidemark")) <= first, "the slot never runs ahead of the record");
    // A torn temporary file from a crash is ignored and replaced; the record itself is always whole.
    let tmp = PathBuf::from(format!("{}.tmp", file.display()));
    std::fs::write(&tmp, "{\"slot\": \"tidem").unwrap();
    pg.psql("postgres", "INSERT INTO t SELECT generate_series(1, 3)").unwrap();
    run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &until_current(&[])));
    assert!(!tmp.exists(), "no temporary file left behind");
    let second = recorded_lsn(&file);
    assert!(second > first, "the record moves with the slot: {first} -> {second}");
    assert_eq!(Lsn(slot_confirmed(&pg, "tidemark")), second);
    assert_eq!(topic(&read_events(out.path()), "tidemark.public.t").len(), 3, "resumed where it stopped");
    // An explicit path (any sink), created with its folders; a second stream may not share it.
    let state = tempdir();
    let explicit = state.path().join("deep/er/offsets.json");
    let set = format!("offset.storage.file.filename={}", explicit.display());
    let other = tempdir();
    run_ok(stream_cmd(
        &pg.dsn("postgres"),
        other.path(),
        &["--tables", "t", "--slot", "second", "--until-lsn", "current", "--set", &set],
    ));
    assert_eq!(recorded(&explicit)["slot"], "second");
    assert!(std::fs::read_dir(other.path())
        .unwrap()
        .flatten()
        .all(|e| !e.file_name().to_string_lossy().starts_with("tidemark-offsets-")));
    let e = run_err(stream_cmd(
        &pg.dsn("postgres"),
        other.path(),
        &["--tables", "t", "--slot", "third", "--until-lsn", "current", "--set", &set],
    ));
    assert!(e.contains("records slot \"second\"") && e.contains("offset.storage.file.filename"), "{e}");
}

#[test]
fn missing_slot_after_streaming_is_a_gap() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY)").unwrap();
    let out = tempdir();
    setup_slot(&pg, out.path(), "t", &[]);
    let file = offsets_file(out.path());
    let from = recorded_lsn(&file);
    pg.drop_slot("postgres", "tidemark").unwrap();
    pg.psql("postgres", "INSERT INTO t VALUES (1)").unwrap();
    let e = run_err(stream_cmd(&pg.dsn("postgres"), out.path(), &until_current(&[])));
    assert!(
        e.contains("replication slot \"tidemark\" no longer exists")
            && e.contains(&format!("changes between {from} and "))
            && e.contains("tidemark diff")
            && e.contains(&file.display().to_string()),
        "{e}"
    );
    assert_eq!(slots(&pg), "0", "the slot is not silently re-created");
    // Starting fresh is deliberate: delete the record.
    std::fs::remove_file(&file).unwrap();
    run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &until_current(&[])));
    assert_eq!(slots(&pg), "1");
}

#[test]
fn invalidated_slot_is_a_gap() {
    let pg = slot_losing_cluster();
    let out = tempdir();
    setup_slot(&pg, out.path(), "t", &[]);
    let from = recorded_lsn(&offsets_file(out.path()));
    lose_slot(&pg);
    let e = run_err(stream_cmd(&pg.dsn("postgres"), out.path(), &until_current(&[])));
    assert!(
        e.contains("was invalidated (wal_status=lost)")
            && e.contains(&format!("changes between {from} and "))
            && e.contains("tidemark diff")
            && e.contains("pg_drop_replication_slot('tidemark')"),
        "{e}"
    );
}

#[test]
fn slot_ahead_of_offsets_is_a_gap() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY)").unwrap();
    let out = tempdir();
    setup_slot(&pg, out.path(), "t", &[]);
    let file = offsets_file(out.path());
    let from = recorded_lsn(&file);
    // The harness runs with synchronous_commit=off: commit this one synchronously so the WAL position
    // the slot is advanced to is past it (otherwise the WAL writer may not have written it yet).
    pg.psql("postgres", "SET synchronous_commit = on; INSERT INTO t VALUES (1), (2)").unwrap();
    let to: Lsn = pg
        .psql("postgres", "SELECT end_lsn FROM pg_replication_slot_advance('tidemark', pg_current_wal_lsn())")
        .unwrap()
        .parse()
        .unwrap();
    assert!(to > from);
    let e = run_err(stream_cmd(&pg.dsn("postgres"), out.path(), &until_current(&[])));
    assert!(
        e.contains(&format!("was confirmed up to {to} by something other than this tidemark"))
            && e.contains(&format!("changes between {from} and {to}"))
            && e.contains("tidemark diff"),
        "{e}"
    );
    assert!(read_events(out.path()).is_empty());
    // Deliberately accepting the gap: delete the record; the slot's position is adopted.
    std::fs::remove_file(&file).unwrap();
    run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &until_current(&[])));
    assert_eq!(recorded_lsn(&file), Lsn(slot_confirmed(&pg, "tidemark")));
}

#[test]
fn publication_created_after_slot_explained() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY)").unwrap();
    let out = tempdir();
    setup_slot(&pg, out.path(), "t", &[]);
    // Dropped and recreated while tidemark was not running, with writes on either side.
    pg.psql(
        "postgres",
        "DROP PUBLICATION tidemark; INSERT INTO t VALUES (1); CREATE PUBLICATION tidemark FOR TABLE t; \
         INSERT INTO t VALUES (2);",
    )
    .unwrap();
    let slot_lsn = Lsn(slot_confirmed(&pg, "tidemark"));
    let e = run_err(stream_cmd(&pg.dsn("postgres"), out.path(), &until_current(&[])));
    assert!(
        e.contains(&format!(
            "publication \"tidemark\" is newer than the position of replication slot \"tidemark\" ({slot_lsn})"
        )) && e.contains("pg_drop_replication_slot('tidemark')")
            && e.contains("pg_replication_slot_advance('tidemark', pg_current_wal_lsn())")
            && e.contains(&format!("delete the offsets file {}", offsets_file(out.path()).display()))
            && e.contains("tidemark diff"),
        "{e}"
    );
    // Way out (2): advance the slot past the publication's creation and accept (delete) the record.
    pg.psql("postgres", "SELECT pg_replication_slot_advance('tidemark', pg_current_wal_lsn())").unwrap();
    std::fs::remove_file(offsets_file(out.path())).unwrap();
    pg.psql("postgres", "INSERT INTO t VALUES (3)").unwrap();
    run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &until_current(&[])));
    let ids: Vec<i64> = topic(&read_events(out.path()), "tidemark.public.t")
        .iter()
        .map(|e| payload(e)["after"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![3]);

    // A slot made before tidemark created the publication: the same explanation, not a raw error.
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY)").unwrap();
    pg.psql("postgres", "SELECT pg_create_logical_replication_slot('tidemark', 'pgoutput')").unwrap();
    pg.psql("postgres", "INSERT INTO t VALUES (1)").unwrap();
    let e = run_err(stream_cmd(&pg.dsn("postgres"), tempdir().path(), &until_current(&[])));
    assert!(e.contains("is newer than the position of replication slot \"tidemark\""), "{e}");
    assert!(!e.contains("PostgreSQL error"), "{e}");
}

#[test]
fn slot_held_by_other_walsender_is_retried_then_fails() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY)").unwrap();
    let out = tempdir();
    setup_slot(&pg, out.path(), "t", &[]);
    let hold = || {
        let c = Command::new(pg.bin_dir().join("pg_recvlogical"))
            .args(["-d", &pg.dsn("postgres"), "--slot", "tidemark", "--start"])
            .args(["-o", "proto_version=1", "-o", "publication_names=tidemark", "-f", "/dev/null"])
            .spawn()
            .unwrap();
        assert!(wait_until(Duration::from_secs(10), || slot_active(&pg)));
        c
    };
    let retries = ["--set", "slot.max.retries=2", "--set", "slot.retry.delay.ms=400"];
    let mut holder = hold();
    let started = Instant::now();
    let e = run_err(stream_cmd(&pg.dsn("postgres"), out.path(), &until_current(&retries)));
    assert!(started.elapsed() >= Duration::from_millis(800), "two retries of 400 ms were made");
    assert!(
        e.contains("replication slot \"tidemark\" is in use by another process (PID")
            && e.contains("stayed in use through 3 attempts")
            && e.contains("pg_terminate_backend"),
        "{e}"
    );
    // The holder goes away during the retries (its host came back, wal_sender_timeout ran out): go on.
    let patient = ["--set", "slot.max.retries=50", "--set", "slot.retry.delay.ms=200"];
    let child = stream_cmd(&pg.dsn("postgres"), out.path(), &until_current(&patient))
        .env("TIDEMARK_LOG", "warn")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    holder.kill().unwrap();
    holder.wait().unwrap();
    let (ok, err) = wait_exit(child, 60);
    assert!(ok, "streaming succeeds once the slot is free: {err}");
    assert!(err.contains("in use by another process; retrying"), "{err}");
}

#[test]
fn slot_dropped_while_running() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY)").unwrap();
    let out = tempdir();
    setup_slot(&pg, out.path(), "t", &[]);
    let child = stream_cmd(&pg.dsn("postgres"), out.path(), &["--tables", "t"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(15), || slot_active(&pg)));
    // End its walsender and drop the slot before tidemark reconnects.
    assert!(wait_until(Duration::from_secs(20), || {
        pg.psql(
            "postgres",
            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 'tidemark' \
             AND active_pid IS NOT NULL; SELECT pg_sleep(0.1); SELECT pg_drop_replication_slot('tidemark');",
        )
        .is_ok()
    }));
    let (ok, e) = wait_exit(child, 60);
    assert!(!ok);
    assert!(
        e.contains("replication slot \"tidemark\" was dropped while tidemark was streaming from it")
            && e.contains("changes between")
            && e.contains("tidemark diff"),
        "{e}"
    );
    assert_eq!(slots(&pg), "0", "the slot is not silently re-created");
}

#[test]
fn publication_dropped_while_running() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY)").unwrap();
    let out = tempdir();
    setup_slot(&pg, out.path(), "t", &[]);
    let child = stream_cmd(&pg.dsn("postgres"), out.path(), &["--tables", "t"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(15), || slot_active(&pg)));
    pg.psql("postgres", "INSERT INTO t VALUES (1)").unwrap();
    assert!(wait_until(Duration::from_secs(15), || topic(&read_events(out.path()), "tidemark.public.t")
        .len()
        == 1));
    pg.psql("postgres", "DROP PUBLICATION tidemark; INSERT INTO t VALUES (2);").unwrap();
    let (ok, e) = wait_exit(child, 60);
    assert!(!ok);
    assert!(
        e.contains(
            "publication \"tidemark\" was dropped while tidemark was streaming from slot \"tidemark\""
        ) && e.contains("CREATE PUBLICATION \"tidemark\""),
        "{e}"
    );
}
