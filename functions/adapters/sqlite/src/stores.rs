//! Stores on SQLite: configuration tables, events, delivery attempts, dedup claims, and
//! the ops listings, each served by a primary key or an index (see the schema in `mod.rs`).

use super::{db_err, Db};
use crate::domain::attempt::AttemptStatus;
use crate::domain::time::{epoch_secs, sortable, Timestamp};
use crate::domain::{Attempt, Envelope, RawRequest, StoredEvent};
use crate::error::{StoreError, StoreResult};
use crate::ports::queries::{
    delivery_sort_key, recent_days, Cursor, DeliveryQueries, DeliveryQuery, EventQueries,
    EventQuery, TimeRange,
};
use crate::ports::{
    held_claim, Claim, ClaimTerms, ConfigStore, DedupStore, DeliveryStore, EventStore, Page,
    PageRequest, Record,
};
use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, ErrorCode, OptionalExtension};
use std::collections::BTreeMap;
use std::marker::PhantomData;

fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(raw: &str) -> StoreResult<T> {
    serde_json::from_str(raw).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation)
}

/// Runs a prepared query with positional values; returns the first column of each row.
fn strings(conn: &Connection, sql: &str, values: Vec<Value>) -> StoreResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(sql).map_err(db_err)?;
    let rows = stmt
        .query_map(params_from_iter(values), |r| r.get::<_, String>(0))
        .map_err(db_err)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
}

/// Which configuration table a [`SqliteConfigStore`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Sources,
    Subscriptions,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Self::Sources => "sources",
            Self::Subscriptions => "subscriptions",
        }
    }
}

/// Sources or subscriptions, by id, as JSON documents.
pub struct SqliteConfigStore<T> {
    db: Db,
    table: Table,
    _records: PhantomData<fn() -> T>,
}

impl<T> SqliteConfigStore<T> {
    pub fn new(db: Db, table: Table) -> Self {
        Self {
            db,
            table,
            _records: PhantomData,
        }
    }
}

#[async_trait]
impl<T: Record> ConfigStore<T> for SqliteConfigStore<T> {
    async fn create(&self, record: &T) -> StoreResult<()> {
        let (id, body) = (record.id().to_owned(), to_json(record)?);
        let sql = format!(
            "INSERT INTO {} (id, body) VALUES (?1, ?2)",
            self.table.name()
        );
        self.db
            .write(move |conn| {
                match conn
                    .prepare_cached(&sql)
                    .and_then(|mut s| s.execute(params![id, body]))
                {
                    Ok(_) => Ok(()),
                    Err(e) if is_constraint(&e) => Err(StoreError::Conflict),
                    Err(e) => Err(db_err(e)),
                }
            })
            .await
    }

    async fn get(&self, id: &str) -> StoreResult<Option<T>> {
        let id = id.to_owned();
        let sql = format!("SELECT body FROM {} WHERE id = ?1", self.table.name());
        self.db
            .read(move |conn| {
                let body: Option<String> = conn
                    .prepare_cached(&sql)
                    .and_then(|mut s| s.query_row(params![id], |r| r.get(0)))
                    .optional()
                    .map_err(db_err)?;
                body.as_deref().map(from_json).transpose()
            })
            .await
    }

    async fn list(&self) -> StoreResult<Vec<T>> {
        let sql = format!("SELECT body FROM {} ORDER BY id", self.table.name());
        self.db
            .read(move |conn| {
                strings(conn, &sql, Vec::new())?
                    .iter()
                    .map(|b| from_json(b))
                    .collect()
            })
            .await
    }

    async fn update(&self, record: &T) -> StoreResult<()> {
        let (id, body) = (record.id().to_owned(), to_json(record)?);
        let sql = format!("UPDATE {} SET body = ?2 WHERE id = ?1", self.table.name());
        self.db
            .write(move |conn| {
                let changed = conn
                    .prepare_cached(&sql)
                    .and_then(|mut s| s.execute(params![id, body]))
                    .map_err(db_err)?;
                if changed == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            })
            .await
    }

