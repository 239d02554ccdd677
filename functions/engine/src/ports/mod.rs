//! Ports: the capabilities the handlers need, one small trait each.
//! Every port has an in-memory adapter and an AWS adapter (`crate::adapters`), and one
//! contract test suite runs against both.

use crate::domain::attempt::AttemptStatus;
use crate::domain::time::Timestamp;
use crate::domain::{Attempt, QueueMessage, Source, StoredEvent, Subscription, TraceHeader};
use crate::error::{StoreError, StoreResult};
use async_trait::async_trait;
use serde::{de::DeserializeOwned, Serialize};
use std::time::Duration;

pub mod dead_letters;
pub mod flow;
pub mod queries;
pub mod versioned;
pub use dead_letters::{DeadLetter, DeadLetterQueue, RedriveSelection};
pub use flow::{FlowStore, LaneEntry, LaneKey, Lease, SlotBlock};
pub use queries::{
    each_delivery, DeliveryQueries, DeliveryQuery, EventQueries, EventQuery, TimeRange,
};

/// Longest delay SQS accepts on a message; longer waits re-queue with `not_before`.
pub const MAX_QUEUE_DELAY: Duration = Duration::from_secs(900);

/// Producer side of the events queue.
#[async_trait]
pub trait EventQueue: Send + Sync {
    /// Returns only once the queue holds the message. `delay` is capped at [`MAX_QUEUE_DELAY`].
    async fn send(&self, message: &QueueMessage, delay: Duration) -> StoreResult<()> {
        let trace = None;
        self.send_traced(Outgoing {
            message,
            delay,
            trace,
        })
        .await
    }
    /// [`EventQueue::send`] with the trace context of the request that caused the message,
    /// handed back on receipt ([`ReceivedMessage::trace`]); a queue that cannot carry one
    /// drops it.
    async fn send_traced(&self, out: Outgoing<'_>) -> StoreResult<()>;
    /// Largest message body (JSON) the queue accepts, if it has a limit.
    fn max_message_bytes(&self) -> Option<usize> {
        None
    }
}

/// A message on its way to the queue, with its delay and the trace that caused it.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    pub message: &'a QueueMessage,
    pub delay: Duration,
    pub trace: Option<&'a TraceHeader>,
}

impl Outgoing<'_> {
    /// The message's JSON body, as every queue stores it.
    pub fn body(&self) -> StoreResult<String> {
        (self.message.to_json()).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

/// A message taken from the queue, invisible to others until deleted or timed out.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub receipt: String,
    pub body: String,
    /// How many times the message has been received, this time included.
    pub receive_count: u32,
    /// The message as it was sent, when the queue is in this process and kept it (the
    /// in-memory queue): dispatch then takes it instead of decoding `body` again.
    pub sent: Option<std::sync::Arc<QueueMessage>>,
    /// The trace context it was sent with.
    pub trace: Option<TraceHeader>,
    /// Set when the queue wrote the message's event into the event store itself, with the
    /// message (the durable store of `serve` keeps each event once): `New` on the message's
    /// first receipt, when no attempt of the event can exist yet, `Existing` on a later one.
    /// Dispatch then writes no event. `None`: the queue stored no event (every other queue).
    pub event_stored: Option<Stored>,
    /// The event's envelope serialised (`serde_json::to_vec`), when the queue serialised it
    /// already to store the event: dispatch sends it to envelope-format subscriptions
    /// instead of serialising it again. `None`: dispatch serialises it.
    pub envelope_json: Option<bytes::Bytes>,
}

/// Consumer side of the events queue (Lambda's event source mapping does this in AWS;
/// `serve` and the tests do it themselves).
#[async_trait]
pub trait QueueConsumer: Send + Sync {
    /// Up to `max` messages, waiting at most `wait` for the first.
    async fn receive(&self, max: usize, wait: Duration) -> StoreResult<Vec<ReceivedMessage>>;
    /// [`QueueConsumer::receive`] for a consumer that takes [`ReceivedMessage::sent`] when it
    /// is there (dispatch): a queue in this process may then leave `body` empty instead of
    /// encoding a message nobody reads as JSON. The default is `receive`.
    async fn receive_kept(&self, max: usize, wait: Duration) -> StoreResult<Vec<ReceivedMessage>> {
        self.receive(max, wait).await
    }
    async fn delete(&self, receipt: &str) -> StoreResult<()>;
    /// Deletes several messages, one result per receipt in order. A store that commits
    /// writes (SQLite) does it in one transaction; the default deletes one by one.
    async fn delete_many(&self, receipts: &[String]) -> Vec<StoreResult<()>> {
        futures::future::join_all(receipts.iter().map(|r| self.delete(r))).await
    }
}

