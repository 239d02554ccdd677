//! Vonage Voice API: the event URL's JSON `{"uuid", "conversation_uuid", "status",
//! "direction", "from", "to", "timestamp", ...}`; `completed` adds `start_time`,
//! `end_time`, `duration`; the recording callback sends `recording_url`,
//! `recording_uuid`, `conversation_uuid`, `start_time`, `end_time`.
//!
//! `started` → `call.started`, `ringing` → `call.ringing`, `answered` → `call.answered`,
//! `completed`, `busy`, `cancelled`, `unanswered`, `rejected`, `failed`, `timeout` →
//! `call.ended`; a recording → `call.recording`; other statuses (`disconnected`, `human`,
//! `machine`, ...) → `vonage.<status>`.
//!
//! `call.id` is the leg's `uuid` (what the Voice API's `/calls/{uuid}` takes); recording
//! callbacks carry only `conversation_uuid`, which is their id. Retries: `uuid + status`
//! (recordings: `recording_uuid`).

use super::fields::{direction, rfc3339, text, uint};
use super::{key, non_empty, Parsed};
use crate::domain::CallInfo;
use serde_json::Value;

pub(super) fn canonical_type(status: &str) -> Option<&'static str> {
    Some(match status.trim().to_ascii_lowercase().as_str() {
        "started" => "call.started",
        "ringing" => "call.ringing",
        "answered" => "call.answered",
        "completed" | "busy" | "cancelled" | "unanswered" | "rejected" | "failed" | "timeout" => {
            "call.ended"
        }
        "recording" => "call.recording",
        _ => return None,
    })
}

pub(super) fn normalize(payload: &Value) -> Parsed {
    let get = |k: &str| text(payload.get(k));
    let recording = get("recording_url");
    let status = get("status").or_else(|| recording.as_ref().map(|_| "recording".to_owned()));
    let Some(status) = status else {
        return Parsed::untyped(None);
    };
    let event_type =
        canonical_type(&status).map_or_else(|| super::namespaced("vonage", &status), str::to_owned);
    let occurred_at = rfc3339(payload.get("timestamp"));
    let id = get("uuid").or_else(|| get("conversation_uuid"));
    let call = CallInfo {
        id: id.clone(),
        direction: get("direction").as_deref().and_then(direction),
        from: get("from"),
        to: get("to"),
        started_at: rfc3339(payload.get("start_time")).or((event_type == "call.started")
            .then_some(occurred_at)
            .flatten()),
        answered_at: (event_type == "call.answered")
            .then_some(occurred_at)
            .flatten(),
        ended_at: rfc3339(payload.get("end_time")),
        duration_secs: uint(payload.get("duration")),
        recording_url: recording,
        status: (event_type != "call.recording").then(|| status.clone()),
        ..CallInfo::default()
    };
    let dedup_key = match (event_type.as_str(), get("recording_uuid"), &id) {
        ("call.recording", Some(rec), _) => Some(key(&["vonage", "recording", &rec])),
        (_, _, Some(id)) => Some(key(&["vonage", id, &status.to_ascii_lowercase()])),
        _ => None,
    };
    Parsed {
        occurred_at,
        call: non_empty(call),
        dedup_key,
        ..Parsed::decoded(event_type, Some(status))
    }
}
