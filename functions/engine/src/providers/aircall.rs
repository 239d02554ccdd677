//! Aircall: JSON `{"resource", "event", "timestamp", "token", "data": {...}}`, the call
//! object in `data` (`id`, `direction`, `status`, `started_at` / `answered_at` /
//! `ended_at` in Unix seconds, `duration`, `raw_digits` (the external number), `number`
//! (the Aircall line), `user` (the agent), `recording`, `voicemail`,
//! `missed_call_reason`).
//!
//! `call.created` → `call.started`, `call.ringing_on_agent` → `call.ringing`,
//! `call.answered` → `call.answered`, `call.ended` → `call.ended`, `contact.created` /
//! `contact.updated` / `contact.deleted` as they are; any other event →
//! `aircall.<event>` (`aircall.call_hungup`, `aircall.call_tagged`). The body's `token` is
//! the webhook's verification token (see `body_token` verification). Retries: `event +
//! data.id + timestamp`.

use super::fields::{direction, text, uint, unix_secs};
use super::{key, non_empty, Parsed};
use crate::domain::CallInfo;
use serde_json::Value;

pub(super) fn canonical_type(event: &str) -> Option<&'static str> {
    Some(match event.trim() {
        "call.created" => "call.started",
        "call.ringing_on_agent" => "call.ringing",
        "call.answered" => "call.answered",
        "call.ended" => "call.ended",
        "contact.created" => "contact.created",
        "contact.updated" => "contact.updated",
        "contact.deleted" => "contact.deleted",
        _ => return None,
    })
}

pub(super) fn normalize(payload: &Value) -> Parsed {
    let Some(event) = text(payload.get("event")) else {
        return Parsed::untyped(None);
    };
    let event_type =
        canonical_type(&event).map_or_else(|| super::namespaced("aircall", &event), str::to_owned);
    let data = payload.get("data").unwrap_or(&Value::Null);
    let is_call =
        text(payload.get("resource")).as_deref() == Some("call") || event.starts_with("call.");
    let call = is_call.then(|| call_info(data)).and_then(non_empty);
    let id = text(data.get("id"));
    let dedup_key = id.map(|id| {
        let ts = text(payload.get("timestamp")).unwrap_or_default();
        key(&["aircall", &event, &id, &ts])
    });
    Parsed {
        occurred_at: unix_secs(payload.get("timestamp")),
        call,
        dedup_key,
        ..Parsed::decoded(event_type, Some(event))
    }
}

fn call_info(d: &Value) -> CallInfo {
    let dir = text(d.get("direction")).as_deref().and_then(direction);
    let external = text(d.get("raw_digits"));
    let line = d.get("number").and_then(|n| text(n.get("digits")));
    let (from, to) = match dir.as_deref() {
        Some("outbound") => (line, external),
        _ => (external, line),
    };
    let user = d.get("user").unwrap_or(&Value::Null);
    CallInfo {
        id: text(d.get("id")),
        direction: dir,
        from,
        to,
        agent: text(user.get("email"))
            .or_else(|| text(user.get("name")))
            .or_else(|| text(user.get("id"))),
        started_at: unix_secs(d.get("started_at")),
        answered_at: unix_secs(d.get("answered_at")),
        ended_at: unix_secs(d.get("ended_at")),
        duration_secs: uint(d.get("duration"))
            .filter(|_| d.get("ended_at").is_some_and(|e| !e.is_null())),
        recording_url: text(d.get("recording")).or_else(|| text(d.get("voicemail"))),
        status: match text(d.get("missed_call_reason")) {
            Some(reason) => Some(format!("missed:{reason}")),
            None => text(d.get("status")),
        },
        ..CallInfo::default()
    }
}
