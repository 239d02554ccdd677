//! One contract per port, run against the in-memory adapter and against the AWS adapter on
//! the emulator, so the two cannot drift.

use crate::support::aws;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::adapters::aws::SqsQueue;
use switchboard_core::adapters::memory::MemoryQueue;
use switchboard_core::domain::attempt::{AttemptStatus, Trigger};
use switchboard_core::domain::envelope::{Envelope, RawRequest, StoredEvent};
use switchboard_core::domain::source::{Provider, Source, Verification};
use switchboard_core::domain::time::now;
use switchboard_core::domain::{Attempt, QueueMessage};
use switchboard_core::error::StoreError;
use switchboard_core::ports::{EventQueue, PageRequest, QueueConsumer, ReceivedMessage};
use switchboard_core::state::Ports;

const VISIBILITY_SECS: u32 = 2;

fn memory_ports() -> Ports {
    Ports::in_memory(Arc::new(MemoryQueue::new(
        Duration::from_secs(VISIBILITY_SECS.into()),
        5,
    )))
}

async fn aws_ports() -> Ports {
    let sdk = aws::sdk().await;
    let names = aws::resources(&sdk, VISIBILITY_SECS).await;
    Ports::aws(&sdk, &names)
}

fn event(id: &str, call_id: Option<&str>) -> StoredEvent {
    StoredEvent {
        envelope: Envelope {
            id: id.into(),
            event_type: "call.ended".into(),
            provider_event: Some("call_hangup".into()),
            source: "hipcall-main".into(),
            occurred_at: None,
            received_at: now(),
            call: call_id.map(|c| switchboard_core::domain::CallInfo {
                id: Some(c.into()),
                ..Default::default()
            }),
            data: Some(serde_json::json!({"k": "v"})),
            raw_unparsed: false,
        },
        raw: RawRequest {
            method: "POST".into(),
            content_type: Some("application/json".into()),
            query: Some("a=1".into()),
            body: bytes::Bytes::from_static(b"{\"k\":\"v\"}\xff"),
        },
        dedup_key: None,
    }
}

fn attempt(event_id: &str, sub: &str, n: u32, status: AttemptStatus) -> Attempt {
    Attempt {
        event_id: event_id.into(),
        subscription_id: sub.into(),
        attempt: n,
        status,
        trigger: Trigger::Initial,
        url: "http://127.0.0.1:1/x".into(),
        method: "POST".into(),
        request_headers: Default::default(),
        http_status: Some(500),
        duration_ms: 3,
        response_excerpt: Some("nope".into()),
        error_kind: None,
        error: None,
        next_attempt_at: None,
        attempted_at: now(),
        source: "hipcall-main".into(),
        event_type: "call.ended".into(),
        call_id: Some("call-1".into()),
    }
}

fn deliver(n: u32) -> QueueMessage {
    QueueMessage::Deliver {
        event_id: format!("evt_{n}"),
        subscription_id: "sub_1".into(),
        attempt: n,
        not_before: None,
        trigger: Trigger::Retry,
    }
}

/// Receives until `want` messages arrived or `secs` passed.
async fn receive_n(consumer: &dyn QueueConsumer, want: usize, secs: u64) -> Vec<ReceivedMessage> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    let mut got = Vec::new();
    while got.len() < want && tokio::time::Instant::now() < deadline {
        got.extend(consumer.receive(10, Duration::from_secs(1)).await.unwrap());
    }
    got
}

