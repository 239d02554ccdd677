//! Stores on DynamoDB. Each item carries its key and index attributes as top-level strings
//! (the names `infra/template.yaml` declares) and the whole record as JSON in `doc`, so the
//! mapping is one place and cannot drift field by field.

use super::unavailable;
use crate::domain::attempt::AttemptStatus;
use crate::domain::limits::{MAX_PARTITION_KEY_BYTES, MAX_RECORD_DOC_BYTES};
use crate::domain::time::{epoch_secs, sortable, Timestamp};
use crate::domain::Envelope;
use crate::domain::{Attempt, StoredEvent};
use crate::error::{StoreError, StoreResult};
use crate::ports::queries::{
    recent_days, Cursor, DeliveryQueries, DeliveryQuery, EventQueries, EventQuery, TimeRange,
};
use crate::ports::{
    held_claim, Claim, ClaimTerms, ConfigStore, DedupStore, DeliveryStore, EventStore, Page,
    PageRequest, Record,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use std::collections::{BTreeMap, HashMap};
use std::marker::PhantomData;

type Item = HashMap<String, AttributeValue>;

const DOC: &str = "doc";
/// Top-level copy of a configuration record's version, for conditional writes.
const VERSION: &str = "version";

/// Longest value kept in an index key attribute (`call_id`). DynamoDB refuses an item whose
/// index partition key exceeds 2048 bytes; a provider's call id can be any length. A longer
/// one stays in the document but is not indexed (such an event is not listed by call).
pub const MAX_INDEXED_KEY_BYTES: usize = 1024;

/// Largest stored-event document accepted (DynamoDB's item size, see the limits module).
pub const MAX_EVENT_DOC_BYTES: usize = MAX_RECORD_DOC_BYTES;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn to_doc<T: serde::Serialize>(value: &T) -> StoreResult<AttributeValue> {
    serde_json::to_string(value)
        .map(AttributeValue::S)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_doc<T: serde::de::DeserializeOwned>(item: &Item) -> StoreResult<T> {
    let doc = item
        .get(DOC)
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| StoreError::Corrupt("item has no doc attribute".into()))?;
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn string_attr<'a>(item: &'a Item, name: &str) -> StoreResult<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| StoreError::Corrupt(format!("item has no {name} attribute")))
}

/// Whether an SDK error is DynamoDB's ConditionalCheckFailedException.
fn is_condition_failure<E, R>(err: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

/// Whether a record could exist under this partition key value: DynamoDB refuses (with a
/// ValidationException) any request naming a longer one, so such a lookup finds nothing.
fn storable_key(value: &str) -> bool {
    value.len() <= MAX_PARTITION_KEY_BYTES
}

/// The record stored under `id` in a table keyed by `id`, read consistently.
async fn get_doc_by_id<T: serde::de::DeserializeOwned>(
    client: &Client,
    table: &str,
    id: &str,
) -> StoreResult<Option<T>> {
    if !storable_key(id) {
        return Ok(None);
    }
    let out = client
        .get_item()
        .table_name(table)
        .key("id", s(id))
        .consistent_read(true)
        .send()
        .await
        .map_err(unavailable)?;
    out.item.as_ref().map(from_doc).transpose()
}

/// Sources or subscriptions in a table keyed by `id`.
pub struct DynamoConfigStore<T> {
    client: Client,
    table: String,
    _record: PhantomData<fn() -> T>,
}

impl<T> DynamoConfigStore<T> {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            _record: PhantomData,
        }
    }
}

impl<T: Record> DynamoConfigStore<T> {
    /// The record, with its version also top-level (`version`) for write conditions;
    /// unversioned records (version 0) carry none.
    fn item(record: &T) -> StoreResult<Item> {
        let mut item = HashMap::from([
            ("id".to_owned(), s(record.id())),
            (DOC.to_owned(), to_doc(record)?),
        ]);
        if record.version() > 0 {
            item.insert(
                VERSION.to_owned(),
                AttributeValue::N(record.version().to_string()),
            );
        }
        Ok(item)
    }

    async fn put_with_condition(
        &self,
        record: &T,
        condition: &str,
        on_fail: StoreError,
    ) -> StoreResult<()> {
        self.put_expecting(record, condition, None, on_fail).await
    }

    /// A conditional PutItem; `expected` binds `:expected` (and `#version`) in `condition`.
    async fn put_expecting(
        &self,
        record: &T,
        condition: &str,
        expected: Option<u64>,
        on_fail: StoreError,
    ) -> StoreResult<()> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::item(record)?))
            .condition_expression(condition);
        if let Some(v) = expected {
            put = put
                .expression_attribute_names("#version", VERSION)
                .expression_attribute_values(":expected", AttributeValue::N(v.to_string()));
        }
        let result = put.send().await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(on_fail),
            Err(e) => Err(unavailable(e)),
        }
    }
}

