//! Flow control through the ports, on each adapter family (memory, SQLite, AWS on the
//! emulator): call ordering (holding, windows, crashes while held) and rate limits
//! (shared by dispatchers, 429 pauses), measured at a real 127.0.0.1 sink.

use crate::support::sink::{Captured, Reply, Sink};
use crate::support::{self, aws, tempdir::TempDir};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard_core::adapters::aws::SqsQueue;
use switchboard_core::adapters::memory::MemoryQueue;
use switchboard_core::adapters::sqlite::{Db, SqliteQueue, SyncMode, DB_FILE};
use switchboard_core::dispatch::{BatchRecord, Dispatcher};
use switchboard_core::domain::attempt::AttemptStatus;
use switchboard_core::domain::envelope::{CallInfo, Envelope, RawRequest, StoredEvent};
use switchboard_core::domain::time::{now, Timestamp};
use switchboard_core::domain::QueueMessage;
use switchboard_core::error::{StoreError, StoreResult};
use switchboard_core::ports::flow::{FlowStore, LaneEntry, LaneKey, Lease, SlotBlock};
use switchboard_core::ports::QueueConsumer;
use switchboard_core::state::{Compose, Ports};

const VISIBILITY: Duration = Duration::from_secs(3);

/// One adapter family's ports and the consumer side of its queue.
struct Rig {
    ports: Ports,
    consumer: Arc<dyn QueueConsumer>,
    _dir: Option<TempDir>,
}

#[derive(Clone, Copy, Debug)]
enum Family {
    Memory,
    Sqlite,
    Aws,
}

impl Family {
    async fn rig(self) -> Rig {
        match self {
            Family::Memory => {
                let q = Arc::new(MemoryQueue::new(VISIBILITY, 10));
                Rig {
                    ports: Ports::in_memory(q.clone()),
                    consumer: q,
                    _dir: None,
                }
            }
            Family::Sqlite => {
                let dir = TempDir::new("switchboard-flow");
                let db = Db::open(&dir.path().join(DB_FILE), SyncMode::Normal).unwrap();
                let q = Arc::new(SqliteQueue::new(db, VISIBILITY, 10));
                Rig {
                    ports: Ports::sqlite(q.clone()),
                    consumer: q,
                    _dir: Some(dir),
                }
            }
            Family::Aws => {
                let sdk = aws::sdk().await;
                let names = aws::resources(&sdk, VISIBILITY.as_secs() as u32).await;
                let consumer = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &names.queue_url);
                Rig {
                    ports: Ports::aws(&sdk, &names),
                    consumer: Arc::new(consumer),
                    _dir: None,
                }
            }
        }
    }
}

/// A dispatcher pumping the queue in the background (as the Lambda event source mapping
/// or `serve`'s poller would) until stopped.
struct Pump {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Pump {
    fn start(ports: Ports, consumer: Arc<dyn QueueConsumer>) -> Self {
        let dispatcher = Dispatcher::from_settings(ports, support::settings()).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            while !flag.load(Ordering::SeqCst) {
                let Ok(received) = consumer.receive(10, Duration::from_millis(200)).await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let records = received.iter().map(BatchRecord::from).collect();
                let failed = dispatcher.handle_batch(records).await;
                for m in received.iter().filter(|m| !failed.contains(&m.message_id)) {
                    let _ = consumer.delete(&m.receipt).await;
                }
            }
        });
        Self { stop, task }
    }

    async fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.unwrap();
    }
}

fn event(id: &str, call: &str, occurred_at: Option<Timestamp>) -> QueueMessage {
    QueueMessage::Event {
        event: std::sync::Arc::new(StoredEvent {
            envelope: Envelope {
                id: id.into(),
                event_type: "call.ended".into(),
                provider_event: None,
                source: "hipcall-main".into(),
                occurred_at,
                received_at: now(),
                call: Some(CallInfo {
                    id: Some(call.into()),
                    ..Default::default()
                }),
                data: Some(serde_json::json!({"n": id}).into()),
                raw_unparsed: false,
            },
            raw: RawRequest {
                method: "POST".into(),
                content_type: Some("application/json".into()),
                query: None,
                body: bytes::Bytes::from_static(b"{}"),
            },
            dedup_key: None,
        }),
    }
}

