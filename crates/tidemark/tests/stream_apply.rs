//! `tidemark stream --sink postgres://…`: the stream's typed events applied to another database
//! through the pipeline (the typed seam of issue 10), end to end through the binary.

mod common;

use std::process::Command;

use common::*;

const SCHEMA: &str = "CREATE TABLE t (id int PRIMARY KEY, v text, j jsonb, a int[], big text);
     CREATE TABLE kl (x text, y int); ALTER TABLE kl REPLICA IDENTITY FULL;
     CREATE TABLE gone (id int PRIMARY KEY);
     CREATE TABLE pf (id int PRIMARY KEY, v text); ALTER TABLE pf REPLICA IDENTITY FULL;
     CREATE TABLE ui (a int NOT NULL, b text); CREATE UNIQUE INDEX ui_a ON ui (a);
     ALTER TABLE ui REPLICA IDENTITY USING INDEX ui_a;";

const TABLES: [&str; 5] = ["t", "kl", "gone", "pf", "ui"];

#[test]
fn stream_into_the_postgres_apply_sink_makes_target_equal_source() {
    let pg = source_and_copy(SCHEMA);
    let state = tempdir();
    let offsets = state.path().join("offsets.json");
    let stream = |until: &str| {
        let mut c = Command::new(bin());
        c.args(["stream", "--source", &pg.dsn("src"), "--sink", &pg.dsn("dst")])
            .args(["--tables", "public.t,public.kl,public.gone,public.pf,public.ui", "--until-lsn", until])
            .args(["--set", &format!("offset.storage.file.filename={}", offsets.display())])
            .args(["--set", "heartbeat.interval.ms=200"])
            .env_remove("TIDEMARK_SOURCE")
            .env("TIDEMARK_LOG", "warn");
        run_ok(c)
    };
    // Creates the slot and publication; nothing to apply yet.
    stream("current");
    pg.psql(
        "src",
        "INSERT INTO t SELECT g, 'v' || g, jsonb_build_object('k', g, 'q', 'it''s \"x\"'), ARRAY[g, NULL], \
             CASE WHEN g % 50 = 0 THEN repeat(md5(g::text), 400) END FROM generate_series(1, 2000) g;
         INSERT INTO kl VALUES ('a', 1), ('a', 1), ('b', NULL), (NULL, 3);
         INSERT INTO gone SELECT generate_series(1, 10);
         INSERT INTO pf VALUES (1, NULL), (2, 'two'), (3, NULL);
         INSERT INTO ui VALUES (1, NULL), (2, 'b'), (3, 'c');",
    )
    .unwrap();
    pg.psql(
        "src",
        "BEGIN; UPDATE t SET v = 'it''s \\ \"q\"' WHERE id % 10 = 0;  -- big (TOAST) unchanged
         UPDATE t SET id = id + 100000 WHERE id % 97 = 0;               -- key change
         DELETE FROM t WHERE id % 7 = 0; COMMIT;
         UPDATE t SET v = NULL, a = '{}' WHERE id BETWEEN 100 AND 120;
         DELETE FROM kl WHERE ctid = (SELECT ctid FROM kl WHERE x = 'a' LIMIT 1);
         UPDATE kl SET y = 2 WHERE x = 'b';
         TRUNCATE gone;
         INSERT INTO gone VALUES (42);
         UPDATE pf SET v = 'was null' WHERE id = 1; DELETE FROM pf WHERE id = 3; UPDATE pf SET id = 20 WHERE id = 2;
         UPDATE ui SET b = 'one' WHERE a = 1; UPDATE ui SET a = 30 WHERE a = 3; DELETE FROM ui WHERE a = 2;",
    )
    .unwrap();
    stream("current");
    for t in TABLES {
        assert_eq!(
            fingerprint(&pg, "dst", t),
            fingerprint(&pg, "src", t),
            "table {t} after applying the stream: target {:?}, source {:?}",
            pg.psql("dst", &format!("SELECT t::text FROM {t} t ORDER BY 1")).unwrap(),
            pg.psql("src", &format!("SELECT t::text FROM {t} t ORDER BY 1")).unwrap()
        );
    }
    // Rows whose TOASTed `big` was left out of the update (unchanged TOAST) kept it: 40 written, 5
    // deleted (id % 350 = 0).
    assert_eq!(pg.psql("dst", "SELECT count(*) FROM t WHERE length(big) = 12800").unwrap(), "35");

    // A resumed stream applies only what is new.
    pg.psql("src", "UPDATE t SET j = '[]' WHERE id < 50; INSERT INTO kl VALUES ('z', 26);").unwrap();
    stream("current");
    for t in TABLES {
        assert_eq!(
            fingerprint(&pg, "dst", t),
            fingerprint(&pg, "src", t),
            "table {t} after the resumed stream"
        );
    }
}

#[test]
fn stream_into_the_postgres_apply_sink_stops_on_a_failed_apply_without_confirming_it() {
    // The target lacks a column: the apply fails, tidemark exits with the database's reason, and the
    // slot does not move past the change (a fixed target then gets it).
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE DATABASE src").unwrap();
    pg.psql("postgres", "CREATE DATABASE dst").unwrap();
    pg.psql("src", "CREATE TABLE t (id int PRIMARY KEY, v text)").unwrap();
    pg.psql("dst", "CREATE TABLE t (id int PRIMARY KEY)").unwrap();
    let state = tempdir();
    let offsets = state.path().join("offsets.json");
    let stream = || {
        let mut c = Command::new(bin());
        c.args(["stream", "--source", &pg.dsn("src"), "--sink", &pg.dsn("dst")])
            .args(["--tables", "public.t", "--until-lsn", "current"])
            .args(["--set", &format!("offset.storage.file.filename={}", offsets.display())])
            .args(["--set", "heartbeat.interval.ms=200"])
            .env_remove("TIDEMARK_SOURCE")
            .env("TIDEMARK_LOG", "warn");
        c
    };
    run_ok(stream());
    pg.psql("src", "INSERT INTO t VALUES (1, 'one')").unwrap();
    let err = run_err(stream());
    assert!(err.contains("\"v\"") && err.contains("does not exist"), "{err}");
    assert_eq!(pg.psql("dst", "SELECT count(*) FROM t").unwrap(), "0");
    pg.psql("dst", "ALTER TABLE t ADD COLUMN v text").unwrap();
    run_ok(stream());
    assert_eq!(pg.psql("dst", "SELECT id || v FROM t").unwrap(), "1one");
}
