//! This suite's fixtures: emulator resources, in-process apps; the sink, the admin token
//! and the provider fixtures come from the shared test support.

pub mod aws;
pub mod fault_http;
pub mod lambda;
pub mod logs;
pub mod no_scan;
pub mod tempdir;

use bytes::Bytes;
use http::Request;
use switchboard_core::api::{AdminAuth, App, Surface};
use switchboard_core::config::Settings;
use switchboard_core::domain::attempt::Trigger;
use switchboard_core::domain::Attempt;
use switchboard_core::state::Ports;

pub use switchboard_test_support::records::attempt;
pub use switchboard_test_support::{
    eventually, hipcall_call_hangup, sink, ADMIN_TOKEN, HIPCALL_CALL_HANGUP,
};

/// Settings for tests: deliveries to the loopback sinks are allowed.
pub fn settings() -> Settings {
    Settings {
        allow_private_targets: vec!["loopback".into()],
        ..Settings::default()
    }
}

pub fn app(ports: Ports) -> App {
    App {
        ports,
        settings: settings(),
        admin_auth: AdminAuth::Bearer(switchboard_core::redact::Secret::new(ADMIN_TOKEN)),
        surface: Surface::All,
    }
}

/// `GET`s `uri` from the app.
pub async fn get(app: &App, uri: &str) -> (u16, serde_json::Value) {
    call(app, "GET", uri, None, "").await
}

/// `(attempt, status)` of each item of a deliveries listing.
pub fn attempt_statuses(listing: &serde_json::Value) -> Vec<(u64, String)> {
    let items = listing["items"].as_array().unwrap().iter();
    let pair = |a: &serde_json::Value| {
        let n = a["attempt"]
            .as_u64()
            .unwrap_or_else(|| panic!("no attempt number: {a}"));
        let status = a["status"]
            .as_str()
            .unwrap_or_else(|| panic!("no status: {a}"));
        (n, status.to_owned())
    };
    items.map(pair).collect()
}

/// The Hipcall source `hipcall-main` and a subscription of `url` to its `call.ended` events.
pub async fn hipcall_call_ends_to(app: &App, url: &str) {
    create_source(app, "hipcall-main", "hipcall").await;
    create_subscription(
        app,
        serde_json::json!({"url": url, "event_types": ["call.ended"]}),
    )
    .await;
}

/// `DELETE`s `uri` from the app.
pub async fn delete(app: &App, uri: &str) -> (u16, serde_json::Value) {
    call(app, "DELETE", uri, None, "").await
}

/// `POST`s a JSON body (a provider's webhook, an admin create) to the app.
pub async fn post_json(app: &App, uri: &str, body: impl Into<Bytes>) -> (u16, serde_json::Value) {
    call(app, "POST", uri, Some("application/json"), body).await
}

/// Calls the app in-process; returns status and JSON body (Null when empty).
pub async fn call(
    app: &App,
    method: &str,
    uri: &str,
    content_type: Option<&str>,
    body: impl Into<Bytes>,
) -> (u16, serde_json::Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if uri.starts_with("/admin") {
        req = req.header("authorization", format!("Bearer {ADMIN_TOKEN}"));
    }
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = app.handle(req.body(body.into()).unwrap()).await;
    let status = resp.status().as_u16();
    let json = if resp.body().is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(resp.body()).unwrap()
    };
    (status, json)
}

/// Creates a source with verification `none` through the admin handler.
pub async fn create_source(app: &App, id: &str, provider: &str) {
    let body =
        serde_json::json!({"id": id, "provider": provider, "verification": {"type": "none"}});
    let (status, json) = call(app, "POST", "/admin/sources", None, body.to_string()).await;
    assert_eq!(status, 201, "{json}");
}

/// Creates a subscription through the admin handler; returns its JSON (with the secret).
pub async fn create_subscription(app: &App, body: serde_json::Value) -> serde_json::Value {
    let (status, json) = call(app, "POST", "/admin/subscriptions", None, body.to_string()).await;
    assert_eq!(status, 201, "{json}");
    json
}

/// A CRM sink subscribed to `source`'s `call.ended` events through the admin handler;
/// returns the sink and the subscription's id.
pub async fn crm_for_call_ends(app: &App, source: &str) -> (sink::Sink, String) {
    let crm = sink::Sink::start().await;
    let sub = create_subscription(
        app,
        serde_json::json!({"url": crm.url("/crm"), "event_types": ["call.ended"], "source": source}),
    )
    .await;
    let id = sub["id"].as_str().unwrap().to_owned();
    (crm, id)
}

/// What `serve`'s queue dead-lettered, whichever store it uses.
pub async fn dead_letters(queue: &switchboard_cli::serve::LocalQueue) -> Vec<String> {
    match queue {
        switchboard_cli::serve::LocalQueue::Memory(q) => q.dead_letters(),
        switchboard_cli::serve::LocalQueue::Durable(q) => q.dead_letters().await.unwrap(),
    }
}

/// Every attempt on record for an event.
pub async fn attempts_of(ports: &Ports, event_id: &str) -> Vec<Attempt> {
    ports
        .deliveries
        .list_by_event(event_id, &switchboard_core::ports::PageRequest::default())
        .await
        .unwrap()
        .items
}

/// Queue message `n`: attempt `n` of `evt_{n}` to `sub_1`, a retry, due now.
pub fn retry_message(n: u32) -> switchboard_core::domain::QueueMessage {
    switchboard_core::domain::QueueMessage::Deliver {
        event_id: format!("evt_{n}"),
        subscription_id: "sub_1".into(),
        attempt: n,
        not_before: None,
        trigger: Trigger::Retry,
        rate_slot: None,
    }
}
