//! `file:<dir>`: JSON lines, one file per topic (`<topic>-000001.jsonl`, rotating by size), durable
//! when written and fsynced.
//!
//! Why a thread of its own: `write` and `fsync` block, and an fsync can take tens of milliseconds on a
//! busy disk. Run inside `async fn` they would stall a runtime worker — and with it the replication
//! connection's keepalives. So the async side ([`FileSink`]) only passes commands over a bounded
//! channel to one I/O thread that owns the files ([`segments::Segments`]); a full channel is
//! backpressure, never a blocked worker.
//!
//! Durability: the thread acknowledges a ticket only after an fsync that followed the ticket's
//! records (files and, after creating one, the directory). A failed write or fsync reports the
//! tickets it covers as failed and stops the thread; nothing after them is ever acknowledged.

mod segments;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

pub use segments::segment_name;

use crate::{AckSender, Record, Sink, SinkError, Ticket};

/// Commands for the I/O thread.
enum Cmd {
    Attach(AckSender),
    Write(Ticket, Vec<Record>),
    Drain,
    Sync,
    Close(oneshot::Sender<Result<(), SinkError>>),
}

/// Writes records to per-topic JSON-lines files from its own I/O thread.
pub struct FileSink {
    dir: PathBuf,
    tx: mpsc::Sender<Cmd>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Why the I/O thread stopped, once it has.
    failure: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for FileSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSink").field("dir", &self.dir).finish()
    }
}

impl FileSink {
    /// Open (creating the directory), check it is writable, lock it and start the I/O thread.
    pub fn open(dir: impl AsRef<Path>, rotate_bytes: u64) -> Result<FileSink, SinkError> {
        let dir = dir.as_ref().to_path_buf();
        let segments = segments::Segments::open(&dir, rotate_bytes)?;
        // One command queued while the thread works on another: enough to overlap encoding with writing,
        // and each queued batch is megabytes with schemas on.
        let (tx, rx) = mpsc::channel(1);
        let failure = Arc::new(Mutex::new(None));
        let f = failure.clone();
        let thread = std::thread::Builder::new()
            .name("tidemark-file-sink".into())
            .spawn(move || {
                if let Err(e) = io_thread(segments, rx) {
                    *f.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                }
            })
            .map_err(|e| SinkError::Unusable {
                dest: dir.display().to_string(),
                reason: format!("cannot start the file sink's I/O thread: {e}"),
            })?;
        Ok(FileSink { dir, tx, thread: Some(thread), failure })
    }

    fn stopped(&self) -> SinkError {
        match self.failure.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            Some(reason) => SinkError::Io { dest: self.describe(), source: std::io::Error::other(reason) },
            None => SinkError::Internal { dest: self.describe(), reason: "its I/O thread is gone".into() },
        }
    }

    async fn command(&self, c: Cmd) -> Result<(), SinkError> {
        self.tx.send(c).await.map_err(|_| self.stopped())
    }
}

/// The I/O thread: executes commands in order until the channel closes, a Close, or a failed write
/// (whose message it returns after reporting the unsynced tickets failed).
fn io_thread(mut seg: segments::Segments, mut rx: mpsc::Receiver<Cmd>) -> Result<(), String> {
    let mut acks: Option<AckSender> = None;
    // Tickets written since the last fsync.
    let mut unsynced: Vec<Ticket> = Vec::new();
    while let Some(cmd) = rx.blocking_recv() {
        let res = match cmd {
            Cmd::Attach(a) => {
                acks = Some(a);
                Ok(())
            }
            Cmd::Write(t, records) => {
                unsynced.push(t);
                seg.write(&records).map(|bytes| {
                    metrics::counter!(tidemark_pipeline::metrics::SINK_BYTES).increment(bytes as u64)
                })
            }
            Cmd::Drain => seg.drain(),
            Cmd::Sync => seg.sync().map(|()| acknowledge(&acks, &mut unsynced)),
            Cmd::Close(done) => {
                let res = seg.sync().map(|()| acknowledge(&acks, &mut unsynced));
                let msg = res.as_ref().err().map(|e| e.to_string());
                if let Some(m) = &msg {
                    report_failure(&acks, &mut unsynced, m);
                }
                let _ = done.send(res);
                return msg.map_or(Ok(()), Err);
            }
        };
        if let Err(e) = res {
            let m = e.to_string();
            report_failure(&acks, &mut unsynced, &m);
            return Err(m);
        }
    }
    Ok(())
}

fn acknowledge(acks: &Option<AckSender>, unsynced: &mut Vec<Ticket>) {
    if let Some(a) = acks {
        unsynced.drain(..).for_each(|t| a.durable(t));
    }
}

/// Report every unsynced ticket failed: none of them may be confirmed.
fn report_failure(acks: &Option<AckSender>, unsynced: &mut Vec<Ticket>, msg: &str) {
    if let Some(a) = acks {
        for t in unsynced.drain(..) {
            a.failed(
                t,
                SinkError::Io { dest: "file sink".into(), source: std::io::Error::other(msg.to_string()) },
            );
        }
    }
}

#[async_trait]
impl Sink<Record> for FileSink {
    fn attach(&mut self, acks: AckSender) {
        // The channel is empty before the first send, so this cannot block for long.
        if self.tx.try_send(Cmd::Attach(acks)).is_err() {
            tracing::error!("the file sink's I/O thread did not take its acknowledgement channel");
        }
    }

    async fn send(&mut self, ticket: Ticket, records: Vec<Record>) -> Result<(), SinkError> {
        self.command(Cmd::Write(ticket, records)).await
    }

    async fn drain(&mut self) -> Result<(), SinkError> {
        self.command(Cmd::Drain).await
    }

    async fn sync(&mut self) -> Result<(), SinkError> {
        self.command(Cmd::Sync).await
    }

    async fn close(&mut self) -> Result<(), SinkError> {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Cmd::Close(done)).await.is_err() {
            return Ok(()); // Closed before (the thread ends at its first Close).
        }
        let res = wait.await.map_err(|_| self.stopped())?;
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        res
    }

    fn describe(&self) -> String {
        format!("file:{}", self.dir.display())
    }
}

#[cfg(test)]
mod tests;
