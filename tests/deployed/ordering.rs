//! Flow control under dispatch's role: an ordered, rate-limited subscription whose endpoint
//! answers the call's first event with a 429 and `Retry-After` (lane join, lease, leave and
//! read on the flow table; slot reservations and the pause as conditional updates).

use crate::flow::{self, attempts, dispatch_until};
use crate::stack::Stack;
use crate::support::sink::{Captured, Reply, Sink};
use crate::support::{self};

const HIPCALL_CALL_INIT: &str = include_str!("../../events/providers/hipcall/call_init.json");

#[tokio::test]
async fn an_ordered_rate_limited_subscription_holds_a_call_behind_a_throttled_event() {
    let stack = Stack::load().await;
    let (ingest, admin, dispatcher) = stack.parts();

    // Given a CRM that throttles the first request it gets, ordered and rate-limited
    let source = flow::hipcall_source(&admin).await;
    let crm = Sink::replying(|_: &Captured, n| match n {
        0 => Reply::too_many_requests(1),
        _ => Reply::Status(200),
    })
    .await;
    let sub = support::create_subscription(
        &admin,
        serde_json::json!({"url": crm.url("/crm"), "event_types": ["call.*"], "source": source,
                           "ordering": "call", "rate_limit_per_second": 5,
                           "retry_schedule_secs": [1]}),
    )
    .await;
    let sub_id = sub["id"].as_str().unwrap().to_owned();

    // When the call's start and end arrive
    let (status, started) = support::call(
        &ingest,
        "POST",
        &format!("/hooks/{source}"),
        Some("application/json"),
        HIPCALL_CALL_INIT,
    )
    .await;
    assert_eq!(status, 202, "{started}");
    let (status, ended) = flow::post_call_hangup(&ingest, &source).await;
    assert_eq!(status, 202, "{ended}");

    // Then the end waits (held) behind the throttled start, and goes after it succeeded
    assert!(dispatch_until(&stack.dispatch, &dispatcher, 20, || crm.count() >= 3).await);
    let order: Vec<String> = crm
        .received()
        .iter()
        .map(|c| {
            let body: serde_json::Value = serde_json::from_slice(&c.body).unwrap();
            body["type"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(order, ["call.started", "call.started", "call.ended"]);
    let ended_id = ended["id"].as_str().unwrap();
    let log = attempts(&admin, ended_id, &sub_id).await;
    assert_eq!(log.first(), Some(&(0, "held".into())), "{log:?}");
    assert_eq!(log.last(), Some(&(1, "succeeded".into())), "{log:?}");
    stack.assert_no_denials();
}
