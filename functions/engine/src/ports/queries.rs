//! Read-side ports for ops: events and delivery attempts by source, call, subscription,
//! status and time. Each adapter chooses how it serves them (never by reading everything:
//! a key, an index, or a few keyed reads).
//!
//! Conventions shared by every adapter (checked by the contract tests):
//! - time ranges are `since` inclusive, `until` exclusive;
//! - time-indexed lists are newest first; attempts of one event are in (subscription,
//!   attempt) order, like the table's sort key;
//! - cursors are opaque strings (base64url of the last item's key attributes); a cursor
//!   from another query is refused with [`StoreError::InvalidCursor`].

use crate::domain::attempt::AttemptStatus;
use crate::domain::time::{sortable, Timestamp};
use crate::domain::{Attempt, Envelope};
use crate::error::{StoreError, StoreResult};
use crate::ports::{Page, PageRequest};
use async_trait::async_trait;
use base64::Engine as _;
use std::collections::BTreeMap;

/// How many days the `recent` listing walks back when no `since` is given.
pub const RECENT_WINDOW_DAYS: i64 = 31;

/// The most day buckets one recent listing reads, however old `since` is.
pub const RECENT_MAX_DAYS: usize = 366;

/// A time range: `since` inclusive, `until` exclusive; either side open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

impl TimeRange {
    pub fn contains(&self, t: &Timestamp) -> bool {
        self.since.is_none_or(|s| *t >= s) && self.until.is_none_or(|u| *t < u)
    }

    /// Whether no time can be in the range.
    pub fn is_empty(&self) -> bool {
        matches!((self.since, self.until), (Some(s), Some(u)) if s >= u)
    }

    /// The range as inclusive sortable-string bounds (`until` minus one microsecond, the
    /// resolution of stored times), for key conditions that only know inclusive bounds.
    pub fn sortable_bounds(&self) -> (Option<String>, Option<String>) {
        (
            self.since.as_ref().map(sortable),
            self.until
                .map(|u| sortable(&(u - chrono::Duration::microseconds(1)))),
        )
    }
}

/// Which events to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventQuery {
    /// Events received on one source.
    Source { source: String, range: TimeRange },
    /// Events of one call, from any source.
    Call { call_id: String, range: TimeRange },
}

/// Which delivery attempts to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryQuery {
    /// Attempts of one event, optionally for one subscription.
    Event {
        event_id: String,
        subscription_id: Option<String>,
    },
    /// Attempts for one subscription, optionally of one status.
    Subscription {
        subscription_id: String,
        status: Option<AttemptStatus>,
        range: TimeRange,
    },
    /// Attempts of one call (of the call's events), optionally of one status.
    Call {
        call_id: String,
        status: Option<AttemptStatus>,
        range: TimeRange,
    },
    /// Attempts with one status.
    Status {
        status: AttemptStatus,
        range: TimeRange,
    },
    /// The most recent attempts, newest first.
    Recent { range: TimeRange },
}

impl DeliveryQuery {
    /// Whether an attempt belongs to the result (the in-memory adapter's filter).
    pub fn matches(&self, a: &Attempt) -> bool {
        let status_ok = |s: &Option<AttemptStatus>| s.is_none_or(|s| s == a.status);
        match self {
            Self::Event {
                event_id,
                subscription_id,
            } => {
                a.event_id == *event_id
                    && subscription_id
                        .as_deref()
                        .is_none_or(|s| s == a.subscription_id)
            }
            Self::Subscription {
                subscription_id,
                status,
                range,
            } => {
                a.subscription_id == *subscription_id
                    && status_ok(status)
                    && range.contains(&a.attempted_at)
            }
            Self::Call {
                call_id,
                status,
                range,
            } => {
                a.call_id.as_deref() == Some(call_id.as_str())
                    && status_ok(status)
                    && range.contains(&a.attempted_at)
            }
            Self::Status { status, range } => {
                a.status == *status && range.contains(&a.attempted_at)
            }
            Self::Recent { range } => range.contains(&a.attempted_at),
        }
    }
}