#[async_trait]
impl<T: Record> ConfigStore<T> for DynamoConfigStore<T> {
    async fn create(&self, record: &T) -> StoreResult<()> {
        self.put_with_condition(record, "attribute_not_exists(id)", StoreError::Conflict)
            .await
    }

    async fn get(&self, id: &str) -> StoreResult<Option<T>> {
        get_doc_by_id(&self.client, &self.table, id).await
    }

    /// Configuration tables are small (tens to thousands of rows): a paged scan is the
    /// intended access path here, unlike the event and delivery tables.
    async fn list(&self) -> StoreResult<Vec<T>> {
        let mut records: Vec<T> = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items.unwrap_or_default() {
                records.push(from_doc(&item)?);
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        records.sort_by(|a, b| a.id().cmp(b.id()));
        Ok(records)
    }

    async fn update(&self, record: &T) -> StoreResult<()> {
        if !storable_key(record.id()) {
            return Err(StoreError::NotFound);
        }
        self.put_with_condition(record, "attribute_exists(id)", StoreError::NotFound)
            .await
    }

    /// One conditional PutItem. Items written before versions existed have no `version`
    /// attribute: they count as version 0. On a failed condition a consistent read tells
    /// a missing item (`NotFound`) from a changed one (`Stale`).
    async fn update_if(&self, record: &T, expected: u64) -> StoreResult<()> {
        let condition = if expected == 0 {
            "attribute_exists(id) AND (attribute_not_exists(#version) OR #version = :expected)"
        } else {
            "attribute_exists(id) AND #version = :expected"
        };
        match self
            .put_expecting(record, condition, Some(expected), StoreError::Stale)
            .await
        {
            Err(StoreError::Stale) => {
                match get_doc_by_id::<T>(&self.client, &self.table, record.id()).await? {
                    Some(_) => Err(StoreError::Stale),
                    None => Err(StoreError::NotFound),
                }
            }
            other => other,
        }
    }

    async fn delete(&self, id: &str) -> StoreResult<()> {
        if !storable_key(id) {
            return Err(StoreError::NotFound);
        }
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("id", s(id))
            .condition_expression("attribute_exists(id)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(StoreError::NotFound),
            Err(e) => Err(unavailable(e)),
        }
    }
}

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
        if let Some(call_id) = env.call_id().filter(|c| c.len() <= MAX_INDEXED_KEY_BYTES) {
            item.insert("call_id".to_owned(), s(call_id));
        }
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

/// One key-or-index query (never a scan), read page by page.
struct IndexQuery<'a> {
    client: &'a Client,
    table: &'a str,
    index: Option<&'static str>,
    /// Hash attribute name and value.
    hash: (&'static str, String),
    /// Range attribute name and the key condition on it, if any.
    range: Option<(&'static str, RangeCondition)>,
    /// Only attempts of this status (a filter on top of the key condition).
    status: Option<&'static str>,
    newest_first: bool,
}

enum RangeCondition {
    Between(Option<String>, Option<String>),
    BeginsWith(String),
}

/// Most queries one page may take (filters can make DynamoDB pages sparse).
const MAX_ROUNDS: usize = 20;

fn cursor_item(cursor: &Cursor) -> Item {
    cursor.0.iter().map(|(k, v)| (k.clone(), s(v))).collect()
}

fn item_cursor(item: &Item) -> Cursor {
    Cursor(
        item.iter()
            .filter_map(|(k, v)| v.as_s().ok().map(|v| (k.clone(), v.clone())))
            .collect(),
    )
}

/// What one page read returned: the items, and where to resume when more may follow.
struct PageRead {
    items: Vec<Item>,
    /// Resume after this key: the last item kept when the page was cut, else DynamoDB's
    /// LastEvaluatedKey when a read stopped early.
    resume: Option<Item>,
    /// Whether the page was cut at the limit with items left over.
    cut: bool,
}

impl IndexQuery<'_> {
    /// Up to `limit` items after `start`, in as many rounds as a filter needs (bounded).
    async fn read(&self, start: Option<Item>, limit: usize) -> StoreResult<PageRead> {
        let unindexed = self.index.is_some() && self.hash.1.len() > MAX_INDEXED_KEY_BYTES;
        if unindexed || !storable_key(&self.hash.1) {
            // Nothing is indexed under a key that long (and DynamoDB would refuse the query).
            return Ok(PageRead {
                items: Vec::new(),
                resume: None,
                cut: false,
            });
        }
        let mut names = HashMap::from([("#h".to_owned(), self.hash.0.to_owned())]);
        let mut values = HashMap::from([(":h".to_owned(), s(&self.hash.1))]);
        let mut condition = "#h = :h".to_owned();
        if let Some((name, range)) = &self.range {
            let clause = match range {
                RangeCondition::Between(Some(a), Some(b)) => {
                    values.insert(":a".into(), s(a));
                    values.insert(":b".into(), s(b));
                    Some("#r BETWEEN :a AND :b")
                }
                RangeCondition::Between(Some(a), None) => {
                    values.insert(":a".into(), s(a));
                    Some("#r >= :a")
                }
                RangeCondition::Between(None, Some(b)) => {
                    values.insert(":b".into(), s(b));
                    Some("#r <= :b")
                }
                RangeCondition::Between(None, None) => None,
                RangeCondition::BeginsWith(p) => {
                    values.insert(":p".into(), s(p));
                    Some("begins_with(#r, :p)")
                }
            };
            if let Some(clause) = clause {
                names.insert("#r".into(), (*name).to_owned());
                condition = format!("{condition} AND {clause}");
            }
        }
        let filter = self.status.map(|st| {
            names.insert("#st".into(), "status".into());
            values.insert(":st".into(), s(st));
            "#st = :st".to_owned()
        });
        let limit = limit.max(1);
        let mut items: Vec<Item> = Vec::new();
        let mut start = start;
        for _ in 0..MAX_ROUNDS {
            let want = limit - items.len();
            // One more than needed tells whether more follow without an empty extra page.
            let ask = if filter.is_some() {
                (want + 1).max(100)
            } else {
                want + 1
            };
            let out = self
                .client
                .query()
                .table_name(self.table)
                .set_index_name(self.index.map(str::to_owned))
                .key_condition_expression(&condition)
                .set_filter_expression(filter.clone())
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(!self.newest_first)
                .set_consistent_read(self.index.is_none().then_some(true))
                .set_exclusive_start_key(start.take())
                .limit(i32::try_from(ask.min(1000)).unwrap_or(1000))
                .send()
                .await
                .map_err(unavailable)?;
            items.extend(out.items.unwrap_or_default());
            if items.len() > limit {
                items.truncate(limit);
                let resume = items.last().cloned();
                return Ok(PageRead {
                    items,
                    resume,
                    cut: true,
                });
            }
            match out.last_evaluated_key.filter(|k| !k.is_empty()) {
                Some(k) if items.len() < limit => start = Some(k),
                Some(k) => {
                    return Ok(PageRead {
                        items,
                        resume: Some(k),
                        cut: false,
                    })
                }
                None => {
                    return Ok(PageRead {
                        items,
                        resume: None,
                        cut: false,
                    })
                }
            }
        }
        Ok(PageRead {
            items,
            resume: start,
            cut: false,
        })
    }
}

/// The names of the key attributes a cursor keeps, from an item that has them all.
fn key_of(item: &Item, names: &[&str]) -> Item {
    names
        .iter()
        .filter_map(|n| item.get(*n).map(|v| ((*n).to_owned(), v.clone())))
        .collect()
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
        let items = read
            .items
            .iter()
            .map(|i| from_doc::<StoredEvent>(i).map(|e| e.envelope))
            .collect::<StoreResult<Vec<_>>>()?;
        let names = query.cursor_names();
        let next_cursor = read
            .resume
            .map(|k| item_cursor(&key_of(&k, &names)).encode());
        Ok(Page { items, next_cursor })
    }
}