    async fn update_if(&self, record: &T, expected: u64) -> StoreResult<()> {
        let (id, body) = (record.id().to_owned(), to_json(record)?);
        let read = format!("SELECT body FROM {} WHERE id = ?1", self.table.name());
        let write = format!("UPDATE {} SET body = ?2 WHERE id = ?1", self.table.name());
        // One write transaction: no other writer runs between the version check and the
        // update (the store has a single writer connection).
        self.db
            .write(move |conn| {
                let stored: Option<String> = conn
                    .prepare_cached(&read)
                    .and_then(|mut s| s.query_row(params![id], |r| r.get(0)))
                    .optional()
                    .map_err(db_err)?;
                let Some(stored) = stored else {
                    return Err(StoreError::NotFound);
                };
                if from_json::<T>(&stored)?.version() != expected {
                    return Err(StoreError::Stale);
                }
                conn.prepare_cached(&write)
                    .and_then(|mut s| s.execute(params![id, body]))
                    .map_err(db_err)?;
                Ok(())
            })
            .await
    }

    async fn delete(&self, id: &str) -> StoreResult<()> {
        let id = id.to_owned();
        let sql = format!("DELETE FROM {} WHERE id = ?1", self.table.name());
        self.db
            .write(move |conn| {
                let changed = conn
                    .prepare_cached(&sql)
                    .and_then(|mut s| s.execute(params![id]))
                    .map_err(db_err)?;
                if changed == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            })
            .await
    }
}

pub struct SqliteEventStore {
    db: Db,
}

impl SqliteEventStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait]
impl EventStore for SqliteEventStore {
    async fn put(&self, event: &StoredEvent, expires_at: Timestamp) -> StoreResult<()> {
        let e = &event.envelope;
        let values = (
            e.id.clone(),
            e.source.clone(),
            e.call_id().map(str::to_owned),
            sortable(&e.received_at),
            to_json(e)?,
            to_json(&event.raw)?,
            event.dedup_key.clone(),
            epoch_secs(&expires_at),
        );
        self.db
            .write(move |conn| {
                let (id, source, call_id, received_at, envelope, raw, dedup_key, expires) = values;
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO events \
                     (id, source, call_id, received_at, envelope, raw, dedup_key, expires_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        id,
                        source,
                        call_id,
                        received_at,
                        envelope,
                        raw,
                        dedup_key,
                        expires
                    ])
                })
                .map_err(db_err)?;
                Ok(())
            })
            .await
    }

    async fn get(&self, id: &str) -> StoreResult<Option<StoredEvent>> {
        let id = id.to_owned();
        self.db
            .read(move |conn| {
                let row: Option<(String, String, Option<String>)> = conn
                    .prepare_cached("SELECT envelope, raw, dedup_key FROM events WHERE id = ?1")
                    .and_then(|mut s| {
                        s.query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    })
                    .optional()
                    .map_err(db_err)?;
                let Some((envelope, raw, dedup_key)) = row else {
                    return Ok(None);
                };
                Ok(Some(StoredEvent {
                    envelope: from_json::<Envelope>(&envelope)?,
                    raw: from_json::<RawRequest>(&raw)?,
                    dedup_key,
                }))
            })
            .await
    }
}

/// Adds `time >= since AND time <= until` (inclusive sortable bounds) to a WHERE clause.
fn push_range(sql: &mut String, values: &mut Vec<Value>, column: &str, range: &TimeRange) {
    let (since, until) = range.sortable_bounds();
    if let Some(s) = since {
        sql.push_str(&format!(" AND {column} >= ?"));
        values.push(Value::Text(s));
    }
    if let Some(u) = until {
        sql.push_str(&format!(" AND {column} <= ?"));
        values.push(Value::Text(u));
    }
}

/// Cuts `rows` (fetched with one extra) to a page, with the cursor of its last item.
fn page_from<T>(mut rows: Vec<T>, limit: usize, cursor: impl Fn(&T) -> String) -> Page<T> {
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(cursor)
    } else {
        None
    };
    Page {
        items: rows,
        next_cursor,
    }
}

fn limit_value(limit: usize) -> Value {
    Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1)
}

