//! A persistent queue with SQS semantics: delays, visibility timeout, receive counts, a
//! dead-letter table after `max_receives`, deletes by receipt (a stale receipt is a no-op).
//!
//! A message is a row of `queue`; it is visible when `visible_at` (milliseconds since the
//! epoch) has passed. Receiving bumps `receive_count` and hides it for the visibility
//! timeout; its receipt is `<seq>.<receive_count>`, so a receipt from an earlier receipt of
//! the same message no longer deletes it. A visible message already received
//! `max_receives` times moves to `dead_letters` instead of being handed out again.

use super::{db_err, duration_ms, now_ms, Db};
use crate::domain::{QueueMessage, StoredEvent, TraceHeader};
use crate::error::{StoreError, StoreResult};
use crate::handoff::{self, Handoff, Reservation};
use crate::ports::{EventQueue, Outgoing, QueueConsumer, ReceivedMessage, Stored, MAX_QUEUE_DELAY};
use crate::stores::{event_of_row, to_json, with_trailing_data, EventRow, RawColumn};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

pub struct SqliteQueue {
    db: Db,
    notify: Arc<Notify>,
    visibility: Duration,
    max_receives: u32,
    /// Set by [`SqliteQueue::storing_events`]: how long an event written with its message
    /// is kept.
    event_retention: Option<Duration>,
    /// Set by [`SqliteQueue::with_handoff`].
    handoff: Option<Arc<Handoff>>,
    /// When (milliseconds since the epoch) a row of `queue` may be visible next: 0 when one
    /// may be now, `i64::MAX` when the table is empty. Set by the writer, in the order of
    /// its transactions (a take sets it, every insert lowers it), so a receive skips the
    /// database while it has nothing to give.
    ready_at: Arc<AtomicI64>,
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
            event_retention: None,
            handoff: None,
            ready_at: Arc::new(AtomicI64::new(0)),
        }
    }

    /// Hands each message sent with no delay to this process's own consumers as sent, while
    /// its row is written already leased to them (received once, hidden for the visibility
    /// timeout): no read of the row, no decoding, no write to lease it. A crash loses
    /// nothing (the row is there, in flight, and `recover` makes it visible), and a message
    /// not taken within half its lease is left to the database, which hands it out when
    /// the lease ends. At most 8,192 messages wait, holding 32 MiB at most (by their events'
    /// sizes); beyond, a send queues an ordinary visible row.
    pub fn with_handoff(self) -> Self {
        self.with_handoff_of(handoff::HANDOFF_MAX, handoff::HANDOFF_MAX_BYTES)
    }

    /// [`Self::with_handoff`] with room for `messages` holding `bytes` (estimated from their
    /// events' sizes) instead of the defaults: the tests fill a small one.
    pub fn with_handoff_of(mut self, messages: usize, bytes: usize) -> Self {
        self.handoff = Some(Arc::new(Handoff::new(self.visibility, messages, bytes)));
        self
    }

    /// Writes the event of each event message into the event store (`events`, kept for
    /// `retention`) in the transaction that queues the message, and queues a reference to
    /// it. Each event is then written once, not once in the queue and again by dispatch,
    /// and the queue's rows stay small: receiving and deleting a message rewrite a few
    /// bytes, not the whole event. Consumers get the message whole, with
    /// [`ReceivedMessage::event_stored`] telling dispatch the event is stored.
    pub fn storing_events(mut self, retention: Duration) -> Self {
        self.event_retention = Some(retention);
        self
    }

    /// `out` as a row to insert (with its event's row when this queue stores events), and
    /// what hands it over once committed when it goes through the hand-off.
    pub(crate) fn message(&self, out: Outgoing<'_>) -> StoreResult<(NewMessage, Option<Outbound>)> {
        let mut outbound = match &self.handoff {
            Some(handoff) if out.delay.is_zero() => handoff
                .reserve(handoff_weight(out.message))
                .map(|reservation| Outbound {
                    reservation,
                    message: Arc::new(out.message.clone()),
                    trace: out.trace.cloned(),
                    envelope_json: None,
                }),
            _ => None,
        };
        let lease_ms = outbound.as_ref().map(|_| duration_ms(self.visibility));
        let (message, envelope_json) =
            NewMessage::of(out, self.event_retention, lease_ms, self.ready_at.clone())?;
        if let Some(outbound) = &mut outbound {
            outbound.envelope_json = envelope_json;
        }
        Ok((message, outbound))
    }

    /// After the commit of a message's row: hands it over when it was sent that way, and
    /// wakes a consumer.
    pub(crate) fn sent(&self, inserted: Inserted, outbound: Option<Outbound>) {
        if let Some(Outbound {
            reservation,
            message,
            trace,
            envelope_json,
        }) = outbound
        {
            reservation.hand_over(ReceivedMessage {
                message_id: inserted.seq.to_string(),
                receipt: format!("{}.1", inserted.seq),
                body: String::new(),
                receive_count: 1,
                sent: Some(message),
                trace,
                event_stored: inserted.event_stored.then_some(Stored::New),
                envelope_json,
            });
        }
        self.wake_one();
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
        self.ready_at.store(0, Ordering::SeqCst);
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
        self.wake();
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

/// What a queue row holds, as [`take`] read it (decoded off the writer thread).
enum Content {
    /// The message's JSON.
    Body(String),
    /// An event message whose event the queue stored: the event's row.
    Event {
        event_id: String,
        envelope: String,
        raw: RawColumn,
        dedup_key: Option<String>,
    },
    /// An event message whose event is no longer stored (purged past its retention).
    Lost { event_id: String },
}

impl Content {
    /// The message, when the row held an event, and whether the row's envelope JSON is the
    /// whole envelope.
    fn event(&self) -> Option<StoreResult<(QueueMessage, bool)>> {
        let Self::Event {
            envelope,
            raw,
            dedup_key,
            ..
        } = self
        else {
            return None;
        };
        Some(
            event_of_row(envelope, raw, dedup_key.clone()).map(|(event, whole)| {
                let message = QueueMessage::Event {
                    event: Arc::new(event),
                };
                (message, whole)
            }),
        )
    }

    /// The message's JSON: an event message's rebuilt from its stored event; for one that
    /// cannot be rebuilt, a JSON object that says why (dispatch refuses it, so it ends
    /// among the dead letters where ops can read it).
    fn into_json(self) -> String {
        let why = match self.event() {
            None => None,
            Some(Ok((message, _))) => match message.to_json() {
                Ok(json) => return json,
                Err(e) => Some(e.to_string()),
            },
            Some(Err(e)) => Some(e.to_string()),
        };
        let (event_id, error) = match self {
            Self::Body(body) => return body,
            Self::Event { event_id, .. } => (event_id, why.unwrap_or_default()),
            Self::Lost { event_id } => (event_id, "the event is no longer stored".to_owned()),
        };
        serde_json::json!({ "event_id": event_id, "error": error }).to_string()
    }
}

/// The whole envelope's JSON of an event message whose row left the payload out of it.
fn restored_envelope(column: &str, message: &QueueMessage) -> Option<String> {
    match message {
        QueueMessage::Event { event } => with_trailing_data(column, &event.envelope),
        QueueMessage::Deliver { .. } => None,
    }
}

/// A message [`take`] handed out.
struct Taken {
    seq: i64,
    receive_count: u32,
    trace: Option<String>,
    content: Content,
}

impl Taken {
    /// The message for a consumer; `with_body`: its JSON too, even when it is given whole.
    fn received(self, with_body: bool) -> ReceivedMessage {
        let Self {
            seq,
            receive_count,
            trace,
            content,
        } = self;
        let (whole, envelope_whole) = match content.event() {
            Some(Ok((message, complete))) => (Some(Arc::new(message)), complete),
            Some(Err(e)) => {
                tracing::error!(message_id = seq, error = %e, "the stored event of a queued message cannot be read");
                (None, false)
            }
            None => (None, false),
        };
        let (body, event_stored, envelope_json) = match &whole {
            Some(message) => {
                let body = if with_body {
                    message.to_json().unwrap_or_default()
                } else {
                    String::new()
                };
                // A row whose raw request is packed was written in this version's layout
                // (schema 7 on): its envelope JSON is what dispatch would serialise, handed
                // on as it was read, or (the row keeps the payload as the body, schema 8
                // on) with the payload put back as its last field. An older row's may not
                // be.
                let envelope_json = match content {
                    Content::Event {
                        envelope,
                        raw: RawColumn::Packed(_),
                        ..
                    } => {
                        if envelope_whole {
                            Some(bytes::Bytes::from(envelope))
                        } else {
                            restored_envelope(&envelope, message).map(bytes::Bytes::from)
                        }
                    }
                    _ => None,
                };
                (body, true, envelope_json)
            }
            None => {
                if let Content::Lost { event_id } = &content {
                    tracing::warn!(message_id = seq, %event_id, "queued event no longer stored");
                }
                (content.into_json(), false, None)
            }
        };
        // The first receipt of a message whose event it wrote: nobody has tried to deliver
        // the event yet (a redriven message is queued whole, so it never counts as first).
        let event_stored = event_stored.then_some(if receive_count == 1 {
            Stored::New
        } else {
            Stored::Existing
        });
        ReceivedMessage {
            message_id: seq.to_string(),
            receipt: format!("{seq}.{receive_count}"),
            body,
            receive_count,
            sent: whole,
            trace: trace.as_deref().and_then(TraceHeader::from_xray),
            event_stored,
            envelope_json,
        }
    }
}

/// A queue row as `take` selects it: sequence, body, receive count, trace, and the stored
/// event's id and row when the queue stored it.
type Row = (
    i64,
    String,
    u32,
    Option<String>,
    Option<String>,
    Option<(String, RawColumn, Option<String>)>,
);

/// The visible messages, oldest first, with the stored event of those that have one. No
/// `LIMIT ?`: SQLite prepares a statement again whenever a bound limit changes, and a cached
/// statement's bindings are cleared after each use; the caller stops reading instead.
const TAKE_SQL: &str = "SELECT q.seq, q.body, q.receive_count, q.trace, q.event_id, \
     e.envelope, e.raw, e.dedup_key, e.id IS NOT NULL \
     FROM queue q LEFT JOIN events e ON e.id = q.event_id \
     WHERE q.visible_at <= ?1 ORDER BY q.visible_at, q.seq";

/// Takes up to `max` visible messages, dead-lettering those received too often. Returns
/// them, or (when none) the time the next message becomes visible.
fn take(
    conn: &Connection,
    max: usize,
    visibility_ms: i64,
    max_receives: u32,
    ready_at: &AtomicI64,
) -> StoreResult<(Vec<Taken>, Option<i64>)> {
    let now = now_ms();
    let mut out = Vec::new();
    loop {
        let want = max - out.len();
        let candidates: Vec<Row> = {
            let mut stmt = conn.prepare_cached(TAKE_SQL).map_err(db_err)?;
            let rows = stmt
                .query_map(params![now], |r| {
                    let stored = if r.get::<_, bool>(8)? {
                        Some((r.get(5)?, r.get(6)?, r.get(7)?))
                    } else {
                        None
                    };
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        stored,
                    ))
                })
                .map_err(db_err)?;
            rows.take(want).collect::<Result<_, _>>().map_err(db_err)?
        };
        if candidates.is_empty() {
            break;
        }
        let mut dead = 0;
        for (seq, body, count, trace, event_id, stored) in candidates {
            let content = match (event_id, stored) {
                (None, _) => Content::Body(body),
                (Some(event_id), Some((envelope, raw, dedup_key))) => Content::Event {
                    event_id,
                    envelope,
                    raw,
                    dedup_key,
                },
                (Some(event_id), None) => Content::Lost { event_id },
            };
            if count >= max_receives {
                // The dead letter holds the whole message: it is listed and redriven as
                // sent, whatever becomes of the stored event.
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO dead_letters (seq, body, receive_count, dead_at) \
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .and_then(|mut s| s.execute(params![seq, content.into_json(), count, now]))
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
            out.push(Taken {
                seq,
                receive_count: count,
                trace,
                content,
            });
        }
        if dead == 0 || out.len() >= max {
            break;
        }
    }
    if out.len() >= max {
        // There may be more visible now.
        ready_at.store(0, Ordering::SeqCst);
        return Ok((out, None));
    }
    let next: Option<i64> = conn
        .prepare_cached("SELECT MIN(visible_at) FROM queue")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .optional()
        .map_err(db_err)?
        .flatten();
    ready_at.store(next.unwrap_or(i64::MAX), Ordering::SeqCst);
    Ok((out, next))
}

