//! A persistent queue with SQS semantics: delays, visibility timeout, receive counts, a
//! dead-letter table after `max_receives`, deletes by receipt (a stale receipt is a no-op).
//!
//! A message is a row of `queue`; it is visible when `visible_at` (milliseconds since the
//! epoch) has passed. Receiving bumps `receive_count` and hides it for the visibility
//! timeout; its receipt is `<seq>.<receive_count>`, so a receipt from an earlier receipt of
//! the same message no longer deletes it. A visible message already received
//! `max_receives` times moves to `dead_letters` instead of being handed out again.

use super::{db_err, duration_ms, now_ms, Db};
use crate::domain::TraceHeader;
use crate::error::{StoreError, StoreResult};
use crate::ports::{EventQueue, Outgoing, QueueConsumer, ReceivedMessage, MAX_QUEUE_DELAY};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

pub struct SqliteQueue {
    db: Db,
    notify: Arc<Notify>,
    visibility: Duration,
    max_receives: u32,
}

/// What [`SqliteQueue::recover`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Messages in the queue (ready, delayed or in flight before recovery).
    pub queued: u64,
    /// Messages that were in flight when the previous process stopped, now visible again.
    pub in_flight: u64,
}

impl SqliteQueue {
    /// `visibility`: how long a received message stays hidden; `max_receives`: receipts before
    /// a message is dead-lettered (SQS's redrive `maxReceiveCount`).
    pub fn new(db: Db, visibility: Duration, max_receives: u32) -> Self {
        Self {
            db,
            notify: Arc::new(Notify::new()),
            visibility,
            max_receives: max_receives.max(1),
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Wakes one waiting consumer: a message was queued.
    pub(crate) fn wake_one(&self) {
        self.notify.notify_one();
    }

    /// Wakes every waiting consumer (messages became visible outside `send`).
    pub(crate) fn wake(&self) {
        self.notify.notify_waiters();
        self.notify.notify_one();
    }

    /// Makes every message that is in flight visible now. Call it once at start-up: the store
    /// lock guarantees no other process holds these messages, so the consumer that received
    /// them is dead and waiting for their visibility timeout would only delay them. Their
    /// receive counts stay, so a message that keeps killing the process is dead-lettered.
    pub async fn recover(&self) -> StoreResult<Recovered> {
        let recovered = self
            .db
            .write(|conn| {
                let now = now_ms();
                let in_flight = conn
                    .execute(
                        "UPDATE queue SET visible_at = ?1 WHERE receive_count > 0 AND visible_at > ?1",
                        params![now],
                    )
                    .map_err(db_err)?;
                let queued: i64 = conn
                    .query_row("SELECT COUNT(*) FROM queue", [], |r| r.get(0))
                    .map_err(db_err)?;
                Ok(Recovered {
                    queued: u64::try_from(queued).unwrap_or(0),
                    in_flight: u64::try_from(in_flight).unwrap_or(0),
                })
            })
            .await?;
        self.notify.notify_waiters();
        Ok(recovered)
    }

    /// Messages not yet deleted (ready, delayed or in flight).
    pub async fn len(&self) -> StoreResult<u64> {
        self.count("SELECT COUNT(*) FROM queue", None).await
    }

    pub async fn is_empty(&self) -> StoreResult<bool> {
        Ok(self.len().await? == 0)
    }

    /// Messages visible now or in flight (not counting delayed ones never received).
    pub async fn active_len(&self) -> StoreResult<u64> {
        self.count(
            "SELECT COUNT(*) FROM queue WHERE visible_at <= ?1 OR receive_count > 0",
            Some(now_ms()),
        )
        .await
    }

    /// Bodies of the dead-lettered messages, oldest first.
    pub async fn dead_letters(&self) -> StoreResult<Vec<String>> {
        self.db
            .read(|conn| {
                let mut stmt = conn
                    .prepare_cached("SELECT body FROM dead_letters ORDER BY dead_at, seq")
                    .map_err(db_err)?;
                let rows = stmt
                    .query_map([], |r| r.get::<_, String>(0))
                    .map_err(db_err)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
            })
            .await
    }

    async fn count(&self, sql: &'static str, now: Option<i64>) -> StoreResult<u64> {
        self.db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(sql).map_err(db_err)?;
                let n: i64 = match now {
                    Some(now) => stmt.query_row(params![now], |r| r.get(0)),
                    None => stmt.query_row([], |r| r.get(0)),
                }
                .map_err(db_err)?;
                Ok(u64::try_from(n).unwrap_or(0))
            })
            .await
    }
}

