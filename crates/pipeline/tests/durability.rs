//! The no-loss contract of the pipeline, proven with a fault-injecting sink and no database:
//! a failed write, sync or acknowledgement never advances the durable position; acknowledgements
//! out of order confirm only the contiguous prefix; a sink that hangs turns into backpressure.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tidemark_debezium::{Encoder, EncoderConfig};
use tidemark_model::{Lsn, SourceInfo};
use tidemark_pipeline::{
    AckSender, DeliverOptions, Destination, Event, Output, PipelineError, PipelineOptions, Record, Running,
    Sink, SinkError, SourceBatch, Ticket,
};

/// What the fault sink does.
#[derive(Default, Clone)]
struct Faults {
    /// `send` of this ticket fails.
    fail_send: Option<Ticket>,
    /// `sync` fails.
    fail_sync: bool,
    /// This ticket is reported failed when synced.
    fail_ack: Option<Ticket>,
    /// Acknowledge nothing until released (a broker that stopped answering).
    hold_acks: bool,
    /// `send` never returns once this many tickets were accepted.
    hang_send_after: Option<usize>,
    /// Acknowledge synced tickets newest first.
    reverse: bool,
    /// `send` of this ticket panics (a bug in a sink).
    panic_send: Option<Ticket>,
}

#[derive(Default)]
struct State {
    accepted: Vec<Ticket>,
    unacked: Vec<Ticket>,
    records: usize,
    released: bool,
    acks: Option<AckSender>,
}

/// The held acknowledgements arrive, as a broker's would after it recovers, without any call into
/// the sink.
fn release(state: &Arc<Mutex<State>>) {
    let mut st = state.lock().unwrap();
    st.released = true;
    let acks = st.acks.clone().unwrap();
    for t in std::mem::take(&mut st.unacked) {
        acks.durable(t);
    }
}

struct FaultSink {
    faults: Faults,
    state: Arc<Mutex<State>>,
    acks: Option<AckSender>,
}

impl FaultSink {
    fn ack_pending(&mut self) {
        let mut st = self.state.lock().unwrap();
        if self.faults.hold_acks && !st.released {
            return;
        }
        let mut ts = std::mem::take(&mut st.unacked);
        if self.faults.reverse {
            ts.reverse();
        }
        let acks = self.acks.as_ref().unwrap();
        for t in ts {
            if Some(t) == self.faults.fail_ack {
                acks.failed(t, SinkError::Unusable { dest: "fault".into(), reason: "refused".into() });
            } else {
                acks.durable(t);
            }
        }
    }
}

#[async_trait]
impl Sink<Record> for FaultSink {
    fn attach(&mut self, acks: AckSender) {
        self.state.lock().unwrap().acks = Some(acks.clone());
        self.acks = Some(acks);
    }
    async fn send(&mut self, ticket: Ticket, items: Vec<Record>) -> Result<(), SinkError> {
        if Some(ticket) == self.faults.fail_send {
            return Err(SinkError::Io {
                dest: "fault".into(),
                source: std::io::Error::other("disk on fire"),
            });
        }
        if Some(ticket) == self.faults.panic_send {
            panic!("sink bug on purpose");
        }
        if self.faults.hang_send_after.is_some_and(|n| self.state.lock().unwrap().accepted.len() >= n) {
            std::future::pending::<()>().await;
        }
        let mut st = self.state.lock().unwrap();
        st.accepted.push(ticket);
        st.unacked.push(ticket);
        st.records += items.len();
        Ok(())
    }
    async fn sync(&mut self) -> Result<(), SinkError> {
        if self.faults.fail_sync {
            return Err(SinkError::Io {
                dest: "fault".into(),
                source: std::io::Error::other("fsync failed"),
            });
        }
        self.ack_pending();
        Ok(())
    }
    async fn close(&mut self) -> Result<(), SinkError> {
        self.sync().await
    }
    fn describe(&self) -> String {
        "fault".into()
    }
}

fn message(i: u64) -> Event {
    Event::Message {
        prefix: "p".into(),
        content: Bytes::from(vec![b'x'; 100]),
        transactional: false,
        source: SourceInfo { ts_us: 0, lsn: Some(Lsn(i)), ..Default::default() },
    }
}

