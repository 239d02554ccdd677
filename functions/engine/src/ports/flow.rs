//! Flow control state shared by every dispatcher: call lanes (ordering) and rate slots
//! (rate limits and `Retry-After` pauses). The rules live in `crate::dispatch::flow`; the
//! adapters only keep the state, with conditional writes where dispatchers race.

use crate::domain::time::Timestamp;
use crate::error::StoreResult;
use async_trait::async_trait;
use std::time::Duration;

/// The lane of one call at one subscription: its events not yet done, in delivery order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LaneKey {
    pub subscription_id: String,
    pub call_id: String,
}

impl LaneKey {
    /// One string naming the lane, short enough for any store's key (DynamoDB's partition
    /// keys take 2 KiB): a call id over 512 bytes is replaced by its SHA-256.
    pub fn storage_id(&self) -> String {
        use sha2::Digest;
        let call = if self.call_id.len() <= 512 {
            self.call_id.clone()
        } else {
            let digest = sha2::Sha256::digest(self.call_id.as_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            format!("sha256:{hex}")
        };
        format!("{}#{call}", self.subscription_id)
    }
}

/// An event waiting in a lane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneEntry {
    /// Sorts the lane: the smallest goes first (see `dispatch::flow::order_key`).
    pub order: String,
    pub event_id: String,
    /// When the event was received (the end of its ordering window counts from here).
    pub received_at: Timestamp,
    /// Set while a dispatcher is sending the event's first attempt: another dispatcher
    /// woken for the same event does not send it too, until the lease ends.
    pub lease_until: Option<Timestamp>,
    /// Kept at most until then (the store may drop it after).
    pub expires_at: Timestamp,
}

/// A lease on a lane entry, asked for at `now` and held until `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub now: Timestamp,
    pub until: Timestamp,
}

/// A block of `count` consecutive rate slots `spacing` apart, none before `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotBlock {
    pub count: u32,
    pub spacing: Duration,
    pub now: Timestamp,
}

impl SlotBlock {
    /// How far the block moves a subscription's next free slot (at least one slot).
    pub fn span(&self) -> Duration {
        self.spacing.saturating_mul(self.count.max(1))
    }
}

#[async_trait]
pub trait FlowStore: Send + Sync {
    /// Adds an entry (an entry of the same order is replaced).
    async fn lane_join(&self, lane: &LaneKey, entry: &LaneEntry) -> StoreResult<()>;
    /// The lane's entries, sorted by `order`.
    async fn lane_entries(&self, lane: &LaneKey) -> StoreResult<Vec<LaneEntry>>;
    /// Takes the lease on an entry until `lease.until`, if nobody holds it past
    /// `lease.now`: `false` when another dispatcher holds it (or the entry is gone).
    async fn lane_lease(&self, lane: &LaneKey, order: &str, lease: Lease) -> StoreResult<bool>;
    /// Removes an entry (no error when it is gone).
    async fn lane_leave(&self, lane: &LaneKey, order: &str) -> StoreResult<()>;
    /// Reserves a block of slots for a subscription and returns the time of the first:
    /// the subscription's next free slot moves to `first + count × spacing`. One
    /// conditional write, whatever the count.
    async fn reserve(&self, subscription_id: &str, block: SlotBlock) -> StoreResult<Timestamp>;
    /// Moves the subscription's next free slot to `until` unless it is later already (a 429
    /// with `Retry-After` pauses the subscription).
    async fn pause(&self, subscription_id: &str, until: Timestamp) -> StoreResult<()>;
}

/// The slot arithmetic every adapter shares: given the stored next free slot, the first
/// slot of a reservation and the new next free slot.
pub fn reservation(next_free: Option<Timestamp>, block: SlotBlock) -> (Timestamp, Timestamp) {
    let first = next_free.map_or(block.now, |n| n.max(block.now));
    (
        first,
        first + chrono::Duration::from_std(block.span()).unwrap_or_default(),
    )
}
