//! Flow control state on its own table (`pk`, `sk`; TTL `expires_at`), which only the
//! dispatch function may read or write:
//! - a call lane is the partition `lane#{subscription}#{call}`, one item per waiting event
//!   sorted by `sk` = its order key; lanes are as many as calls, so no partition is shared
//!   by the deliveries of a deployment;
//! - a subscription's rate schedule is the item (`rate#{subscription}`, `rate`) holding
//!   `next_us`, its next free slot (microseconds). Dispatchers reserve slots in blocks, so the item takes
//!   about ten conditional writes per second per dispatcher at most, whatever the rate.

use super::codec::{conditional, n, s, string_attr, Item};
use crate::domain::time::{epoch_secs, Timestamp};
use crate::error::{StoreError, StoreResult};
use crate::ports::flow::{reservation, FlowStore, LaneEntry, LaneKey, Lease, SlotBlock};
use crate::unavailable;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;
use aws_sdk_dynamodb::Client;

pub struct DynamoFlowStore {
    client: Client,
    table: String,
}

fn lane_pk(lane: &LaneKey) -> String {
    format!("lane#{}", lane.storage_id())
}

fn rate_pk(subscription_id: &str) -> String {
    format!("rate#{subscription_id}")
}

fn millis_attr(item: &Item, name: &str) -> Option<Timestamp> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .and_then(chrono::DateTime::from_timestamp_millis)
}

fn micros_attr(item: &Item, name: &str) -> Option<Timestamp> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .and_then(chrono::DateTime::from_timestamp_micros)
}

fn entry_of(item: &Item) -> StoreResult<LaneEntry> {
    let time = |name: &str| {
        millis_attr(item, name)
            .ok_or_else(|| StoreError::Corrupt(format!("lane item has no {name}")))
    };
    Ok(LaneEntry {
        order: string_attr(item, "sk")?.to_owned(),
        event_id: string_attr(item, "event_id")?.to_owned(),
        received_at: time("received_ms")?,
        lease_until: millis_attr(item, "lease_ms"),
        expires_at: item
            .get("expires_at")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
            .ok_or_else(|| StoreError::Corrupt("lane item has no expires_at".into()))?,
    })
}

impl DynamoFlowStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn rate_update(
        &self,
        id: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(rate_pk(id)))
            .key("sk", s("rate"))
    }
}

/// How often a reservation retries after losing a race before giving up (the message is
/// then retried by the queue).
const RACES: usize = 20;

#[async_trait]
impl FlowStore for DynamoFlowStore {
    async fn lane_join(&self, lane: &LaneKey, entry: &LaneEntry) -> StoreResult<()> {
        let mut item = Item::from([
            ("pk".to_owned(), s(lane_pk(lane))),
            ("sk".to_owned(), s(&entry.order)),
            ("event_id".to_owned(), s(&entry.event_id)),
            (
                "received_ms".to_owned(),
                n(entry.received_at.timestamp_millis()),
            ),
            ("expires_at".to_owned(), n(epoch_secs(&entry.expires_at))),
        ]);
        if let Some(t) = entry.lease_until {
            item.insert("lease_ms".to_owned(), n(t.timestamp_millis()));
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

    async fn lane_entries(&self, lane: &LaneKey) -> StoreResult<Vec<LaneEntry>> {
        let now = crate::domain::time::now();
        let mut entries = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(lane_pk(lane)))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items.unwrap_or_default() {
                let entry = entry_of(&item)?;
                // TTL deletes lazily.
                if entry.expires_at > now {
                    entries.push(entry);
                }
            }
            match out.last_evaluated_key.filter(|k| !k.is_empty()) {
                Some(k) => start = Some(k),
                None => return Ok(entries),
            }
        }
    }

    async fn lane_lease(&self, lane: &LaneKey, order: &str, lease: Lease) -> StoreResult<bool> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(lane_pk(lane)))
            .key("sk", s(order))
            .update_expression("SET lease_ms = :until")
            .condition_expression(
                "attribute_exists(sk) AND (attribute_not_exists(lease_ms) OR lease_ms <= :now)",
            )
            .expression_attribute_values(":until", n(lease.until.timestamp_millis()))
            .expression_attribute_values(":now", n(lease.now.timestamp_millis()))
            .send()
            .await;
        conditional(result)
    }

    async fn lane_leave(&self, lane: &LaneKey, order: &str) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(lane_pk(lane)))
            .key("sk", s(order))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn reserve(&self, subscription_id: &str, block: SlotBlock) -> StoreResult<Timestamp> {
        let span = i64::try_from(block.span().as_micros())
            .unwrap_or(i64::MAX)
            .max(1);
        let now_us = block.now.timestamp_micros();
        for _ in 0..RACES {
            // A busy schedule (its next free slot not yet past): append the block to it.
            let appended = self
                .rate_update(subscription_id)
                .update_expression("SET next_us = next_us + :span")
                .condition_expression("next_us >= :now")
                .expression_attribute_values(":span", n(span))
                .expression_attribute_values(":now", n(now_us))
                .return_values(ReturnValue::UpdatedOld)
                .send()
                .await;
            match appended {
                Ok(out) => {
                    let old = out
                        .attributes
                        .as_ref()
                        .and_then(|a| micros_attr(a, "next_us"));
                    return old
                        .ok_or_else(|| StoreError::Corrupt("rate item has no next_us".into()));
                }
                Err(e) if super::codec::is_condition_failure(&e) => {}
                Err(e) => return Err(unavailable(e)),
            }
            // An idle one: the block starts now.
            let (first, after) = reservation(None, block);
            let started = self
                .rate_update(subscription_id)
                .update_expression("SET next_us = :after")
                .condition_expression("attribute_not_exists(next_us) OR next_us < :now")
                .expression_attribute_values(":after", n(after.timestamp_micros()))
                .expression_attribute_values(":now", n(now_us))
                .send()
                .await;
            if conditional(started)? {
                return Ok(first);
            }
        }
        Err(StoreError::Unavailable(
            "rate schedule contended: too many concurrent reservations".into(),
        ))
    }

    async fn pause(&self, subscription_id: &str, until: Timestamp) -> StoreResult<()> {
        let result = self
            .rate_update(subscription_id)
            .update_expression("SET next_us = :until")
            .condition_expression("attribute_not_exists(next_us) OR next_us < :until")
            .expression_attribute_values(":until", n(until.timestamp_micros()))
            .send()
            .await;
        // A failed condition: the schedule is paused later already.
        conditional(result).map(|_| ())
    }
}
