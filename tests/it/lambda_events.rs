//! The sample events under `events/` (what `cargo lambda invoke --data-file` sends, see
//! scripts/lambda-smoke) deserialize as Lambda delivers them and run through the same
//! handlers the ingest and dispatch mains call.

use crate::support::{self, sink::Sink};
use aws_lambda_events::event::sqs::SqsEvent;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::adapters::memory::MemoryQueue;
use switchboard_core::api::{AdminAuth, App, Surface};
use switchboard_core::dispatch::Dispatcher;
use switchboard_core::domain::QueueMessage;
use switchboard_core::entry::http_glue;
use switchboard_core::ports::QueueConsumer;
use switchboard_core::state::{Compose, Ports};

const APIGW_HIPCALL_CALL_HANGUP: &str = include_str!("../../events/apigw-hipcall-call-hangup.json");
const SQS_EVENT_BATCH: &str = include_str!("../../events/sqs-event-batch.json");

fn memory_ports() -> (Ports, Arc<MemoryQueue>) {
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(30), 5));
    (Ports::in_memory(queue.clone()), queue)
}

/// The ingest function's app (IAM admin auth, the ingest surface) over in-memory ports that
/// hold the Hipcall source the samples name, and its queue.
async fn ingest_with_hipcall_source() -> (App, Arc<MemoryQueue>) {
    let (ports, queue) = memory_ports();
    support::create_source(&support::app(ports.clone()), "hipcall-main", "hipcall").await;
    let ingest = App {
        ports,
        settings: support::settings(),
        admin_auth: AdminAuth::Iam,
        surface: Surface::Ingest,
    };
    (ingest, queue)
}

#[tokio::test]
async fn apigw_sample_is_accepted_by_the_ingest_function() {
    // Given the ingest function's app over in-memory ports, with the source the sample names
    let (ingest, queue) = ingest_with_hipcall_source().await;

    // When API Gateway's request (HTTP API, payload 2.0) goes through the Lambda glue
    let request = lambda_http::request::from_str(APIGW_HIPCALL_CALL_HANGUP).unwrap();
    let response = http_glue::ingest(&ingest, request).await.unwrap();

    // Then it answers 202 with the event id, and the queued event carries the fixture
    assert_eq!(response.status(), 202, "{:?}", response.body());
    let body: serde_json::Value = match response.body() {
        lambda_http::Body::Text(text) => serde_json::from_str(text).unwrap(),
        other => panic!("expected a JSON text body, got {other:?}"),
    };
    let id = body["id"].as_str().unwrap();
    let received = queue.receive(10, Duration::ZERO).await.unwrap();
    assert_eq!(received.len(), 1);
    let QueueMessage::Event { event } = QueueMessage::from_json(&received[0].body).unwrap() else {
        panic!("expected an event message: {}", received[0].body);
    };
    assert_eq!(event.envelope.id, id);
    assert_eq!(event.envelope.event_type, "call.ended");
    assert_eq!(event.envelope.source, "hipcall-main");
    assert_eq!(event.raw.body, support::HIPCALL_CALL_HANGUP.as_bytes());
    // with the trace API Gateway's X-Amzn-Trace-Id names, for dispatch to carry on
    let trace = received[0].trace.as_ref().expect("queued with its trace");
    assert_eq!(trace.root(), "1-673a4842-0c4b8e1f5d2a6b7c8d9e0f1a");
}

/// A request without a trace header of its own is queued with the Lambda invocation's
/// trace (the runtime's context).
#[tokio::test]
async fn without_a_trace_header_the_invocations_trace_is_queued() {
    use lambda_http::RequestExt;
    let (ingest, queue) = ingest_with_hipcall_source().await;
    let mut request = lambda_http::request::from_str(APIGW_HIPCALL_CALL_HANGUP).unwrap();
    request.headers_mut().remove("x-amzn-trace-id");
    let mut context = lambda_http::Context::default();
    context.xray_trace_id =
        Some("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0".into());
    let request = request.with_lambda_context(context);

    let response = http_glue::ingest(&ingest, request).await.unwrap();

    assert_eq!(response.status(), 202);
    let received = queue.receive(10, Duration::ZERO).await.unwrap();
    assert_eq!(
        received[0].trace.as_ref().map(|t| t.header()),
        Some("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0")
    );
}

#[tokio::test]
async fn sqs_sample_is_dispatched_with_no_batch_failures() {
    // Given the dispatch function's dispatcher over in-memory ports and a subscriber
    let (ports, _queue) = memory_ports();
    let crm = Sink::start().await;
    support::create_subscription(
        &support::app(ports.clone()),
        serde_json::json!({"url": crm.url("/crm"), "event_types": ["call.ended"], "format": "envelope"}),
    )
    .await;
    let dispatcher = Dispatcher::from_settings(ports, support::settings()).unwrap();

    // When Lambda hands it the sample SQS event
    let event: SqsEvent = serde_json::from_str(SQS_EVENT_BATCH).unwrap();
    assert_eq!(event.records.len(), 1);
    let queued = QueueMessage::from_json(event.records[0].body.as_deref().unwrap()).unwrap();
    let response = dispatcher.handle_sqs_event(event).await;

    // Then no record is reported failed and the subscriber got the event, whose raw
    // request is the Hipcall fixture
    assert!(
        response.batch_item_failures.is_empty(),
        "{:?}",
        response
            .batch_item_failures
            .iter()
            .map(|f| &f.item_identifier)
            .collect::<Vec<_>>()
    );
    let got = crm.received();
    assert_eq!(got.len(), 1);
    let body: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["id"], queued.event_id());
    assert_eq!(body["type"], "call.ended");
    let QueueMessage::Event { event } = queued else {
        panic!("the sample carries an event message");
    };
    assert_eq!(event.raw.body, support::HIPCALL_CALL_HANGUP.as_bytes());
}
