//! One contract per port, run against the in-memory adapter, the SQLite adapter (a fresh
//! store per test) and the AWS adapter on the emulator, so they cannot drift.

use crate::support::aws;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::adapters::aws::{DynamoDeliveryStore, DynamoEventStore, SqsQueue};
use switchboard_core::adapters::memory::MemoryQueue;
use switchboard_core::domain::attempt::AttemptStatus;
use switchboard_core::domain::envelope::{Envelope, RawRequest, StoredEvent};
use switchboard_core::domain::source::{Provider, Source, Verification};
use switchboard_core::domain::time::{now, Timestamp};
use switchboard_core::domain::{Attempt, QueueMessage, Subscription};
use switchboard_core::error::StoreError;
use switchboard_core::ports::versioned::{self, Modified};
use switchboard_core::ports::{
    Claim, ClaimTerms, DeadLetterQueue, EventQueue, KeyClaim, Outgoing, PageRequest, QueueConsumer,
    ReceivedMessage, RedriveSelection, Stored,
};
use switchboard_core::redact::Secret;
use switchboard_core::state::{Compose, Ports};

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
            data: Some(serde_json::json!({"k": "v"}).into()),
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
        url: "http://127.0.0.1:1/x".into(),
        http_status: Some(500),
        duration_ms: 3,
        response_excerpt: Some("nope".into()),
        call_id: Some("call-1".into()),
        ..crate::support::attempt(event_id, sub, n, status)
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
        queue
            .send(&crate::support::retry_message(n), Duration::ZERO)
            .await
            .unwrap();
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
    // Deleting two together and leaving one: only the undeleted one returns after the
    // visibility timeout
    let receipts = [got[0].receipt.clone(), got[1].receipt.clone()];
    for result in consumer.delete_many(&receipts).await {
        result.unwrap();
    }
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
        .send(&crate::support::retry_message(9), Duration::from_secs(2))
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

/// Receives without deleting until the queue has dead-lettered `want` messages (2 receipts
/// each, 1 s visibility), then checks listing, paging and redrive.
async fn dead_letter_contract(
    queue: Arc<dyn EventQueue>,
    consumer: Arc<dyn QueueConsumer>,
    dlq: Arc<dyn DeadLetterQueue>,
) {
    // Given three messages received twice each and never deleted
    for n in 1..=3 {
        queue
            .send(&crate::support::retry_message(n), Duration::ZERO)
            .await
            .unwrap();
    }
    let page = |limit, cursor| PageRequest { limit, cursor };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut listed = Vec::new();
    while tokio::time::Instant::now() < deadline {
        consumer
            .receive(10, Duration::from_millis(500))
            .await
            .unwrap();
        listed = dlq.list(&page(10, None)).await.unwrap().items;
        if listed.len() == 3 {
            break;
        }
    }
    // Then all three are listed with their bodies intact and distinct ids
    assert_eq!(listed.len(), 3, "{listed:?}");
    let mut attempts: Vec<u32> = listed
        .iter()
        .map(|d| match QueueMessage::from_json(&d.body).unwrap() {
            QueueMessage::Deliver { attempt, .. } => attempt,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    attempts.sort();
    assert_eq!(attempts, vec![1, 2, 3]);
    assert!(listed.iter().all(|d| d.receive_count >= 2), "{listed:?}");
    let mut ids: Vec<&str> = listed.iter().map(|d| d.message_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3);
    // A listing changes nothing: the same three again
    assert_eq!(dlq.list(&page(10, None)).await.unwrap().items.len(), 3);
    // A small page either pages with a cursor or (SQS) answers one page without one
    let first = dlq.list(&page(2, None)).await.unwrap();
    assert!(first.items.len() <= 2 && !first.items.is_empty());
    if let Some(cursor) = first.next_cursor {
        let rest = dlq.list(&page(2, Some(cursor))).await.unwrap();
        assert_eq!(first.items.len() + rest.items.len(), 3);
    }
    // When one is redriven by id (with an unknown id beside it)
    let chosen = listed[0].message_id.clone();
    let moved = dlq
        .redrive(&RedriveSelection::Ids(vec![
            chosen.clone(),
            "no-such-id".into(),
        ]))
        .await
        .unwrap();
    assert_eq!(moved, vec![chosen.clone()]);
    // Then it is back on the events queue, body intact, and only two are dead
    let back = receive_n(consumer.as_ref(), 1, 10).await;
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].body, listed[0].body);
    consumer.delete(&back[0].receipt).await.unwrap();
    let left = dlq.list(&page(10, None)).await.unwrap().items;
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.iter().all(|d| d.message_id != chosen));
    // And redriving the oldest ten moves the other two, leaving none
    let moved = dlq.redrive(&RedriveSelection::Oldest(10)).await.unwrap();
    assert_eq!(moved.len(), 2);
    assert!(dlq.list(&page(10, None)).await.unwrap().items.is_empty());
    let back = receive_n(consumer.as_ref(), 2, 10).await;
    assert_eq!(back.len(), 2);
    for m in back {
        consumer.delete(&m.receipt).await.unwrap();
    }
    assert!(dlq
        .redrive(&RedriveSelection::Oldest(10))
        .await
        .unwrap()
        .is_empty());
}

