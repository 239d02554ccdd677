//! Hipcall's current format: `{"event": "call_hangup", "data": {...}}`.

use super::{dedup_key, event_type, record_time};
use crate::domain::CallInfo;
use crate::providers::fields::{direction, rfc3339, text, uint, unix_secs};
use crate::providers::{non_empty, Parsed};
use serde_json::Value;

pub(super) fn normalize(event: String, body: &Value) -> Parsed {
    let null = Value::Null;
    let data = body.get("data").unwrap_or(&null);
    let call = if event.starts_with("call_") {
        non_empty(call_info(data))
    } else {
        None
    };
    let occurred_at = match &call {
        Some(c) => match event.as_str() {
            "call_hangup" => c.ended_at.or_else(|| last_flow_time(data)),
            _ => c.started_at.or_else(|| last_flow_time(data)),
        },
        None => record_time(data),
    };
    Parsed {
        dedup_key: dedup_key(&event, data),
        occurred_at,
        call,
        ..Parsed::decoded(event_type(&event), Some(event))
    }
}

fn call_info(d: &Value) -> CallInfo {
    CallInfo {
        id: text(d.get("uuid")),
        direction: text(d.get("direction")).and_then(|s| direction(&s)),
        from: text(d.get("caller_number")),
        to: text(d.get("callee_number")),
        agent: text(d.get("user_id")),
        started_at: rfc3339(d.get("started_at")),
        answered_at: rfc3339(d.get("answered_at")),
        ended_at: rfc3339(d.get("ended_at")),
        duration_secs: uint(d.get("call_duration")),
        talk_duration_secs: None,
        ring_duration_secs: None,
        recording_url: text(d.get("record_url")).or_else(|| text(d.get("voicemail_url"))),
        status: match d.get("missing_call").and_then(Value::as_bool) {
            Some(true) => Some(
                text(d.get("missing_call_reason"))
                    .map_or_else(|| "missed".to_owned(), |r| format!("missed:{r}")),
            ),
            Some(false) => Some("completed".into()),
            None => None,
        },
        hangup_by: text(d.get("hangup_by")),
    }
}

/// The newest `call_flow[].timestamp` (Unix seconds).
fn last_flow_time(d: &Value) -> Option<crate::domain::time::Timestamp> {
    d.get("call_flow")?
        .as_array()?
        .iter()
        .filter_map(|step| unix_secs(step.get("timestamp")))
        .max()
}
