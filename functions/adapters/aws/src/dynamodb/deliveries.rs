//! Delivery attempts, keyed by (`event_id`, `sk` = `{subscription_id}#{attempt:06}`),
//! indexed by subscription, call, status and day (`by_subscription`, `by_call`, `by_status`,
//! `recent`).

use super::codec::{
    conditional, cursor_item, docs, from_doc, insert_indexed, n, resume_cursor, s, storable_key,
    string_attr, to_doc, Item, DOC,
};
use super::index_query::{IndexQuery, RangeCondition};
use crate::domain::attempt::AttemptStatus;
use crate::domain::time::{epoch_secs, sortable, Timestamp};
use crate::domain::Attempt;
use crate::error::{StoreError, StoreResult};
use crate::ports::queries::{recent_days, DeliveryQueries, DeliveryQuery, TimeRange};
use crate::ports::{DeliveryStore, Page, PageRequest};
use crate::unavailable;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use std::collections::{BTreeMap, HashMap};

/// Attempts keyed by (`event_id`, `sk` = `{subscription_id}#{attempt:06}`), indexed by
/// subscription, call, status and day (`by_subscription`, `by_call`, `by_status`, `recent`).
pub struct DynamoDeliveryStore {
    client: Client,
    table: String,
}

impl DynamoDeliveryStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn sort_key(subscription_id: &str, attempt: u32) -> String {
        format!("{subscription_id}#{attempt:06}")
    }

    async fn query_event(
        &self,
        event_id: &str,
        start: Option<Item>,
        limit: Option<i32>,
    ) -> StoreResult<(Vec<Item>, Option<Item>)> {
        if !storable_key(event_id) {
            return Ok((Vec::new(), None));
        }
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("event_id = :e")
            .expression_attribute_values(":e", s(event_id))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .set_limit(limit)
            .send()
            .await
            .map_err(unavailable)?;
        let next = out.last_evaluated_key.filter(|k| !k.is_empty());
        Ok((out.items.unwrap_or_default(), next))
    }

    fn index_query<'a>(&'a self, query: &DeliveryQuery, day: Option<&str>) -> IndexQuery<'a> {
        let between = |r: &TimeRange| {
            let (a, b) = r.sortable_bounds();
            Some(("attempted_at", RangeCondition::Between(a, b)))
        };
        let (index, hash_name) = query.index();
        let (hash, range, status) = match query {
            DeliveryQuery::Event {
                event_id,
                subscription_id,
            } => (
                event_id.clone(),
                subscription_id
                    .as_ref()
                    .map(|sub| ("sk", RangeCondition::BeginsWith(format!("{sub}#")))),
                None,
            ),
            DeliveryQuery::Subscription {
                subscription_id,
                status,
                range,
            } => (
                subscription_id.clone(),
                between(range),
                status.map(|s| s.as_str()),
            ),
            DeliveryQuery::Call {
                call_id,
                status,
                range,
            } => (call_id.clone(), between(range), status.map(|s| s.as_str())),
            DeliveryQuery::Status { status, range } => {
                (status.as_str().to_owned(), between(range), None)
            }
            DeliveryQuery::Recent { range } => {
                (day.unwrap_or_default().to_owned(), between(range), None)
            }
        };
        IndexQuery {
            client: &self.client,
            table: &self.table,
            index,
            hash: (hash_name, hash),
            range,
            status,
            newest_first: index.is_some(),
        }
    }

    /// Up to `limit` items of the `recent` index: day buckets, newest first, resuming in
    /// the cursor's day. Returns the items and the item to resume after.
    async fn read_recent_days(
        &self,
        query: &DeliveryQuery,
        days: &[String],
        cursor: Option<Item>,
        cursor_day: Option<&str>,
        limit: usize,
    ) -> StoreResult<(Vec<Item>, Option<Item>)> {
        let first = match cursor_day {
            Some(day) => days.iter().position(|d| d == day),
            None if cursor.is_none() => Some(0),
            None => None,
        };
        let Some(first) = first else {
            return Err(StoreError::InvalidCursor);
        };
        let mut start = cursor;
        let mut items: Vec<Item> = Vec::new();
        for (i, day) in days.iter().enumerate().skip(first) {
            let read = self
                .index_query(query, Some(day))
                .read(start.take(), limit - items.len())
                .await?;
            items.extend(read.items);
            if read.cut || read.resume.is_some() {
                return Ok((items, read.resume));
            }
            if items.len() >= limit {
                let more_days = i + 1 < days.len();
                let next = if more_days {
                    items.last().cloned()
                } else {
                    None
                };
                return Ok((items, next));
            }
        }
        Ok((items, None))
    }
}

