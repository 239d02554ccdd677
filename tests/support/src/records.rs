//! Records tests write and compare.

use switchboard_domain::attempt::{AttemptStatus, Trigger};
use switchboard_domain::envelope::{Envelope, RawRequest, StoredEvent};
use switchboard_domain::time::now;
use switchboard_domain::Attempt;

/// A Hipcall `call_hangup` (`call.ended`) event from `source`, received now, with a small
/// JSON body and no call; tests set what they are about on the returned record.
pub fn event(id: &str, source: &str) -> StoredEvent {
    StoredEvent {
        envelope: Envelope {
            id: id.into(),
            event_type: "call.ended".into(),
            provider_event: Some("call_hangup".into()),
            source: source.into(),
            occurred_at: None,
            received_at: now(),
            call: None,
            data: Some(serde_json::json!({"event": "call_hangup"}).into()),
            raw_unparsed: false,
        },
        raw: RawRequest {
            method: "POST".into(),
            content_type: Some("application/json".into()),
            query: None,
            body: bytes::Bytes::from_static(b"{\"event\":\"call_hangup\"}"),
        },
        dedup_key: None,
    }
}

/// A delivery attempt record with plain values (a Hipcall `call.ended` event, no call, no
/// answer yet); tests set what they are about with `..support::attempt(..)`.
pub fn attempt(event_id: &str, subscription_id: &str, n: u32, status: AttemptStatus) -> Attempt {
    Attempt {
        event_id: event_id.into(),
        subscription_id: subscription_id.into(),
        attempt: n,
        status,
        trigger: Trigger::Initial,
        url: "http://127.0.0.1:9/crm".into(),
        method: "POST".into(),
        request_headers: Default::default(),
        http_status: None,
        duration_ms: 1,
        response_excerpt: None,
        error_kind: None,
        error: None,
        next_attempt_at: None,
        held_behind: None,
        attempted_at: now(),
        source: "hipcall-main".into(),
        event_type: "call.ended".into(),
        call_id: None,
        truncated: Vec::new(),
    }
}