async fn source_store_contract(ports: &Ports) {
    let t = now();
    let mut source = Source::blank("b-source", Provider::Hipcall, Verification::None, t);
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
    assert_eq!(
        ports.events.get("evt_contract_1").await.unwrap(),
        Some(e.clone())
    );
    assert_eq!(ports.events.get("evt_missing").await.unwrap(), None);

    // With the envelope serialised by the caller: the same event read back, and an id
    // already stored is never called new (dispatch would skip reading its attempts)
    let f = std::sync::Arc::new(event("evt_contract_2", Some("call-2")));
    let json = serde_json::to_vec(&f.envelope).unwrap();
    let first = ports
        .events
        .put_serialised(&f, &json, expires)
        .await
        .unwrap();
    assert_ne!(first, Stored::Existing, "a first write");
    assert_eq!(
        ports.events.get("evt_contract_2").await.unwrap(),
        Some((*f).clone())
    );
    let again = ports
        .events
        .put_serialised(&f, &json, expires)
        .await
        .unwrap();
    assert_ne!(again, Stored::New, "the same id again");
    assert_eq!(
        ports.events.get("evt_contract_2").await.unwrap(),
        Some((*f).clone())
    );
    let stored_before = ports
        .events
        .put_serialised(
            &std::sync::Arc::new(e.clone()),
            &serde_json::to_vec(&e.envelope).unwrap(),
            expires,
        )
        .await
        .unwrap();
    assert_ne!(stored_before, Stored::New, "an id stored with put");
    // A payload the body decodes to (stored once by some adapters) comes back whole, and so
    // do a JSON null payload and a body nothing parsed
    let body = br#"{"event":"call_hangup","data":{"uuid":"c-9","duration":42,"tags":["a","b"]}}"#;
    let mut decoded = event("evt_contract_2", Some("call-9"));
    decoded.raw.body = bytes::Bytes::from_static(body);
    decoded.envelope.data = Some(serde_json::from_slice(body).unwrap());
    let mut null = event("evt_contract_3", None);
    null.raw.body = bytes::Bytes::from_static(b"null");
    null.envelope.data = Some(serde_json::Value::Null.into());
    let mut unparsed = event("evt_contract_4", None);
    unparsed.raw.content_type = None;
    unparsed.raw.body = bytes::Bytes::from_static(b"\x00 not a payload");
    unparsed.envelope.data = None;
    unparsed.envelope.raw_unparsed = true;
    for e in [decoded, null, unparsed] {
        ports.events.put(&e, expires).await.unwrap();
        assert_eq!(ports.events.get(&e.envelope.id).await.unwrap(), Some(e));
    }
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

/// Two writers record the same attempt of a pair, one of them a success: whatever the
/// order, and when they race, the success is what stays; a second success is refused.
/// `race`: also write a success and a failure of one key at the same instant, round after
/// round. Off only where the store does not serialise conditional writes (moto).
async fn attempt_race_contract(ports: &Ports, race: bool) {
    let expires = now() + chrono::Duration::days(30);
    let store = ports.deliveries.clone();
    let stored = |event_id: &'static str| {
        let store = store.clone();
        async move {
            let page = store
                .list_by_event(event_id, &PageRequest::default())
                .await
                .unwrap();
            assert_eq!(page.items.len(), 1, "{:?}", page.items);
            page.items[0].clone()
        }
    };
    let ok = |event_id: &str, http_status: u16| {
        let mut a = attempt(event_id, "sub_r", 1, AttemptStatus::Succeeded);
        a.http_status = Some(http_status);
        a
    };
    let retrying = |event_id: &str| attempt(event_id, "sub_r", 1, AttemptStatus::Retrying);

    // Success first: the failure is refused, the success stays
    store.record(&ok("evt_ra", 200), expires).await.unwrap();
    let lost = store.record(&retrying("evt_ra"), expires).await;
    assert!(matches!(lost, Err(StoreError::Conflict)), "{lost:?}");
    assert_eq!(stored("evt_ra").await.status, AttemptStatus::Succeeded);
    // Failure first: the success replaces it
    store.record(&retrying("evt_rb"), expires).await.unwrap();
    store.record(&ok("evt_rb", 200), expires).await.unwrap();
    assert_eq!(stored("evt_rb").await.status, AttemptStatus::Succeeded);
    // Two successes: the first stays, the second is refused (one success on record)
    store.record(&ok("evt_rc", 200), expires).await.unwrap();
    let second = store.record(&ok("evt_rc", 204), expires).await;
    assert!(matches!(second, Err(StoreError::Conflict)), "{second:?}");
    assert_eq!(stored("evt_rc").await.http_status, Some(200));
    // Two failures: the later one replaces the earlier (a redelivered failure)
    store.record(&retrying("evt_rd"), expires).await.unwrap();
    let mut again = retrying("evt_rd");
    again.http_status = Some(503);
    store.record(&again, expires).await.unwrap();
    assert_eq!(stored("evt_rd").await.http_status, Some(503));
    // The shared form (dispatch records through it) keeps the same rule
    store
        .record_shared(&Arc::new(ok("evt_re", 201)), expires)
        .await
        .unwrap();
    let lost = store
        .record_shared(&Arc::new(retrying("evt_re")), expires)
        .await;
    assert!(matches!(lost, Err(StoreError::Conflict)), "{lost:?}");
    let kept = stored("evt_re").await;
    assert_eq!(
        (kept.status, kept.http_status),
        (AttemptStatus::Succeeded, Some(201))
    );

    // Racing, round after round: the success always survives
    let rounds = if race { 0..8 } else { 0..0 };
    for round in rounds {
        let event_id = format!("evt_race_{round}");
        let gate = Arc::new(tokio::sync::Barrier::new(2));
        let writer = |a: Attempt| {
            let (store, gate) = (store.clone(), gate.clone());
            tokio::spawn(async move {
                gate.wait().await;
                store.record(&a, expires).await
            })
        };
        let (success, failure) = (writer(ok(&event_id, 200)), writer(retrying(&event_id)));
        let (success, failure) = (success.await.unwrap(), failure.await.unwrap());
        assert!(success.is_ok(), "{success:?}");
        assert!(
            matches!(failure, Ok(()) | Err(StoreError::Conflict)),
            "{failure:?}"
        );
        let page = store
            .list_by_event(&event_id, &PageRequest::default())
            .await
            .unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(
            page.items[0].status,
            AttemptStatus::Succeeded,
            "round {round}"
        );
    }
}

fn subscription(id: &str) -> Subscription {
    Subscription {
        url: "http://127.0.0.1:1/hook".into(),
        event_types: vec!["call.*".into()],
        ..Subscription::blank(id, Secret::new("whsec_b2xk"), now())
    }
}

/// One writer's change to a subscription, as a task can own it.
type Change = Box<dyn FnMut(&mut Subscription) -> Result<bool, StoreError> + Send>;

/// The change dispatch makes when an attempt fails: start the failure run.
fn record_failure(at: Timestamp) -> impl FnMut(&mut Subscription) -> Result<bool, StoreError> {
    move |s| {
        if s.failing_since.is_some() {
            return Ok(false);
        }
        s.failing_since = Some(at);
        Ok(true)
    }
}

