//! The stream's typed events, seen by a typed sink through the pipeline: table, op, values, position,
//! transaction and replication origin arrive as values, not Debezium bytes.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tidemark_model::{ChangeKind, Datum, Lsn};
use tidemark_pipeline::{AckSender, Destination, Event, Output, Sink, SinkError, Ticket};
use tidemark_sources::stream::StreamOptions;
use tidemark_testkit::Cluster;

/// Keeps every event; acknowledges each batch at once.
struct Collect {
    events: Arc<Mutex<Vec<Event>>>,
    acks: Option<AckSender>,
}

#[async_trait]
impl Sink<Event> for Collect {
    fn attach(&mut self, acks: AckSender) {
        self.acks = Some(acks);
    }
    async fn send(&mut self, ticket: Ticket, items: Vec<Event>) -> Result<(), SinkError> {
        self.events.lock().unwrap().extend(items);
        self.acks.as_ref().unwrap().durable(ticket);
        Ok(())
    }
    async fn sync(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
    async fn close(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
    fn describe(&self) -> String {
        "collect".into()
    }
}

/// Stream everything written to `pg` so far into a [`Collect`] sink and return the events.
fn collect(pg: &Cluster, opts: StreamOptions) -> Vec<Event> {
    let mut opts = opts;
    let end: Lsn = pg.psql("postgres", "SELECT pg_current_wal_insert_lsn()").unwrap().trim().parse().unwrap();
    opts.until_lsn = Some(end);
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Collect { events: events.clone(), acks: None };
    let (_keep, shutdown) = tokio::sync::watch::channel(false);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let summary = rt
        .block_on(tidemark_sources::stream::run(
            opts,
            Output::new(Destination::Events(Box::new(sink))),
            shutdown,
        ))
        .unwrap();
    assert!(summary.confirmed_lsn >= end, "confirmed {} before {end}", summary.confirmed_lsn);
    let evs = events.lock().unwrap();
    evs.clone()
}

/// Options for table `t` on `pg`, with the slot and publication created.
fn options(pg: &Cluster, slot: &str) -> StreamOptions {
    let dsn = tidemark_pgwire::Dsn::parse(&pg.dsn("postgres")).unwrap();
    let mut opts = StreamOptions::new(dsn, &format!("{slot}_pub"), slot);
    opts.tables = vec!["public.t".into()];
    opts.heartbeat_interval = std::time::Duration::ZERO;
    opts.offsets = None;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(tidemark_sources::stream::prepare(&opts)).unwrap();
    opts
}

fn changes(evs: &[Event]) -> Vec<&tidemark_model::ChangeEvent> {
    evs.iter()
        .filter_map(|e| match e {
            Event::Change(c) => Some(&c.event),
            _ => None,
        })
        .collect()
}

#[test]
fn typed_sink_gets_values_positions_transactions_and_origins() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY, v text)").unwrap();
    let opts = options(&pg, "typed_slot");
    pg.psql("postgres", "INSERT INTO t VALUES (1, 'plain')").unwrap();
    // A transaction written under a replication origin, as a subscriber or another replication tool
    // writes its changes.
    pg.psql(
        "postgres",
        "SELECT pg_replication_origin_create('upstream_a');
         SELECT pg_replication_origin_session_setup('upstream_a');
         BEGIN; UPDATE t SET v = 'from upstream' WHERE id = 1; COMMIT;
         SELECT pg_replication_origin_session_reset();",
    )
    .unwrap();
    let evs = collect(&pg, opts);
    let changes = changes(&evs);
    assert_eq!(changes.len(), 2, "{evs:?}");
    let (ins, upd) = (changes[0], changes[1]);
    assert_eq!(ins.kind, ChangeKind::Insert);
    assert_eq!(ins.table.id.to_string(), "public.t");
    assert_eq!(ins.after.as_ref().unwrap()[1], Datum::Text("plain".into()));
    assert_eq!(ins.source.origin, None, "written without an origin");
    assert_eq!(upd.kind, ChangeKind::Update);
    assert_eq!(upd.after.as_ref().unwrap()[1], Datum::Text("from upstream".into()));
    assert_eq!(upd.source.origin.as_deref(), Some("upstream_a"));
    assert!(upd.source.lsn > ins.source.lsn && upd.source.tx_id != ins.source.tx_id);
    // Each change sits between its transaction's Begin and Commit.
    let kinds: Vec<&str> = evs
        .iter()
        .map(|e| match e {
            Event::Begin { .. } => "B",
            Event::Change(_) => "C",
            Event::Commit { .. } => "E",
            Event::Message { .. } => "M",
        })
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k != "M").copied().collect::<Vec<_>>(),
        ["B", "C", "E", "B", "C", "E"]
    );
}

/// Transactions large enough that the server streams them while in progress (protocol 2), written
/// under a replication origin. PostgreSQL assigns a transaction its origin only when it decodes the
/// commit, after the first chunk went out, and sends an Origin message only with the first chunk — so
/// for a streamed transaction the origin never reaches any client (PostgreSQL 15; tidemark would
/// carry one that arrived after StreamStart to every change at StreamCommit). What must hold: every
/// change arrives, and no origin is invented or leaks onto the transactions after it.
#[test]
fn streamed_transaction_origin_arrives_nowhere_and_leaks_nowhere() {
    let pg = Cluster::builder().setting("logical_decoding_work_mem", "64kB").start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY, v text)").unwrap();
    let spill = tempfile::tempdir().unwrap();
    let mut opts = options(&pg, "streamed_slot");
    opts.proto_version = 2;
    opts.streaming = true;
    opts.spill_dir = spill.path().to_path_buf();
    pg.psql(
        "postgres",
        "SELECT pg_replication_origin_create('upstream_b');
         SELECT pg_replication_origin_session_setup('upstream_b');
         BEGIN; INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series(1, 5000) g; ROLLBACK;
         BEGIN; INSERT INTO t SELECT g, repeat('y', 200) FROM generate_series(1, 5000) g; COMMIT;
         SELECT pg_replication_origin_session_reset();
         INSERT INTO t SELECT g, 'after' FROM generate_series(5001, 7000) g;",
    )
    .unwrap();
    let evs = collect(&pg, opts);
    let changes = changes(&evs);
    assert_eq!(changes.len(), 7000, "5,000 committed under the origin, 2,000 after");
    let origins: std::collections::HashSet<_> =
        changes[..5000].iter().map(|c| c.source.origin.clone()).collect();
    assert_eq!(origins.len(), 1, "one transaction, one origin: {origins:?}");
    assert!(matches!(origins.iter().next().unwrap().as_deref(), None | Some("upstream_b")), "{origins:?}");
    assert_eq!(
        changes[0].source.origin, None,
        "PostgreSQL 15 sent the origin of a streamed transaction: tidemark now carries it; make this test \
         expect Some(\"upstream_b\") and say so in docs/compatibility.md"
    );
    for c in &changes[5000..] {
        assert_eq!(c.source.origin, None, "written without an origin: {:?}", c.source);
    }
    let streamed_after: i64 = pg
        .psql(
            "postgres",
            "SELECT stream_txns FROM pg_stat_replication_slots WHERE slot_name = 'streamed_slot'",
        )
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(streamed_after >= 2, "the server streamed {streamed_after} transactions, not the two large ones");
}
