//! Steps the suite's tests share: sources and subscriptions through the admin function,
//! hooks through ingest, and the event source mapping played with dispatch's role.

use crate::stack::Function;
use crate::support::{self, lambda};
use std::time::Duration;
use switchboard_core::api::App;
use switchboard_core::dispatch::Dispatcher;

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// Creates a source through the admin app (the admin role writes it).
pub async fn create_source(admin: &App, body: serde_json::Value) {
    let (status, json) =
        support::call(admin, "POST", "/admin/sources", None, body.to_string()).await;
    assert_eq!(status, 201, "{json}");
}

/// Creates a Hipcall source with a fresh id; returns the id.
pub async fn hipcall_source(admin: &App) -> String {
    let id = unique("hipcall");
    support::create_source(admin, &id, "hipcall").await;
    id
}

/// Posts Hipcall's call_hangup to ingest; returns the status and body.
pub async fn post_call_hangup(ingest: &App, source: &str) -> (u16, serde_json::Value) {
    support::call(
        ingest,
        "POST",
        &format!("/hooks/{source}"),
        Some("application/json"),
        support::HIPCALL_CALL_HANGUP,
    )
    .await
}

/// Plays the event source mapping with dispatch's role until `done` holds, for at most
/// `rounds` receives of up to 1 s each. Every round's batch must succeed: a failed
/// message would stay invisible for the queue's visibility timeout.
pub async fn dispatch_until(
    dispatch: &Function,
    dispatcher: &Dispatcher,
    rounds: usize,
    mut done: impl FnMut() -> bool,
) -> bool {
    let consumer = dispatch.consumer();
    for _ in 0..rounds {
        if done() {
            return true;
        }
        let round = lambda::try_dispatch_round(dispatcher, &consumer, Duration::from_secs(1))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "the event source mapping (dispatch's role) failed: {e}\n{:?}",
                    dispatch.recorder.denials()
                )
            });
        assert_eq!(
            round.failed,
            0,
            "dispatch failed messages of its batch; denials: {:?}",
            dispatch.recorder.denials()
        );
    }
    done()
}

/// `(attempt, status)` of an event's attempts for one subscription, read by the admin app.
pub async fn attempts(admin: &App, event_id: &str, sub_id: &str) -> Vec<(u64, String)> {
    let (status, json) = support::get(
        admin,
        &format!("/admin/deliveries?event_id={event_id}&subscription_id={sub_id}"),
    )
    .await;
    assert_eq!(status, 200, "{json}");
    support::attempt_statuses(&json)
}

/// A subscription as the admin app shows it.
pub async fn subscription(admin: &App, id: &str) -> serde_json::Value {
    let (status, json) = support::get(admin, &format!("/admin/subscriptions/{id}")).await;
    assert_eq!(status, 200, "{json}");
    json
}