/// Subscription writes under optimistic concurrency: a write based on a stale read is
/// refused, the change re-applied to a fresh read keeps both writers' changes.
/// `race`: also the racing rounds (where the store checks a condition and writes in one
/// step, as DynamoDB does).
async fn subscription_race_contract(ports: &Ports, race: bool) {
    let store = ports.subscriptions.clone();
    store.create(&subscription("sub_v")).await.unwrap();
    assert_eq!(store.get("sub_v").await.unwrap().unwrap().version, 1);

    // Forced interleaving: both read version 1, the rotation writes first
    let mut health = store.get("sub_v").await.unwrap().unwrap();
    let mut rotation = health.clone();
    rotation.secret = Secret::new("whsec_bmV3");
    rotation.version = 2;
    store.update_if(&rotation, 1).await.unwrap();
    health.failing_since = Some(now());
    health.version = 2;
    let stale = store.update_if(&health, 1).await;
    assert!(matches!(stale, Err(StoreError::Stale)), "{stale:?}");
    // Re-applied as a change to a fresh read: both survive
    let at = now();
    let written = versioned::modify(store.as_ref(), "sub_v", record_failure(at))
        .await
        .unwrap();
    assert!(matches!(written, Modified::Written(_)));
    let s = store.get("sub_v").await.unwrap().unwrap();
    assert_eq!(s.secret.expose(), "whsec_bmV3");
    assert_eq!(s.failing_since, Some(at));
    assert_eq!(s.version, 3);
    // Nothing to change: nothing written
    let same = versioned::modify(store.as_ref(), "sub_v", record_failure(now()))
        .await
        .unwrap();
    assert!(matches!(same, Modified::Unchanged(ref u) if u.version == 3));

    // Missing records
    let ghost = subscription("sub_ghost");
    let missing = store.update_if(&ghost, 1).await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
    let missing = versioned::modify(store.as_ref(), "sub_ghost", record_failure(at)).await;
    assert!(matches!(missing, Ok(Modified::Missing)), "{missing:?}");

    // A record stored before versions existed counts as version 0
    let mut legacy = subscription("sub_legacy");
    legacy.version = 0;
    store.create(&legacy).await.unwrap();
    let written = versioned::modify(store.as_ref(), "sub_legacy", record_failure(at))
        .await
        .unwrap();
    assert!(matches!(written, Modified::Written(ref w) if w.version == 1));
    let stale = store.update_if(&legacy, 0).await;
    assert!(matches!(stale, Err(StoreError::Stale)), "{stale:?}");

    // Racing writers, round after round: health vs re-enable, health vs rotation
    let rounds = if race { 6 } else { 0 };
    for round in 0..rounds {
        let id = format!("sub_race_{round}");
        let mut sub = subscription(&id);
        sub.enabled = false;
        sub.disabled_reason = Some("the endpoint answered 410 Gone".into());
        store.create(&sub).await.unwrap();
        let gate = Arc::new(tokio::sync::Barrier::new(3));
        let writer = |change: Change| {
            let (store, gate, id) = (store.clone(), gate.clone(), id.clone());
            tokio::spawn(async move {
                gate.wait().await;
                versioned::modify(store.as_ref(), &id, change).await
            })
        };
        let health = writer(Box::new(record_failure(at)));
        let re_enable = writer(Box::new(|s: &mut Subscription| {
            s.enabled = true;
            s.disabled_reason = None;
            Ok(true)
        }));
        let rotate = writer(Box::new(|s: &mut Subscription| {
            s.secret = Secret::new("whsec_cm90YXRlZA");
            Ok(true)
        }));
        for task in [health, re_enable, rotate] {
            let done = task.await.unwrap();
            assert!(matches!(done, Ok(Modified::Written(_))), "{done:?}");
        }
        let s = store.get(&id).await.unwrap().unwrap();
        assert_eq!(s.failing_since, Some(at), "round {round}");
        assert!(s.enabled && s.disabled_reason.is_none(), "round {round}");
        assert_eq!(s.secret.expose(), "whsec_cm90YXRlZA", "round {round}");
        assert_eq!(s.version, 4, "round {round}");
    }
}

fn attempt_like(a: &Attempt) -> Attempt {
    assert_eq!(a.subscription_id, "sub_a");
    assert_eq!(a.response_excerpt.as_deref(), Some("nope"));
    a.clone()
}

async fn dedup_contract(ports: &Ports) {
    let d = &ports.dedup;
    let t0 = at(chrono::Duration::zero());
    let secs = |s: i64| t0 + chrono::Duration::seconds(s);
    let terms = |at| ClaimTerms {
        at,
        ttl: Duration::from_secs(86_400),
        pending_for: Duration::from_secs(10),
    };
    let dup = |id: &str| Claim::Duplicate(id.to_owned());

    // A free key is claimed, pending
    assert_eq!(d.claim("k1", "evt_1", terms(t0)).await.unwrap(), Claim::New);
    // A retry meeting the fresh pending claim is told when it can go stale
    assert_eq!(
        d.claim("k1", "evt_2", terms(secs(4))).await.unwrap(),
        Claim::InProgress {
            retry_after: Duration::from_secs(6)
        }
    );
    // Confirmed, the claim makes every retry a duplicate, also long after the send window
    assert!(d.confirm("k1", "evt_1").await.unwrap());
    assert_eq!(
        d.claim("k1", "evt_3", terms(secs(5))).await.unwrap(),
        dup("evt_1")
    );
    assert_eq!(
        d.claim("k1", "evt_3", terms(secs(3600))).await.unwrap(),
        dup("evt_1")
    );
    // Confirming or releasing with another event's id does nothing
    assert!(!d.confirm("k1", "evt_2").await.unwrap());
    d.release("k1", "evt_2").await.unwrap();
    assert_eq!(
        d.claim("k1", "evt_3", terms(secs(6))).await.unwrap(),
        dup("evt_1")
    );
    // Releasing with the holder's id frees the key
    d.release("k1", "evt_1").await.unwrap();
    assert_eq!(
        d.claim("k1", "evt_4", terms(secs(7))).await.unwrap(),
        Claim::New
    );

    // A pending claim left behind (its holder killed before queueing) goes stale after
    // pending_for: the next claim takes it over, and the old holder can no longer confirm
    assert_eq!(d.claim("k2", "evt_5", terms(t0)).await.unwrap(), Claim::New);
    assert!(matches!(
        d.claim("k2", "evt_6", terms(secs(9))).await.unwrap(),
        Claim::InProgress { .. }
    ));
    assert_eq!(
        d.claim("k2", "evt_6", terms(secs(11))).await.unwrap(),
        Claim::New
    );
    assert!(!d.confirm("k2", "evt_5").await.unwrap());
    d.release("k2", "evt_5").await.unwrap();
    assert!(d.confirm("k2", "evt_6").await.unwrap());
    assert_eq!(
        d.claim("k2", "evt_7", terms(secs(30))).await.unwrap(),
        dup("evt_6")
    );
    // A claim met in its last fraction of a second still asks for a whole second
    assert_eq!(d.claim("k3", "evt_8", terms(t0)).await.unwrap(), Claim::New);
    assert_eq!(
        d.claim(
            "k3",
            "evt_9",
            terms(t0 + chrono::Duration::milliseconds(9_800))
        )
        .await
        .unwrap(),
        Claim::InProgress {
            retry_after: Duration::from_secs(1)
        }
    );

    // An expired claim is free again (DynamoDB TTL deletes lazily; the condition covers it)
    let short = |at| ClaimTerms {
        ttl: Duration::from_secs(2),
        ..terms(at)
    };
    assert_eq!(
        d.claim("k4", "evt_10", short(t0)).await.unwrap(),
        Claim::New
    );
    assert!(d.confirm("k4", "evt_10").await.unwrap());
    assert_eq!(
        d.claim("k4", "evt_11", short(secs(1))).await.unwrap(),
        dup("evt_10")
    );
    assert_eq!(
        d.claim("k4", "evt_11", short(secs(5))).await.unwrap(),
        Claim::New
    );
}