#[async_trait]
impl EventQueries for SqliteEventStore {
    async fn query_events(
        &self,
        query: &EventQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Envelope>> {
        let cursor = page
            .cursor
            .as_deref()
            .map(|raw| query.decode_cursor(raw))
            .transpose()?;
        let limit = page.limit.max(1);
        let (column, value) = query.hash();
        let index = match query {
            EventQuery::Source { .. } => "events_by_source",
            EventQuery::Call { .. } => "events_by_call",
        };
        let mut sql = format!("SELECT envelope FROM events INDEXED BY {index} WHERE {column} = ?");
        let mut values = vec![Value::Text(value.to_owned())];
        push_range(&mut sql, &mut values, "received_at", query.range());
        if let Some(c) = &cursor {
            sql.push_str(" AND (received_at, id) < (?, ?)");
            values.push(Value::Text(c.get("received_at")?.to_owned()));
            values.push(Value::Text(c.get("id")?.to_owned()));
        }
        sql.push_str(" ORDER BY received_at DESC, id DESC LIMIT ?");
        values.push(limit_value(limit));
        let query = query.clone();
        self.db
            .read(move |conn| {
                let rows = strings(conn, &sql, values)?
                    .iter()
                    .map(|b| from_json::<Envelope>(b))
                    .collect::<StoreResult<Vec<_>>>()?;
                Ok(page_from(rows, limit, |e| query.cursor_after(e).encode()))
            })
            .await
    }
}

/// Attempts keyed like the DynamoDB table: (event id, `{subscription}#{attempt:06}`).
pub struct SqliteDeliveryStore {
    db: Db,
}

impl SqliteDeliveryStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait]
impl DeliveryStore for SqliteDeliveryStore {
    async fn record(&self, attempt: &Attempt, expires_at: Timestamp) -> StoreResult<()> {
        let a = attempt;
        let values = (
            a.event_id.clone(),
            delivery_sort_key(&a.subscription_id, a.attempt),
            a.subscription_id.clone(),
            a.attempt,
            a.status.as_str(),
            a.call_id.clone(),
            sortable(&a.attempted_at),
            to_json(a)?,
            epoch_secs(&expires_at),
        );
        self.db
            .write(move |conn| {
                let (event_id, sk, sub, n, status, call_id, attempted_at, body, expires) = values;
                // Replaces a failed record of the same key, never a success.
                let written = conn
                    .prepare_cached(
                        "INSERT INTO deliveries (event_id, sk, subscription_id, attempt, \
                         status, call_id, attempted_at, body, expires_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                         ON CONFLICT (event_id, sk) DO UPDATE SET \
                         subscription_id = excluded.subscription_id, attempt = excluded.attempt, \
                         status = excluded.status, call_id = excluded.call_id, \
                         attempted_at = excluded.attempted_at, body = excluded.body, \
                         expires_at = excluded.expires_at \
                         WHERE deliveries.status <> 'succeeded'",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            event_id,
                            sk,
                            sub,
                            n,
                            status,
                            call_id,
                            attempted_at,
                            body,
                            expires
                        ])
                    })
                    .map_err(db_err)?;
                if written == 0 {
                    return Err(StoreError::Conflict);
                }
                Ok(())
            })
            .await
    }

    async fn list_by_event(
        &self,
        event_id: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<Attempt>> {
        // The cursor is the sort key of the last attempt listed.
        let limit = page.limit.max(1);
        let mut values = vec![Value::Text(event_id.to_owned())];
        let mut sql = "SELECT body FROM deliveries WHERE event_id = ?".to_owned();
        if let Some(after) = &page.cursor {
            sql.push_str(" AND sk > ?");
            values.push(Value::Text(after.clone()));
        }
        sql.push_str(" ORDER BY sk LIMIT ?");
        values.push(limit_value(limit));
        self.db
            .read(move |conn| {
                let rows = strings(conn, &sql, values)?
                    .iter()
                    .map(|b| from_json::<Attempt>(b))
                    .collect::<StoreResult<Vec<_>>>()?;
                Ok(page_from(rows, limit, |a| {
                    delivery_sort_key(&a.subscription_id, a.attempt)
                }))
            })
            .await
    }

    async fn latest_by_subscription(
        &self,
        event_id: &str,
    ) -> StoreResult<Vec<(String, u32, AttemptStatus)>> {
        let event_id = event_id.to_owned();
        self.db
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT subscription_id, attempt, status FROM deliveries \
                         WHERE event_id = ?1 ORDER BY sk",
                    )
                    .map_err(db_err)?;
                let rows = stmt
                    .query_map(params![event_id], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, u32>(1)?,
                            r.get::<_, String>(2)?,
                        ))
                    })
                    .map_err(db_err)?;
                let mut latest: BTreeMap<String, (u32, AttemptStatus)> = BTreeMap::new();
                for row in rows {
                    let (sub, n, status) = row.map_err(db_err)?;
                    let status = AttemptStatus::parse(&status)
                        .ok_or_else(|| StoreError::Corrupt(format!("attempt status {status:?}")))?;
                    let slot = latest.entry(sub).or_insert((n, status));
                    if n >= slot.0 {
                        *slot = (n, status);
                    }
                }
                Ok(latest.into_iter().map(|(s, (n, st))| (s, n, st)).collect())
            })
            .await
    }
}