fn start(faults: Faults, deliver: DeliverOptions) -> (Running, Arc<Mutex<State>>) {
    let state = Arc::new(Mutex::new(State::default()));
    let sink = FaultSink { faults, state: state.clone(), acks: None };
    let mut opts = PipelineOptions::new(Encoder::new(EncoderConfig::default()));
    opts.deliver = deliver;
    (Running::start(Output::new(Destination::Records(Box::new(sink))), &opts), state)
}

fn quick() -> DeliverOptions {
    DeliverOptions { flush_interval: Duration::from_millis(20), ..Default::default() }
}

async fn send(p: &Running, lsn: u64) -> bool {
    p.input.send(SourceBatch { events: vec![message(lsn)], checkpoint: Some(Lsn(lsn)) }).await.is_ok()
}

#[tokio::test]
async fn everything_acknowledged_confirms_the_last_checkpoint() {
    let (p, state) = start(Faults::default(), quick());
    for l in [10, 20, 30] {
        assert!(send(&p, l).await);
    }
    let durable = p.durable.clone();
    p.finish().await.expect("clean finish");
    assert_eq!(*durable.borrow(), Lsn(30));
    assert_eq!(state.lock().unwrap().records, 3);
}

#[tokio::test]
async fn failed_write_never_advances_the_confirmed_position() {
    let (p, _) = start(Faults { fail_send: Some(2), ..Default::default() }, quick());
    for l in [10, 20, 30] {
        let _ = send(&p, l).await;
    }
    let durable = p.durable.clone();
    let err = p.finish().await.expect_err("the write failed");
    assert!(matches!(err.1, PipelineError::Sink(SinkError::Io { .. })), "{:?}", err.1);
    assert!(*durable.borrow() <= Lsn(10), "confirmed {} past the failed write", *durable.borrow());
}

#[tokio::test]
async fn failed_flush_never_advances_the_confirmed_position() {
    let (p, state) = start(Faults { fail_sync: true, ..Default::default() }, quick());
    for l in [10, 20, 30] {
        let _ = send(&p, l).await;
    }
    let durable = p.durable.clone();
    let err = p.finish().await.expect_err("the sync failed");
    assert!(matches!(err.1, PipelineError::Sink(SinkError::Io { .. })));
    assert_eq!(*durable.borrow(), Lsn::ZERO);
    assert!(state.lock().unwrap().records >= 1, "the sink did receive records");
}

#[tokio::test]
async fn failed_acknowledgement_never_advances_past_it() {
    let (p, _) = start(Faults { fail_ack: Some(2), ..Default::default() }, quick());
    let _ = send(&p, 10).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    for l in [20, 30] {
        let _ = send(&p, l).await;
    }
    let durable = p.durable.clone();
    let err = p.finish().await.expect_err("ticket 2 failed");
    assert!(matches!(err.1, PipelineError::Sink(SinkError::Unusable { .. })));
    assert_eq!(*durable.borrow(), Lsn(10));
}