/// A message ready to be written into the queue, by a send or by a write that queues it
/// with other rows (a dedup claim's).
pub(crate) struct NewMessage {
    body: String,
    delay_ms: i64,
    /// Set for a message handed over: its row is written received once, hidden this long.
    lease_ms: Option<i64>,
    ready_at: Arc<AtomicI64>,
    trace: Option<String>,
    /// An event message's event and its row, written with the message (see
    /// [`SqliteQueue::storing_events`]).
    event: Option<(Arc<StoredEvent>, EventRow)>,
}

/// A message sent through the hand-off, waiting for its row's commit.
pub(crate) struct Outbound {
    reservation: Reservation,
    message: Arc<QueueMessage>,
    trace: Option<TraceHeader>,
    /// The envelope's JSON as the event's row holds it, for dispatch to send as it is.
    envelope_json: Option<bytes::Bytes>,
}

/// A message's row as inserted.
pub(crate) struct Inserted {
    seq: i64,
    /// Its event was written with it, for the first time.
    event_stored: bool,
}

impl NewMessage {
    /// The row of `out`, and its event's envelope JSON when the message goes through the
    /// hand-off (`lease_ms`) with its event stored: serialised once, for the row and for
    /// dispatch.
    fn of(
        out: Outgoing<'_>,
        event_retention: Option<Duration>,
        lease_ms: Option<i64>,
        ready_at: Arc<AtomicI64>,
    ) -> StoreResult<(Self, Option<bytes::Bytes>)> {
        let mut envelope_json = None;
        let event = match (out.message, event_retention) {
            (QueueMessage::Event { event }, Some(retention)) => {
                let expires = crate::domain::time::now()
                    + chrono::Duration::from_std(retention).unwrap_or_default();
                let envelope = to_json(&event.envelope)?;
                let row = EventRow::new(event, &envelope, &expires)?;
                if lease_ms.is_some() {
                    // Held while the message waits in the hand-off: without the room the
                    // writing left over (up to as much again), which its weight leaves out.
                    let mut envelope = envelope;
                    envelope.shrink_to_fit();
                    envelope_json = Some(bytes::Bytes::from(envelope));
                }
                Some((event.clone(), row))
            }
            _ => None,
        };
        let message = Self {
            // An event message's body is its event's row.
            body: if event.is_some() {
                String::new()
            } else {
                out.body()?
            },
            delay_ms: duration_ms(out.delay.min(MAX_QUEUE_DELAY)),
            lease_ms,
            ready_at,
            trace: out.trace.map(|t| t.header().to_owned()),
            event,
        };
        Ok((message, envelope_json))
    }