/// The first and last `YYYY-MM-DD` bucket of a recent listing, as bounds on `attempted_at`:
/// from the start of the oldest day, up to (excluding) the day after the newest.
fn recent_bounds(range: &TimeRange) -> Option<(String, String)> {
    let days = recent_days(range, crate::domain::time::now());
    let newest = days.first()?;
    let oldest = days.last()?;
    let after = chrono::NaiveDate::parse_from_str(newest, "%Y-%m-%d")
        .ok()?
        .succ_opt()?
        .format("%Y-%m-%d")
        .to_string();
    Some((oldest.clone(), after))
}

/// The table itself: one event's attempts in sort-key order.
fn event_sql(
    event_id: &str,
    subscription_id: Option<&str>,
    cursor: Option<&Cursor>,
) -> StoreResult<(String, Vec<Value>)> {
    let mut sql = "SELECT body FROM deliveries WHERE event_id = ?".to_owned();
    let mut values = vec![Value::Text(event_id.to_owned())];
    if let Some(sub) = subscription_id {
        sql.push_str(" AND subscription_id = ?");
        values.push(Value::Text(sub.to_owned()));
    }
    if let Some(c) = cursor {
        sql.push_str(" AND sk > ?");
        values.push(Value::Text(c.get("sk")?.to_owned()));
    }
    sql.push_str(" ORDER BY sk LIMIT ?");
    Ok((sql, values))
}

/// An index: `hash` (column, value) when the index has one, an optional status filter, the
/// time range, the recent listing's day bounds; newest first, ties broken by the table key.
fn index_sql(
    index: &str,
    hash: Option<(&str, &str)>,
    status: Option<AttemptStatus>,
    range: &TimeRange,
    days: Option<(String, String)>,
    cursor: Option<&Cursor>,
) -> StoreResult<(String, Vec<Value>)> {
    let mut sql = format!("SELECT body FROM deliveries INDEXED BY {index} WHERE 1 = 1");
    let mut values = Vec::new();
    if let Some((column, value)) = hash {
        sql.push_str(&format!(" AND {column} = ?"));
        values.push(Value::Text(value.to_owned()));
    }
    if let Some(status) = status {
        sql.push_str(" AND status = ?");
        values.push(Value::Text(status.as_str().to_owned()));
    }
    push_range(&mut sql, &mut values, "attempted_at", range);
    if let Some((from, before)) = days {
        sql.push_str(" AND attempted_at >= ? AND attempted_at < ?");
        values.push(Value::Text(from));
        values.push(Value::Text(before));
    }
    if let Some(c) = cursor {
        sql.push_str(" AND (attempted_at, event_id, sk) < (?, ?, ?)");
        for name in ["attempted_at", "event_id", "sk"] {
            values.push(Value::Text(c.get(name)?.to_owned()));
        }
    }
    sql.push_str(" ORDER BY attempted_at DESC, event_id DESC, sk DESC LIMIT ?");
    Ok((sql, values))
}

