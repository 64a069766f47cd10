//! `stdout`: JSON lines on standard output, for piping into `jq`, tests and demos. Durable means
//! written to the pipe.

use std::io::Write;

use async_trait::async_trait;

use crate::{write_json_line, Record, Sink, SinkError};

/// Writes JSON lines to stdout.
#[derive(Debug, Default)]
pub struct StdoutSink {
    buf: Vec<u8>,
}

impl StdoutSink {
    /// New sink.
    pub fn new() -> Self {
        StdoutSink { buf: Vec::with_capacity(1 << 20) }
    }

    fn write_out(&mut self) -> Result<(), SinkError> {
        let mut out = std::io::stdout().lock();
        out.write_all(&self.buf)
            .and_then(|_| out.flush())
            .map_err(|source| SinkError::Io { dest: "stdout".into(), source })?;
        self.buf.clear();
        Ok(())
    }
}

#[async_trait]
impl Sink for StdoutSink {
    async fn send(&mut self, records: &[Record]) -> Result<(), SinkError> {
        for r in records {
            write_json_line(&mut self.buf, r);
        }
        if self.buf.len() > 1 << 20 {
            self.write_out()?;
        }
        Ok(())
    }
    async fn drain(&mut self) -> Result<(), SinkError> {
        self.write_out()
    }
    async fn flush(&mut self) -> Result<(), SinkError> {
        self.write_out()
    }
    fn describe(&self) -> String {
        "stdout".into()
    }
}
