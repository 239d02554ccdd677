//! Flow control: call ordering and rate limits, decided before an attempt starts.
//!
//! Ordering (`ordering: call`): the first attempt of an event with a call id joins its
//! lane (subscription + call) and goes only when it is the lane's head and its ordering
//! window has passed; it leaves the lane when its pair is done (succeeded, exhausted or
//! failed), which wakes the next one. A lane entry whose pair is done on record is dropped
//! by whoever finds it at the head, so a dispatcher that crashed between recording and
//! leaving holds nobody for long. Retries and replays are not re-ordered: a retrying head
//! keeps its place.
//!
//! Rate limits: every attempt takes a slot of the subscription's shared schedule (one
//! `1/rate` apart). A dispatcher reserves slots in blocks (one conditional write for up to
//! a tenth of a second of them) and spends them locally; a slot more than
//! [`STALE_SLOT`] old is dropped, never spent late in a burst.
//!
//! A delivery that cannot go now is not an attempt: it is queued again for when it can
//! (the queue message first, then a `held` or `waiting` record, attempt 0, so a crash in
//! between leaves a message to redo it) and its message is done.

use super::slots::Slots;
use super::{DispatchError, Dispatcher};
use crate::domain::attempt::AttemptStatus;
use crate::domain::subscription::Ordering;
use crate::domain::time::{now, Timestamp};
use crate::domain::{QueueMessage, StoredEvent, Subscription, Trigger};
use crate::error::StoreError;
use crate::metrics::{Hold, HoldReason};
use crate::ports::flow::{LaneEntry, LaneKey, Lease, SlotBlock};
use crate::ports::MAX_QUEUE_DELAY;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Longest wait for a rate slot spent asleep in the dispatcher; longer ones go back to
/// the queue.
const MAX_SLEEP: Duration = Duration::from_secs(1);
/// A reserved slot older than this is dropped rather than spent.
const STALE_SLOT: Duration = Duration::from_millis(200);
/// How often a held delivery looks at its lane again when no wake-up came.
pub const HELD_RECHECK: Duration = Duration::from_secs(30);
/// How soon a delivery that lost a race for its lane looks again.
const RACE_RECHECK: Duration = Duration::from_secs(1);
/// How long a dispatcher sending a lane's head keeps others from sending it too, beyond
/// the attempt's timeout.
const LEASE_EXTRA: Duration = Duration::from_secs(30);

/// Whether an attempt may start now.
pub(super) enum Gate {
    /// Go.
    Go,
    /// Not now: queued again (or another dispatcher is sending it).
    Deferred,
}

/// Slots this dispatcher reserved and has not spent yet, per subscription.
#[derive(Default)]
pub struct RateBlocks {
    blocks: Mutex<HashMap<String, Block>>,
}

#[derive(Clone, Copy)]
struct Block {
    next: Timestamp,
    left: u32,
    /// Slots to reserve next time: doubled when a block is used up, halved when slots went
    /// stale.
    size: u32,
    paused_until: Option<Timestamp>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn spacing(rate: u32) -> Duration {
    Duration::from_secs_f64(1.0 / f64::from(rate.max(1)))
}

fn chrono_of(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or_default()
}

impl RateBlocks {
    /// Takes a slot from the local block, dropping stale ones; `None` when a new block must
    /// be reserved (with the size to ask for).
    fn take(&self, id: &str, rate: u32, at: Timestamp) -> Result<Timestamp, u32> {
        let mut blocks = lock(&self.blocks);
        let b = blocks.entry(id.to_owned()).or_insert(Block {
            next: at,
            left: 0,
            size: 1,
            paused_until: None,
        });
        let step = chrono_of(spacing(rate));
        let oldest = at - chrono_of(STALE_SLOT);
        let mut dropped = false;
        while b.left > 0 && b.next < oldest {
            b.next += step;
            b.left -= 1;
            dropped = true;
        }
        if dropped {
            b.size = (b.size / 2).max(1);
        }
        if b.left > 0 && b.paused_until.is_none_or(|p| b.next >= p) {
            let slot = b.next;
            b.next += step;
            b.left -= 1;
            if b.left == 0 {
                b.size = (b.size * 2).min((rate / 10).max(1));
            }
            return Ok(slot);
        }
        b.left = 0;
        Err(b.size)
    }

