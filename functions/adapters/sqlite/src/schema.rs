//! The schema: created whole in a new store, upgraded step by step in an older one.

use crate::db_err;
use crate::error::{StoreError, StoreResult};
use rusqlite::Connection;

/// The schema version this build writes (`PRAGMA user_version`): 1, plus one per upgrade.
pub(crate) const SCHEMA_VERSION: i64 = 1 + UPGRADES.len() as i64;

/// `UPGRADES[i]` takes a store written at version `i + 1` to `i + 2`; a new store gets
/// [`SCHEMA`], the latest, at once.
/// Call lanes and rate schedules (flow control): times in microseconds.
macro_rules! flow_tables {
    () => {
        "CREATE TABLE IF NOT EXISTS flow_lanes (
    lane        TEXT    NOT NULL,
    ord         TEXT    NOT NULL,
    event_id    TEXT    NOT NULL,
    received_us INTEGER NOT NULL,
    lease_us    INTEGER,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (lane, ord)
);
CREATE TABLE IF NOT EXISTS flow_rates (
    subscription_id TEXT PRIMARY KEY,
    next_us         INTEGER NOT NULL
);
"
    };
}

/// The status index leaves successes out (as `delivery_queries::BY_STATUS` states): they are
/// nearly every attempt, and the recency index lists them as well.
///
/// Delivery attempts and provider-retry claims, keyed by their primary keys (WITHOUT ROWID):
/// one B-tree per table instead of a row table plus an index of the key, so each write
/// updates one B-tree fewer. `$name`: the table's name (an upgrade builds it under another).
macro_rules! deliveries_table {
    ($name:literal) => {
        concat!(
            "CREATE TABLE IF NOT EXISTS ",
            $name,
            " (
    event_id        TEXT    NOT NULL,
    sk              TEXT    NOT NULL,
    subscription_id TEXT    NOT NULL,
    attempt         INTEGER NOT NULL,
    status          TEXT    NOT NULL,
    call_id         TEXT,
    attempted_at    TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    expires_at      INTEGER NOT NULL,
    PRIMARY KEY (event_id, sk)
) WITHOUT ROWID;
"
        )
    };
}

/// No index of attempts by call: a call's attempts are those of its events, found through
/// `events_by_call` as the DynamoDB store finds them. None by expiry: the purge takes the
/// oldest attempts through `deliveries_recent` (`writer::purge_expired`). A successful
/// attempt written updated five B-trees with them, three without.
macro_rules! deliveries_indexes {
    () => {
        "CREATE INDEX IF NOT EXISTS deliveries_by_subscription ON deliveries (subscription_id, attempted_at, event_id, sk);
CREATE INDEX IF NOT EXISTS deliveries_by_status ON deliveries (status, attempted_at, event_id, sk) WHERE status <> 'succeeded';
CREATE INDEX IF NOT EXISTS deliveries_recent ON deliveries (attempted_at, event_id, sk);
"
    };
}

macro_rules! dedup_table {
    ($name:literal) => {
        concat!(
            "CREATE TABLE IF NOT EXISTS ",
            $name,
            " (
    key           TEXT PRIMARY KEY,
    event_id      TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    claimed_at_ms INTEGER NOT NULL DEFAULT 0,
    queued        INTEGER NOT NULL DEFAULT 1
) WITHOUT ROWID;
"
        )
    };
}

