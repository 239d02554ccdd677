//! The dead-letter table of [`SqliteQueue`]: listed by sequence number, redriven back into
//! `queue` in one transaction (the row moves, so it is never in neither table).

use super::{db_err, now_ms, SqliteQueue};
use crate::error::{StoreError, StoreResult};
use crate::ports::{DeadLetter, DeadLetterQueue, Page, PageRequest, RedriveSelection};
use async_trait::async_trait;
use rusqlite::params;

fn timestamp(ms: i64) -> Option<crate::domain::time::Timestamp> {
    chrono::DateTime::from_timestamp_millis(ms)
}

#[async_trait]
impl DeadLetterQueue for SqliteQueue {
    async fn list(&self, page: &PageRequest) -> StoreResult<Page<DeadLetter>> {
        let after: i64 = match &page.cursor {
            Some(c) => c.parse().map_err(|_| StoreError::InvalidCursor)?,
            None => 0,
        };
        let limit = page.limit.max(1);
        let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
        let mut items = self
            .db()
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT seq, body, receive_count, dead_at FROM dead_letters \
                         WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                    )
                    .map_err(db_err)?;
                let rows = stmt
                    .query_map(params![after, fetch], |r| {
                        Ok(DeadLetter {
                            message_id: r.get::<_, i64>(0)?.to_string(),
                            body: r.get(1)?,
                            receive_count: r.get(2)?,
                            dead_at: timestamp(r.get(3)?),
                        })
                    })
                    .map_err(db_err)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
            })
            .await?;
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|d| d.message_id.clone())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    async fn redrive(&self, selection: &RedriveSelection) -> StoreResult<Vec<String>> {
        let (ids, limit): (Vec<i64>, i64) = match selection {
            // An id that is not a sequence number names no dead letter here.
            RedriveSelection::Ids(ids) => (ids.iter().filter_map(|i| i.parse().ok()).collect(), 0),
            RedriveSelection::Oldest(n) => (Vec::new(), i64::try_from(*n).unwrap_or(i64::MAX)),
        };
        let by_ids = matches!(selection, RedriveSelection::Ids(_));
        let moved = self
            .db()
            .write(move |conn| {
                let seqs: Vec<i64> = if by_ids {
                    let mut found = Vec::new();
                    for id in &ids {
                        let hit = conn
                            .prepare_cached("SELECT seq FROM dead_letters WHERE seq = ?1")
                            .and_then(|mut s| s.exists(params![id]))
                            .map_err(db_err)?;
                        if hit {
                            found.push(*id);
                        }
                    }
                    found
                } else {
                    let mut stmt = conn
                        .prepare_cached("SELECT seq FROM dead_letters ORDER BY seq LIMIT ?1")
                        .map_err(db_err)?;
                    let rows = stmt
                        .query_map(params![limit], |r| r.get(0))
                        .map_err(db_err)?;
                    rows.collect::<Result<_, _>>().map_err(db_err)?
                };
                let now = now_ms();
                for seq in &seqs {
                    // The same sequence number: the message keeps its id across the round trip.
                    conn.prepare_cached(
                        "INSERT INTO queue (seq, body, visible_at, receive_count, sent_at) \
                         SELECT seq, body, ?2, 0, ?2 FROM dead_letters WHERE seq = ?1",
                    )
                    .and_then(|mut s| s.execute(params![seq, now]))
                    .map_err(db_err)?;
                    conn.prepare_cached("DELETE FROM dead_letters WHERE seq = ?1")
                        .and_then(|mut s| s.execute(params![seq]))
                        .map_err(db_err)?;
                }
                Ok(seqs.iter().map(i64::to_string).collect::<Vec<_>>())
            })
            .await?;
        if !moved.is_empty() {
            self.wake();
        }
        Ok(moved)
    }
}
