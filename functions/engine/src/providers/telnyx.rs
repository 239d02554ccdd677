//! Telnyx Call Control (API v2): JSON `{"data": {"event_type", "id", "occurred_at",
//! "payload": {...}}, "meta": {...}}`.
//!
//! `call.initiated` → `call.started`, `call.answered` → `call.answered`, `call.hangup` →
//! `call.ended`, `call.recording.saved` → `call.recording`; any other event type →
//! `telnyx.<event type>` (`telnyx.call_bridged`).
//!
//! `call.id` is the payload's `call_session_id`: it is the same on every leg of one call
//! (the inbound leg and the legs it is bridged or transferred to), so a subscriber sees one
//! call; `call_control_id` (one leg, what Telnyx's commands take) stays in `data`. Retries
//! re-send the same event `id`, the dedup key.

use super::fields::{direction, rfc3339, text};
use super::{key, non_empty, Parsed};
use crate::domain::CallInfo;
use serde_json::Value;

pub(super) fn canonical_type(event_type: &str) -> Option<&'static str> {
    Some(match event_type.trim() {
        "call.initiated" => "call.started",
        "call.answered" => "call.answered",
        "call.hangup" => "call.ended",
        "call.recording.saved" => "call.recording",
        _ => return None,
    })
}

pub(super) fn normalize(payload: &Value) -> Parsed {
    let data = payload.get("data").unwrap_or(&Value::Null);
    let Some(event) = text(data.get("event_type")) else {
        return Parsed::untyped(None);
    };
    let event_type =
        canonical_type(&event).map_or_else(|| super::namespaced("telnyx", &event), str::to_owned);
    let p = data.get("payload").unwrap_or(&Value::Null);
    let get = |k: &str| text(p.get(k));
    let occurred_at = rfc3339(data.get("occurred_at"));
    let started_at = rfc3339(p.get("start_time"));
    let ended_at = rfc3339(p.get("end_time"));
    let recording_url = p
        .get("recording_urls")
        .or_else(|| p.get("public_recording_urls"))
        .and_then(|u| text(u.get("mp3")).or_else(|| text(u.get("wav"))));
    let call = CallInfo {
        id: get("call_session_id").or_else(|| get("call_control_id")),
        direction: get("direction").as_deref().and_then(direction),
        from: get("from"),
        to: get("to"),
        started_at: started_at.or((event_type == "call.started")
            .then_some(occurred_at)
            .flatten()),
        answered_at: (event_type == "call.answered")
            .then_some(occurred_at)
            .flatten(),
        ended_at: ended_at.or((event_type == "call.ended")
            .then_some(occurred_at)
            .flatten()),
        duration_secs: match (started_at, ended_at) {
            (Some(s), Some(e)) => u64::try_from((e - s).num_seconds()).ok(),
            _ => None,
        },
        recording_url,
        status: get("hangup_cause").or_else(|| get("state")),
        hangup_by: get("hangup_source"),
        ..CallInfo::default()
    };
    Parsed {
        occurred_at,
        call: non_empty(call),
        dedup_key: text(data.get("id")).map(|id| key(&["telnyx", &id])),
        ..Parsed::decoded(event_type, Some(event))
    }
}
