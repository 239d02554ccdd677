//! Row helpers every store shares: JSON documents, constraint errors, single-column reads.

use crate::db_err;
use crate::error::{StoreError, StoreResult};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, ErrorCode};

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(super) fn from_json<T: serde::de::DeserializeOwned>(raw: &str) -> StoreResult<T> {
    serde_json::from_str(raw).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(super) fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation)
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
