//! Provider-retry claims, written ahead of ordinary writes: ingest answers on them.

use super::rows::execute;
use crate::domain::time::Timestamp;
use crate::error::StoreResult;
use crate::ports::{Claim, ClaimTerms, DedupStore, HeldClaim};
use crate::{db_err, Db};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

/// Provider-retry claims; an expired claim, or a pending one past `pending_for`, is free
/// again (expired rows are purged by the writer).
pub struct SqliteDedupStore {
    db: Db,
}

impl SqliteDedupStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

fn millis(t: &Timestamp) -> i64 {
    t.timestamp_millis()
}

#[async_trait]
impl DedupStore for SqliteDedupStore {
    async fn claim(&self, key: &str, event_id: &str, terms: ClaimTerms) -> StoreResult<Claim> {
        let at = terms.at;
        let (key, event_id) = (key.to_owned(), event_id.to_owned());
        let at_ms = millis(&at);
        let ttl_ms = crate::duration_ms(terms.ttl);
        self.db
            .write_first(move |conn| {
                let held: Option<(String, i64, i64, bool)> = conn
                    .prepare_cached(
                        "SELECT event_id, expires_at_ms, claimed_at_ms, queued FROM dedup WHERE key = ?1",
                    )
                    .and_then(|mut s| {
                        s.query_row(params![key], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                        })
                    })
                    .optional()
                    .map_err(db_err)?;
                let from_ms = |ms| chrono::DateTime::from_timestamp_millis(ms).unwrap_or(at);
                let held = held.map(|(event_id, expires_ms, claimed_ms, queued)| HeldClaim {
                    event_id,
                    claimed_at: from_ms(claimed_ms),
                    expires_at: Some(from_ms(expires_ms)),
                    queued,
                });
                if let Some(answer) = held.and_then(|h| h.answer(at, terms)) {
                    return Ok(answer);
                }
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO dedup (key, event_id, expires_at_ms, claimed_at_ms, queued) \
                     VALUES (?1, ?2, ?3, ?4, 0)",
                )
                .and_then(|mut s| {
                    s.execute(params![key, event_id, at_ms.saturating_add(ttl_ms), at_ms])
                })
                .map_err(db_err)?;
                Ok(Claim::New)
            })
            .await
    }

    async fn confirm(&self, key: &str, event_id: &str) -> StoreResult<bool> {
        let (key, event_id) = (key.to_owned(), event_id.to_owned());
        self.db
            .write_first(move |conn| {
                let sql = "UPDATE dedup SET queued = 1 WHERE key = ?1 AND event_id = ?2";
                Ok(execute(conn, sql, params![key, event_id])? == 1)
            })
            .await
    }

    async fn release(&self, key: &str, event_id: &str) -> StoreResult<()> {
        let (key, event_id) = (key.to_owned(), event_id.to_owned());
        self.db
            .write_first(move |conn| {
                let sql = "DELETE FROM dedup WHERE key = ?1 AND event_id = ?2";
                execute(conn, sql, params![key, event_id]).map(drop)
            })
            .await
    }
}
