//! `tidemark diff` / `verify`: applying the events to the old database yields the new one, row for row
//! (checked independently with sorted row texts), for keyed, composite-text-keyed, keyless (multiset),
//! nullable-unique, empty and 320-column tables and types without `=`; schema mismatches are reported per
//! table; the CLI writes Debezium events and exit statuses as documented.

mod common;
use std::process::Command;
use std::sync::Arc;

use common::*;
use tidemark_sources::diff::{DiffEvent, DiffOptions, DiffProgress, DiffReport};

fn opts(pg: &Cluster, old: &str, new: &str, tables: &[&str]) -> DiffOptions {
    opts_dsn(&pg.dsn(old), &pg.dsn(new), tables)
}

fn opts_dsn(old: &str, new: &str, tables: &[&str]) -> DiffOptions {
    DiffOptions {
        old: tidemark_pgwire::Dsn::parse(old).unwrap(),
        new: tidemark_pgwire::Dsn::parse(new).unwrap(),
        publications: vec![],
        tables: tables.iter().map(|s| s.to_string()).collect(),
        exclude: vec![],
        jobs: 3,
        event_time_us: None,
        verify: false,
        encoder: Default::default(),
        method: Default::default(),
    }
}

/// Run the diff through the library and collect its events.
fn diff_events(o: DiffOptions) -> (DiffReport, Vec<DiffEvent>) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
        let h = tokio::spawn(tidemark_sources::diff::run(o, Some(tx), Arc::new(DiffProgress::default())));
        let mut evs = Vec::new();
        while let Some(e) = rx.recv().await {
            evs.push(e);
        }
        (h.await.unwrap().unwrap(), evs)
    })
}

fn row_json(ev: &DiffEvent, row: &[tidemark_model::Datum]) -> String {
    let mut m = serde_json::Map::new();
    for (c, d) in ev.plan.table.columns.iter().zip(row) {
        let v = match d {
            tidemark_model::Datum::Text(b) => {
                serde_json::Value::String(String::from_utf8(b.to_vec()).unwrap())
            }
            _ => serde_json::Value::Null,
        };
        m.insert(c.name.clone(), v);
    }
    serde_json::Value::Object(m).to_string()
}

fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Apply diff events to `db` with PostgreSQL's own input functions (json_populate_record).
fn apply(pg: &Cluster, db: &str, evs: &[DiffEvent]) {
    let mut sql = String::from("BEGIN;\n");
    for ev in evs {
        let t = ev.plan.table.id.quoted();
        let cols = &ev.plan.table.columns;
        let key: Vec<&str> = cols.iter().filter(|c| c.is_key).map(|c| c.name.as_str()).collect();
        let matcher = |row: &str| -> String {
            if key.is_empty() {
                // Keyless: remove exactly one row with the same text.
                format!(
                    "ctid = (SELECT ctid FROM {t} x WHERE x::text = (json_populate_record(NULL::{t}, {})::{t})::text LIMIT 1)",
                    lit(row)
                )
            } else {
                key.iter()
                    .map(|k| {
                        format!(
                            "{t}.{q} = (json_populate_record(NULL::{t}, {}::json)).{q}",
                            lit(row),
                            q = tidemark_model::quote_ident(k)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" AND ")
            }
        };
        let names = cols.iter().map(|c| tidemark_model::quote_ident(&c.name)).collect::<Vec<_>>().join(", ");
        match ev.event.kind {
            tidemark_model::ChangeKind::Insert => {
                let a = row_json(ev, ev.event.after.as_ref().unwrap());
                sql.push_str(&format!(
                    "INSERT INTO {t} ({names}) SELECT {names} FROM json_populate_record(NULL::{t}, {});\n",
                    lit(&a)
                ));
            }
            tidemark_model::ChangeKind::Delete => {
                let b = row_json(ev, ev.event.before.as_ref().unwrap());
                sql.push_str(&format!("DELETE FROM {t} WHERE {};\n", matcher(&b)));
            }
            tidemark_model::ChangeKind::Update => {
                let b = row_json(ev, ev.event.before.as_ref().unwrap());
                let a = row_json(ev, ev.event.after.as_ref().unwrap());
                sql.push_str(&format!(
                    "UPDATE {t} SET ({names}) = (SELECT {names} FROM json_populate_record(NULL::{t}, {})) WHERE {};\n",
                    lit(&a),
                    matcher(&b)
                ));
            }
            _ => unreachable!(),
        }
    }
    sql.push_str("COMMIT;\n");
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), sql).unwrap();
    pg.psql_file(db, f.path()).unwrap();
}

