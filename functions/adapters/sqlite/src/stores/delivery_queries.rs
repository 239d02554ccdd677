//! The ops listings of delivery attempts: by event, subscription, call, status, or day.

use super::deliveries::SqliteDeliveryStore;
use super::listing::{push_range, read_page};
use crate::domain::attempt::AttemptStatus;
use crate::domain::Attempt;
use crate::error::StoreResult;
use crate::ports::queries::{recent_days, Cursor, DeliveryQueries, DeliveryQuery, TimeRange};
use crate::ports::{Page, PageRequest};
use async_trait::async_trait;
use rusqlite::types::Value;

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

/// An index a listing reads, and the condition of a partial one: the query states it, so
/// SQLite may use the index.
struct Index {
    name: &'static str,
    condition: &'static str,
}

impl Index {
    const fn whole(name: &'static str) -> Self {
        Self {
            name,
            condition: "1 = 1",
        }
    }
}

const BY_SUBSCRIPTION: Index = Index::whole("deliveries_by_subscription");
const RECENT: Index = Index::whole("deliveries_recent");
/// Holds no successes (see the schema): they are most attempts, and `RECENT` lists them.
const BY_STATUS: Index = Index {
    name: "deliveries_by_status",
    condition: "status <> 'succeeded'",
};

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

/// Ends a listing newest first, after `cursor` when given; `table`: the attempts' table
/// prefix in the query (`d.` in a join, empty otherwise).
fn push_newest_first(
    sql: &mut String,
    values: &mut Vec<Value>,
    table: &str,
    cursor: Option<&Cursor>,
) -> StoreResult<()> {
    if let Some(c) = cursor {
        sql.push_str(&format!(
            " AND ({table}attempted_at, {table}event_id, {table}sk) < (?, ?, ?)"
        ));
        for name in ["attempted_at", "event_id", "sk"] {
            values.push(Value::Text(c.get(name)?.to_owned()));
        }
    }
    sql.push_str(&format!(
        " ORDER BY {table}attempted_at DESC, {table}event_id DESC, {table}sk DESC LIMIT ?"
    ));
    Ok(())
}

/// A call's attempts: those of the call's events (through `events_by_call`), sorted like
/// every other listing. A call has few events, so sorting its attempts costs little, and
/// the attempts need no index of their own by call (nor does the DynamoDB store have one).
fn call_sql(
    call_id: &str,
    status: Option<AttemptStatus>,
    range: &TimeRange,
    cursor: Option<&Cursor>,
) -> StoreResult<(String, Vec<Value>)> {
    let mut sql = "SELECT d.body FROM events e INDEXED BY events_by_call \
                   JOIN deliveries d ON d.event_id = e.id WHERE e.call_id = ?"
        .to_owned();
    let mut values = vec![Value::Text(call_id.to_owned())];
    if let Some(status) = status {
        sql.push_str(" AND d.status = ?");
        values.push(Value::Text(status.as_str().to_owned()));
    }
    push_range(&mut sql, &mut values, "d.attempted_at", range);
    push_newest_first(&mut sql, &mut values, "d.", cursor)?;
    Ok((sql, values))
}

/// An index: `hash` (column, value) when the index has one, an optional status filter, the
/// time range, the recent listing's day bounds; newest first, ties broken by the table key.
fn index_sql(
    index: Index,
    hash: Option<(&str, &str)>,
    status: Option<AttemptStatus>,
    range: &TimeRange,
    days: Option<(String, String)>,
    cursor: Option<&Cursor>,
) -> StoreResult<(String, Vec<Value>)> {
    let Index { name, condition } = index;
    let mut sql = format!("SELECT body FROM deliveries INDEXED BY {name} WHERE {condition}");
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
    push_newest_first(&mut sql, &mut values, "", cursor)?;
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
                BY_SUBSCRIPTION,
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
            } => call_sql(call_id, *status, range, cursor)?,
            // Successes are most attempts: read in order of recency, the others from the
            // status index (the query states its condition, so SQLite may use it).
            DeliveryQuery::Status {
                status: AttemptStatus::Succeeded,
                range,
            } => index_sql(
                RECENT,
                None,
                Some(AttemptStatus::Succeeded),
                range,
                None,
                cursor,
            )?,
            DeliveryQuery::Status { status, range } => index_sql(
                BY_STATUS,
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
                index_sql(RECENT, None, None, range, Some(days), cursor)?
            }
        };
        let (sql, values) = built;
        let query = query.clone();
        read_page(&self.db, sql, values, limit, move |a: &Attempt| {
            query.cursor_after(a).encode()
        })
        .await
    }
}