async fn send(ports: &Ports, message: &QueueMessage) {
    ports.queue.send(message, Duration::ZERO).await.unwrap();
}

async fn subscribe(ports: &Ports, sink: &Sink, fields: serde_json::Value) -> String {
    let app = support::app(ports.clone());
    let mut body = serde_json::json!({"url": sink.url("/crm"), "event_types": ["call.*"]});
    body.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    let created = support::create_subscription(&app, body).await;
    created["id"].as_str().unwrap().to_owned()
}

/// The event id a delivery carries (`webhook-id` is `<event id>_<subscription id>`).
fn event_of(c: &Captured) -> String {
    let body: serde_json::Value = serde_json::from_slice(&c.body).unwrap();
    body["id"].as_str().unwrap().to_owned()
}

fn order(sink: &Sink) -> Vec<String> {
    sink.received().iter().map(event_of).collect()
}

/// An earlier event of a call that keeps failing holds the later ones of that call (on
/// record as `held` behind it), not other calls; once exhausted it releases them.
async fn holds_a_call_behind_its_retrying_event(family: Family) {
    // Given an ordered subscription with one retry after 3 s, whose endpoint fails a1 always
    let rig = family.rig().await;
    let sink = Sink::replying(|c: &Captured, _| {
        Reply::Status(if event_of(c) == "evt_a1" { 500 } else { 200 })
    })
    .await;
    let sub = subscribe(
        &rig.ports,
        &sink,
        serde_json::json!({"ordering": "call", "retry_schedule_secs": [3]}),
    )
    .await;
    let pump = Pump::start(rig.ports.clone(), rig.consumer.clone());

    // When call A's two events and call B's one arrive, a1 first
    send(&rig.ports, &event("evt_a1", "call-a", None)).await;
    assert!(support::eventually(20, || async { sink.count() >= 1 }).await);
    send(&rig.ports, &event("evt_a2", "call-a", None)).await;
    send(&rig.ports, &event("evt_b1", "call-b", None)).await;

    // Then b1 goes while a1 retries, and a2 waits, held behind a1, until a1 is exhausted
    let delivered = |id: &'static str| {
        let sink = sink.clone();
        move || {
            let sink = sink.clone();
            async move { order(&sink).iter().any(|e| e == id) }
        }
    };
    assert!(support::eventually(20, delivered("evt_b1")).await);
    assert!(
        support::eventually(20, delivered("evt_a2")).await,
        "{:?}",
        order(&sink)
    );
    let seen = order(&sink);
    let last_a1 = seen.iter().rposition(|e| e == "evt_a1").unwrap();
    let a2 = seen.iter().position(|e| e == "evt_a2").unwrap();
    assert_eq!(
        seen.iter().filter(|e| *e == "evt_a1").count(),
        2,
        "{seen:?}"
    );
    assert!(a2 > last_a1, "a2 went before a1 was done: {seen:?}");
    assert!(
        seen.iter().position(|e| e == "evt_b1").unwrap() < last_a1,
        "{seen:?}"
    );
    // Each record is written after the sink answered: wait for a2's and a1's last.
    assert!(
        support::eventually(10, || async {
            let a1_done = support::attempts_of(&rig.ports, "evt_a1")
                .await
                .last()
                .is_some_and(|a| a.status == AttemptStatus::Exhausted);
            let a2_sent = support::attempts_of(&rig.ports, "evt_a2")
                .await
                .iter()
                .any(|a| a.attempt > 0);
            a1_done && a2_sent
        })
        .await
    );
    let a1 = support::attempts_of(&rig.ports, "evt_a1").await;
    assert_eq!(a1.last().unwrap().status, AttemptStatus::Exhausted);
    let a2_records = support::attempts_of(&rig.ports, "evt_a2").await;
    let held = a2_records.iter().find(|a| a.attempt == 0).unwrap();
    assert_eq!(held.status, AttemptStatus::Held);
    assert_eq!(held.held_behind.as_deref(), Some("evt_a1"));
    assert_eq!(held.subscription_id, sub);
    let a2_attempts: Vec<_> = a2_records.iter().filter(|a| a.attempt > 0).collect();
    assert_eq!(a2_attempts.len(), 1);
    assert_eq!(a2_attempts[0].status, AttemptStatus::Succeeded);
    // The log lists held deliveries by status too.
    let app = support::app(rig.ports.clone());
    let (status, listed) = support::get(
        &app,
        &format!("/admin/deliveries?subscription_id={sub}&status=held"),
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    assert!(listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["event_id"] == "evt_a2" && a["held_behind"] == "evt_a1"));
    pump.stop().await;
}

