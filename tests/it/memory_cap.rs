//! `serve --memory` keeps at most its configured number of events and attempts: the oldest
//! go first, the newest stay, and so do records still within the cap.

use switchboard_core::adapters::memory::{MemoryDeliveryStore, MemoryEventStore};
use switchboard_core::domain::attempt::AttemptStatus;
use switchboard_core::domain::envelope::StoredEvent;
use switchboard_core::domain::time::{now, Timestamp};
use switchboard_core::domain::Attempt;
use switchboard_core::ports::{DeliveryStore, EventStore};

fn event(id: &str) -> StoredEvent {
    switchboard_test_support::records::event(id, "hipcall-main")
}

fn attempt(event_id: &str, n: u32) -> Attempt {
    Attempt {
        url: "http://127.0.0.1:9/".into(),
        http_status: Some(204),
        ..crate::support::attempt(event_id, "sub_1", n, AttemptStatus::Succeeded)
    }
}

fn in_a_day() -> Timestamp {
    now() + chrono::Duration::days(1)
}

#[tokio::test]
async fn the_event_cap_holds_and_drops_the_oldest_first() {
    let store = MemoryEventStore::with_limit(100);
    for i in 0..1_000 {
        store
            .put(&event(&format!("evt_{i:04}")), in_a_day())
            .await
            .unwrap();
        assert!(store.len() <= 100, "{} events held after {i}", store.len());
    }
    assert_eq!(store.len(), 100);
    assert!(store.get("evt_0000").await.unwrap().is_none());
    assert!(store.get("evt_0899").await.unwrap().is_none());
    assert!(store.get("evt_0900").await.unwrap().is_some());
    assert!(store.get("evt_0999").await.unwrap().is_some());
    // Writing an event again does not count it twice.
    store.put(&event("evt_0999"), in_a_day()).await.unwrap();
    assert!(store.get("evt_0900").await.unwrap().is_some());
}

#[tokio::test]
async fn the_attempt_cap_holds_and_drops_the_oldest_first() {
    let store = MemoryDeliveryStore::with_limit(30);
    for i in 0..300 {
        for n in 1..=3 {
            store
                .record(&attempt(&format!("evt_{i:04}"), n), in_a_day())
                .await
                .unwrap();
        }
        assert!(store.len() <= 30, "{} attempts held after {i}", store.len());
    }
    assert_eq!(store.len(), 30);
    assert!(store
        .latest_by_subscription("evt_0289")
        .await
        .unwrap()
        .is_empty());
    let newest = store.latest_by_subscription("evt_0299").await.unwrap();
    assert_eq!(
        newest,
        vec![("sub_1".to_owned(), 3, AttemptStatus::Succeeded)]
    );
}

#[tokio::test]
async fn records_past_their_retention_go_even_under_the_cap() {
    let events = MemoryEventStore::with_limit(100);
    let deliveries = MemoryDeliveryStore::with_limit(100);
    let past = now() - chrono::Duration::seconds(1);
    events.put(&event("evt_old"), past).await.unwrap();
    deliveries
        .record(&attempt("evt_old", 1), past)
        .await
        .unwrap();
    events.put(&event("evt_new"), in_a_day()).await.unwrap();
    deliveries
        .record(&attempt("evt_new", 1), in_a_day())
        .await
        .unwrap();
    assert!(events.get("evt_old").await.unwrap().is_none());
    assert!(events.get("evt_new").await.unwrap().is_some());
    assert_eq!(events.len(), 1);
    assert_eq!(deliveries.len(), 1);
}

#[tokio::test]
async fn serve_memory_keeps_only_the_newest_events_and_attempts_it_is_allowed() {
    use crate::support::sink::Sink;
    use switchboard_core::adapters::memory::MemoryLimits;
    use switchboard_test_support::serve::ServeHarness;

    // Given serve --memory holding at most 5 events and 8 attempts, one subscription
    let mut config = switchboard_test_support::serve::config();
    config.memory_limits = MemoryLimits {
        events: 5,
        attempts: 8,
    };
    let serve = ServeHarness::with(config).await;
    let crm = Sink::start().await;
    serve.hipcall_call_ends_to(&crm.url("/crm")).await;
    let running = &serve.running;

    // When 30 distinct calls end, one after the other
    let mut ids = Vec::new();
    for i in 0..30 {
        let body = crate::support::hipcall_call_hangup(&format!("2483a75a-56a2-41f1-991b-{i:012}"));
        let (status, json) = serve.post_hook("hipcall-main", body).await;
        assert_eq!(status, 202, "{json}");
        let id = json["id"].as_str().unwrap().to_owned();
        // (its attempt on record before the next event, so that the order is known)
        assert!(
            crate::support::eventually(10, || async {
                running
                    .ports
                    .deliveries
                    .latest_by_subscription(&id)
                    .await
                    .is_ok_and(|l| l.len() == 1)
            })
            .await
        );
        ids.push(id);
    }

    // Then every event was delivered, but only the 5 newest events are kept, and of the
    // attempts only the newest 8
    assert_eq!(crm.count(), 30);
    for (i, id) in ids.iter().enumerate() {
        let event = running.ports.events.get(id).await.unwrap();
        assert_eq!(event.is_some(), i >= 25, "event {i}");
        let attempts = running
            .ports
            .deliveries
            .latest_by_subscription(id)
            .await
            .unwrap();
        assert_eq!(
            attempts.len(),
            usize::from(i >= 22),
            "attempts of event {i}"
        );
    }
    assert_eq!(serve.running.stop().await, 0);
}
