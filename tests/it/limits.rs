//! The AWS services' limits, on every store: attempt records cut to fit an item, text SQS
//! cannot carry escaped on the queue, ids longer than a key found nowhere, oversized admin
//! bodies and records refused with 413. Each test runs on the in-memory ports and on the
//! AWS adapters (the emulator; `./scripts/test` runs this module a second time with
//! DynamoDB on dynalite, which enforces the 400 KB item and 2 KiB key limits as AWS does).

use crate::support::aws;
use crate::support::{self, sink::Sink};
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::adapters::memory::MemoryQueue;
use switchboard_core::api::App;
use switchboard_core::dispatch::{BatchRecord, Dispatcher};
use switchboard_core::domain::message::sqs_allows;
use switchboard_core::ports::QueueConsumer;
use switchboard_core::state::{Compose, Ports};

/// Ports over the emulator (fresh queue and tables) and their queue's consumer side.
async fn aws_ports() -> (Ports, Arc<dyn QueueConsumer>) {
    let sdk = aws::sdk().await;
    let names = aws::resources(&sdk, 30).await;
    let consumer = switchboard_core::adapters::aws::SqsQueue::new(
        aws_sdk_sqs::Client::new(&sdk),
        &names.queue_url,
    );
    (Ports::aws(&sdk, &names), Arc::new(consumer))
}

fn memory_ports() -> (Ports, Arc<dyn QueueConsumer>) {
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(30), 5));
    (Ports::in_memory(queue.clone()), queue)
}

/// What one drain saw: every body received, and how many messages failed.
struct Drained {
    bodies: Vec<String>,
    failed: usize,
}

/// Receives until the queue is empty, handing each batch to the dispatcher and deleting
/// what it did not fail (as the Lambda event source mapping does).
async fn drain(dispatcher: &Dispatcher, consumer: &dyn QueueConsumer) -> Drained {
    let mut drained = Drained {
        bodies: Vec::new(),
        failed: 0,
    };
    for _ in 0..5 {
        let received = consumer.receive(10, Duration::from_secs(1)).await.unwrap();
        if received.is_empty() {
            break;
        }
        let records = received.iter().map(BatchRecord::from).collect();
        let failed = dispatcher.handle_batch(records).await;
        drained.failed += failed.len();
        for m in received {
            drained.bodies.push(m.body.clone());
            if !failed.contains(&m.message_id) {
                consumer.delete(&m.receipt).await.unwrap();
            }
        }
    }
    drained
}

// ---- attempt records fit an item --------------------------------------------------------

async fn a_one_mebibyte_get_url_is_recorded_cut_to_fit(ports: Ports, consumer: &dyn QueueConsumer) {
    // Given a GET subscription whose template renders a query string of about 1 MiB
    let app = support::app(ports.clone());
    let sink = Sink::start().await;
    support::create_source(&app, "hipcall-main", "hipcall").await;
    let chunk = "a".repeat(60_000);
    let template = format!("{{% for i in range(17) %}}{chunk}{{% endfor %}}");
    let sub = support::create_subscription(
        &app,
        serde_json::json!({
            "url": sink.url("/crm"), "method": "GET", "format": "template",
            "template": template, "event_types": ["call.ended"], "retry_schedule_secs": [],
        }),
    )
    .await;

    // When a call ends and dispatch delivers it
    let (status, accepted) =
        support::post_json(&app, "/hooks/hipcall-main", support::HIPCALL_CALL_HANGUP).await;
    assert_eq!(status, 202, "{accepted}");
    let dispatcher = Dispatcher::from_settings(ports, support::settings()).unwrap();
    let drained = drain(&dispatcher, consumer).await;

    // Then the message is done with (not failed, so not retried until the DLQ)
    assert_eq!(drained.bodies.len(), 1);
    assert_eq!(drained.failed, 0, "the attempt record must be storable");

    // And the attempt is on record, its URL cut to fit and flagged
    let event_id = accepted["id"].as_str().unwrap();
    let (status, deliveries) =
        support::get(&app, &format!("/admin/deliveries?event_id={event_id}")).await;
    assert_eq!(status, 200, "{deliveries}");
    let items = deliveries["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{deliveries}");
    let attempt = &items[0];
    assert_eq!(attempt["subscription_id"], sub["id"]);
    assert_eq!(attempt["truncated"], serde_json::json!(["url"]));
    let url = attempt["url"].as_str().unwrap();
    assert!(url.starts_with(&sink.url("/crm?aaaa")), "{}", &url[..80]);
    assert!(url.len() <= 16 * 1024, "{} bytes kept", url.len());
}