pub(crate) const UPGRADES: &[&str] = &[
    // 2: a dedup claim is pending until its event is queued (claims written before had
    // their event queued, or were released).
    "ALTER TABLE dedup ADD COLUMN claimed_at_ms INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE dedup ADD COLUMN queued INTEGER NOT NULL DEFAULT 1;",
    // 3: flow control (call ordering, rate limits).
    flow_tables!(),
    // 4: the trace context a message was sent with.
    "ALTER TABLE queue ADD COLUMN trace TEXT;",
    // 5: an event message's event stored once, in `events` (`SqliteQueue::storing_events`).
    "ALTER TABLE queue ADD COLUMN event_id TEXT;",
    // 6: attempts and claims keyed by their primary keys (rows copied, indexes rebuilt, the
    // status index without successes).
    concat!(
        deliveries_table!("deliveries_keyed"),
        "INSERT INTO deliveries_keyed (event_id, sk, subscription_id, attempt, status, call_id, \
         attempted_at, body, expires_at) SELECT event_id, sk, subscription_id, attempt, status, \
         call_id, attempted_at, body, expires_at FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_keyed RENAME TO deliveries;
",
        deliveries_indexes!(),
        dedup_table!("dedup_keyed"),
        "INSERT INTO dedup_keyed (key, event_id, expires_at_ms, claimed_at_ms, queued) \
         SELECT key, event_id, expires_at_ms, claimed_at_ms, queued FROM dedup;
DROP TABLE dedup;
ALTER TABLE dedup_keyed RENAME TO dedup;
CREATE INDEX IF NOT EXISTS dedup_by_expiry ON dedup (expires_at_ms);
"
    ),
    // 7: attempts lose their indexes by call and by expiry (see `deliveries_indexes`);
    // `events.raw` of a new row is packed (`stores::raw_column`), rows before stay JSON text
    // and are read as such (a build before this one would not read the new rows: it must
    // refuse the store, which the version does).
    "DROP INDEX IF EXISTS deliveries_by_call;
DROP INDEX IF EXISTS deliveries_by_expiry;
",
    // 8: a new event whose payload is its body's own is stored once, as the body (the
    // envelope column leaves `data` out, `stores::raw_column`); a build before this one
    // would read such an event without its payload, so it must refuse the store, which the
    // version does. Nothing to change in the tables.
    "-- 8: bodies stored once
",
    // 9: events lose their index by expiry: the purge takes the oldest events in the order
    // they were written (`writer::PURGE_EVENTS`), as it takes attempts. Each event written
    // updated one B-tree fewer (about 3 % of the pages a loaded serve's commits write).
    "DROP INDEX IF EXISTS events_by_expiry;
",
];

/// Creates the schema, or checks the one found.
pub(crate) fn migrate(conn: &Connection) -> StoreResult<()> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db_err)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Unavailable(format!(
            "the store was written by a newer switchboard (schema {version}, this build knows {SCHEMA_VERSION})"
        )));
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    let changes = if version == 0 {
        SCHEMA.to_owned()
    } else {
        let from = usize::try_from(version - 1).unwrap_or(0);
        UPGRADES.get(from..).unwrap_or_default().concat()
    };
    conn.execute_batch(&format!(
        "BEGIN IMMEDIATE; {changes} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
    ))
    .map_err(db_err)
}

/// Times: `*_at` text columns hold the sortable RFC 3339 form (they compare like times);
/// `expires_at` is in seconds since the epoch (like DynamoDB's TTL), queue and dedup times
/// (`*_ms`, `visible_at`, `sent_at`, `dead_at`) in milliseconds.
pub(crate) const SCHEMA: &str = concat!(
    "
CREATE TABLE IF NOT EXISTS queue (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    body          TEXT    NOT NULL,
    visible_at    INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    sent_at       INTEGER NOT NULL,
    trace         TEXT,
    event_id      TEXT
);
CREATE INDEX IF NOT EXISTS queue_by_visible ON queue (visible_at);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq           INTEGER PRIMARY KEY,
    body          TEXT    NOT NULL,
    receive_count INTEGER NOT NULL,
    dead_at       INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sources (
    id   TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS subscriptions (
    id   TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id          TEXT PRIMARY KEY,
    source      TEXT NOT NULL,
    call_id     TEXT,
    received_at TEXT NOT NULL,
    envelope    TEXT NOT NULL,
    raw         BLOB NOT NULL,
    dedup_key   TEXT,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_source ON events (source, received_at, id);
CREATE INDEX IF NOT EXISTS events_by_call ON events (call_id, received_at, id) WHERE call_id IS NOT NULL;
",
    deliveries_table!("deliveries"),
    deliveries_indexes!(),
    dedup_table!("dedup"),
    "CREATE INDEX IF NOT EXISTS dedup_by_expiry ON dedup (expires_at_ms);
",
    flow_tables!()
);
