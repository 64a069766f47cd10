//! Types and keys come from the relation as it was when the change was written (pgoutput's Relation
//! and Type messages), not from today's catalog: a lagging stream meets replaced enums, dropped
//! tables and added enum labels, and must still emit every column with the right key and schema.

mod common;
use common::*;

use std::process::Stdio;
use std::time::Duration;

/// The Connect schema of field `name` in the `after` struct of a change record.
fn after_field<'a>(ev: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    let fields = ev["value"]["schema"]["fields"].as_array()?;
    let after = fields.iter().find(|f| f["field"] == "after")?;
    after["fields"].as_array()?.iter().find(|f| f["field"] == name)
}

fn key_field<'a>(ev: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    ev["key"]["schema"]["fields"].as_array()?.iter().find(|f| f["field"] == name)
}

fn ops(evs: &[&serde_json::Value]) -> Vec<String> {
    evs.iter()
        .map(|e| {
            if e["value"].is_null() {
                "tombstone".into()
            } else {
                payload(e)["op"].as_str().unwrap().into()
            }
        })
        .collect()
}

#[test]
fn enum_replaced_while_lagging_keeps_column() {
    let pg = Cluster::start().unwrap();
    pg.psql(
        "postgres",
        "CREATE TYPE mood AS ENUM ('sad', 'ok');
         CREATE TABLE t (id int PRIMARY KEY, m mood NOT NULL, note text);",
    )
    .unwrap();
    let out = tempdir();
    setup_slot(&pg, out.path(), "t", &[]);
    // tidemark is stopped: the column's enum is replaced and the old type dropped.
    pg.psql(
        "postgres",
        "INSERT INTO t VALUES (1, 'sad', 'before');
         UPDATE t SET m = 'ok' WHERE id = 1;
         CREATE TYPE mood2 AS ENUM ('sad', 'ok', 'happy');
         ALTER TABLE t ALTER COLUMN m TYPE mood2 USING m::text::mood2;
         DROP TYPE mood;
         INSERT INTO t VALUES (2, 'happy', 'after');",
    )
    .unwrap();
    let o = run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &["--tables", "t", "--until-lsn", "current"]));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let evs = read_events(out.path());
    let t = topic(&evs, "tidemark.public.t");
    assert_eq!(ops(&t), vec!["c", "u", "c"], "{evs:?}");
    // Events written under the dropped type still carry the column and its value.
    assert_eq!(payload(t[0])["after"]["m"], "sad", "{}", t[0]);
    assert_eq!(payload(t[1])["after"]["m"], "ok", "{}", t[1]);
    let f = after_field(t[0], "m").expect("column m in the schema of the old events");
    assert_eq!(f["type"], "string");
    assert!(stderr.contains("no longer exists in the catalog"), "{stderr}");
    // The event written under the new type is a full Debezium enum.
    assert_eq!(payload(t[2])["after"]["m"], "happy");
    let f = after_field(t[2], "m").unwrap();
    assert_eq!(f["name"], "io.debezium.data.Enum");
    assert_eq!(f["parameters"]["allowed"], "sad,ok,happy");
    assert_eq!(key(t[0])["id"], 1);
}

#[test]
fn table_dropped_before_decoding_keeps_key_and_schema() {
    let pg = Cluster::start().unwrap();
    pg.psql(
        "postgres",
        "CREATE TABLE d (a text, id int, email text NOT NULL, PRIMARY KEY (id, a));
         CREATE TABLE keep (id int PRIMARY KEY);",
    )
    .unwrap();
    let out = tempdir();
    setup_slot(&pg, out.path(), "d,keep", &[]);
    pg.psql(
        "postgres",
        "INSERT INTO d VALUES ('x', 1, 'a@b.io');
         UPDATE d SET email = 'c@d.io';
         DELETE FROM d;
         DROP TABLE d;
         INSERT INTO keep VALUES (1);",
    )
    .unwrap();
    let o = run_ok(stream_cmd(
        &pg.dsn("postgres"),
        out.path(),
        &["--tables", "d,keep", "--until-lsn", "current"],
    ));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let evs = read_events(out.path());
    let d = topic(&evs, "tidemark.public.d");
    assert_eq!(ops(&d), vec!["c", "u", "d", "tombstone"], "{evs:?}");
    for e in &d {
        assert_eq!(key(e)["id"], 1, "key of {e}");
        assert_eq!(key(e)["a"], "x", "key of {e}");
    }
    // The key is the primary key as it was, in column order (a, id), with non-optional fields.
    let kf: Vec<_> =
        d[0]["key"]["schema"]["fields"].as_array().unwrap().iter().map(|f| f["field"].clone()).collect();
    assert_eq!(kf, vec!["a", "id"]);
    assert_eq!(key_field(d[0], "id").unwrap()["optional"], false);
    assert_eq!(after_field(d[0], "id").unwrap()["optional"], false);
    assert_eq!(after_field(d[0], "a").unwrap()["optional"], false);
    // NOT NULL of a non-key column of a dropped table cannot be known from the WAL: optional.
    assert_eq!(after_field(d[0], "email").unwrap()["optional"], true);
    assert_eq!(payload(d[0])["after"]["email"], "a@b.io");
    assert_eq!(payload(d[2])["before"]["id"], 1);
    assert!(stderr.contains("no longer exists in the catalog"), "{stderr}");
}