    /// Keeps a newly reserved block (its first slot already taken by the caller).
    fn keep(&self, id: &str, rate: u32, first: Timestamp, count: u32) {
        let mut blocks = lock(&self.blocks);
        if let Some(b) = blocks.get_mut(id) {
            if b.left == 0 && count > 1 {
                b.next = first + chrono_of(spacing(rate));
                b.left = count - 1;
            }
        }
    }

    /// Drops the local block: the subscription is paused until `until`.
    fn pause(&self, id: &str, until: Timestamp) {
        let mut blocks = lock(&self.blocks);
        if let Some(b) = blocks.get_mut(id) {
            b.left = 0;
            b.paused_until = Some(b.paused_until.map_or(until, |p| p.max(until)));
        }
    }

    fn paused_until(&self, id: &str) -> Option<Timestamp> {
        lock(&self.blocks).get(id).and_then(|b| b.paused_until)
    }
}

/// The lane a first attempt of this pair joins, if the subscription orders calls.
pub(super) fn lane_of(
    sub: &Subscription,
    event: &StoredEvent,
    n: u32,
    trigger: Trigger,
) -> Option<LaneKey> {
    if sub.ordering != Ordering::Call || n != 1 || trigger == Trigger::Manual {
        return None;
    }
    event.envelope.call_id().map(|call| LaneKey {
        subscription_id: sub.id.clone(),
        call_id: call.to_owned(),
    })
}

/// The lane's sort key of an event: by arrival without a window; with one, by
/// `occurred_at` (then arrival) but never ahead of an event whose window has already
/// passed (those go, or went, in arrival order).
pub fn order_key(
    event: &StoredEvent,
    window: Duration,
    lane: &[LaneEntry],
    at: Timestamp,
) -> String {
    let received = event.envelope.received_at.timestamp_millis();
    let mut rank = received;
    if !window.is_zero() {
        rank = event
            .envelope
            .occurred_at
            .map_or(received, |t| t.timestamp_millis());
        for e in lane {
            if e.received_at + chrono_of(window) <= at {
                let their = e
                    .order
                    .split('#')
                    .next()
                    .and_then(|r| r.parse::<i64>().ok())
                    .unwrap_or(i64::MIN);
                rank = rank.max(their);
            }
        }
    }
    // Fixed width keeps the string order the numeric order (times after 1970).
    format!(
        "{:015}#{:015}#{}",
        rank.max(0),
        received.max(0),
        event.envelope.id
    )
}

impl Dispatcher {
    /// Whether attempt `n` of the pair may start now; queues it again when not.
    pub(super) async fn admit(
        &self,
        event: &StoredEvent,
        sub: &Subscription,
        n: u32,
        trigger: Trigger,
        rate_slot: Option<Timestamp>,
        permits: &Slots,
    ) -> Result<Gate, DispatchError> {
        let mut held = None;
        if let Some(lane) = lane_of(sub, event, n, trigger) {
            match self.lane_turn(event, sub, &lane).await? {
                Some(entry) => held = Some((lane, entry)),
                None => return Ok(Gate::Deferred),
            }
        }
        if let Some(rate) = sub.rate_limit_per_second {
            // A slot the queue brought back late is not spent late (with others, in a
            // burst): a fresh one is taken instead.
            let fresh = now() - chrono_of(STALE_SLOT);
            let mut slot = match rate_slot {
                Some(s) if s >= fresh && self.rate.paused_until(&sub.id).is_none_or(|p| s >= p) => {
                    s
                }
                _ => self.rate_slot(sub, rate).await?,
            };
            loop {
                let wait = (slot - now()).to_std().unwrap_or_default();
                if wait > MAX_SLEEP || !permits.fits(wait + self.client.timeout_for(sub)) {
                    let why = "waiting for the subscription's rate limit";
                    let defer = Defer::new(HoldReason::RateLimit, slot, why);
                    self.defer(event, sub, n, trigger, defer.slot(slot)).await?;
                    return Ok(Gate::Deferred);
                }
                tokio::time::sleep(wait).await;
                // A 429 seen here while asleep paused the subscription: a slot after it.
                if self.rate.paused_until(&sub.id).is_none_or(|p| p <= now()) {
                    break;
                }
                slot = self.rate_slot(sub, rate).await?;
            }
        }
        if let Some((lane, entry)) = &held {
            if !self.lease(event, sub, lane, entry).await? {
                return Ok(Gate::Deferred);
            }
        }
        Ok(Gate::Go)
    }