/// Independent equality: sorted row texts of every table.
fn fingerprint(pg: &Cluster, db: &str, table: &str) -> String {
    pg.psql(db, &format!("SELECT count(*) || ':' || coalesce(md5(string_agg(x, E'\\n' ORDER BY x)), '') FROM (SELECT t::text AS x FROM {table} t) s"))
        .unwrap()
}

const SETUP: &str = "
CREATE TABLE k (id int PRIMARY KEY, n numeric, t text, x xml, j json, p point, f float8, ts timestamptz, b bytea, arr int[]);
INSERT INTO k SELECT g, g * 1.5, 'row ' || g, ('<a>' || g || '</a>')::xml, ('{\"g\": ' || g || '}')::json, point(g, -g), 'NaN'::float8,
  '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 hour', decode(md5(g::text), 'hex'), ARRAY[g, g + 1]
  FROM generate_series(1, 2000) g;
CREATE TABLE ck (a text, b varchar(20), v int, PRIMARY KEY (a, b));
INSERT INTO ck VALUES ('x', 'tab\tin', 1), (E'new\nline', 'b', 2), (E'back\\\\slash', 'c', 3), ('Zebra', 'z', 4), ('apple', 'a', 5), ('ž', 'u', 6);
CREATE TABLE nokey (a int, b text);
INSERT INTO nokey VALUES (1, 'x'), (1, 'x'), (1, 'x'), (2, NULL), (3, 'y');
CREATE TABLE uq (u int UNIQUE, v text);
INSERT INTO uq VALUES (1, 'a'), (NULL, 'b'), (NULL, 'b');
CREATE TABLE empty_both (id int PRIMARY KEY);
CREATE TABLE empty_old (id int PRIMARY KEY);
CREATE TABLE empty_new (id int PRIMARY KEY);
INSERT INTO empty_new SELECT generate_series(1, 10);
";

const CHANGES: &str = "
UPDATE k SET n = 3.00 WHERE id = 2;                 -- 3.0 -> 3.00: equal numerically, a change as stored
UPDATE k SET x = '<a>changed</a>' WHERE id = 3;      -- xml has no '=' operator
UPDATE k SET p = point(0, 0) WHERE id = 4;
UPDATE k SET t = 'same' WHERE id = 5; UPDATE k SET t = 'row 5' WHERE id = 5;   -- no-op overall
DELETE FROM k WHERE id BETWEEN 100 AND 149;
INSERT INTO k SELECT g, NULL, NULL, NULL, NULL, NULL, 1.5, NULL, NULL, NULL FROM generate_series(2001, 2100) g;
UPDATE ck SET v = 40 WHERE a = 'Zebra';
DELETE FROM ck WHERE a = 'apple';
INSERT INTO ck VALUES ('Apple', 'a', 50), ('tab\tin2', 'x', 7);
DELETE FROM nokey WHERE a = 1;
INSERT INTO nokey VALUES (1, 'x'), (4, 'z'), (4, 'z');
UPDATE uq SET v = 'c' WHERE u = 1;
DELETE FROM empty_new;
";

const TABLES: [&str; 7] = ["k", "ck", "nokey", "uq", "empty_both", "empty_old", "empty_new"];

fn two_databases(setup: &str, changes: &str) -> Cluster {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE DATABASE old_db").unwrap();
    pg.psql("old_db", setup).unwrap();
    pg.psql("postgres", "CREATE DATABASE new_db TEMPLATE old_db").unwrap();
    if !changes.is_empty() {
        pg.psql("new_db", changes).unwrap();
    }
    pg
}

#[test]
fn applying_the_events_to_old_yields_new_full_method() {
    applying_the_events_to_old_yields_new(tidemark_sources::diff::DiffMethod::Full);
}

