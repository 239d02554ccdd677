//! Dispatch racing other writers: an operator's change made while an attempt is in flight
//! (the sink makes it before answering, which forces the interleaving), and a concurrent
//! duplicate that records a success under the same attempt key; admin writes under
//! optimistic concurrency.

use crate::common::*;
use crate::sink::{Reply, Sink};
use futures::FutureExt;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::api::{AdminAuth, App, Surface};
use switchboard_core::domain::attempt::AttemptStatus;
use switchboard_core::domain::time::now;
use switchboard_core::domain::{Attempt, Subscription, Trigger};
use switchboard_core::error::{StoreError, StoreResult};
use switchboard_core::ports::versioned::{self, Modified};
use switchboard_core::ports::{DeliveryStore, SubscriptionStore};
use switchboard_core::redact::Secret;

/// Applies `change` the way the admin API does (versioned read-change-write), from inside
/// the sink's handler. The in-memory store never waits: its futures finish on first poll.
fn operator_change(
    store: &Arc<SubscriptionStore>,
    id: &str,
    change: impl FnMut(&mut Subscription) -> Result<bool, StoreError>,
) {
    let done = versioned::modify(store.as_ref(), id, change)
        .now_or_never()
        .expect("the in-memory store does not wait");
    assert!(matches!(done, Ok(Modified::Written(_))), "{done:?}");
}

/// What `PATCH {"enabled": true}` does to the stored record.
fn re_enable(s: &mut Subscription) -> Result<bool, StoreError> {
    s.enabled = true;
    s.disabled_reason = None;
    s.failing_since = None;
    s.updated_at = now();
    Ok(true)
}

/// A harness and a subscription (not yet added) whose sink runs `operator` on the stored
/// record, then answers `status`.
async fn racing_sink(
    settings: switchboard_core::config::Settings,
    status: u16,
    operator: fn(&mut Subscription) -> Result<bool, StoreError>,
) -> (Harness, Subscription, Sink) {
    let h = Harness::with(settings, loopback_policy(), Default::default());
    let mut sub = subscription("http://127.0.0.1:1/", &["call.*"]);
    let (store, id) = (h.ports.subscriptions.clone(), sub.id.clone());
    let sink = Sink::replying(move |r, _| {
        if r.path() == "/ops" {
            return Reply::Status(200);
        }
        operator_change(&store, &id, operator);
        Reply::Status(status)
    })
    .await;
    sub.url = sink.url("/hook");
    (h, sub, sink)
}

/// Publishes one event to subscription `sub_id`, whose sink re-enables it meanwhile; the
/// re-enable must stand (enabled, no disabled reason). Returns the event's attempts.
async fn publish_racing_a_re_enable(h: &Harness, sub_id: &str) -> Vec<Attempt> {
    let a = h.publish_call_end().await;
    let s = h.sub(sub_id).await;
    assert!(s.enabled);
    assert_eq!(s.disabled_reason, None);
    a
}

#[tokio::test]
async fn a_re_enable_during_a_410_attempt_is_not_undone() {
    // Given an enabled subscription whose endpoint answers 410, and ops re-enabling it
    // (PATCH enabled=true) while that request is in flight
    let (h, sub, sink) = racing_sink(settings(), 410, re_enable).await;
    let ops = subscription(&sink.url("/ops"), &["subscription.disabled"]);
    h.add(&sub).await;
    h.add(&ops).await;

    // When dispatch records the 410
    // Then the operator's later act stands: still enabled, no disable event; the 410
    // attempt itself is failed and not retried
    let a = publish_racing_a_re_enable(&h, &sub.id).await;
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].status, AttemptStatus::Failed);
    let sent = h.queue.take();
    assert!(operational(&sent).is_empty(), "{sent:?}");
    assert!(delivers(&sent).is_empty());
}

