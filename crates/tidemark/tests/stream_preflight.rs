//! Preflight of `tidemark stream`: names are checked and every refusal happens before anything is
//! created on the source; a refused start leaves no publication (which would make PostgreSQL reject the
//! application's UPDATE/DELETE) and no slot; an existing publication with a keyless table is streamed
//! with a warning, as Debezium does; and the server errors a new user meets are explained.

mod common;
use std::process::Command;

use common::*;

fn err_for(dsn: &str, extra: &[&str]) -> String {
    let out = tempdir();
    let e = run_err(stream_cmd(dsn, out.path(), extra));
    assert!(read_events(out.path()).is_empty(), "nothing may be written on error");
    e
}

/// Exit code and stderr of a run expected to fail.
fn code_and_err(dsn: &str, extra: &[&str]) -> (Option<i32>, String) {
    let out = tempdir();
    let o = stream_cmd(dsn, out.path(), extra).output().unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn count(pg: &Cluster, table: &str) -> String {
    pg.psql("postgres", &format!("SELECT count(*) FROM {table}")).unwrap()
}

fn nothing_created(pg: &Cluster) {
    assert_eq!(count(pg, "pg_publication"), "0", "no publication may be left behind");
    assert_eq!(count(pg, "pg_replication_slots"), "0", "no slot may be left behind");
}

#[test]
fn refused_start_leaves_no_publication() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY); CREATE TABLE nokey (a int, b text)").unwrap();
    let e = err_for(&pg.dsn("postgres"), &["--tables", "t,nokey"]);
    assert!(
        e.contains("public.nokey (no primary key, REPLICA IDENTITY DEFAULT)")
            && e.contains("REPLICA IDENTITY FULL"),
        "{e}"
    );
    nothing_created(&pg);
    // The application's updates and deletes on the keyless table still work.
    pg.psql("postgres", "INSERT INTO nokey VALUES (1, 'a'); UPDATE nokey SET b = 'b'; DELETE FROM nokey")
        .unwrap();
    // A failure after the publication was created (the slot cannot be made) drops it again.
    pg.psql("postgres", "SELECT pg_create_logical_replication_slot('tidemark', 'test_decoding')").unwrap();
    let e = err_for(&pg.dsn("postgres"), &["--tables", "t"]);
    assert!(e.contains("uses output plugin \"test_decoding\""), "{e}");
    assert_eq!(count(&pg, "pg_publication"), "0", "the publication of a refused start is dropped");
}

#[test]
fn invalid_slot_name_rejected_before_anything() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY)").unwrap();
    let long = "a".repeat(64);
    for (bad, why) in
        [("Tidemark", "'T'"), ("my-slot", "'-'"), ("słot", "'ł'"), (long.as_str(), "at most 63")]
    {
        let (code, e) = code_and_err(&pg.dsn("postgres"), &["--tables", "t", "--slot", bad]);
        assert_eq!(code, Some(2), "a bad slot name is a configuration error: {e}");
        assert!(
            e.contains("slot.name") && e.contains(why) && e.contains("lower-case letters, digits"),
            "{e}"
        );
    }
    nothing_created(&pg);
    // The longest valid name works.
    let out = tempdir();
    let ok = "a".repeat(63);
    run_ok(stream_cmd(
        &pg.dsn("postgres"),
        out.path(),
        &["--tables", "t", "--slot", &ok, "--until-lsn", "current"],
    ));
    assert_eq!(pg.psql("postgres", "SELECT slot_name FROM pg_replication_slots").unwrap(), ok);
}

#[test]
fn empty_names_rejected() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY)").unwrap();
    let long = "p".repeat(64);
    for (args, key) in [
        (vec!["--tables", "t", "--slot", ""], "slot.name"),
        (vec!["--tables", "t", "--publication", ""], "publication.name"),
        (vec!["--tables", ""], "table.include.list"),
        (vec!["--tables", " , "], "table.include.list"),
        (vec!["--tables", "t", "--set", "slot.name="], "slot.name"),
        (vec!["--tables", "t", "--set", "offset.storage.file.filename="], "offset.storage.file.filename"),
        (vec!["--tables", "t", "--publication", long.as_str()], "publication.name"),
    ] {
        let (code, e) = code_and_err(&pg.dsn("postgres"), &args);
        assert_eq!(code, Some(2), "{args:?}: {e}");
        assert!(e.contains(key), "{args:?}: {e}");
    }
    nothing_created(&pg);
}

