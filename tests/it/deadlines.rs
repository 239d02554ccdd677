//! Time limits of the Lambda functions, over the AWS adapters on the emulator: dispatch
//! starts no attempt it could not finish before the invocation's deadline (the messages go
//! back to SQS, the pairs already delivered are not re-sent); ingest's SDK calls time out
//! inside its function timeout, and a provider retry after a send that failed, timed out or
//! was cut short by a killed process is queued as new, never called a duplicate.

use crate::support::fault_http::FaultyHttp;
use crate::support::lambda::try_dispatch_round_before;
use crate::support::{self, aws, sink::Sink};
use bytes::Bytes;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use switchboard_core::adapters::aws::SqsQueue;
use switchboard_core::api::App;
use switchboard_core::config::Settings;
use switchboard_core::dispatch::Dispatcher;
use switchboard_core::domain::attempt::AttemptStatus;
use switchboard_core::state::{lambda_sdk_config_from, Compose, Ports};

fn call_end(i: usize) -> String {
    crate::support::hipcall_call_hangup(&format!("2483a75a-2222-4000-8000-{i:012}"))
}

/// The dedup table's items (a test may scan; the service never does).
async fn claims(
    sdk: &aws_config::SdkConfig,
    table: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    aws::scan(sdk, table).await.items.unwrap_or_default()
}

fn app(ports: Ports, settings: Settings) -> App {
    App {
        settings,
        ..support::app(ports)
    }
}

/// Posts a call-end webhook; returns the whole response (headers included).
async fn post(app: &App, body: String) -> http::Response<Bytes> {
    let req = http::Request::builder()
        .method("POST")
        .uri("/hooks/hipcall-main")
        .header("content-type", "application/json")
        .body(Bytes::from(body))
        .unwrap();
    app.handle(req).await
}

fn json(resp: &http::Response<Bytes>) -> serde_json::Value {
    serde_json::from_slice(resp.body()).unwrap()
}

// ---- dispatch honours the invocation's deadline ------------------------------------------

#[tokio::test]
async fn dispatch_on_sqs_leaves_what_it_cannot_finish_before_the_deadline_to_redelivery() {
    // Given two subscribers, one answering at once (attempts of at most 1 s) and one that
    // hangs (attempts of up to 10 s), and two events queued on SQS
    let aws::Stack(sdk, names, ports, app) = aws::stack(2).await;
    support::create_source(&app, "hipcall-main", "hipcall").await;
    let fast = Sink::start().await;
    let slow = Sink::start().await;
    slow.set_delay(Duration::from_secs(60));
    let fast_sub = support::create_subscription(
        &app,
        serde_json::json!({"url": fast.url("/crm"), "event_types": ["*"], "timeout_ms": 1000}),
    )
    .await;
    support::create_subscription(
        &app,
        serde_json::json!({"url": slow.url("/crm"), "event_types": ["*"], "timeout_ms": 10000}),
    )
    .await;
    let mut event_ids = Vec::new();
    for i in 0..2 {
        let (status, json) = support::post_json(&app, "/hooks/hipcall-main", call_end(i)).await;
        assert_eq!(status, 202, "{json}");
        event_ids.push(json["id"].as_str().unwrap().to_owned());
    }

    // When dispatch is invoked with 5 s left (as Lambda's context says), until both
    // messages were handed to it
    let settings = Settings {
        deadline_margin: Duration::from_millis(500),
        ..support::settings()
    };
    let dispatcher = Dispatcher::from_settings(ports.clone(), settings).unwrap();
    let consumer = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &names.queue_url);
    let (mut received, mut failed) = (0, 0);
    for _ in 0..10 {
        let deadline = SystemTime::now() + Duration::from_secs(5);
        let round = try_dispatch_round_before(
            &dispatcher,
            &consumer,
            Duration::from_secs(1),
            Some(deadline),
        )
        .await
        .unwrap();
        // Then each invocation returns before its deadline
        assert!(SystemTime::now() < deadline, "returned after the deadline");
        received += round.received;
        failed += round.failed;
        if received >= 2 {
            break;
        }
    }
    assert_eq!(received, 2);

    // And both messages are batch item failures (the hanging subscriber's attempts were
    // not started), while the fast subscriber got both events, recorded in DynamoDB
    assert_eq!(failed, 2);
    assert_eq!(fast.count(), 2);
    assert_eq!(slow.count(), 0);
    for id in &event_ids {
        let a = support::attempts_of(&ports, id).await;
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!(a[0].subscription_id, fast_sub["id"].as_str().unwrap());
        assert_eq!(a[0].status, AttemptStatus::Succeeded);
    }

    // And when SQS hands them out again (the other subscriber answers now), only the pairs
    // without a record are sent
    slow.set_delay(Duration::ZERO);
    let mut handled = 0;
    for _ in 0..10 {
        let round = try_dispatch_round_before(
            &dispatcher,
            &consumer,
            Duration::from_secs(2),
            Some(SystemTime::now() + Duration::from_secs(60)),
        )
        .await
        .unwrap();
        assert_eq!(round.failed, 0);
        handled += round.received;
        if handled >= 2 {
            break;
        }
    }
    assert_eq!(handled, 2);
    assert_eq!(fast.count(), 2, "already delivered: not re-sent");
    assert_eq!(slow.count(), 2);
    for id in &event_ids {
        let a = support::attempts_of(&ports, id).await;
        assert_eq!(a.len(), 2, "{a:?}");
        assert!(a
            .iter()
            .all(|a| a.attempt == 1 && a.status == AttemptStatus::Succeeded));
    }
}