#[test]
fn applying_the_events_to_old_yields_new_fast_path() {
    // CREATE DATABASE ... TEMPLATE is a block copy: the pair qualifies for the (ctid, xmin) path.
    applying_the_events_to_old_yields_new(tidemark_sources::diff::DiffMethod::Fast);
}

fn applying_the_events_to_old_yields_new(method: tidemark_sources::diff::DiffMethod) {
    let pg = two_databases(SETUP, CHANGES);
    pg.psql("new_db", "DELETE FROM empty_old").unwrap();
    pg.psql("old_db", "INSERT INTO empty_old VALUES (1), (2)").unwrap();
    let mut o = opts(&pg, "old_db", "new_db", &TABLES);
    o.method = method;
    let (report, evs) = diff_events(o);
    let fast = method == tidemark_sources::diff::DiffMethod::Fast;
    assert!(report.tables.iter().all(|t| t.method.contains("fast path") == fast), "{report:?}");
    let r = |t: &str| report.tables.iter().find(|x| x.table == format!("public.{t}")).unwrap().clone();
    let k = r("k");
    assert_eq!((k.created, k.deleted, k.updated), (100, 50, 3), "{k:?}");
    assert_eq!(k.unchanged, 2000 - 50 - 3);
    assert!(k.method.starts_with("key"));
    let nk = r("nokey");
    assert!(nk.method.starts_with("keyless"));
    assert_eq!(
        (nk.deleted, nk.created),
        (2, 2),
        "multiset: three (1,x) old, one new → two deletes; two (4,z) inserts"
    );
    assert!(r("uq").method.starts_with("keyless"), "a unique index on a nullable column is no key");
    assert_eq!((r("empty_old").deleted, r("empty_new").created), (2, 0));
    assert!(report.failed().is_empty());
    apply(&pg, "old_db", &evs);
    for t in TABLES {
        assert_eq!(
            fingerprint(&pg, "old_db", t),
            fingerprint(&pg, "new_db", t),
            "table {t} differs after applying the diff"
        );
    }
}

#[test]
fn seeded_random_changes_round_trip() {
    // Property-style: for several seeds, random inserts/updates/deletes over a table of many types,
    // then diff, apply, compare.
    let setup = "CREATE TABLE r (id int PRIMARY KEY, i int, n numeric(12,3), t text, d date, ts timestamp, b boolean, j jsonb, a text[], f real);
                 CREATE TABLE rk (a int, b text);";
    for seed in 1..=4u64 {
        let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let mut next = || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (x >> 33) as i64
        };
        let mut base = String::new();
        for id in 1..=300 {
            base.push_str(&format!(
                "INSERT INTO r VALUES ({id}, {}, {}.{:03}, 'v{}', DATE '2020-01-01' + {}, TIMESTAMP '2020-01-01' + interval '{} seconds', {}, '{{\"k\": {}}}', ARRAY['a{}', NULL], {});\n",
                next() % 1000, next() % 100000, next() % 1000, next() % 50, next() % 3000, next() % 100000,
                next() % 2 == 0, next() % 10, next() % 5, (next() % 1000) as f64 / 8.0
            ));
            base.push_str(&format!("INSERT INTO rk VALUES ({}, 'k{}');\n", next() % 20, next() % 3));
        }
        let mut changes = String::new();
        for _ in 0..200 {
            let id = next() % 400 + 1;
            match next() % 4 {
                0 => changes.push_str(&format!("DELETE FROM r WHERE id = {id};\n")),
                1 => changes.push_str(&format!("INSERT INTO r (id, t) VALUES ({id}, 'ins') ON CONFLICT DO NOTHING;\n")),
                2 => changes.push_str(&format!("UPDATE r SET t = t || 'u', n = n + 0.001 WHERE id = {id};\n")),
                _ => changes.push_str(&format!(
                    "DELETE FROM rk WHERE ctid = (SELECT ctid FROM rk WHERE a = {} LIMIT 1); INSERT INTO rk VALUES ({}, 'k{}');\n",
                    next() % 20,
                    next() % 20,
                    next() % 3
                )),
            }
        }
        let pg = two_databases(&format!("{setup}\n{base}"), &changes);
        let (_report, evs) = diff_events(opts(&pg, "old_db", "new_db", &["r", "rk"]));
        apply(&pg, "old_db", &evs);
        for t in ["r", "rk"] {
            assert_eq!(
                fingerprint(&pg, "old_db", t),
                fingerprint(&pg, "new_db", t),
                "seed {seed}: table {t} differs"
            );
        }
    }
}

