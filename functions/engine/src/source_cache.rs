//! A bounded-staleness cache of sources for ingest.
//!
//! Every webhook needs its source (provider, verification, zone, mapping); reading it from
//! DynamoDB on each request would add a round trip to every provider's 202. [`SourceCache`]
//! wraps the source store and answers `get` from memory for at most `ttl` after it read the
//! store, misses included (so unknown source ids cannot hammer the table).
//!
//! Staleness bound: a source created, changed (a rotated token, a new zone) or deleted
//! through the admin API is seen by every warm ingest instance at most `ttl` later —
//! 30 s by default, `SWITCHBOARD_SOURCE_CACHE_SECS` to change it, `0` to turn the cache
//! off. Writes that go through the cache itself (`switchboard serve`, where admin and ingest
//! share one process) invalidate the entry at once. Listing is never cached.
//!
//! Memory is bounded: at most [`MAX_ENTRIES`] ids are kept; when full, expired entries go
//! first, then the oldest.

use crate::config::ConfigError;
use crate::domain::Source;
use crate::error::StoreResult;
use crate::ports::{ConfigStore, SourceStore};
use crate::state::Ports;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Default staleness bound.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);
/// Environment variable overriding it, in whole seconds (`0` disables the cache).
pub const SOURCE_CACHE_SECS: &str = "SWITCHBOARD_SOURCE_CACHE_SECS";
/// Most source ids (found or not) kept at once.
pub const MAX_ENTRIES: usize = 4096;
/// Longest staleness a deployment may choose.
const MAX_TTL_SECS: u64 = 3600;

struct Entry {
    source: Option<Source>,
    fetched: Instant,
}

pub struct SourceCache {
    inner: Arc<SourceStore>,
    ttl: Duration,
    max_entries: usize,
    entries: Mutex<HashMap<String, Entry>>,
}

impl SourceCache {
    pub fn new(inner: Arc<SourceStore>, ttl: Duration) -> Self {
        Self::with_capacity(inner, ttl, MAX_ENTRIES)
    }

    pub fn with_capacity(inner: Arc<SourceStore>, ttl: Duration, max_entries: usize) -> Self {
        Self {
            inner,
            ttl,
            max_entries: max_entries.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The staleness bound from the environment: [`DEFAULT_TTL`] unless
    /// `SWITCHBOARD_SOURCE_CACHE_SECS` says otherwise (0-3600).
    pub fn ttl_from_env() -> Result<Duration, ConfigError> {
        Self::ttl_from_lookup(|k| std::env::var(k).ok())
    }

    pub fn ttl_from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Duration, ConfigError> {
        let Some(v) = get(SOURCE_CACHE_SECS) else {
            return Ok(DEFAULT_TTL);
        };
        v.trim()
            .parse::<u64>()
            .ok()
            .filter(|s| *s <= MAX_TTL_SECS)
            .map(Duration::from_secs)
            .ok_or_else(|| ConfigError::Invalid {
                name: SOURCE_CACHE_SECS,
                reason: format!("expected whole seconds 0..={MAX_TTL_SECS}, got {v:?}"),
            })
    }

    /// Entries currently held (fresh or not).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // Every critical section leaves the map consistent: poisoning carries no meaning.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fresh(&self, id: &str) -> Option<Option<Source>> {
        let entries = self.lock();
        let e = entries.get(id)?;
        (e.fetched.elapsed() < self.ttl).then(|| e.source.clone())
    }

    fn remember(&self, id: &str, source: Option<Source>, fetched: Instant) {
        let mut entries = self.lock();
        if entries.len() >= self.max_entries && !entries.contains_key(id) {
            let ttl = self.ttl;
            entries.retain(|_, e| e.fetched.elapsed() < ttl);
            if entries.len() >= self.max_entries {
                let oldest = entries
                    .iter()
                    .min_by_key(|(_, e)| e.fetched)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    entries.remove(&k);
                }
            }
        }
        entries.insert(id.to_owned(), Entry { source, fetched });
    }

    fn forget(&self, id: &str) {
        self.lock().remove(id);
    }
}

#[async_trait]
impl ConfigStore<Source> for SourceCache {
    async fn create(&self, record: &Source) -> StoreResult<()> {
        let r = self.inner.create(record).await;
        self.forget(&record.id);
        r
    }

    async fn get(&self, id: &str) -> StoreResult<Option<Source>> {
        if self.ttl.is_zero() {
            return self.inner.get(id).await;
        }
        if let Some(hit) = self.fresh(id) {
            return Ok(hit);
        }
        // Stamped before the read, so an entry is never trusted longer than `ttl` after
        // the moment the store was asked.
        let asked = Instant::now();
        let source = self.inner.get(id).await?;
        self.remember(id, source.clone(), asked);
        Ok(source)
    }

    async fn list(&self) -> StoreResult<Vec<Source>> {
        self.inner.list().await
    }

    async fn update(&self, record: &Source) -> StoreResult<()> {
        let r = self.inner.update(record).await;
        self.forget(&record.id);
        r
    }

    async fn update_if(&self, record: &Source, expected: u64) -> StoreResult<()> {
        let r = self.inner.update_if(record, expected).await;
        self.forget(&record.id);
        r
    }

    async fn delete(&self, id: &str) -> StoreResult<()> {
        let r = self.inner.delete(id).await;
        self.forget(id);
        r
    }
}

impl Ports {
    /// These ports with sources read through a [`SourceCache`] of the given staleness
    /// (`Duration::ZERO` leaves them as they are). The ingest Lambda and `serve` call it
    /// once at start-up.
    pub fn with_source_cache(mut self, ttl: Duration) -> Self {
        if !ttl.is_zero() {
            self.sources = Arc::new(SourceCache::new(self.sources, ttl));
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap as Map;

    #[test]
    fn ttl_from_the_environment() {
        let env = |pairs: &[(&str, &str)]| {
            let m: Map<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            move |k: &str| m.get(k).cloned()
        };
        assert_eq!(SourceCache::ttl_from_lookup(env(&[])), Ok(DEFAULT_TTL));
        assert_eq!(
            SourceCache::ttl_from_lookup(env(&[(SOURCE_CACHE_SECS, "5")])),
            Ok(Duration::from_secs(5))
        );
        assert_eq!(
            SourceCache::ttl_from_lookup(env(&[(SOURCE_CACHE_SECS, "0")])),
            Ok(Duration::ZERO)
        );
        let err = SourceCache::ttl_from_lookup(env(&[(SOURCE_CACHE_SECS, "soon")])).unwrap_err();
        assert!(err.to_string().contains(SOURCE_CACHE_SECS));
        assert!(SourceCache::ttl_from_lookup(env(&[(SOURCE_CACHE_SECS, "86400")])).is_err());
    }
}