// ---- ingest: SDK timeouts and the dedup claim ----------------------------------------------

/// An HTTP client holding every SendMessage for `delay` while the returned switch is on.
fn slow_send_message(delay: Duration) -> (Arc<AtomicBool>, FaultyHttp) {
    let slow_sqs = Arc::new(AtomicBool::new(true));
    let slow = slow_sqs.clone();
    let faulty = FaultyHttp::slow(move |seen| {
        (slow.load(Ordering::SeqCst) && seen.operation == "SendMessage").then_some(delay)
    });
    (slow_sqs, faulty)
}

#[tokio::test]
async fn a_send_timing_out_is_503_and_the_provider_retry_is_queued_not_a_duplicate() {
    // Given ingest with the Lambda SDK configuration (attempts of 500 ms, calls of 1.5 s at
    // most), and SQS answering SendMessage only after 5 s
    let settings = Settings {
        aws_attempt_timeout: Duration::from_millis(500),
        aws_operation_timeout: Duration::from_millis(1_500),
        ..support::settings()
    };
    let sdk = aws::sdk().await;
    let names = aws::resources(&sdk, 30).await;
    let (slow_sqs, faulty) = slow_send_message(Duration::from_secs(5));
    let lambda_sdk = lambda_sdk_config_from(|k| std::env::var(k).ok(), &settings);
    let ports = Ports::aws(&faulty.config(&lambda_sdk), &names);
    let app = app(ports, settings);
    support::create_source(&app, "hipcall-main", "hipcall").await;

    // When a provider posts a call-end webhook
    let resp = post(&app, call_end(100)).await;

    // Then the send times out: 503, nothing queued, no claim left
    assert_eq!(resp.status(), 503, "{:?}", resp.body());
    assert_eq!(json(&resp)["error"]["code"], "unavailable");
    assert!(faulty.injected().iter().any(|op| op == "SendMessage"));
    assert_eq!(aws::queue_depth(&sdk, &names.queue_url).await, 0);
    assert!(claims(&sdk, &names.dedup_table).await.is_empty());

    // And the provider's retry, SQS answering again, is queued as a new event (202)
    slow_sqs.store(false, Ordering::SeqCst);
    let resp = post(&app, call_end(100)).await;
    assert_eq!(resp.status(), 202, "{:?}", resp.body());
    let first = json(&resp);
    assert_eq!(aws::queue_depth(&sdk, &names.queue_url).await, 1);
    let items = claims(&sdk, &names.dedup_table).await;
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0]["event_id"].as_s().unwrap(),
        first["id"].as_str().unwrap()
    );
    assert_eq!(items[0]["queued"].as_bool().unwrap(), &true, "confirmed");
    // And a further retry is a duplicate of that one
    let resp = post(&app, call_end(100)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(json(&resp)["id"], first["id"]);
    assert_eq!(json(&resp)["duplicate"], true);
    assert_eq!(aws::queue_depth(&sdk, &names.queue_url).await, 1);
}

#[tokio::test]
async fn a_claim_left_pending_by_a_killed_ingest_is_taken_over_by_the_provider_retry() {
    // Given ingest with a 3 s send window, and SQS answering SendMessage only after a minute
    let settings = Settings {
        ingest_send_window: Duration::from_secs(3),
        ..support::settings()
    };
    let sdk = aws::sdk().await;
    let names = aws::resources(&sdk, 30).await;
    let (slow_sqs, faulty) = slow_send_message(Duration::from_secs(60));
    let ports = Ports::aws(&faulty.config(&sdk), &names);
    let app = app(ports, settings);
    support::create_source(&app, "hipcall-main", "hipcall").await;

    // When the invocation is killed while it sends (its claim written, nothing queued)
    let cut = tokio::time::timeout(Duration::from_secs(1), post(&app, call_end(200))).await;
    assert!(cut.is_err(), "the request was cut short");
    let items = claims(&sdk, &names.dedup_table).await;
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0]["queued"].as_bool().unwrap(),
        &false,
        "left pending"
    );
    slow_sqs.store(false, Ordering::SeqCst);

    // Then a retry while the claim may still be sending is asked to come back later
    let resp = post(&app, call_end(200)).await;
    assert_eq!(resp.status(), 503, "{:?}", resp.body());
    assert_eq!(json(&resp)["error"]["code"], "in_progress");
    let retry_after: u64 = resp.headers()[http::header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3).contains(&retry_after), "{retry_after}");
    assert_eq!(aws::queue_depth(&sdk, &names.queue_url).await, 0);

    // And the retry after that is queued as a new event (202), not a duplicate
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let resp = post(&app, call_end(200)).await;
    assert_eq!(resp.status(), 202, "{:?}", resp.body());
    let first = json(&resp);
    assert_eq!(aws::queue_depth(&sdk, &names.queue_url).await, 1);
    // And the next one is a duplicate of it
    let resp = post(&app, call_end(200)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(json(&resp)["id"], first["id"]);
    assert_eq!(aws::queue_depth(&sdk, &names.queue_url).await, 1);
}
