//! In-memory stores.

use super::lock;
use crate::domain::attempt::AttemptStatus;
use crate::domain::time::Timestamp;
use crate::domain::{Attempt, StoredEvent};
use crate::domain::{Envelope, RawRequest};
use crate::error::{StoreError, StoreResult};
use crate::ports::queries::{Cursor, DeliveryQueries, DeliveryQuery, EventQueries, EventQuery};
use crate::ports::{
    Claim, ClaimTerms, ConfigStore, DedupStore, DeliveryStore, EventStore, HeldClaim, Page,
    PageRequest, Record, Stored,
};
use async_trait::async_trait;
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// How much `serve --memory` keeps: past either cap the oldest records are dropped first,
/// as are records past their retention. Without caps the store grows with every event
/// (serve's whole peak RSS was 176 MiB with these defaults after 10,000 events of 1.3 KB,
/// each delivered to 3 subscriptions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimits {
    /// Events kept (their envelopes and raw requests).
    pub events: usize,
    /// Delivery attempts kept.
    pub attempts: usize,
}

impl MemoryLimits {
    /// No cap (tests, benchmarks of the unbounded store).
    pub const UNBOUNDED: Self = Self {
        events: usize::MAX,
        attempts: usize::MAX,
    };
}

impl Default for MemoryLimits {
    /// What `serve --memory` keeps unless told otherwise: about 150 MB at most.
    fn default() -> Self {
        Self {
            events: 10_000,
            attempts: 50_000,
        }
    }
}

/// An attempt's key: (event id, subscription id, attempt).
type AttemptKey = (String, String, u32);

/// Records by key, with their insertion order and expiry: the oldest go first once there
/// are more than `cap`, and any whose retention has passed go when a write reaches them.
struct Bounded<K, V> {
    map: BTreeMap<K, V>,
    order: VecDeque<(K, Timestamp)>,
    cap: usize,
}