#[tokio::test]
async fn out_of_order_acknowledgements_confirm_only_the_contiguous_prefix() {
    // Tickets are acknowledged newest first, and ticket 1 only at release: until then nothing at or
    // after checkpoint 10 may be confirmed although 2..=5 are durable.
    let state = Arc::new(Mutex::new(State::default()));
    struct Late {
        inner: FaultSink,
    }
    #[async_trait]
    impl Sink<Record> for Late {
        fn attach(&mut self, acks: AckSender) {
            self.inner.attach(acks);
        }
        async fn send(&mut self, t: Ticket, items: Vec<Record>) -> Result<(), SinkError> {
            self.inner.send(t, items).await
        }
        async fn sync(&mut self) -> Result<(), SinkError> {
            let released = self.inner.state.lock().unwrap().released;
            if !released {
                // Acknowledge everything except ticket 1, newest first.
                let mut st = self.inner.state.lock().unwrap();
                let mut ts: Vec<Ticket> = st.unacked.iter().copied().filter(|t| *t != 1).collect();
                st.unacked.retain(|t| *t == 1);
                ts.reverse();
                for t in ts {
                    self.inner.acks.as_ref().unwrap().durable(t);
                }
                return Ok(());
            }
            self.inner.ack_pending();
            Ok(())
        }
        async fn close(&mut self) -> Result<(), SinkError> {
            self.inner.state.lock().unwrap().released = true;
            self.sync().await
        }
        fn describe(&self) -> String {
            "late".into()
        }
    }
    let sink = Late { inner: FaultSink { faults: Faults::default(), state: state.clone(), acks: None } };
    let mut opts = PipelineOptions::new(Encoder::new(EncoderConfig::default()));
    opts.deliver = quick();
    let out = Output::new(Destination::Records(Box::new(sink)));
    let p = Running::start(out, &opts);
    for l in [10, 20, 30, 40, 50] {
        assert!(send(&p, l).await);
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(state.lock().unwrap().accepted.len(), 5);
    assert_eq!(*p.durable.borrow(), Lsn::ZERO, "tickets 2..5 durable, 1 not: nothing may be confirmed");
    // Release ticket 1 through the sink's own path, as a late broker acknowledgement would.
    state.lock().unwrap().released = true;
    let durable = p.durable.clone();
    let out = p.finish().await.expect("clean finish");
    assert_eq!(*durable.borrow(), Lsn(50));
    out.close().await.unwrap();
}

#[tokio::test]
async fn hung_sink_applies_backpressure_instead_of_growing_memory() {
    // The sink accepts but never acknowledges: in flight is capped at 50 records, and the source's
    // sends block once the channels before the deliver stage are full.
    let limits = DeliverOptions {
        flush_interval: Duration::from_millis(10),
        max_in_flight_records: 50,
        max_in_flight_bytes: usize::MAX,
    };
    let (p, state) = start(Faults { hold_acks: true, ..Default::default() }, limits);
    let mut sent = 0u64;
    for l in 1..=10_000u64 {
        match tokio::time::timeout(Duration::from_millis(200), send(&p, l)).await {
            Ok(true) => sent += 1,
            _ => break,
        }
    }
    let accepted = state.lock().unwrap().records;
    assert!(sent < 100, "the source kept sending ({sent} batches) into a sink that acknowledges nothing");
    assert!(accepted <= 50, "the sink was handed {accepted} records past the in-flight bound of 50");
    assert_eq!(*p.durable.borrow(), Lsn::ZERO);
    // Released, everything drains and is confirmed.
    release(&state);
    let durable = p.durable.clone();
    p.finish().await.expect("drains once the sink answers");
    assert_eq!(*durable.borrow(), Lsn(sent));
}

#[tokio::test]
async fn sink_whose_send_hangs_applies_backpressure() {
    let (p, state) = start(Faults { hang_send_after: Some(3), ..Default::default() }, quick());
    let mut sent = 0u64;
    for l in 1..=10_000u64 {
        match tokio::time::timeout(Duration::from_millis(200), send(&p, l)).await {
            Ok(true) => sent += 1,
            _ => break,
        }
    }
    assert!(sent < 20, "the source kept sending ({sent} batches) into a sink whose send never returns");
    assert!(*p.durable.borrow() <= Lsn(3));
    assert_eq!(state.lock().unwrap().accepted.len(), 3);
}

#[tokio::test]
async fn checkpoint_without_records_is_confirmed_only_after_earlier_records() {
    let (p, state) = start(Faults { hold_acks: true, ..Default::default() }, quick());
    assert!(send(&p, 10).await);
    p.input.send(SourceBatch { events: vec![], checkpoint: Some(Lsn(99)) }).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        *p.durable.borrow(),
        Lsn::ZERO,
        "a keepalive position may not overtake unacknowledged records"
    );
    state.lock().unwrap().released = true;
    let durable = p.durable.clone();
    p.finish().await.unwrap();
    assert_eq!(*durable.borrow(), Lsn(99));
}

