//! The per-call timeline (`GET /admin/calls/{id}`): every event of a call in `occurred_at`
//! order with each subscription's outcome, over the in-memory adapters and over SQS and
//! DynamoDB on the emulator.

use crate::support::aws::{self, run_dispatch_once};
use crate::support::{self, eventually, sink::Sink};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::adapters::aws::SqsQueue;
use switchboard_core::adapters::memory::MemoryQueue;
use switchboard_core::api::App;
use switchboard_core::dispatch::{poller, Dispatcher};
use switchboard_core::state::{Compose, Ports};

const CALL: &str = "2483a75a-56a2-41f1-991b-92b1667e324a";
const CALL_INIT: &str = include_str!("../../events/providers/hipcall/call_init.json");

struct Scenario {
    ok: Sink,
    failing: Sink,
    ok_id: String,
    failing_id: String,
}

/// A Hipcall source, a CRM that takes every call event and one that fails call ends
/// (no retry); the call's hangup is posted before its start (providers do that).
async fn given_a_call(app: &App) -> Scenario {
    support::create_source(app, "hipcall-main", "hipcall").await;
    let ok = Sink::start().await;
    let failing = Sink::start().await;
    failing.set_status(500);
    let ok_id = support::create_subscription(
        app,
        json!({"url": ok.url("/crm"), "event_types": ["call.*"]}),
    )
    .await;
    let failing_id = support::create_subscription(
        app,
        json!({"url": failing.url("/x"), "event_types": ["call.ended"], "retry_schedule_secs": []}),
    )
    .await;
    for body in [support::HIPCALL_CALL_HANGUP, CALL_INIT] {
        let (status, json) = support::post_json(app, "/hooks/hipcall-main", body).await;
        assert_eq!(status, 202, "{json}");
    }
    Scenario {
        ok,
        failing,
        ok_id: ok_id["id"].as_str().unwrap().to_owned(),
        failing_id: failing_id["id"].as_str().unwrap().to_owned(),
    }
}

fn check_timeline(s: &Scenario, timeline: &Value) {
    assert_eq!(timeline["call_id"], CALL);
    let events = timeline["events"].as_array().unwrap();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["call.started", "call.ended"], "{timeline:#}");
    assert!(events[0]["occurred_at"].as_str() < events[1]["occurred_at"].as_str());
    for e in events {
        assert!(e["id"].as_str().unwrap().starts_with("evt_"));
        assert_eq!(e["source"], "hipcall-main");
        assert!(e["received_at"].is_string());
    }
    let started = events[0]["deliveries"].as_array().unwrap();
    assert_eq!(started.len(), 1, "{timeline:#}");
    assert_eq!(started[0]["subscription_id"], s.ok_id.as_str());
    assert_eq!(started[0]["status"], "succeeded");
    assert_eq!(started[0]["attempts"], 1);
    assert_eq!(started[0]["http_status"], 200);
    let ended = events[1]["deliveries"].as_array().unwrap();
    let by_sub = |id: &str| {
        ended
            .iter()
            .find(|d| d["subscription_id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(ended.len(), 2, "{timeline:#}");
    assert_eq!(by_sub(&s.ok_id)["status"], "succeeded");
    let failed = by_sub(&s.failing_id);
    assert_eq!(failed["status"], "exhausted");
    assert_eq!(failed["attempts"], 1);
    assert_eq!(failed["http_status"], 500);
    assert_eq!(failed["error_kind"], "status");
}

async fn timeline(app: &App, call: &str) -> (u16, Value) {
    support::get(app, &format!("/admin/calls/{call}")).await
}

#[tokio::test]
async fn a_calls_timeline_shows_each_event_in_order_with_every_subscribers_outcome() {
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(60), 5));
    let ports = Ports::in_memory(queue.clone());
    let app = support::app(ports.clone());
    let dispatcher = Arc::new(Dispatcher::from_settings(ports, support::settings()).unwrap());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let polling = tokio::spawn(poller::run(dispatcher, queue.clone(), stopped));
    let s = given_a_call(&app).await;
    assert!(
        eventually(10, || async {
            s.ok.count() == 2 && s.failing.count() == 1 && queue.is_empty()
        })
        .await
    );
    stop.send(true).unwrap();
    polling.await.unwrap();
    let (status, answer) = timeline(&app, CALL).await;
    assert_eq!(status, 200, "{answer}");
    check_timeline(&s, &answer);
    // an unknown call is 404; the route needs the admin token like every admin route
    let (status, answer) = timeline(&app, "no-such-call").await;
    assert_eq!(status, 404, "{answer}");
    let r = app
        .handle(
            http::Request::get(format!("/admin/calls/{CALL}"))
                .body(bytes::Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn a_calls_timeline_over_sqs_and_dynamodb() {
    let aws::Stack(sdk, names, ports, app) = aws::stack(30).await;
    let s = given_a_call(&app).await;
    let dispatcher = Dispatcher::from_settings(ports, support::settings()).unwrap();
    let consumer = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &names.queue_url);
    for _ in 0..10 {
        run_dispatch_once(&dispatcher, &consumer).await;
        if s.ok.count() == 2 && s.failing.count() == 1 {
            break;
        }
    }
    let (status, answer) = timeline(&app, CALL).await;
    assert_eq!(status, 200, "{answer}");
    check_timeline(&s, &answer);
}