impl DynamoDeliveryStore {
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
        let empty = Page {
            items: Vec::new(),
            next_cursor: None,
        };
        if range.is_empty() {
            return Ok(empty);
        }
        let names = query.cursor_names();
        let limit = page.limit.max(1);
        let DeliveryQuery::Recent { range } = query else {
            let read = self
                .index_query(query, None)
                .read(cursor.as_ref().map(cursor_item), limit)
                .await?;
            let items = read
                .items
                .iter()
                .map(from_doc)
                .collect::<StoreResult<Vec<Attempt>>>()?;
            let next_cursor = read
                .resume
                .map(|k| item_cursor(&key_of(&k, &names)).encode());
            return Ok(Page { items, next_cursor });
        };
        // Day buckets, newest first, resuming in the cursor's day.
        let days = recent_days(range, now);
        let (first, mut start) = match &cursor {
            Some(c) => (
                days.iter()
                    .position(|d| Some(d.as_str()) == c.0.get("day").map(String::as_str)),
                Some(cursor_item(c)),
            ),
            None => (Some(0), None),
        };
        let Some(first) = first else {
            return Err(crate::error::StoreError::InvalidCursor);
        };
        let mut items: Vec<Item> = Vec::new();
        let mut next: Option<Item> = None;
        for (i, day) in days.iter().enumerate().skip(first) {
            let read = self
                .index_query(query, Some(day))
                .read(start.take(), limit - items.len())
                .await?;
            items.extend(read.items);
            let more_days = i + 1 < days.len();
            if read.cut || read.resume.is_some() {
                next = read.resume;
                break;
            }
            if items.len() >= limit {
                if more_days {
                    next = items.last().cloned();
                }
                break;
            }
        }
        let items = items
            .iter()
            .map(from_doc)
            .collect::<StoreResult<Vec<Attempt>>>()?;
        let next_cursor = next.map(|k| item_cursor(&key_of(&k, &names)).encode());
        Ok(Page { items, next_cursor })
    }
}

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
        if let Some(call_id) = attempt
            .call_id
            .as_ref()
            .filter(|c| c.len() <= MAX_INDEXED_KEY_BYTES)
        {
            item.insert("call_id".to_owned(), s(call_id));
        }
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
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(StoreError::Conflict),
            Err(e) => Err(unavailable(e)),
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
        let items = items
            .iter()
            .map(from_doc)
            .collect::<StoreResult<Vec<Attempt>>>()?;
        let next_cursor = match next {
            Some(k) => Some(string_attr(&k, "sk")?.to_owned()),
            None => None,
        };
        Ok(Page { items, next_cursor })
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

