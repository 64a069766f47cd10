//! `tidemark diff` / `verify`: applying the events to the old database yields the new one, row for row
//! (checked independently with sorted row texts), for keyed, composite-text-keyed, keyless (multiset),
//! nullable-unique, empty and 320-column tables and types without `=`; schema mismatches are reported per
//! table; the CLI writes Debezium events and exit statuses as documented.

mod common;
mod diffkit;

use common::*;
use diffkit::*;
use tidemark_sources::diff::DiffReport;

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

/// Column types of the property test, with and without `=` operators (json, point, xml).
#[derive(Debug, Clone, Copy)]
enum Ty {
    Int,
    Big,
    Num,
    Text,
    Bytea,
    Float,
    Bool,
    Date,
    Tstz,
    Jsonb,
    Json,
    Point,
    IntArr,
    Uuid,
    Interval,
    Xml,
}

impl Ty {
    const ALL: [Ty; 16] = [
        Ty::Int,
        Ty::Big,
        Ty::Num,
        Ty::Text,
        Ty::Bytea,
        Ty::Float,
        Ty::Bool,
        Ty::Date,
        Ty::Tstz,
        Ty::Jsonb,
        Ty::Json,
        Ty::Point,
        Ty::IntArr,
        Ty::Uuid,
        Ty::Interval,
        Ty::Xml,
    ];

