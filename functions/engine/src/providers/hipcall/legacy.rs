//! Hipcall's legacy format: `call::init`, `call::hangup`, `contact_center::contact_create`,
//! `contact_center::company_update`, `task::create`, ...; microsecond ISO timestamps
//! (`2023-04-04T09:59:51.000000Z`) and a numeric `direction`.
//!
//! `direction` 0 is read as inbound and 1 as outbound: in the documented sample a contact
//! calls the account's 850 number with no user assigned yet (`user_id` 0), which is an
//! incoming call. Any other value leaves the direction (and so from/to) unset; the payload
//! keeps it.

use super::{dedup_key, event_type, record_time};
use crate::domain::CallInfo;
use crate::providers::fields::{direction, get, rfc3339, text};
use crate::providers::{non_empty, Parsed};
use serde_json::Value;

/// `contact_center::contact_create` → `contact_create`, `call::init` → `call_init`.
pub(super) fn current_name(event: &str) -> String {
    event
        .strip_prefix("contact_center::")
        .unwrap_or(event)
        .replace("::", "_")
}

pub(super) fn normalize(event: String, body: &Value) -> Parsed {
    let null = Value::Null;
    let data = body.get("data").unwrap_or(&null);
    let is_call = event.starts_with("call::");
    let call = if is_call {
        non_empty(call_info(&event, data))
    } else {
        None
    };
    let occurred_at = if is_call {
        rfc3339(data.get("timestamp")).or_else(|| rfc3339(data.get("startstamp")))
    } else {
        record_time(data)
    };
    Parsed {
        dedup_key: dedup_key(&event, data),
        occurred_at,
        call,
        ..Parsed::decoded(event_type(&event), Some(event))
    }
}

fn legacy_direction(v: Option<&Value>) -> Option<String> {
    match text(v)?.as_str() {
        "0" => Some("inbound".into()),
        "1" => Some("outbound".into()),
        other => direction(other),
    }
}

fn call_info(event: &str, d: &Value) -> CallInfo {
    let dir = legacy_direction(d.get("direction"));
    let contact = text(d.get("contact_number"));
    let line = text(get(d, "number.number"));
    let (from, to) = match dir.as_deref() {
        Some("inbound") => (contact, line),
        Some("outbound") => (line, contact),
        _ => (None, None),
    };
    let started_at = rfc3339(d.get("startstamp"));
    let hangup = event == "call::hangup" || text(d.get("state")).as_deref() == Some("hangup");
    let ended_at = if hangup {
        rfc3339(d.get("timestamp"))
    } else {
        None
    };
    let duration_secs = match (started_at, ended_at) {
        (Some(s), Some(e)) if e >= s => u64::try_from((e - s).num_seconds()).ok(),
        _ => None,
    };
    CallInfo {
        id: text(d.get("uuid")),
        direction: dir,
        from,
        to,
        agent: text(d.get("user_id")).filter(|u| u != "0"),
        started_at,
        answered_at: None,
        ended_at,
        duration_secs,
        talk_duration_secs: None,
        ring_duration_secs: None,
        recording_url: text(d.get("record_url")),
        status: text(d.get("state")),
        hangup_by: None,
    }
}