#[tokio::test]
async fn a_one_mebibyte_get_url_is_recorded_cut_to_fit_in_memory() {
    let (ports, consumer) = memory_ports();
    a_one_mebibyte_get_url_is_recorded_cut_to_fit(ports, consumer.as_ref()).await;
}

#[tokio::test]
async fn a_one_mebibyte_get_url_is_recorded_cut_to_fit_on_dynamodb() {
    let (ports, consumer) = aws_ports().await;
    a_one_mebibyte_get_url_is_recorded_cut_to_fit(ports, consumer.as_ref()).await;
}

// ---- text SQS cannot carry ---------------------------------------------------------------

/// A Hipcall call end whose payload holds U+FFFE and U+FFFF, raw and as JSON escapes.
fn body_with_noncharacters() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(br#"{"event": "call_hangup", "data": {"uuid": "nonchar-1", "#);
    body.extend_from_slice("\"raw\": \"a\u{FFFE}b\u{FFFF}c\", ".as_bytes());
    body.extend_from_slice(br#""escaped": "\uFFFE\uffff", "end": 1}}"#);
    body
}

async fn noncharacters_are_accepted_queued_and_delivered_byte_exact(
    ports: Ports,
    consumer: &dyn QueueConsumer,
) {
    // Given a raw subscriber and an envelope subscriber
    let app = support::app(ports.clone());
    support::create_source(&app, "hipcall-main", "hipcall").await;
    let raw = Sink::start().await;
    let envelope = Sink::start().await;
    for (sink, format) in [(&raw, "raw"), (&envelope, "envelope")] {
        support::create_subscription(
            &app,
            serde_json::json!({"url": sink.url("/in"), "format": format, "event_types": ["call.ended"]}),
        )
        .await;
    }

    // When the provider posts a payload holding characters SQS refuses in a message
    let body = body_with_noncharacters();
    let (status, accepted) = support::post_json(&app, "/hooks/hipcall-main", body.clone()).await;

    // Then it is accepted, and the queued message holds only characters SQS takes
    assert_eq!(status, 202, "{accepted}");
    let dispatcher = Dispatcher::from_settings(ports, support::settings()).unwrap();
    let drained = drain(&dispatcher, consumer).await;
    assert_eq!(drained.bodies.len(), 1);
    assert_eq!(drained.failed, 0);
    let queued = &drained.bodies[0];
    assert!(
        queued.chars().all(sqs_allows),
        "a character SQS refuses reached SendMessage"
    );

    // And the raw subscriber gets the provider's bytes exactly; the envelope the characters
    assert_eq!(raw.received().len(), 1);
    assert_eq!(raw.received()[0].body.as_ref(), body.as_slice());
    let got = envelope.received();
    assert_eq!(got.len(), 1);
    let env: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(env["data"]["data"]["raw"], "a\u{FFFE}b\u{FFFF}c");
    assert_eq!(env["data"]["data"]["escaped"], "\u{FFFE}\u{FFFF}");
}

#[tokio::test]
async fn noncharacters_are_accepted_queued_and_delivered_byte_exact_in_memory() {
    let (ports, consumer) = memory_ports();
    noncharacters_are_accepted_queued_and_delivered_byte_exact(ports, consumer.as_ref()).await;
}

#[tokio::test]
async fn noncharacters_are_accepted_queued_and_delivered_byte_exact_on_sqs() {
    let (ports, consumer) = aws_ports().await;
    noncharacters_are_accepted_queued_and_delivered_byte_exact(ports, consumer.as_ref()).await;
}

// ---- ids longer than a key -----------------------------------------------------------------

async fn ids_longer_than_a_key_are_not_found(app: &App) {
    let long = "x".repeat(3000);
    for path in [
        format!("/admin/sources/{long}"),
        format!("/admin/subscriptions/{long}"),
        format!("/admin/events/{long}"),
    ] {
        let (status, json) = support::get(app, &path).await;
        assert_eq!(status, 404, "GET {}...: {json}", &path[..30]);
        assert_eq!(json["error"]["code"], "not_found");
        let (status, json) = support::delete(app, &path).await;
        assert!(
            matches!(status, 404 | 405),
            "DELETE {}...: {json}",
            &path[..30]
        );
    }
    for path in [
        format!("/admin/sources/{long}"),
        format!("/admin/subscriptions/{long}"),
    ] {
        let (status, json) =
            support::call(app, "PATCH", &path, None, r#"{"description": "x"}"#).await;
        assert_eq!(status, 404, "PATCH {}...: {json}", &path[..30]);
    }
    for query in [
        format!("/admin/deliveries?event_id={long}"),
        format!("/admin/deliveries?subscription_id={long}"),
        format!("/admin/events?call_id={long}"),
        format!("/admin/events?source={long}"),
    ] {
        let (status, json) = support::get(app, &query).await;
        assert_eq!(status, 200, "{}...: {json}", &query[..40]);
        assert_eq!(json["items"], serde_json::json!([]));
    }
    let replay = serde_json::json!({"event_id": long}).to_string();
    let (status, json) = support::call(app, "POST", "/admin/replay", None, replay).await;
    assert_eq!(status, 404, "{json}");
}

#[tokio::test]
async fn ids_longer_than_a_key_are_not_found_in_memory() {
    let (ports, _) = memory_ports();
    ids_longer_than_a_key_are_not_found(&support::app(ports)).await;
}

#[tokio::test]
async fn ids_longer_than_a_key_are_not_found_on_dynamodb() {
    let (ports, _) = aws_ports().await;
    ids_longer_than_a_key_are_not_found(&support::app(ports)).await;
}

// ---- oversized admin bodies and records ---------------------------------------------------

async fn oversized_admin_bodies_and_records_are_413(app: &App) {
    let sink = Sink::start().await;
    // A body over the admin limit is refused before it is read as JSON
    let huge = serde_json::json!({
        "url": sink.url("/crm"), "event_types": ["*"], "description": "d".repeat(300 * 1024),
    });
    let (status, json) =
        support::call(app, "POST", "/admin/subscriptions", None, huge.to_string()).await;
    assert_eq!(status, 413, "{json}");
    assert_eq!(json["error"]["code"], "payload_too_large");
    let source =
        serde_json::json!({"id": "big", "provider": "generic", "mapping": "m".repeat(300 * 1024)});
    let (status, json) =
        support::call(app, "POST", "/admin/sources", None, source.to_string()).await;
    assert_eq!(status, 413, "{json}");

    // A subscription grown past one item through updates is refused, and left as it was
    let url = format!("{}?q={}", sink.url("/crm"), "u".repeat(250 * 1024));
    let sub =
        support::create_subscription(app, serde_json::json!({"url": url, "event_types": ["*"]}))
            .await;
    let id = sub["id"].as_str().unwrap();
    let headers: serde_json::Map<String, serde_json::Value> = (0..20)
        .map(|i| (format!("x-pad-{i}"), serde_json::json!("h".repeat(4096))))
        .collect();
    let event_types: Vec<String> = (0..50)
        .map(|i| format!("t{i}.{}", "e".repeat(90)))
        .collect();
    let grow = serde_json::json!({
        "format": "template", "template": "b".repeat(64 * 1024 - 16), "content_type": "text/plain",
        "headers": headers, "event_types": event_types,
    });
    let (status, json) = support::call(
        app,
        "PATCH",
        &format!("/admin/subscriptions/{id}"),
        None,
        grow.to_string(),
    )
    .await;
    assert_eq!(status, 413, "{json}");
    assert_eq!(json["error"]["code"], "payload_too_large");
    let (status, json) = support::get(app, &format!("/admin/subscriptions/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(json["format"], "envelope");
}

#[tokio::test]
async fn oversized_admin_bodies_and_records_are_413_in_memory() {
    let (ports, _) = memory_ports();
    oversized_admin_bodies_and_records_are_413(&support::app(ports)).await;
}

#[tokio::test]
async fn oversized_admin_bodies_and_records_are_413_on_dynamodb() {
    let (ports, _) = aws_ports().await;
    oversized_admin_bodies_and_records_are_413(&support::app(ports)).await;
}