/// The one-write claim of a store that holds the queue too (`Some`), or `None` where the
/// caller claims, sends and confirms in turn. In one write, the message is queued exactly
/// when the claim is new, and the claim is queued at once (never seen pending).
async fn claim_and_send_contract(ports: &Ports, consumer: Option<&dyn QueueConsumer>) {
    let d = &ports.dedup;
    let terms = |at| ClaimTerms {
        at,
        ttl: Duration::from_secs(86_400),
        pending_for: Duration::from_secs(10),
    };
    let t0 = at(chrono::Duration::zero());
    let message = |id: &str| QueueMessage::Event {
        event: std::sync::Arc::new(event(id, None)),
    };
    // Claims `key` for `event_id`, queueing the event of that id in the same write.
    let claim_and_send = |key: &'static str, event_id: &'static str| async move {
        let m = message(event_id);
        let claim = KeyClaim {
            key,
            event_id,
            terms: terms(t0),
        };
        let out = Outgoing {
            message: &m,
            delay: Duration::ZERO,
            trace: None,
        };
        (d.claim_and_send(claim, out).await, m)
    };
    let (first, m1) = claim_and_send("s1", "evt_s1").await;
    let Some(consumer) = consumer else {
        assert!(first.is_none(), "this store claims and sends in turn");
        return;
    };
    assert_eq!(first.unwrap().unwrap(), Claim::New);
    let got = receive_n(consumer, 1, 5).await;
    assert_eq!(got.len(), 1);
    assert_eq!(QueueMessage::from_json(&got[0].body).unwrap(), m1);
    // The claim was written queued: a retry is a duplicate at once, in either form
    let dup = Claim::Duplicate("evt_s1".to_owned());
    assert_eq!(d.claim("s1", "evt_x", terms(t0)).await.unwrap(), dup);
    let (again, _) = claim_and_send("s1", "evt_s2").await;
    assert_eq!(again.unwrap().unwrap(), dup);
    // A key held pending by a request claiming in turn: in progress, nothing queued
    assert_eq!(d.claim("s2", "evt_p", terms(t0)).await.unwrap(), Claim::New);
    let (held, _) = claim_and_send("s2", "evt_s3").await;
    assert!(matches!(held.unwrap().unwrap(), Claim::InProgress { .. }));
    assert!(consumer
        .receive(10, Duration::from_millis(300))
        .await
        .unwrap()
        .is_empty());
    consumer.delete(&got[0].receipt).await.unwrap();
}

fn at(offset: chrono::Duration) -> switchboard_core::domain::time::Timestamp {
    // Whole milliseconds: stored times keep microseconds, and the test compares records.
    let t = now() - offset;
    t - chrono::Duration::nanoseconds(i64::from(t.timestamp_subsec_nanos() % 1_000_000))
}

fn hours(h: i64) -> chrono::Duration {
    chrono::Duration::hours(h)
}

fn minutes(m: i64) -> chrono::Duration {
    chrono::Duration::minutes(m)
}

fn event_at(id: &str, source: &str, call: Option<&str>, ago: chrono::Duration) -> StoredEvent {
    let mut e = event(id, call);
    e.envelope.source = source.into();
    e.envelope.received_at = at(ago);
    e
}

fn attempt_at(
    event_id: &str,
    sub: &str,
    n: u32,
    status: AttemptStatus,
    call: Option<&str>,
    ago: chrono::Duration,
) -> Attempt {
    let mut a = attempt(event_id, sub, n, status);
    a.call_id = call.map(str::to_owned);
    a.attempted_at = at(ago);
    a
}