/// Within the window, events go by `occurred_at`; outside it, by arrival.
async fn window_orders_by_occurred_at_then_arrival(family: Family) {
    let rig = family.rig().await;
    let sink = Sink::start().await;
    subscribe(
        &rig.ports,
        &sink,
        // A wide window: the two sends below must both land inside it even when the
        // emulator answers slowly on a loaded machine.
        serde_json::json!({"ordering": "call", "ordering_window_ms": 3000}),
    )
    .await;
    let pump = Pump::start(rig.ports.clone(), rig.consumer.clone());
    let t0: Timestamp = "2026-11-29T10:00:00Z".parse().unwrap();
    let at = |secs: i64| Some(t0 + chrono::Duration::seconds(secs));

    // Within the window: the end (occurred later) arrives 100 ms before the start
    send(&rig.ports, &event("evt_c_end", "call-c", at(5))).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    send(&rig.ports, &event("evt_c_start", "call-c", at(1))).await;
    // Outside it: the start arrives after the end's window has passed
    send(&rig.ports, &event("evt_d_end", "call-d", at(5))).await;
    let d_end_sent = {
        let sink = sink.clone();
        move || {
            let sink = sink.clone();
            async move { order(&sink).iter().any(|e| e == "evt_d_end") }
        }
    };
    assert!(support::eventually(20, d_end_sent).await);
    send(&rig.ports, &event("evt_d_start", "call-d", at(1))).await;

    assert!(support::eventually(20, || async { sink.count() >= 4 }).await);
    let seen = order(&sink);
    let pos = |id: &str| seen.iter().position(|e| e == id).unwrap();
    assert!(pos("evt_c_start") < pos("evt_c_end"), "{seen:?}");
    assert!(pos("evt_d_end") < pos("evt_d_start"), "{seen:?}");
    assert_eq!(seen.len(), 4, "{seen:?}");
    // The window's wait is on record as held (attempt 0), not as an attempt.
    let waits = support::attempts_of(&rig.ports, "evt_c_end").await;
    assert!(waits
        .iter()
        .any(|a| a.attempt == 0 && a.status == AttemptStatus::Held));
    pump.stop().await;
}

/// The sustained rate of `times` (sorted): deliveries after the first per second.
fn sustained_rate(times: &[Instant]) -> f64 {
    let span = times[times.len() - 1] - times[0];
    (times.len() - 1) as f64 / span.as_secs_f64()
}

/// 200 events to a 20/s subscription through two dispatchers: at the sink no more than the
/// limit sustained, every event exactly once, one attempt each on record.
async fn rate_limit_is_shared_by_dispatchers(family: Family) {
    let rig = family.rig().await;
    let sink = Sink::start().await;
    let sub = subscribe(
        &rig.ports,
        &sink,
        serde_json::json!({"rate_limit_per_second": 20}),
    )
    .await;
    let ids: Vec<String> = (0..200).map(|i| format!("evt_r{i:03}")).collect();
    for (i, id) in ids.iter().enumerate() {
        send(&rig.ports, &event(id, &format!("call-{i}"), None)).await;
    }
    let pumps = [
        Pump::start(rig.ports.clone(), rig.consumer.clone()),
        Pump::start(rig.ports.clone(), rig.consumer.clone()),
    ];
    assert!(
        support::eventually(60, || async { sink.count() >= 200 }).await,
        "{} of 200 delivered",
        sink.count()
    );
    // Anything further (a double send) would show within a second.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for p in pumps {
        p.stop().await;
    }
    let got = sink.received();
    assert_eq!(got.len(), 200);
    let mut per_event: HashMap<String, usize> = HashMap::new();
    for c in &got {
        *per_event.entry(event_of(c)).or_default() += 1;
    }
    assert_eq!(per_event.len(), 200);
    assert!(per_event.values().all(|n| *n == 1));
    let mut times: Vec<Instant> = got.iter().map(|c| c.at).collect();
    times.sort();
    let rate = sustained_rate(&times);
    eprintln!("{family:?}: 200 deliveries at a sustained {rate:.2}/s (limit 20/s)");
    assert!(
        rate <= 20.0 * 1.05,
        "sustained {rate:.2}/s over the 20/s limit"
    );
    for id in &ids {
        let attempts: Vec<_> = support::attempts_of(&rig.ports, id)
            .await
            .into_iter()
            .filter(|a| a.attempt > 0)
            .collect();
        assert_eq!(attempts.len(), 1, "{id}: {attempts:?}");
        assert_eq!(attempts[0].status, AttemptStatus::Succeeded);
        assert_eq!(attempts[0].subscription_id, sub);
    }
}

