//! Every misconfiguration a user can make ends in one message naming the problem and the fix, a
//! non-zero exit, nothing half-written, and no secret in the output.

mod common;
use std::process::Command;
use std::time::Duration;

use common::*;
use tidemark_testkit::HostAuth;

fn err_for(dsn: &str, extra: &[&str]) -> String {
    let out = tempdir();
    let e = run_err(stream_cmd(dsn, out.path(), extra));
    assert!(read_events(out.path()).is_empty(), "nothing may be written on error");
    e
}

#[test]
fn wal_level_not_logical() {
    let pg = Cluster::builder().setting("wal_level", "replica").start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY)").unwrap();
    let e = err_for(&pg.dsn("postgres"), &["--tables", "t"]);
    assert!(e.contains("wal_level=replica") && e.contains("ALTER SYSTEM SET wal_level = logical"), "{e}");
}

#[test]
fn authentication_and_role_errors_never_leak_secrets() {
    let pg = Cluster::builder().auth(HostAuth::Scram).start().unwrap();
    pg.psql(
        "postgres",
        "CREATE TABLE t (id int PRIMARY KEY);
         CREATE ROLE norepl LOGIN PASSWORD 'norepl-secret-1';
         CREATE ROLE nologin NOLOGIN PASSWORD 'nologin-secret-2';
         GRANT SELECT ON t TO norepl;",
    )
    .unwrap();
    let e = err_for(&pg.dsn_as("postgres", "postgres", Some("wrong-secret-3")), &["--tables", "t"]);
    assert!(e.contains("password authentication failed for user \"postgres\""), "{e}");
    assert!(!e.contains("wrong-secret-3"));
    let e = err_for(&pg.dsn_as("postgres", "norepl", Some("norepl-secret-1")), &["--tables", "t"]);
    assert!(
        e.contains("lacks the REPLICATION attribute") && e.contains("ALTER ROLE \"norepl\" REPLICATION"),
        "{e}"
    );
    assert!(!e.contains("norepl-secret-1"));
    let e = err_for(&pg.dsn_as("postgres", "nologin", Some("nologin-secret-2")), &["--tables", "t"]);
    assert!(e.contains("not permitted to log in") && e.contains("LOGIN"), "{e}");
    assert!(!e.contains("nologin-secret-2"));
}

#[test]
fn unreachable_host() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let e = err_for(
        &format!("postgres://u:topsecret@127.0.0.1:{port}/db?sslmode=disable&connect_timeout=3"),
        &["--tables", "t"],
    );
    assert!(e.contains(&format!("cannot reach PostgreSQL at 127.0.0.1:{port}")), "{e}");
    assert!(!e.contains("topsecret"));
}

#[test]
fn publication_missing_empty_and_tables_missing() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY); CREATE PUBLICATION empty_pub;").unwrap();
    let e = err_for(&pg.dsn("postgres"), &["--publication", "nope"]);
    assert!(e.contains("publication \"nope\" does not exist") && e.contains("--tables"), "{e}");
    let e = err_for(&pg.dsn("postgres"), &["--publication", "empty_pub"]);
    assert!(e.contains("publishes no tables"), "{e}");
    let e = err_for(&pg.dsn("postgres"), &["--tables", "public.missing"]);
    assert!(e.contains("table public.missing does not exist"), "{e}");
    // No slot was left behind by the failed attempts.
    assert_eq!(pg.psql("postgres", "SELECT count(*) FROM pg_replication_slots").unwrap(), "0");
}

#[test]
fn table_without_primary_key_or_full_identity() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE nokey (a int, b text)").unwrap();
    let e = err_for(&pg.dsn("postgres"), &["--tables", "nokey"]);
    assert!(e.contains("public.nokey") && e.contains("REPLICA IDENTITY FULL"), "{e}");
    pg.psql("postgres", "ALTER TABLE nokey REPLICA IDENTITY FULL").unwrap();
    let out = tempdir();
    run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &["--tables", "nokey", "--until-lsn", "current"]));
}

#[test]
fn slot_held_by_another_process() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY)").unwrap();
    let out = tempdir();
    setup_slot(&pg, out.path(), "t", &[]);
    let mut holder = Command::new(pg.bin_dir().join("pg_recvlogical"))
        .args([
            "-d",
            &pg.dsn("postgres"),
            "--slot",
            "tidemark",
            "--start",
            "-o",
            "proto_version=1",
            "-o",
            "publication_names=tidemark",
            "-f",
            "/dev/null",
        ])
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(10), || pg
        .psql("postgres", "SELECT active FROM pg_replication_slots WHERE slot_name = 'tidemark'")
        .unwrap()
        == "t"));
    // Few, short retries (slot_held_by_other_walsender_is_retried_then_fails covers the waiting).
    let e = err_for(
        &pg.dsn("postgres"),
        &["--tables", "t", "--set", "slot.max.retries=1", "--set", "slot.retry.delay.ms=100"],
    );
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(
        e.contains("replication slot \"tidemark\" is in use by another process (PID") && e.contains("--slot"),
        "{e}"
    );
}

#[test]
fn slot_invalidated() {
    let pg = slot_losing_cluster();
    let out = tempdir();
    setup_slot(&pg, out.path(), "t", &[]);
    lose_slot(&pg);
    let e = err_for(&pg.dsn("postgres"), &["--tables", "t"]);
    assert!(e.contains("was invalidated (wal_status=lost)") && e.contains("tidemark diff"), "{e}");
}

#[test]
fn sink_path_not_writable() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY)").unwrap();
    let mut c = Command::new(bin());
    c.args(["stream", "--source", &pg.dsn("postgres"), "--tables", "t", "--sink", "file:/proc/tidemark/out"]);
    let e = run_err(c);
    assert!(e.contains("not usable") && e.contains("/proc/tidemark/out"), "{e}");
    // Checked before anything is created on the source.
    assert_eq!(pg.psql("postgres", "SELECT count(*) FROM pg_replication_slots").unwrap(), "0");
}

#[test]
fn bad_configuration_values_exit_2_with_the_key() {
    let mut c = Command::new(bin());
    c.args(["stream", "--source", "postgres://u@127.0.0.1:1/db", "--set", "decimal.handling.mode=exact"]);
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("decimal.handling.mode") && e.contains("precise, double, string"), "{e}");
    let mut c = Command::new(bin());
    c.args(["stream", "--sink", "kafka2://x"]).env_remove("TIDEMARK_SOURCE");
    let e = run_err(c);
    assert!(e.contains("no source database"), "{e}");
    let mut c = Command::new(bin());
    c.args(["stream", "--source", "postgres://u@127.0.0.1:1/db", "--sink", "kafka2://x"]);
    let e = run_err(c);
    assert!(e.contains("unknown sink type \"kafka2\""), "{e}");
}
