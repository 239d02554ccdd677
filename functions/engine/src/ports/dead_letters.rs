//! The dead-letter queue: messages the events queue gave up on (received `maxReceiveCount`
//! times without being deleted), kept for inspection and sent back on request.

use super::{Page, PageRequest};
use crate::domain::time::Timestamp;
use crate::error::StoreResult;
use async_trait::async_trait;

/// One dead-lettered message, its body exactly as it was queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The queue's id for it; [`DeadLetterQueue::redrive`] takes these.
    pub message_id: String,
    pub body: String,
    /// Receipts, as the queue counts them.
    pub receive_count: u32,
    /// When it was dead-lettered, where the queue records it.
    pub dead_at: Option<Timestamp>,
}

/// Which dead letters to send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedriveSelection {
    /// These message ids (unknown ones are skipped).
    Ids(Vec<String>),
    /// Up to this many, oldest first where the queue has an order.
    Oldest(usize),
}

/// Reading and redriving the dead-letter queue. Every adapter puts a message back on the
/// events queue before it leaves the dead-letter queue, so a redrive that fails midway
/// loses nothing (at worst a message is on both, and is delivered at least once).
#[async_trait]
pub trait DeadLetterQueue: Send + Sync {
    /// Up to `page.limit` dead letters after `page.cursor`, oldest first. A queue that
    /// cannot page (SQS) answers one page without a cursor.
    async fn list(&self, page: &PageRequest) -> StoreResult<Page<DeadLetter>>;
    /// Moves the selected dead letters back to the events queue, received afresh (receive
    /// count 0, visible now); returns the ids moved.
    async fn redrive(&self, selection: &RedriveSelection) -> StoreResult<Vec<String>>;
}
