//! The whole pipeline over the AWS wire protocols: ingest handler → SQS (emulator) →
//! dispatch handler (as Lambda calls it) → real HTTP sink → attempts read back from
//! DynamoDB (emulator) through the admin handler.

use crate::support::aws::{self, dispatch_until_handled, run_dispatch_once};
use crate::support::{self, sink::Sink};
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::adapters::aws::SqsQueue;
use switchboard_core::dispatch::Dispatcher;

#[tokio::test]
async fn hipcall_call_hangup_is_delivered_and_recorded_through_sqs_and_dynamodb() {
    // Given a stack's resources on the emulator, a Hipcall source and a CRM subscribed to call.ended
    let aws::Stack(sdk, names, ports, app) = aws::stack(30).await;
    let crm = Sink::start().await;
    support::create_source(&app, "hipcall-main", "hipcall").await;
    let sub = support::create_subscription(
        &app,
        serde_json::json!({"url": crm.url("/crm"), "event_types": ["call.ended"], "format": "envelope"}),
    )
    .await;
    let other = Sink::start().await;
    support::create_subscription(
        &app,
        serde_json::json!({"url": other.url("/tasks"), "event_types": ["task.*"]}),
    )
    .await;

    // When the provider posts its call_hangup webhook
    let (status, accepted) =
        support::post_json(&app, "/hooks/hipcall-main", support::HIPCALL_CALL_HANGUP).await;
    assert_eq!(status, 202, "{accepted}");
    let event_id = accepted["id"].as_str().unwrap().to_owned();

    // Then SQS holds it, and dispatch delivers it to the CRM only
    let dispatcher = Dispatcher::from_settings(ports.clone(), support::settings()).unwrap();
    let consumer = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &names.queue_url);
    assert_eq!(dispatch_until_handled(&dispatcher, &consumer, 5).await, 1);
    let got = crm.received();
    assert_eq!(got.len(), 1);
    assert_eq!(other.count(), 0);
    let body: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["id"], event_id.as_str());
    assert_eq!(body["type"], "call.ended");
    assert_eq!(body["call"]["id"], "2483a75a-56a2-41f1-991b-92b1667e324a");
    assert_eq!(
        got[0].headers["webhook-id"].to_str().unwrap(),
        format!("{event_id}_{}", sub["id"].as_str().unwrap())
    );
    assert!(got[0].headers["webhook-signature"]
        .to_str()
        .unwrap()
        .starts_with("v1,"));

    // And the attempt is recorded in DynamoDB: one, succeeded, with status and duration
    let (status, deliveries) =
        support::get(&app, &format!("/admin/deliveries?event_id={event_id}")).await;
    assert_eq!(status, 200, "{deliveries}");
    let items = deliveries["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["status"], "succeeded");
    assert_eq!(items[0]["http_status"], 200);
    assert_eq!(items[0]["attempt"], 1);
    assert_eq!(items[0]["subscription_id"], sub["id"]);
    assert!(items[0]["duration_ms"].is_u64());
    assert_eq!(
        items[0]["request_headers"]["webhook-signature"],
        "[redacted]"
    );

    // And the event itself is stored with its raw body
    let (status, stored) = support::get(&app, &format!("/admin/events/{event_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(stored["envelope"]["provider_event"], "call_hangup");

    // And an SQS redelivery of the same event message sends nothing again
    let before = crm.count();
    let queue = Arc::new(consumer.clone());
    let _ = queue;
    let stored_event: switchboard_core::domain::StoredEvent =
        serde_json::from_value(stored).unwrap();
    let again = switchboard_core::domain::QueueMessage::Event {
        event: std::sync::Arc::new(stored_event),
    };
    ports.queue.send(&again, Duration::ZERO).await.unwrap();
    let redelivered = dispatch_until_handled(&dispatcher, &consumer, 5).await;
    assert_eq!(redelivered, 1);
    assert_eq!(crm.count(), before);
}

#[tokio::test]
async fn a_failing_subscriber_gets_a_retry_scheduled_on_sqs() {
    let aws::Stack(sdk, names, ports, app) = aws::stack(30).await;
    let crm = Sink::start().await;
    crm.set_status(500);
    support::create_source(&app, "hipcall-main", "hipcall").await;
    support::create_subscription(
        &app,
        serde_json::json!({"url": crm.url("/crm"), "event_types": ["call.*"], "retry_schedule_secs": [1]}),
    )
    .await;
    let (status, accepted) =
        support::post_json(&app, "/hooks/hipcall-main", support::HIPCALL_CALL_HANGUP).await;
    assert_eq!(status, 202);
    let event_id = accepted["id"].as_str().unwrap().to_owned();
    let dispatcher = Dispatcher::from_settings(ports.clone(), support::settings()).unwrap();
    let consumer = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &names.queue_url);
    // First attempt fails with 500 and schedules attempt 2; the subscriber recovers; the
    // retry delivers; then the schedule ([1]) would have been used up.
    let mut rounds = 0;
    while crm.count() < 1 && rounds < 5 {
        run_dispatch_once(&dispatcher, &consumer).await;
        rounds += 1;
    }
    crm.set_status(200);
    rounds = 0;
    while crm.count() < 2 && rounds < 10 {
        run_dispatch_once(&dispatcher, &consumer).await;
        rounds += 1;
    }
    assert_eq!(crm.count(), 2);
    let (_, deliveries) =
        support::get(&app, &format!("/admin/deliveries?event_id={event_id}")).await;
    let statuses = support::attempt_statuses(&deliveries);
    assert_eq!(
        statuses,
        vec![(1, "retrying".into()), (2, "succeeded".into())]
    );
}