/// Reads every page (at most `limit` items each, only the last may be empty); returns the
/// ids of what was listed, in order.
async fn all_pages<T, F, Fut>(limit: usize, mut read: F, id: impl Fn(&T) -> String) -> Vec<String>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<switchboard_core::ports::Page<T>, StoreError>>,
{
    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..50 {
        let page = read(PageRequest { limit, cursor }).await.unwrap();
        assert!(page.items.len() <= limit);
        if page.items.is_empty() {
            assert!(page.next_cursor.is_none(), "an empty page must be the last");
        }
        seen.extend(page.items.iter().map(&id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return seen,
        }
    }
    panic!("more than 50 pages");
}

async fn queries_contract(ports: &Ports) {
    use switchboard_core::ports::{DeliveryQuery as D, EventQuery as E, TimeRange};
    let expires = now() + chrono::Duration::days(60);
    // Given four events over three hours, two sources, two calls
    for e in [
        event_at("evt_q1", "src-a", Some("c1"), hours(3)),
        event_at("evt_q2", "src-a", Some("c2"), hours(2)),
        event_at("evt_q3", "src-b", Some("c1"), hours(1)),
        event_at("evt_q4", "src-a", None, minutes(30)),
    ] {
        ports.events.put(&e, expires).await.unwrap();
    }
    let eq = &ports.event_queries;
    let events = |q: E, limit: usize| {
        let eq = eq.clone();
        async move {
            all_pages(
                limit,
                |p| {
                    let q = q.clone();
                    let eq = eq.clone();
                    async move { eq.query_events(&q, &p).await }
                },
                |e: &switchboard_core::domain::Envelope| e.id.clone(),
            )
            .await
        }
    };
    let open = TimeRange::default();
    let src_a = E::Source {
        source: "src-a".into(),
        range: open,
    };
    // Then listings by source and by call are newest first, in pages of any size
    for limit in [1, 2, 100] {
        assert_eq!(
            events(src_a.clone(), limit).await,
            ["evt_q4", "evt_q2", "evt_q1"]
        );
    }
    let window = TimeRange {
        since: Some(at(minutes(150))),
        until: Some(at(minutes(45))),
    };
    assert_eq!(
        events(
            E::Source {
                source: "src-a".into(),
                range: window
            },
            10
        )
        .await,
        ["evt_q2"]
    );
    assert_eq!(
        events(
            E::Call {
                call_id: "c1".into(),
                range: open
            },
            1
        )
        .await,
        ["evt_q3", "evt_q1"]
    );
    assert!(events(
        E::Source {
            source: "nope".into(),
            range: open
        },
        10
    )
    .await
    .is_empty());
    // And a listed envelope is the stored one, without the raw request
    let first = eq
        .query_events(
            &src_a,
            &PageRequest {
                limit: 1,
                cursor: None,
            },
        )
        .await
        .unwrap();
    let stored = ports.events.get("evt_q4").await.unwrap().unwrap();
    assert_eq!(first.items, vec![stored.envelope]);
    // And a cursor only works for the query that handed it out
    let cursor = first.next_cursor.clone().unwrap();
    let other = E::Call {
        call_id: "c1".into(),
        range: open,
    };
    for bad in [cursor.as_str(), "garbage", ""] {
        let r = eq
            .query_events(
                &other,
                &PageRequest {
                    limit: 1,
                    cursor: Some(bad.into()),
                },
            )
            .await;
        assert!(matches!(r, Err(StoreError::InvalidCursor)), "{bad:?}");
    }

    // Given attempts over three days (and one 40 days old) of stored events (dispatch
    // stores an event before its attempts; a call's attempts may be found through them)
    for e in [
        event_at("evt_1", "src-a", Some("c1"), hours(50)),
        event_at("evt_2", "src-a", Some("c2"), hours(2)),
        event_at("evt_3", "src-b", None, hours(1)),
        event_at("evt_old", "src-a", Some("c2"), hours(40 * 24)),
    ] {
        ports.events.put(&e, expires).await.unwrap();
    }
    use AttemptStatus::*;
    for a in [
        attempt_at("evt_1", "sub_a", 1, Retrying, Some("c1"), hours(50)),
        attempt_at("evt_1", "sub_a", 2, Succeeded, Some("c1"), hours(49)),
        attempt_at("evt_1", "sub_b", 1, Exhausted, Some("c1"), hours(3)),
        attempt_at("evt_2", "sub_a", 1, Failed, Some("c2"), hours(2)),
        attempt_at("evt_3", "sub_b", 1, Succeeded, None, hours(1)),
        attempt_at("evt_old", "sub_a", 1, Failed, Some("c2"), hours(40 * 24)),
    ] {
        ports.deliveries.record(&a, expires).await.unwrap();
    }
    let dq = &ports.delivery_queries;
    let deliveries = |q: D, limit: usize| {
        let dq = dq.clone();
        async move {
            all_pages(
                limit,
                |p| {
                    let q = q.clone();
                    let dq = dq.clone();
                    async move { dq.query_deliveries(&q, &p).await }
                },
                |a: &Attempt| format!("{}/{}/{}", a.event_id, a.subscription_id, a.attempt),
            )
            .await
        }
    };
    let sub_a = D::Subscription {
        subscription_id: "sub_a".into(),
        status: None,
        range: open,
    };
    for limit in [1, 2, 100] {
        // Attempts of an event in key order, optionally of one subscription
        assert_eq!(
            deliveries(
                D::Event {
                    event_id: "evt_1".into(),
                    subscription_id: None
                },
                limit
            )
            .await,
            ["evt_1/sub_a/1", "evt_1/sub_a/2", "evt_1/sub_b/1"]
        );
        // By subscription, newest first
        assert_eq!(
            deliveries(sub_a.clone(), limit).await,
            [
                "evt_2/sub_a/1",
                "evt_1/sub_a/2",
                "evt_1/sub_a/1",
                "evt_old/sub_a/1"
            ]
        );
        // The most recent, across day buckets, within the default window
        assert_eq!(
            deliveries(D::Recent { range: open }, limit).await,
            [
                "evt_3/sub_b/1",
                "evt_2/sub_a/1",
                "evt_1/sub_b/1",
                "evt_1/sub_a/2",
                "evt_1/sub_a/1"
            ]
        );
    }
    assert_eq!(
        deliveries(
            D::Event {
                event_id: "evt_1".into(),
                subscription_id: Some("sub_a".into())
            },
            1
        )
        .await,
        ["evt_1/sub_a/1", "evt_1/sub_a/2"]
    );
    let since_49h30 = TimeRange {
        since: Some(at(minutes(49 * 60 + 30))),
        until: None,
    };
    assert_eq!(
        deliveries(
            D::Subscription {
                subscription_id: "sub_a".into(),
                status: None,
                range: since_49h30
            },
            10
        )
        .await,
        ["evt_2/sub_a/1", "evt_1/sub_a/2"]
    );
    assert_eq!(
        deliveries(
            D::Subscription {
                subscription_id: "sub_a".into(),
                status: Some(Failed),
                range: open
            },
            1
        )
        .await,
        ["evt_2/sub_a/1", "evt_old/sub_a/1"]
    );
    // By call, optionally of one status
    assert_eq!(
        deliveries(
            D::Call {
                call_id: "c1".into(),
                status: None,
                range: open
            },
            2
        )
        .await,
        ["evt_1/sub_b/1", "evt_1/sub_a/2", "evt_1/sub_a/1"]
    );
    assert_eq!(
        deliveries(
            D::Call {
                call_id: "c1".into(),
                status: Some(Succeeded),
                range: open
            },
            2
        )
        .await,
        ["evt_1/sub_a/2"]
    );
    // By status over a time range
    assert_eq!(
        deliveries(
            D::Status {
                status: Failed,
                range: open
            },
            1
        )
        .await,
        ["evt_2/sub_a/1", "evt_old/sub_a/1"]
    );
    // Successes too (stores may list them from another index than failures)
    assert_eq!(
        deliveries(
            D::Status {
                status: Succeeded,
                range: open
            },
            1
        )
        .await,
        ["evt_3/sub_b/1", "evt_1/sub_a/2"]
    );
    let until_10d = TimeRange {
        since: None,
        until: Some(at(hours(240))),
    };
    assert_eq!(
        deliveries(
            D::Status {
                status: Failed,
                range: until_10d
            },
            10
        )
        .await,
        ["evt_old/sub_a/1"]
    );
    assert!(deliveries(
        D::Status {
            status: Exhausted,
            range: until_10d
        },
        10
    )
    .await
    .is_empty());
    // Recent reaches older days when asked to
    let since_41d = TimeRange {
        since: Some(at(hours(41 * 24))),
        until: Some(at(hours(48))),
    };
    assert_eq!(
        deliveries(D::Recent { range: since_41d }, 2).await,
        ["evt_1/sub_a/2", "evt_1/sub_a/1", "evt_old/sub_a/1"]
    );
    // A listed attempt is the recorded one
    let exhausted = attempt_at("evt_q5", "sub_z", 1, Exhausted, None, hours(5));
    ports.deliveries.record(&exhausted, expires).await.unwrap();
    let page = dq
        .query_deliveries(
            &D::Subscription {
                subscription_id: "sub_z".into(),
                status: None,
                range: open,
            },
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(page.items, vec![exhausted]);
    // A cursor only works for the query that handed it out
    let first = dq
        .query_deliveries(
            &sub_a,
            &PageRequest {
                limit: 1,
                cursor: None,
            },
        )
        .await
        .unwrap();
    let cursor = first.next_cursor.unwrap();
    for q in [
        D::Status {
            status: Failed,
            range: open,
        },
        D::Subscription {
            subscription_id: "sub_b".into(),
            status: None,
            range: open,
        },
        D::Recent { range: open },
        D::Event {
            event_id: "evt_1".into(),
            subscription_id: None,
        },
    ] {
        let r = dq
            .query_deliveries(
                &q,
                &PageRequest {
                    limit: 1,
                    cursor: Some(cursor.clone()),
                },
            )
            .await;
        assert!(matches!(r, Err(StoreError::InvalidCursor)), "{q:?}");
    }
    // An empty range lists nothing
    let empty = TimeRange {
        since: Some(at(hours(1))),
        until: Some(at(hours(2))),
    };
    assert!(deliveries(D::Recent { range: empty }, 10).await.is_empty());
}

/// Flow control state: lanes sorted by order, one lease at a time, leaving; rate slots
/// reserved in blocks one after the other, pauses that only move the schedule later. And
/// the waits it leads to are recorded and listed like attempts (attempt 0).
///
/// `atomic`: whether the store's conditional writes are atomic under concurrency. DynamoDB's
/// are; the emulator's are not (of eight concurrent `attribute_not_exists` updates of one
/// item, two can succeed), so concurrent reservations are checked on memory and SQLite only.
async fn flow_store_contract(ports: &Ports, atomic: bool) {
    use switchboard_core::ports::flow::{LaneEntry, LaneKey, Lease, SlotBlock};
    let flow = &ports.flow;
    let t0 = now();
    let ms = |n: i64| t0 + chrono::Duration::milliseconds(n);
    let lease = |now, until| Lease { now, until };
    let block = |count, spacing, now| SlotBlock {
        count,
        spacing,
        now,
    };
    let sub = format!("sub_flow_{}", t0.timestamp_micros());
    let lane = LaneKey {
        subscription_id: sub.clone(),
        call_id: "call-1".into(),
    };
    let entry = |order: &str, id: &str| LaneEntry {
        order: order.into(),
        event_id: id.into(),
        received_at: ms(0),
        lease_until: None,
        expires_at: ms(86_400_000),
    };
    // Given three entries joined out of order
    for (order, id) in [
        ("0002#b", "evt_b"),
        ("0001#a", "evt_a"),
        ("0003#c", "evt_c"),
    ] {
        flow.lane_join(&lane, &entry(order, id)).await.unwrap();
    }
    // Then the lane lists them by order; other lanes are apart
    let ids = |entries: Vec<LaneEntry>| entries.into_iter().map(|e| e.event_id).collect::<Vec<_>>();
    assert_eq!(
        ids(flow.lane_entries(&lane).await.unwrap()),
        ["evt_a", "evt_b", "evt_c"]
    );
    let long = LaneKey {
        subscription_id: sub.clone(),
        call_id: "x".repeat(3000),
    };
    assert!(flow.lane_entries(&long).await.unwrap().is_empty());
    flow.lane_join(&long, &entry("0001#z", "evt_z"))
        .await
        .unwrap();
    assert_eq!(ids(flow.lane_entries(&long).await.unwrap()), ["evt_z"]);
    // One lease at a time, until it ends; none on an entry that is not there
    assert!(flow
        .lane_lease(&lane, "0001#a", lease(ms(0), ms(1000)))
        .await
        .unwrap());
    assert!(!flow
        .lane_lease(&lane, "0001#a", lease(ms(500), ms(2000)))
        .await
        .unwrap());
    assert!(flow
        .lane_lease(&lane, "0001#a", lease(ms(1000), ms(3000)))
        .await
        .unwrap());
    assert!(!flow
        .lane_lease(&lane, "0009#nope", lease(ms(0), ms(1000)))
        .await
        .unwrap());
    let listed = flow.lane_entries(&lane).await.unwrap();
    assert_eq!(
        listed[0].lease_until.map(|t| t.timestamp_millis()),
        Some(ms(3000).timestamp_millis())
    );
    assert_eq!(
        listed[0].received_at.timestamp_millis(),
        ms(0).timestamp_millis()
    );
    // Joining again replaces the entry (a lease given back)
    flow.lane_join(&lane, &entry("0001#a", "evt_a"))
        .await
        .unwrap();
    assert_eq!(flow.lane_entries(&lane).await.unwrap()[0].lease_until, None);
    // Leaving removes it, and leaving twice is no error
    flow.lane_leave(&lane, "0001#a").await.unwrap();
    flow.lane_leave(&lane, "0001#a").await.unwrap();
    assert_eq!(
        ids(flow.lane_entries(&lane).await.unwrap()),
        ["evt_b", "evt_c"]
    );
    // An expired entry is not listed
    let mut old = entry("0000#old", "evt_old");
    old.expires_at = ms(-1000);
    flow.lane_join(&lane, &old).await.unwrap();
    assert_eq!(
        ids(flow.lane_entries(&lane).await.unwrap()),
        ["evt_b", "evt_c"]
    );

    // Rate slots: blocks follow each other, none before now
    let step = Duration::from_millis(100);
    let at = |t: Timestamp| t.timestamp_millis() - t0.timestamp_millis();
    assert_eq!(
        at(flow.reserve(&sub, block(1, step, ms(0))).await.unwrap()),
        0
    );
    assert_eq!(
        at(flow.reserve(&sub, block(3, step, ms(0))).await.unwrap()),
        100
    );
    assert_eq!(
        at(flow.reserve(&sub, block(1, step, ms(50))).await.unwrap()),
        400
    );
    assert_eq!(
        at(flow.reserve(&sub, block(1, step, ms(9000))).await.unwrap()),
        9000
    );
    // A pause moves the schedule later, never earlier
    flow.pause(&sub, ms(20_000)).await.unwrap();
    flow.pause(&sub, ms(15_000)).await.unwrap();
    assert_eq!(
        at(flow.reserve(&sub, block(1, step, ms(9500))).await.unwrap()),
        20_000
    );
    // Concurrent reservations never share a slot
    if !atomic {
        return flow_waits_contract(ports, &sub).await;
    }
    let other = format!("{sub}_race");
    let slots =
        futures::future::join_all((0..8).map(|_| flow.reserve(&other, block(2, step, ms(0)))))
            .await;
    let mut firsts: Vec<i64> = slots.into_iter().map(|r| at(r.unwrap())).collect();
    firsts.sort();
    assert_eq!(firsts, (0..8).map(|i| i * 200).collect::<Vec<_>>());
    flow_waits_contract(ports, &sub).await;
}

async fn flow_waits_contract(ports: &Ports, sub: &str) {
    // A wait is recorded as attempt 0 with its status and what it waits behind
    let mut held = attempt("evt_held", sub, 0, AttemptStatus::Held);
    held.held_behind = Some("evt_first".into());
    held.http_status = None;
    let expires = now() + chrono::Duration::days(1);
    ports.deliveries.record(&held, expires).await.unwrap();
    let listed = ports
        .deliveries
        .list_by_event("evt_held", &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(listed.items, vec![held.clone()]);
    let by_status = ports
        .delivery_queries
        .query_deliveries(
            &switchboard_core::ports::DeliveryQuery::Subscription {
                subscription_id: sub.to_owned(),
                status: Some(AttemptStatus::Held),
                range: Default::default(),
            },
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(by_status.items, vec![held]);
}

mod memory {
    use super::*;

    #[tokio::test]
    async fn dead_letters() {
        let q = Arc::new(MemoryQueue::new(Duration::from_secs(1), 2));
        dead_letter_contract(q.clone(), q.clone(), q).await;
    }

    #[tokio::test]
    async fn queries() {
        let ports = memory_ports();
        queries_contract(&ports).await;
    }

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
        claim_and_send_contract(&memory_ports(), None).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn attempt_writers_race() {
        attempt_race_contract(&memory_ports(), true).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn subscription_writers_race() {
        subscription_race_contract(&memory_ports(), true).await;
    }

    #[tokio::test]
    async fn flow() {
        flow_store_contract(&memory_ports(), true).await;
    }
}

mod emulator {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;
    use switchboard_core::adapters::aws::{shards, SqsDeadLetterQueue};

    #[tokio::test]
    async fn dead_letters() {
        let sdk = aws::sdk().await;
        let (queue_url, dlq_url) = aws::queue_with_dlq(&sdk, 1, 2).await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let q = Arc::new(SqsQueue::new(sqs.clone(), &queue_url));
        let dlq = Arc::new(SqsDeadLetterQueue::new(sqs, Some(dlq_url), &queue_url));
        dead_letter_contract(q.clone(), q, dlq).await;
    }

    /// The event and delivery queries, on stores whose client fails any Scan and records
    /// every DynamoDB operation: each listing must be a Query on a key or an index.
    #[tokio::test]
    async fn queries_use_keys_and_indexes_never_scans() {
        let sdk = aws::sdk().await;
        let names = aws::resources(&sdk, VISIBILITY_SECS).await;
        let recorder = crate::support::no_scan::OperationRecorder::default();
        let client = recorder.client(&sdk);
        let mut ports = Ports::aws(&sdk, &names);
        let events = Arc::new(DynamoEventStore::new(client.clone(), &names.events_table));
        let deliveries = Arc::new(DynamoDeliveryStore::new(
            client,
            &names.deliveries_table,
            &names.events_table,
        ));
        ports.events = events.clone();
        ports.event_queries = events;
        ports.deliveries = deliveries.clone();
        ports.delivery_queries = deliveries;
        queries_contract(&ports).await;
        let ops = recorder.operations();
        // The recorder does refuse a scan (so the assertion below means something)
        let scan = recorder
            .client(&sdk)
            .scan()
            .table_name(&names.deliveries_table)
            .send()
            .await;
        assert!(scan.is_err());
        assert!(ops.iter().any(|o| o == "Query"), "{ops:?}");
        assert!(!ops.iter().any(|o| o == "Scan"), "{ops:?}");
    }

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

    /// An event item written before the payload was stored once (the whole event as JSON in
    /// `doc`) still reads, by id and in the source and call listings.
    #[tokio::test]
    async fn events_of_the_first_layout_still_read() {
        let sdk = aws::sdk().await;
        let names = aws::resources(&sdk, VISIBILITY_SECS).await;
        let ports = Ports::aws(&sdk, &names);
        let e = event("evt_first_layout", Some("call-first"));
        let received_at = switchboard_core::domain::time::sortable(&e.envelope.received_at);
        let item = [
            ("id", e.envelope.id.clone()),
            ("source", e.envelope.source.clone()),
            (
                "source_shard",
                shards::shard_key(&e.envelope.source, &e.envelope.id, shards::SOURCE_SHARDS),
            ),
            ("received_at", received_at.clone()),
            ("received_key", format!("{received_at}#{}", e.envelope.id)),
            ("call_id", "call-first".to_owned()),
            ("doc", serde_json::to_string(&e).unwrap()),
        ];
        aws_sdk_dynamodb::Client::new(&sdk)
            .put_item()
            .table_name(&names.events_table)
            .set_item(Some(
                item.into_iter()
                    .map(|(k, v)| (k.to_owned(), AttributeValue::S(v)))
                    .collect(),
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(
            ports.events.get("evt_first_layout").await.unwrap(),
            Some(e.clone())
        );
        use switchboard_core::ports::{EventQuery, TimeRange};
        for query in [
            EventQuery::Source {
                source: e.envelope.source.clone(),
                range: TimeRange::default(),
            },
            EventQuery::Call {
                call_id: "call-first".into(),
                range: TimeRange::default(),
            },
        ] {
            let page = ports
                .event_queries
                .query_events(
                    &query,
                    &PageRequest {
                        limit: 10,
                        cursor: None,
                    },
                )
                .await
                .unwrap();
            assert_eq!(page.items, vec![e.envelope.clone()], "{query:?}");
        }
    }

    #[tokio::test]
    async fn dedup() {
        dedup_contract(&aws_ports().await).await;
        claim_and_send_contract(&aws_ports().await, None).await;
    }

    /// A claim written before claims had states (no `queued`, no `claimed_at_ms`) was
    /// written for an event that was queued (or it was released): it stays a duplicate.
    #[tokio::test]
    async fn dedup_claims_without_a_state_count_as_queued() {
        let sdk = aws::sdk().await;
        let names = aws::resources(&sdk, VISIBILITY_SECS).await;
        let expires = now() + chrono::Duration::hours(1);
        aws_sdk_dynamodb::Client::new(&sdk)
            .put_item()
            .table_name(&names.dedup_table)
            .item(
                "key",
                aws_sdk_dynamodb::types::AttributeValue::S("k-old".into()),
            )
            .item(
                "event_id",
                aws_sdk_dynamodb::types::AttributeValue::S("evt_old".into()),
            )
            .item(
                "expires_at",
                aws_sdk_dynamodb::types::AttributeValue::N(expires.timestamp().to_string()),
            )
            .send()
            .await
            .unwrap();
        let ports = Ports::aws(&sdk, &names);
        let terms = ClaimTerms {
            at: now() + chrono::Duration::seconds(30),
            ttl: Duration::from_secs(3600),
            pending_for: Duration::from_secs(1),
        };
        assert_eq!(
            ports.dedup.claim("k-old", "evt_new", terms).await.unwrap(),
            Claim::Duplicate("evt_old".into())
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn attempt_writers_race() {
        // DynamoDB evaluates a condition and writes the item as one step; moto checks and
        // writes separately, so two racing puts can both pass. The rounds run where
        // scripts/test points DynamoDB at dynalite, which serialises them as DynamoDB does.
        let serialised = std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some();
        attempt_race_contract(&aws_ports().await, serialised).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn subscription_writers_race() {
        // As attempt_writers_race: the racing rounds only where DynamoDB is dynalite.
        let serialised = std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some();
        subscription_race_contract(&aws_ports().await, serialised).await;
    }

    #[tokio::test]
    async fn flow() {
        flow_store_contract(&aws_ports().await, false).await;
    }

    /// An item written before versions existed (no `version` attribute, none in its
    /// document) is read as version 0 and updated conditionally like any other.
    #[tokio::test]
    async fn subscriptions_stored_before_versions_are_read_and_updated() {
        let sdk = aws::sdk().await;
        let names = aws::resources(&sdk, VISIBILITY_SECS).await;
        let ports = Ports::aws(&sdk, &names);
        let mut doc = serde_json::to_value(subscription("sub_old")).unwrap();
        doc.as_object_mut().unwrap().remove("version");
        aws_sdk_dynamodb::Client::new(&sdk)
            .put_item()
            .table_name(&names.subscriptions_table)
            .item("id", AttributeValue::S("sub_old".into()))
            .item("doc", AttributeValue::S(doc.to_string()))
            .send()
            .await
            .unwrap();
        let old = ports.subscriptions.get("sub_old").await.unwrap().unwrap();
        assert_eq!(old.version, 0);
        let at = now();
        let written =
            versioned::modify(ports.subscriptions.as_ref(), "sub_old", record_failure(at))
                .await
                .unwrap();
        assert!(matches!(written, Modified::Written(ref w) if w.version == 1));
        let stale = ports.subscriptions.update_if(&old, 0).await;
        assert!(matches!(stale, Err(StoreError::Stale)), "{stale:?}");
        let s = ports.subscriptions.get("sub_old").await.unwrap().unwrap();
        assert_eq!((s.version, s.failing_since), (1, Some(at)));
    }
}

mod sqlite {
    use super::*;
    use crate::support::tempdir::TempDir;
    use switchboard_core::adapters::sqlite::{Db, SqliteQueue, SyncMode, DB_FILE};

    /// A store in a fresh directory (kept alive by the returned guard).
    fn queue() -> (TempDir, Arc<SqliteQueue>) {
        let dir = TempDir::new("switchboard-contract");
        let db = Db::open(&dir.path().join(DB_FILE), SyncMode::Normal).unwrap();
        let q = SqliteQueue::new(db, Duration::from_secs(VISIBILITY_SECS.into()), 5);
        (dir, Arc::new(q))
    }

    fn ports() -> (TempDir, Ports) {
        let (dir, q) = queue();
        (dir, Ports::sqlite(q))
    }

    #[tokio::test]
    async fn queries() {
        let (_dir, ports) = ports();
        queries_contract(&ports).await;
    }

    #[tokio::test]
    async fn queue_semantics() {
        let (_dir, q) = queue();
        queue_contract(q.clone(), q).await;
    }

    #[tokio::test]
    async fn dead_letters() {
        let dir = TempDir::new("switchboard-contract");
        let db = Db::open(&dir.path().join(DB_FILE), SyncMode::Normal).unwrap();
        let q = Arc::new(SqliteQueue::new(db, Duration::from_secs(1), 2));
        dead_letter_contract(q.clone(), q.clone(), q).await;
    }

    /// The queue as `serve` runs it: events stored with their messages, messages handed to
    /// this process's consumers as sent.
    fn serve_queue(visibility: Duration, max_receives: u32) -> (TempDir, Arc<SqliteQueue>) {
        let dir = TempDir::new("switchboard-contract");
        let db = Db::open(&dir.path().join(DB_FILE), SyncMode::Normal).unwrap();
        let q = SqliteQueue::new(db, visibility, max_receives)
            .storing_events(Duration::from_secs(86_400))
            .with_handoff();
        (dir, Arc::new(q))
    }

    #[tokio::test]
    async fn queue_semantics_as_serve_runs_it() {
        let (_dir, q) = serve_queue(Duration::from_secs(VISIBILITY_SECS.into()), 5);
        queue_contract(q.clone(), q).await;
    }

    #[tokio::test]
    async fn dead_letters_as_serve_runs_it() {
        let (_dir, q) = serve_queue(Duration::from_secs(1), 2);
        dead_letter_contract(q.clone(), q.clone(), q).await;
    }

    #[tokio::test]
    async fn claim_and_send_as_serve_runs_it() {
        let (_dir, q) = serve_queue(Duration::from_secs(VISIBILITY_SECS.into()), 5);
        claim_and_send_contract(&Ports::sqlite(q.clone()), Some(q.as_ref())).await;
    }

    #[tokio::test]
    async fn sources() {
        let (_dir, ports) = ports();
        source_store_contract(&ports).await;
    }

    #[tokio::test]
    async fn events() {
        let (_dir, ports) = ports();
        event_store_contract(&ports).await;
    }

    #[tokio::test]
    async fn deliveries() {
        let (_dir, ports) = ports();
        delivery_store_contract(&ports).await;
    }

    #[tokio::test]
    async fn dedup() {
        let (_dir, ports) = ports();
        dedup_contract(&ports).await;
    }

    #[tokio::test]
    async fn claim_and_send() {
        let (_dir, q) = queue();
        claim_and_send_contract(&Ports::sqlite(q.clone()), Some(q.as_ref())).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn attempt_writers_race() {
        let (_dir, ports) = ports();
        attempt_race_contract(&ports, true).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn subscription_writers_race() {
        let (_dir, ports) = ports();
        subscription_race_contract(&ports, true).await;
    }

    #[tokio::test]
    async fn flow() {
        let (_dir, ports) = ports();
        flow_store_contract(&ports, true).await;
    }
}
