//! The one shape of every listing: a WHERE clause built from optional parts, read with one
//! row more than the page to tell whether more follow, then cut to a page with a cursor.

use super::rows::from_json;
use crate::error::StoreResult;
use crate::ports::queries::TimeRange;
use crate::ports::Page;
use crate::Db;
use rusqlite::types::Value;

/// Adds `time >= since AND time <= until` (inclusive sortable bounds) to a WHERE clause.
pub(super) fn push_range(
    sql: &mut String,
    values: &mut Vec<Value>,
    column: &str,
    range: &TimeRange,
) {
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

/// Runs a listing whose SQL ends in `LIMIT ?` (bound here) and selects one JSON column,
/// and cuts it to a page of `limit` records, the cursor taken from the last one kept.
pub(super) async fn read_page<T, C>(
    db: &Db,
    sql: String,
    values: Vec<Value>,
    limit: usize,
    cursor: C,
) -> StoreResult<Page<T>>
where
    T: serde::de::DeserializeOwned + Send + 'static,
    C: Fn(&T) -> String + Send + 'static,
{
    let record =
        |row: &rusqlite::Row<'_>| from_json::<T>(&row.get::<_, String>(0).map_err(crate::db_err)?);
    read_page_of_rows(db, sql, values, limit, record, cursor).await
}

/// Runs a listing whose SQL ends in `LIMIT ?` (bound here), reads each row with `record`
/// and cuts them to a page of `limit` records, the cursor taken from the last one kept.
pub(super) async fn read_page_of_rows<T, R, C>(
    db: &Db,
    sql: String,
    mut values: Vec<Value>,
    limit: usize,
    record: R,
    cursor: C,
) -> StoreResult<Page<T>>
where
    T: Send + 'static,
    R: Fn(&rusqlite::Row<'_>) -> StoreResult<T> + Send + 'static,
    C: Fn(&T) -> String + Send + 'static,
{
    values.push(limit_value(limit));
    db.read(move |conn| {
        let mut stmt = conn.prepare_cached(&sql).map_err(crate::db_err)?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(values))
            .map_err(crate::db_err)?;
        let mut records = Vec::new();
        while let Some(row) = rows.next().map_err(crate::db_err)? {
            records.push(record(row)?);
        }
        Ok(page_from(records, limit, cursor))
    })
    .await
}
