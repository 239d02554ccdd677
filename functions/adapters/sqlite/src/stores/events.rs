//! Stored events, by id, listed by source or call id through their indexes.

use super::listing::{push_range, read_page_of_rows};
use super::raw_column::{data_is_body, pack, RawColumn};
use super::rows::{from_json, to_json};
use crate::domain::time::{epoch_secs, sortable, Timestamp};
use crate::domain::{Envelope, Payload, RawRequest, StoredEvent};
use crate::error::{StoreError, StoreResult};
use crate::ports::queries::{EventQueries, EventQuery};
use crate::ports::{EventStore, Page, PageRequest, Stored};
use crate::{db_err, Db};
use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};

pub struct SqliteEventStore {
    db: Db,
}

impl SqliteEventStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

/// An events row, ready to be written by the event store or, with the event's message, by
/// the queue (see `SqliteQueue::storing_events`). A payload that is the body's own (nearly
/// every JSON body) is stored once, as the body: the envelope column leaves it out.
pub(crate) struct EventRow([Value; 8]);

impl EventRow {
    /// `envelope_json`: the envelope as `to_json` writes it.
    pub(crate) fn new(
        event: &StoredEvent,
        envelope_json: &str,
        expires_at: &Timestamp,
    ) -> StoreResult<Self> {
        let e = &event.envelope;
        let data_from_body = data_is_body(&event.raw, e.data.as_ref());
        let envelope_json = match e.data.as_ref().filter(|_| data_from_body) {
            Some(data) => match without_trailing_data(envelope_json, data) {
                Some(cut) => cut,
                None => to_json(&Envelope {
                    data: None,
                    ..e.clone()
                })?,
            },
            None => envelope_json.to_owned(),
        };
        Ok(Self([
            Value::Text(e.id.clone()),
            Value::Text(e.source.clone()),
            e.call_id()
                .map_or(Value::Null, |c| Value::Text(c.to_owned())),
            Value::Text(sortable(&e.received_at)),
            Value::Text(envelope_json),
            Value::Blob(pack(&event.raw, data_from_body)?),
            event.dedup_key.clone().map_or(Value::Null, Value::Text),
            Value::Integer(epoch_secs(expires_at)),
        ]))
    }

    /// Inserts the row, or replaces the one of the same id (a redelivery is idempotent).
    pub(crate) fn write(&self, conn: &Connection) -> StoreResult<Stored> {
        // One statement for the usual case, a new id; the replace only on a redelivery.
        let inserted = conn
            .prepare_cached(
                "INSERT OR IGNORE INTO events \
                 (id, source, call_id, received_at, envelope, raw, dedup_key, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .and_then(|mut s| s.execute(params_from_iter(self.0.iter())))
            .map_err(db_err)?;
        if inserted == 1 {
            return Ok(Stored::New);
        }
        conn.prepare_cached(
            "INSERT OR REPLACE INTO events \
             (id, source, call_id, received_at, envelope, raw, dedup_key, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .and_then(|mut s| s.execute(params_from_iter(self.0.iter())))
        .map_err(db_err)?;
        Ok(Stored::Existing)
    }
}

/// The envelope's JSON without its `data`, cut from the whole envelope's JSON when `data` is
/// what it ends with (its last field written; `None` otherwise): writing the envelope again
/// without it cost as much as writing it.
fn without_trailing_data(envelope_json: &str, data: &Payload) -> Option<String> {
    let rest = envelope_json.strip_suffix('}')?.strip_suffix(data.text())?;
    let head = rest.strip_suffix(DATA_FIELD)?;
    let mut out = String::with_capacity(head.len() + 1);
    out.push_str(head);
    out.push('}');
    Some(out)
}

/// The whole envelope's JSON from a column that leaves its `data` out (the payload stored
/// as the body): the inverse of [`without_trailing_data`], so that dispatch does not write
/// the envelope again for a message read back from the store. `None` unless `data` is the
/// envelope's last field written (it has data, `raw_unparsed` unset).
pub(crate) fn with_trailing_data(envelope_without: &str, envelope: &Envelope) -> Option<String> {
    let data = envelope.data.as_ref().filter(|_| !envelope.raw_unparsed)?;
    let head = envelope_without.strip_suffix('}')?;
    // An envelope always has fields before its data: `{` here is no envelope.
    if head.ends_with('{') {
        return None;
    }
    let mut out = String::with_capacity(head.len() + DATA_FIELD.len() + data.text().len() + 1);
    out.push_str(head);
    out.push_str(DATA_FIELD);
    out.push_str(data.text());
    out.push('}');
    Some(out)
}

/// How the envelope's JSON introduces its last field, `data`.
const DATA_FIELD: &str = ",\"data\":";

/// The stored event of an events row's JSON columns, and whether its envelope column is
/// the whole envelope (not when the payload was stored as the body).
pub(crate) fn event_of_row(
    envelope: &str,
    raw: &RawColumn,
    dedup_key: Option<String>,
) -> StoreResult<(StoredEvent, bool)> {
    let (envelope, raw, data_from_body) = envelope_of_row(envelope, raw)?;
    let event = StoredEvent {
        envelope,
        raw,
        dedup_key,
    };
    Ok((event, !data_from_body))
}

/// The envelope and raw request of an events row, the payload read from the body when the
/// row stored it there (then `true`).
fn envelope_of_row(envelope: &str, raw: &RawColumn) -> StoreResult<(Envelope, RawRequest, bool)> {
    let mut envelope = from_json::<Envelope>(envelope)?;
    let unpacked = raw.to_raw()?;
    if unpacked.data_from_body {
        let data = Payload::from_json_body(&unpacked.raw.body).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "event {}: its body is not its payload",
                envelope.id
            ))
        })?;
        envelope.data = Some(data);
    }
    Ok((envelope, unpacked.raw, unpacked.data_from_body))
}

