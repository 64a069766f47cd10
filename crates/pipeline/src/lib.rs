//! The one path every change takes, whatever produced it:
//!
//! ```text
//!   source ──SourceBatch──▶ encode (Debezium, byte sinks only) ──Batch──▶ deliver ──▶ sink
//!     ▲                                                                      │
//!     └──────────────────── durable position (watch) ◀── acknowledgements ◀─┘
//! ```
//!
//! Sources (`stream`, `diff`, and the snapshot, capture and recovery sources to come) hand over typed
//! [`Event`]s with checkpoints; they never see records or sinks. The sink's kind ([`Destination`])
//! decides whether the encode stage runs: byte sinks (stdout, files, Kafka, Event Hubs) get Debezium
//! [`Record`]s, typed sinks (apply to PostgreSQL) get the events. The deliver stage hands batches to the
//! sink without waiting for durability and publishes the durable position as acknowledgements arrive
//! ([`tracker`]); the only thing that flows back upstream is that position, which the source confirms
//! (the replication slot) or checkpoints.
//!
//! Invariants (the no-loss argument, DESIGN.md contract "No loss"):
//! - a position is published only when every event at or before it is durable at the destination;
//! - a failed write, failed sync or failed acknowledgement stops the pipeline and publishes nothing
//!   more, so the source restarts from the last published position and delivers the rest again;
//! - memory is bounded: channels are bounded and the deliver stage bounds what is in flight.

pub mod deliver;
pub mod encode;
pub mod error;
pub mod event;
pub mod metrics;
pub mod sink;
pub mod tracker;

use std::sync::Arc;

use tidemark_debezium::Encoder;
use tidemark_model::Lsn;
use tokio::sync::{mpsc, watch, Mutex};
use tokio::task::JoinHandle;

pub use deliver::{Attached, Batch, DeliverOptions};
pub use encode::{EncodeStage, FailureMode};
pub use error::PipelineError;
pub use event::{Change, Event, SourceBatch};
pub use sink::{
    Ack, AckReceiver, AckSender, Destination, EventSink, Record, RecordKind, RecordSink, Sink, SinkError,
    Ticket, Weigh,
};
pub use tracker::Tracker;

/// How a pipeline runs.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// The Debezium encoder (byte sinks).
    pub encoder: Encoder,
    /// What to do with a change that cannot be encoded.
    pub failure_mode: FailureMode,
    /// Encode tasks. More than one only for sources whose events carry no order (see [`encode`]).
    pub encode_workers: usize,
    /// Write each event's own time as the envelope's `ts_ms` (diff `--event-time`) instead of the clock.
    pub source_time: bool,
    /// Deliver-stage bounds and timing.
    pub deliver: DeliverOptions,
    /// Capacity, in batches, of the channel from the source.
    pub input_capacity: usize,
}

impl PipelineOptions {
    /// Defaults around an encoder.
    pub fn new(encoder: Encoder) -> Self {
        PipelineOptions {
            encoder,
            failure_mode: FailureMode::Fail,
            encode_workers: 1,
            source_time: false,
            deliver: DeliverOptions::default(),
            input_capacity: 4,
        }
    }
}

/// The sink side of a pipeline, kept across the source's reconnects.
#[derive(Debug)]
pub enum Output {
    /// A byte sink behind the encode stage.
    Records(Attached<Record>),
    /// A typed sink.
    Events(Attached<Event>),
}

impl Output {
    /// Attach a destination's acknowledgement channel.
    pub fn new(dest: Destination) -> Output {
        match dest {
            Destination::Records(s) => Output::Records(Attached::new(s)),
            Destination::Events(s) => Output::Events(Attached::new(s)),
        }
    }

    /// Make everything durable and release the sink.
    pub async fn close(self) -> Result<(), SinkError> {
        match self {
            Output::Records(a) => a.close().await,
            Output::Events(a) => a.close().await,
        }
    }
}

/// A running pipeline: the source's end.
#[derive(Debug)]
pub struct Running {
    /// Where the source sends its batches. Closed when a stage stopped (its error comes from
    /// [`Running::finish`]).
    pub input: mpsc::Sender<SourceBatch>,
    /// The highest position whose events are all durable (`0/0` until one is).
    pub durable: watch::Receiver<Lsn>,
    prepare: Vec<JoinHandle<Result<(), PipelineError>>>,
    deliver: JoinHandle<(Output, Result<(), PipelineError>)>,
}

