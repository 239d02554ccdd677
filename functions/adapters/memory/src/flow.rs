//! Flow control state in memory: call lanes and rate slots.

use super::lock;
use crate::domain::time::Timestamp;
use crate::error::StoreResult;
use crate::ports::flow::{reservation, FlowStore, LaneEntry, LaneKey, Lease, SlotBlock};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryFlowStore {
    lanes: Mutex<HashMap<LaneKey, BTreeMap<String, LaneEntry>>>,
    next_free: Mutex<HashMap<String, Timestamp>>,
}

#[async_trait]
impl FlowStore for MemoryFlowStore {
    async fn lane_join(&self, lane: &LaneKey, entry: &LaneEntry) -> StoreResult<()> {
        lock(&self.lanes)
            .entry(lane.clone())
            .or_default()
            .insert(entry.order.clone(), entry.clone());
        Ok(())
    }

    async fn lane_entries(&self, lane: &LaneKey) -> StoreResult<Vec<LaneEntry>> {
        let now = crate::domain::time::now();
        Ok(lock(&self.lanes)
            .get(lane)
            .map(|l| l.values().filter(|e| e.expires_at > now).cloned().collect())
            .unwrap_or_default())
    }

    async fn lane_lease(&self, lane: &LaneKey, order: &str, lease: Lease) -> StoreResult<bool> {
        let mut lanes = lock(&self.lanes);
        let Some(entry) = lanes.get_mut(lane).and_then(|l| l.get_mut(order)) else {
            return Ok(false);
        };
        if entry.lease_until.is_some_and(|t| t > lease.now) {
            return Ok(false);
        }
        entry.lease_until = Some(lease.until);
        Ok(true)
    }

    async fn lane_leave(&self, lane: &LaneKey, order: &str) -> StoreResult<()> {
        let mut lanes = lock(&self.lanes);
        if let Some(l) = lanes.get_mut(lane) {
            l.remove(order);
            if l.is_empty() {
                lanes.remove(lane);
            }
        }
        Ok(())
    }

    async fn reserve(&self, subscription_id: &str, block: SlotBlock) -> StoreResult<Timestamp> {
        let mut next = lock(&self.next_free);
        let (first, after) = reservation(next.get(subscription_id).copied(), block);
        next.insert(subscription_id.to_owned(), after);
        Ok(first)
    }

    async fn pause(&self, subscription_id: &str, until: Timestamp) -> StoreResult<()> {
        let mut next = lock(&self.next_free);
        let slot = next.entry(subscription_id.to_owned()).or_insert(until);
        *slot = (*slot).max(until);
        Ok(())
    }
}
