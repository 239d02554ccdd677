//! Trace context: the ingest request's trace id travels with its event on the queue (SQS's
//! `AWSTraceHeader` system attribute on the emulator; the local queues under `serve`) and
//! names every log line and EMF line of the event's deliveries, retries included.

use crate::metrics::call_body;
use crate::support::aws::{self, run_dispatch_once};
use crate::support::logs::LogBuffer;
use crate::support::sink::Sink;
use crate::support::tempdir::TempDir;
use crate::support::{self, eventually, HIPCALL_CALL_HANGUP};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_cli::serve::Store;
use switchboard_core::adapters::aws::SqsQueue;
use switchboard_core::dispatch::Dispatcher;
use switchboard_core::domain::{QueueMessage, TraceHeader};
use switchboard_core::metrics::emf::EmfMetrics;
use switchboard_core::ports::QueueConsumer;
use switchboard_core::state::{Compose, Ports};
use switchboard_test_support::serve::ServeHarness;

const XRAY: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
const XRAY_ROOT: &str = "1-5759e988-bd862e3fe1be46a994272793";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACEPARENT_ROOT: &str = "1-4bf92f35-77b34da6a3ce929d0e0e4736";
const CALL_ID: &str = "2483a75a-56a2-41f1-991b-92b1667e324a";

/// The log lines of dispatch that name `event_id`.
fn dispatch_lines<'a>(logs: &'a str, event_id: &str) -> Vec<&'a str> {
    logs.lines()
        .filter(|l| l.contains("switchboard_engine::dispatch") && l.contains(event_id))
        .collect()
}

/// Every dispatch line about the event names its subscription, call, attempt and trace; the
/// attempts' lines are there, the retry's included.
fn assert_delivery_lines(
    logs: &str,
    event_id: &str,
    call_id: &str,
    trace_root: &str,
    attempts: u32,
) {
    let lines = dispatch_lines(logs, event_id);
    assert!(
        !lines.is_empty(),
        "no dispatch line about {event_id}:\n{logs}"
    );
    for line in &lines {
        for field in ["subscription_id=", "attempt=", "trace_id="] {
            assert!(line.contains(field), "{field} missing: {line}");
        }
        assert!(line.contains(&format!("call_id={call_id}")), "{line}");
        assert!(line.contains(trace_root), "not the ingest trace: {line}");
    }
    for n in 1..=attempts {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!("attempt={n}")) && l.contains(" attempt ")),
            "no log of attempt {n}:\n{}",
            lines.join("\n")
        );
    }
}

/// The trace id ingest logged for `event_id` ("accepted").
fn accepted_trace(logs: &str, event_id: &str) -> String {
    let line = logs
        .lines()
        .find(|l| l.contains("accepted") && l.contains(event_id))
        .unwrap_or_else(|| panic!("no accepted line for {event_id}:\n{logs}"));
    let at = line.find("trace_id=").unwrap() + "trace_id=".len();
    line[at..].split_whitespace().next().unwrap().to_owned()
}

/// Posts call `i`'s hang-up; its event id and call id.
async fn post(h: &ServeHarness, i: usize, header: Option<(&str, &str)>) -> (String, String) {
    let mut req = h
        .http
        .post(h.url("/hooks/hipcall-main"))
        .header("content-type", "application/json")
        .body(call_body(i));
    if let Some((name, value)) = header {
        req = req.header(name, value);
    }
    let response = req.send().await.unwrap();
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    let call = format!("2483a75a-56a2-41f1-991b-{i:012}");
    (body["id"].as_str().unwrap().to_owned(), call)
}

/// Under `serve`, on each local queue: a caller's `traceparent` or `X-Amzn-Trace-Id`, or an
/// id made for a request without one, names every dispatch line of the event's deliveries,
/// the retry's too.
async fn serve_carries_the_trace(store: Store) {
    let logs = LogBuffer::default();
    let _guard = logs.install();
    let mut config = switchboard_test_support::serve::config();
    config.store = store;
    config.workers = 1;
    let h = ServeHarness::with(config).await;
    h.create_source("hipcall-main", "hipcall").await;
    // a subscriber that fails once, then recovers: attempt 2 is a retry through the queue
    let crm = Sink::start().await;
    crm.set_status(500);
    h.create_subscription(json!({
        "url": crm.url("/crm"), "event_types": ["call.*"], "retry_schedule_secs": [1]
    }))
    .await;

    let from_w3c = post(&h, 1, Some(("traceparent", TRACEPARENT))).await;
    let from_xray = post(&h, 2, Some(("x-amzn-trace-id", XRAY))).await;
    let untraced = post(&h, 3, None).await;
    assert!(eventually(20, || async { crm.count() >= 3 }).await);
    crm.set_status(200);
    assert!(eventually(40, || async { crm.count() >= 6 }).await);
    h.running.stop().await;

    let text = logs.text();
    assert_delivery_lines(&text, &from_w3c.0, &from_w3c.1, TRACEPARENT_ROOT, 2);
    assert_delivery_lines(&text, &from_xray.0, &from_xray.1, XRAY_ROOT, 2);
    let made = accepted_trace(&text, &untraced.0);
    assert!(
        TraceHeader::from_xray(&format!("Root={made}")).is_some(),
        "{made}"
    );
    assert_ne!(made, XRAY_ROOT);
    assert_delivery_lines(&text, &untraced.0, &untraced.1, &made, 2);
}