impl Running {
    /// Start the stages around `output`.
    pub fn start(output: Output, opts: &PipelineOptions) -> Running {
        let (input, rx) = mpsc::channel::<SourceBatch>(opts.input_capacity.max(1));
        let (durable_tx, durable) = watch::channel(Lsn::ZERO);
        let dopts = opts.deliver;
        let (prepare, deliver) = match output {
            Output::Records(att) => {
                let (btx, brx) = mpsc::channel::<Batch<Record>>(1);
                let rx = Arc::new(Mutex::new(rx));
                let workers = opts.encode_workers.max(1);
                let prepare = (0..workers)
                    .map(|_| {
                        let stage =
                            EncodeStage::new(opts.encoder.clone(), opts.failure_mode, opts.source_time);
                        tokio::spawn(encode_loop(stage, rx.clone(), btx.clone()))
                    })
                    .collect();
                let deliver = tokio::spawn(async move {
                    let (att, res) = deliver::run(att, brx, durable_tx, dopts).await;
                    (Output::Records(att), res)
                });
                (prepare, deliver)
            }
            Output::Events(att) => {
                let (btx, brx) = mpsc::channel::<Batch<Event>>(1);
                let prepare = vec![tokio::spawn(typed_loop(rx, btx))];
                let deliver = tokio::spawn(async move {
                    let (att, res) = deliver::run(att, brx, durable_tx, dopts).await;
                    (Output::Events(att), res)
                });
                (prepare, deliver)
            }
        };
        Running { input, durable, prepare, deliver }
    }

    /// Close the input, let every stage drain (the sink makes everything durable and acknowledges
    /// it), and return the output for reuse with the first error any stage hit.
    pub async fn finish(self) -> Result<Output, (Option<Output>, PipelineError)> {
        let Running { input, prepare, deliver, .. } = self;
        drop(input);
        let mut first: Option<PipelineError> = None;
        for h in prepare {
            match h.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    first.get_or_insert(e);
                }
                Err(e) => {
                    first.get_or_insert(PipelineError::from_join("encode", e));
                }
            }
        }
        let (out, deliver_res) = match deliver.await {
            Ok((out, res)) => (Some(out), res),
            Err(e) => (None, Err(PipelineError::from_join("deliver", e))),
        };
        if let Err(e) = deliver_res {
            // The sink's own error explains an encode stage that stopped because delivery did.
            first = Some(match first {
                Some(enc @ PipelineError::EventFailed { .. }) => enc,
                _ => e,
            });
        }
        match (first, out) {
            (None, Some(out)) => Ok(out),
            (Some(e), out) => Err((out, e)),
            (None, None) => unreachable!("a deliver task that did not return is an error above"),
        }
    }
}

async fn encode_loop(
    mut stage: EncodeStage,
    rx: Arc<Mutex<mpsc::Receiver<SourceBatch>>>,
    out: mpsc::Sender<Batch<Record>>,
) -> Result<(), PipelineError> {
    loop {
        // A delivery that stopped (its sink failed or went away) ends this stage at once, which closes
        // the pipeline's input, so the source notices without having to send first.
        let next = tokio::select! {
            b = async { rx.lock().await.recv().await } => b,
            _ = out.closed() => return Ok(()),
        };
        let Some(batch) = next else { return Ok(()) };
        let mut records = Vec::with_capacity(batch.events.len() + 2);
        if let Err(e) = stage.encode(batch.events, &mut records) {
            // Deliver what was encoded before the failing event, as Debezium delivers the events it
            // processed before stopping; the batch's checkpoint is dropped, so none of it is confirmed
            // and a restart delivers it again.
            if !records.is_empty() {
                let _ = out.send(Batch { items: records, checkpoint: None }).await;
            }
            return Err(e);
        }
        if records.is_empty() && batch.checkpoint.is_none() {
            continue;
        }
        if out.send(Batch { items: records, checkpoint: batch.checkpoint }).await.is_err() {
            // Delivery stopped; its error is what `finish` reports.
            return Ok(());
        }
    }
}

async fn typed_loop(
    mut rx: mpsc::Receiver<SourceBatch>,
    out: mpsc::Sender<Batch<Event>>,
) -> Result<(), PipelineError> {
    loop {
        let next = tokio::select! {
            b = rx.recv() => b,
            _ = out.closed() => return Ok(()),
        };
        let Some(batch) = next else { return Ok(()) };
        encode::count_typed(&batch.events);
        if out.send(Batch { items: batch.events, checkpoint: batch.checkpoint }).await.is_err() {
            return Ok(());
        }
    }
}