#[test]
fn existing_publication_with_keyless_table_warns_and_streams() {
    let pg = Cluster::start().unwrap();
    pg.psql(
        "postgres",
        "CREATE TABLE nokey (a int, b text);
         CREATE TABLE quiet (id int PRIMARY KEY, v text);
         ALTER TABLE quiet REPLICA IDENTITY NOTHING;
         CREATE PUBLICATION app_pub FOR TABLE nokey, quiet;",
    )
    .unwrap();
    let out = tempdir();
    let args = ["--publication", "app_pub", "--until-lsn", "current"];
    let o = run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &args));
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(
        log.contains("streaming anyway")
            && log.contains("public.nokey (no primary key, REPLICA IDENTITY DEFAULT)")
            && log.contains("public.quiet (has a primary key, but REPLICA IDENTITY NOTHING)"),
        "{log}"
    );
    pg.psql("postgres", "INSERT INTO nokey VALUES (1, 'x'); INSERT INTO quiet VALUES (7, 'y')").unwrap();
    run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &args));
    let evs = read_events(out.path());
    assert_eq!(topic(&evs, "tidemark.public.nokey").len(), 1, "{evs:?}");
    assert_eq!(payload(topic(&evs, "tidemark.public.quiet")[0])["after"]["id"], 7);
    assert_eq!(
        pg.psql("postgres", "SELECT count(*) FROM pg_publication WHERE pubname = 'app_pub'").unwrap(),
        "1"
    );
}

#[test]
fn primary_key_with_replica_identity_nothing_not_called_keyless() {
    let pg = Cluster::start().unwrap();
    pg.psql(
        "postgres",
        "CREATE TABLE t (id int PRIMARY KEY); ALTER TABLE t REPLICA IDENTITY NOTHING;
         CREATE TABLE p (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
         CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (100);",
    )
    .unwrap();
    let e = err_for(&pg.dsn("postgres"), &["--tables", "t"]);
    assert!(
        e.contains("public.t (has a primary key, but REPLICA IDENTITY NOTHING)")
            && e.contains("ALTER TABLE public.t REPLICA IDENTITY DEFAULT"),
        "{e}"
    );
    assert!(!e.contains("no primary key"), "a table with a primary key is not keyless: {e}");
    nothing_created(&pg);
    // A partitioned table with a primary key is accepted, partitions and all.
    let out = tempdir();
    run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &["--tables", "p", "--until-lsn", "current"]));
    pg.psql("postgres", "INSERT INTO p VALUES (5, 'five'); UPDATE p SET v = 'v' WHERE id = 5").unwrap();
    run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &["--tables", "p", "--until-lsn", "current"]));
    assert_eq!(topic(&read_events(out.path()), "tidemark.public.p").len(), 2);
}

#[test]
fn missing_create_privilege() {
    let pg = Cluster::start().unwrap();
    pg.psql(
        "postgres",
        "CREATE TABLE t (id int PRIMARY KEY); CREATE ROLE cdc LOGIN REPLICATION; GRANT SELECT ON t TO cdc;",
    )
    .unwrap();
    let e = err_for(&pg.dsn_as("postgres", "cdc", None), &["--tables", "t"]);
    assert!(
        e.contains("role \"cdc\" may not create publication \"tidemark\"")
            && e.contains("CREATE PUBLICATION \"tidemark\" FOR TABLE \"public\".\"t\"")
            && e.contains("GRANT CREATE ON DATABASE \"postgres\" TO \"cdc\""),
        "{e}"
    );
    nothing_created(&pg);
}

#[test]
fn no_free_replication_slots() {
    let pg = Cluster::builder().setting("max_replication_slots", "1").start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY)").unwrap();
    pg.psql("postgres", "SELECT pg_create_logical_replication_slot('other', 'pgoutput')").unwrap();
    let e = err_for(&pg.dsn("postgres"), &["--tables", "t"]);
    assert!(
        e.contains("cannot create replication slot \"tidemark\": all replication slots are in use (max_replication_slots = 1)")
            && e.contains("pg_drop_replication_slot")
            && e.contains("raise max_replication_slots"),
        "{e}"
    );
    assert_eq!(count(&pg, "pg_publication"), "0", "the publication created for this start is dropped again");
}

#[test]
fn missing_database() {
    let pg = Cluster::start().unwrap();
    let e = err_for(&pg.dsn("nosuchdb"), &["--tables", "t"]);
    assert!(e.contains("database \"nosuchdb\" does not exist") && e.contains("psql -l"), "{e}");
    let mut c = Command::new(bin());
    c.args(["stream", "--source", &pg.dsn("nosuchdb"), "--tables", "t"]);
    assert!(!run_err(c).contains("PostgreSQL error"), "the raw server error is not what the user sees");
}