/// Listing events.
#[async_trait]
pub trait EventQueries: Send + Sync {
    /// Envelopes (without raw bodies; `EventStore::get` has those), newest first.
    async fn query_events(
        &self,
        query: &EventQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Envelope>>;
}

/// Listing delivery attempts.
#[async_trait]
pub trait DeliveryQueries: Send + Sync {
    async fn query_deliveries(
        &self,
        query: &DeliveryQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Attempt>>;
}

/// Every attempt the query finds from page `page` on (its limit the size of each), handed
/// to `visit` in listing order.
pub async fn each_delivery(
    queries: &dyn DeliveryQueries,
    query: &DeliveryQuery,
    mut page: PageRequest,
    mut visit: impl FnMut(Attempt) + Send,
) -> StoreResult<()> {
    loop {
        let read = queries.query_deliveries(query, &page).await?;
        read.items.into_iter().for_each(&mut visit);
        match read.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => return Ok(()),
        }
    }
}

/// The day buckets (`YYYY-MM-DD`, UTC) the recent listing reads, newest first: from the
/// day of `until` (or `now`) back to the day of `since` (or [`RECENT_WINDOW_DAYS`] days).
pub fn recent_days(range: &TimeRange, now: Timestamp) -> Vec<String> {
    let last = range
        .until
        .map(|u| u - chrono::Duration::microseconds(1))
        .unwrap_or(now)
        .date_naive();
    let first = range
        .since
        .map(|s| s.date_naive())
        .unwrap_or(last - chrono::Duration::days(RECENT_WINDOW_DAYS - 1));
    let mut days = Vec::new();
    let mut d = last;
    while d >= first && days.len() < RECENT_MAX_DAYS {
        days.push(d.format("%Y-%m-%d").to_string());
        match d.pred_opt() {
            Some(p) => d = p,
            None => break,
        }
    }
    days
}

/// An opaque cursor: the key attributes of the last item of a page, as base64url JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(pub BTreeMap<String, String>);

impl Cursor {
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(&self.0).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// Decodes a cursor and checks it has exactly the `expected` attribute names.
    pub fn decode(raw: &str, expected: &[&str]) -> StoreResult<Self> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(raw.trim())
            .map_err(|_| StoreError::InvalidCursor)?;
        let map: BTreeMap<String, String> =
            serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
        let mut names: Vec<&str> = map.keys().map(String::as_str).collect();
        let mut want: Vec<&str> = expected.to_vec();
        names.sort_unstable();
        want.sort_unstable();
        want.dedup();
        if names != want {
            return Err(StoreError::InvalidCursor);
        }
        Ok(Self(map))
    }

    pub fn get(&self, name: &str) -> StoreResult<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .ok_or(StoreError::InvalidCursor)
    }

    /// Requires attribute `name` to equal `value` (a cursor belongs to its own query).
    pub fn require(&self, name: &str, value: &str) -> StoreResult<()> {
        if self.get(name)? == value {
            Ok(())
        } else {
            Err(StoreError::InvalidCursor)
        }
    }
}

/// The sort key of an attempt in the deliveries table: `{subscription}#{attempt:06}`.
pub fn delivery_sort_key(subscription_id: &str, attempt: u32) -> String {
    format!("{subscription_id}#{attempt:06}")
}

impl EventQuery {
    /// The field the listing is scoped by, and its value.
    pub fn scope(&self) -> (&'static str, &str) {
        match self {
            Self::Source { source, .. } => ("source", source),
            Self::Call { call_id, .. } => ("call_id", call_id),
        }
    }

    pub fn range(&self) -> &TimeRange {
        match self {
            Self::Source { range, .. } | Self::Call { range, .. } => range,
        }
    }

    /// Field names of a cursor for this query (the event, its scope, its time).
    pub fn cursor_names(&self) -> [&'static str; 3] {
        ["id", self.scope().0, "received_at"]
    }

    /// The cursor pointing just after `envelope`.
    pub fn cursor_after(&self, envelope: &Envelope) -> Cursor {
        let (name, value) = self.scope();
        Cursor(BTreeMap::from([
            ("id".to_owned(), envelope.id.clone()),
            (name.to_owned(), value.to_owned()),
            ("received_at".to_owned(), sortable(&envelope.received_at)),
        ]))
    }

    pub fn matches(&self, e: &Envelope) -> bool {
        let keyed = match self {
            Self::Source { source, .. } => e.source == *source,
            Self::Call { call_id, .. } => e.call_id() == Some(call_id.as_str()),
        };
        keyed && self.range().contains(&e.received_at)
    }
}

