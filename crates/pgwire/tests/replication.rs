//! The replication client against a real server: slot creation with an exported snapshot,
//! START_REPLICATION with protocol 1 and 2, every DML message kind, and status updates.

use std::time::Duration;

use tidemark_pgwire::pgoutput::{PgOutput, StreamState, TupleValue};
use tidemark_pgwire::{Dsn, ReplicationMessage, ReplicationStream, StartOptions};
use tidemark_testkit::Cluster;

async fn collect_until_commits(
    stream: &mut ReplicationStream,
    commits: usize,
) -> Vec<(tidemark_pgwire::Lsn, bytes::Bytes, PgOutput)> {
    let mut st = StreamState::default();
    let mut out = Vec::new();
    let mut seen = 0;
    while seen < commits {
        let m = tokio::time::timeout(Duration::from_secs(20), stream.next_message())
            .await
            .expect("timed out waiting for replication data")
            .expect("stream error");
        if let ReplicationMessage::XLogData { wal_start, data, .. } = m {
            let msg = st.decode(data.clone()).expect("decodes");
            if matches!(msg, PgOutput::Commit { .. } | PgOutput::StreamCommit { .. }) {
                seen += 1;
            }
            out.push((wal_start, data, msg));
        }
    }
    out
}

#[tokio::test]
async fn proto1_every_dml_message() {
    let pg = Cluster::start().unwrap();
    pg.psql(
        "postgres",
        "CREATE TABLE t (id int PRIMARY KEY, v text, big text);
         ALTER TABLE t ALTER COLUMN big SET STORAGE EXTERNAL;
         CREATE TABLE f (id int, v text); ALTER TABLE f REPLICA IDENTITY FULL;
         CREATE PUBLICATION p FOR TABLE t, f;",
    )
    .unwrap();
    let dsn = Dsn::parse(&pg.dsn("postgres")).unwrap();
    let mut rs = ReplicationStream::connect(&dsn).await.unwrap();
    let sys = rs.identify_system().await.unwrap();
    assert!(!sys.system_id.is_empty());
    let slot = rs.create_slot("s1", false, true).await.unwrap();
    assert!(slot.snapshot_name.is_some());
    assert!(!slot.consistent_point.is_zero());
    pg.psql(
        "postgres",
        "INSERT INTO t VALUES (1, 'a', repeat('x', 10000));
         UPDATE t SET v = 'b' WHERE id = 1;
         UPDATE t SET id = 2 WHERE id = 1;
         DELETE FROM t WHERE id = 2;
         INSERT INTO f VALUES (1, NULL); UPDATE f SET v = 'z'; DELETE FROM f;
         TRUNCATE t;
         SELECT pg_logical_emit_message(false, 'pfx', 'hello');",
    )
    .unwrap();
    rs.start(&StartOptions {
        slot: "s1".into(),
        publications: vec!["p".into()],
        proto_version: 1,
        streaming: false,
        messages: true,
        start_lsn: tidemark_pgwire::Lsn::ZERO,
    })
    .await
    .unwrap();
    // psql -c runs the statements as one transaction; the non-transactional message arrives separately.
    let msgs = collect_until_commits(&mut rs, 1).await;
    let kinds: Vec<char> = msgs.iter().map(|(_, d, _)| d[0] as char).collect();
    // The non-transactional message is decoded (and sent) before the transaction's commit record.
    assert_eq!(kinds[..2], ['M', 'B'], "{kinds:?}");
    assert!(kinds.contains(&'R') && kinds.contains(&'T'), "{kinds:?}");
    let inserts: Vec<_> = msgs.iter().filter(|m| matches!(m.2, PgOutput::Insert { .. })).collect();
    assert_eq!(inserts.len(), 2);
    // UPDATE of a non-key column: unchanged TOAST value is 'u', no old tuple.
    let updates: Vec<_> = msgs
        .iter()
        .filter_map(|m| match &m.2 {
            PgOutput::Update { old, new, .. } => Some((old.clone(), new.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(updates.len(), 3);
    assert!(updates[0].0.is_none());
    assert_eq!(updates[0].1[2], TupleValue::UnchangedToast);
    // Key change: old key 'K' is sent.
    assert_eq!(updates[1].0.as_ref().unwrap().0, b'K');
    // FULL identity: old row 'O'.
    assert_eq!(updates[2].0.as_ref().unwrap().0, b'O');
    let deletes: Vec<_> = msgs
        .iter()
        .filter_map(|m| match &m.2 {
            PgOutput::Delete { kind, .. } => Some(*kind),
            _ => None,
        })
        .collect();
    assert_eq!(deletes, vec![b'K', b'O']);
    match &msgs[0].2 {
        PgOutput::Message { transactional, prefix, content, .. } => {
            assert!(!transactional);
            assert_eq!(prefix, "pfx");
            assert_eq!(&content[..], b"hello");
        }
        other => panic!("unexpected {other:?}"),
    }
    if std::env::var("TIDEMARK_DUMP_PGOUTPUT").is_ok() {
        for (_, d, _) in &msgs {
            println!("{}", d.iter().map(|b| format!("{b:02x}")).collect::<String>());
        }
    }
    // Confirm everything and see the slot move.
    let end = msgs
        .iter()
        .rev()
        .find_map(|m| match m.2 {
            PgOutput::Commit { end_lsn, .. } => Some(end_lsn),
            _ => None,
        })
        .unwrap();
    rs.send_status(end, end, false).await.unwrap();
    let ok = pg.wait_for(Duration::from_secs(10), || {
        let l = pg
            .psql("postgres", "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name='s1'")
            .unwrap();
        l.trim().parse::<tidemark_pgwire::Lsn>().unwrap_or_default() >= end
    });
    assert!(ok, "slot did not advance to the confirmed LSN");
    rs.finish().await.unwrap();
}

#[tokio::test]
async fn proto2_streams_large_transaction_in_chunks() {
    let pg = Cluster::builder().setting("logical_decoding_work_mem", "64kB").start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY, v text); CREATE PUBLICATION p FOR TABLE t;")
        .unwrap();
    let dsn = Dsn::parse(&pg.dsn("postgres")).unwrap();
    let mut rs = ReplicationStream::connect(&dsn).await.unwrap();
    rs.create_slot("s2", false, false).await.unwrap();
    pg.psql("postgres", "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 5000) g;").unwrap();
    rs.start(&StartOptions {
        slot: "s2".into(),
        publications: vec!["p".into()],
        proto_version: 2,
        streaming: true,
        messages: true,
        start_lsn: tidemark_pgwire::Lsn::ZERO,
    })
    .await
    .unwrap();
    let msgs = collect_until_commits(&mut rs, 1).await;
    let starts = msgs.iter().filter(|m| matches!(m.2, PgOutput::StreamStart { .. })).count();
    let inserts = msgs.iter().filter(|m| matches!(m.2, PgOutput::Insert { xid: Some(_), .. })).count();
    assert!(starts >= 2, "expected several chunks, got {starts}");
    assert_eq!(inserts, 5000);
    assert!(matches!(msgs.last().unwrap().2, PgOutput::StreamCommit { .. }));
}

#[tokio::test]
async fn copy_out_streams_rows_and_survives_a_failing_copy() {
    let pg = Cluster::start().unwrap();
    pg.psql(
        "postgres",
        "CREATE TABLE c (id int, v text); INSERT INTO c SELECT g, 'v' || g FROM generate_series(1, 50000) g",
    )
    .unwrap();
    let dsn = Dsn::parse(&pg.dsn("postgres")).unwrap();
    let mut conn = tidemark_pgwire::Connection::connect(&dsn, false).await.unwrap();
    conn.copy_out_start("COPY (SELECT id, v FROM c ORDER BY id) TO STDOUT").await.unwrap();
    let mut buf = Vec::new();
    while conn.copy_out_next(&mut buf).await.unwrap() {}
    let text = String::from_utf8(buf).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 50000);
    assert_eq!(lines[0], "1\tv1");
    assert_eq!(lines[49999], "50000\tv50000");
    // An error in the middle of the stream is reported and leaves the connection usable.
    conn.copy_out_start("COPY (SELECT 1 / (id - 40000) FROM c ORDER BY id) TO STDOUT").await.unwrap();
    let mut buf = Vec::new();
    let err = loop {
        match conn.copy_out_next(&mut buf).await {
            Ok(true) => {}
            Ok(false) => panic!("the COPY should fail"),
            Err(e) => break e.to_string(),
        }
    };
    assert!(err.contains("division by zero"), "{err}");
    // An error before the stream starts, too.
    let e = conn.copy_out_start("COPY (SELECT * FROM missing) TO STDOUT").await.unwrap_err().to_string();
    assert!(e.contains("missing"), "{e}");
    let r = conn.simple_query("SELECT count(*) AS n FROM c").await.unwrap();
    assert_eq!(r.get("n"), Some("50000"));
}
