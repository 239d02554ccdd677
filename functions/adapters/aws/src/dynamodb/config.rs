//! Sources and subscriptions: small tables keyed by `id`, written under conditions.

use super::codec::{condition_or, get_doc_by_id, s, storable_key, to_doc, Item, DOC};
use crate::error::{StoreError, StoreResult};
use crate::ports::{ConfigStore, Record};
use crate::unavailable;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use std::marker::PhantomData;

/// Top-level copy of a configuration record's version, for conditional writes.
const VERSION: &str = "version";

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

    /// A conditional PutItem, `on_fail` when the condition fails; `expected` binds
    /// `:expected` (and `#version`) in `condition`.
    async fn put(
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
        condition_or(put.send().await, on_fail)
    }
}

#[async_trait]
impl<T: Record> ConfigStore<T> for DynamoConfigStore<T> {
    async fn create(&self, record: &T) -> StoreResult<()> {
        self.put(
            record,
            "attribute_not_exists(id)",
            None,
            StoreError::Conflict,
        )
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
                records.push(super::codec::from_doc(&item)?);
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
        self.put(record, "attribute_exists(id)", None, StoreError::NotFound)
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
            .put(record, condition, Some(expected), StoreError::Stale)
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
        condition_or(result, StoreError::NotFound)
    }
}