    /// Takes the send lease on the lane's head, then looks again: an earlier event that
    /// joined meanwhile, or another event being sent (two dispatchers racing on events
    /// that arrived together), makes it back off, so a call never has two in flight.
    async fn lease(
        &self,
        event: &StoredEvent,
        sub: &Subscription,
        lane: &LaneKey,
        entry: &LaneEntry,
    ) -> Result<bool, DispatchError> {
        let at = now();
        let until = at + chrono_of(self.client.timeout_for(sub) + LEASE_EXTRA);
        if !self
            .ports
            .flow
            .lane_lease(lane, &entry.order, Lease { now: at, until })
            .await?
        {
            tracing::info!(event_id = %event.envelope.id, "another dispatcher is sending this lane's head");
            return Ok(false);
        }
        let entries = self.ports.flow.lane_entries(lane).await?;
        let rival = entries.iter().find(|e| {
            e.order != entry.order
                && (e.order < entry.order || e.lease_until.is_some_and(|t| t > at))
        });
        let Some(rival) = rival else {
            return Ok(true);
        };
        // Give the lease back (the entry as it was) and look again shortly.
        self.ports.flow.lane_join(lane, entry).await?;
        let why = "held by call ordering: another event of the call is being sent";
        let until = now() + chrono_of(RACE_RECHECK);
        let mut defer = Defer::new(HoldReason::Ordering, until, why);
        defer.behind = Some(rival.event_id.clone());
        self.defer(event, sub, 1, Trigger::Initial, defer).await?;
        Ok(false)
    }

    /// The event's lane entry when it is the head of its lane and out of its window;
    /// otherwise queues it again (held) and answers `None`.
    async fn lane_turn(
        &self,
        event: &StoredEvent,
        sub: &Subscription,
        lane: &LaneKey,
    ) -> Result<Option<LaneEntry>, DispatchError> {
        let id = &event.envelope.id;
        let window = Duration::from_millis(sub.ordering_window_ms.into());
        let mut entries = self.ports.flow.lane_entries(lane).await?;
        let at = now();
        let own = match entries.iter().find(|e| &e.event_id == id) {
            Some(e) => e.clone(),
            None => {
                let entry = LaneEntry {
                    order: order_key(event, window, &entries, at),
                    event_id: id.clone(),
                    received_at: event.envelope.received_at,
                    lease_until: None,
                    expires_at: at + chrono_of(self.settings.retention),
                };
                self.ports.flow.lane_join(lane, &entry).await?;
                entries.push(entry.clone());
                entries.sort_by(|a, b| a.order.cmp(&b.order));
                entry
            }
        };
        let window_ends = own.received_at + chrono_of(window);
        if window_ends > at {
            let why = "in its call's ordering window";
            let defer = Defer::new(HoldReason::OrderingWindow, window_ends, why);
            self.defer(event, sub, 1, Trigger::Initial, defer).await?;
            return Ok(None);
        }
        for ahead in entries.iter().take_while(|e| e.order < own.order) {
            if self.pair_done(&ahead.event_id, &sub.id).await? {
                // Done on record but still in the lane: its dispatcher stopped before leaving.
                self.ports.flow.lane_leave(lane, &ahead.order).await?;
                continue;
            }
            let why = "held by call ordering: an earlier event of the call is not done";
            let until = at + chrono_of(HELD_RECHECK);
            let mut defer = Defer::new(HoldReason::Ordering, until, why);
            defer.behind = Some(ahead.event_id.clone());
            self.defer(event, sub, 1, Trigger::Initial, defer).await?;
            return Ok(None);
        }
        Ok(Some(own))
    }