/// Provider-retry claims keyed by `key`, expiring through TTL (`expires_at`). DynamoDB's TTL
/// deletes lazily, so the claim condition also treats an expired item as free, and a pending
/// item (`queued` false) claimed before `pending_for` as stale. Items without `queued`
/// (written before claims had states) count as queued.
pub struct DynamoDedupStore {
    client: Client,
    table: String,
}

impl DynamoDedupStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The holder of a claim as a `held_claim` answer.
    fn held(item: &Item, at: Timestamp, terms: ClaimTerms) -> StoreResult<Claim> {
        let holder = string_attr(item, "event_id")?.to_owned();
        let queued = item
            .get("queued")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(true);
        let claimed_at = item
            .get("claimed_at_ms")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<i64>().ok())
            .and_then(chrono::DateTime::from_timestamp_millis)
            .unwrap_or(at);
        Ok(held_claim(holder, queued, claimed_at, at, terms))
    }
}

#[async_trait]
impl DedupStore for DynamoDedupStore {
    async fn claim(
        &self,
        key: &str,
        event_id: &str,
        at: Timestamp,
        terms: ClaimTerms,
    ) -> StoreResult<Claim> {
        use aws_sdk_dynamodb::operation::put_item::PutItemError;
        use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
        let ttl = chrono::Duration::from_std(terms.ttl).unwrap_or(chrono::Duration::days(1));
        let expires = at.checked_add_signed(ttl).unwrap_or(at);
        let pending_ms = i64::try_from(terms.pending_for.as_millis()).unwrap_or(i64::MAX);
        let at_ms = at.timestamp_millis();
        // The key can vanish between a refused put and the read (TTL reaped it): try again,
        // a bounded number of times.
        for _ in 0..3 {
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("key", s(key))
                .item("event_id", s(event_id))
                .item("expires_at", n(epoch_secs(&expires)))
                .item("claimed_at_ms", n(at_ms))
                .item("queued", AttributeValue::Bool(false))
                .condition_expression(
                    "attribute_not_exists(#k) OR expires_at < :now \
                     OR (queued = :pending AND claimed_at_ms <= :stale)",
                )
                .expression_attribute_names("#k", "key")
                .expression_attribute_values(":now", n(epoch_secs(&at)))
                .expression_attribute_values(":pending", AttributeValue::Bool(false))
                .expression_attribute_values(":stale", n(at_ms.saturating_sub(pending_ms)))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(Claim::New),
                Err(e) if is_condition_failure(&e) => e,
                Err(e) => return Err(unavailable(e)),
            };
            // The refusal carries the holder's item; read it if it does not.
            if let Some(PutItemError::ConditionalCheckFailedException(refused)) =
                err.as_service_error()
            {
                if let Some(item) = refused.item() {
                    return Self::held(item, at, terms);
                }
            }
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("key", s(key))
                .consistent_read(true)
                .send()
                .await
                .map_err(unavailable)?;
            if let Some(item) = out.item {
                return Self::held(&item, at, terms);
            }
        }
        Err(StoreError::Unavailable(
            "dedup claim kept changing under contention".into(),
        ))
    }

    async fn confirm(&self, key: &str, event_id: &str) -> StoreResult<bool> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("key", s(key))
            .update_expression("SET queued = :queued")
            .condition_expression("event_id = :e")
            .expression_attribute_values(":e", s(event_id))
            .expression_attribute_values(":queued", AttributeValue::Bool(true))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn release(&self, key: &str, event_id: &str) -> StoreResult<()> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("key", s(key))
            .condition_expression("event_id = :e")
            .expression_attribute_values(":e", s(event_id))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
}
