//! Messages this process sent, handed to its own consumers as sent (see
//! [`crate::SqliteQueue::with_handoff`]): each is also a row of `queue`, written already
//! leased to the consumer that will take it from here, so a crash loses none of them.

use crate::ports::ReceivedMessage;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The most messages waiting in a hand-off, or committing to get there. Each holds its
/// decoded event, about 16 KiB of a loaded serve's memory: with 2,048 the durable serve's
/// peak went from 77–80 to 105–108 MiB in a 10,000-event burst, with 8,192 to 134–142 MiB
/// (past its 128 MB budget) for 8–10 % more deliveries/s (docs/performance.md). A send
/// beyond it queues the message as an ordinary visible row.
pub(crate) const HANDOFF_MAX: usize = 256;

pub(crate) struct Handoff {
    waiting: Mutex<VecDeque<(Instant, ReceivedMessage)>>,
    /// Places taken: messages waiting plus sends not yet committed.
    taken: AtomicUsize,
    /// A message waiting longer is dropped from here: its lease may be over, and the
    /// database hands it out again then, with its next receive count.
    fresh_for: Duration,
}

impl Handoff {
    /// `lease`: how long a handed-off message's row stays hidden in the database.
    pub(crate) fn new(lease: Duration) -> Self {
        Self {
            waiting: Mutex::new(VecDeque::new()),
            taken: AtomicUsize::new(0),
            fresh_for: lease / 2,
        }
    }

    /// A place for a message about to be sent; `None` when the hand-off is full.
    pub(crate) fn reserve(self: &Arc<Self>) -> Option<Reservation> {
        let reserved = self
            .taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < HANDOFF_MAX).then_some(n + 1)
            })
            .is_ok();
        reserved.then(|| Reservation {
            handoff: Some(self.clone()),
        })
    }

    /// Up to `max` waiting messages, oldest first.
    pub(crate) fn take(&self, max: usize) -> Vec<ReceivedMessage> {
        let mut waiting = switchboard_adapters_memory::lock(&self.waiting);
        let mut out = Vec::new();
        while out.len() < max {
            let Some((at, message)) = waiting.pop_front() else {
                break;
            };
            self.taken.fetch_sub(1, Ordering::AcqRel);
            if at.elapsed() < self.fresh_for {
                out.push(message);
            }
        }
        out
    }

    pub(crate) fn is_empty(&self) -> bool {
        switchboard_adapters_memory::lock(&self.waiting).is_empty()
    }
}

/// A place in the hand-off, given back when dropped unless a message took it.
pub(crate) struct Reservation {
    handoff: Option<Arc<Handoff>>,
}

impl Reservation {
    /// Hands over a message whose row is committed, leased for its first receipt.
    pub(crate) fn hand_over(mut self, message: ReceivedMessage) {
        if let Some(handoff) = self.handoff.take() {
            switchboard_adapters_memory::lock(&handoff.waiting)
                .push_back((Instant::now(), message));
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(handoff) = self.handoff.take() {
            handoff.taken.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn message(seq: usize) -> ReceivedMessage {
        ReceivedMessage {
            message_id: seq.to_string(),
            receipt: format!("{seq}.1"),
            body: String::new(),
            receive_count: 1,
            sent: None,
            trace: None,
            event_stored: None,
            envelope_json: None,
        }
    }

    #[test]
    fn places_are_bounded_and_given_back_by_unused_reservations_and_takes() {
        let handoff = Arc::new(Handoff::new(Duration::from_secs(60)));
        let mut held: Vec<Reservation> = (0..HANDOFF_MAX)
            .map(|_| handoff.reserve().unwrap())
            .collect();
        assert!(handoff.reserve().is_none(), "full");
        // A reservation dropped unused (its send failed) gives its place back
        held.pop();
        let again = handoff.reserve().unwrap();
        again.hand_over(message(1));
        assert!(
            handoff.reserve().is_none(),
            "the handed-over message holds its place"
        );
        // Taking it frees the place
        let taken = handoff.take(10);
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].message_id, "1");
        assert!(handoff.reserve().is_some());
    }

    #[test]
    fn a_message_that_waited_past_half_its_lease_is_dropped_not_given() {
        let handoff = Arc::new(Handoff::new(Duration::from_millis(40)));
        handoff.reserve().unwrap().hand_over(message(1));
        std::thread::sleep(Duration::from_millis(30));
        handoff.reserve().unwrap().hand_over(message(2));
        // The first waited 30 ms of a 40 ms lease: the database hands it out instead
        let taken = handoff.take(10);
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].message_id, "2");
        assert!(handoff.is_empty());
    }
}