    /// Whether the pair's newest record is final (no attempt will follow on its own).
    async fn pair_done(&self, event_id: &str, subscription_id: &str) -> Result<bool, StoreError> {
        let latest = self
            .ports
            .deliveries
            .latest_by_subscription(event_id)
            .await?;
        Ok(latest
            .iter()
            .any(|(sub, _, status)| sub == subscription_id && status.is_final()))
    }

    /// After the pair's attempt: when it is done, leaves the lane and wakes the next
    /// event of the call (whose own held message stays as the fallback).
    pub(super) async fn after_attempt(
        &self,
        event: &StoredEvent,
        sub: &Subscription,
        status: AttemptStatus,
    ) -> Result<(), DispatchError> {
        if !status.is_final() || sub.ordering != Ordering::Call {
            return Ok(());
        }
        let Some(call) = event.envelope.call_id() else {
            return Ok(());
        };
        let lane = LaneKey {
            subscription_id: sub.id.clone(),
            call_id: call.to_owned(),
        };
        let entries = self.ports.flow.lane_entries(&lane).await?;
        let mut next = None;
        for e in &entries {
            if e.event_id == event.envelope.id {
                self.ports.flow.lane_leave(&lane, &e.order).await?;
            } else if next.is_none() {
                next = Some(e);
            }
        }
        let window = chrono_of(Duration::from_millis(sub.ordering_window_ms.into()));
        if let Some(next) = next.filter(|e| e.received_at + window <= now()) {
            let wake = QueueMessage::Deliver {
                event_id: next.event_id.clone(),
                subscription_id: sub.id.clone(),
                attempt: 1,
                not_before: None,
                trigger: Trigger::Initial,
                rate_slot: None,
            };
            self.send(&wake, Duration::ZERO).await?;
        }
        Ok(())
    }

    /// A slot of the subscription's shared rate schedule.
    async fn rate_slot(&self, sub: &Subscription, rate: u32) -> Result<Timestamp, StoreError> {
        let at = now();
        match self.rate.take(&sub.id, rate, at) {
            Ok(slot) => Ok(slot),
            Err(count) => {
                let first = self
                    .ports
                    .flow
                    .reserve(
                        &sub.id,
                        SlotBlock {
                            count,
                            spacing: spacing(rate),
                            now: at,
                        },
                    )
                    .await?;
                self.rate.keep(&sub.id, rate, first, count);
                Ok(first)
            }
        }
    }

    /// A 429 with `Retry-After` pauses a rate-limited subscription until then, for every
    /// dispatcher.
    pub(super) async fn pause(
        &self,
        sub: &Subscription,
        until: Timestamp,
    ) -> Result<(), StoreError> {
        if sub.rate_limit_per_second.is_none() {
            return Ok(());
        }
        self.rate.pause(&sub.id, until);
        self.ports.flow.pause(&sub.id, until).await
    }

