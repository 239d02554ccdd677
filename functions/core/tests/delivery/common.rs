//! Test harness: in-memory ports, a dispatcher with a loopback-bound client and a stub
//! resolver, a queue that keeps what the dispatcher sends (tests play the clock by handing
//! scheduled messages back), and a delivery store that can fail on demand.

use async_trait::async_trait;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_core::adapters::memory::{MemoryDeliveryStore, MemoryQueue};
use switchboard_core::config::Settings;
use switchboard_core::delivery::client::ClientOptions;
use switchboard_core::delivery::guard::{AddressClass, Lookup, Policy, StaticLookup};
use switchboard_core::delivery::DeliveryClient;
use switchboard_core::dispatch::{BatchRecord, Dispatcher};
use switchboard_core::domain::attempt::AttemptStatus;
use switchboard_core::domain::time::{now, Timestamp};
use switchboard_core::domain::{
    Attempt, CallInfo, Envelope, QueueMessage, RawRequest, StoredEvent, Subscription, Trigger,
};
use switchboard_core::error::{StoreError, StoreResult};
use switchboard_core::ports::{DeliveryStore, EventQueue, Outgoing, Page, PageRequest};
use switchboard_core::redact::Secret;
use switchboard_core::state::{Compose, Ports};

pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Keeps every message sent; fails sends while `failing` is set.
#[derive(Default)]
pub struct RecordingQueue {
    sent: Mutex<Vec<(QueueMessage, Duration)>>,
    pub failing: AtomicBool,
}

#[async_trait]
impl EventQueue for RecordingQueue {
    async fn send_traced(&self, out: Outgoing<'_>) -> StoreResult<()> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("queue down (test)".into()));
        }
        let sent = (out.message.clone(), out.delay);
        self.sent.lock().unwrap().push(sent);
        Ok(())
    }
}

impl RecordingQueue {
    pub fn take(&self) -> Vec<(QueueMessage, Duration)> {
        std::mem::take(&mut *self.sent.lock().unwrap())
    }
}

/// A delivery store that fails the `fail_at`-th call to `record` (1-based), once.
pub struct FlakyDeliveryStore {
    pub inner: Arc<MemoryDeliveryStore>,
    calls: AtomicUsize,
    pub fail_at: AtomicUsize,
    /// Refuse as invalid (like DynamoDB's ValidationException) every record with nothing
    /// truncated, accepting only stripped ones.
    pub reject_full_records: AtomicBool,
}

impl Default for FlakyDeliveryStore {
    fn default() -> Self {
        Self {
            inner: Arc::new(MemoryDeliveryStore::default()),
            calls: AtomicUsize::new(0),
            fail_at: AtomicUsize::new(0),
            reject_full_records: AtomicBool::new(false),
        }
    }
}

#[async_trait]
impl DeliveryStore for FlakyDeliveryStore {
    async fn record(&self, attempt: &Attempt, expires_at: Timestamp) -> StoreResult<()> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.fail_at.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("table down (test)".into()));
        }
        if self.reject_full_records.load(Ordering::SeqCst) && attempt.truncated.is_empty() {
            return Err(StoreError::Rejected("item too large (test)".into()));
        }
        self.inner.record(attempt, expires_at).await
    }
    async fn list_by_event(
        &self,
        event_id: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<Attempt>> {
        self.inner.list_by_event(event_id, page).await
    }
    async fn latest_by_subscription(
        &self,
        event_id: &str,
    ) -> StoreResult<Vec<(String, u32, AttemptStatus)>> {
        self.inner.latest_by_subscription(event_id).await
    }
}

pub struct Harness {
    pub ports: Ports,
    pub queue: Arc<RecordingQueue>,
    pub store: Arc<FlakyDeliveryStore>,
    pub dispatcher: Dispatcher,
    next_id: AtomicUsize,
}

pub fn settings() -> Settings {
    Settings {
        default_timeout: Duration::from_secs(5),
        allow_private_targets: vec!["loopback".into()],
        ..Settings::default()
    }
}

/// A client that may only reach loopback, resolves names from `lookup`, and binds its
/// sockets to 127.0.0.1 (the kernel refuses to route such sockets anywhere else).
pub fn client(policy: Policy, lookup: StaticLookup, timeout: Duration) -> DeliveryClient {
    let lookup: Arc<dyn Lookup> = Arc::new(lookup);
    DeliveryClient::with_options(ClientOptions {
        default_timeout: timeout,
        policy,
        lookup,
        local_address: Some(LOOPBACK),
        max_idle_per_host: 64,
    })
    .unwrap()
}

pub fn loopback_policy() -> Policy {
    Policy::allowing([AddressClass::Loopback])
}

impl Harness {
    pub fn new() -> Self {
        Self::with(settings(), loopback_policy(), StaticLookup::new())
    }

    pub fn with(settings: Settings, policy: Policy, lookup: StaticLookup) -> Self {
        let queue = Arc::new(RecordingQueue::default());
        let store = Arc::new(FlakyDeliveryStore::default());
        let mut ports = Ports::in_memory(Arc::new(MemoryQueue::new(Duration::from_secs(30), 5)));
        ports.queue = queue.clone();
        ports.deliveries = store.clone();
        // Ops queries (bulk replay) read the same attempts the flaky store records.
        ports.delivery_queries = store.inner.clone();
        let client = client(policy, lookup, settings.default_timeout);
        let dispatcher = Dispatcher::new(ports.clone(), client, settings);
        Self {
            ports,
            queue,
            store,
            dispatcher,
            next_id: AtomicUsize::new(0),
        }
    }