async fn queue_contract(queue: Arc<dyn EventQueue>, consumer: Arc<dyn QueueConsumer>) {
    // Given three messages sent without delay
    for n in 1..=3 {
        queue.send(&deliver(n), Duration::ZERO).await.unwrap();
    }
    // When they are received, they come back intact, first receipt counted once
    let got = receive_n(consumer.as_ref(), 3, 10).await;
    assert_eq!(got.len(), 3);
    let mut attempts: Vec<u32> = got
        .iter()
        .map(|m| match QueueMessage::from_json(&m.body).unwrap() {
            QueueMessage::Deliver { attempt, .. } => attempt,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    attempts.sort();
    assert_eq!(attempts, vec![1, 2, 3]);
    assert!(got.iter().all(|m| m.receive_count == 1));
    // Deleting two and leaving one: only the undeleted one returns after the visibility timeout
    consumer.delete(&got[0].receipt).await.unwrap();
    consumer.delete(&got[1].receipt).await.unwrap();
    assert!(consumer
        .receive(10, Duration::ZERO)
        .await
        .unwrap()
        .is_empty());
    let again = receive_n(consumer.as_ref(), 1, 10).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].message_id, got[2].message_id);
    assert_eq!(again[0].receive_count, 2);
    consumer.delete(&again[0].receipt).await.unwrap();
    // A delayed message is not visible before its delay
    queue
        .send(&deliver(9), Duration::from_secs(2))
        .await
        .unwrap();
    assert!(consumer
        .receive(10, Duration::ZERO)
        .await
        .unwrap()
        .is_empty());
    let delayed = receive_n(consumer.as_ref(), 1, 10).await;
    assert_eq!(delayed.len(), 1);
    consumer.delete(&delayed[0].receipt).await.unwrap();
}

async fn source_store_contract(ports: &Ports) {
    let t = now();
    let mut source = Source {
        id: "b-source".into(),
        provider: Provider::Hipcall,
        verification: Verification::None,
        timezone: None,
        body_limit_bytes: None,
        ip_allow: vec![],
        mapping: None,
        description: None,
        created_at: t,
        updated_at: t,
    };
    let store = &ports.sources;
    store.create(&source).await.unwrap();
    assert!(matches!(
        store.create(&source).await,
        Err(StoreError::Conflict)
    ));
    let mut other = source.clone();
    other.id = "a-source".into();
    store.create(&other).await.unwrap();
    assert_eq!(store.get("b-source").await.unwrap(), Some(source.clone()));
    assert_eq!(store.get("missing").await.unwrap(), None);
    let ids: Vec<String> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, vec!["a-source", "b-source"]);
    source.description = Some("changed".into());
    store.update(&source).await.unwrap();
    assert_eq!(
        store
            .get("b-source")
            .await
            .unwrap()
            .unwrap()
            .description
            .as_deref(),
        Some("changed")
    );
    let mut ghost = source.clone();
    ghost.id = "ghost".into();
    assert!(matches!(
        store.update(&ghost).await,
        Err(StoreError::NotFound)
    ));
    store.delete("b-source").await.unwrap();
    assert!(matches!(
        store.delete("b-source").await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.get("b-source").await.unwrap(), None);
}

async fn event_store_contract(ports: &Ports) {
    let e = event("evt_contract_1", Some("call-1"));
    let expires = now() + chrono::Duration::days(30);
    ports.events.put(&e, expires).await.unwrap();
    // Idempotent: an SQS redelivery stores the same event again
    ports.events.put(&e, expires).await.unwrap();
    assert_eq!(ports.events.get("evt_contract_1").await.unwrap(), Some(e));
    assert_eq!(ports.events.get("evt_missing").await.unwrap(), None);
}

