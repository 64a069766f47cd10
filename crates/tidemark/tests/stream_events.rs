//! `tidemark stream` output, one scenario per edge case: the Debezium events a consumer receives
//! for inserts, updates, deletes, key changes, TOAST, replica identity, truncate, transactions,
//! logical messages and partitioned tables.

mod common;
use common::*;

fn ops(evs: &[&serde_json::Value]) -> Vec<String> {
    evs.iter()
        .map(|e| {
            if e["value"].is_null() {
                "tombstone".to_string()
            } else {
                payload(e)["op"].as_str().unwrap().to_string()
            }
        })
        .collect()
}

#[test]
fn insert_update_delete_with_tombstones() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE public.customers (id SERIAL PRIMARY KEY, email VARCHAR(255) NOT NULL, balance NUMERIC(10,2))").unwrap();
    let out = tempdir();
    setup_slot(&pg, out.path(), "public.customers", &[]);
    pg.psql(
        "postgres",
        "INSERT INTO customers (email, balance) VALUES ('a@b.io', 1234.11);
         UPDATE customers SET balance = -1234.11 WHERE id = 1;
         DELETE FROM customers WHERE id = 1;",
    )
    .unwrap();
    run_ok(stream_cmd(
        &pg.dsn("postgres"),
        out.path(),
        &["--tables", "public.customers", "--until-lsn", "current"],
    ));
    let evs = read_events(out.path());
    let t = topic(&evs, "tidemark.public.customers");
    assert_eq!(ops(&t), vec!["c", "u", "d", "tombstone"]);
    let c = payload(t[0]);
    assert_eq!(c["after"]["email"], "a@b.io");
    assert_eq!(c["after"]["balance"], "AeIT");
    assert_eq!(c["before"], serde_json::Value::Null);
    assert_eq!(c["source"]["connector"], "postgresql");
    assert_eq!(c["source"]["db"], "postgres");
    assert_eq!(c["source"]["table"], "customers");
    assert_eq!(c["source"]["snapshot"], "false");
    assert!(c["source"]["lsn"].as_u64().unwrap() > 0);
    assert!(c["source"]["txId"].as_u64().unwrap() > 0);
    assert!(c["source"]["sequence"].as_str().unwrap().starts_with('['));
    assert_eq!(key(t[0])["id"], 1);
    // Key schema: SERIAL default becomes the placeholder 0, like Debezium.
    assert_eq!(t[0]["key"]["schema"]["fields"][0]["default"], 0);
    assert_eq!(t[0]["key"]["schema"]["name"], "tidemark.public.customers.Key");
    assert_eq!(t[0]["value"]["schema"]["name"], "tidemark.public.customers.Envelope");
    let u = payload(t[1]);
    assert_eq!(u["after"]["balance"], "/h3t");
    assert_eq!(u["before"], serde_json::Value::Null, "DEFAULT identity: before is null on update");
    let d = payload(t[2]);
    assert_eq!(d["after"], serde_json::Value::Null);
    assert_eq!(d["before"]["id"], 1);
    assert_eq!(d["before"]["email"], "", "NOT NULL non-key column gets the type fallback");
    assert_eq!(d["before"]["balance"], serde_json::Value::Null);
    assert_eq!(key(t[3])["id"], 1);
    // All three changes were in one transaction: same txId, increasing LSNs.
    let tx: Vec<_> = t[..3].iter().map(|e| payload(e)["source"]["txId"].as_u64().unwrap()).collect();
    assert!(tx.iter().all(|x| *x == tx[0]));
}

#[test]
fn primary_key_change_is_delete_tombstone_create() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY, v text)").unwrap();
    let out = tempdir();
    setup_slot(&pg, out.path(), "t", &[]);
    pg.psql("postgres", "INSERT INTO t VALUES (1, 'x'); UPDATE t SET id = 2 WHERE id = 1;").unwrap();
    run_ok(stream_cmd(
        &pg.dsn("postgres"),
        out.path(),
        &[
            "--tables",
            "t",
            "--until-lsn",
            "current",
            "--set",
            "value.converter.schemas.enable=false",
            "--set",
            "key.converter.schemas.enable=false",
        ],
    ));
    let evs = read_events(out.path());
    let t = topic(&evs, "tidemark.public.t");
    assert_eq!(ops(&t), vec!["c", "d", "tombstone", "c"]);
    assert_eq!(t[1]["key"]["id"], 1);
    assert_eq!(t[2]["key"]["id"], 1);
    assert_eq!(t[3]["key"]["id"], 2);
    assert_eq!(payload(t[3])["after"]["v"], "x");
}

