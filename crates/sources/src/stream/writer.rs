//! The writer task: owns the sink, turns "confirm" markers into durable LSNs only after a flush.
//! It stops with an error as soon as the sink's destination is gone, even while idle, so the reader
//! stops and the slot is released instead of being held by a stream nobody consumes.

use std::time::Duration;

use tidemark_model::Record;
use tidemark_sinks::{Sink, SinkError};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// When the pipeline goes idle with records pending, make them durable at once — but not more often
/// than this, so a stream of tiny transactions does not turn into an fsync per transaction.
const IDLE_FLUSH_MIN: Duration = Duration::from_millis(50);

/// Records plus an optional position every earlier event is covered by.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub records: Vec<Record>,
    pub confirm: Option<u64>,
}

/// Run until the channel closes; then flush. Returns the sink for reuse after a reconnect.
pub(crate) async fn run(
    mut sink: Box<dyn Sink>,
    mut rx: mpsc::Receiver<Batch>,
    durable: watch::Sender<u64>,
    flush_interval: Duration,
) -> (Box<dyn Sink>, Result<(), SinkError>) {
    let mut dirty = false;
    let mut pending: Option<u64> = None;
    let mut deadline = Instant::now();
    let mut last_flush = Instant::now();
    let mut gone = sink.gone();
    let res: Result<(), SinkError> = async {
        loop {
            let item = if dirty {
                tokio::select! {
                    item = rx.recv() => item,
                    _ = tokio::time::sleep_until(deadline) => {
                        flush(&mut *sink, &mut dirty, &mut pending, &durable).await?;
                        last_flush = Instant::now();
                        continue;
                    }
                    _ = destination_gone(&mut gone) => {
                        return Err(SinkError::ConsumerGone { dest: sink.describe() });
                    }
                }
            } else {
                tokio::select! {
                    item = rx.recv() => item,
                    _ = destination_gone(&mut gone) => {
                        return Err(SinkError::ConsumerGone { dest: sink.describe() });
                    }
                }
            };
            let Some(batch) = item else {
                flush(&mut *sink, &mut dirty, &mut pending, &durable).await?;
                return Ok(());
            };
            if !batch.records.is_empty() {
                sink.send(&batch.records).await?;
                if !dirty {
                    dirty = true;
                    deadline = Instant::now() + flush_interval;
                }
            }
            if let Some(c) = batch.confirm {
                if dirty {
                    pending = Some(pending.map_or(c, |p| p.max(c)));
                } else {
                    durable.send_if_modified(|d| {
                        let changed = c > *d;
                        *d = (*d).max(c);
                        changed
                    });
                }
            }
            if dirty && rx.is_empty() {
                // Idle: nothing more to batch with, so confirm soon rather than at the interval.
                if last_flush.elapsed() >= IDLE_FLUSH_MIN {
                    flush(&mut *sink, &mut dirty, &mut pending, &durable).await?;
                    last_flush = Instant::now();
                } else {
                    sink.drain().await?;
                    deadline = deadline.min(last_flush + IDLE_FLUSH_MIN);
                }
            }
        }
    }
    .await;
    (sink, res)
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

async fn flush(
    sink: &mut dyn Sink,
    dirty: &mut bool,
    pending: &mut Option<u64>,
    durable: &watch::Sender<u64>,
) -> Result<(), SinkError> {
    if *dirty {
        sink.flush().await?;
        *dirty = false;
    }
    if let Some(c) = pending.take() {
        durable.send_if_modified(|d| {
            let changed = c > *d;
            *d = (*d).max(c);
            changed
        });
    }
    Ok(())
}