#[tokio::test]
async fn a_re_enable_during_a_long_failing_attempt_is_not_undone() {
    // Given a subscription failing for longer than allowed (so this failure would disable
    // it), re-enabled by ops while the attempt is in flight
    let mut settings = settings();
    settings.disable_after = Duration::from_secs(3600);
    let (h, mut sub, _sink) = racing_sink(settings, 500, re_enable).await;
    sub.failing_since = Some(now() - chrono::Duration::hours(2));
    h.add(&sub).await;

    // When dispatch records the failure
    // Then the re-enable stands and the pair keeps retrying
    let a = publish_racing_a_re_enable(&h, &sub.id).await;
    assert_eq!(a[0].status, AttemptStatus::Retrying);
    assert_eq!(delivers(&h.queue.take()).len(), 1);
}

#[tokio::test]
async fn a_failure_run_and_a_concurrent_secret_rotation_both_survive() {
    // Given ops rotating the signing secret while a failing attempt is in flight
    fn rotate(s: &mut Subscription) -> Result<bool, StoreError> {
        s.secret = Secret::new("whsec_cm90YXRlZA==");
        s.updated_at = now();
        Ok(true)
    }
    let (h, sub, _sink) = racing_sink(settings(), 500, rotate).await;
    h.add(&sub).await;

    // When dispatch records the start of the failure run
    assert!(h.publish(&event("call.ended")).await.is_empty());

    // Then both writes are in the record: the new secret and the failure run
    let s = h.sub(&sub.id).await;
    assert_eq!(s.secret.expose(), "whsec_cm90YXRlZA==");
    assert!(s.failing_since.is_some());
    assert_eq!(s.version, sub.version + 2);
}

#[tokio::test]
async fn a_duplicate_losing_to_a_recorded_success_is_not_recorded_nor_re_sent() {
    // Given a concurrent duplicate of this delivery that succeeds, and records it, while
    // this one's request is in flight and fails
    let h = Harness::new();
    let ev = event("call.ended");
    let mut sub = subscription("http://127.0.0.1:1/", &["call.*"]);
    let store = h.store.inner.clone();
    let success = success_of(&ev.envelope.id, &sub.id);
    let sink = Sink::replying(move |_, n| {
        if n == 0 {
            let recorded = store
                .record(&success, now() + chrono::Duration::days(1))
                .now_or_never()
                .expect("the in-memory store does not wait");
            assert!(recorded.is_ok(), "{recorded:?}");
        }
        Reply::Status(500)
    })
    .await;
    sub.url = sink.url("/hook");
    h.add(&sub).await;

    // When dispatch records its failure under the same attempt key
    assert!(h.publish(&ev).await.is_empty(), "the message is done");

    // Then the success stays the pair's only record, and the retry it had queued is
    // skipped when due: nothing is sent again
    let a = h.attempts(&ev.envelope.id).await;
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].status, AttemptStatus::Succeeded);
    let retries = delivers(&h.queue.take());
    assert_eq!(retries.len(), 1);
    assert!(h.run_due(&retries[0].0).await.is_empty());
    assert_eq!(sink.received().len(), 1);
    assert_eq!(h.attempts(&ev.envelope.id).await.len(), 1);
}

#[tokio::test]
async fn a_retry_is_skipped_when_any_earlier_attempt_succeeded() {
    // Given a pair whose attempt 1 succeeded but whose newest record (attempt 2, from a
    // duplicate that lost the race) is a failure
    let sink = Sink::ok().await;
    let h = Harness::new();
    let sub = subscription(&sink.url("/hook"), &["call.*"]);
    h.add(&sub).await;
    let ev = event("call.ended");
    assert!(h.publish(&ev).await.is_empty());
    let mut failed = success_of(&ev.envelope.id, &sub.id);
    failed.attempt = 2;
    failed.status = AttemptStatus::Retrying;
    failed.trigger = Trigger::Retry;
    h.store
        .inner
        .record(&failed, now() + chrono::Duration::days(1))
        .await
        .unwrap();

    // When that duplicate's retry (attempt 3) comes due
    let retry = deliver_now(&ev.envelope.id, &sub.id, 3, Trigger::Retry);
    assert!(h.dispatch(vec![retry]).await.is_empty());

    // Then nothing is sent again
    assert_eq!(sink.received().len(), 1);
    assert_eq!(h.attempts(&ev.envelope.id).await.len(), 2);
}

