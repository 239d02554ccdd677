//! An in-memory queue with SQS semantics: delays, visibility timeout, receive counts and a
//! dead-letter list after `max_receives`.

use super::lock;
use crate::domain::time::{now as now_utc, Timestamp};
use crate::domain::{QueueMessage, TraceHeader};
use crate::error::{StoreError, StoreResult};
use crate::ports::{
    DeadLetter, DeadLetterQueue, EventQueue, Outgoing, Page, PageRequest, QueueConsumer,
    ReceivedMessage, RedriveSelection, MAX_QUEUE_DELAY,
};
use async_trait::async_trait;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// What a queued message holds.
enum Payload {
    /// A message this process sent, handed to the consumer as it is so that dispatch does
    /// not decode what it had as a value a moment ago; its JSON is made only when read.
    Sent(Arc<QueueMessage>),
    /// A body queued as it is by [`MemoryQueue::send_raw`], decodable or not.
    Raw(String),
}

struct Entry {
    id: String,
    payload: Payload,
    visible_at: Instant,
    receive_count: u32,
    trace: Option<TraceHeader>,
}

impl Entry {
    /// The message's JSON body, as every queue carries it.
    fn body(&self) -> String {
        match &self.payload {
            Payload::Raw(body) => body.clone(),
            Payload::Sent(sent) => sent.to_json().unwrap_or_else(|e| {
                // Not reachable for the message types (no maps with non-string keys).
                tracing::error!(message_id = %self.id, error = %e, "cannot encode a queued message");
                String::new()
            }),
        }
    }

    /// The message as sent, when this process sent it.
    fn sent(&self) -> Option<Arc<QueueMessage>> {
        match &self.payload {
            Payload::Sent(sent) => Some(sent.clone()),
            Payload::Raw(_) => None,
        }
    }
}

#[derive(Default)]
struct State {
    ready: VecDeque<Entry>,
    delayed: Vec<Entry>,
    in_flight: BTreeMap<String, Entry>,
    /// Dead letters, oldest first, with the time they died.
    dead: Vec<(Entry, Timestamp)>,
}

pub struct MemoryQueue {
    state: Mutex<State>,
    notify: Notify,
    next_id: AtomicU64,
    visibility: Duration,
    max_receives: u32,
}

impl MemoryQueue {
    /// `visibility`: how long a received message stays hidden; `max_receives`: receipts before
    /// a message is moved to the dead-letter list (SQS's redrive `maxReceiveCount`).
    pub fn new(visibility: Duration, max_receives: u32) -> Self {
        Self {
            state: Mutex::new(State::default()),
            notify: Notify::new(),
            next_id: AtomicU64::new(1),
            visibility,
            max_receives: max_receives.max(1),
        }
    }

    /// Bodies that exceeded `max_receives`.
    pub fn dead_letters(&self) -> Vec<String> {
        lock(&self.state)
            .dead
            .iter()
            .map(|(e, _)| e.body())
            .collect()
    }

    /// Messages not yet deleted (ready, delayed or in flight).
    pub fn len(&self) -> usize {
        let s = lock(&self.state);
        s.ready.len() + s.delayed.len() + s.in_flight.len()
    }

    /// Messages ready now or in flight (not counting delayed ones).
    pub fn active_len(&self) -> usize {
        let mut s = lock(&self.state);
        self.promote(&mut s, Instant::now());
        s.ready.len() + s.in_flight.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Moves due delayed and timed-out in-flight messages back to ready; returns the
    /// earliest future time something becomes visible.
    fn promote(&self, state: &mut State, now: Instant) -> Option<Instant> {
        let mut earliest: Option<Instant> = None;
        let mut i = 0;
        while i < state.delayed.len() {
            if state.delayed[i].visible_at <= now {
                let e = state.delayed.swap_remove(i);
                state.ready.push_back(e);
            } else {
                earliest = Some(earliest.map_or(state.delayed[i].visible_at, |t: Instant| {
                    t.min(state.delayed[i].visible_at)
                }));
                i += 1;
            }
        }
        let expired: Vec<String> = state
            .in_flight
            .iter()
            .filter(|(_, e)| e.visible_at <= now)
            .map(|(r, _)| r.clone())
            .collect();
        for receipt in expired {
            if let Some(e) = state.in_flight.remove(&receipt) {
                if e.receive_count >= self.max_receives {
                    state.dead.push((e, now_utc()));
                } else {
                    state.ready.push_back(e);
                }
            }
        }
        for e in state.in_flight.values() {
            earliest = Some(earliest.map_or(e.visible_at, |t| t.min(e.visible_at)));
        }
        earliest
    }
}

#[async_trait]
impl EventQueue for MemoryQueue {
    async fn send_traced(&self, out: Outgoing<'_>) -> StoreResult<()> {
        // A clone of the message is cheap (an event is shared); its JSON is made only if read.
        let message = Payload::Sent(Arc::new(out.message.clone()));
        self.push(message, out.delay, out.trace.cloned());
        Ok(())
    }
}

impl MemoryQueue {
    /// Queues a body as it is, decodable or not (what a foreign producer or a corrupted
    /// message puts on SQS); dispatch fails it and it dead-letters after `max_receives`.
    pub fn send_raw(&self, body: String, delay: Duration) {
        self.push(Payload::Raw(body), delay, None);
    }

