//! The item shape shared by every table: attribute constructors, the JSON `doc`, cursors,
//! and the one way a conditional write's outcome is read.

use crate::domain::limits::MAX_PARTITION_KEY_BYTES;
use crate::error::{StoreError, StoreResult};
use crate::ports::queries::Cursor;
use crate::unavailable;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;

pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) const DOC: &str = "doc";

/// Longest value kept in an index key attribute (`call_id`). DynamoDB refuses an item whose
/// index partition key exceeds 2048 bytes; a provider's call id can be any length. A longer
/// one stays in the document but is not indexed (such an event is not listed by call).
pub const MAX_INDEXED_KEY_BYTES: usize = 1024;

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn to_doc<T: serde::Serialize>(value: &T) -> StoreResult<AttributeValue> {
    serde_json::to_string(value)
        .map(AttributeValue::S)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(super) fn from_doc<T: serde::de::DeserializeOwned>(item: &Item) -> StoreResult<T> {
    let doc = item
        .get(DOC)
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| StoreError::Corrupt("item has no doc attribute".into()))?;
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The records of a page of items.
pub(super) fn docs<T: serde::de::DeserializeOwned>(items: &[Item]) -> StoreResult<Vec<T>> {
    items.iter().map(from_doc).collect()
}

pub(super) fn string_attr<'a>(item: &'a Item, name: &str) -> StoreResult<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| StoreError::Corrupt(format!("item has no {name} attribute")))
}

/// Sets an index key attribute unless the value is absent or too long to index.
pub(super) fn insert_indexed(item: &mut Item, name: &str, value: Option<&str>) {
    if let Some(v) = value.filter(|v| v.len() <= MAX_INDEXED_KEY_BYTES) {
        item.insert(name.to_owned(), s(v));
    }
}

/// Whether an SDK error is DynamoDB's ConditionalCheckFailedException.
pub(super) fn is_condition_failure<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

/// The outcome of a conditional write: `true` when written, `false` when its condition
/// failed; any other failure is an error.
pub(super) fn conditional<O, E, R>(result: Result<O, SdkError<E, R>>) -> StoreResult<bool>
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if is_condition_failure(&e) => Ok(false),
        Err(e) => Err(unavailable(e)),
    }
}

/// [`conditional`], a failed condition being the error `otherwise`.
pub(super) fn condition_or<O, E, R>(
    result: Result<O, SdkError<E, R>>,
    otherwise: StoreError,
) -> StoreResult<()>
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    if conditional(result)? {
        Ok(())
    } else {
        Err(otherwise)
    }
}

/// Whether a record could exist under this partition key value: DynamoDB refuses (with a
/// ValidationException) any request naming a longer one, so such a lookup finds nothing.
pub(super) fn storable_key(value: &str) -> bool {
    value.len() <= MAX_PARTITION_KEY_BYTES
}

/// The item stored under `id` in a table keyed by `id`, read consistently.
pub(super) async fn get_item_by_id(
    client: &Client,
    table: &str,
    id: &str,
) -> StoreResult<Option<Item>> {
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
    Ok(out.item)
}

/// The record stored under `id` in a table keyed by `id`, read consistently.
pub(super) async fn get_doc_by_id<T: serde::de::DeserializeOwned>(
    client: &Client,
    table: &str,
    id: &str,
) -> StoreResult<Option<T>> {
    get_item_by_id(client, table, id)
        .await?
        .as_ref()
        .map(from_doc)
        .transpose()
}

pub(super) fn cursor_item(cursor: &Cursor) -> Item {
    cursor.0.iter().map(|(k, v)| (k.clone(), s(v))).collect()
}