/// Takes up to `max` visible messages, dead-lettering those received too often. Returns
/// them, or (when none) the time the next message becomes visible.
fn take(
    conn: &Connection,
    max: usize,
    visibility_ms: i64,
    max_receives: u32,
) -> StoreResult<(Vec<ReceivedMessage>, Option<i64>)> {
    let now = now_ms();
    let mut out = Vec::new();
    loop {
        let want = i64::try_from(max - out.len()).unwrap_or(10);
        let candidates: Vec<(i64, String, u32, Option<String>)> = {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT seq, body, receive_count, trace FROM queue WHERE visible_at <= ?1 \
                     ORDER BY visible_at, seq LIMIT ?2",
                )
                .map_err(db_err)?;
            let rows = stmt
                .query_map(params![now, want], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .map_err(db_err)?;
            rows.collect::<Result<_, _>>().map_err(db_err)?
        };
        if candidates.is_empty() {
            break;
        }
        let mut dead = 0;
        for (seq, body, count, trace) in candidates {
            if count >= max_receives {
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO dead_letters (seq, body, receive_count, dead_at) \
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .and_then(|mut s| s.execute(params![seq, body, count, now]))
                .map_err(db_err)?;
                conn.prepare_cached("DELETE FROM queue WHERE seq = ?1")
                    .and_then(|mut s| s.execute(params![seq]))
                    .map_err(db_err)?;
                tracing::warn!(
                    message_id = seq,
                    receive_count = count,
                    "message dead-lettered"
                );
                dead += 1;
                continue;
            }
            let count = count + 1;
            conn.prepare_cached(
                "UPDATE queue SET receive_count = ?2, visible_at = ?3 WHERE seq = ?1",
            )
            .and_then(|mut s| s.execute(params![seq, count, now.saturating_add(visibility_ms)]))
            .map_err(db_err)?;
            out.push(ReceivedMessage {
                message_id: seq.to_string(),
                receipt: format!("{seq}.{count}"),
                body,
                receive_count: count,
                sent: None,
                trace: trace.as_deref().and_then(TraceHeader::from_xray),
            });
        }
        if dead == 0 || out.len() >= max {
            break;
        }
    }
    if !out.is_empty() {
        return Ok((out, None));
    }
    let next: Option<i64> = conn
        .prepare_cached("SELECT MIN(visible_at) FROM queue")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .optional()
        .map_err(db_err)?
        .flatten();
    Ok((out, next))
}

/// A message ready to be written into the queue, by a send or by a write that queues it
/// with other rows (a dedup claim's).
pub(crate) struct NewMessage {
    body: String,
    delay_ms: i64,
    trace: Option<String>,
}

impl NewMessage {
    pub(crate) fn of(out: Outgoing<'_>) -> StoreResult<Self> {
        Ok(Self {
            body: out.body()?,
            delay_ms: duration_ms(out.delay.min(MAX_QUEUE_DELAY)),
            trace: out.trace.map(|t| t.header().to_owned()),
        })
    }

    /// Inserts the message in the writer's open transaction.
    pub(crate) fn insert(&self, conn: &Connection) -> StoreResult<()> {
        let now = now_ms();
        conn.prepare_cached(
            "INSERT INTO queue (body, visible_at, receive_count, sent_at, trace) \
             VALUES (?1, ?2, 0, ?3, ?4)",
        )
        .and_then(|mut s| {
            s.execute(params![
                self.body,
                now.saturating_add(self.delay_ms),
                now,
                self.trace
            ])
        })
        .map_err(db_err)?;
        Ok(())
    }
}

#[async_trait]
impl EventQueue for SqliteQueue {
    async fn send_traced(&self, out: Outgoing<'_>) -> StoreResult<()> {
        let message = NewMessage::of(out)?;
        self.db
            .write_first(move |conn| message.insert(conn))
            .await?;
        self.wake_one();
        Ok(())
    }
}

#[async_trait]
impl QueueConsumer for SqliteQueue {
    async fn receive(&self, max: usize, wait: Duration) -> StoreResult<Vec<ReceivedMessage>> {
        let deadline = Instant::now() + wait;
        let max = max.clamp(1, 10_000);
        let visibility_ms = duration_ms(self.visibility);
        let max_receives = self.max_receives;
        loop {
            let notified = self.notify.notified();
            let (messages, next_visible) = self
                .db
                .write(move |conn| take(conn, max, visibility_ms, max_receives))
                .await?;
            if !messages.is_empty() {
                if messages.len() == max {
                    // There may be more: wake another consumer.
                    self.notify.notify_one();
                }
                return Ok(messages);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            let until = match next_visible {
                Some(at) => {
                    let in_ms = u64::try_from(at.saturating_sub(now_ms())).unwrap_or(0);
                    deadline.min(now + Duration::from_millis(in_ms))
                }
                None => deadline,
            };
            // A timeout here is the normal way out of the wait.
            let _ = tokio::time::timeout_at(until, notified).await;
        }
    }

    async fn delete(&self, receipt: &str) -> StoreResult<()> {
        let mut results = self.delete_many(&[receipt.to_owned()]).await;
        results.pop().unwrap_or(Ok(()))
    }

    /// Every receipt in one write (one commit for a poller's whole batch).
    async fn delete_many(&self, receipts: &[String]) -> Vec<StoreResult<()>> {
        // Like SQS (and the in-memory queue), a stale or unknown receipt deletes nothing.
        let keys: Vec<(i64, u32)> = receipts
            .iter()
            .filter_map(|r| {
                let (s, c) = r.split_once('.')?;
                Some((s.parse::<i64>().ok()?, c.parse::<u32>().ok()?))
            })
            .collect();
        let written = self
            .db
            .write(move |conn| {
                let mut stmt = conn
                    .prepare_cached("DELETE FROM queue WHERE seq = ?1 AND receive_count = ?2")
                    .map_err(db_err)?;
                for (seq, count) in keys {
                    stmt.execute(params![seq, count]).map_err(db_err)?;
                }
                Ok(())
            })
            .await;
        match written {
            Ok(()) => receipts.iter().map(|_| Ok(())).collect(),
            Err(e) => {
                let why = e.to_string();
                receipts
                    .iter()
                    .map(|_| Err(StoreError::Unavailable(why.clone())))
                    .collect()
            }
        }
    }
}
