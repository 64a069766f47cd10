//! The destination contract: a sink *accepts* batches and later *reports* which are durable.
//!
//! Modelled on supabase/etl's `Destination` (accepted vs durable, asynchronous write results): the
//! pipeline never waits for a broker's acknowledgement or an fsync before sending more. It hands each
//! batch over with a [`Ticket`]; the sink reports [`Ack::Durable`] for that ticket once every record of
//! it is at the destination for good (fsynced file, broker-acknowledged message, committed
//! transaction), or [`Ack::Failed`]. Tickets may be acknowledged in any order; the pipeline confirms
//! the source only up to the contiguous prefix of durable tickets ([`crate::tracker`]).
//!
//! Rules every sink keeps:
//! - never report a ticket durable before all its records are durable, and never report it twice;
//! - after [`Sink::sync`], report every ticket accepted before it within bounded time (or fail);
//! - [`Sink::close`] returns only when every accepted ticket has been reported;
//! - `send` may wait (backpressure) but must not buffer without bound.

use async_trait::async_trait;
use tokio::sync::{mpsc, watch};

pub use tidemark_model::{Record, RecordKind};

/// The pipeline's sequence number for one batch handed to a sink, starting at 1.
pub type Ticket = u64;

/// What a sink reports about a ticket.
#[derive(Debug)]
pub enum Ack {
    /// Every record of the ticket is durable.
    Durable(Ticket),
    /// The ticket's records could not be made durable; the pipeline stops without confirming them.
    Failed(Ticket, SinkError),
}

/// Where a sink reports acknowledgements. Cheap to clone (sinks hand it to delivery callbacks and
/// I/O threads).
#[derive(Debug, Clone)]
pub struct AckSender(mpsc::UnboundedSender<Ack>);

/// The pipeline's end of the acknowledgement channel.
pub type AckReceiver = mpsc::UnboundedReceiver<Ack>;

impl AckSender {
    /// A new channel.
    pub fn channel() -> (AckSender, AckReceiver) {
        let (tx, rx) = mpsc::unbounded_channel();
        (AckSender(tx), rx)
    }

    /// Report a ticket durable. A closed pipeline ignores it.
    pub fn durable(&self, t: Ticket) {
        let _ = self.0.send(Ack::Durable(t));
    }

    /// Report a ticket failed.
    pub fn failed(&self, t: Ticket, e: SinkError) {
        let _ = self.0.send(Ack::Failed(t, e));
    }
}

/// Errors a sink reports. `Display` is written for the user and ends with what to do.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The sink URI is malformed or names an unknown sink.
    #[error("invalid sink {uri:?}: {reason}")]
    Config {
        /// The URI as given.
        uri: String,
        /// What is wrong and what would be right.
        reason: String,
    },
    /// The destination is not usable (permissions, missing bucket, a record the broker refuses, ...).
    #[error("sink destination {dest} is not usable: {reason}")]
    Unusable {
        /// Destination.
        dest: String,
        /// Why, with the fix.
        reason: String,
    },
    /// I/O failed while writing.
    #[error("writing to {dest} failed: {source}")]
    Io {
        /// Destination.
        dest: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The process reading a pipe (stdout) went away.
    #[error(
        "the process reading {dest} went away (broken pipe), so tidemark stops instead of holding the slot. \
         Records it could not write were not confirmed and will be delivered again on the next start"
    )]
    ConsumerGone {
        /// Destination.
        dest: String,
    },
    /// The destination is unreachable for now (a database restarting, a network error); retrying later
    /// may succeed.
    #[error("sink destination {dest} is unreachable for now: {reason}")]
    Unavailable {
        /// Destination.
        dest: String,
        /// Why.
        reason: String,
    },
    /// The sink's own machinery failed (an I/O thread stopped).
    #[error("the {dest} sink stopped unexpectedly: {reason}. This is a bug in tidemark; please report it")]
    Internal {
        /// Destination.
        dest: String,
        /// What happened.
        reason: String,
    },
}

impl SinkError {
    /// Worth retrying from the last durable position (reconnecting the sink), as opposed to an error
    /// that will recur until someone changes something.
    pub fn is_transient(&self) -> bool {
        matches!(self, SinkError::Unavailable { .. })
    }
}

/// Bytes a batch item holds, for the pipeline's in-flight bound.
pub trait Weigh {
    /// Approximate size in bytes.
    fn weight(&self) -> usize;
}

impl Weigh for Record {
    fn weight(&self) -> usize {
        self.topic.len()
            + self.key.as_ref().map_or(0, Vec::len)
            + self.value.as_ref().map_or(0, Vec::len)
            + 32
    }
}

impl Weigh for crate::Event {
    fn weight(&self) -> usize {
        crate::Event::weight(self)
    }
}

/// A destination for items of type `T`: encoded [`Record`]s for byte sinks (stdout, files, Kafka),
/// typed [`crate::Event`]s for sinks that write values (apply to PostgreSQL).
#[async_trait]
pub trait Sink<T: Send + 'static>: Send {
    /// Where to report acknowledgements; called once, before the first `send`.
    fn attach(&mut self, acks: AckSender);
    /// Accept a batch (in order). Returns when the sink has taken it — buffered or in flight, not yet
    /// durable; its durability is reported later with `ticket`.
    async fn send(&mut self, ticket: Ticket, items: Vec<T>) -> Result<(), SinkError>;
    /// Push buffered items on towards the destination for latency, without the cost of making them
    /// durable. Called when the pipeline is momentarily idle.
    async fn drain(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
    /// Start making every accepted batch durable; do not wait for it (report through the acks).
    async fn sync(&mut self) -> Result<(), SinkError>;
    /// Make everything durable, report every accepted ticket, release resources.
    async fn close(&mut self) -> Result<(), SinkError>;
    /// Short description for logs (never contains secrets).
    fn describe(&self) -> String;
    /// A flag that turns true when the destination has gone away for good even while nothing is
    /// being written (the reader of a pipe exited), so the pipeline stops at once instead of holding
    /// the source until its next write. `None`: the sink notices failures only when it writes.
    fn gone(&self) -> Option<watch::Receiver<bool>> {
        None
    }
}

/// A sink of encoded records.
pub type RecordSink = Box<dyn Sink<Record>>;
/// A sink of typed events.
pub type EventSink = Box<dyn Sink<crate::Event>>;

/// Where a pipeline delivers: the sink's kind decides whether the encode stage runs.
pub enum Destination {
    /// Byte sinks get Debezium records.
    Records(RecordSink),
    /// Typed sinks get the events.
    Events(EventSink),
}

impl Destination {
    /// Short description for logs.
    pub fn describe(&self) -> String {
        match self {
            Destination::Records(s) => s.describe(),
            Destination::Events(s) => s.describe(),
        }
    }
}

impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Destination").field(&self.describe()).finish()
    }
}
