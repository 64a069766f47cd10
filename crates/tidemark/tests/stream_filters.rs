//! `--tables` / `table.include.list` / `table.exclude.list` decide what is *emitted*, whatever the
//! publication sends: a table left out on purpose (here one holding personal data) never reaches
//! the sink, even when an existing publication publishes it.

mod common;
use common::*;

/// Every line tidemark wrote, as raw text (to check that a value never leaks anywhere).
fn raw_output(dir: &std::path::Path) -> String {
    let mut s = String::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "jsonl") {
            s.push_str(&std::fs::read_to_string(e.path()).unwrap());
        }
    }
    s
}

fn topics(evs: &[serde_json::Value]) -> Vec<String> {
    let mut t: Vec<String> = evs.iter().map(|e| e["topic"].as_str().unwrap_or("").to_string()).collect();
    t.sort();
    t.dedup();
    t
}

const PII_WRITES: &str = "INSERT INTO pii VALUES (1, 'secret-ssn-123');
     UPDATE pii SET ssn = 'secret-ssn-456';
     DELETE FROM pii;
     INSERT INTO pii VALUES (2, 'secret-ssn-789');
     TRUNCATE pii;";

#[test]
fn existing_publication_with_extra_table_is_filtered() {
    let pg = Cluster::start().unwrap();
    pg.psql(
        "postgres",
        "CREATE TABLE orders (id int PRIMARY KEY, item text);
         CREATE TABLE pii (id int PRIMARY KEY, ssn text);
         CREATE PUBLICATION shared FOR TABLE orders, pii;",
    )
    .unwrap();
    let out = tempdir();
    let args = [
        "--tables",
        "public.orders",
        "--publication",
        "shared",
        "--until-lsn",
        "current",
        "--set",
        "skipped.operations=none",
        "--set",
        "provide.transaction.metadata=true",
    ];
    run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &args));
    pg.psql("postgres", &format!("INSERT INTO orders VALUES (1, 'book'); {PII_WRITES}")).unwrap();
    // A transaction touching both tables (psql runs one -c string as one transaction).
    pg.psql(
        "postgres",
        "INSERT INTO pii VALUES (3, 'secret-ssn-000'); INSERT INTO orders VALUES (2, 'pen');",
    )
    .unwrap();
    let before = slot_confirmed(&pg, "tidemark");
    run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &args));
    let evs = read_events(out.path());
    let orders = topic(&evs, "tidemark.public.orders");
    assert_eq!(orders.len(), 2, "{evs:?}");
    assert_eq!(payload(orders[1])["after"]["item"], "pen");
    assert!(topic(&evs, "tidemark.public.pii").is_empty(), "pii events emitted: {:?}", topics(&evs));
    let raw = raw_output(out.path());
    assert!(!raw.contains("secret-ssn"), "a pii value reached the sink");
    assert!(!raw.contains("\"pii\""), "the pii table is named in the output (e.g. transaction metadata)");
    // The mixed transaction counts only the emitted table.
    let ends: Vec<_> =
        topic(&evs, "tidemark.transaction").into_iter().filter(|e| payload(e)["status"] == "END").collect();
    let last = ends.last().expect("END events");
    assert_eq!(payload(last)["event_count"], 1, "{last}");
    // Filtered changes still advance the slot (no WAL retained for them).
    assert!(slot_confirmed(&pg, "tidemark") > before);
}

#[test]
fn existing_all_tables_publication_without_tables_emits_everything() {
    // The control case: no filter means whatever the publication publishes.
    let pg = Cluster::start().unwrap();
    pg.psql(
        "postgres",
        "CREATE TABLE orders (id int PRIMARY KEY); CREATE TABLE pii (id int PRIMARY KEY, ssn text);
         CREATE PUBLICATION tidemark FOR ALL TABLES;",
    )
    .unwrap();
    let out = tempdir();
    run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &["--until-lsn", "current"]));
    pg.psql("postgres", "INSERT INTO orders VALUES (1); INSERT INTO pii VALUES (1, 'x');").unwrap();
    run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &["--until-lsn", "current"]));
    let evs = read_events(out.path());
    assert_eq!(topic(&evs, "tidemark.public.orders").len(), 1);
    assert_eq!(topic(&evs, "tidemark.public.pii").len(), 1);
}

#[test]
fn table_exclude_list_filters() {
    let pg = Cluster::start().unwrap();
    pg.psql(
        "postgres",
        "CREATE SCHEMA audit;
         CREATE TABLE orders (id int PRIMARY KEY, item text);
         CREATE TABLE pii (id int PRIMARY KEY, ssn text);
         CREATE TABLE audit.log (id int PRIMARY KEY, what text);
         CREATE TABLE audit.trail (id int PRIMARY KEY, what text);
         CREATE PUBLICATION tidemark FOR ALL TABLES;",
    )
    .unwrap();
    let out = tempdir();
    let args = [
        "--set",
        "table.exclude.list=public.pii,AUDIT\\.l.*",
        "--until-lsn",
        "current",
        "--set",
        "skipped.operations=none",
    ];
    run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &args));
    pg.psql(
        "postgres",
        &format!(
            "INSERT INTO orders VALUES (1, 'book'); {PII_WRITES}
             INSERT INTO audit.log VALUES (1, 'secret-ssn-in-log'); INSERT INTO audit.trail VALUES (1, 'kept');"
        ),
    )
    .unwrap();
    run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &args));
    let evs = read_events(out.path());
    assert_eq!(topics(&evs), vec!["tidemark.audit.trail", "tidemark.public.orders"], "{evs:?}");
    assert!(!raw_output(out.path()).contains("secret-ssn"));
}

#[test]
fn table_include_list_regex_creates_publication_and_filters() {
    let pg = Cluster::start().unwrap();
    pg.psql(
        "postgres",
        "CREATE TABLE orders (id int PRIMARY KEY); CREATE TABLE order_lines (id int PRIMARY KEY);
         CREATE TABLE pii (id int PRIMARY KEY, ssn text);",
    )
    .unwrap();
    let out = tempdir();
    let args = ["--set", "table.include.list=public\\.order.*", "--until-lsn", "current"];
    run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &args));
    let published = pg
        .psql("postgres", "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_publication_tables WHERE pubname = 'tidemark'")
        .unwrap();
    assert_eq!(published.trim(), "order_lines,orders");
    pg.psql("postgres", "INSERT INTO orders VALUES (1); INSERT INTO order_lines VALUES (1); INSERT INTO pii VALUES (1, 'secret-ssn');")
        .unwrap();
    // A table added to the publication later is still filtered by the pattern.
    pg.psql(
        "postgres",
        "ALTER PUBLICATION tidemark ADD TABLE pii; INSERT INTO pii VALUES (2, 'secret-ssn-2');",
    )
    .unwrap();
    run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &args));
    let evs = read_events(out.path());
    assert_eq!(topics(&evs), vec!["tidemark.public.order_lines", "tidemark.public.orders"], "{evs:?}");
}

#[test]
fn table_include_and_exclude_together_is_a_config_error() {
    let out = tempdir();
    let o = stream_cmd(
        "postgres://nobody@127.0.0.1:1/x",
        out.path(),
        &["--tables", "public.orders", "--set", "table.exclude.list=public.pii"],
    )
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("table.include.list and table.exclude.list"), "{err}");
    let o = stream_cmd(
        "postgres://nobody@127.0.0.1:1/x",
        out.path(),
        &["--set", "table.exclude.list=public\\.(x"],
    )
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("not a valid regular expression"), "{err}");
}