    fn sql(self) -> &'static str {
        match self {
            Ty::Int => "int",
            Ty::Big => "bigint",
            Ty::Num => "numeric",
            Ty::Text => "text",
            Ty::Bytea => "bytea",
            Ty::Float => "float8",
            Ty::Bool => "boolean",
            Ty::Date => "date",
            Ty::Tstz => "timestamptz",
            Ty::Jsonb => "jsonb",
            Ty::Json => "json",
            Ty::Point => "point",
            Ty::IntArr => "int[]",
            Ty::Uuid => "uuid",
            Ty::Interval => "interval",
            Ty::Xml => "xml",
        }
    }

    /// A SQL literal of this type, or NULL.
    fn value(self) -> proptest::strategy::BoxedStrategy<String> {
        use proptest::prelude::*;
        let q = |s: String| format!("'{}'", s.replace('\'', "''"));
        let text = "[a-z \t\n\\\\'\"ž€{},]{0,12}";
        let v: BoxedStrategy<String> = match self {
            Ty::Int => any::<i32>().prop_map(|v| v.to_string()).boxed(),
            Ty::Big => any::<i64>().prop_map(|v| format!("{v}::bigint")).boxed(),
            // Scale matters: 1.0 and 1.00 are different values to the diff.
            Ty::Num => prop_oneof![
                (any::<i32>(), 0u32..4).prop_map(|(v, s)| format!("round({v}::numeric / 7, {s})")),
                Just("'NaN'::numeric".to_string()),
                Just("1.0".to_string()),
                Just("1.00".to_string()),
            ]
            .boxed(),
            Ty::Text => text.prop_map(q).boxed(),
            Ty::Bytea => proptest::collection::vec(any::<u8>(), 0..8)
                .prop_map(|b| {
                    format!("'\\x{}'::bytea", b.iter().map(|x| format!("{x:02x}")).collect::<String>())
                })
                .boxed(),
            Ty::Float => prop_oneof![
                any::<f64>()
                    .prop_filter("finite", |f| f.is_finite())
                    .prop_map(|f| format!("'{f:e}'::float8")),
                Just("'NaN'::float8".to_string()),
                Just("'-Infinity'::float8".to_string()),
                Just("'-0'::float8".to_string()),
            ]
            .boxed(),
            Ty::Bool => any::<bool>().prop_map(|b| b.to_string()).boxed(),
            Ty::Date => (-5000i32..5000).prop_map(|d| format!("DATE '2000-01-01' + {d}")).boxed(),
            Ty::Tstz => (0i64..10_000_000_000)
                .prop_map(|us| {
                    format!("TIMESTAMPTZ '2020-01-01 00:00:00+00' + {us} * interval '1 microsecond'")
                })
                .boxed(),
            Ty::Jsonb | Ty::Json => (text, any::<i16>())
                .prop_map(move |(t, n)| {
                    format!(
                        "'{}'::{}",
                        serde_json::json!({"t": t, "n": n}).to_string().replace('\'', "''"),
                        self.sql()
                    )
                })
                .boxed(),
            Ty::Point => (any::<i16>(), any::<i16>()).prop_map(|(x, y)| format!("point({x}, {y})")).boxed(),
            Ty::IntArr => proptest::collection::vec(proptest::option::of(any::<i16>()), 0..4)
                .prop_map(|v| {
                    let items: Vec<String> =
                        v.iter().map(|x| x.map_or("NULL".to_string(), |x| x.to_string())).collect();
                    format!("ARRAY[{}]::int[]", items.join(","))
                })
                .boxed(),
            Ty::Uuid => any::<u128>().prop_map(|u| format!("'{u:032x}'::uuid")).boxed(),
            Ty::Interval => (any::<i16>(), any::<i32>())
                .prop_map(|(d, s)| format!("interval '{d} days {s} seconds'"))
                .boxed(),
            Ty::Xml => "[a-z<>&]{0,6}".prop_map(move |t| format!("xmlelement(name a, {})", q(t))).boxed(),
        };
        prop_oneof![1 => Just("NULL".to_string()), 6 => v].boxed()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum KeyShape {
    Single,
    Composite,
    Keyless,
}

#[derive(Debug, Clone)]
enum Op {
    Insert(Vec<String>),
    Update { row: usize, col: usize, value: String },
    Delete { row: usize },
    ChangeKey { row: usize },
}

#[derive(Debug, Clone)]
struct Case {
    key: KeyShape,
    cols: Vec<Ty>,
    /// Rows of the old side (non-key values); `true` inserts the row twice (keyless duplicates).
    rows: Vec<(Vec<String>, bool)>,
    ops: Vec<Op>,
}

impl Case {
    fn sql(&self) -> (String, String) {
        let mut create: Vec<String> = match self.key {
            KeyShape::Single => vec!["id int PRIMARY KEY".into()],
            KeyShape::Composite => vec!["id int".into(), "k text".into()],
            KeyShape::Keyless => vec![],
        };
        create.extend(self.cols.iter().enumerate().map(|(i, t)| format!("c{i} {}", t.sql())));
        if self.key == KeyShape::Composite {
            create.push("PRIMARY KEY (k, id)".into());
        }
        let key_vals = |n: usize| -> Vec<String> {
            match self.key {
                KeyShape::Single => vec![n.to_string()],
                KeyShape::Composite => vec![n.to_string(), format!("'k{}'", n % 3)],
                KeyShape::Keyless => vec![],
            }
        };
        let insert = |n: usize, vals: &[String]| {
            let mut all = key_vals(n);
            all.extend(vals.iter().cloned());
            format!("INSERT INTO p VALUES ({});\n", all.join(", "))
        };
        let mut setup = format!("CREATE TABLE p ({});\n", create.join(", "));
        for (n, (vals, dup)) in self.rows.iter().enumerate() {
            setup.push_str(&insert(n + 1, vals));
            if *dup && self.key == KeyShape::Keyless {
                setup.push_str(&insert(n + 1, vals));
            }
        }
        let nth = |row: usize| format!("ctid = (SELECT ctid FROM p ORDER BY ctid OFFSET {row} LIMIT 1)");
        let mut changes = String::new();
        for (i, op) in self.ops.iter().enumerate() {
            match op {
                Op::Insert(vals) => changes.push_str(&insert(10_000 + i, vals)),
                Op::Update { row, col, value } => {
                    changes.push_str(&format!("UPDATE p SET c{col} = {value} WHERE {};\n", nth(*row)))
                }
                Op::Delete { row } => changes.push_str(&format!("DELETE FROM p WHERE {};\n", nth(*row))),
                Op::ChangeKey { row } if self.key != KeyShape::Keyless => {
                    changes.push_str(&format!("UPDATE p SET id = id + 100000 WHERE {};\n", nth(*row)))
                }
                Op::ChangeKey { .. } => {}
            }
        }
        (setup, changes)
    }
}

fn case_strategy() -> impl proptest::strategy::Strategy<Value = Case> {
    use proptest::prelude::*;
    let key = prop_oneof![Just(KeyShape::Single), Just(KeyShape::Composite), Just(KeyShape::Keyless)];
    let cols = proptest::collection::vec(proptest::sample::select(&Ty::ALL[..]), 1..6);
    (key, cols).prop_flat_map(|(key, cols)| {
        let row = cols.iter().map(|t| t.value()).collect::<Vec<_>>();
        let rows = proptest::collection::vec((row.clone(), proptest::bool::weighted(0.2)), 0..30);
        let ncols = cols.len();
        let cols2 = cols.clone();
        let op = prop_oneof![
            2 => row.prop_map(Op::Insert),
            3 => (0usize..40, 0..ncols).prop_flat_map(move |(r, c)| {
                cols2[c].value().prop_map(move |value| Op::Update { row: r, col: c, value })
            }),
            2 => (0usize..40).prop_map(|row| Op::Delete { row }),
            1 => (0usize..40).prop_map(|row| Op::ChangeKey { row }),
        ];
        let ops = proptest::collection::vec(op, 0..25);
        (Just(key), Just(cols), rows, ops).prop_map(|(key, cols, rows, ops)| Case { key, cols, rows, ops })
    })
}

#[test]
fn property_random_tables_and_changes_round_trip_under_both_methods() {
    // Random table shapes over many types (NULLs, NaN, ±0, scales, escapes, types without `=`), random
    // inserts/updates/deletes/key changes on a block copy of the old database. For every case: the
    // full method and the fast path produce the same events, and applying them to old yields new.
    use proptest::test_runner::{Config, TestRunner};
    let pg = Cluster::start().unwrap();
    let cases = std::env::var("TIDEMARK_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24);
    let mut runner = TestRunner::new(Config { cases, max_shrink_iters: 200, ..Config::default() });
    let n = std::cell::Cell::new(0);
    runner
        .run(&case_strategy(), |case| {
            n.set(n.get() + 1);
            let (old, new) = (format!("old_{}", n.get()), format!("new_{}", n.get()));
            let (setup, changes) = case.sql();
            pg.psql("postgres", &format!("CREATE DATABASE {old}")).unwrap();
            pg.psql(&old, &setup).unwrap();
            pg.psql("postgres", &format!("CREATE DATABASE {new} TEMPLATE {old}")).unwrap();
            if !changes.is_empty() {
                pg.psql(&new, &changes).unwrap();
            }
            let mut full = opts(&pg, &old, &new, &["p"]);
            full.method = tidemark_sources::diff::DiffMethod::Full;
            let mut fast = opts(&pg, &old, &new, &["p"]);
            fast.method = tidemark_sources::diff::DiffMethod::Fast;
            let (rf, ef) = diff_events(full);
            let (rs, es) = diff_events(fast);
            proptest::prop_assert!(rs.tables[0].method.contains("fast path"), "{:?}", rs.tables[0]);
            proptest::prop_assert_eq!(event_set(&ef), event_set(&es), "full method and fast path differ");
            proptest::prop_assert_eq!(rf.tables[0].unchanged, rs.tables[0].unchanged);
            apply(&pg, &old, &ef);
            proptest::prop_assert_eq!(fingerprint(&pg, &old, "p"), fingerprint(&pg, &new, "p"));
            pg.psql("postgres", &format!("DROP DATABASE {old}")).unwrap();
            pg.psql("postgres", &format!("DROP DATABASE {new}")).unwrap();
            Ok(())
        })
        .unwrap();
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
fn cli_diff_into_the_postgres_apply_sink_makes_old_equal_new() {
    // A keyless table whose column is named like a table alias (`x`), duplicates, NULLs, quotes,
    // json and arrays: `--sink postgres://…` applies the events through the pipeline, and `verify`
    // (full method: applying moved the old side's rows) then agrees.
    let pg = two_databases(
        "CREATE TABLE t (id int PRIMARY KEY, v text, j jsonb, a int[]);
         INSERT INTO t SELECT g, 'v' || g, jsonb_build_object('k', g), ARRAY[g, g + 1] FROM generate_series(1, 500) g;
         CREATE TABLE kl (x text, y int); INSERT INTO kl VALUES ('a', 1), ('a', 1), ('b', 2);",
        "UPDATE t SET v = 'it''s \"q\" \\ x' WHERE id % 10 = 0; DELETE FROM t WHERE id % 7 = 0;
         INSERT INTO t VALUES (5000, NULL, '{\"a\": [1, 2]}', '{}');
         DELETE FROM kl WHERE ctid = (SELECT ctid FROM kl WHERE x = 'a' LIMIT 1); INSERT INTO kl VALUES ('c', NULL);",
    );
    let (old, new) = (pg.dsn("old_db"), pg.dsn("new_db"));
    let out = cli(&["diff", "--old", &old, "--new", &new, "--tables", "public.t,public.kl", "--sink", &old]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for t in ["public.t", "public.kl"] {
        assert_eq!(fingerprint(&pg, "old_db", t), fingerprint(&pg, "new_db", t), "{t} after applying");
    }
    let v = cli(&[
        "verify",
        "--source",
        &new,
        "--target",
        &old,
        "--tables",
        "public.t,public.kl",
        "--method",
        "full",
    ]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
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
    // Schema drift: a table created and a column added in the gap are compared (issue 9 §5: they give the
    // events recovery needs); a type change that is no lossless widening fails that table only.
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
    assert!(err.contains("public.only_new") && err.contains("created in the gap"), "{err}");
    assert!(err.contains("column \"extra\" added in the gap"), "{err}");
    assert!(
        err.contains("column \"v\" changed type from text (old) to character varying(10) (new)"),
        "{err}"
    );
    assert!(err.contains("public.k ") && err.contains("1 table(s) could not be compared"), "{err}");
    assert!(!err.contains("The databases agree"), "{err}");
}

#[test]
fn diff_usage_errors() {
    let out = cli(&["diff", "--old", "postgres://u@127.0.0.1:1/a", "--new", "postgres://u@127.0.0.1:1/b"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to compare"));
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