    fn push(&self, payload: Payload, delay: Duration, trace: Option<TraceHeader>) {
        let id = format!("m-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let delay = delay.min(MAX_QUEUE_DELAY);
        let entry = Entry {
            id,
            payload,
            visible_at: Instant::now() + delay,
            receive_count: 0,
            trace,
        };
        {
            let mut s = lock(&self.state);
            if delay.is_zero() {
                s.ready.push_back(entry);
            } else {
                s.delayed.push(entry);
            }
        }
        self.notify.notify_one();
    }
}

#[async_trait]
impl QueueConsumer for MemoryQueue {
    async fn receive(&self, max: usize, wait: Duration) -> StoreResult<Vec<ReceivedMessage>> {
        self.take(max, wait, true).await
    }

    async fn receive_kept(&self, max: usize, wait: Duration) -> StoreResult<Vec<ReceivedMessage>> {
        self.take(max, wait, false).await
    }

    async fn delete(&self, receipt: &str) -> StoreResult<()> {
        // Like SQS, deleting with a stale receipt is not an error.
        lock(&self.state).in_flight.remove(receipt);
        Ok(())
    }
}

impl MemoryQueue {
    /// Receives up to `max` messages; `with_body`: encode the JSON body of messages kept as
    /// sent (else their `body` is empty and `sent` carries them).
    async fn take(
        &self,
        max: usize,
        wait: Duration,
        with_body: bool,
    ) -> StoreResult<Vec<ReceivedMessage>> {
        let deadline = Instant::now() + wait;
        loop {
            let notified = self.notify.notified();
            let next_visible = {
                let mut s = lock(&self.state);
                let now = Instant::now();
                let next_visible = self.promote(&mut s, now);
                let mut out = Vec::new();
                while out.len() < max.max(1) {
                    let Some(mut e) = s.ready.pop_front() else {
                        break;
                    };
                    e.receive_count += 1;
                    e.visible_at = now + self.visibility;
                    let receipt = format!("{}#{}", e.id, e.receive_count);
                    let sent = e.sent();
                    out.push(ReceivedMessage {
                        message_id: e.id.clone(),
                        receipt: receipt.clone(),
                        body: if with_body || sent.is_none() {
                            e.body()
                        } else {
                            String::new()
                        },
                        receive_count: e.receive_count,
                        sent,
                        trace: e.trace.clone(),
                        event_stored: None,
                        envelope_json: None,
                    });
                    s.in_flight.insert(receipt, e);
                }
                if !out.is_empty() {
                    if !s.ready.is_empty() {
                        // Wake another consumer for what is left.
                        self.notify.notify_one();
                    }
                    return Ok(out);
                }
                next_visible
            };
            let now = Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            let until = next_visible.map_or(deadline, |t| t.min(deadline));
            let _ = tokio::time::timeout_at(until, notified).await;
        }
    }
}

#[async_trait]
impl DeadLetterQueue for MemoryQueue {
    async fn list(&self, page: &PageRequest) -> StoreResult<Page<DeadLetter>> {
        // The cursor is the id of the last dead letter of the previous page.
        let s = lock(&self.state);
        let start = match &page.cursor {
            Some(c) => s
                .dead
                .iter()
                .position(|(e, _)| &e.id == c)
                .map(|i| i + 1)
                .ok_or(StoreError::InvalidCursor)?,
            None => 0,
        };
        let limit = page.limit.max(1);
        let items: Vec<DeadLetter> = s
            .dead
            .iter()
            .skip(start)
            .take(limit)
            .map(|(e, at)| DeadLetter {
                message_id: e.id.clone(),
                body: e.body(),
                receive_count: e.receive_count,
                dead_at: Some(*at),
            })
            .collect();
        let next_cursor = (s.dead.len() > start + items.len())
            .then(|| items.last().map(|d| d.message_id.clone()))
            .flatten();
        Ok(Page { items, next_cursor })
    }

    async fn redrive(&self, selection: &RedriveSelection) -> StoreResult<Vec<String>> {
        let moved = {
            let mut s = lock(&self.state);
            let chosen: Vec<usize> = match selection {
                RedriveSelection::Ids(ids) => s
                    .dead
                    .iter()
                    .enumerate()
                    .filter(|(_, (e, _))| ids.contains(&e.id))
                    .map(|(i, _)| i)
                    .collect(),
                RedriveSelection::Oldest(n) => (0..s.dead.len().min(*n)).collect(),
            };
            let mut moved = Vec::with_capacity(chosen.len());
            // Highest index first, so the lower ones stay where they are.
            for i in chosen.into_iter().rev() {
                let (mut e, _) = s.dead.remove(i);
                e.receive_count = 0;
                e.visible_at = Instant::now();
                moved.push(e.id.clone());
                s.ready.push_back(e);
            }
            moved.reverse();
            moved
        };
        if !moved.is_empty() {
            self.notify.notify_waiters();
            self.notify.notify_one();
        }
        Ok(moved)
    }
}
