//! Admin under its own role: every route and every ops listing, and the three replays.

use crate::flow::{self, dispatch_until, unique};
use crate::stack::Stack;
use crate::support;
use switchboard_core::api::App;

async fn get(admin: &App, uri: &str) -> serde_json::Value {
    let (status, json) = support::get(admin, uri).await;
    assert_eq!(status, 200, "GET {uri}: {json}");
    json
}

/// Record `id` of `collection` (`sources`, `subscriptions`) is listed, reads back, and
/// takes the PATCH `body`.
async fn list_read_patch(admin: &App, collection: &str, id: &str, body: &'static str) {
    let all = format!("/admin/{collection}");
    assert!(listed(&get(admin, &all).await, "id").contains(&id));
    let one = format!("{all}/{id}");
    get(admin, &one).await;
    let (status, json) = support::call(admin, "PATCH", &one, None, body).await;
    assert_eq!(status, 200, "PATCH {one}: {json}");
}

/// The `field` of each listed item.
fn listed<'a>(page: &'a serde_json::Value, field: &str) -> Vec<&'a str> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i[field].as_str())
        .collect()
}

#[tokio::test]
async fn every_route_and_listing_under_the_admin_role() {
    let stack = Stack::load().await;
    let (ingest, admin, dispatcher) = stack.parts();

    // Sources: create, list, read, update, delete
    let source = flow::hipcall_source(&admin).await;
    let scratch = unique("scratch");
    support::create_source(&admin, &scratch, "generic").await;
    list_read_patch(&admin, "sources", &scratch, r#"{"description": "renamed"}"#).await;
    let (status, json) = support::delete(&admin, &format!("/admin/sources/{scratch}")).await;
    assert_eq!(status, 204, "{json}");
    let (status, _) = support::get(&admin, &format!("/admin/sources/{scratch}")).await;
    assert_eq!(status, 404);

    // Subscriptions: create, list, read, update, rotate the secret, delete
    let (crm, sub_id) = support::crm_for_call_ends(&admin, &source).await;
    list_read_patch(
        &admin,
        "subscriptions",
        &sub_id,
        r#"{"description": "crm"}"#,
    )
    .await;
    let (status, json) = support::call(
        &admin,
        "POST",
        &format!("/admin/subscriptions/{sub_id}/rotate-secret"),
        None,
        "",
    )
    .await;
    assert_eq!(status, 200, "{json}");
    let extra = support::create_subscription(
        &admin,
        serde_json::json!({"url": crm.url("/x"), "event_types": ["nothing.*"], "source": source}),
    )
    .await;
    let extra_id = extra["id"].as_str().unwrap();
    let (status, json) = support::delete(&admin, &format!("/admin/subscriptions/{extra_id}")).await;
    assert_eq!(status, 204, "{json}");

    // An event, delivered
    let (status, json) = flow::post_call_hangup(&ingest, &source).await;
    assert_eq!(status, 202, "{json}");
    let event_id = json["id"].as_str().unwrap().to_owned();
    assert!(dispatch_until(&stack.dispatch, &dispatcher, 10, || crm.count() == 1).await);
    let call_id = "2483a75a-56a2-41f1-991b-92b1667e324a";

    // Events: one, by source, by call
    get(&admin, &format!("/admin/events/{event_id}")).await;
    for uri in [
        format!("/admin/events?source={source}"),
        format!("/admin/events?call_id={call_id}&limit=100"),
    ] {
        assert!(
            listed(&get(&admin, &uri).await, "id").contains(&event_id.as_str()),
            "{uri}"
        );
    }

    // Deliveries: by event (and pair), subscription (and status), call, status, recent
    for uri in [
        format!("/admin/deliveries?event_id={event_id}"),
        format!("/admin/deliveries?event_id={event_id}&subscription_id={sub_id}"),
        format!("/admin/deliveries?subscription_id={sub_id}"),
        format!("/admin/deliveries?subscription_id={sub_id}&status=succeeded"),
        format!("/admin/deliveries?call_id={call_id}&limit=100"),
        format!("/admin/deliveries?call_id={call_id}&status=succeeded&limit=100"),
        "/admin/deliveries?status=succeeded&limit=100".to_owned(),
        "/admin/deliveries?limit=100".to_owned(),
    ] {
        assert!(
            listed(&get(&admin, &uri).await, "event_id").contains(&event_id.as_str()),
            "{uri}"
        );
    }
    // The other statuses come from the sparse failures index, which a success never enters.
    for status in ["failed", "retrying", "exhausted"] {
        let uri = format!("/admin/deliveries?status={status}&limit=100");
        assert!(
            !listed(&get(&admin, &uri).await, "event_id").contains(&event_id.as_str()),
            "{uri}"
        );
    }

    // Replay: an event, then a pair (each queues a delivery, delivered before the next so
    // each gets its own attempt number), then a subscription since a time (its attempts
    // succeeded, so it skips them)
    let since = chrono::Utc::now() - chrono::Duration::hours(1);
    for (body, delivered) in [
        (serde_json::json!({"event_id": event_id}), 2),
        (
            serde_json::json!({"event_id": event_id, "subscription_id": sub_id}),
            3,
        ),
        (
            serde_json::json!({"subscription_id": sub_id, "since": since.to_rfc3339()}),
            3,
        ),
    ] {
        let (status, report) =
            support::call(&admin, "POST", "/admin/replay", None, body.to_string()).await;
        assert_eq!(status, 202, "{body}: {report}");
        assert!(
            dispatch_until(&stack.dispatch, &dispatcher, 10, || crm.count()
                == delivered)
            .await,
            "{body}: {report}"
        );
    }
    assert_eq!(crm.count(), 3);

    get(&admin, "/admin/openapi.json").await;
    let (status, json) = support::delete(&admin, &format!("/admin/subscriptions/{sub_id}")).await;
    assert_eq!(status, 204, "{json}");
    stack.assert_no_denials();
}
