//! `diff` / `verify` never claim agreement they did not establish (issue 9 §5, §7): the `(ctid, xmin)`
//! fast path only where one side provably is an earlier state of the other (split brain and restores
//! written to after promotion fall back to comparing every row, and say why); errors exit with codes
//! distinct from "differ"; no verdict when a table was not compared or nothing was; one verdict line.

mod common;
mod diffkit;

use common::*;
use diffkit::*;
use tidemark_sources::diff::DiffMethod;

/// A cluster with WAL archiving, a base backup, and an `acct` table; returns (cluster, backup).
fn archived_cluster() -> (Cluster, std::path::PathBuf) {
    let pg = Cluster::builder().archive(true).start().unwrap();
    pg.psql(
        "postgres",
        "CREATE TABLE acct (id int PRIMARY KEY, owner text, balance int);
         INSERT INTO acct SELECT g, 'owner ' || g, g FROM generate_series(1, 3000) g;",
    )
    .unwrap();
    let backup = pg.base_backup().unwrap();
    pg.psql("postgres", "UPDATE acct SET balance = balance + 1 WHERE id % 10 = 0").unwrap();
    (pg, backup)
}

fn lsn_now(pg: &Cluster) -> String {
    pg.psql("postgres", "SELECT pg_current_wal_insert_lsn()").unwrap()
}

fn version_of(pg: &Cluster, id: i32) -> String {
    pg.psql("postgres", &format!("SELECT ctid::text || ' ' || xmin::text FROM acct WHERE id = {id}")).unwrap()
}