#[test]
fn toast_unchanged_and_replica_identity_full() {
    let pg = Cluster::start().unwrap();
    pg.psql(
        "postgres",
        "CREATE TABLE d (id int PRIMARY KEY, n int, big text, blob bytea);
         CREATE TABLE f (id int PRIMARY KEY, n int, big text); ALTER TABLE f REPLICA IDENTITY FULL;
         CREATE TABLE k (a int, b text); ALTER TABLE k REPLICA IDENTITY FULL;",
    )
    .unwrap();
    let out = tempdir();
    setup_slot(&pg, out.path(), "d,f,k", &[]);
    let big = "(SELECT string_agg(md5(g::text), '') FROM generate_series(1, 300) g)";
    pg.psql(
        "postgres",
        &format!(
            "INSERT INTO d VALUES (1, 0, {big}, convert_to({big}, 'UTF8')); UPDATE d SET n = 1;
             INSERT INTO f VALUES (1, 0, {big}); UPDATE f SET n = 1;
             INSERT INTO k VALUES (1, 'a'), (1, 'a'); DELETE FROM k;"
        ),
    )
    .unwrap();
    run_ok(stream_cmd(
        &pg.dsn("postgres"),
        out.path(),
        &["--tables", "d,f,k", "--until-lsn", "current", "--set", "value.converter.schemas.enable=false"],
    ));
    let evs = read_events(out.path());
    let d = topic(&evs, "tidemark.public.d");
    let u = payload(d[1]);
    assert_eq!(u["op"], "u");
    assert_eq!(u["after"]["big"], "__debezium_unavailable_value");
    assert_eq!(u["after"]["blob"], "X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==");
    let f = topic(&evs, "tidemark.public.f");
    let u = payload(f[1]);
    assert_eq!(u["before"]["n"], 0, "FULL identity: before is the whole old row");
    assert_eq!(
        u["after"]["big"].as_str().unwrap().len(),
        9600,
        "FULL identity: TOAST value copied from the old row"
    );
    // Keyless FULL table: deletes carry the whole row and a null key; Debezium 3.6 still follows each
    // with a (null-key) tombstone (checked against the real connector in debezium_golden.rs).
    let k = topic(&evs, "tidemark.public.k");
    assert_eq!(ops(&k), vec!["c", "c", "d", "tombstone", "d", "tombstone"]);
    assert!(k[2]["key"].is_null());
    assert_eq!(payload(k[2])["before"]["b"], "a");
}

#[test]
fn truncate_skipped_by_default_emitted_when_asked() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY)").unwrap();
    let out = tempdir();
    setup_slot(&pg, out.path(), "t", &[]);
    pg.psql("postgres", "INSERT INTO t VALUES (1); TRUNCATE t;").unwrap();
    run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &["--tables", "t", "--until-lsn", "current"]));
    assert_eq!(ops(&topic(&read_events(out.path()), "tidemark.public.t")), vec!["c"]);
    let out2 = tempdir();
    pg.psql("postgres", "INSERT INTO t VALUES (2); TRUNCATE t;").unwrap();
    run_ok(stream_cmd(
        &pg.dsn("postgres"),
        out2.path(),
        &["--tables", "t", "--until-lsn", "current", "--set", "skipped.operations=none"],
    ));
    let evs = read_events(out2.path());
    let t = topic(&evs, "tidemark.public.t");
    assert_eq!(ops(&t), vec!["c", "t"]);
    assert!(t[1]["key"].is_null());
}