fn success_of(event_id: &str, subscription_id: &str) -> Attempt {
    Attempt {
        url: "http://127.0.0.1/hook".into(),
        http_status: Some(200),
        ..switchboard_test_support::records::attempt(
            event_id,
            subscription_id,
            1,
            AttemptStatus::Succeeded,
        )
    }
}

/// A subscription store where another writer always wins: every conditional write is
/// stale (counted), everything else goes to the real store.
struct AlwaysStale {
    inner: Arc<SubscriptionStore>,
    tries: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl switchboard_core::ports::ConfigStore<Subscription> for AlwaysStale {
    async fn create(&self, r: &Subscription) -> StoreResult<()> {
        self.inner.create(r).await
    }
    async fn get(&self, id: &str) -> StoreResult<Option<Subscription>> {
        self.inner.get(id).await
    }
    async fn list(&self) -> StoreResult<Vec<Subscription>> {
        self.inner.list().await
    }
    async fn update(&self, r: &Subscription) -> StoreResult<()> {
        self.inner.update(r).await
    }
    async fn update_if(&self, _: &Subscription, _: u64) -> StoreResult<()> {
        self.tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err(StoreError::Stale)
    }
    async fn delete(&self, id: &str) -> StoreResult<()> {
        self.inner.delete(id).await
    }
}

async fn admin_call(app: &App, method: &str, path: &str, body: Value) -> (u16, Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", "Bearer t0ken")
        .body(bytes::Bytes::from(body.to_string()))
        .unwrap();
    let resp = app.handle(req).await;
    let status = resp.status().as_u16();
    (
        status,
        serde_json::from_slice(resp.body()).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn admin_writes_are_versioned_and_a_persistent_conflict_is_409() {
    let h = Harness::new();
    let mut app = App {
        ports: h.ports.clone(),
        settings: settings(),
        admin_auth: AdminAuth::Bearer(Secret::new("t0ken")),
        surface: Surface::All,
    };
    // Every admin write counts one version
    let (status, created) = admin_call(
        &app,
        "POST",
        "/admin/subscriptions",
        json!({"url": "http://127.0.0.1:9/x", "event_types": ["call.*"]}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["version"], 1);
    let path = format!("/admin/subscriptions/{}", created["id"].as_str().unwrap());
    let (status, patched) = admin_call(&app, "PATCH", &path, json!({"description": "crm"})).await;
    assert_eq!((status, &patched["version"]), (200, &json!(2)), "{patched}");
    let rotate = format!("{path}/rotate-secret");
    let (status, rotated) = admin_call(&app, "POST", &rotate, json!({})).await;
    assert_eq!((status, &rotated["version"]), (200, &json!(3)), "{rotated}");

    // When another writer wins every round, PATCH and rotate-secret give up with 409
    let stale = Arc::new(AlwaysStale {
        inner: h.ports.subscriptions.clone(),
        tries: Default::default(),
    });
    app.ports.subscriptions = stale.clone();
    for (method, p, body) in [
        ("PATCH", path.as_str(), json!({"enabled": false})),
        ("POST", rotate.as_str(), json!({})),
    ] {
        let (status, err) = admin_call(&app, method, p, body).await;
        assert_eq!(status, 409, "{err}");
        assert_eq!(err["error"]["code"], "conflict");
        assert!(err["error"]["message"].as_str().unwrap().contains("retry"));
    }
    assert_eq!(
        stale.tries.load(std::sync::atomic::Ordering::SeqCst),
        2 * versioned::MAX_ROUNDS
    );
    // Nothing was written: the record is as the last successful write left it
    let s = h
        .ports
        .subscriptions
        .get(created["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((s.version, s.enabled), (3, true));
}