impl<K: Ord + Clone, V> Bounded<K, V> {
    fn new(cap: usize) -> Self {
        Self {
            map: BTreeMap::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    /// Inserts or replaces; returns whether the key is new.
    fn insert(&mut self, key: K, value: V, expires_at: Timestamp) -> bool {
        let new = self.map.insert(key.clone(), value).is_none();
        if new {
            self.order.push_back((key, expires_at));
        }
        let now = crate::domain::time::now();
        // Records arrive in time order with one retention, so the expired ones are in front.
        while let Some((key, expires)) = self.order.front() {
            if self.map.len() <= self.cap && *expires > now {
                break;
            }
            self.map.remove(key);
            self.order.pop_front();
        }
        new
    }
}

/// Sources or subscriptions, by id.
pub struct MemoryConfigStore<T> {
    items: Mutex<BTreeMap<String, T>>,
}

impl<T> Default for MemoryConfigStore<T> {
    fn default() -> Self {
        Self {
            items: Mutex::new(BTreeMap::new()),
        }
    }
}

#[async_trait]
impl<T: Record> ConfigStore<T> for MemoryConfigStore<T> {
    async fn create(&self, record: &T) -> StoreResult<()> {
        let mut items = lock(&self.items);
        if items.contains_key(record.id()) {
            return Err(StoreError::Conflict);
        }
        items.insert(record.id().to_owned(), record.clone());
        Ok(())
    }

    async fn get(&self, id: &str) -> StoreResult<Option<T>> {
        Ok(lock(&self.items).get(id).cloned())
    }

    async fn list(&self) -> StoreResult<Vec<T>> {
        Ok(lock(&self.items).values().cloned().collect())
    }

    async fn update(&self, record: &T) -> StoreResult<()> {
        match lock(&self.items).get_mut(record.id()) {
            Some(slot) => {
                *slot = record.clone();
                Ok(())
            }
            None => Err(StoreError::NotFound),
        }
    }

    async fn update_if(&self, record: &T, expected: u64) -> StoreResult<()> {
        match lock(&self.items).get_mut(record.id()) {
            Some(slot) if slot.version() == expected => {
                *slot = record.clone();
                Ok(())
            }
            Some(_) => Err(StoreError::Stale),
            None => Err(StoreError::NotFound),
        }
    }

    async fn delete(&self, id: &str) -> StoreResult<()> {
        lock(&self.items)
            .remove(id)
            .map(|_| ())
            .ok_or(StoreError::NotFound)
    }
}

pub struct MemoryEventStore {
    events: Mutex<Bounded<String, KeptEvent>>,
}

/// An event as this store keeps it: its envelope without the payload (what listings filter
/// and sort by), the envelope's JSON (decoded whole when the event is read) and the raw
/// request. Kept as a tree, the payload took about five times the size of its JSON (a
/// 1.3 KB Hipcall payload is a 7 KB tree in 70 allocations), for events read back rarely.
struct KeptEvent {
    head: Envelope,
    json: Bytes,
    raw: RawRequest,
    dedup_key: Option<String>,
}

impl KeptEvent {
    /// `json`: the event's envelope as JSON (`serde_json::to_vec(&event.envelope)`).
    fn new(event: &StoredEvent, json: Bytes) -> Self {
        let e = &event.envelope;
        // Field by field: cloning the envelope would copy the payload tree only to drop it.
        let head = Envelope {
            id: e.id.clone(),
            event_type: e.event_type.clone(),
            provider_event: e.provider_event.clone(),
            source: e.source.clone(),
            occurred_at: e.occurred_at,
            received_at: e.received_at,
            call: e.call.clone(),
            data: None,
            raw_unparsed: e.raw_unparsed,
        };
        Self {
            head,
            json,
            raw: event.raw.clone(),
            dedup_key: event.dedup_key.clone(),
        }
    }

    fn envelope(&self) -> StoreResult<Envelope> {
        serde_json::from_slice(&self.json).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    fn event(&self) -> StoreResult<StoredEvent> {
        Ok(StoredEvent {
            envelope: self.envelope()?,
            raw: self.raw.clone(),
            dedup_key: self.dedup_key.clone(),
        })
    }
}

impl Default for MemoryEventStore {
    fn default() -> Self {
        Self::with_limit(usize::MAX)
    }
}

impl MemoryEventStore {
    /// Keeps at most `max` events, dropping the oldest first.
    pub fn with_limit(max: usize) -> Self {
        Self {
            events: Mutex::new(Bounded::new(max)),
        }
    }

    /// Events held now.
    pub fn len(&self) -> usize {
        lock(&self.events).map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn keep(&self, event: &StoredEvent, json: Bytes, expires_at: Timestamp) -> Stored {
        let kept = KeptEvent::new(event, json);
        if lock(&self.events).insert(event.envelope.id.clone(), kept, expires_at) {
            Stored::New
        } else {
            Stored::Existing
        }
    }
}

#[async_trait]
impl EventStore for MemoryEventStore {
    async fn put(&self, event: &StoredEvent, expires_at: Timestamp) -> StoreResult<()> {
        let json =
            serde_json::to_vec(&event.envelope).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.keep(event, json.into(), expires_at);
        Ok(())
    }

    /// Tells a new id from a stored one.
    async fn put_serialised(
        &self,
        event: &Arc<StoredEvent>,
        envelope_json: &[u8],
        expires_at: Timestamp,
    ) -> StoreResult<Stored> {
        let json = Bytes::copy_from_slice(envelope_json);
        Ok(self.keep(event, json, expires_at))
    }

    async fn get(&self, id: &str) -> StoreResult<Option<StoredEvent>> {
        lock(&self.events)
            .map
            .get(id)
            .map(KeptEvent::event)
            .transpose()
    }
}

/// Newest first by the cursor's sort attributes, then by the table key, like the indexes.
fn sort_key_of(cursor: &Cursor, time: &str, keys: &[&str]) -> Vec<String> {
    let mut k = vec![cursor.0.get(time).cloned().unwrap_or_default()];
    k.extend(
        keys.iter()
            .map(|n| cursor.0.get(*n).cloned().unwrap_or_default()),
    );
    k
}

/// One page of `items` (already filtered): sorted by `order` (descending when `newest_first`),
/// strictly after `after`, at most `limit`, with the cursor of the last item when more remain.
fn page_of<T>(
    mut items: Vec<(Vec<String>, Cursor, T)>,
    after: Option<Vec<String>>,
    newest_first: bool,
    limit: usize,
) -> Page<T> {
    items.sort_by(|a, b| {
        if newest_first {
            b.0.cmp(&a.0)
        } else {
            a.0.cmp(&b.0)
        }
    });
    let mut rest = items.into_iter().filter(|(k, _, _)| {
        after
            .as_ref()
            .is_none_or(|after| if newest_first { k < after } else { k > after })
    });
    let limit = limit.max(1);
    let mut page = Vec::new();
    let mut last = None;
    for (_, cursor, item) in rest.by_ref().take(limit) {
        page.push(item);
        last = Some(cursor);
    }
    let next_cursor = match (rest.next(), last) {
        (Some(_), Some(c)) => Some(c.encode()),
        _ => None,
    };
    Page {
        items: page,
        next_cursor,
    }
}

#[async_trait]
impl EventQueries for MemoryEventStore {
    async fn query_events(
        &self,
        query: &EventQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Envelope>> {
        let order = ["id"];
        let after = match &page.cursor {
            Some(raw) => Some(sort_key_of(
                &query.decode_cursor(raw)?,
                "received_at",
                &order,
            )),
            None => None,
        };
        let events = lock(&self.events);
        let items = events
            .map
            .values()
            .filter(|e| query.matches(&e.head))
            .map(|e| {
                let cursor = query.cursor_after(&e.head);
                (sort_key_of(&cursor, "received_at", &order), cursor, e)
            })
            .collect();
        // Only the page's events are decoded.
        let found = page_of(items, after, true, page.limit);
        Ok(Page {
            items: found
                .items
                .into_iter()
                .map(KeptEvent::envelope)
                .collect::<StoreResult<_>>()?,
            next_cursor: found.next_cursor,
        })
    }
}

/// Attempts keyed like the DynamoDB table: (event id, subscription id, attempt number).
pub struct MemoryDeliveryStore {
    /// Each attempt shared with dispatch, which records it without a copy; each key shared
    /// with the eviction order (one copy of the ids per attempt, not two).
    attempts: Mutex<Bounded<Arc<AttemptKey>, Arc<Attempt>>>,
}

impl Default for MemoryDeliveryStore {
    fn default() -> Self {
        Self::with_limit(usize::MAX)
    }
}

impl MemoryDeliveryStore {
    /// Keeps at most `max` attempts, dropping the oldest first.
    pub fn with_limit(max: usize) -> Self {
        Self {
            attempts: Mutex::new(Bounded::new(max)),
        }
    }

    /// Attempts held now.
    pub fn len(&self) -> usize {
        lock(&self.attempts).map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl DeliveryStore for MemoryDeliveryStore {
    async fn record(&self, attempt: &Attempt, expires_at: Timestamp) -> StoreResult<()> {
        self.record_shared(&Arc::new(attempt.clone()), expires_at)
            .await
    }

    async fn record_shared(
        &self,
        attempt: &Arc<Attempt>,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        let key = Arc::new((
            attempt.event_id.clone(),
            attempt.subscription_id.clone(),
            attempt.attempt,
        ));
        let mut attempts = lock(&self.attempts);
        if attempts
            .map
            .get(&key)
            .is_some_and(|a| a.status == AttemptStatus::Succeeded)
        {
            return Err(StoreError::Conflict);
        }
        attempts.insert(key, Arc::clone(attempt), expires_at);
        Ok(())
    }

    async fn list_by_event(
        &self,
        event_id: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<Attempt>> {
        let attempts = lock(&self.attempts);
        let after = page.cursor.as_deref().map(parse_cursor).transpose()?;
        let mut items: Vec<Attempt> = attempts
            .map
            .range::<AttemptKey, _>((event_id.to_owned(), String::new(), 0)..)
            .take_while(|(k, _)| k.0 == event_id)
            .filter(|(k, _)| {
                let (_, s, n) = k.as_ref();
                after
                    .as_ref()
                    .is_none_or(|(cs, cn)| (s.as_str(), *n) > (cs.as_str(), *cn))
            })
            .map(|(_, a)| Attempt::clone(a))
            .take(page.limit + 1)
            .collect();
        let next_cursor = if items.len() > page.limit {
            items.truncate(page.limit);
            items
                .last()
                .map(|a| format!("{}#{}", a.subscription_id, a.attempt))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    async fn latest_by_subscription(
        &self,
        event_id: &str,
    ) -> StoreResult<Vec<(String, u32, AttemptStatus)>> {
        let attempts = lock(&self.attempts);
        let mut latest: BTreeMap<String, (u32, AttemptStatus)> = BTreeMap::new();
        for (key, a) in attempts
            .map
            .range::<AttemptKey, _>((event_id.to_owned(), String::new(), 0)..)
            .take_while(|(k, _)| k.0 == event_id)
        {
            let (_, sub, n) = key.as_ref();
            latest.insert(sub.clone(), (*n, a.status));
        }
        Ok(latest.into_iter().map(|(s, (n, st))| (s, n, st)).collect())
    }
}

#[async_trait]
impl DeliveryQueries for MemoryDeliveryStore {
    async fn query_deliveries(
        &self,
        query: &DeliveryQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Attempt>> {
        let by_event = matches!(query, DeliveryQuery::Event { .. });
        // The table orders one event's attempts by sort key; the indexes by time, newest first.
        let (time, order): (&str, &[&str]) = if by_event {
            ("sk", &[])
        } else {
            ("attempted_at", &["event_id", "sk"])
        };
        let after = match &page.cursor {
            Some(raw) => Some(sort_key_of(
                &query.decode_cursor(raw, crate::domain::time::now())?,
                time,
                order,
            )),
            None => None,
        };
        let recent_days = match query {
            DeliveryQuery::Recent { range } => Some(crate::ports::queries::recent_days(
                range,
                crate::domain::time::now(),
            )),
            _ => None,
        };
        let items = lock(&self.attempts)
            .map
            .values()
            .filter(|a| query.matches(a))
            .filter(|a| {
                recent_days.as_ref().is_none_or(|days| {
                    let day = crate::domain::time::sortable(&a.attempted_at);
                    days.iter().any(|d| day.starts_with(d.as_str()))
                })
            })
            .map(|a| {
                let cursor = query.cursor_after(a);
                (sort_key_of(&cursor, time, order), cursor, Attempt::clone(a))
            })
            .collect();
        Ok(page_of(items, after, !by_event, page.limit))
    }
}

fn parse_cursor(cursor: &str) -> StoreResult<(String, u32)> {
    cursor
        .rsplit_once('#')
        .and_then(|(s, n)| Some((s.to_owned(), n.parse().ok()?)))
        .ok_or_else(|| StoreError::Corrupt("bad cursor".into()))
}

#[derive(Default)]
pub struct MemoryDedupStore {
    keys: Mutex<HashMap<String, HeldClaim>>,
}

#[async_trait]
impl DedupStore for MemoryDedupStore {
    async fn claim(&self, key: &str, event_id: &str, terms: ClaimTerms) -> StoreResult<Claim> {
        let at = terms.at;
        let mut keys = lock(&self.keys);
        if let Some(answer) = keys
            .get(key)
            .and_then(|held| held.clone().answer(at, terms))
        {
            return Ok(answer);
        }
        let ttl = chrono::Duration::from_std(terms.ttl).unwrap_or(chrono::Duration::MAX);
        keys.insert(
            key.to_owned(),
            HeldClaim {
                event_id: event_id.to_owned(),
                claimed_at: at,
                expires_at: Some(at.checked_add_signed(ttl).unwrap_or(at)),
                queued: false,
            },
        );
        // Keep memory bounded: drop expired claims now and then.
        if keys.len().is_multiple_of(1024) {
            keys.retain(|_, h| h.expires_at.is_some_and(|e| e > at));
        }
        Ok(Claim::New)
    }

    async fn confirm(&self, key: &str, event_id: &str) -> StoreResult<bool> {
        let mut keys = lock(&self.keys);
        match keys.get_mut(key) {
            Some(held) if held.event_id == event_id => {
                held.queued = true;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release(&self, key: &str, event_id: &str) -> StoreResult<()> {
        let mut keys = lock(&self.keys);
        if keys.get(key).is_some_and(|h| h.event_id == event_id) {
            keys.remove(key);
        }
        Ok(())
    }
}
