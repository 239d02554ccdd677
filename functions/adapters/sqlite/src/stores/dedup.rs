//! Provider-retry claims, written ahead of ordinary writes: ingest answers on them.

use super::rows::execute;
use crate::domain::time::Timestamp;
use crate::error::StoreResult;
use crate::ports::{Claim, ClaimTerms, DedupStore, HeldClaim, KeyClaim, Outgoing};
use crate::{db_err, Db, SqliteQueue};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use std::sync::Arc;

/// Provider-retry claims; an expired claim, or a pending one past `pending_for`, is free
/// again (expired rows are purged by the writer). They live in the events queue's database,
/// so a claim can queue its event in the same write ([`DedupStore::claim_and_send`]).
pub struct SqliteDedupStore {
    queue: Arc<SqliteQueue>,
}

impl SqliteDedupStore {
    pub fn new(queue: Arc<SqliteQueue>) -> Self {
        Self { queue }
    }

    fn db(&self) -> &Db {
        self.queue.db()
    }
}

fn millis(t: &Timestamp) -> i64 {
    t.timestamp_millis()
}

/// Claims `key` for `event_id` as of `terms.at`, pending or (when its event is queued in
/// the same transaction) queued; the holder's answer when the key is not free.
fn claim_in(
    conn: &Connection,
    key: &str,
    event_id: &str,
    terms: ClaimTerms,
    queued: bool,
) -> StoreResult<Claim> {
    let at = terms.at;
    let at_ms = millis(&at);
    let expires_ms = at_ms.saturating_add(crate::duration_ms(terms.ttl));
    // The usual case, a key nobody holds: one statement, no lookup before it.
    let sql = "INSERT OR IGNORE INTO dedup (key, event_id, expires_at_ms, claimed_at_ms, queued) \
               VALUES (?1, ?2, ?3, ?4, ?5)";
    if execute(conn, sql, params![key, event_id, expires_ms, at_ms, queued])? == 1 {
        return Ok(Claim::New);
    }
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
    let sql = "INSERT OR REPLACE INTO dedup (key, event_id, expires_at_ms, claimed_at_ms, queued) \
               VALUES (?1, ?2, ?3, ?4, ?5)";
    execute(conn, sql, params![key, event_id, expires_ms, at_ms, queued])?;
    Ok(Claim::New)
}

#[async_trait]
impl DedupStore for SqliteDedupStore {
    async fn claim(&self, key: &str, event_id: &str, terms: ClaimTerms) -> StoreResult<Claim> {
        let (key, event_id) = (key.to_owned(), event_id.to_owned());
        self.db()
            .write_first(move |conn| claim_in(conn, &key, &event_id, terms, false))
            .await
    }

    /// The claim, queued, and the message in one job: one transaction holds both or neither.
    async fn claim_and_send(
        &self,
        claim: KeyClaim<'_>,
        out: Outgoing<'_>,
    ) -> Option<StoreResult<Claim>> {
        let (message, outbound) = match self.queue.message(out) {
            Ok(made) => made,
            Err(e) => return Some(Err(e)),
        };
        let KeyClaim {
            key,
            event_id,
            terms,
        } = claim;
        let (key, event_id) = (key.to_owned(), event_id.to_owned());
        let written = self
            .db()
            .write_first(move |conn| {
                let claim = claim_in(conn, &key, &event_id, terms, true)?;
                let inserted = match claim {
                    Claim::New => Some(message.insert(conn)?),
                    _ => None,
                };
                Ok((claim, inserted))
            })
            .await;
        // A message not queued gives its hand-off place back (the reservation is dropped).
        Some(written.map(|(claim, inserted)| {
            if let Some(inserted) = inserted {
                self.queue.sent(inserted, outbound);
            }
            claim
        }))
    }

    async fn confirm(&self, key: &str, event_id: &str) -> StoreResult<bool> {
        let (key, event_id) = (key.to_owned(), event_id.to_owned());
        self.db()
            .write_first(move |conn| {
                let sql = "UPDATE dedup SET queued = 1 WHERE key = ?1 AND event_id = ?2";
                Ok(execute(conn, sql, params![key, event_id])? == 1)
            })
            .await
    }

    async fn release(&self, key: &str, event_id: &str) -> StoreResult<()> {
        let (key, event_id) = (key.to_owned(), event_id.to_owned());
        self.db()
            .write_first(move |conn| {
                let sql = "DELETE FROM dedup WHERE key = ?1 AND event_id = ?2";
                execute(conn, sql, params![key, event_id]).map(drop)
            })
            .await
    }
}
