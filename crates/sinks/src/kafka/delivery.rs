//! Delivery reports → ticket acknowledgements.
//!
//! librdkafka calls [`Ctx::delivery`] on the producer's polling thread once per message, in any order
//! across partitions. Each message carries (as its delivery opaque) the [`TicketTrack`] of the batch
//! it belongs to; when the last message of a ticket is reported, the ticket is acknowledged durable —
//! or failed, with the broker's first error, if any of its messages failed. So a broker's
//! acknowledgement latency never stops the pipeline: it only delays the confirmed position.
//!
//! Invariant: a ticket's count starts at one extra "still sending" reference that the sink drops only
//! after handing over the last message, so a fast report can never acknowledge a half-sent ticket.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rdkafka::client::ClientContext;
use rdkafka::producer::{DeliveryResult, ProducerContext};

use crate::{AckSender, SinkError, Ticket};

/// One ticket's outstanding messages.
#[derive(Debug)]
pub(super) struct TicketTrack {
    ticket: Ticket,
    remaining: AtomicUsize,
    failure: Mutex<Option<String>>,
    acks: AckSender,
    dest: String,
    outstanding: Arc<Outstanding>,
}

impl TicketTrack {
    /// A ticket being sent; holds the "still sending" reference until [`TicketTrack::sent`].
    pub(super) fn new(
        ticket: Ticket,
        acks: AckSender,
        dest: String,
        outstanding: Arc<Outstanding>,
    ) -> Arc<Self> {
        Arc::new(TicketTrack {
            ticket,
            remaining: AtomicUsize::new(1),
            failure: Mutex::new(None),
            acks,
            dest,
            outstanding,
        })
    }

    /// One more message handed to the producer.
    pub(super) fn add(&self) {
        self.remaining.fetch_add(1, Ordering::AcqRel);
        self.outstanding.count.fetch_add(1, Ordering::AcqRel);
    }

    /// Every message of the ticket was handed over (or skipped): drop the sending reference.
    pub(super) fn sent(&self) {
        self.done_one();
    }

    /// A message could not be handed over after `add`.
    pub(super) fn abandon(&self, reason: String) {
        self.fail(reason);
        self.outstanding.settle_one();
        self.done_one();
    }

    fn fail(&self, reason: String) {
        let mut f = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        f.get_or_insert(reason);
    }

    fn done_one(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            match self.failure.lock().unwrap_or_else(|p| p.into_inner()).take() {
                None => self.acks.durable(self.ticket),
                Some(reason) => self.acks.failed(
                    self.ticket,
                    SinkError::Unusable {
                        dest: self.dest.clone(),
                        reason: format!("the broker refused deliveries: {reason}"),
                    },
                ),
            }
        }
    }
}

/// Messages handed to librdkafka and not yet reported, for `close` to wait on.
#[derive(Debug, Default)]
pub(super) struct Outstanding {
    pub(super) count: AtomicU64,
    pub(super) settled: tokio::sync::Notify,
}

impl Outstanding {
    fn settle_one(&self) {
        if self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.settled.notify_waiters();
        }
    }
}

/// The producer's context: routes delivery reports to their tickets.
pub(super) struct Ctx;

impl ClientContext for Ctx {}

impl ProducerContext for Ctx {
    type DeliveryOpaque = Arc<TicketTrack>;
    fn delivery(&self, result: &DeliveryResult<'_>, track: Arc<TicketTrack>) {
        if let Err((e, m)) = result {
            use rdkafka::message::Message;
            track.fail(format!("{e} (topic {})", m.topic()));
        }
        track.outstanding.settle_one();
        track.done_one();
    }
}