// Current-thread runtime: serve's tasks log into this thread's capture.
#[tokio::test]
async fn serve_carries_the_trace_through_the_memory_queue() {
    serve_carries_the_trace(Store::Memory).await;
}

#[tokio::test]
async fn serve_carries_the_trace_through_the_durable_queue() {
    let dir = TempDir::new("trace-durable");
    serve_carries_the_trace(Store::durable(dir.path())).await;
}

/// The emulator's SQS keeps the `AWSTraceHeader` system attribute: sent with a message, it
/// is handed back on receive.
#[tokio::test]
async fn sqs_round_trips_the_trace_header() {
    let sdk = aws::sdk().await;
    let names = aws::resources(&sdk, 30).await;
    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &names.queue_url);
    let trace = TraceHeader::from_xray(XRAY).unwrap();
    let message = QueueMessage::Deliver {
        event_id: "evt_trace".into(),
        subscription_id: "sub_trace".into(),
        attempt: 2,
        not_before: None,
        trigger: switchboard_core::domain::Trigger::Retry,
        rate_slot: None,
    };
    use switchboard_core::ports::{EventQueue, Outgoing};
    let out = Outgoing {
        message: &message,
        delay: Duration::ZERO,
        trace: Some(&trace),
    };
    queue.send_traced(out).await.unwrap();
    queue.send(&message, Duration::ZERO).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..5 {
        got.extend(queue.receive(10, Duration::from_secs(1)).await.unwrap());
        if got.len() >= 2 {
            break;
        }
    }
    assert_eq!(got.len(), 2);
    let mut traces: Vec<_> = got.iter().map(|m| m.trace.clone()).collect();
    traces.sort_by_key(Option::is_some);
    assert_eq!(traces, vec![None, Some(trace)]);
}

/// On the AWS adapters (emulator): ingest sends the event with the caller's trace header,
/// dispatch (as Lambda's SQS mapping calls it) reads it back, and every EMF line and log
/// line of the event's deliveries, the retry's too, carries its id.
#[tokio::test]
async fn the_trace_follows_an_event_through_sqs_to_each_delivery() {
    let logs = LogBuffer::default();
    let _guard = logs.install();
    let sdk = aws::sdk().await;
    let names = aws::resources(&sdk, 30).await;
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let kept = lines.clone();
    let emf = EmfMetrics::with_sink("stack-t", move |l| kept.lock().unwrap().push(l.to_owned()));
    let ports = Ports::aws(&sdk, &names).with_metrics(Arc::new(emf));
    let app = support::app(ports.clone());
    support::create_source(&app, "hipcall-main", "hipcall").await;
    let crm = Sink::start().await;
    crm.set_status(503);
    let sub = support::create_subscription(
        &app,
        json!({"url": crm.url("/crm"), "event_types": ["call.*"], "retry_schedule_secs": [1]}),
    )
    .await;
    let sub_id = sub["id"].as_str().unwrap();

    let request = http::Request::builder()
        .method("POST")
        .uri("/hooks/hipcall-main")
        .header("content-type", "application/json")
        .header("x-amzn-trace-id", XRAY)
        .body(bytes::Bytes::from_static(HIPCALL_CALL_HANGUP.as_bytes()))
        .unwrap();
    let response = app.handle(request).await;
    assert_eq!(response.status(), 202);
    let accepted: Value = serde_json::from_slice(response.body()).unwrap();
    let event_id = accepted["id"].as_str().unwrap().to_owned();

    let dispatcher = Dispatcher::from_settings(ports.clone(), support::settings()).unwrap();
    let consumer = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &names.queue_url);
    for _ in 0..10 {
        run_dispatch_once(&dispatcher, &consumer).await;
        if crm.count() >= 1 {
            break;
        }
    }
    crm.set_status(200);
    for _ in 0..10 {
        run_dispatch_once(&dispatcher, &consumer).await;
        if crm.count() >= 2 {
            break;
        }
    }
    assert_eq!(crm.count(), 2);

    let docs: Vec<Value> = lines
        .lock()
        .unwrap()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|d: &Value| d["event"] == event_id.as_str() && d.get("Deliveries").is_some())
        .collect();
    let outcomes: Vec<&str> = docs
        .iter()
        .map(|d| d["Outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["retrying", "succeeded"]);
    for d in &docs {
        assert_eq!(d["trace"], XRAY_ROOT, "{d}");
        assert_eq!(d["Subscription"], sub_id);
        assert_eq!(d["call"], CALL_ID);
    }
    assert_delivery_lines(&logs.text(), &event_id, CALL_ID, XRAY_ROOT, 2);
}
