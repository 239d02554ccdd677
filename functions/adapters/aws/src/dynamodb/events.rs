//! Stored events, keyed by `id`, indexed by source (sharded, `by_source_shard`) and by call
//! id (`by_call`). Both indexes hold keys only: an event item is several KB and an index
//! write is paid at the projected size, so a listing fetches the few documents it shows.
//! The event itself is laid out by `event_record` (payload once, deflated when smaller).

use super::codec::{cursor_item, get_item_by_id, insert_indexed, n, s, string_attr, Item};
use super::event_record::{read_event, record_attributes};
use super::index_query::{IndexQuery, RangeCondition};
use super::sharded_query::ShardedQuery;
use super::shards::{all_shards, ordered_key, shard_key, upper_bound, SOURCE_SHARDS};
use crate::domain::limits::MAX_RECORD_DOC_BYTES;
use crate::domain::time::{epoch_secs, sortable, Timestamp};
use crate::domain::{Envelope, StoredEvent};
use crate::error::StoreResult;
use crate::ports::queries::{Cursor, EventQueries, EventQuery};
use crate::ports::{EventStore, Page, PageRequest};
use crate::unavailable;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;

/// Largest stored-event document accepted (DynamoDB's item size, see the limits module).
pub const MAX_EVENT_DOC_BYTES: usize = MAX_RECORD_DOC_BYTES;

/// Events keyed by `id`, indexed by source (sharded) and by call id.
pub struct DynamoEventStore {
    client: Client,
    table: String,
}

impl DynamoEventStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

/// The item of an event: its key, index attributes and record.
pub(crate) fn event_item(event: &StoredEvent, expires_at: Timestamp) -> StoreResult<Item> {
    let env = &event.envelope;
    let received_at = sortable(&env.received_at);
    let mut item = HashMap::from([
        ("id".to_owned(), s(&env.id)),
        ("source".to_owned(), s(&env.source)),
        (
            "source_shard".to_owned(),
            s(shard_key(&env.source, &env.id, SOURCE_SHARDS)),
        ),
        ("received_at".to_owned(), s(&received_at)),
        (
            "received_key".to_owned(),
            s(ordered_key(&received_at, &[&env.id])),
        ),
        ("expires_at".to_owned(), n(epoch_secs(&expires_at))),
    ]);
    item.extend(record_attributes(event)?);
    insert_indexed(&mut item, "call_id", env.call_id());
    Ok(item)
}

#[async_trait]
impl EventStore for DynamoEventStore {
    async fn put(&self, event: &StoredEvent, expires_at: Timestamp) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(event_item(event, expires_at)?))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    fn max_event_bytes(&self) -> Option<usize> {
        Some(MAX_EVENT_DOC_BYTES)
    }

    async fn get(&self, id: &str) -> StoreResult<Option<StoredEvent>> {
        get_item_by_id(&self.client, &self.table, id)
            .await?
            .as_ref()
            .map(read_event)
            .transpose()
    }
}

impl DynamoEventStore {
    /// The envelopes of index items (keys only), fetched in parallel, in the same order.
    async fn envelopes(&self, keys: &[Item]) -> StoreResult<Vec<Envelope>> {
        let ids = keys
            .iter()
            .map(|k| string_attr(k, "id"))
            .collect::<StoreResult<Vec<_>>>()?;
        let fetched = futures::future::try_join_all(ids.iter().map(|id| self.get(id))).await?;
        // An event that expired between the index read and the fetch is left out.
        Ok(fetched.into_iter().flatten().map(|e| e.envelope).collect())
    }

    /// Up to `limit` index items of the query after `cursor`, and whether more follow.
    async fn keys(
        &self,
        query: &EventQuery,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> StoreResult<(Vec<Item>, bool)> {
        let (a, b) = query.range().sortable_bounds();
        match query {
            EventQuery::Source { source, .. } => {
                let before = match cursor {
                    Some(c) => Some(ordered_key(c.get("received_at")?, &[c.get("id")?])),
                    None => None,
                };
                ShardedQuery {
                    client: &self.client,
                    table: &self.table,
                    index: "by_source_shard",
                    hash_name: "source_shard",
                    shards: all_shards(source, SOURCE_SHARDS),
                    sort_name: "received_key",
                    lower: a,
                    upper: b.as_deref().map(upper_bound),
                    before,
                    status: None,
                }
                .read(limit)
                .await
            }
            EventQuery::Call { call_id, .. } => {
                let read = IndexQuery {
                    client: &self.client,
                    table: &self.table,
                    index: Some("by_call"),
                    hash: ("call_id", call_id.clone()),
                    range: Some(("received_at", RangeCondition::Between(a, b))),
                    status: None,
                    newest_first: true,
                }
                .read(cursor.map(cursor_item), limit)
                .await?;
                Ok((read.items, read.resume.is_some()))
            }
        }
    }
}

#[async_trait]
impl EventQueries for DynamoEventStore {
    async fn query_events(
        &self,
        query: &EventQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Envelope>> {
        let cursor = match &page.cursor {
            Some(raw) => Some(query.decode_cursor(raw)?),
            None => None,
        };
        if query.range().is_empty() {
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            });
        }
        let (keys, more) = self.keys(query, cursor.as_ref(), page.limit.max(1)).await?;
        let items = self.envelopes(&keys).await?;
        let next_cursor = more
            .then(|| items.last().map(|e| query.cursor_after(e).encode()))
            .flatten();
        Ok(Page { items, next_cursor })
    }
}
