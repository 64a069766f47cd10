//! The deliver stage: owns the sink, hands it batches with tickets, turns acknowledgements into the
//! durable position the source may confirm.
//!
//! Why it never waits for durability before sending more: a broker's acknowledgement latency (or an
//! fsync) would otherwise become the pipeline's throughput limit. It keeps sending while
//! acknowledgements are outstanding, bounded by in-flight records and bytes; past the bound it stops
//! reading its input, the bounded channel before it fills, and the source blocks — a slow or hung sink
//! becomes backpressure, never memory.
//!
//! Invariants:
//! - the durable position only ever comes from [`Tracker`]: the checkpoint of the contiguous prefix of
//!   acknowledged tickets. A failed `send`, `sync` or [`Ack::Failed`] stops the stage with that error
//!   and publishes nothing more;
//! - while a checkpoint waits on them, records are made durable (`Sink::sync`) at most
//!   `flush_interval` after they were accepted, and sooner when the pipeline goes idle (but not more
//!   often than [`IDLE_SYNC_MIN`]); with no checkpoint waiting (a diff, an open transaction) there is
//!   nothing to confirm, so the sink is not asked until the bound fills or the input ends — a stream of
//!   fsyncs would only slow the source down;
//! - at the end of its input the stage syncs and waits until every ticket is acknowledged, so the
//!   position it leaves published covers everything it was given.

use std::time::Duration;

use tidemark_model::Lsn;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::error::PipelineError;
use crate::sink::{Ack, AckReceiver, AckSender, Sink, SinkError, Weigh};
use crate::tracker::Tracker;

/// When the pipeline goes idle with records pending, make them durable at once — but not more often
/// than this, so a stream of tiny transactions does not turn into an fsync per transaction.
pub const IDLE_SYNC_MIN: Duration = Duration::from_millis(50);

/// Items for the sink plus the position they cover.
#[derive(Debug)]
pub struct Batch<T> {
    /// Items in order.
    pub items: Vec<T>,
    /// Every event at or before this position is in this batch or an earlier one.
    pub checkpoint: Option<Lsn>,
}

/// Bounds and timing of the deliver stage.
#[derive(Debug, Clone, Copy)]
pub struct DeliverOptions {
    /// Longest time accepted records wait before the sink is asked to make them durable.
    pub flush_interval: Duration,
    /// Most records accepted by the sink and not yet acknowledged.
    pub max_in_flight_records: usize,
    /// Most bytes accepted by the sink and not yet acknowledged.
    pub max_in_flight_bytes: usize,
}

impl Default for DeliverOptions {
    fn default() -> Self {
        DeliverOptions {
            flush_interval: Duration::from_secs(1),
            max_in_flight_records: 200_000,
            max_in_flight_bytes: 64 << 20,
        }
    }
}

/// A sink with its acknowledgement channel attached; survives across source reconnects.
pub struct Attached<T: Send + 'static> {
    sink: Box<dyn Sink<T>>,
    acks: AckReceiver,
    // Held so the channel never reports closed while the sink is alive.
    _keep: AckSender,
}

impl<T: Send + 'static> std::fmt::Debug for Attached<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attached").field("sink", &self.sink.describe()).finish()
    }
}

impl<T: Send + 'static> Attached<T> {
    /// Attach a fresh acknowledgement channel to a sink.
    pub fn new(mut sink: Box<dyn Sink<T>>) -> Self {
        let (tx, rx) = AckSender::channel();
        sink.attach(tx.clone());
        Attached { sink, acks: rx, _keep: tx }
    }

    /// Make everything durable and release the sink.
    pub async fn close(mut self) -> Result<(), SinkError> {
        self.sink.close().await
    }
}

/// Run until `rx` closes and everything is acknowledged, or the sink fails. Returns the sink for reuse
/// after a source reconnect.
pub async fn run<T: Weigh + Send + 'static>(
    mut att: Attached<T>,
    mut rx: mpsc::Receiver<Batch<T>>,
    durable: watch::Sender<Lsn>,
    opts: DeliverOptions,
) -> (Attached<T>, Result<(), PipelineError>) {
    let res = deliver(&mut att, &mut rx, &durable, opts).await;
    (att, res)
}

