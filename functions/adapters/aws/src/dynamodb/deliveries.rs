//! Delivery attempts, keyed by (`event_id`, `sk` = `{subscription_id}#{attempt:06}`),
//! indexed by subscription (sharded, `by_subscription_shard`), day (sharded,
//! `recent_shard`) and, sparsely, the statuses other than succeeded (sharded, `failures`).
//! Indexes project `doc` and `status`: an attempt item is under 1 KB, so the projection
//! costs no more than keys only and a listing needs no second read. A call's attempts are
//! found through the call's events (`call_attempts`).

use super::codec::{
    condition_or, cursor_item, docs, from_doc, n, s, storable_key, string_attr, to_doc, Item, DOC,
};
use super::index_query::{IndexQuery, RangeCondition};
use super::sharded_query::ShardedQuery;
use super::shards::{
    all_shards, ordered_key, shard_key, upper_bound, FAILURE_SHARDS, RECENT_SHARDS,
    SUBSCRIPTION_SHARDS,
};
use crate::domain::attempt::AttemptStatus;
use crate::domain::time::{epoch_secs, sortable, Timestamp};
use crate::domain::Attempt;
use crate::error::{StoreError, StoreResult};
use crate::ports::queries::{recent_days, Cursor, DeliveryQueries, DeliveryQuery, TimeRange};
use crate::ports::{DeliveryStore, Page, PageRequest};
use crate::unavailable;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use std::collections::{BTreeMap, HashMap};

/// Attempts keyed by (`event_id`, `sk` = `{subscription_id}#{attempt:06}`), indexed as the
/// module says.
pub struct DynamoDeliveryStore {
    pub(super) client: Client,
    table: String,
    /// The events table, whose `by_call` index finds a call's attempts.
    pub(super) events_table: String,
}

/// The sort attribute of the sharded indexes (`attempted_key`).
const ATTEMPTED_KEY: &str = "attempted_key";

impl DynamoDeliveryStore {
    pub fn new(client: Client, table: impl Into<String>, events_table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            events_table: events_table.into(),
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

    /// Every attempt item of one event, in key order.
    pub(super) async fn event_items(&self, event_id: &str) -> StoreResult<Vec<Item>> {
        let mut all = Vec::new();
        let mut start = None;
        loop {
            let (items, next) = self.query_event(event_id, start, None).await?;
            all.extend(items);
            match next {
                Some(k) => start = Some(k),
                None => return Ok(all),
            }
        }
    }

    /// The merged read of one sharded index over `shards`, resuming before `cursor`.
    #[allow(clippy::too_many_arguments)]
    fn sharded<'a>(
        &'a self,
        index: &'static str,
        hash_name: &'static str,
        shards: Vec<String>,
        range: &TimeRange,
        cursor: Option<&Cursor>,
        status: Option<&'static str>,
    ) -> StoreResult<ShardedQuery<'a>> {
        let (lower, upper) = range.sortable_bounds();
        let before = before_key(cursor)?;
        Ok(ShardedQuery {
            client: &self.client,
            table: &self.table,
            index,
            hash_name,
            shards,
            sort_name: ATTEMPTED_KEY,
            lower,
            upper: upper.as_deref().map(upper_bound),
            before,
            status,
        })
    }

    /// Up to `limit` attempts of the per-day `recent_shard` index, newest day first,
    /// resuming in the cursor's day; `status` filters (the listing of successes, which
    /// have no index of their own).
    async fn read_recent_days(
        &self,
        range: &TimeRange,
        cursor: Option<&Cursor>,
        status: Option<&'static str>,
        limit: usize,
    ) -> StoreResult<(Vec<Item>, bool)> {
        let days = recent_days(range, crate::domain::time::now());
        let first = match cursor {
            Some(c) => {
                let at = c.get("attempted_at")?;
                let day = at.get(..10).ok_or(StoreError::InvalidCursor)?;
                days.iter()
                    .position(|d| d == day)
                    .ok_or(StoreError::InvalidCursor)?
            }
            None => 0,
        };
        let mut items: Vec<Item> = Vec::new();
        for (i, day) in days.iter().enumerate().skip(first) {
            let resume = if i == first { cursor } else { None };
            let shards = all_shards(day, RECENT_SHARDS);
            let (read, more) = self
                .sharded(
                    "recent_shard",
                    "recent_shard",
                    shards,
                    range,
                    resume,
                    status,
                )?
                .read(limit - items.len())
                .await?;
            items.extend(read);
            if more {
                return Ok((items, true));
            }
            if items.len() >= limit {
                return Ok((items, i + 1 < days.len()));
            }
        }
        Ok((items, false))
    }

    /// Up to `limit` attempts of the query after `cursor`, and whether more follow.
    async fn read_page(
        &self,
        query: &DeliveryQuery,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> StoreResult<(Vec<Attempt>, bool)> {
        let read: StoreResult<(Vec<Item>, bool)> = match query {
            DeliveryQuery::Event {
                event_id,
                subscription_id,
            } => {
                let read = IndexQuery {
                    client: &self.client,
                    table: &self.table,
                    index: None,
                    hash: ("event_id", event_id.clone()),
                    range: subscription_id
                        .as_ref()
                        .map(|sub| ("sk", RangeCondition::BeginsWith(format!("{sub}#")))),
                    status: None,
                    newest_first: false,
                }
                .read(cursor.map(cursor_item), limit)
                .await?;
                Ok((read.items, read.resume.is_some()))
            }
            DeliveryQuery::Subscription {
                subscription_id,
                status,
                range,
            } => {
                let shards = all_shards(subscription_id, SUBSCRIPTION_SHARDS);
                self.sharded(
                    "by_subscription_shard",
                    "subscription_shard",
                    shards,
                    range,
                    cursor,
                    status.map(AttemptStatus::as_str),
                )?
                .read(limit)
                .await
            }
            DeliveryQuery::Call { call_id, .. } => {
                let before = before_key(cursor)?;
                return self
                    .call_attempts(call_id, query, before.as_deref(), limit)
                    .await;
            }
            DeliveryQuery::Status {
                status: AttemptStatus::Succeeded,
                range,
            } => {
                self.read_recent_days(
                    range,
                    cursor,
                    Some(AttemptStatus::Succeeded.as_str()),
                    limit,
                )
                .await
            }
            DeliveryQuery::Status { status, range } => {
                let shards = all_shards(status.as_str(), FAILURE_SHARDS);
                self.sharded("failures", "failed_shard", shards, range, cursor, None)?
                    .read(limit)
                    .await
            }
            DeliveryQuery::Recent { range } => {
                self.read_recent_days(range, cursor, None, limit).await
            }
        };
        let (items, more) = read?;
        Ok((docs(&items)?, more))
    }
}

