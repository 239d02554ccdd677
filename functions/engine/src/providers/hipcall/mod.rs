//! Hipcall, in both of its formats, detected per request:
//!
//! - current: `{"event": "call_hangup", "data": {...}}` ([`current`]);
//! - legacy: `{"event": "call::hangup", "data": {...}}` with `contact_center::*`, `task::*`
//!   names, microsecond timestamps and a numeric `direction` ([`legacy`]).
//!
//! An event name containing `::` is legacy. Both map to the same canonical types.

mod current;
mod legacy;

use super::fields::{rfc3339, text, type_suffix};
use super::{key, Incoming, Parsed};
use crate::domain::time::Timestamp;
use serde_json::Value;

pub(super) fn normalize(payload: &Value, incoming: &Incoming<'_>) -> Parsed {
    let event = payload
        .get("event")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_owned);
    match event {
        Some(e) if is_legacy(&e) => legacy::normalize(e, payload),
        Some(e) => current::normalize(e, payload),
        None => {
            let named = incoming.query_param("event");
            let mut p = Parsed::untyped(named.clone());
            if let Some(t) = named.as_deref().and_then(canonical_type) {
                p.event_type = t;
            }
            p
        }
    }
}

fn is_legacy(event: &str) -> bool {
    event.contains("::")
}

/// Canonical type of a documented Hipcall event name, either format.
pub(super) fn canonical_type(event: &str) -> Option<String> {
    let name = if is_legacy(event) {
        legacy::current_name(event)
    } else {
        event.to_owned()
    };
    Some(
        match name.as_str() {
            "call_init" => "call.started",
            "call_hangup" => "call.ended",
            "contact_create" => "contact.created",
            "contact_update" => "contact.updated",
            "company_create" => "company.created",
            "company_update" => "company.updated",
            "task_create" => "task.created",
            "deal_create" => "deal.created",
            // Not in the documents' samples but named the same way.
            "task_update" => "task.updated",
            "deal_update" => "deal.updated",
            _ => return None,
        }
        .to_owned(),
    )
}

/// The documented type, else `hipcall.<event>` so that nothing a subscriber filters on is
/// invented.
fn event_type(event: &str) -> String {
    canonical_type(event).unwrap_or_else(|| match type_suffix(event) {
        Some(s) => format!("hipcall.{s}"),
        None => super::UNKNOWN.into(),
    })
}

/// Call events by their uuid; records (contact, company, task, deal) by their id, plus
/// `updated_at` when the record has one, so that two edits of one contact are two events.
fn dedup_key(event: &str, data: &Value) -> Option<String> {
    if let Some(uuid) = text(data.get("uuid")) {
        return Some(key(&["hipcall", &uuid, event]));
    }
    let id = text(data.get("id"))?;
    Some(match text(data.get("updated_at")) {
        Some(updated) => key(&["hipcall", &id, event, &updated]),
        None => key(&["hipcall", &id, event]),
    })
}

/// When a record event happened: its `updated_at`, else `created_at`.
fn record_time(data: &Value) -> Option<Timestamp> {
    rfc3339(data.get("updated_at")).or_else(|| rfc3339(data.get("created_at")))
}