    pub async fn add(&self, sub: &Subscription) {
        self.ports.subscriptions.create(sub).await.unwrap();
    }

    pub async fn sub(&self, id: &str) -> Subscription {
        self.ports.subscriptions.get(id).await.unwrap().unwrap()
    }

    /// Hands messages to the dispatcher as one batch; returns the ids that failed.
    pub async fn dispatch(&self, messages: Vec<QueueMessage>) -> Vec<String> {
        let records = messages
            .iter()
            .map(|m| BatchRecord {
                message_id: format!("m{}", self.next_id.fetch_add(1, Ordering::SeqCst)),
                body: m.to_json().unwrap(),
                trace: None,
            })
            .collect();
        self.dispatcher.handle_batch(records).await
    }

    pub async fn publish(&self, event: &StoredEvent) -> Vec<String> {
        self.dispatch(vec![QueueMessage::Event {
            event: std::sync::Arc::new(event.clone()),
        }])
        .await
    }

    /// Plays the clock forward: hands a scheduled message back with its `not_before` passed.
    pub async fn run_due(&self, message: &QueueMessage) -> Vec<String> {
        let due = match message.clone() {
            QueueMessage::Deliver {
                event_id,
                subscription_id,
                attempt,
                trigger,
                ..
            } => deliver_now(&event_id, &subscription_id, attempt, trigger),
            other => other,
        };
        self.dispatch(vec![due]).await
    }

    pub async fn attempts(&self, event_id: &str) -> Vec<Attempt> {
        self.ports
            .deliveries
            .list_by_event(
                event_id,
                &PageRequest {
                    limit: 1000,
                    cursor: None,
                },
            )
            .await
            .unwrap()
            .items
    }

    /// Publishes a new `call.ended` event, done with in that one dispatch; its attempts.
    pub async fn publish_call_end(&self) -> Vec<Attempt> {
        let ev = event("call.ended");
        assert!(self.publish(&ev).await.is_empty());
        self.attempts(&ev.envelope.id).await
    }
}

static EVENT_SEQ: AtomicUsize = AtomicUsize::new(0);

pub fn event(event_type: &str) -> StoredEvent {
    let n = EVENT_SEQ.fetch_add(1, Ordering::SeqCst);
    let id = switchboard_core::domain::ids::event_id();
    let data = serde_json::json!({
        "event": "call_hangup",
        "data": {"uuid": format!("call-{n}"), "direction": "inbound", "queue_name": "Que1", "caller_number": "+905551112233"}
    });
    StoredEvent {
        envelope: Envelope {
            id,
            event_type: event_type.into(),
            provider_event: Some("call_hangup".into()),
            source: "hipcall-main".into(),
            occurred_at: Some(now()),
            received_at: now(),
            call: Some(CallInfo {
                id: Some(format!("call-{n}")),
                direction: Some("inbound".into()),
                from: Some("+905551112233".into()),
                to: Some("+908501234567".into()),
                duration_secs: Some(417),
                ..CallInfo::default()
            }),
            data: Some(data.clone().into()),
            raw_unparsed: false,
        },
        raw: RawRequest {
            method: "POST".into(),
            content_type: Some("application/json; charset=utf-8".into()),
            query: Some("event=call_hangup&x=1".into()),
            body: serde_json::to_vec(&data).unwrap().into(),
        },
        dedup_key: None,
    }
}

static SUB_SEQ: AtomicUsize = AtomicUsize::new(0);

pub fn subscription(url: &str, types: &[&str]) -> Subscription {
    let n = SUB_SEQ.fetch_add(1, Ordering::SeqCst);
    let t = now();
    Subscription {
        url: url.into(),
        event_types: types.iter().map(|s| s.to_string()).collect(),
        ..Subscription::blank(
            format!("sub_test{n:04}"),
            Secret::new(switchboard_core::delivery::signing::generate_secret()),
            t,
        )
    }
}

/// The scheduled `Deliver` messages among what was sent.
pub fn delivers(sent: &[(QueueMessage, Duration)]) -> Vec<(QueueMessage, Duration)> {
    sent.iter()
        .filter(|(m, _)| matches!(m, QueueMessage::Deliver { .. }))
        .cloned()
        .collect()
}

/// The operational events among what was sent.
pub fn operational(sent: &[(QueueMessage, Duration)]) -> Vec<StoredEvent> {
    sent.iter()
        .filter_map(|(m, _)| match m {
            QueueMessage::Event { event } if event.envelope.source == "switchboard" => {
                Some((**event).clone())
            }
            _ => None,
        })
        .collect()
}

/// Attempt `attempt` of `event_id` to `subscription_id`, due now.
pub fn deliver_now(
    event_id: &str,
    subscription_id: &str,
    attempt: u32,
    trigger: Trigger,
) -> QueueMessage {
    QueueMessage::Deliver {
        event_id: event_id.into(),
        subscription_id: subscription_id.into(),
        attempt,
        not_before: None,
        trigger,
        rate_slot: None,
    }
}
