//! Schema changes during the gap (issue 9 §5): a table created or dropped, a column added or dropped, a
//! type widened give the events recovery needs instead of failing the table. Each test applies the gap's
//! DDL to the old database (DDL is not an event), then the diff's events, and checks that old now equals
//! new row for row; a type change that is no lossless widening fails only its table.

mod common;
mod diffkit;

use common::fingerprint;
use diffkit::*;
use tidemark_model::{ChangeKind, Datum};

fn table<'a>(r: &'a tidemark_sources::diff::DiffReport, t: &str) -> &'a tidemark_sources::diff::TableReport {
    r.tables.iter().find(|x| x.table == format!("public.{t}")).unwrap_or_else(|| panic!("{t} in {r:?}"))
}

fn with_publication(o: &mut tidemark_sources::diff::DiffOptions, p: &str) {
    o.tables.clear();
    o.publications = vec![p.to_string()];
}

#[test]
fn table_created_in_gap_yields_creates() {
    let pg = two_databases(
        "CREATE TABLE keep (id int PRIMARY KEY); INSERT INTO keep VALUES (1); CREATE PUBLICATION p FOR ALL TABLES;",
        "CREATE TABLE fresh (id int PRIMARY KEY, v text); INSERT INTO fresh SELECT g, 'v' || g FROM generate_series(1, 5) g;",
    );
    let mut o = opts(&pg, "old_db", "new_db", &[]);
    with_publication(&mut o, "p");
    let (report, evs) = diff_events(o);
    assert!(report.failed().is_empty(), "{report:?}");
    let f = table(&report, "fresh");
    assert_eq!((f.created, f.updated, f.deleted), (5, 0, 0), "{f:?}");
    assert!(f.schema_changes.iter().any(|c| c.contains("created in the gap")), "{f:?}");
    assert!(evs.iter().all(|e| e.event.kind == ChangeKind::Insert && e.plan.table.id.name == "fresh"));
    assert!(report.differs(), "a table missing on one side is a difference, even for verify");
    pg.psql("old_db", "CREATE TABLE fresh (id int PRIMARY KEY, v text)").unwrap();
    apply(&pg, "old_db", &evs);
    assert_eq!(fingerprint(&pg, "old_db", "fresh"), fingerprint(&pg, "new_db", "fresh"));
}

#[test]
fn table_dropped_in_gap_yields_deletes() {
    let pg = two_databases(
        "CREATE TABLE keep (id int PRIMARY KEY); INSERT INTO keep VALUES (1);
         CREATE TABLE gone (id int PRIMARY KEY, v text); INSERT INTO gone SELECT g, 'v' || g FROM generate_series(1, 3) g;
         CREATE PUBLICATION p FOR TABLE keep, gone;",
        "DROP TABLE gone; INSERT INTO keep VALUES (2);",
    );
    let mut o = opts(&pg, "old_db", "new_db", &[]);
    with_publication(&mut o, "p");
    let (report, evs) = diff_events(o);
    assert!(report.failed().is_empty(), "{report:?}");
    let g = table(&report, "gone");
    assert_eq!((g.created, g.updated, g.deleted), (0, 0, 3), "{g:?}");
    assert!(g.schema_changes.iter().any(|c| c.contains("dropped in the gap")), "{g:?}");
    assert_eq!(table(&report, "keep").created, 1);
    let deletes: Vec<_> = evs.iter().filter(|e| e.plan.table.id.name == "gone").collect();
    assert_eq!(deletes.len(), 3);
    // The delete events carry the old rows with the old table's key, as Debezium deletes do.
    for d in &deletes {
        assert_eq!(d.event.kind, ChangeKind::Delete);
        assert!(d.event.after.is_none() && d.event.before.as_ref().unwrap().len() == 2);
        assert!(d.plan.table.columns[0].is_key);
    }
    apply(&pg, "old_db", &evs);
    assert_eq!(pg.psql("old_db", "SELECT count(*) FROM gone").unwrap(), "0");
    assert_eq!(fingerprint(&pg, "old_db", "keep"), fingerprint(&pg, "new_db", "keep"));
}

#[test]
fn column_added_in_gap() {
    let pg = two_databases(
        "CREATE TABLE t (id int PRIMARY KEY, a text); INSERT INTO t SELECT g, 'a' || g FROM generate_series(1, 4) g;
         CREATE TABLE d (id int PRIMARY KEY); INSERT INTO d SELECT generate_series(1, 3);",
        "ALTER TABLE t ADD COLUMN b int; UPDATE t SET b = 7 WHERE id <= 2; INSERT INTO t VALUES (5, 'a5', 9);
         ALTER TABLE d ADD COLUMN flag int NOT NULL DEFAULT 5;",
    );
    let (report, evs) = diff_events(opts(&pg, "old_db", "new_db", &["t", "d"]));
    assert!(report.failed().is_empty(), "{report:?}");
    let t = table(&report, "t");
    // Rows whose new column is still NULL are unchanged; the others are updates carrying it.
    assert_eq!((t.created, t.updated, t.deleted, t.unchanged), (1, 2, 0, 2), "{t:?}");
    assert!(t.schema_changes.iter().any(|c| c.contains("column \"b\" added in the gap")), "{t:?}");
    let u = evs.iter().find(|e| e.event.kind == ChangeKind::Update && e.plan.table.id.name == "t").unwrap();
    assert_eq!(u.plan.table.columns.len(), 3, "events use the new schema");
    assert_eq!(u.event.before.as_ref().unwrap()[2], Datum::Null);
    assert_eq!(u.event.after.as_ref().unwrap()[2], Datum::Text("7".into()));
    // A column added with a default: every existing row now carries it, so every row is an update.
    assert_eq!(table(&report, "d").updated, 3);
    // The consumer applies the DDL (existing rows get NULL), then the events.
    pg.psql("old_db", "ALTER TABLE t ADD COLUMN b int; ALTER TABLE d ADD COLUMN flag int").unwrap();
    apply(&pg, "old_db", &evs);
    for x in ["t", "d"] {
        assert_eq!(fingerprint(&pg, "old_db", x), fingerprint(&pg, "new_db", x), "{x}");
    }
}

