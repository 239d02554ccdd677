//! Dead letters under admin's role: the stack's dead-letter queue listed and redriven by
//! the admin function (ReceiveMessage, ChangeMessageVisibility, DeleteMessage on the DLQ;
//! SendMessage on the events queue), and the redriven event delivered by dispatch's role.
//!
//! The events queue's visibility timeout (360 s) makes waiting for SQS's own redrive too
//! slow here; the test's operator puts the message on the DLQ as that redrive would (the
//! body as queued), and the emulator's redrive itself is covered by the `it` suite.

use crate::flow::{self, dispatch_until};
use crate::stack::Stack;
use crate::support;
use switchboard_core::api::Surface;
use switchboard_core::domain::QueueMessage;
use switchboard_test_support::records::event;

#[tokio::test]
async fn dead_letters_are_listed_and_redriven_under_the_admin_role() {
    let stack = Stack::load().await;
    let admin = stack.admin.app(Surface::Admin);
    let dispatcher = stack.dispatch.dispatcher_with(stack.dispatch.settings());
    let source = flow::hipcall_source(&admin).await;
    let (crm, _) = support::crm_for_call_ends(&admin, &source).await;

    // Given an event message on the stack's dead-letter queue
    let dlq = stack
        .admin
        .resources()
        .dead_letter_queue_url
        .expect("the template gives admin SWITCHBOARD_DEAD_LETTER_QUEUE_URL");
    let event_id = flow::unique("evt_dead");
    let body = QueueMessage::Event {
        event: std::sync::Arc::new(event(&event_id, &source)),
    }
    .to_json()
    .unwrap();
    let operator = aws_sdk_sqs::Client::new(&support::aws::sdk().await);
    operator
        .send_message()
        .queue_url(&dlq)
        .message_body(&body)
        .send()
        .await
        .unwrap();

    // When admin lists the dead letters
    let (status, page) = support::get(&admin, "/admin/dead-letters").await;
    assert_eq!(status, 200, "{page}");
    let item = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["event_id"] == event_id.as_str())
        .unwrap_or_else(|| panic!("not listed: {page}"))
        .clone();
    assert_eq!(item["event_type"], "call.ended");
    assert_eq!(item["body"], body.as_str());

    // And redrives it by id
    let (status, report) = support::call(
        &admin,
        "POST",
        "/admin/dead-letters/redrive",
        Some("application/json"),
        serde_json::json!({"ids": [item["message_id"]]}).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["count"], 1, "{report}");

    // Then dispatch delivers it once, and it is no longer dead
    assert!(dispatch_until(&stack.dispatch, &dispatcher, 20, || crm.count() >= 1).await);
    dispatch_until(&stack.dispatch, &dispatcher, 2, || false).await;
    assert_eq!(crm.count(), 1);
    let (_, page) = support::get(&admin, "/admin/dead-letters").await;
    assert!(
        !page["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["event_id"] == event_id.as_str()),
        "{page}"
    );
    stack.assert_no_denials();
}
