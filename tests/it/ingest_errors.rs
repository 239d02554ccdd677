//! Bad input at ingest: each gets the right status and a JSON error, and nothing accepted
//! is lost.

use crate::support::{self, sink::Sink};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::adapters::memory::MemoryQueue;
use switchboard_core::domain::QueueMessage;
use switchboard_core::error::{StoreError, StoreResult};
use switchboard_core::ports::{EventQueue, Outgoing, QueueConsumer};
use switchboard_core::state::{Compose, Ports};

fn memory() -> (Ports, Arc<MemoryQueue>) {
    let q = Arc::new(MemoryQueue::new(Duration::from_secs(30), 5));
    (Ports::in_memory(q.clone()), q)
}

fn assert_error(json: &serde_json::Value, code: &str) {
    assert_eq!(json["error"]["code"], code, "{json}");
    assert!(json["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn unknown_source_is_404_with_a_json_error() {
    let (ports, _) = memory();
    let app = support::app(ports);
    let (status, json) = support::post_json(&app, "/hooks/nobody", "{}").await;
    assert_eq!(status, 404);
    assert_error(&json, "unknown_source");
    let (status, json) = support::call(&app, "POST", "/hooks/..%2F..%2Fetc", None, "{}").await;
    assert_eq!(status, 404);
    assert_error(&json, "unknown_source");
}

#[tokio::test]
async fn malformed_json_is_accepted_kept_raw_and_forwarded_byte_for_byte() {
    // Given a raw subscriber for every event type
    let (ports, queue) = memory();
    let app = support::app(ports.clone());
    support::create_source(&app, "hipcall-main", "hipcall").await;
    let raw_sink = Sink::start().await;
    support::create_subscription(
        &app,
        serde_json::json!({"url": raw_sink.url("/raw"), "event_types": ["*"], "format": "raw"}),
    )
    .await;
    // When the provider sends a body that is not JSON
    let body: &[u8] = b"{\"event\": \"call_hangup\", oops \xff";
    let (status, json) =
        support::post_json(&app, "/hooks/hipcall-main?event=call_hangup", body.to_vec()).await;
    // Then it is accepted and queued, flagged unparsed, raw body intact
    assert_eq!(status, 202, "{json}");
    let msgs = queue.receive(10, Duration::ZERO).await.unwrap();
    assert_eq!(msgs.len(), 1);
    let QueueMessage::Event { event } = QueueMessage::from_json(&msgs[0].body).unwrap() else {
        panic!("expected an event message");
    };
    assert_eq!(event.envelope.id, json["id"].as_str().unwrap());
    assert!(event.envelope.raw_unparsed);
    // typed from the URL's ?event=: a webhook gets the type its URL names
    assert_eq!(event.envelope.event_type, "call.ended");
    assert_eq!(
        event.envelope.provider_event.as_deref(),
        Some("call_hangup")
    );
    assert!(event.envelope.data.is_none());
    assert_eq!(&event.raw.body[..], body);
    assert_eq!(event.dedup_key, None);
    // And dispatch forwards those exact bytes to the raw subscriber
    let dispatcher =
        switchboard_core::dispatch::Dispatcher::from_settings(ports, support::settings()).unwrap();
    let failed = dispatcher
        .handle_batch(vec![switchboard_core::dispatch::BatchRecord::from(
            &msgs[0],
        )])
        .await;
    assert!(failed.is_empty());
    let got = raw_sink.received();
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0].body[..], body);
    assert_eq!(got[0].headers["content-type"], "application/json");
    assert_eq!(got[0].path_and_query, "/raw");
}

#[tokio::test]
async fn body_over_the_source_limit_is_413() {
    let (ports, queue) = memory();
    let app = support::app(ports);
    let (status, _) = support::call(
        &app,
        "POST",
        "/admin/sources",
        None,
        r#"{"id":"small","provider":"hipcall","verification":{"type":"none"},"body_limit_bytes":64}"#,
    )
    .await;
    assert_eq!(status, 201);
    let (status, json) = support::post_json(&app, "/hooks/small", vec![b'x'; 65]).await;
    assert_eq!(status, 413);
    assert_error(&json, "payload_too_large");
    assert!(queue.is_empty());
}

/// A queue whose sends always fail, as SQS does when it is unreachable.
struct FailingQueue;

#[async_trait]
impl EventQueue for FailingQueue {
    async fn send_traced(&self, _: Outgoing<'_>) -> StoreResult<()> {
        Err(StoreError::Unavailable("simulated SQS outage".into()))
    }
}

#[tokio::test]
async fn queue_failure_is_503_and_the_provider_retry_is_not_a_duplicate() {
    let (mut ports, _) = memory();
    let healthy = ports.queue.clone();
    ports.queue = Arc::new(FailingQueue);
    let app = support::app(ports.clone());
    support::create_source(&app, "hipcall-main", "hipcall").await;
    let (status, json) =
        support::post_json(&app, "/hooks/hipcall-main", support::HIPCALL_CALL_HANGUP).await;
    assert_eq!(status, 503);
    assert_error(&json, "unavailable");
    assert!(
        !json.to_string().contains("simulated"),
        "internal cause leaked: {json}"
    );
    // When SQS is back, the provider's retry is accepted as new (202), not a duplicate
    ports.queue = healthy;
    let app = support::app(ports);
    let (status, json) =
        support::post_json(&app, "/hooks/hipcall-main", support::HIPCALL_CALL_HANGUP).await;
    assert_eq!(status, 202, "{json}");
    let (status, dup) =
        support::post_json(&app, "/hooks/hipcall-main", support::HIPCALL_CALL_HANGUP).await;
    assert_eq!(status, 200);
    assert_eq!(dup["duplicate"], true);
    assert_eq!(dup["id"], json["id"]);
}

#[tokio::test]
async fn admin_routes_need_the_token() {
    let (ports, _) = memory();
    let app = support::app(ports);
    let req = http::Request::builder()
        .uri("/admin/sources")
        .body(bytes::Bytes::new())
        .unwrap();
    assert_eq!(app.handle(req).await.status(), 401);
    let req = http::Request::builder()
        .uri("/admin/sources")
        .header("authorization", "Bearer wrong")
        .body(bytes::Bytes::new())
        .unwrap();
    assert_eq!(app.handle(req).await.status(), 401);
    let (status, json) = support::call(
        &app,
        "POST",
        "/admin/sources",
        None,
        r#"{"id":"x","provider":"hipcall"}"#,
    )
    .await;
    assert_eq!(status, 400, "verification must be explicit: {json}");
}

#[tokio::test]
async fn webhook_paths_refuse_other_methods_naming_the_accepted_ones() {
    let (ports, _) = memory();
    let app = support::app(ports);
    for (method, path) in [
        ("DELETE", "/hooks/hipcall-main"),
        ("PATCH", "/hooks/hipcall-main/token"),
        ("OPTIONS", "/hooks/nobody"),
    ] {
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .body(bytes::Bytes::new())
            .unwrap();
        let resp = app.handle(req).await;
        assert_eq!(resp.status(), 405, "{method} {path}");
        assert_eq!(resp.headers()["allow"], "GET, POST, PUT", "{method} {path}");
        let json: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
        assert_error(&json, "method_not_allowed");
    }
}
