//! Receive timeout for the replication connection, like PostgreSQL's `wal_receiver_timeout`.
//!
//! Why: a half-open connection (network partition, a NAT entry dropped, the server's walsender gone
//! without a FIN) never produces an error on its own: reads simply never complete, and the slot sits
//! unread while WAL piles up. TCP keepalive does not help once tidemark has unacknowledged status
//! updates in flight, and not at all when a middlebox still answers for the dead peer.
//!
//! Invariants:
//! - after `timeout / 2` without any message, tidemark sends one status update that asks the server
//!   for a reply (a healthy walsender answers at once with a keepalive), so a quiet but healthy
//!   server is never mistaken for a dead one;
//! - after `timeout` without any message the connection is declared dead (the caller reconnects);
//! - the clock counts only time spent waiting for the network: the caller restarts it whenever it
//!   goes back to waiting after handling input (time blocked on a slow sink is not silence);
//! - a zero timeout disables all of this.

use std::time::Duration;

use tokio::time::Instant;

/// What the silence calls for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// Ask the server for a reply.
    Ping,
    /// Nothing arrived for the whole timeout: give up on this connection.
    Dead(Duration),
}

/// Tracks silence on one replication connection.
#[derive(Debug)]
pub(crate) struct Liveness {
    timeout: Duration,
    last: Instant,
    pinged: bool,
}

impl Liveness {
    /// Start counting now; a zero `timeout` disables the check.
    pub(crate) fn new(timeout: Duration) -> Liveness {
        Liveness { timeout, last: Instant::now(), pinged: false }
    }

    /// Something arrived (or the caller goes back to waiting after handling input).
    pub(crate) fn heard(&mut self) {
        self.last = Instant::now();
        self.pinged = false;
    }

    fn next_deadline(&self) -> Option<Instant> {
        if self.timeout.is_zero() {
            return None;
        }
        Some(if self.pinged { self.last + self.timeout } else { self.last + self.timeout / 2 })
    }

    /// Resolves when the next action is due; never, when disabled.
    pub(crate) async fn wait(&self) {
        match self.next_deadline() {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    }

    /// The action due now, if any (call after [`wait`](Self::wait) resolved).
    pub(crate) fn due(&mut self) -> Option<Due> {
        let deadline = self.next_deadline()?;
        if Instant::now() < deadline {
            return None;
        }
        if self.pinged {
            Some(Due::Dead(self.last.elapsed()))
        } else {
            self.pinged = true;
            Some(Due::Ping)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_millis(200);

    #[tokio::test]
    async fn pings_at_half_then_declares_dead() {
        let start = Instant::now();
        let mut l = Liveness::new(T);
        assert_eq!(l.due(), None);
        l.wait().await;
        assert!(start.elapsed() >= T / 2);
        assert_eq!(l.due(), Some(Due::Ping));
        assert_eq!(l.due(), None, "one ping per silence");
        l.wait().await;
        assert!(matches!(l.due(), Some(Due::Dead(d)) if d >= T));
    }

    #[tokio::test]
    async fn any_message_restarts_the_clock() {
        let mut l = Liveness::new(T);
        l.wait().await;
        assert_eq!(l.due(), Some(Due::Ping));
        tokio::time::sleep(T * 2 / 5).await;
        l.heard();
        tokio::time::sleep(T * 2 / 5).await;
        assert_eq!(l.due(), None, "a reply came: not dead although the silence began 0.9 T ago");
        l.wait().await;
        assert_eq!(l.due(), Some(Due::Ping), "a new silence starts with a new ping");
    }

    #[tokio::test]
    async fn zero_disables() {
        let mut l = Liveness::new(Duration::ZERO);
        assert!(tokio::time::timeout(T, l.wait()).await.is_err());
        assert_eq!(l.due(), None);
    }
}
