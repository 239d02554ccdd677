//! `delivery.failing` after a subscription's `failing_after` consecutive failed attempts and
//! `delivery.recovered` on its next success: emitted once each, whatever the number of
//! dispatchers, through real HTTP sinks, under `serve` (memory and SQLite) and on the AWS
//! adapters (emulator) with two dispatchers racing.

use crate::metrics::call_body;
use crate::support::aws::{self, run_dispatch_once};
use crate::support::sink::Sink;
use crate::support::tempdir::TempDir;
use crate::support::{self, eventually};
use serde_json::{json, Value};
use switchboard_cli::serve::Store;
use switchboard_core::adapters::aws::SqsQueue;
use switchboard_core::dispatch::Dispatcher;
use switchboard_core::state::{Compose, Ports};
use switchboard_test_support::serve::ServeHarness;

/// The operational events an ops sink received, by type, in arrival order.
fn ops_events(ops: &Sink) -> Vec<Value> {
    ops.received()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

/// The subscriber that fails (`failing_after` 3, one retry a second later) and the ops
/// subscription that wants both events.
fn bodies(crm: &Sink, ops: &Sink) -> (Value, Value) {
    (
        json!({"url": crm.url("/crm"), "event_types": ["call.*"], "failing_after": 3,
               "retry_schedule_secs": [1]}),
        json!({"url": ops.url("/ops"), "event_types": ["delivery.failing", "delivery.recovered"]}),
    )
}

async fn serve_reports_failing_then_recovered(store: Store) {
    let mut config = switchboard_test_support::serve::config();
    config.store = store;
    let h = ServeHarness::with(config).await;
    h.create_source("hipcall-main", "hipcall").await;
    let (crm, ops) = (Sink::start().await, Sink::start().await);
    crm.set_status(500);
    let (crm_body, ops_body) = bodies(&crm, &ops);
    let sub = h.create_subscription(crm_body).await;
    let sub_id = sub["id"].as_str().unwrap().to_owned();
    h.create_subscription(ops_body).await;

    // When two events fail: not yet failing (2 < 3), nothing reported
    for i in 0..2 {
        assert_eq!(h.post_hook("hipcall-main", call_body(i)).await.0, 202);
    }
    // (the sink sees a request before dispatch counts its failure)
    let path = format!("/admin/subscriptions/{sub_id}");
    let counted = eventually(20, || async {
        let (_, s) = h.admin("GET", &path, None).await;
        s["consecutive_failures"].as_u64() == Some(2)
    })
    .await;
    assert!(counted && crm.count() == 2);
    assert_eq!(ops.count(), 0);

    // And more fail (the third failure in a row crosses the threshold, the later ones do not
    // report again)
    for i in 2..6 {
        assert_eq!(h.post_hook("hipcall-main", call_body(i)).await.0, 202);
    }
    assert!(eventually(20, || async { crm.count() >= 6 && ops.count() >= 1 }).await);

    // Then, once the subscriber answers again, its next success (a retry's or a new
    // event's) reports the recovery, once
    crm.set_status(200);
    assert_eq!(h.post_hook("hipcall-main", call_body(9)).await.0, 202);
    assert!(eventually(40, || async { crm.count() >= 13 && ops.count() >= 2 }).await);
    h.running.stop().await;

    let events = ops_events(&ops);
    assert_eq!(types(&events), ["delivery.failing", "delivery.recovered"]);
    let failing = &events[0]["data"];
    assert_eq!(failing["subscription_id"], sub_id.as_str());
    assert_eq!(failing["consecutive_failures"], 3);
    assert_eq!(failing["http_status"], 500);
    assert!(failing["failing_since"].is_string() && failing["event_id"].is_string());
    let recovered = &events[1]["data"];
    assert_eq!(recovered["subscription_id"], sub_id.as_str());
    assert_eq!(recovered["failing_since"], failing["failing_since"]);
    assert!(recovered["failing_reported_at"].is_string() && recovered["recovered_at"].is_string());
    assert_eq!(events[0]["source"], "switchboard");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_reports_failing_then_recovered_on_the_memory_store() {
    serve_reports_failing_then_recovered(Store::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_reports_failing_then_recovered_on_the_durable_store() {
    let dir = TempDir::new("failing-durable");
    serve_reports_failing_then_recovered(Store::durable(dir.path())).await;
}

/// `failing_after` is a subscription setting: 1 to 1000, `null` back to the default.
#[tokio::test]
async fn failing_after_is_validated_and_can_be_reset() {
    let h = ServeHarness::start().await;
    let sink = Sink::start().await;
    let (status, refused) = h
        .admin(
            "POST",
            "/admin/subscriptions",
            Some(json!({"url": sink.url("/x"), "event_types": ["*"], "failing_after": 0})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(refused["error"]["code"], "invalid_failing_after");
    let sub = h
        .create_subscription(
            json!({"url": sink.url("/x"), "event_types": ["*"], "failing_after": 10}),
        )
        .await;
    assert_eq!(sub["failing_after"], 10);
    let path = format!("/admin/subscriptions/{}", sub["id"].as_str().unwrap());
    let (status, patched) = h
        .admin("PATCH", &path, Some(json!({"failing_after": null})))
        .await;
    assert_eq!(status, 200, "{patched}");
    assert!(patched.get("failing_after").is_none(), "{patched}");
    h.running.stop().await;
}

/// On DynamoDB and SQS (emulator), two dispatchers handling the failures at once: the
/// conditional writes let exactly one of them report the run, and one the recovery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_dispatchers_report_failing_and_recovered_once_on_aws() {
    let sdk = aws::sdk().await;
    let names = aws::resources(&sdk, 30).await;
    let ports = Ports::aws(&sdk, &names);
    let app = support::app(ports.clone());
    support::create_source(&app, "hipcall-main", "hipcall").await;
    let (crm, ops) = (Sink::start().await, Sink::start().await);
    crm.set_status(503);
    let (crm_body, ops_body) = bodies(&crm, &ops);
    let sub = support::create_subscription(&app, crm_body).await;
    support::create_subscription(&app, ops_body).await;
    for i in 0..8 {
        let (status, _) = support::call(
            &app,
            "POST",
            "/hooks/hipcall-main",
            Some("application/json"),
            call_body(i),
        )
        .await;
        assert_eq!(status, 202);
    }
    let one = Dispatcher::from_settings(ports.clone(), support::settings()).unwrap();
    let two = Dispatcher::from_settings(ports.clone(), support::settings()).unwrap();
    let consumer = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &names.queue_url);
    let rounds = |until: &'static (dyn Fn(&Sink, &Sink) -> bool + Sync)| {
        let (one, two, consumer, crm, ops) = (&one, &two, &consumer, &crm, &ops);
        async move {
            for _ in 0..30 {
                tokio::join!(
                    run_dispatch_once(one, consumer),
                    run_dispatch_once(two, consumer)
                );
                if until(crm, ops) {
                    return true;
                }
            }
            false
        }
    };
    // every first attempt failed and the run is reported
    assert!(rounds(&|crm, ops| crm.count() >= 8 && ops.count() >= 1).await);
    crm.set_status(200);
    let (status, _) = support::call(
        &app,
        "POST",
        "/hooks/hipcall-main",
        Some("application/json"),
        call_body(9),
    )
    .await;
    assert_eq!(status, 202);
    // the retries and the new event succeed, and the first success reports the recovery
    assert!(rounds(&|crm, ops| crm.count() >= 17 && ops.count() >= 2).await);
    // nothing else is reported (one more round for anything still queued)
    rounds(&|_, _| true).await;
    let events = ops_events(&ops);
    assert_eq!(types(&events), ["delivery.failing", "delivery.recovered"]);
    assert_eq!(events[0]["data"]["subscription_id"], sub["id"]);
    assert_eq!(events[0]["data"]["consecutive_failures"], 3);
    let (_, s) = support::get(
        &app,
        &format!("/admin/subscriptions/{}", sub["id"].as_str().unwrap()),
    )
    .await;
    assert!(s.get("consecutive_failures").is_none(), "{s}");
    assert!(s.get("failing_since").is_none() && s.get("failing_reported_at").is_none());
}