async fn delivery_store_contract(ports: &Ports) {
    let expires = now() + chrono::Duration::days(30);
    let store = &ports.deliveries;
    for (sub, n, status) in [
        ("sub_b", 1, AttemptStatus::Retrying),
        ("sub_a", 1, AttemptStatus::Retrying),
        ("sub_a", 2, AttemptStatus::Succeeded),
        ("sub_b", 2, AttemptStatus::Exhausted),
        ("sub_c", 1, AttemptStatus::Failed),
    ] {
        store
            .record(&attempt("evt_d", sub, n, status), expires)
            .await
            .unwrap();
    }
    store
        .record(
            &attempt("evt_other", "sub_a", 1, AttemptStatus::Succeeded),
            expires,
        )
        .await
        .unwrap();

    let latest = store.latest_by_subscription("evt_d").await.unwrap();
    assert_eq!(
        latest,
        vec![
            ("sub_a".to_string(), 2, AttemptStatus::Succeeded),
            ("sub_b".to_string(), 2, AttemptStatus::Exhausted),
            ("sub_c".to_string(), 1, AttemptStatus::Failed),
        ]
    );
    // Pages of two, in (subscription, attempt) order, cursor until the end
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_by_event(
                "evt_d",
                &PageRequest {
                    limit: 2,
                    cursor: cursor.clone(),
                },
            )
            .await
            .unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(
            page.items
                .iter()
                .map(|a| (a.subscription_id.clone(), a.attempt)),
        );
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let expected: Vec<(String, u32)> = [
        ("sub_a", 1),
        ("sub_a", 2),
        ("sub_b", 1),
        ("sub_b", 2),
        ("sub_c", 1),
    ]
    .iter()
    .map(|(s, n)| (s.to_string(), *n))
    .collect();
    assert_eq!(seen, expected);
    let one = store
        .list_by_event("evt_other", &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(one.items, vec![attempt_like(&one.items[0])]);
    assert!(store
        .list_by_event("evt_none", &PageRequest::default())
        .await
        .unwrap()
        .items
        .is_empty());
}

fn attempt_like(a: &Attempt) -> Attempt {
    assert_eq!(a.subscription_id, "sub_a");
    assert_eq!(a.response_excerpt.as_deref(), Some("nope"));
    a.clone()
}

async fn dedup_contract(ports: &Ports) {
    let d = &ports.dedup;
    let day = Duration::from_secs(86_400);
    assert_eq!(d.claim("k1", "evt_1", day).await.unwrap(), None);
    assert_eq!(
        d.claim("k1", "evt_2", day).await.unwrap(),
        Some("evt_1".into())
    );
    // Releasing with another event's id does nothing; with the holder's id frees the key
    d.release("k1", "evt_2").await.unwrap();
    assert_eq!(
        d.claim("k1", "evt_3", day).await.unwrap(),
        Some("evt_1".into())
    );
    d.release("k1", "evt_1").await.unwrap();
    assert_eq!(d.claim("k1", "evt_4", day).await.unwrap(), None);
    // An expired claim is free again (DynamoDB TTL deletes lazily; the condition covers it)
    assert_eq!(
        d.claim("k2", "evt_5", Duration::from_secs(1))
            .await
            .unwrap(),
        None
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(d.claim("k2", "evt_6", day).await.unwrap(), None);
}

mod memory {
    use super::*;

    #[tokio::test]
    async fn queue() {
        let q = Arc::new(MemoryQueue::new(
            Duration::from_secs(VISIBILITY_SECS.into()),
            5,
        ));
        queue_contract(q.clone(), q).await;
    }

    #[tokio::test]
    async fn sources() {
        source_store_contract(&memory_ports()).await;
    }

    #[tokio::test]
    async fn events() {
        event_store_contract(&memory_ports()).await;
    }

    #[tokio::test]
    async fn deliveries() {
        delivery_store_contract(&memory_ports()).await;
    }

    #[tokio::test]
    async fn dedup() {
        dedup_contract(&memory_ports()).await;
    }
}

mod emulator {
    use super::*;

    #[tokio::test]
    async fn queue() {
        let sdk = aws::sdk().await;
        let names = aws::resources(&sdk, VISIBILITY_SECS).await;
        let q = Arc::new(SqsQueue::new(
            aws_sdk_sqs::Client::new(&sdk),
            names.queue_url,
        ));
        queue_contract(q.clone(), q).await;
    }

    #[tokio::test]
    async fn sources() {
        source_store_contract(&aws_ports().await).await;
    }

    #[tokio::test]
    async fn events() {
        event_store_contract(&aws_ports().await).await;
    }

    #[tokio::test]
    async fn deliveries() {
        delivery_store_contract(&aws_ports().await).await;
    }

    #[tokio::test]
    async fn dedup() {
        dedup_contract(&aws_ports().await).await;
    }
}
