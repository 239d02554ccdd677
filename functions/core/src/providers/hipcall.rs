//! Hipcall: `{"event": "call_hangup", "data": {...}}` (current format).

use super::{as_text, as_time, json_body, Incoming, Parsed};
use crate::domain::CallInfo;
use serde_json::Value;

/// Canonical type of a current-format Hipcall event name.
fn canonical_type(event: &str) -> Option<&'static str> {
    Some(match event {
        "call_init" => "call.started",
        "call_hangup" => "call.ended",
        "task_create" => "task.created",
        "deal_create" => "deal.created",
        "contact_create" => "contact.created",
        "contact_update" => "contact.updated",
        "company_create" => "company.created",
        "company_update" => "company.updated",
        _ => return None,
    })
}

pub(super) fn parse(incoming: &Incoming<'_>) -> Option<Parsed> {
    let body = json_body(incoming.body)?;
    let event = body.get("event")?.as_str()?.to_owned();
    let data = body.get("data").cloned().unwrap_or(Value::Null);
    let event_type = canonical_type(&event)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("hipcall.{event}"));
    let call = event.starts_with("call_").then(|| call_info(&data));
    let occurred_at = call.as_ref().and_then(|c| {
        if event == "call_hangup" {
            c.ended_at.or(c.started_at)
        } else {
            c.started_at
        }
    });
    // A call event is identified by its uuid, anything else by its record id.
    let key = as_text(data.get("uuid")).or_else(|| as_text(data.get("id")));
    Some(Parsed {
        event_type,
        dedup_key: key.map(|k| format!("hipcall:{k}:{event}")),
        provider_event: Some(event),
        occurred_at,
        call,
        data: Some(body),
        unparsed: false,
    })
}

fn call_info(d: &Value) -> CallInfo {
    CallInfo {
        id: as_text(d.get("uuid")),
        direction: as_text(d.get("direction")),
        from: as_text(d.get("caller_number")),
        to: as_text(d.get("callee_number")),
        agent: as_text(d.get("user_id")),
        started_at: as_time(d.get("started_at")),
        answered_at: as_time(d.get("answered_at")),
        ended_at: as_time(d.get("ended_at")),
        duration_secs: d.get("call_duration").and_then(Value::as_u64),
        talk_duration_secs: None,
        ring_duration_secs: None,
        recording_url: as_text(d.get("record_url")),
        status: match d.get("missing_call").and_then(Value::as_bool) {
            Some(true) => Some("missed".into()),
            Some(false) => Some("completed".into()),
            None => None,
        },
        hangup_by: as_text(d.get("hangup_by")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incoming(body: &[u8]) -> Incoming<'_> {
        Incoming {
            method: "POST",
            content_type: Some("application/json"),
            query: None,
            body,
        }
    }

    #[test]
    fn call_hangup_fixture_maps_to_call_ended() {
        let body = include_bytes!("../../../../events/providers/hipcall/call_hangup.json");
        let p = parse(&incoming(body)).unwrap();
        assert_eq!(p.event_type, "call.ended");
        assert_eq!(p.provider_event.as_deref(), Some("call_hangup"));
        let call = p.call.unwrap();
        assert_eq!(
            call.id.as_deref(),
            Some("2483a75a-56a2-41f1-991b-92b1667e324a")
        );
        assert_eq!(call.direction.as_deref(), Some("outbound"));
        assert_eq!(call.from.as_deref(), Some("+902582440032"));
        assert_eq!(call.to.as_deref(), Some("+4440333"));
        assert_eq!(call.agent.as_deref(), Some("1121"));
        assert_eq!(call.duration_secs, Some(0));
        assert_eq!(call.hangup_by.as_deref(), Some("user"));
        assert_eq!(
            call.ended_at.unwrap().to_rfc3339(),
            "2024-11-17T10:41:06+00:00"
        );
        assert_eq!(p.occurred_at, call.ended_at);
        assert_eq!(
            p.dedup_key.as_deref(),
            Some("hipcall:2483a75a-56a2-41f1-991b-92b1667e324a:call_hangup")
        );
    }

    #[test]
    fn task_uses_record_id_for_dedup() {
        let p = parse(&incoming(
            br#"{"event":"task_create","data":{"id":36714,"name":"x"}}"#,
        ))
        .unwrap();
        assert_eq!(p.event_type, "task.created");
        assert!(p.call.is_none());
        assert_eq!(p.dedup_key.as_deref(), Some("hipcall:36714:task_create"));
    }

    #[test]
    fn not_hipcall_shaped_is_none() {
        assert!(parse(&incoming(b"{\"data\":{}}")).is_none());
        assert!(parse(&incoming(b"{not json")).is_none());
    }
}
