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

#[test]
fn typed_sink_gets_values_positions_transactions_and_origins() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY, v text)").unwrap();
    let dsn = tidemark_pgwire::Dsn::parse(&pg.dsn("postgres")).unwrap();
    let mut opts = StreamOptions::new(dsn, "typed_pub", "typed_slot");
    opts.tables = vec!["public.t".into()];
    opts.heartbeat_interval = std::time::Duration::ZERO;
    opts.offsets = None;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(tidemark_sources::stream::prepare(&opts)).unwrap();
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
    let end: Lsn = pg.psql("postgres", "SELECT pg_current_wal_insert_lsn()").unwrap().trim().parse().unwrap();
    opts.until_lsn = Some(end);
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Collect { events: events.clone(), acks: None };
    let (_keep, shutdown) = tokio::sync::watch::channel(false);
    let summary = rt
        .block_on(tidemark_sources::stream::run(
            opts,
            Output::new(Destination::Events(Box::new(sink))),
            shutdown,
        ))
        .unwrap();
    assert!(summary.confirmed_lsn >= end, "confirmed {} before {end}", summary.confirmed_lsn);

    let evs = events.lock().unwrap();
    let changes: Vec<_> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Change(c) => Some(&c.event),
            _ => None,
        })
        .collect();
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
