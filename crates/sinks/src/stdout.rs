//! `stdout`: JSON lines on standard output, for piping into `jq`, tests and demos. Durable means
//! written to the pipe: a ticket is acknowledged once its lines were written and flushed. When the reader of the pipe exits (`tidemark stream | head`), the write fails
//! with EPIPE (Rust ignores SIGPIPE) and the sink reports [`SinkError::ConsumerGone`], which stops
//! the stream at once.

use std::io::Write;
use std::os::fd::AsFd;

use async_trait::async_trait;
use rustix::event::{PollFd, PollFlags};
use tokio::sync::watch;

use crate::{write_json_line, AckSender, Record, Sink, SinkError, Ticket};

/// Writes JSON lines to stdout.
#[derive(Debug, Default)]
pub struct StdoutSink {
    buf: Vec<u8>,
    /// Tickets whose lines are in `buf` or written but not yet acknowledged.
    pending: Vec<Ticket>,
    acks: Option<AckSender>,
    gone: Option<watch::Receiver<bool>>,
}

impl StdoutSink {
    /// New sink.
    pub fn new() -> Self {
        StdoutSink {
            buf: Vec::with_capacity(1 << 20),
            pending: Vec::new(),
            acks: None,
            gone: watch_reader_gone(),
        }
    }

    fn write_out(&mut self) -> Result<(), SinkError> {
        let mut out = std::io::stdout().lock();
        out.write_all(&self.buf).and_then(|_| out.flush()).map_err(|source| match source.kind() {
            std::io::ErrorKind::BrokenPipe => SinkError::ConsumerGone { dest: "stdout".into() },
            _ => SinkError::Io { dest: "stdout".into(), source },
        })?;
        metrics::counter!(tidemark_pipeline::metrics::SINK_BYTES).increment(self.buf.len() as u64);
        self.buf.clear();
        if let Some(acks) = &self.acks {
            for t in self.pending.drain(..) {
                acks.durable(t);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Sink<Record> for StdoutSink {
    fn attach(&mut self, acks: AckSender) {
        self.acks = Some(acks);
    }
    async fn send(&mut self, ticket: Ticket, records: Vec<Record>) -> Result<(), SinkError> {
        for r in &records {
            write_json_line(&mut self.buf, r);
        }
        self.pending.push(ticket);
        if self.buf.len() > 1 << 20 {
            self.write_out()?;
        }
        Ok(())
    }
    async fn drain(&mut self) -> Result<(), SinkError> {
        self.write_out()
    }
    async fn sync(&mut self) -> Result<(), SinkError> {
        self.write_out()
    }
    async fn close(&mut self) -> Result<(), SinkError> {
        self.write_out()
    }
    fn describe(&self) -> String {
        "stdout".into()
    }
    fn gone(&self) -> Option<watch::Receiver<bool>> {
        self.gone.clone()
    }
}

/// A flag that turns true once stdout reports an error or hang-up: the read end of a pipe was closed
/// or a socket's peer went away. A thread waits in `poll(2)` asking for no events, which the kernel
/// answers only with POLLERR/POLLHUP, so it costs nothing while all is well; on a file or terminal
/// it simply never wakes.
fn watch_reader_gone() -> Option<watch::Receiver<bool>> {
    let (tx, rx) = watch::channel(false);
    std::thread::Builder::new()
        .name("tidemark-stdout-watch".into())
        .spawn(move || {
            let out = std::io::stdout();
            loop {
                let mut fds = [PollFd::from_borrowed_fd(out.as_fd(), PollFlags::empty())];
                match rustix::event::poll(&mut fds, None) {
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(_) => return,
                    Ok(_) => {
                        if fds[0].revents().intersects(PollFlags::ERR | PollFlags::HUP) {
                            let _ = tx.send(true);
                        }
                        return;
                    }
                }
            }
        })
        .ok()?;
    Some(rx)
}