#[test]
fn transaction_metadata_and_logical_messages() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY);").unwrap();
    let out = tempdir();
    setup_slot(&pg, out.path(), "a,b", &[]);
    pg.psql(
        "postgres",
        "BEGIN; INSERT INTO a VALUES (1); INSERT INTO b VALUES (1); INSERT INTO a VALUES (2);
         SELECT pg_logical_emit_message(true, 'app', 'hello'); COMMIT;",
    )
    .unwrap();
    run_ok(stream_cmd(
        &pg.dsn("postgres"),
        out.path(),
        &[
            "--tables",
            "a,b",
            "--until-lsn",
            "current",
            "--set",
            "provide.transaction.metadata=true",
            "--set",
            "value.converter.schemas.enable=false",
            "--set",
            "key.converter.schemas.enable=false",
        ],
    ));
    let evs = read_events(out.path());
    let tx = topic(&evs, "tidemark.transaction");
    assert_eq!(tx.len(), 2);
    assert_eq!(tx[0]["value"]["status"], "BEGIN");
    assert_eq!(tx[1]["value"]["status"], "END");
    // The real connector counts a transactional logical message as an event of its transaction, in a
    // data collection of its own (fixtures/messages_txmeta.jsonl): 3 rows + 1 message.
    assert_eq!(tx[1]["value"]["event_count"], 4);
    let cols = tx[1]["value"]["data_collections"].as_array().unwrap();
    assert_eq!(cols.len(), 3);
    let a = topic(&evs, "tidemark.public.a");
    let block = &payload(a[1])["transaction"];
    assert_eq!(block["total_order"], 3);
    assert_eq!(block["data_collection_order"], 2);
    let xid = tx[0]["value"]["id"].as_str().unwrap().split(':').next().unwrap().to_string();
    assert!(block["id"].as_str().unwrap().starts_with(&format!("{xid}:")));
    let m = topic(&evs, "tidemark.message");
    assert_eq!(m.len(), 1);
    assert_eq!(m[0]["value"]["op"], "m");
    assert_eq!(m[0]["value"]["message"]["prefix"], "app");
    assert_eq!(m[0]["value"]["message"]["content"], "aGVsbG8=");
    assert_eq!(m[0]["key"]["prefix"], "app");
    assert_eq!(m[0]["value"]["transaction"]["total_order"], 4);
    assert_eq!(m[0]["value"]["transaction"]["data_collection_order"], 1);
    // Heartbeats are never emitted as events.
    assert!(evs.iter().all(|e| !e.to_string().contains("tidemark.heartbeat")));
}

#[test]
fn partitioned_table_arrives_under_root_topic() {
    let pg = Cluster::start().unwrap();
    pg.psql(
        "postgres",
        "CREATE TABLE m (id int, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
         CREATE TABLE m_eu PARTITION OF m FOR VALUES IN ('eu');
         CREATE TABLE m_us PARTITION OF m FOR VALUES IN ('us');",
    )
    .unwrap();
    let out = tempdir();
    setup_slot(&pg, out.path(), "public.m", &[]);
    pg.psql("postgres", "INSERT INTO m VALUES (1, 'eu'), (2, 'us');").unwrap();
    run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &["--tables", "public.m", "--until-lsn", "current"]));
    let evs = read_events(out.path());
    assert_eq!(topic(&evs, "tidemark.public.m").len(), 2, "{evs:?}");
    assert!(topic(&evs, "tidemark.public.m_eu").is_empty());
}

#[test]
fn odd_identifiers_are_quoted() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE SCHEMA \"My Schema\"; CREATE TABLE \"My Schema\".\"Odd \"\"T\"\"\" (\"Id\" int PRIMARY KEY, \"väl ue\" text);").unwrap();
    let out = tempdir();
    let tables = "\"My Schema\".\"Odd \"\"T\"\"\"";
    run_ok(stream_cmd(
        &pg.dsn("postgres"),
        out.path(),
        &["--tables", tables, "--publication", "pub \"x\"", "--slot", "odd_slot", "--until-lsn", "current"],
    ));
    pg.psql("postgres", "INSERT INTO \"My Schema\".\"Odd \"\"T\"\"\" VALUES (1, 'v');").unwrap();
    run_ok(stream_cmd(
        &pg.dsn("postgres"),
        out.path(),
        &["--tables", tables, "--publication", "pub \"x\"", "--slot", "odd_slot", "--until-lsn", "current"],
    ));
    let evs = read_events(out.path());
    // Characters Kafka rejects in topic names become '_', as Debezium does.
    let t = topic(&evs, "tidemark.My_Schema.Odd__T_");
    assert_eq!(t.len(), 1, "{evs:?}");
    assert_eq!(payload(t[0])["after"]["väl ue"], "v");
}
