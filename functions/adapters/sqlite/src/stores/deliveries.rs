//! Delivery attempts, keyed like the DynamoDB table: (event id, `{subscription}#{attempt:06}`).

use super::listing::read_page;
use super::rows::to_json;
use crate::domain::attempt::AttemptStatus;
use crate::domain::time::{epoch_secs, sortable, Timestamp};
use crate::domain::Attempt;
use crate::error::{StoreError, StoreResult};
use crate::ports::queries::delivery_sort_key;
use crate::ports::{DeliveryStore, Page, PageRequest};
use crate::{db_err, Db};
use async_trait::async_trait;
use rusqlite::params;
use rusqlite::types::Value;
use std::collections::BTreeMap;

/// Attempts keyed like the DynamoDB table: (event id, `{subscription}#{attempt:06}`).
pub struct SqliteDeliveryStore {
    pub(super) db: Db,
}

impl SqliteDeliveryStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait]
impl DeliveryStore for SqliteDeliveryStore {
    async fn record(&self, attempt: &Attempt, expires_at: Timestamp) -> StoreResult<()> {
        let a = attempt;
        let values = (
            a.event_id.clone(),
            delivery_sort_key(&a.subscription_id, a.attempt),
            a.subscription_id.clone(),
            a.attempt,
            a.status.as_str(),
            a.call_id.clone(),
            sortable(&a.attempted_at),
            to_json(a)?,
            epoch_secs(&expires_at),
        );
        self.db
            .write_one(move |conn| {
                let (event_id, sk, sub, n, status, call_id, attempted_at, body, expires) = &values;
                // Replaces a failed record of the same key, never a success.
                let written = conn
                    .prepare_cached(
                        "INSERT INTO deliveries (event_id, sk, subscription_id, attempt, \
                         status, call_id, attempted_at, body, expires_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                         ON CONFLICT (event_id, sk) DO UPDATE SET \
                         subscription_id = excluded.subscription_id, attempt = excluded.attempt, \
                         status = excluded.status, call_id = excluded.call_id, \
                         attempted_at = excluded.attempted_at, body = excluded.body, \
                         expires_at = excluded.expires_at \
                         WHERE deliveries.status <> 'succeeded'",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            event_id,
                            sk,
                            sub,
                            n,
                            status,
                            call_id,
                            attempted_at,
                            body,
                            expires
                        ])
                    })
                    .map_err(db_err)?;
                if written == 0 {
                    return Err(StoreError::Conflict);
                }
                Ok(())
            })
            .await
    }

    async fn list_by_event(
        &self,
        event_id: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<Attempt>> {
        // The cursor is the sort key of the last attempt listed.
        let limit = page.limit.max(1);
        let mut values = vec![Value::Text(event_id.to_owned())];
        let mut sql = "SELECT body FROM deliveries WHERE event_id = ?".to_owned();
        if let Some(after) = &page.cursor {
            sql.push_str(" AND sk > ?");
            values.push(Value::Text(after.clone()));
        }
        sql.push_str(" ORDER BY sk LIMIT ?");
        read_page(&self.db, sql, values, limit, |a: &Attempt| {
            delivery_sort_key(&a.subscription_id, a.attempt)
        })
        .await
    }

    async fn latest_by_subscription(
        &self,
        event_id: &str,
    ) -> StoreResult<Vec<(String, u32, AttemptStatus)>> {
        let event_id = event_id.to_owned();
        self.db
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT subscription_id, attempt, status FROM deliveries \
                         WHERE event_id = ?1 ORDER BY sk",
                    )
                    .map_err(db_err)?;
                let rows = stmt
                    .query_map(params![event_id], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, u32>(1)?,
                            r.get::<_, String>(2)?,
                        ))
                    })
                    .map_err(db_err)?;
                let mut latest: BTreeMap<String, (u32, AttemptStatus)> = BTreeMap::new();
                for row in rows {
                    let (sub, n, status) = row.map_err(db_err)?;
                    let status = AttemptStatus::parse(&status)
                        .ok_or_else(|| StoreError::Corrupt(format!("attempt status {status:?}")))?;
                    let slot = latest.entry(sub).or_insert((n, status));
                    if n >= slot.0 {
                        *slot = (n, status);
                    }
                }
                Ok(latest.into_iter().map(|(s, (n, st))| (s, n, st)).collect())
            })
            .await
    }
}