async fn deliver<T: Weigh + Send + 'static>(
    att: &mut Attached<T>,
    rx: &mut mpsc::Receiver<Batch<T>>,
    durable: &watch::Sender<Lsn>,
    opts: DeliverOptions,
) -> Result<(), PipelineError> {
    let Attached { sink, acks, .. } = att;
    let mut tracker = Tracker::<Lsn>::new();
    let mut dirty = false;
    let mut deadline = Instant::now();
    let mut last_sync = Instant::now();
    let mut gone = sink.gone();
    let dest = sink.describe();
    let publish = |p: Lsn| {
        durable.send_if_modified(|d| {
            let moved = p > *d;
            *d = (*d).max(p);
            moved
        });
    };
    loop {
        let (records, bytes) = tracker.in_flight();
        let room = records < opts.max_in_flight_records && bytes < opts.max_in_flight_bytes;
        if !room && dirty {
            // At the bound: ask for durability now rather than at the interval, or a sink that
            // acknowledges only on sync (files) would idle until the deadline.
            sink.sync().await?;
            dirty = false;
            last_sync = Instant::now();
        }
        tokio::select! {
            biased;
            ack = next_ack(acks, &mut gone, &dest) => {
                if let Some(p) = on_ack(&mut tracker, ack?)? {
                    publish(p);
                }
            }
            _ = tokio::time::sleep_until(deadline), if dirty && tracker.awaits_checkpoint() => {
                sink.sync().await?;
                dirty = false;
                last_sync = Instant::now();
            }
            item = rx.recv(), if room => {
                let Some(batch) = item else { break };
                let bytes: usize = batch.items.iter().map(Weigh::weight).sum();
                let (ticket, moved) = tracker.issue(batch.checkpoint, batch.items.len(), bytes);
                if let Some(p) = moved {
                    publish(p);
                }
                if let Some(t) = ticket {
                    metrics::counter!(crate::metrics::SINK_RECORDS).increment(batch.items.len() as u64);
                    sink.send(t, batch.items).await?;
                    if !dirty {
                        dirty = true;
                        deadline = Instant::now() + opts.flush_interval;
                    }
                }
                if dirty && rx.is_empty() && tracker.awaits_checkpoint() {
                    // Idle: nothing more to batch with, so make it durable soon rather than at the interval.
                    if last_sync.elapsed() >= IDLE_SYNC_MIN {
                        sink.sync().await?;
                        dirty = false;
                        last_sync = Instant::now();
                    } else {
                        sink.drain().await?;
                        deadline = deadline.min(last_sync + IDLE_SYNC_MIN);
                    }
                }
            }
        }
    }
    // End of input: make everything durable and wait for every acknowledgement.
    sink.sync().await?;
    while !tracker.is_settled() {
        if let Some(p) = on_ack(&mut tracker, next_ack(acks, &mut gone, &dest).await?)? {
            publish(p);
        }
    }
    Ok(())
}

/// The sink's next acknowledgement; an error once its destination has gone away for good.
async fn next_ack(
    acks: &mut AckReceiver,
    gone: &mut Option<watch::Receiver<bool>>,
    dest: &str,
) -> Result<Option<Ack>, PipelineError> {
    tokio::select! {
        biased;
        ack = acks.recv() => Ok(ack),
        _ = destination_gone(gone) => Err(SinkError::ConsumerGone { dest: dest.to_string() }.into()),
    }
}

fn on_ack(tracker: &mut Tracker<Lsn>, ack: Option<Ack>) -> Result<Option<Lsn>, PipelineError> {
    match ack {
        Some(Ack::Durable(t)) => Ok(tracker.ack(t)?),
        Some(Ack::Failed(_, e)) => Err(e.into()),
        // `Attached` holds a sender, so the channel cannot close while the stage runs.
        None => Err(PipelineError::StageStopped { stage: "acknowledgement" }),
    }
}

/// Resolves once the sink's destination has gone away for good ([`Sink::gone`]); never otherwise.
async fn destination_gone(gone: &mut Option<watch::Receiver<bool>>) {
    if let Some(rx) = gone {
        if rx.wait_for(|g| *g).await.is_ok() {
            return;
        }
    }
    std::future::pending().await
}