#[test]
fn wide_table_of_320_columns() {
    let cols: Vec<String> = (1..=320).map(|i| format!("c{i} int")).collect();
    let vals: Vec<String> = (1..=320).map(|i| i.to_string()).collect();
    let setup = format!(
        "CREATE TABLE w (id int PRIMARY KEY, {}); INSERT INTO w VALUES (1, {}), (2, {});",
        cols.join(", "),
        vals.join(", "),
        vals.join(", ")
    );
    let pg = two_databases(&setup, "UPDATE w SET c300 = -1 WHERE id = 2;");
    let (report, evs) = diff_events(opts(&pg, "old_db", "new_db", &["w"]));
    assert_eq!(report.tables[0].updated, 1);
    apply(&pg, "old_db", &evs);
    assert_eq!(fingerprint(&pg, "old_db", "w"), fingerprint(&pg, "new_db", "w"));
}

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(bin()).args(args).env("TIDEMARK_LOG", "warn").output().unwrap()
}

#[test]
fn cli_diff_writes_debezium_events_and_summary() {
    let pg = two_databases(SETUP, CHANGES);
    pg.psql("new_db", "CREATE PUBLICATION p FOR TABLE k, ck").unwrap();
    let dir = tempdir();
    let summary = dir.path().join("summary.json");
    let out = cli(&[
        "diff",
        "--old",
        &pg.dsn("old_db"),
        "--new",
        &pg.dsn("new_db"),
        "--publication",
        "p",
        "--sink",
        &format!("file:{}", dir.path().join("events").display()),
        "--event-time",
        "2025-08-22T14:00:00Z",
        "--summary",
        summary.to_str().unwrap(),
        "--set",
        "value.converter.schemas.enable=false",
        "--set",
        "topic.prefix=gap",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let evs = read_events(&dir.path().join("events"));
    let k = topic(&evs, "gap.public.k");
    let ops: Vec<&str> =
        k.iter().filter(|e| !e["value"].is_null()).map(|e| payload(e)["op"].as_str().unwrap()).collect();
    assert_eq!(ops.iter().filter(|o| **o == "c").count(), 100);
    assert_eq!(ops.iter().filter(|o| **o == "u").count(), 3);
    assert_eq!(ops.iter().filter(|o| **o == "d").count(), 50);
    let u = k.iter().find(|e| !e["value"].is_null() && payload(e)["op"] == "u").unwrap();
    let p = payload(u);
    assert!(p["before"].is_object() && p["after"].is_object());
    assert_eq!(p["ts_ms"], 1755871200000i64);
    assert_eq!(p["source"]["ts_ms"], 1755871200000i64);
    assert!(p["source"]["lsn"].is_null() && p["source"]["txId"].is_null());
    assert_eq!(p["source"]["db"], "new_db");
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(s["differs"], true);
    assert_eq!(s["tables"].as_array().unwrap().len(), 2);
}

#[test]
fn verify_exit_status_and_schema_mismatch() {
    let pg = two_databases(SETUP, "");
    let tables = TABLES.join(",");
    let out =
        cli(&["verify", "--source", &pg.dsn("new_db"), "--target", &pg.dsn("old_db"), "--tables", &tables]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("The databases agree."));
    pg.psql("new_db", "UPDATE k SET t = 'x' WHERE id = 1").unwrap();
    let out =
        cli(&["verify", "--source", &pg.dsn("new_db"), "--target", &pg.dsn("old_db"), "--tables", &tables]);
    assert_eq!(out.status.code(), Some(1));
    // Schema drift: a missing table, a missing column, a changed type; the other tables still compare.
    pg.psql("new_db", "CREATE TABLE only_new (id int PRIMARY KEY); ALTER TABLE ck ADD COLUMN extra int; ALTER TABLE uq ALTER COLUMN v TYPE varchar(10);").unwrap();
    let out = cli(&[
        "diff",
        "--old",
        &pg.dsn("old_db"),
        "--new",
        &pg.dsn("new_db"),
        "--tables",
        &format!("{tables},only_new"),
        "--verify",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("public.only_new") && err.contains("missing on the old side"), "{err}");
    assert!(err.contains("column \"extra\" is missing on the old side"), "{err}");
    assert!(
        err.contains("column \"v\" changed type from text (old) to character varying(10) (new)"),
        "{err}"
    );
    assert!(err.contains("public.k ") && err.contains("3 table(s) could not be compared"), "{err}");
}

#[test]
fn diff_usage_errors() {
    let out = cli(&["diff", "--old", "postgres://u@127.0.0.1:1/a", "--new", "postgres://u@127.0.0.1:1/b"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to compare"));
}

/// Events as comparable text (kind, before, after), sorted: the two methods may emit in different
/// orders across work units but must find exactly the same changes.
fn event_set(evs: &[DiffEvent]) -> Vec<String> {
    let mut v: Vec<String> = evs
        .iter()
        .map(|e| format!("{} {:?} {:?} {:?}", e.plan.table.id, e.event.kind, e.event.before, e.event.after))
        .collect();
    v.sort();
    v
}

#[test]
fn pitr_restores_fast_path_equals_full_method_and_applies_to_equal() {
    let pg = Cluster::builder().archive(true).start().unwrap();
    pg.psql(
        "postgres",
        "CREATE TABLE acct (id int PRIMARY KEY, owner text, balance numeric(12,2), note text);
         INSERT INTO acct SELECT g, 'owner ' || g, g * 10, NULL FROM generate_series(1, 20000) g;
         CREATE TABLE events (kind text, payload text);
         INSERT INTO events SELECT 'k' || (g % 7), md5(g::text) FROM generate_series(1, 5000) g;
         CREATE TABLE rewritten (id int PRIMARY KEY, v int);
         INSERT INTO rewritten SELECT g, g FROM generate_series(1, 1000) g;",
    )
    .unwrap();
    let backup = pg.base_backup().unwrap();
    // Up to PITR1: the slot was still there.
    pg.psql(
        "postgres",
        "UPDATE acct SET balance = balance + 1 WHERE id % 100 = 0; DELETE FROM events WHERE kind = 'k1';",
    )
    .unwrap();
    let l1 = pg.psql("postgres", "SELECT pg_current_wal_insert_lsn()").unwrap();
    // The gap: what consumers missed while the slot was gone.
    pg.psql("postgres", "UPDATE acct SET balance = balance * 2, note = 'gap' WHERE id % 37 = 0").unwrap();
    pg.psql("postgres", "UPDATE acct SET owner = owner WHERE id % 41 = 0").unwrap(); // no-op updates: new versions, same data
    pg.psql("postgres", "DELETE FROM acct WHERE id BETWEEN 500 AND 699").unwrap();
    pg.psql(
        "postgres",
        "INSERT INTO acct SELECT g, 'new ' || g, 0, NULL FROM generate_series(20001, 20500) g",
    )
    .unwrap();
    pg.psql("postgres", "VACUUM acct").unwrap();
    pg.psql(
        "postgres",
        "INSERT INTO acct SELECT g, 'reuse ' || g, 1, NULL FROM generate_series(30001, 30100) g",
    )
    .unwrap();
    pg.psql(
        "postgres",
        "DELETE FROM events WHERE ctid IN (SELECT ctid FROM events WHERE kind = 'k2' LIMIT 50)",
    )
    .unwrap();
    pg.psql("postgres", "INSERT INTO events SELECT 'k9', md5(g::text) FROM generate_series(1, 30) g")
        .unwrap();
    pg.psql("postgres", "UPDATE rewritten SET v = -v WHERE id <= 10").unwrap();
    pg.psql("postgres", "VACUUM FULL rewritten").unwrap();
    let l2 = pg.psql("postgres", "SELECT pg_current_wal_insert_lsn()").unwrap();
    pg.archive_all().unwrap();
    let pitr1 = pg.restore(&backup, &l1).unwrap();
    let pitr2 = pg.restore(&backup, &l2).unwrap();
    let tables = ["acct", "events", "rewritten"];

    let mut full = opts_dsn(&pitr1.dsn("postgres"), &pitr2.dsn("postgres"), &tables);
    full.method = tidemark_sources::diff::DiffMethod::Full;
    let (full_report, full_evs) = diff_events(full);
    let fast = opts_dsn(&pitr1.dsn("postgres"), &pitr2.dsn("postgres"), &tables);
    let (fast_report, fast_evs) = diff_events(fast);
    let method = |r: &DiffReport, t: &str| {
        r.tables.iter().find(|x| x.table == format!("public.{t}")).unwrap().method.clone()
    };
    assert!(method(&fast_report, "acct").contains("fast path"), "{fast_report:?}");
    assert!(method(&fast_report, "events").contains("fast path"));
    assert!(
        method(&fast_report, "rewritten").contains("rewritten"),
        "VACUUM FULL must force the full method"
    );
    assert!(!method(&full_report, "acct").contains("fast"));
    assert_eq!(event_set(&fast_evs), event_set(&full_evs), "both methods must find the same changes");
    for (a, b) in full_report.tables.iter().zip(&fast_report.tables) {
        assert_eq!(
            (a.created, a.updated, a.deleted, a.unchanged),
            (b.created, b.updated, b.deleted, b.unchanged),
            "{}",
            a.table
        );
    }
    let acct = full_report.tables.iter().find(|t| t.table == "public.acct").unwrap();
    // 200 deleted (ids 500..699); 600 inserted; 540 multiples of 37 minus the 5 deleted ones updated;
    // the no-op updates (new row versions, same data) are not changes.
    assert_eq!((acct.deleted, acct.created, acct.updated), (200, 600, 535), "{acct:?}");
    apply(&pitr1, "postgres", &full_evs);
    for t in tables {
        assert_eq!(
            fingerprint(&pitr1, "postgres", t),
            fingerprint(&pitr2, "postgres", t),
            "{t} differs after applying the gap"
        );
    }
}

#[test]
fn fast_path_with_parallel_block_ranges_on_a_large_analyzed_table() {
    // Large enough (reltuples > 500k, > 2000 blocks) that the fast path splits into block ranges and
    // the full method into key ranges, with enough changes (> 4096 candidate versions) that the fast
    // path's fetch is split across the workers by key hash; both must find the same changes.
    let pg = two_databases(
        "CREATE TABLE big (id bigint PRIMARY KEY, a int, t text);
         INSERT INTO big SELECT g, g % 1000, md5(g::text) FROM generate_series(1, 600000) g;",
        "UPDATE big SET a = -a WHERE id % 197 = 0; DELETE FROM big WHERE id % 991 = 0;
         INSERT INTO big SELECT 600000 + g, 0, 'new' FROM generate_series(1, 500) g;",
    );
    pg.psql("old_db", "VACUUM ANALYZE big").unwrap();
    pg.psql("new_db", "VACUUM ANALYZE big").unwrap();
    let mut full = opts(&pg, "old_db", "new_db", &["big"]);
    full.method = tidemark_sources::diff::DiffMethod::Full;
    full.jobs = 3;
    let mut fast = opts(&pg, "old_db", "new_db", &["big"]);
    fast.jobs = 3;
    let (rf, ef) = diff_events(full);
    let (rs, es) = diff_events(fast);
    assert!(rs.tables[0].method.contains("fast path"));
    assert_eq!(event_set(&ef), event_set(&es));
    assert_eq!((rs.tables[0].created, rs.tables[0].updated, rs.tables[0].deleted), (500, 3039, 605));
    // 3042 rows were rewritten by the UPDATE, but three of them (a = 0, so -a = a) kept their values:
    // new row versions, not changes.
    assert_eq!(rf.tables[0].unchanged, rs.tables[0].unchanged);
}