/// The unique, time-ordered sort key of an attempt in the sharded indexes.
pub(super) fn attempted_key(attempted_at: &str, event_id: &str, sk: &str) -> String {
    ordered_key(attempted_at, &[event_id, sk])
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
        let (items, more) = self
            .read_page(query, cursor.as_ref(), page.limit.max(1))
            .await?;
        let next_cursor = more
            .then(|| items.last().map(|a| query.cursor_after(a).encode()))
            .flatten();
        Ok(Page { items, next_cursor })
    }
}

/// The item of an attempt: its key, index attributes and record.
pub(crate) fn attempt_item(attempt: &Attempt, expires_at: Timestamp) -> StoreResult<Item> {
    let attempted_at = sortable(&attempt.attempted_at);
    let day = attempted_at.get(..10).unwrap_or_default();
    let sk = DynamoDeliveryStore::sort_key(&attempt.subscription_id, attempt.attempt);
    let mut item = HashMap::from([
        ("event_id".to_owned(), s(&attempt.event_id)),
        ("sk".to_owned(), s(&sk)),
        ("subscription_id".to_owned(), s(&attempt.subscription_id)),
        (
            "subscription_shard".to_owned(),
            s(shard_key(
                &attempt.subscription_id,
                &attempt.event_id,
                SUBSCRIPTION_SHARDS,
            )),
        ),
        ("status".to_owned(), s(attempt.status.as_str())),
        (
            "recent_shard".to_owned(),
            s(shard_key(day, &attempt.event_id, RECENT_SHARDS)),
        ),
        (
            ATTEMPTED_KEY.to_owned(),
            s(attempted_key(&attempted_at, &attempt.event_id, &sk)),
        ),
        ("expires_at".to_owned(), n(epoch_secs(&expires_at))),
        (DOC.to_owned(), to_doc(attempt)?),
    ]);
    // Sparse: only attempts that did not succeed enter the failures index.
    if attempt.status != AttemptStatus::Succeeded {
        item.insert(
            "failed_shard".to_owned(),
            s(shard_key(
                attempt.status.as_str(),
                &attempt.event_id,
                FAILURE_SHARDS,
            )),
        );
    }
    Ok(item)
}

#[async_trait]
impl DeliveryStore for DynamoDeliveryStore {
    async fn record(&self, attempt: &Attempt, expires_at: Timestamp) -> StoreResult<()> {
        // Replaces a failed attempt of the same key, never a success.
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(attempt_item(attempt, expires_at)?))
            .condition_expression("attribute_not_exists(sk) OR #status <> :succeeded")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":succeeded", s(AttemptStatus::Succeeded.as_str()))
            .send()
            .await;
        condition_or(result, StoreError::Conflict)
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

/// The attempt key a listing resumes before, from its cursor.
fn before_key(cursor: Option<&Cursor>) -> StoreResult<Option<String>> {
    let Some(c) = cursor else { return Ok(None) };
    let key = attempted_key(c.get("attempted_at")?, c.get("event_id")?, c.get("sk")?);
    Ok(Some(key))
}