/// A record with a string id, kept in a small configuration table (sources, subscriptions).
pub trait Record: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    fn id(&self) -> &str;
    /// Optimistic-concurrency version: 1 on create, +1 on every write; 0 for a record
    /// written before versions existed, and always 0 for unversioned records (sources).
    fn version(&self) -> u64 {
        0
    }
    /// Sets the version a write will store (unversioned records ignore it).
    fn set_version(&mut self, _version: u64) {}
}

impl Record for Source {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Record for Subscription {
    fn id(&self) -> &str {
        &self.id
    }
    fn version(&self) -> u64 {
        self.version
    }
    fn set_version(&mut self, version: u64) {
        self.version = version;
    }
}

/// CRUD over a small configuration table.
#[async_trait]
pub trait ConfigStore<T: Record>: Send + Sync {
    /// Fails with `Conflict` when the id exists.
    async fn create(&self, record: &T) -> StoreResult<()>;
    async fn get(&self, id: &str) -> StoreResult<Option<T>>;
    /// Every record, sorted by id.
    async fn list(&self) -> StoreResult<Vec<T>>;
    /// Replaces an existing record whatever it holds now (last writer wins); fails with
    /// `NotFound` when it does not exist. Concurrent writers use [`ConfigStore::update_if`].
    async fn update(&self, record: &T) -> StoreResult<()>;
    /// Replaces an existing record only if its stored version is still `expected` (a
    /// record without a version counts as 0); fails with `Stale` when another write came
    /// first and `NotFound` when it does not exist. The caller sets `record`'s version
    /// (`expected + 1`); [`versioned::modify`] does the read-change-write loop.
    async fn update_if(&self, record: &T, expected: u64) -> StoreResult<()>;
    /// Fails with `NotFound` when it does not exist.
    async fn delete(&self, id: &str) -> StoreResult<()>;
}

pub type SourceStore = dyn ConfigStore<Source>;
pub type SubscriptionStore = dyn ConfigStore<Subscription>;

/// A page of results and the cursor for the next one (the admin API's list answers; the CLI
/// reads them back).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Which page to read: at most `limit` items after `cursor` (opaque, from a previous page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    pub cursor: Option<String>,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            limit: 100,
            cursor: None,
        }
    }
}

/// What an event write found: dispatch reads a new event's earlier attempts only when the
/// store cannot say the event is new (a first write of an id has no attempts to find).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// No event of that id was stored before this write.
    New,
    /// An event of that id was there already (a redelivered message, a redrive).
    Existing,
    /// The store does not tell.
    Unknown,
}

/// Accepted events, kept for replay and ops.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Idempotent: storing the same event again (an SQS redelivery) is not an error.
    async fn put(&self, event: &StoredEvent, expires_at: Timestamp) -> StoreResult<()>;
    /// [`EventStore::put`] with the envelope already serialised
    /// (`serde_json::to_vec(&event.envelope)`, which delivery shares), saying whether the
    /// event id was stored before. The default serialises again and cannot tell. The event
    /// comes shared, so a store in this process can keep it without copying it.
    async fn put_serialised(
        &self,
        event: &std::sync::Arc<StoredEvent>,
        _envelope_json: &[u8],
        expires_at: Timestamp,
    ) -> StoreResult<Stored> {
        self.put(event, expires_at).await.map(|()| Stored::Unknown)
    }
    async fn get(&self, id: &str) -> StoreResult<Option<StoredEvent>>;
    /// Largest event (its JSON encoding) this store can hold, if it has a limit. Ingest
    /// refuses larger events with 413 rather than accept one dispatch could never store.
    fn max_event_bytes(&self) -> Option<usize> {
        None
    }
}

/// Delivery attempt records.
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Writes the attempt under (event, subscription, attempt number), replacing a failed
    /// record of the same key but never a `succeeded` one: then it fails with `Conflict`
    /// and the stored success stays (one success per key, whatever the interleaving).
    async fn record(&self, attempt: &Attempt, expires_at: Timestamp) -> StoreResult<()>;
    /// [`Self::record`] of an attempt the caller shares: a store that keeps attempts in
    /// memory keeps this one instead of a copy (dispatch records every attempt this way).
    async fn record_shared(
        &self,
        attempt: &std::sync::Arc<Attempt>,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        self.record(attempt, expires_at).await
    }
    /// Attempts of one event, by subscription then attempt number.
    async fn list_by_event(&self, event_id: &str, page: &PageRequest)
        -> StoreResult<Page<Attempt>>;
    /// The outcome of the newest attempt per subscription of an event, with its number.
    async fn latest_by_subscription(
        &self,
        event_id: &str,
    ) -> StoreResult<Vec<(String, u32, AttemptStatus)>>;
}