impl DeliveryQuery {
    /// The field a time-ordered listing is scoped by (its cursor carries it); `None` for
    /// one event's attempts, listed in (subscription, attempt) order.
    pub fn scope(&self) -> Option<&'static str> {
        match self {
            Self::Event { .. } => None,
            Self::Subscription { .. } => Some("subscription_id"),
            Self::Call { .. } => Some("call_id"),
            Self::Status { .. } => Some("status"),
            Self::Recent { .. } => Some("day"),
        }
    }

    /// Field names of a cursor for this query (the attempt; for a time-ordered listing,
    /// its scope and time).
    pub fn cursor_names(&self) -> Vec<&'static str> {
        match self.scope() {
            None => vec!["event_id", "sk"],
            Some(scope) => vec!["event_id", "sk", scope, "attempted_at"],
        }
    }

    /// The cursor pointing just after `a`.
    pub fn cursor_after(&self, a: &Attempt) -> Cursor {
        let attempted_at = sortable(&a.attempted_at);
        let mut key = BTreeMap::from([
            ("event_id".to_owned(), a.event_id.clone()),
            (
                "sk".to_owned(),
                delivery_sort_key(&a.subscription_id, a.attempt),
            ),
        ]);
        let hash = match self {
            Self::Event { .. } => None,
            Self::Subscription { .. } => Some(("subscription_id", a.subscription_id.clone())),
            Self::Call { .. } => Some(("call_id", a.call_id.clone().unwrap_or_default())),
            Self::Status { .. } => Some(("status", a.status.as_str().to_owned())),
            Self::Recent { .. } => Some(("day", attempted_at[..10].to_owned())),
        };
        if let Some((name, value)) = hash {
            key.insert(name.to_owned(), value);
            key.insert("attempted_at".to_owned(), attempted_at);
        }
        Cursor(key)
    }

    /// Decodes a cursor handed out for this query.
    pub fn decode_cursor(&self, raw: &str, now: Timestamp) -> StoreResult<Cursor> {
        let cursor = Cursor::decode(raw, &self.cursor_names())?;
        match self {
            Self::Event { event_id, .. } => cursor.require("event_id", event_id)?,
            Self::Subscription {
                subscription_id, ..
            } => cursor.require("subscription_id", subscription_id)?,
            Self::Call { call_id, .. } => cursor.require("call_id", call_id)?,
            Self::Status { status, .. } => cursor.require("status", status.as_str())?,
            Self::Recent { range } => {
                let day = cursor.get("day")?;
                if !recent_days(range, now).iter().any(|d| d == day) {
                    return Err(StoreError::InvalidCursor);
                }
            }
        }
        Ok(cursor)
    }
}

impl EventQuery {
    /// Decodes a cursor handed out for this query.
    pub fn decode_cursor(&self, raw: &str) -> StoreResult<Cursor> {
        let cursor = Cursor::decode(raw, &self.cursor_names())?;
        let (name, value) = self.scope();
        cursor.require(name, value)?;
        Ok(cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_are_half_open() {
        let r = TimeRange {
            since: Some(t("2024-11-17T10:00:00Z")),
            until: Some(t("2024-11-17T11:00:00Z")),
        };
        assert!(r.contains(&t("2024-11-17T10:00:00Z")));
        assert!(!r.contains(&t("2024-11-17T11:00:00Z")));
        let (a, b) = r.sortable_bounds();
        assert_eq!(a.as_deref(), Some("2024-11-17T10:00:00.000000Z"));
        assert_eq!(b.as_deref(), Some("2024-11-17T10:59:59.999999Z"));
    }

    #[test]
    fn recent_days_walk_back() {
        let now = t("2024-11-17T10:00:00Z");
        let days = recent_days(&TimeRange::default(), now);
        assert_eq!(days.len(), RECENT_WINDOW_DAYS as usize);
        assert_eq!(days[0], "2024-11-17");
        let r = TimeRange {
            since: Some(t("2024-11-15T23:00:00Z")),
            until: Some(t("2024-11-17T00:00:00Z")),
        };
        assert_eq!(recent_days(&r, now), vec!["2024-11-16", "2024-11-15"]);
    }

    #[test]
    fn cursors_round_trip_and_refuse_strangers() {
        let c = Cursor(BTreeMap::from([
            ("event_id".to_owned(), "evt_1".to_owned()),
            ("sk".to_owned(), "sub_a#000001".to_owned()),
        ]));
        let raw = c.encode();
        assert_eq!(Cursor::decode(&raw, &["sk", "event_id"]).unwrap(), c);
        assert!(Cursor::decode(&raw, &["sk"]).is_err());
        assert!(Cursor::decode("not base64!", &["sk"]).is_err());
        assert!(Cursor::decode("e30", &["sk"]).is_err()); // {}
    }
}
