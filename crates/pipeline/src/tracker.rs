//! Which source position is durable, given tickets acknowledged in any order.
//!
//! Pure bookkeeping, no I/O, so the no-loss argument can be tested exhaustively:
//! - every batch gets the next [`Ticket`] and remembers the checkpoint it carries (if any);
//! - a sink acknowledges tickets in any order (Kafka partitions complete independently);
//! - the durable position is the checkpoint of the *highest ticket such that it and every ticket
//!   before it are acknowledged* — the contiguous prefix. A ticket acknowledged early is held back
//!   until the gap before it closes; a failed ticket is never acknowledged, so nothing at or after it
//!   is ever confirmed.
//!
//! It also counts what is in flight (accepted by the sink, not yet acknowledged), which is what the
//! deliver stage bounds to turn a slow sink into backpressure instead of memory.

use std::collections::BTreeMap;

use crate::sink::Ticket;

#[derive(Debug)]
struct Pending<P> {
    checkpoint: Option<P>,
    records: usize,
    bytes: usize,
    acked: bool,
}

/// A sink acknowledged a ticket it was never given, or one twice: a bug in the sink.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the sink acknowledged ticket {0}, which is not outstanding (never issued or acknowledged twice)")]
pub struct UnknownTicket(pub Ticket);

/// Durable-position bookkeeping over tickets.
#[derive(Debug)]
pub struct Tracker<P> {
    next: Ticket,
    pending: BTreeMap<Ticket, Pending<P>>,
    durable: Option<P>,
    records: usize,
    bytes: usize,
    /// Pending entries that carry a checkpoint.
    checkpoints: usize,
}

impl<P: Copy + Ord> Default for Tracker<P> {
    fn default() -> Self {
        Tracker { next: 1, pending: BTreeMap::new(), durable: None, records: 0, bytes: 0, checkpoints: 0 }
    }
}

impl<P: Copy + Ord> Tracker<P> {
    /// A tracker with nothing issued.
    pub fn new() -> Self {
        Self::default()
    }

    /// Issue the next ticket for a batch of `records` items of `bytes` bytes covering `checkpoint`.
    /// A batch with no records is durable as soon as everything before it is: it gets no ticket for
    /// the sink (`None`), and the new durable position is returned when that is at once.
    pub fn issue(
        &mut self,
        checkpoint: Option<P>,
        records: usize,
        bytes: usize,
    ) -> (Option<Ticket>, Option<P>) {
        let t = self.next;
        self.next += 1;
        self.checkpoints += checkpoint.is_some() as usize;
        if records == 0 {
            self.pending.insert(t, Pending { checkpoint, records: 0, bytes: 0, acked: true });
            return (None, self.advance());
        }
        self.records += records;
        self.bytes += bytes;
        self.pending.insert(t, Pending { checkpoint, records, bytes, acked: false });
        (Some(t), None)
    }

    /// A ticket is durable. Returns the new durable position when it moved.
    pub fn ack(&mut self, t: Ticket) -> Result<Option<P>, UnknownTicket> {
        let p = self.pending.get_mut(&t).filter(|p| !p.acked).ok_or(UnknownTicket(t))?;
        p.acked = true;
        self.records -= p.records;
        self.bytes -= p.bytes;
        Ok(self.advance())
    }

    fn advance(&mut self) -> Option<P> {
        let before = self.durable;
        while let Some(entry) = self.pending.first_entry() {
            if !entry.get().acked {
                break;
            }
            if let Some(c) = entry.remove().checkpoint {
                self.checkpoints -= 1;
                self.durable = Some(self.durable.map_or(c, |d| d.max(c)));
            }
        }
        (self.durable != before).then_some(self.durable).flatten()
    }

    /// The highest position whose records are all durable.
    pub fn durable(&self) -> Option<P> {
        self.durable
    }

    /// Records and bytes accepted by the sink and not yet acknowledged.
    pub fn in_flight(&self) -> (usize, usize) {
        (self.records, self.bytes)
    }

    /// Some checkpoint waits for records to become durable: the source has a position to confirm, so
    /// durability is worth asking for now. Without one (a diff, or a transaction still open) a sync
    /// would buy nothing before the end of input.
    pub fn awaits_checkpoint(&self) -> bool {
        self.checkpoints > 0
    }