    /// Inserts the message (and its event) in the writer's open transaction.
    pub(crate) fn insert(&self, conn: &Connection) -> StoreResult<Inserted> {
        let now = now_ms();
        let mut body = std::borrow::Cow::Borrowed(self.body.as_str());
        let mut event_id = None;
        if let Some((event, row)) = &self.event {
            match row.write(conn)? {
                Stored::New => event_id = Some(event.envelope.id.as_str()),
                // Stored before, not by this message: dispatch must look for attempts of
                // it, so the message goes whole, as on a queue that stores no events.
                Stored::Existing | Stored::Unknown => {
                    let message = QueueMessage::Event {
                        event: event.clone(),
                    };
                    let json = message
                        .to_json()
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    body = std::borrow::Cow::Owned(json);
                }
            }
        }
        let (visible_at, receive_count) = match self.lease_ms {
            Some(lease) => (now.saturating_add(lease), 1),
            None => (now.saturating_add(self.delay_ms), 0),
        };
        conn.prepare_cached(
            "INSERT INTO queue (body, visible_at, receive_count, sent_at, trace, event_id) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .and_then(|mut s| {
            s.execute(params![
                body.as_ref(),
                visible_at,
                receive_count,
                now,
                self.trace,
                event_id
            ])
        })
        .map_err(db_err)?;
        // In the writer's order: no take that ran before this insert hides it.
        self.ready_at.fetch_min(visible_at, Ordering::SeqCst);
        Ok(Inserted {
            seq: conn.last_insert_rowid(),
            event_stored: event_id.is_some(),
        })
    }
}