/// A 429 with `Retry-After: 2` pauses the whole subscription, not only that delivery.
async fn too_many_requests_pauses_the_subscription(family: Family) {
    let rig = family.rig().await;
    // The third request is throttled (all go to one path, which `n` counts).
    let sink = Sink::replying(|_: &Captured, n| match n {
        2 => Reply::too_many_requests(2),
        _ => Reply::Status(200),
    })
    .await;
    subscribe(
        &rig.ports,
        &sink,
        serde_json::json!({"rate_limit_per_second": 5, "retry_schedule_secs": [1]}),
    )
    .await;
    for i in 0..8 {
        send(
            &rig.ports,
            &event(&format!("evt_p{i}"), &format!("call-{i}"), None),
        )
        .await;
    }
    let pump = Pump::start(rig.ports.clone(), rig.consumer.clone());
    // Eight successes plus the 429.
    assert!(support::eventually(30, || async { sink.count() >= 9 }).await);
    pump.stop().await;
    let got = sink.received();
    assert_eq!(got.len(), 9);
    // Timed on the dispatcher's own records: a request that took its slot before the 429's
    // answer came back may still start; none may start after that, until the pause ends.
    let mut attempts = Vec::new();
    for i in 0..8 {
        attempts.extend(
            support::attempts_of(&rig.ports, &format!("evt_p{i}"))
                .await
                .into_iter()
                .filter(|a| a.attempt > 0),
        );
    }
    assert_eq!(attempts.len(), 9, "{attempts:?}");
    let throttled = attempts
        .iter()
        .find(|a| a.http_status == Some(429))
        .expect("the 429 is on record");
    let ms = chrono::Duration::milliseconds;
    let answered = throttled.attempted_at + ms(throttled.duration_ms as i64);
    let pause_ends = throttled.attempted_at + ms(2_000);
    // Slots are 200 ms apart at 5/s: without the pause several would start in this span.
    let later: Vec<_> = attempts
        .iter()
        .filter(|a| a.attempted_at > answered + ms(150))
        .collect();
    assert!(later.len() >= 4, "{attempts:?}");
    for a in later {
        assert!(
            a.attempted_at >= pause_ends - ms(10),
            "{} started {} ms after the 429 that asked for 2 s",
            a.event_id,
            (a.attempted_at - throttled.attempted_at).num_milliseconds()
        );
    }
    let per_event: std::collections::HashSet<String> = got.iter().map(event_of).collect();
    assert_eq!(per_event.len(), 8);
}

/// A flow store that fails chosen operations once each, as a dispatcher stopping at that
/// point would leave things: the message is not done, the queue hands it out again.
struct CrashOnce {
    inner: Arc<dyn FlowStore>,
    armed: Mutex<HashMap<&'static str, usize>>,
}

