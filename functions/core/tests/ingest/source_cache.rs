//! The ingest source cache: hits stay in memory, staleness is bounded by the TTL, writes
//! through the cache invalidate at once, misses are cached too, memory is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use async_trait::async_trait;
use common::{fixture, req, source, Harness};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::adapters::memory::{MemoryConfigStore, MemoryQueue};
use switchboard_core::api::source_cache::SourceCache;
use switchboard_core::domain::source::{Provider, TokenLocation};
use switchboard_core::domain::{Source, Verification};
use switchboard_core::error::StoreResult;
use switchboard_core::ports::{ConfigStore, SourceStore};
use switchboard_core::redact::Secret;
use switchboard_core::state::{Compose, Ports};

/// A source store that counts its reads.
#[derive(Default)]
struct Counting {
    inner: MemoryConfigStore<Source>,
    gets: AtomicUsize,
}

#[async_trait]
impl ConfigStore<Source> for Counting {
    async fn create(&self, r: &Source) -> StoreResult<()> {
        self.inner.create(r).await
    }
    async fn get(&self, id: &str) -> StoreResult<Option<Source>> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get(id).await
    }
    async fn list(&self) -> StoreResult<Vec<Source>> {
        self.inner.list().await
    }
    async fn update(&self, r: &Source) -> StoreResult<()> {
        self.inner.update(r).await
    }
    async fn update_if(&self, r: &Source, expected: u64) -> StoreResult<()> {
        self.inner.update_if(r, expected).await
    }
    async fn delete(&self, id: &str) -> StoreResult<()> {
        self.inner.delete(id).await
    }
}

fn counting() -> (Arc<Counting>, Arc<SourceStore>) {
    let c = Arc::new(Counting::default());
    let store: Arc<SourceStore> = c.clone();
    (c, store)
}

#[tokio::test]
async fn hits_are_served_from_memory_until_the_ttl() {
    let (count, store) = counting();
    store
        .create(&source("a", Provider::Hipcall, Verification::None))
        .await
        .unwrap();
    let cache = SourceCache::new(store.clone(), Duration::from_millis(300));

    for _ in 0..5 {
        assert_eq!(cache.get("a").await.unwrap().unwrap().id, "a");
    }
    assert_eq!(
        count.gets.load(Ordering::SeqCst),
        1,
        "one store read for five gets"
    );

    // A change made elsewhere (another Lambda's admin API) is not seen within the TTL...
    let mut changed = source("a", Provider::Callerdesk, Verification::None);
    changed.timezone = Some("Asia/Kolkata".into());
    store.update(&changed).await.unwrap();
    assert_eq!(
        cache.get("a").await.unwrap().unwrap().provider,
        Provider::Hipcall
    );
    // ...and is seen once the TTL has passed.
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        cache.get("a").await.unwrap().unwrap().provider,
        Provider::Callerdesk
    );
    assert_eq!(count.gets.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn misses_are_cached_and_writes_through_the_cache_invalidate() {
    let (count, store) = counting();
    let cache = SourceCache::new(store.clone(), Duration::from_secs(60));
    assert!(cache.get("nope").await.unwrap().is_none());
    assert!(cache.get("nope").await.unwrap().is_none());
    assert_eq!(count.gets.load(Ordering::SeqCst), 1, "a miss is remembered");

    // A create, then an update, each seen by the next read
    for (provider, create) in [(Provider::Generic, true), (Provider::Voipappz, false)] {
        let s = source("nope", provider, Verification::None);
        if create {
            cache.create(&s).await.unwrap();
        } else {
            cache.update(&s).await.unwrap();
        }
        let read = cache.get("nope").await.unwrap().unwrap().provider;
        assert_eq!(read, provider, "after the {provider:?} write");
    }
    cache.delete("nope").await.unwrap();
    assert!(cache.get("nope").await.unwrap().is_none());
    assert_eq!(cache.list().await.unwrap().len(), 0);
}

#[tokio::test]
async fn memory_is_bounded() {
    let (_, store) = counting();
    let cache = SourceCache::with_capacity(store, Duration::from_secs(60), 8);
    for i in 0..100 {
        cache.get(&format!("random-{i}")).await.unwrap();
    }
    assert!(cache.len() <= 8, "{} entries", cache.len());
}

#[tokio::test]
async fn zero_ttl_reads_through() {
    let (count, store) = counting();
    let cache = SourceCache::new(store, Duration::ZERO);
    cache.get("x").await.unwrap();
    cache.get("x").await.unwrap();
    assert_eq!(count.gets.load(Ordering::SeqCst), 2);
    assert!(cache.is_empty());
}

#[tokio::test]
async fn a_rotated_token_reaches_ingest_within_the_ttl() {
    // Ingest reads sources through the cache; the admin side writes the store directly, as
    // a separate admin Lambda would.
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(30), 5));
    let ports = Ports::in_memory(queue.clone());
    let admin_store = ports.sources.clone();
    let token = |t: &str| Verification::Token {
        token: Secret::new(t),
        location: TokenLocation::Path,
        name: None,
    };
    admin_store
        .create(&source("hip", Provider::Hipcall, token("old")))
        .await
        .unwrap();
    let h = Harness::with_ports(ports.with_source_cache(Duration::from_millis(300)), queue);
    let post = |t: &str| {
        req("POST", &format!("/hooks/hip/{t}"))
            .json()
            .body(fixture("hipcall/task_create.json"))
    };

    assert_eq!(h.send(post("old")).await.0, 202);
    admin_store
        .update(&source("hip", Provider::Hipcall, token("new")))
        .await
        .unwrap();
    // Within the staleness bound the old token still works (the documented trade-off).
    assert_eq!(
        h.send(post("old")).await.0,
        200,
        "a duplicate, but verified"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(h.send(post("old")).await.0, 401);
    assert_eq!(
        h.send(post("new")).await.0,
        200,
        "same task: still a duplicate"
    );
}