#[test]
fn column_dropped_in_gap() {
    let pg = two_databases(
        "CREATE TABLE t (id int PRIMARY KEY, a text, secret text); INSERT INTO t SELECT g, 'a' || g, 's' || g FROM generate_series(1, 4) g;",
        "ALTER TABLE t DROP COLUMN secret; UPDATE t SET a = 'changed' WHERE id = 1; DELETE FROM t WHERE id = 4;",
    );
    // Old rows that differ only in the dropped column are not changes.
    pg.psql("old_db", "UPDATE t SET secret = 'other' WHERE id = 2").unwrap();
    let (report, evs) = diff_events(opts(&pg, "old_db", "new_db", &["t"]));
    assert!(report.failed().is_empty(), "{report:?}");
    let t = table(&report, "t");
    assert_eq!((t.created, t.updated, t.deleted, t.unchanged), (0, 1, 1, 2), "{t:?}");
    assert!(t.schema_changes.iter().any(|c| c.contains("column \"secret\" dropped in the gap")), "{t:?}");
    assert!(evs.iter().all(|e| e.plan.table.columns.iter().all(|c| c.name != "secret")));
    pg.psql("old_db", "ALTER TABLE t DROP COLUMN secret").unwrap();
    apply(&pg, "old_db", &evs);
    assert_eq!(fingerprint(&pg, "old_db", "t"), fingerprint(&pg, "new_db", "t"));
}

#[test]
fn type_widened_in_gap() {
    let pg = two_databases(
        "CREATE TABLE w (id int PRIMARY KEY, n int, v varchar(10), m numeric(5,2), r real);
         INSERT INTO w SELECT g, g * 1000, 'v' || g, g + 0.5, g / 3.0 FROM generate_series(1, 6) g;
         CREATE TABLE narrowed (id int PRIMARY KEY, n bigint); INSERT INTO narrowed VALUES (1, 1);",
        "ALTER TABLE w ALTER COLUMN id TYPE bigint, ALTER COLUMN n TYPE bigint, ALTER COLUMN v TYPE varchar(20),
           ALTER COLUMN m TYPE numeric(8,3), ALTER COLUMN r TYPE double precision;
         UPDATE w SET n = 5000000000 WHERE id = 2; UPDATE w SET v = 'a longer value 12' WHERE id = 3;
         INSERT INTO w VALUES (9000000000, 1, 'big', 1.125, 0.1);
         ALTER TABLE narrowed ALTER COLUMN n TYPE int;",
    );
    let (report, evs) = diff_events(opts(&pg, "old_db", "new_db", &["w", "narrowed"]));
    let w = table(&report, "w");
    assert!(w.failure.is_none(), "{w:?}");
    // 1.50 (numeric(5,2)) and 1.500 (numeric(8,3)), real and its double: equal by value.
    assert_eq!((w.created, w.updated, w.deleted, w.unchanged), (1, 2, 0, 4), "{w:?}");
    assert!(
        w.schema_changes.iter().any(|c| c.contains("column \"m\" widened from numeric(5,2) to numeric(8,3)")),
        "{w:?}"
    );
    // A narrowing is not well defined: that table fails with the reason, the others go on.
    let n = table(&report, "narrowed");
    let f = n.failure.as_deref().unwrap_or_default();
    assert!(
        f.contains("changed type from bigint (old) to integer (new)")
            && f.contains("not a lossless widening"),
        "{f}"
    );
    pg.psql(
        "old_db",
        "ALTER TABLE w ALTER COLUMN id TYPE bigint, ALTER COLUMN n TYPE bigint, ALTER COLUMN v TYPE varchar(20),
           ALTER COLUMN m TYPE numeric(8,3), ALTER COLUMN r TYPE double precision;",
    )
    .unwrap();
    apply(&pg, "old_db", &evs);
    assert_eq!(fingerprint(&pg, "old_db", "w"), fingerprint(&pg, "new_db", "w"));
    // Through the CLI: the failed table means no verdict and exit 3.
    let out = cli(&[
        "verify",
        "--source",
        &pg.dsn("new_db"),
        "--target",
        &pg.dsn("old_db"),
        "--tables",
        "w,narrowed",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("public.narrowed") && !err.contains("The databases agree"), "{err}");
}