impl SqliteEventStore {
    async fn write(
        &self,
        event: &StoredEvent,
        envelope: String,
        expires_at: Timestamp,
    ) -> StoreResult<Stored> {
        let row = EventRow::new(event, &envelope, &expires_at)?;
        self.db.write_one(move |conn| row.write(conn)).await
    }
}

#[async_trait]
impl EventStore for SqliteEventStore {
    async fn put(&self, event: &StoredEvent, expires_at: Timestamp) -> StoreResult<()> {
        let envelope = to_json(&event.envelope)?;
        self.write(event, envelope, expires_at).await.map(|_| ())
    }

    /// Stores the envelope's JSON as given (it is what `to_json` would write), and tells a
    /// new event id from one already stored.
    async fn put_serialised(
        &self,
        event: &std::sync::Arc<StoredEvent>,
        envelope_json: &[u8],
        expires_at: Timestamp,
    ) -> StoreResult<Stored> {
        let envelope = std::str::from_utf8(envelope_json)
            .map_err(|e| StoreError::Corrupt(format!("envelope JSON: {e}")))?
            .to_owned();
        self.write(event, envelope, expires_at).await
    }

    async fn get(&self, id: &str) -> StoreResult<Option<StoredEvent>> {
        let id = id.to_owned();
        self.db
            .read(move |conn| {
                let row: Option<(String, RawColumn, Option<String>)> = conn
                    .prepare_cached("SELECT envelope, raw, dedup_key FROM events WHERE id = ?1")
                    .and_then(|mut s| {
                        s.query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    })
                    .optional()
                    .map_err(db_err)?;
                let Some((envelope, raw, dedup_key)) = row else {
                    return Ok(None);
                };
                event_of_row(&envelope, &raw, dedup_key).map(|(event, _)| Some(event))
            })
            .await
    }
}

#[async_trait]
impl EventQueries for SqliteEventStore {
    async fn query_events(
        &self,
        query: &EventQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Envelope>> {
        let cursor = page
            .cursor
            .as_deref()
            .map(|raw| query.decode_cursor(raw))
            .transpose()?;
        let limit = page.limit.max(1);
        let (column, value) = query.scope();
        let index = match query {
            EventQuery::Source { .. } => "events_by_source",
            EventQuery::Call { .. } => "events_by_call",
        };
        let mut sql =
            format!("SELECT envelope, raw FROM events INDEXED BY {index} WHERE {column} = ?");
        let mut values = vec![Value::Text(value.to_owned())];
        push_range(&mut sql, &mut values, "received_at", query.range());
        if let Some(c) = &cursor {
            sql.push_str(" AND (received_at, id) < (?, ?)");
            values.push(Value::Text(c.get("received_at")?.to_owned()));
            values.push(Value::Text(c.get("id")?.to_owned()));
        }
        sql.push_str(" ORDER BY received_at DESC, id DESC LIMIT ?");
        let query = query.clone();
        let record = |row: &rusqlite::Row<'_>| {
            let envelope: String = row.get(0).map_err(db_err)?;
            let raw: RawColumn = row.get(1).map_err(db_err)?;
            envelope_of_row(&envelope, &raw).map(|(e, _, _)| e)
        };
        read_page_of_rows(&self.db, sql, values, limit, record, move |e: &Envelope| {
            query.cursor_after(e).encode()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(data: Option<&str>, raw_unparsed: bool) -> Envelope {
        Envelope {
            id: "evt_1".into(),
            event_type: "call.ended".into(),
            provider_event: Some("call_hangup".into()),
            source: "src_1".into(),
            occurred_at: None,
            received_at: crate::domain::time::now(),
            call: None,
            data: data.map(|d| serde_json::from_str(d).unwrap()),
            raw_unparsed,
        }
    }

    #[test]
    fn the_envelope_without_its_data_is_cut_and_restored_as_it_would_be_written() {
        for data in [r#"{"a":"}","b":[1,2]}"#, "null", r#""x\"}""#, "[]"] {
            let e = envelope(Some(data), false);
            let whole = to_json(&e).unwrap();
            let payload = e.data.clone().unwrap();
            let written = to_json(&Envelope {
                data: None,
                ..e.clone()
            })
            .unwrap();
            assert_eq!(
                without_trailing_data(&whole, &payload),
                Some(written.clone())
            );
            // and the column gives the whole envelope back
            assert_eq!(with_trailing_data(&written, &e), Some(whole));
        }
    }

    #[test]
    fn an_envelope_not_ending_with_its_data_is_not_cut() {
        let e = envelope(Some("{}"), true);
        let whole = to_json(&e).unwrap();
        assert_eq!(
            without_trailing_data(&whole, &Payload::from(serde_json::json!({}))),
            None
        );
        let other: Payload = serde_json::from_str("[1]").unwrap();
        let e = envelope(Some("{}"), false);
        assert_eq!(without_trailing_data(&to_json(&e).unwrap(), &other), None);
    }
}