#[async_trait]
impl DeliveryQueries for SqliteDeliveryStore {
    async fn query_deliveries(
        &self,
        query: &DeliveryQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Attempt>> {
        let cursor = page
            .cursor
            .as_deref()
            .map(|raw| query.decode_cursor(raw, crate::domain::time::now()))
            .transpose()?;
        let limit = page.limit.max(1);
        let cursor = cursor.as_ref();
        let built = match query {
            DeliveryQuery::Event {
                event_id,
                subscription_id,
            } => event_sql(event_id, subscription_id.as_deref(), cursor)?,
            DeliveryQuery::Subscription {
                subscription_id,
                status,
                range,
            } => index_sql(
                "deliveries_by_subscription",
                Some(("subscription_id", subscription_id)),
                *status,
                range,
                None,
                cursor,
            )?,
            DeliveryQuery::Call {
                call_id,
                status,
                range,
            } => index_sql(
                "deliveries_by_call",
                Some(("call_id", call_id)),
                *status,
                range,
                None,
                cursor,
            )?,
            DeliveryQuery::Status { status, range } => index_sql(
                "deliveries_by_status",
                Some(("status", status.as_str())),
                None,
                range,
                None,
                cursor,
            )?,
            DeliveryQuery::Recent { range } => {
                let Some(days) = recent_bounds(range) else {
                    return Ok(Page {
                        items: Vec::new(),
                        next_cursor: None,
                    });
                };
                index_sql("deliveries_recent", None, None, range, Some(days), cursor)?
            }
        };
        let (sql, mut values) = built;
        values.push(limit_value(limit));
        let query = query.clone();
        self.db
            .read(move |conn| {
                let rows = strings(conn, &sql, values)?
                    .iter()
                    .map(|b| from_json::<Attempt>(b))
                    .collect::<StoreResult<Vec<_>>>()?;
                Ok(page_from(rows, limit, |a| query.cursor_after(a).encode()))
            })
            .await
    }
}

/// Provider-retry claims; an expired claim, or a pending one past `pending_for`, is free
/// again (expired rows are purged by the writer).
pub struct SqliteDedupStore {
    db: Db,
}

impl SqliteDedupStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

fn millis(t: &Timestamp) -> i64 {
    t.timestamp_millis()
}

#[async_trait]
impl DedupStore for SqliteDedupStore {
    async fn claim(
        &self,
        key: &str,
        event_id: &str,
        at: Timestamp,
        terms: ClaimTerms,
    ) -> StoreResult<Claim> {
        let (key, event_id) = (key.to_owned(), event_id.to_owned());
        let at_ms = millis(&at);
        let ttl_ms = super::duration_ms(terms.ttl);
        let pending_ms = super::duration_ms(terms.pending_for);
        self.db
            .write(move |conn| {
                let held: Option<(String, i64, i64, bool)> = conn
                    .prepare_cached(
                        "SELECT event_id, expires_at_ms, claimed_at_ms, queued FROM dedup WHERE key = ?1",
                    )
                    .and_then(|mut s| {
                        s.query_row(params![key], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                        })
                    })
                    .optional()
                    .map_err(db_err)?;
                if let Some((holder, expires_ms, claimed_ms, queued)) = held {
                    let stale = !queued && claimed_ms.saturating_add(pending_ms) <= at_ms;
                    if expires_ms > at_ms && !stale {
                        let claimed_at = chrono::DateTime::from_timestamp_millis(claimed_ms)
                            .unwrap_or(at);
                        return Ok(held_claim(holder, queued, claimed_at, at, terms));
                    }
                }
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO dedup (key, event_id, expires_at_ms, claimed_at_ms, queued) \
                     VALUES (?1, ?2, ?3, ?4, 0)",
                )
                .and_then(|mut s| {
                    s.execute(params![key, event_id, at_ms.saturating_add(ttl_ms), at_ms])
                })
                .map_err(db_err)?;
                Ok(Claim::New)
            })
            .await
    }

    async fn confirm(&self, key: &str, event_id: &str) -> StoreResult<bool> {
        let (key, event_id) = (key.to_owned(), event_id.to_owned());
        self.db
            .write(move |conn| {
                let changed = conn
                    .prepare_cached("UPDATE dedup SET queued = 1 WHERE key = ?1 AND event_id = ?2")
                    .and_then(|mut s| s.execute(params![key, event_id]))
                    .map_err(db_err)?;
                Ok(changed == 1)
            })
            .await
    }

    async fn release(&self, key: &str, event_id: &str) -> StoreResult<()> {
        let (key, event_id) = (key.to_owned(), event_id.to_owned());
        self.db
            .write(move |conn| {
                conn.prepare_cached("DELETE FROM dedup WHERE key = ?1 AND event_id = ?2")
                    .and_then(|mut s| s.execute(params![key, event_id]))
                    .map_err(db_err)?;
                Ok(())
            })
            .await
    }
}