/// What a provider-retry key's claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key was free (or expired, or held by a stale pending claim, taken over): it is
    /// now held, pending, for the caller's event. Queue it, then `confirm` (or `release`).
    New,
    /// The event holding the key was queued: the request is a provider retry of it.
    Duplicate(String),
    /// Another request holds the key and may still be queueing its event; ask again after
    /// `retry_after` (when the holder has confirmed, released or gone stale).
    InProgress { retry_after: Duration },
}

/// When a claim is made and how long it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimTerms {
    /// The claim's time (the caller's clock; every caller passes its current time).
    pub at: Timestamp,
    /// The dedup window: a queued event's key is held this long from its claim.
    pub ttl: Duration,
    /// A pending claim older than this is stale: its holder can no longer be sending (it
    /// gave up or was killed), so the next claim takes it over.
    pub pending_for: Duration,
}

/// A provider key being claimed for an event, as of `terms.at`.
#[derive(Debug, Clone, Copy)]
pub struct KeyClaim<'a> {
    pub key: &'a str,
    pub event_id: &'a str,
    pub terms: ClaimTerms,
}

/// Provider-retry detection. A claim is written pending before the event is queued and
/// confirmed (queued) after; only a confirmed claim makes a retry a duplicate, so a crash
/// between claim and send never turns the provider's retry into a "duplicate" of nothing.
#[async_trait]
pub trait DedupStore: Send + Sync {
    /// Claims `key` for `event_id`, pending, as of `terms.at`.
    async fn claim(&self, key: &str, event_id: &str, terms: ClaimTerms) -> StoreResult<Claim>;
    /// Marks `event_id`'s claim of `key` queued. `false` when the key is no longer held by
    /// that event (its pending claim went stale and was taken over).
    async fn confirm(&self, key: &str, event_id: &str) -> StoreResult<bool>;
    /// Releases a claim (the event it named was never queued).
    async fn release(&self, key: &str, event_id: &str) -> StoreResult<()>;
    /// Claims `key` for `event_id` and queues `out` in one write, where the store holds the
    /// events queue as well (serve's durable store): the claim is written queued, never
    /// pending, and ingest waits for one write instead of three. Nothing is queued unless
    /// it answers `New`. `None` where the store cannot (the caller claims, sends and
    /// confirms in turn).
    async fn claim_and_send(
        &self,
        _claim: KeyClaim<'_>,
        _out: Outgoing<'_>,
    ) -> Option<StoreResult<Claim>> {
        None
    }
}

/// What a store holds for a claimed key, and the one decision every adapter makes on it.
#[derive(Debug, Clone)]
pub struct HeldClaim {
    pub event_id: String,
    pub claimed_at: Timestamp,
    /// Unknown where the store expires keys itself (DynamoDB's TTL) and filtered expired
    /// keys out already.
    pub expires_at: Option<Timestamp>,
    pub queued: bool,
}

impl HeldClaim {
    /// The answer to a new claim at `at`: `None` when the key is free for it (the claim
    /// expired, or it was pending past `pending_for`: its holder is gone), else a queued
    /// holder's duplicate or a pending holder's "in progress until it goes stale".
    pub fn answer(self, at: Timestamp, terms: ClaimTerms) -> Option<Claim> {
        let pending_for = chrono::Duration::from_std(terms.pending_for).unwrap_or_default();
        let expired = self.expires_at.is_some_and(|e| e <= at);
        let stale = !self.queued && self.claimed_at + pending_for <= at;
        (!expired && !stale)
            .then(|| held_claim(self.event_id, self.queued, self.claimed_at, at, terms))
    }
}

/// The answer to a claim that found the key held, the same in every adapter: queued is a
/// duplicate; pending is in progress until `claimed_at + pending_for` (at least a second).
pub fn held_claim(
    holder: String,
    queued: bool,
    claimed_at: Timestamp,
    at: Timestamp,
    terms: ClaimTerms,
) -> Claim {
    if queued {
        return Claim::Duplicate(holder);
    }
    let stale_at = claimed_at + chrono::Duration::from_std(terms.pending_for).unwrap_or_default();
    let left = (stale_at - at).to_std().unwrap_or_default();
    Claim::InProgress {
        retry_after: left.max(Duration::from_secs(1)),
    }
}