#[async_trait]
impl EventQueue for SqliteQueue {
    async fn send_traced(&self, out: Outgoing<'_>) -> StoreResult<()> {
        let (message, outbound) = self.message(out)?;
        let inserted = self
            .db
            .write_first(move |conn| message.insert(conn))
            .await?;
        self.sent(inserted, outbound);
        Ok(())
    }
}

impl SqliteQueue {
    /// [`QueueConsumer::receive`]; `with_body`: a message given whole comes with its JSON too.
    async fn receive_as(
        &self,
        max: usize,
        wait: Duration,
        with_body: bool,
    ) -> StoreResult<Vec<ReceivedMessage>> {
        let deadline = Instant::now() + wait;
        let max = max.clamp(1, 10_000);
        let visibility_ms = duration_ms(self.visibility);
        let max_receives = self.max_receives;
        loop {
            let notified = self.notify.notified();
            // With rows visible in the store too, half the batch at most from the hand-off:
            // messages queued there (a full hand-off, retries now due) are not starved by
            // newer ones handed over.
            let ready_at = self.ready_at.load(Ordering::SeqCst);
            let store_ready = now_ms() >= ready_at;
            let from_handoff = if store_ready { max.div_ceil(2) } else { max };
            let mut out = match &self.handoff {
                Some(handoff) => handoff.take(from_handoff),
                None => Vec::new(),
            };
            if with_body {
                for m in &mut out {
                    if let Some(sent) = &m.sent {
                        m.body = sent.to_json().unwrap_or_default();
                    }
                }
            }
            let mut next_visible = None;
            if out.len() < max && store_ready {
                let want = max - out.len();
                let ready = self.ready_at.clone();
                let taken = self
                    .db
                    .write(move |conn| take(conn, want, visibility_ms, max_receives, &ready))
                    .await;
                let (messages, next) = match taken {
                    Ok(taken) => taken,
                    Err(e) => {
                        // The take rolled back: whatever it saw, look again next time.
                        self.ready_at.store(0, Ordering::SeqCst);
                        if out.is_empty() {
                            return Err(e);
                        }
                        tracing::warn!(error = %e, "receive from the store failed; handing out what was handed over");
                        (Vec::new(), None)
                    }
                };
                out.extend(messages.into_iter().map(|m| m.received(with_body)));
                next_visible = next;
            } else if ready_at != i64::MAX {
                next_visible = Some(ready_at);
            }
            if !out.is_empty() {
                let more = self.handoff.as_ref().is_some_and(|h| !h.is_empty());
                if out.len() == max || more {
                    // There may be more: wake another consumer.
                    self.notify.notify_one();
                }
                return Ok(out);
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
}

#[async_trait]
impl QueueConsumer for SqliteQueue {
    async fn receive(&self, max: usize, wait: Duration) -> StoreResult<Vec<ReceivedMessage>> {
        self.receive_as(max, wait, true).await
    }

    /// An event message whose event this queue stored comes whole, without its JSON.
    async fn receive_kept(&self, max: usize, wait: Duration) -> StoreResult<Vec<ReceivedMessage>> {
        self.receive_as(max, wait, false).await
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
                for (seq, count) in &keys {
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

/// What `message` holds while it waits in the hand-off (see `handoff::weight`).
fn handoff_weight(message: &QueueMessage) -> usize {
    match message {
        QueueMessage::Event { event } => handoff::weight(
            event.raw.body.len(),
            event.envelope.data.as_ref().map_or(0, |d| d.text().len()),
        ),
        QueueMessage::Deliver { .. } => handoff::weight(0, 0),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn taking_messages_again_reuses_the_prepared_statement() {
        // Given a store with messages, taken from in batches of different sizes
        let conn = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&conn).unwrap();
        for _ in 0..6 {
            conn.execute(
                "INSERT INTO queue (body, visible_at, sent_at) VALUES ('{}', 0, 0)",
                [],
            )
            .unwrap();
        }
        for max in [1, 2, 3] {
            let (taken, _) = take(&conn, max, 60_000, 5, &AtomicI64::new(0)).unwrap();
            assert_eq!(taken.len(), max);
        }
        // Then the cached statement was never prepared again
        let stmt = conn.prepare_cached(TAKE_SQL).unwrap();
        assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }
}
