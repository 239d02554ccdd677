//! Row helpers every store shares: JSON documents, constraint errors, single-column reads.

use crate::db_err;
use crate::error::{StoreError, StoreResult};
use rusqlite::types::{FromSql, Value};
use rusqlite::{params_from_iter, Connection, ErrorCode, OptionalExtension, Params};

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(super) fn from_json<T: serde::de::DeserializeOwned>(raw: &str) -> StoreResult<T> {
    serde_json::from_str(raw).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(super) fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation)
}

/// Runs one (cached) statement; how many rows it changed.
pub(super) fn execute(conn: &Connection, sql: &str, params: impl Params) -> StoreResult<usize> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute(params))
        .map_err(db_err)
}

/// The first column of the one row a (cached) query selects, if it selects one.
pub(super) fn optional_value<T: FromSql>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> StoreResult<Option<T>> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.query_row(params, |r| r.get(0)))
        .optional()
        .map_err(db_err)
}

/// Runs a prepared query with positional values; returns the first column of each row.
pub(super) fn strings(
    conn: &Connection,
    sql: &str,
    values: Vec<Value>,
) -> StoreResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(sql).map_err(db_err)?;
    let rows = stmt
        .query_map(params_from_iter(values), |r| r.get::<_, String>(0))
        .map_err(db_err)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
}