#[test]
fn enum_add_value_updates_allowed() {
    let pg = Cluster::start().unwrap();
    pg.psql(
        "postgres",
        "CREATE TYPE mood AS ENUM ('sad', 'ok');
         CREATE TABLE t (id int PRIMARY KEY, m mood);",
    )
    .unwrap();
    let out = tempdir();
    setup_slot(&pg, out.path(), "t", &[]);
    let mut child = stream_cmd(&pg.dsn("postgres"), out.path(), &["--tables", "t"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    pg.psql("postgres", "INSERT INTO t VALUES (1, 'sad');").unwrap();
    let seen = |n: usize| {
        wait_until(Duration::from_secs(30), || {
            topic(&read_events(out.path()), "tidemark.public.t").len() >= n
        })
    };
    let first = seen(1);
    // The label is added while tidemark streams: no Relation message follows, only the new value.
    pg.psql("postgres", "ALTER TYPE mood ADD VALUE 'happy';").unwrap();
    pg.psql("postgres", "INSERT INTO t VALUES (2, 'happy'); INSERT INTO t VALUES (3, 'ok');").unwrap();
    let second = seen(3);
    let pid = child.id();
    let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let status = child.wait().unwrap();
    assert!(first && second, "events did not arrive");
    assert!(status.success(), "{status}");
    let evs = read_events(out.path());
    let t = topic(&evs, "tidemark.public.t");
    assert_eq!(after_field(t[0], "m").unwrap()["parameters"]["allowed"], "sad,ok");
    assert_eq!(payload(t[1])["after"]["m"], "happy");
    assert_eq!(after_field(t[1], "m").unwrap()["parameters"]["allowed"], "sad,ok,happy");
    assert_eq!(after_field(t[2], "m").unwrap()["parameters"]["allowed"], "sad,ok,happy");

    // Lagging: the label was added and used before tidemark started; the schema is up to date too.
    pg.psql("postgres", "ALTER TYPE mood ADD VALUE 'glad';").unwrap();
    pg.psql("postgres", "INSERT INTO t VALUES (4, 'glad');").unwrap();
    let out2 = tempdir();
    run_ok(stream_cmd(&pg.dsn("postgres"), out2.path(), &["--tables", "t", "--until-lsn", "current"]));
    let evs = read_events(out2.path());
    let t = topic(&evs, "tidemark.public.t");
    let last = t.last().unwrap();
    assert_eq!(payload(last)["after"]["m"], "glad");
    assert_eq!(after_field(last, "m").unwrap()["parameters"]["allowed"], "sad,ok,happy,glad");
}

#[test]
fn replica_identity_index_non_pk_warns() {
    let pg = Cluster::start().unwrap();
    pg.psql(
        "postgres",
        "CREATE TABLE r (id int PRIMARY KEY, code text NOT NULL, v text);
         CREATE UNIQUE INDEX r_code ON r (code);
         ALTER TABLE r REPLICA IDENTITY USING INDEX r_code;",
    )
    .unwrap();
    let out = tempdir();
    let o = run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &["--tables", "r", "--until-lsn", "current"]));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("REPLICA IDENTITY USING INDEX on (code), which is not its primary key (id)"),
        "start warning missing: {stderr}"
    );
    assert!(stderr.contains("message.key.columns=public.r:code"), "{stderr}");
    pg.psql("postgres", "INSERT INTO r VALUES (7, 'c7', 'x'); DELETE FROM r WHERE id = 7;").unwrap();
    let o = run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &["--tables", "r", "--until-lsn", "current"]));
    let stderr = String::from_utf8_lossy(&o.stderr);
    // Once at start, once at the relation message.
    assert!(stderr.matches("REPLICA IDENTITY USING INDEX on (code)").count() >= 2, "{stderr}");
    let evs = read_events(out.path());
    let r = topic(&evs, "tidemark.public.r");
    assert_eq!(ops(&r), vec!["c", "d", "tombstone"]);
    // What the delete carries: only the identity column; the primary-key key cannot be filled
    // (the warning's point), so it holds the type's placeholder, not 7.
    let d = payload(r[1]);
    assert_eq!(d["before"]["code"], "c7");
    assert_eq!(d["before"]["v"], serde_json::Value::Null);
    assert_ne!(key(r[1])["id"], 7);
    assert_eq!(key(r[0])["id"], 7);

    // Keyed by the identity columns, as configured: delete keys are right and nothing is warned.
    pg.psql("postgres", "INSERT INTO r VALUES (8, 'c8', 'y'); DELETE FROM r WHERE id = 8;").unwrap();
    let out2 = tempdir();
    let o = run_ok(stream_cmd(
        &pg.dsn("postgres"),
        out2.path(),
        &["--tables", "r", "--until-lsn", "current", "--set", "message.key.columns=public.r:code"],
    ));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("REPLICA IDENTITY USING INDEX"), "{stderr}");
    let evs = read_events(out2.path());
    let r = topic(&evs, "tidemark.public.r");
    assert_eq!(ops(&r), vec!["c", "d", "tombstone"]);
    assert_eq!(key(r[0])["code"], "c8");
    assert_eq!(key(r[1])["code"], "c8");
    assert_eq!(key(r[2])["code"], "c8");
}