impl CrashOnce {
    /// Fails the `nth` call (1-based) of each named operation.
    fn new(inner: Arc<dyn FlowStore>, plan: &[(&'static str, usize)]) -> Self {
        Self {
            inner,
            armed: Mutex::new(plan.iter().copied().collect()),
        }
    }

    fn step(&self, op: &'static str) -> StoreResult<()> {
        let mut armed = self.armed.lock().unwrap();
        if let Some(n) = armed.get_mut(op) {
            *n -= 1;
            if *n == 0 {
                armed.remove(op);
                return Err(StoreError::Unavailable(format!("crashed before {op}")));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl FlowStore for CrashOnce {
    async fn lane_join(&self, lane: &LaneKey, entry: &LaneEntry) -> StoreResult<()> {
        self.step("join")?;
        self.inner.lane_join(lane, entry).await
    }
    async fn lane_entries(&self, lane: &LaneKey) -> StoreResult<Vec<LaneEntry>> {
        self.inner.lane_entries(lane).await
    }
    async fn lane_lease(&self, lane: &LaneKey, order: &str, lease: Lease) -> StoreResult<bool> {
        self.step("lease")?;
        self.inner.lane_lease(lane, order, lease).await
    }
    async fn lane_leave(&self, lane: &LaneKey, order: &str) -> StoreResult<()> {
        self.step("leave")?;
        self.inner.lane_leave(lane, order).await
    }
    async fn reserve(&self, subscription_id: &str, block: SlotBlock) -> StoreResult<Timestamp> {
        self.inner.reserve(subscription_id, block).await
    }
    async fn pause(&self, subscription_id: &str, until: Timestamp) -> StoreResult<()> {
        self.inner.pause(subscription_id, until).await
    }
}

/// Dispatch stopping at each step of the lane's hand-over while events are held (after
/// recording a success, before leaving the lane; before taking a woken event's lease)
/// loses nothing and sends nothing twice, in order.
async fn crashes_while_held_lose_nothing_and_send_nothing_twice(family: Family) {
    let rig = family.rig().await;
    let first_try = AtomicBool::new(true);
    // e1's first attempt fails, so e2..e5 are held behind it.
    let sink = Sink::replying(move |c: &Captured, _| {
        let fail = event_of(c) == "evt_e1" && first_try.swap(false, Ordering::SeqCst);
        Reply::Status(if fail { 503 } else { 200 })
    })
    .await;
    let mut ports = rig.ports.clone();
    ports.flow = Arc::new(CrashOnce::new(
        rig.ports.flow.clone(),
        &[("leave", 1), ("lease", 3)],
    ));
    subscribe(
        &ports,
        &sink,
        serde_json::json!({"ordering": "call", "retry_schedule_secs": [1]}),
    )
    .await;
    let pump = Pump::start(ports.clone(), rig.consumer.clone());
    for i in 1..=5 {
        send(&ports, &event(&format!("evt_e{i}"), "call-e", None)).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        support::eventually(60, || async { sink.count() >= 6 }).await,
        "{:?}",
        order(&sink)
    );
    tokio::time::sleep(VISIBILITY + Duration::from_secs(1)).await;
    pump.stop().await;
    let seen = order(&sink);
    assert_eq!(
        seen,
        ["evt_e1", "evt_e1", "evt_e2", "evt_e3", "evt_e4", "evt_e5"],
        "each event once (e1 retried once), in order"
    );
    for i in 1..=5 {
        let attempts: Vec<_> = support::attempts_of(&ports, &format!("evt_e{i}"))
            .await
            .into_iter()
            .filter(|a| a.attempt > 0)
            .collect();
        assert_eq!(
            attempts.last().map(|a| a.status),
            Some(AttemptStatus::Succeeded)
        );
    }
}

macro_rules! per_family {
    ($family:ident, $ctor:expr) => {
        mod $family {
            use super::*;

            #[tokio::test]
            async fn holds_a_call_behind_its_retrying_event() {
                super::holds_a_call_behind_its_retrying_event($ctor).await;
            }

            #[tokio::test]
            async fn window_orders_by_occurred_at_then_arrival() {
                super::window_orders_by_occurred_at_then_arrival($ctor).await;
            }

            #[tokio::test]
            async fn rate_limit_is_shared_by_dispatchers() {
                super::rate_limit_is_shared_by_dispatchers($ctor).await;
            }

            #[tokio::test]
            async fn too_many_requests_pauses_the_subscription() {
                super::too_many_requests_pauses_the_subscription($ctor).await;
            }

            #[tokio::test]
            async fn crashes_while_held_lose_nothing_and_send_nothing_twice() {
                super::crashes_while_held_lose_nothing_and_send_nothing_twice($ctor).await;
            }
        }
    };
}

per_family!(memory, Family::Memory);
per_family!(sqlite, Family::Sqlite);
per_family!(aws_emulator, Family::Aws);
