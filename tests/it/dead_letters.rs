//! Dead letters end to end: an event whose message keeps failing (the events store down for
//! longer than the queue's receive limit) ends in the dead-letter queue, is listed by
//! `GET /admin/dead-letters` with its event id and type, is sent back by
//! `POST /admin/dead-letters/redrive`, and, the store back, is delivered exactly once. On
//! serve's queues (memory and SQLite, with serve's poller) and on SQS with a DLQ (the
//! emulator, dispatch as Lambda's event source mapping runs it).

use crate::support::{self, aws, lambda, sink::Sink, HIPCALL_CALL_HANGUP};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::adapters::aws::SqsQueue;
use switchboard_core::adapters::memory::MemoryQueue;
use switchboard_core::dispatch::{poller, Dispatcher};
use switchboard_core::domain::time::Timestamp;
use switchboard_core::domain::StoredEvent;
use switchboard_core::error::{StoreError, StoreResult};
use switchboard_core::ports::{EventStore, QueueConsumer};
use switchboard_core::state::{Compose, Ports};
use tokio::sync::watch;

/// The events store, failing every write while `down`.
struct FlakyEvents {
    inner: Arc<dyn EventStore>,
    down: AtomicBool,
}

#[async_trait]
impl EventStore for FlakyEvents {
    async fn put(&self, event: &StoredEvent, expires_at: Timestamp) -> StoreResult<()> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("test: events store down".into()));
        }
        self.inner.put(event, expires_at).await
    }
    async fn get(&self, id: &str) -> StoreResult<Option<StoredEvent>> {
        self.inner.get(id).await
    }
    fn max_event_bytes(&self) -> Option<usize> {
        self.inner.max_event_bytes()
    }
}

/// `ports` with its events store down until the returned switch says otherwise.
fn with_flaky_events(mut ports: Ports) -> (Ports, Arc<FlakyEvents>) {
    let flaky = Arc::new(FlakyEvents {
        inner: ports.events.clone(),
        down: AtomicBool::new(true),
    });
    ports.events = flaky.clone();
    (ports, flaky)
}

/// The scenario, over ports whose dispatch loop `start` runs until its sender says stop.
async fn poison_is_listed_redriven_and_delivered_once(
    ports: Ports,
    start: impl FnOnce(Arc<Dispatcher>, watch::Receiver<bool>) -> tokio::task::JoinHandle<()>,
) {
    // Given a subscriber and an events store that is down
    let (ports, flaky) = with_flaky_events(ports);
    let app = support::app(ports.clone());
    support::create_source(&app, "hipcall-main", "hipcall").await;
    let sink = Sink::start().await;
    support::create_subscription(
        &app,
        json!({"url": sink.url("/crm"), "event_types": ["call.ended"]}),
    )
    .await;
    let dispatcher =
        Arc::new(Dispatcher::from_settings(ports.clone(), support::settings()).unwrap());
    let (stop, stopped) = watch::channel(false);
    let running = start(dispatcher, stopped);

    // When an event is accepted while the store is down
    let (status, accepted) =
        support::post_json(&app, "/hooks/hipcall-main", HIPCALL_CALL_HANGUP).await;
    assert_eq!(status, 202, "{accepted}");
    let event_id = accepted["id"].as_str().unwrap().to_owned();

    // Then its message fails until the queue dead-letters it, and the listing shows it
    let mut listed = Value::Null;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut dead = false;
    while !dead && tokio::time::Instant::now() < deadline {
        let (status, page) = support::get(&app, "/admin/dead-letters").await;
        assert_eq!(status, 200, "{page}");
        dead = page["items"].as_array().is_some_and(|i| !i.is_empty());
        listed = page;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(dead, "nothing dead-lettered: {listed}");
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    let item = &items[0];
    assert_eq!(item["kind"], "event");
    assert_eq!(item["event_id"], event_id.as_str());
    assert_eq!(item["event_type"], "call.ended");
    assert!(item["receive_count"].as_u64().unwrap() >= 2, "{item}");
    assert!(item.get("reason").is_none(), "{item}");
    assert!(item["body"].as_str().unwrap().contains(&event_id));
    assert_eq!(sink.count(), 0);

    // When the store is back and the dead letter is redriven by id
    flaky.down.store(false, Ordering::SeqCst);
    let message_id = item["message_id"].as_str().unwrap();
    let (status, report) = support::post_json(
        &app,
        "/admin/dead-letters/redrive",
        json!({"ids": [message_id]}).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["count"], 1);

    // Then the event is delivered, once, and nothing is left dead
    assert!(support::eventually(30, || async { sink.count() >= 1 }).await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sink.count(), 1);
    let (_, page) = support::get(&app, "/admin/dead-letters").await;
    assert_eq!(page["items"], json!([]), "{page}");
    let (_, attempts) = support::get(&app, &format!("/admin/deliveries?event_id={event_id}")).await;
    let attempts = attempts["items"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0]["status"], "succeeded");

    let _ = stop.send(true);
    running.await.unwrap();
}

/// serve's dispatch loop over a local queue.
fn poll(
    consumer: Arc<dyn QueueConsumer>,
) -> impl FnOnce(Arc<Dispatcher>, watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    move |dispatcher, stopped| tokio::spawn(poller::run(dispatcher, consumer, stopped))
}

#[tokio::test]
async fn serve_in_memory_dead_letter_is_listed_redriven_and_delivered_once() {
    let queue = Arc::new(MemoryQueue::new(Duration::from_millis(300), 2));
    poison_is_listed_redriven_and_delivered_once(Ports::in_memory(queue.clone()), poll(queue))
        .await;
}

#[tokio::test]
async fn serve_durable_dead_letter_is_listed_redriven_and_delivered_once() {
    use switchboard_core::adapters::sqlite::{Db, SqliteQueue, SyncMode, DB_FILE};
    let dir = support::tempdir::TempDir::new("switchboard-dead-letters");
    let db = Db::open(&dir.path().join(DB_FILE), SyncMode::Normal).unwrap();
    let queue = Arc::new(SqliteQueue::new(db, Duration::from_millis(300), 2));
    poison_is_listed_redriven_and_delivered_once(Ports::sqlite(queue.clone()), poll(queue)).await;
}

#[tokio::test]
async fn sqs_dead_letter_is_listed_redriven_and_delivered_once() {
    // The events queue dead-letters after 2 receipts (the template's redrive policy, smaller)
    let sdk = aws::sdk().await;
    let names = aws::resources_with_dlq(&sdk, 1, 2).await;
    let consumer = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &names.queue_url);
    let start = move |dispatcher: Arc<Dispatcher>, stopped: watch::Receiver<bool>| {
        tokio::spawn(async move {
            while !*stopped.borrow() {
                lambda::dispatch_round(&dispatcher, &consumer, Duration::from_secs(1)).await;
            }
        })
    };
    poison_is_listed_redriven_and_delivered_once(Ports::aws(&sdk, &names), start).await;
}