    /// Nothing outstanding.
    pub fn is_settled(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn in_order_acks_move_the_position() {
        let mut t = Tracker::<u64>::new();
        let (a, _) = t.issue(Some(10), 3, 30);
        let (b, _) = t.issue(Some(20), 2, 20);
        assert_eq!(t.in_flight(), (5, 50));
        assert_eq!(t.ack(a.unwrap()), Ok(Some(10)));
        assert_eq!(t.ack(b.unwrap()), Ok(Some(20)));
        assert!(t.is_settled());
        assert_eq!(t.in_flight(), (0, 0));
    }

    #[test]
    fn out_of_order_acks_confirm_only_the_contiguous_prefix() {
        let mut t = Tracker::<u64>::new();
        let (a, _) = t.issue(Some(10), 1, 1);
        let (b, _) = t.issue(Some(20), 1, 1);
        let (c, _) = t.issue(Some(30), 1, 1);
        assert_eq!(t.ack(c.unwrap()), Ok(None));
        assert_eq!(t.ack(b.unwrap()), Ok(None));
        assert_eq!(t.durable(), None);
        assert_eq!(t.ack(a.unwrap()), Ok(Some(30)));
    }

    #[test]
    fn a_never_acknowledged_ticket_holds_everything_after_it() {
        let mut t = Tracker::<u64>::new();
        let (a, _) = t.issue(Some(10), 1, 1);
        let (_failed, _) = t.issue(Some(20), 1, 1);
        let (c, _) = t.issue(Some(30), 1, 1);
        assert_eq!(t.ack(a.unwrap()), Ok(Some(10)));
        assert_eq!(t.ack(c.unwrap()), Ok(None));
        assert_eq!(t.durable(), Some(10));
    }

    #[test]
    fn empty_batches_carry_checkpoints_without_tickets() {
        let mut t = Tracker::<u64>::new();
        assert_eq!(t.issue(Some(5), 0, 0), (None, Some(5)));
        let (a, _) = t.issue(None, 1, 1);
        assert_eq!(t.issue(Some(9), 0, 0), (None, None));
        assert_eq!(t.ack(a.unwrap()), Ok(Some(9)));
    }

    #[test]
    fn knows_whether_a_checkpoint_waits() {
        let mut t = Tracker::<u64>::new();
        let (a, _) = t.issue(None, 1, 1);
        assert!(!t.awaits_checkpoint());
        let (b, _) = t.issue(Some(5), 1, 1);
        assert!(t.awaits_checkpoint());
        t.ack(a.unwrap()).unwrap();
        assert!(t.awaits_checkpoint());
        t.ack(b.unwrap()).unwrap();
        assert!(!t.awaits_checkpoint());
    }

    #[test]
    fn unknown_and_repeated_acks_are_errors() {
        let mut t = Tracker::<u64>::new();
        let (a, _) = t.issue(Some(1), 1, 1);
        assert_eq!(t.ack(99), Err(UnknownTicket(99)));
        t.ack(a.unwrap()).unwrap();
        assert_eq!(t.ack(a.unwrap()), Err(UnknownTicket(a.unwrap())));
    }

    proptest! {
        /// Whatever order acks arrive in, the durable position is always the checkpoint of the longest
        /// acknowledged prefix, and never moves backwards.
        #[test]
        fn durable_is_the_acknowledged_prefix(order in Just((0..20usize).collect::<Vec<_>>()).prop_shuffle(),
                                               empties in proptest::collection::vec(any::<bool>(), 20)) {
            let mut t = Tracker::<u64>::new();
            let mut tickets = Vec::new();
            for (i, empty) in empties.iter().enumerate() {
                let (tk, _) = t.issue(Some(i as u64 * 10), if *empty { 0 } else { 1 }, 1);
                tickets.push(tk);
            }
            let mut acked = [false; 20];
            for (i, e) in empties.iter().enumerate() { acked[i] = *e; }
            let mut last = t.durable();
            for i in order {
                if let Some(tk) = tickets[i] {
                    t.ack(tk).unwrap();
                    acked[i] = true;
                }
                let prefix = acked.iter().take_while(|a| **a).count();
                let want = if prefix == 0 { None } else { Some((prefix as u64 - 1) * 10) };
                prop_assert_eq!(t.durable(), want);
                prop_assert!(t.durable() >= last);
                last = t.durable();
            }
            prop_assert!(t.is_settled());
        }
    }
}
