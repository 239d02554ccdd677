//! A call's attempts, without an index of their own on the deliveries table: the call's
//! events from the events table's keys-only `by_call` index, then each event's attempts by
//! the deliveries table's key, merged newest first. A call has a handful of events, so a
//! page costs a few small reads, where an attempts index cost a write on every attempt.

use super::codec::{from_doc, string_attr, Item};
use super::deliveries::{attempted_key, DynamoDeliveryStore};
use super::index_query::IndexQuery;
use crate::domain::time::sortable;
use crate::domain::Attempt;
use crate::error::StoreResult;
use crate::ports::queries::DeliveryQuery;
use futures::{StreamExt, TryStreamExt};

/// Most events of one call whose attempts are listed (the newest ones): a listing reads
/// every one of them per page.
pub(super) const MAX_CALL_EVENTS: usize = 1000;
/// Events whose attempts are read at once.
const PARALLEL_READS: usize = 16;

impl DynamoDeliveryStore {
    /// Up to `limit` attempts matching `query` (a call query), newest first, strictly before
    /// the listing key `before`; and whether more follow.
    pub(super) async fn call_attempts(
        &self,
        call_id: &str,
        query: &DeliveryQuery,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<(Vec<Attempt>, bool)> {
        let events = self.event_ids(call_id).await?;
        let items: Vec<Vec<Item>> = futures::stream::iter(events)
            .map(|id| async move { self.event_items(&id).await })
            .buffer_unordered(PARALLEL_READS)
            .try_collect()
            .await?;
        let mut keyed = Vec::new();
        for item in items.iter().flatten() {
            let attempt: Attempt = from_doc(item)?;
            if !query.matches(&attempt) {
                continue;
            }
            let key = attempted_key(
                &sortable(&attempt.attempted_at),
                &attempt.event_id,
                string_attr(item, "sk")?,
            );
            if before.is_none_or(|b| key.as_str() < b) {
                keyed.push((key, attempt));
            }
        }
        keyed.sort_by(|a, b| b.0.cmp(&a.0));
        let more = keyed.len() > limit;
        keyed.truncate(limit);
        Ok((keyed.into_iter().map(|(_, a)| a).collect(), more))
    }

    /// The ids of the call's events, newest first, up to [`MAX_CALL_EVENTS`].
    async fn event_ids(&self, call_id: &str) -> StoreResult<Vec<String>> {
        let index = IndexQuery {
            client: &self.client,
            table: &self.events_table,
            index: Some("by_call"),
            hash: ("call_id", call_id.to_owned()),
            // No time bound: an attempt in the range can belong to an older event (retries).
            range: None,
            status: None,
            newest_first: true,
        };
        let mut ids = Vec::new();
        let mut start = None;
        loop {
            let read = index.read(start, MAX_CALL_EVENTS - ids.len()).await?;
            for item in &read.items {
                ids.push(string_attr(item, "id")?.to_owned());
            }
            match read.resume {
                Some(next) if ids.len() < MAX_CALL_EVENTS => start = Some(next),
                Some(_) => {
                    tracing::warn!(
                        events = ids.len(),
                        "a call has more events than a listing reads; its oldest are left out"
                    );
                    break;
                }
                None => break,
            }
        }
        Ok(ids)
    }
}