    /// Queues the pair again for `defer.until`, then records why it waits (attempt 0).
    async fn defer(
        &self,
        event: &StoredEvent,
        sub: &Subscription,
        n: u32,
        trigger: Trigger,
        defer: Defer,
    ) -> Result<(), DispatchError> {
        let delay = (defer.until - now()).to_std().unwrap_or_default();
        let again = QueueMessage::Deliver {
            event_id: event.envelope.id.clone(),
            subscription_id: sub.id.clone(),
            attempt: n,
            not_before: Some(defer.until),
            trigger,
            rate_slot: defer.rate_slot,
        };
        self.send(&again, delay.min(MAX_QUEUE_DELAY)).await?;
        let mut record = self.record_without_request(event, sub, 0, trigger, defer.why);
        record.status = match defer.reason {
            HoldReason::RateLimit => AttemptStatus::Waiting,
            HoldReason::Ordering | HoldReason::OrderingWindow => AttemptStatus::Held,
        };
        record.next_attempt_at = Some(defer.until);
        record.held_behind = defer.behind;
        tracing::info!(status = record.status.as_str(), reason = defer.reason.label(), until = %defer.until, "delivery deferred");
        let hold = Hold {
            reason: defer.reason,
            wait: delay,
        };
        self.record_hold(record, event, Some(hold)).await
    }
}

/// Why and until when a delivery waits.
struct Defer {
    reason: HoldReason,
    until: Timestamp,
    why: &'static str,
    behind: Option<String>,
    rate_slot: Option<Timestamp>,
}

impl Defer {
    fn new(reason: HoldReason, until: Timestamp, why: &'static str) -> Self {
        Self {
            reason,
            until,
            why,
            behind: None,
            rate_slot: None,
        }
    }

    fn slot(mut self, slot: Timestamp) -> Self {
        self.rate_slot = Some(slot);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> Timestamp {
        chrono::DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap_or_default()
    }

    fn event(id: &str, received: i64, occurred: i64) -> StoredEvent {
        crate::test_events::stored_event(id, t(received), Some(t(occurred)))
    }

    fn entry(order: String, received: i64) -> LaneEntry {
        LaneEntry {
            order,
            event_id: "e".into(),
            received_at: t(received),
            lease_until: None,
            expires_at: t(1_000_000),
        }
    }

    #[test]
    fn lane_order_is_arrival_without_a_window_and_occurred_at_within_one() {
        let end = event("evt_end", 0, 5_000);
        let start = event("evt_start", 100, 1_000);
        let none = Duration::ZERO;
        assert!(order_key(&end, none, &[], t(0)) < order_key(&start, none, &[], t(100)));
        let w = Duration::from_millis(1_000);
        let end_key = order_key(&end, w, &[], t(0));
        let lane = [entry(end_key.clone(), 0)];
        assert!(order_key(&start, w, &lane, t(100)) < end_key);
        // Arriving after the end's window has passed: behind it, whatever it says.
        let late = event("evt_late", 2_000, 1_000);
        assert!(order_key(&late, w, &lane, t(2_000)) > end_key);
    }

    #[test]
    fn rate_blocks_hand_out_spaced_slots_and_drop_stale_ones() {
        let blocks = RateBlocks::default();
        let rate = 100; // 10 ms apart, blocks of up to 10
        assert_eq!(blocks.take("s", rate, t(0)), Err(1));
        blocks.keep("s", rate, t(0), 4);
        assert_eq!(blocks.take("s", rate, t(0)), Ok(t(10)));
        assert_eq!(blocks.take("s", rate, t(0)), Ok(t(20)));
        // The last slot is 200 ms stale by now: dropped, and the next block is smaller.
        assert_eq!(blocks.take("s", rate, t(500)), Err(1));
        blocks.keep("s", rate, t(500), 1);
        assert_eq!(blocks.take("s", rate, t(500)), Err(1));
        // A pause drops what is left and keeps later slots out.
        blocks.keep("s", rate, t(600), 3);
        blocks.pause("s", t(5_000));
        assert_eq!(blocks.take("s", rate, t(600)), Err(1));
        assert_eq!(blocks.paused_until("s"), Some(t(5_000)));
    }
}
