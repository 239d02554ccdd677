//! Stored events, keyed by `id`, indexed by source and by call id (`by_source`, `by_call`).

use super::codec::{
    cursor_item, docs, get_doc_by_id, insert_indexed, n, resume_cursor, s, to_doc, DOC,
};
use super::index_query::{IndexQuery, RangeCondition};
use crate::domain::limits::MAX_RECORD_DOC_BYTES;
use crate::domain::time::{epoch_secs, sortable, Timestamp};
use crate::domain::{Envelope, StoredEvent};
use crate::error::StoreResult;
use crate::ports::queries::{EventQueries, EventQuery};
use crate::ports::{EventStore, Page, PageRequest};
use crate::unavailable;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;

/// Largest stored-event document accepted (DynamoDB's item size, see the limits module).
pub const MAX_EVENT_DOC_BYTES: usize = MAX_RECORD_DOC_BYTES;

/// Events keyed by `id`, indexed by source and by call id (`by_source`, `by_call`).
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

#[async_trait]
impl EventStore for DynamoEventStore {
    async fn put(&self, event: &StoredEvent, expires_at: Timestamp) -> StoreResult<()> {
        let env = &event.envelope;
        let mut item = HashMap::from([
            ("id".to_owned(), s(&env.id)),
            ("source".to_owned(), s(&env.source)),
            ("received_at".to_owned(), s(sortable(&env.received_at))),
            ("expires_at".to_owned(), n(epoch_secs(&expires_at))),
            (DOC.to_owned(), to_doc(event)?),
        ]);
        insert_indexed(&mut item, "call_id", env.call_id());
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    fn max_event_bytes(&self) -> Option<usize> {
        Some(MAX_EVENT_DOC_BYTES)
    }

    async fn get(&self, id: &str) -> StoreResult<Option<StoredEvent>> {
        get_doc_by_id(&self.client, &self.table, id).await
    }
}

#[async_trait]
impl EventQueries for DynamoEventStore {
    async fn query_events(
        &self,
        query: &EventQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Envelope>> {
        let start = match &page.cursor {
            Some(raw) => Some(cursor_item(&query.decode_cursor(raw)?)),
            None => None,
        };
        let range = query.range();
        if range.is_empty() {
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            });
        }
        let (name, value) = query.hash();
        let (a, b) = range.sortable_bounds();
        let q = IndexQuery {
            client: &self.client,
            table: &self.table,
            index: Some(match query {
                EventQuery::Source { .. } => "by_source",
                EventQuery::Call { .. } => "by_call",
            }),
            hash: (name, value.to_owned()),
            range: Some(("received_at", RangeCondition::Between(a, b))),
            status: None,
            newest_first: true,
        };
        let read = q.read(start, page.limit).await?;
        let items = docs::<StoredEvent>(&read.items)?
            .into_iter()
            .map(|e| e.envelope)
            .collect();
        let next_cursor = resume_cursor(read.resume, &query.cursor_names());
        Ok(Page { items, next_cursor })
    }
}