#[test]
fn split_brain_copies_use_full_method() {
    // Two restores of one base to one point, both promoted (both pick timeline 2 with the same history
    // file), both written to afterwards: the same transaction id writes different rows into the same
    // slot on each side, so equal (ctid, xmin) no longer means equal rows.
    let (pg, backup) = archived_cluster();
    let l1 = lsn_now(&pg);
    pg.archive_all().unwrap();
    let a = pg.restore(&backup, &l1).unwrap();
    let b = pg.restore(&backup, &l1).unwrap();
    for (side, v) in [(&a, 111), (&b, 222)] {
        side.psql("postgres", &format!("UPDATE acct SET balance = {v} WHERE id = 5")).unwrap();
        side.psql("postgres", &format!("INSERT INTO acct VALUES (5001, 'split', {v})")).unwrap();
    }
    // The trap is real: the row versions carry the same (ctid, xmin) on both sides.
    assert_eq!(version_of(&a, 5), version_of(&b, 5));
    assert_eq!(version_of(&a, 5001), version_of(&b, 5001));

    let out =
        cli(&["verify", "--source", &b.dsn("postgres"), "--target", &a.dsn("postgres"), "--tables", "acct"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "verify must not say agree: {err}");
    assert!(err.contains("The databases differ.") && !err.contains("agree"), "{err}");
    assert!(err.contains("fast path not used") && err.contains("took writes after it was promoted"), "{err}");

    let (report, evs) = diff_events(opts_dsn(&a.dsn("postgres"), &b.dsn("postgres"), &["acct"]));
    assert!(!report.fast_path_allowed, "{}", report.fast_path_reason);
    let t = &report.tables[0];
    assert!(t.method.contains("full (neither side provably"), "{t:?}");
    assert_eq!((t.created, t.updated, t.deleted), (0, 2, 0), "{t:?}");
    apply(&a, "postgres", &evs);
    assert_eq!(fingerprint(&a, "postgres", "acct"), fingerprint(&b, "postgres", "acct"));
}

#[test]
fn restore_written_after_promotion_falls_back() {
    let (pg, backup) = archived_cluster();
    let l1 = lsn_now(&pg);
    pg.psql("postgres", "UPDATE acct SET owner = 'gap' WHERE id % 7 = 0; DELETE FROM acct WHERE id > 2900")
        .unwrap();
    let l2 = lsn_now(&pg);
    pg.archive_all().unwrap();
    let pitr1 = pg.restore(&backup, &l1).unwrap();
    let pitr2 = pg.restore(&backup, &l2).unwrap();
    // Unwritten, the pair qualifies (pitr1 is an earlier state of pitr2's history)...
    let (clean, _) = diff_events(opts_dsn(&pitr1.dsn("postgres"), &pitr2.dsn("postgres"), &["acct"]));
    assert!(clean.fast_path_allowed, "{}", clean.fast_path_reason);
    assert!(clean.fast_path_reason.contains("earlier state"), "{}", clean.fast_path_reason);
    // ...until someone writes to the older restore.
    pitr1
        .psql("postgres", "UPDATE acct SET balance = -1 WHERE id = 3; INSERT INTO acct VALUES (9001, 'x', 0)")
        .unwrap();
    let (report, evs) = diff_events(opts_dsn(&pitr1.dsn("postgres"), &pitr2.dsn("postgres"), &["acct"]));
    assert!(!report.fast_path_allowed);
    assert!(
        report.fast_path_reason.contains("the old side took writes after it was promoted"),
        "{}",
        report.fast_path_reason
    );
    let mut full = opts_dsn(&pitr1.dsn("postgres"), &pitr2.dsn("postgres"), &["acct"]);
    full.method = DiffMethod::Full;
    let (full_report, full_evs) = diff_events(full);
    assert_eq!(event_set(&evs), event_set(&full_evs));
    let t = &report.tables[0];
    assert_eq!(
        (t.created, t.updated, t.deleted),
        (full_report.tables[0].created, full_report.tables[0].updated, full_report.tables[0].deleted)
    );
    // The summary says why, too.
    let dir = tempdir();
    let summary = dir.path().join("s.json");
    let out = cli(&[
        "verify",
        "--source",
        &pitr2.dsn("postgres"),
        "--target",
        &pitr1.dsn("postgres"),
        "--tables",
        "acct",
        "--summary",
        summary.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(s["fast_path"]["allowed"], false);
    assert!(s["fast_path"]["reason"].as_str().unwrap().contains("took writes after it was promoted"), "{s}");
    apply(&pitr1, "postgres", &evs);
    assert_eq!(fingerprint(&pitr1, "postgres", "acct"), fingerprint(&pitr2, "postgres", "acct"));
}

fn verify(source: &str, target: &str, extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec!["verify", "--source", source, "--target", target];
    args.extend_from_slice(extra);
    let out = cli(&args);
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn no_verdict(err: &str) {
    assert!(!err.contains("The databases agree") && !err.contains("The databases differ"), "{err}");
}

#[test]
fn verify_unreachable_is_an_error_not_a_verdict() {
    let pg = two_databases("CREATE TABLE t (id int PRIMARY KEY);", "");
    let dead = "postgres://postgres@127.0.0.1:1/postgres";
    let live = pg.dsn("old_db");
    for (s, t) in [(dead, live.as_str()), (live.as_str(), dead)] {
        let (code, err) = verify(s, t, &["--tables", "t"]);
        assert_eq!(code, Some(4), "{err}");
        assert!(err.contains("cannot reach PostgreSQL at 127.0.0.1:1"), "{err}");
        no_verdict(&err);
    }
}

#[test]
fn verify_bad_password_exit_code() {
    let pg = Cluster::builder().auth(tidemark_testkit::HostAuth::Scram).start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY)").unwrap();
    let bad = pg.dsn_as("postgres", "postgres", Some("not-the-password-xyz"));
    let (code, err) = verify(&pg.dsn("postgres"), &bad, &["--tables", "t"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(!err.contains("not-the-password-xyz"), "the password must never be printed: {err}");
    no_verdict(&err);
    // A database that does not exist is a configuration error too.
    let (code, err) = verify(&pg.dsn("postgres"), &pg.dsn("no_such_db"), &["--tables", "t"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no_such_db"), "{err}");
    no_verdict(&err);
}

#[test]
fn verify_missing_publication_exit_code() {
    let pg = two_databases("CREATE TABLE t (id int PRIMARY KEY);", "");
    let (code, err) = verify(&pg.dsn("new_db"), &pg.dsn("old_db"), &["--publication", "nope"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("publication \"nope\" does not exist"), "{err}");
    // diff and verify create nothing: the advice must not say tidemark would create it.
    assert!(!err.contains("tidemark creates") && err.contains("create nothing"), "{err}");
    no_verdict(&err);
    let out = cli(&["diff", "--old", &pg.dsn("old_db"), "--new", &pg.dsn("new_db"), "--publication", "nope"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn verify_nothing_compared_is_not_agreement() {
    let pg = two_databases(
        "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1); CREATE PUBLICATION empty_pub;",
        "",
    );
    let (new, old) = (pg.dsn("new_db"), pg.dsn("old_db"));
    // A publication without tables.
    let (code, err) = verify(&new, &old, &["--publication", "empty_pub"]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("nothing was compared"), "{err}");
    no_verdict(&err);
    // Everything excluded.
    let (code, err) = verify(&new, &old, &["--tables", "t", "--exclude", ".*"]);
    assert_eq!(code, Some(3), "{err}");
    no_verdict(&err);
    // One table compared and equal, one not compared at all: no "agree".
    let (code, err) = verify(&new, &old, &["--tables", "t,missing_everywhere"]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("No verdict: 1 table(s) could not be compared"), "{err}");
    assert!(err.contains("does not exist on either side"), "{err}");
    no_verdict(&err);
    // And the same tables all compared: agreement.
    let (code, err) = verify(&new, &old, &["--tables", "t"]);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn verify_verdict_printed_once() {
    let pg = two_databases("CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 1);", "");
    let (new, old) = (pg.dsn("new_db"), pg.dsn("old_db"));
    let (code, err) = verify(&new, &old, &["--tables", "t"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(err.to_lowercase().matches("agree").count(), 1, "{err}");
    pg.psql("new_db", "UPDATE t SET v = 2").unwrap();
    let (code, err) = verify(&new, &old, &["--tables", "t"]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(err.to_lowercase().matches("differ").count(), 1, "{err}");
}

#[test]
fn readme_verify_example_against_a_streaming_replica() {
    // README: `tidemark verify --source <primary> --target <replica> --publication orders_pub`.
    let primary = Cluster::start().unwrap();
    primary
        .psql(
            "postgres",
            "CREATE TABLE orders (id int PRIMARY KEY, v text);
             INSERT INTO orders SELECT g, 'v' || g FROM generate_series(1, 2000) g;
             CREATE PUBLICATION orders_pub FOR TABLE orders;",
        )
        .unwrap();
    let replica = primary.standby().unwrap();
    assert!(primary.wait_replayed(&replica));
    let (code, err) =
        verify(&primary.dsn("postgres"), &replica.dsn("postgres"), &["--publication", "orders_pub"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("The databases agree."), "{err}");
    // A replica is an earlier state of its primary's history: the fast path is proven.
    assert!(err.contains("fast path allowed") && err.contains("earlier state"), "{err}");
    // Replay paused while the primary writes: the replica lags, verify says so (still on the fast path).
    replica.psql("postgres", "SELECT pg_wal_replay_pause()").unwrap();
    primary
        .psql("postgres", "UPDATE orders SET v = 'late' WHERE id <= 3; DELETE FROM orders WHERE id = 10")
        .unwrap();
    let (code, err) =
        verify(&primary.dsn("postgres"), &replica.dsn("postgres"), &["--publication", "orders_pub"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("fast path allowed") && err.contains("The databases differ."), "{err}");
}
