//! Messages this process sent, handed to its own consumers as sent (see
//! [`crate::SqliteQueue::with_handoff`]): each is also a row of `queue`, written already
//! leased to the consumer that will take it from here, so a crash loses none of them.

use crate::ports::ReceivedMessage;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The most messages waiting in a hand-off, or committing to get there. A send beyond it
/// (or beyond [`HANDOFF_MAX_BYTES`]) queues the message as an ordinary visible row, which
/// dispatch then reads back from the store. When a message held its decoded event (about
/// 16 KiB) this was 256, as 8,192 took serve past its memory budget; since the payload
/// travels as its JSON text a 1.3 KB event's message holds about 4 KiB, and a burst whose
/// backlog the hand-off holds is no longer read back (docs/performance.md).
pub(crate) const HANDOFF_MAX: usize = 8_192;

/// The most bytes the messages waiting in a hand-off may hold, by [`weight`]: what bounds
/// serve's memory when events are large (8,192 of 1 MB bodies would be 8 GB). With the
/// bench's 1.3 KB events it binds before the count, at about 5,900 messages; a
/// 10,000-event burst with 3 subscriptions leaves a backlog of about 4,000.
pub(crate) const HANDOFF_MAX_BYTES: usize = 32 << 20;

/// What a message waiting in the hand-off holds in memory, estimated from its event's
/// sizes: the body as received, the payload's text twice (the envelope, and its JSON that
/// dispatch signs and sends), and the rest of the envelope and the message.
pub(crate) fn weight(body_bytes: usize, payload_bytes: usize) -> usize {
    const REST: usize = 2048;
    REST.saturating_add(body_bytes)
        .saturating_add(payload_bytes.saturating_mul(2))
}

/// Places taken in a hand-off: messages waiting plus sends not yet committed.
#[derive(Default)]
struct Taken {
    messages: usize,
    bytes: usize,
}

struct Waiting {
    at: Instant,
    weight: usize,
    message: ReceivedMessage,
}

pub(crate) struct Handoff {
    waiting: Mutex<VecDeque<Waiting>>,
    taken: Mutex<Taken>,
    /// At most this many messages, holding at most `max_bytes` by [`weight`].
    max_messages: usize,
    max_bytes: usize,
    /// A message waiting longer is dropped from here: its lease may be over, and the
    /// database hands it out again then, with its next receive count.
    fresh_for: Duration,
}

impl Handoff {
    /// `lease`: how long a handed-off message's row stays hidden in the database; room for
    /// `max_messages` holding `max_bytes` (by [`weight`]).
    pub(crate) fn new(lease: Duration, max_messages: usize, max_bytes: usize) -> Self {
        Self {
            waiting: Mutex::new(VecDeque::new()),
            taken: Mutex::new(Taken::default()),
            max_messages,
            max_bytes,
            fresh_for: lease / 2,
        }
    }

    /// A place for a message of `weight` bytes about to be sent; `None` when the hand-off
    /// has no room for it.
    pub(crate) fn reserve(self: &Arc<Self>, weight: usize) -> Option<Reservation> {
        let mut taken = switchboard_adapters_memory::lock(&self.taken);
        let room = taken.messages < self.max_messages
            && taken.bytes.saturating_add(weight) <= self.max_bytes;
        if !room {
            return None;
        }
        taken.messages += 1;
        taken.bytes += weight;
        Some(Reservation {
            handoff: Some(self.clone()),
            weight,
        })
    }

    /// Frees the places of `messages` messages holding `bytes`.
    fn give_back(&self, messages: usize, bytes: usize) {
        let mut taken = switchboard_adapters_memory::lock(&self.taken);
        taken.messages = taken.messages.saturating_sub(messages);
        taken.bytes = taken.bytes.saturating_sub(bytes);
    }

    /// Up to `max` waiting messages, oldest first.
    pub(crate) fn take(&self, max: usize) -> Vec<ReceivedMessage> {
        let mut out = Vec::new();
        let (mut messages, mut bytes) = (0, 0);
        {
            let mut waiting = switchboard_adapters_memory::lock(&self.waiting);
            while out.len() < max {
                let Some(Waiting {
                    at,
                    weight,
                    message,
                }) = waiting.pop_front()
                else {
                    break;
                };
                messages += 1;
                bytes += weight;
                if at.elapsed() < self.fresh_for {
                    out.push(message);
                }
            }
        }
        self.give_back(messages, bytes);
        out
    }

    pub(crate) fn is_empty(&self) -> bool {
        switchboard_adapters_memory::lock(&self.waiting).is_empty()
    }
}

/// A place in the hand-off, given back when dropped unless a message took it.
pub(crate) struct Reservation {
    handoff: Option<Arc<Handoff>>,
    weight: usize,
}

impl Reservation {
    /// Hands over a message whose row is committed, leased for its first receipt.
    pub(crate) fn hand_over(mut self, message: ReceivedMessage) {
        if let Some(handoff) = self.handoff.take() {
            switchboard_adapters_memory::lock(&handoff.waiting).push_back(Waiting {
                at: Instant::now(),
                weight: self.weight,
                message,
            });
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(handoff) = self.handoff.take() {
            handoff.give_back(1, self.weight);
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

    /// A hand-off of serve's size for rows leased for `lease`.
    fn handoff(lease: Duration) -> Arc<Handoff> {
        Arc::new(Handoff::new(lease, HANDOFF_MAX, HANDOFF_MAX_BYTES))
    }

    #[test]
    fn places_are_bounded_and_given_back_by_unused_reservations_and_takes() {
        let handoff = handoff(Duration::from_secs(60));
        let mut held: Vec<Reservation> = (0..HANDOFF_MAX)
            .map(|_| handoff.reserve(1).unwrap())
            .collect();
        assert!(handoff.reserve(1).is_none(), "full");
        // A reservation dropped unused (its send failed) gives its place back
        held.pop();
        let again = handoff.reserve(1).unwrap();
        again.hand_over(message(1));
        assert!(
            handoff.reserve(1).is_none(),
            "the handed-over message holds its place"
        );
        // Taking it frees the place
        let taken = handoff.take(10);
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].message_id, "1");
        assert!(handoff.reserve(1).is_some());
    }

    #[test]
    fn bytes_are_bounded_too_and_given_back_by_takes() {
        let handoff = handoff(Duration::from_secs(60));
        let half = HANDOFF_MAX_BYTES / 2;
        handoff.reserve(half).unwrap().hand_over(message(1));
        let second = handoff.reserve(half).unwrap();
        // Two messages, far fewer than the count allows, and no room for a third byte
        assert!(handoff.reserve(1).is_none(), "the bytes are taken");
        assert!(
            handoff.reserve(HANDOFF_MAX_BYTES + 1).is_none(),
            "a message heavier than the bound never goes through the hand-off"
        );
        drop(second);
        assert!(
            handoff.reserve(1).is_some(),
            "an unused reservation gives its bytes back"
        );
        assert_eq!(handoff.take(10).len(), 1);
        assert!(
            handoff.reserve(HANDOFF_MAX_BYTES - 1).is_some(),
            "taking the message gave its bytes back"
        );
    }

    #[test]
    fn a_message_that_waited_past_half_its_lease_is_dropped_not_given() {
        let handoff = handoff(Duration::from_millis(40));
        handoff.reserve(1).unwrap().hand_over(message(1));
        std::thread::sleep(Duration::from_millis(30));
        handoff.reserve(1).unwrap().hand_over(message(2));
        // The first waited 30 ms of a 40 ms lease: the database hands it out instead
        let taken = handoff.take(10);
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].message_id, "2");
        assert!(handoff.is_empty());
    }
}
