//! Flow control state: call lanes (`flow_lanes`) and rate schedules (`flow_rates`). One
//! writer serialises the read-change-writes, so no condition can be raced.

use super::rows::{execute, optional_value};
use crate::domain::time::{epoch_secs, Timestamp};
use crate::error::StoreResult;
use crate::ports::flow::{reservation, FlowStore, LaneEntry, LaneKey, Lease, SlotBlock};
use crate::{db_err, Db};
use async_trait::async_trait;
use rusqlite::params;

pub struct SqliteFlowStore {
    db: Db,
}

impl SqliteFlowStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

fn micros(t: Option<i64>) -> Option<Timestamp> {
    t.and_then(chrono::DateTime::from_timestamp_micros)
}

#[async_trait]
impl FlowStore for SqliteFlowStore {
    async fn lane_join(&self, lane: &LaneKey, entry: &LaneEntry) -> StoreResult<()> {
        let lane = lane.storage_id();
        let e = entry.clone();
        self.db
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO flow_lanes (lane, ord, event_id, received_us, lease_us, expires_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        lane,
                        e.order,
                        e.event_id,
                        e.received_at.timestamp_micros(),
                        e.lease_until.map(|t| t.timestamp_micros()),
                        epoch_secs(&e.expires_at)
                    ])
                })
                .map_err(db_err)?;
                Ok(())
            })
            .await
    }

    async fn lane_entries(&self, lane: &LaneKey) -> StoreResult<Vec<LaneEntry>> {
        let lane = lane.storage_id();
        let now = epoch_secs(&crate::domain::time::now());
        self.db
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT ord, event_id, received_us, lease_us, expires_at FROM flow_lanes \
                         WHERE lane = ?1 AND expires_at > ?2 ORDER BY ord",
                    )
                    .map_err(db_err)?;
                let rows = stmt
                    .query_map(params![lane, now], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, i64>(2)?,
                            r.get::<_, Option<i64>>(3)?,
                            r.get::<_, i64>(4)?,
                        ))
                    })
                    .map_err(db_err)?;
                let mut entries = Vec::new();
                for row in rows {
                    let (order, event_id, received, lease, expires) = row.map_err(db_err)?;
                    let (Some(received_at), Some(expires_at)) = (
                        micros(Some(received)),
                        chrono::DateTime::from_timestamp(expires, 0),
                    ) else {
                        continue;
                    };
                    entries.push(LaneEntry {
                        order,
                        event_id,
                        received_at,
                        lease_until: micros(lease),
                        expires_at,
                    });
                }
                Ok(entries)
            })
            .await
    }

    async fn lane_lease(&self, lane: &LaneKey, order: &str, lease: Lease) -> StoreResult<bool> {
        let (lane, order) = (lane.storage_id(), order.to_owned());
        self.db
            .write(move |conn| {
                let changed = conn
                    .prepare_cached(
                        "UPDATE flow_lanes SET lease_us = ?3 WHERE lane = ?1 AND ord = ?2 \
                         AND (lease_us IS NULL OR lease_us <= ?4)",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            lane,
                            order,
                            lease.until.timestamp_micros(),
                            lease.now.timestamp_micros()
                        ])
                    })
                    .map_err(db_err)?;
                Ok(changed == 1)
            })
            .await
    }

    async fn lane_leave(&self, lane: &LaneKey, order: &str) -> StoreResult<()> {
        let (lane, order) = (lane.storage_id(), order.to_owned());
        self.db
            .write(move |conn| {
                let sql = "DELETE FROM flow_lanes WHERE lane = ?1 AND ord = ?2";
                execute(conn, sql, params![lane, order]).map(drop)
            })
            .await
    }

    async fn reserve(&self, subscription_id: &str, block: SlotBlock) -> StoreResult<Timestamp> {
        let id = subscription_id.to_owned();
        self.db
            .write(move |conn| {
                let sql = "SELECT next_us FROM flow_rates WHERE subscription_id = ?1";
                let next: Option<i64> = optional_value(conn, sql, params![id])?;
                let (first, after) = reservation(micros(next), block);
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO flow_rates (subscription_id, next_us) VALUES (?1, ?2)",
                )
                .and_then(|mut s| s.execute(params![id, after.timestamp_micros()]))
                .map_err(db_err)?;
                Ok(first)
            })
            .await
    }

    async fn pause(&self, subscription_id: &str, until: Timestamp) -> StoreResult<()> {
        let id = subscription_id.to_owned();
        self.db
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO flow_rates (subscription_id, next_us) VALUES (?1, ?2) \
                     ON CONFLICT (subscription_id) DO UPDATE SET next_us = max(next_us, excluded.next_us)",
                )
                .and_then(|mut s| s.execute(params![id, until.timestamp_micros()]))
                .map_err(db_err)?;
                Ok(())
            })
            .await
    }
}