#[async_trait]
impl DeliveryQueries for DynamoDeliveryStore {
    async fn query_deliveries(
        &self,
        query: &DeliveryQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Attempt>> {
        let now = crate::domain::time::now();
        let cursor = match &page.cursor {
            Some(raw) => Some(query.decode_cursor(raw, now)?),
            None => None,
        };
        let range = match query {
            DeliveryQuery::Event { .. } => TimeRange::default(),
            DeliveryQuery::Subscription { range, .. }
            | DeliveryQuery::Call { range, .. }
            | DeliveryQuery::Status { range, .. }
            | DeliveryQuery::Recent { range } => *range,
        };
        if range.is_empty() {
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            });
        }
        let limit = page.limit.max(1);
        let start = cursor.as_ref().map(cursor_item);
        let (items, resume) = match query {
            DeliveryQuery::Recent { range } => {
                let days = recent_days(range, now);
                let day = cursor.as_ref().and_then(|c| c.0.get("day"));
                self.read_recent_days(query, &days, start, day.map(String::as_str), limit)
                    .await?
            }
            _ => {
                let read = self.index_query(query, None).read(start, limit).await?;
                (read.items, read.resume)
            }
        };
        Ok(Page {
            items: docs(&items)?,
            next_cursor: resume_cursor(resume, &query.cursor_names()),
        })
    }
}

#[async_trait]
impl DeliveryStore for DynamoDeliveryStore {
    async fn record(&self, attempt: &Attempt, expires_at: Timestamp) -> StoreResult<()> {
        let attempted_at = sortable(&attempt.attempted_at);
        let mut item = HashMap::from([
            ("event_id".to_owned(), s(&attempt.event_id)),
            (
                "sk".to_owned(),
                s(Self::sort_key(&attempt.subscription_id, attempt.attempt)),
            ),
            ("subscription_id".to_owned(), s(&attempt.subscription_id)),
            ("status".to_owned(), s(attempt.status.as_str())),
            ("day".to_owned(), s(&attempted_at[..10])),
            ("attempted_at".to_owned(), s(attempted_at)),
            ("expires_at".to_owned(), n(epoch_secs(&expires_at))),
            (DOC.to_owned(), to_doc(attempt)?),
        ]);
        insert_indexed(&mut item, "call_id", attempt.call_id.as_deref());
        // Replaces a failed attempt of the same key, never a success.
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(sk) OR #status <> :succeeded")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":succeeded", s(AttemptStatus::Succeeded.as_str()))
            .send()
            .await;
        if conditional(result)? {
            Ok(())
        } else {
            Err(StoreError::Conflict)
        }
    }

    async fn list_by_event(
        &self,
        event_id: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<Attempt>> {
        let start = page.cursor.as_ref().map(|sk| {
            HashMap::from([
                ("event_id".to_owned(), s(event_id)),
                ("sk".to_owned(), s(sk)),
            ])
        });
        let limit = i32::try_from(page.limit.clamp(1, 1000)).unwrap_or(1000);
        let (items, next) = self.query_event(event_id, start, Some(limit)).await?;
        let next_cursor = match next {
            Some(k) => Some(string_attr(&k, "sk")?.to_owned()),
            None => None,
        };
        Ok(Page {
            items: docs(&items)?,
            next_cursor,
        })
    }

    async fn latest_by_subscription(
        &self,
        event_id: &str,
    ) -> StoreResult<Vec<(String, u32, AttemptStatus)>> {
        let mut latest: BTreeMap<String, (u32, AttemptStatus)> = BTreeMap::new();
        let mut start = None;
        loop {
            let (items, next) = self.query_event(event_id, start, None).await?;
            for item in &items {
                // Items come sorted by sk, so the last one per subscription is the newest.
                let a: Attempt = from_doc(item)?;
                latest.insert(a.subscription_id, (a.attempt, a.status));
            }
            match next {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        Ok(latest.into_iter().map(|(s, (n, st))| (s, n, st)).collect())
    }
}