#[tokio::test]
async fn a_change_that_cannot_be_encoded_stops_after_delivering_what_came_before_it_unconfirmed() {
    use std::sync::Arc as A;
    use tidemark_debezium::TablePlan;
    use tidemark_model::{ChangeEvent, ChangeKind, Column, Datum, ReplicaIdentity, TableId, TableSchema};
    let table = A::new(TableSchema {
        oid: 1,
        id: TableId::new("public", "t"),
        replica_identity: ReplicaIdentity::Default,
        columns: vec![Column {
            name: "n".into(),
            type_oid: 1700,
            type_modifier: -1,
            is_key: true,
            nullable: false,
            default: None,
        }],
        primary_key: vec![0],
    });
    let cfg = EncoderConfig::default();
    let plan = A::new(TablePlan::build(table.clone(), &Default::default(), &cfg).unwrap());
    let change = |v: &str, lsn: u64| {
        Event::Change(tidemark_pipeline::Change {
            plan: plan.clone(),
            event: ChangeEvent {
                table: table.clone(),
                kind: ChangeKind::Insert,
                before: None,
                after: Some(vec![Datum::Text(Bytes::from(v.to_string()))]),
                source: SourceInfo { lsn: Some(Lsn(lsn)), ..Default::default() },
                tx: None,
            },
        })
    };
    let (p, state) = start(Faults::default(), quick());
    assert!(send(&p, 10).await);
    // NaN in a key column under decimal.handling.mode=precise: Debezium stops there.
    let batch = vec![change("1", 11), change("NaN", 12), change("2", 13)];
    let _ = p.input.send(SourceBatch { events: batch, checkpoint: Some(Lsn(20)) }).await;
    let durable = p.durable.clone();
    let err = p.finish().await.expect_err("the NaN key stops the pipeline");
    assert!(matches!(err.1, PipelineError::EventFailed { .. }), "{:?}", err.1);
    assert_eq!(*durable.borrow(), Lsn(10), "nothing of the failing batch may be confirmed");
    // The message before, then the change before the failing one; nothing after it.
    assert_eq!(state.lock().unwrap().records, 2);
}

#[tokio::test]
async fn a_destination_gone_while_idle_closes_the_input_at_once() {
    // The reader of a pipe exits while nothing is being written: the source must learn of it without
    // sending anything (it waits on `input.closed()`), so it stops and releases the slot.
    struct Vanishing {
        gone: tokio::sync::watch::Receiver<bool>,
    }
    #[async_trait]
    impl Sink<Record> for Vanishing {
        fn attach(&mut self, _: AckSender) {}
        async fn send(&mut self, _: Ticket, _: Vec<Record>) -> Result<(), SinkError> {
            Ok(())
        }
        async fn sync(&mut self) -> Result<(), SinkError> {
            Ok(())
        }
        async fn close(&mut self) -> Result<(), SinkError> {
            Ok(())
        }
        fn describe(&self) -> String {
            "vanishing".into()
        }
        fn gone(&self) -> Option<tokio::sync::watch::Receiver<bool>> {
            Some(self.gone.clone())
        }
    }
    let (tx, gone) = tokio::sync::watch::channel(false);
    let opts = PipelineOptions::new(Encoder::new(EncoderConfig::default()));
    let p = Running::start(Output::new(Destination::Records(Box::new(Vanishing { gone }))), &opts);
    tokio::time::sleep(Duration::from_millis(50)).await;
    tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), p.input.closed())
        .await
        .expect("input closed once the sink is gone");
    let err = p.finish().await.expect_err("the sink went away");
    assert!(matches!(err.1, PipelineError::Sink(SinkError::ConsumerGone { .. })), "{:?}", err.1);
}

#[tokio::test]
async fn a_panicking_sink_is_an_internal_error_and_confirms_nothing_after_it() {
    // Internal failures have their own variant (not a database or protocol error), are not transient
    // (a retry would panic again), and the position stops before the ticket that panicked.
    let (p, _state) = start(Faults { panic_send: Some(2), ..Default::default() }, quick());
    for l in 1..=5u64 {
        if !send(&p, l).await {
            break;
        }
    }
    let durable = p.durable.clone();
    let (_, err) = p.finish().await.expect_err("the deliver stage panicked");
    assert!(
        matches!(&err, PipelineError::Panicked { stage: "deliver", message } if message.contains("sink bug on purpose")),
        "{err:?}"
    );
    assert!(!err.is_transient());
    assert!(err.to_string().contains("bug in tidemark"), "{err}");
    assert!(*durable.borrow() < Lsn(3), "confirmed {} past the ticket that panicked", *durable.borrow());
}
