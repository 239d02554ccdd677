//! Dispatch under its own role: success, a failure and its queued retry, exhaustion, a
//! replayed message, an SQS redelivery, 410 and auto-disable (each writes the
//! subscription back), as the event source mapping feeds it.

use crate::flow::{self, attempts, dispatch_until};
use crate::stack::Stack;
use crate::support::{self, sink::Sink};
use std::time::Duration;
use switchboard_core::api::Surface;
use switchboard_core::domain::{QueueMessage, StoredEvent};

#[tokio::test]
async fn success_failure_retry_exhaustion_replay_and_redelivery() {
    let stack = Stack::load().await;
    let (ingest, admin, dispatcher) = stack.parts();

    // Given a source, a CRM that answers 200 and a ticketing hook that answers 500 with
    // one retry a second later
    let source = flow::hipcall_source(&admin).await;
    let (crm, ok_id) = support::crm_for_call_ends(&admin, &source).await;
    let tickets = Sink::start().await;
    tickets.set_status(500);
    let failing = support::create_subscription(
        &admin,
        serde_json::json!({"url": tickets.url("/t"), "event_types": ["call.*"], "source": source,
                           "retry_schedule_secs": [1]}),
    )
    .await;
    let failing_id = failing["id"].as_str().unwrap().to_owned();

    // When the event arrives and dispatch fans it out
    let (status, json) = flow::post_call_hangup(&ingest, &source).await;
    assert_eq!(status, 202, "{json}");
    let event_id = json["id"].as_str().unwrap().to_owned();
    assert!(
        dispatch_until(&stack.dispatch, &dispatcher, 10, || crm.count() == 1
            && tickets.count() == 1)
        .await
    );

    // Then the CRM has it; the failure is recorded, marks the subscription failing
    // (PutItem on subscriptions) and queues its retry
    assert_eq!(
        attempts(&admin, &event_id, &ok_id).await,
        vec![(1, "succeeded".into())]
    );
    assert_eq!(
        attempts(&admin, &event_id, &failing_id).await,
        vec![(1, "retrying".into())]
    );
    assert!(flow::subscription(&admin, &failing_id).await["failing_since"].is_string());

    // And the retry message, failing again, exhausts the schedule
    assert!(dispatch_until(&stack.dispatch, &dispatcher, 15, || tickets.count() == 2).await);
    assert_eq!(
        attempts(&admin, &event_id, &failing_id).await,
        vec![(1, "retrying".into()), (2, "exhausted".into())]
    );

    // And once the endpoint is fixed, admin's replay of the pair is delivered and clears
    // the subscription's failure run
    tickets.set_status(200);
    let (status, report) = support::call(
        &admin,
        "POST",
        "/admin/replay",
        None,
        serde_json::json!({"event_id": event_id, "subscription_id": failing_id}).to_string(),
    )
    .await;
    assert_eq!(status, 202, "{report}");
    assert!(dispatch_until(&stack.dispatch, &dispatcher, 10, || tickets.count() == 3).await);
    assert_eq!(
        attempts(&admin, &event_id, &failing_id).await.last(),
        Some(&(3, "succeeded".into()))
    );
    assert!(flow::subscription(&admin, &failing_id).await["failing_since"].is_null());

    // And an SQS redelivery of the original event message sends nothing again
    let (status, stored) = support::get(&admin, &format!("/admin/events/{event_id}")).await;
    assert_eq!(status, 200, "{stored}");
    let event: StoredEvent = serde_json::from_value(stored).unwrap();
    let again = QueueMessage::Event {
        event: std::sync::Arc::new(event),
    };
    stack
        .ingest
        .ports()
        .queue
        .send(&again, Duration::ZERO)
        .await
        .unwrap();
    let before = (crm.count(), tickets.count());
    dispatch_until(&stack.dispatch, &dispatcher, 3, || false).await;
    assert_eq!((crm.count(), tickets.count()), before);
    stack.assert_no_denials();
}

#[tokio::test]
async fn gone_and_failing_too_long_disable_the_subscription() {
    let stack = Stack::load().await;
    let ingest = stack.ingest.app(Surface::Ingest);
    let admin = stack.admin.app(Surface::Admin);
    // (the stack's settings, but a subscription is disabled at its second failure rather
    // than after days of them)
    let mut settings = stack.dispatch.settings();
    settings.disable_after = Duration::ZERO;
    let dispatcher = stack.dispatch.dispatcher_with(settings);

    // Given an endpoint that answers 410 Gone and one that keeps failing
    let source = flow::hipcall_source(&admin).await;
    let gone = Sink::start().await;
    gone.set_status(410);
    let broken = Sink::start().await;
    broken.set_status(503);
    let gone_sub = support::create_subscription(
        &admin,
        serde_json::json!({"url": gone.url("/g"), "event_types": ["*"], "source": source}),
    )
    .await;
    let broken_sub = support::create_subscription(
        &admin,
        serde_json::json!({"url": broken.url("/b"), "event_types": ["*"], "source": source,
                           "retry_schedule_secs": [1, 1]}),
    )
    .await;

    // When an event is dispatched and the failing endpoint's retry fails too
    let (status, json) = flow::post_call_hangup(&ingest, &source).await;
    assert_eq!(status, 202, "{json}");
    assert!(
        dispatch_until(&stack.dispatch, &dispatcher, 15, || gone.count() == 1
            && broken.count() == 2)
        .await
    );

    // Then both subscriptions are disabled, with the reason
    for sub in [&gone_sub, &broken_sub] {
        let seen = flow::subscription(&admin, sub["id"].as_str().unwrap()).await;
        assert_eq!(seen["enabled"], false, "{seen}");
        assert!(seen["disabled_reason"].is_string(), "{seen}");
    }
    stack.assert_no_denials();
}
