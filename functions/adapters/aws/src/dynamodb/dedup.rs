//! Provider-retry claims, keyed by `key`, expiring through TTL.

use super::codec::{conditional, is_condition_failure, n, s, string_attr, Item};
use crate::domain::time::{epoch_secs, Timestamp};
use crate::error::{StoreError, StoreResult};
use crate::ports::{held_claim, Claim, ClaimTerms, DedupStore};
use crate::unavailable;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

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
    async fn claim(&self, key: &str, event_id: &str, terms: ClaimTerms) -> StoreResult<Claim> {
        let at = terms.at;
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
        conditional(result)
    }

    /// Releasing a claim another event holds (or nobody) is a no-op.
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
        conditional(result).map(|_| ())
    }
}
