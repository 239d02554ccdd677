//! Providers without a dedicated parser yet: keep the payload (JSON, form or query) as
//! `data`, type the event from `?event=` or an `event` field, never deduplicate.

use super::{json_body, Incoming, Parsed};
use serde_json::{Map, Value};

pub(super) fn parse(incoming: &Incoming<'_>) -> Option<Parsed> {
    let data = payload(incoming)?;
    let provider_event = incoming
        .query_param("event")
        .or_else(|| data.get("event").and_then(Value::as_str).map(str::to_owned));
    Some(Parsed {
        event_type: "unknown".into(),
        provider_event,
        occurred_at: None,
        call: None,
        data: Some(data),
        dedup_key: None,
        unparsed: false,
    })
}

/// The payload as JSON: a JSON body, a form body, or (for body-less GETs) the query string.
fn payload(incoming: &Incoming<'_>) -> Option<Value> {
    let ct = incoming.content_type.unwrap_or("").to_ascii_lowercase();
    if ct.starts_with("application/x-www-form-urlencoded") {
        return Some(pairs(incoming.body));
    }
    if incoming.body.iter().all(u8::is_ascii_whitespace) {
        return incoming.query.map(|q| pairs(q.as_bytes()));
    }
    json_body(incoming.body)
}

fn pairs(bytes: &[u8]) -> Value {
    let map: Map<String, Value> = form_urlencoded::parse(bytes)
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    Value::Object(map)
}
