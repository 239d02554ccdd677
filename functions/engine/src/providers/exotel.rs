//! Exotel: the call's StatusCallback (form POST: `CallSid`, `Status`, `EventType`
//! (`terminal` / `answered`), `From`, `To`, `Direction`, `StartTime`, `EndTime`,
//! `ConversationDuration`, `RecordingUrl`, `DateUpdated`) and the Passthru applet's GET
//! (`CallSid`, `CallFrom`, `CallTo`, `Direction`, `CallType`, `DialWhomNumber`,
//! `StartTime`, `EndTime`, `DialCallDuration`, `RecordingUrl`, `CurrentTime`). Times are
//! zone-less, read in the source's zone (set `Asia/Kolkata` for IST). Exotel signs
//! nothing: use a token in the URL and/or `ip_allow`.
//!
//! `EventType` `answered` → `call.answered`, `terminal` → `call.ended`; else `Status` /
//! `CallType`: `ringing` → `call.ringing`, `in-progress` → `call.answered`, `call-attempt`
//! → `call.started`, `completed`, `busy`, `failed`, `no-answer`, `canceled`,
//! `client-hangup`, `incomplete` → `call.ended`. Retries: `CallSid + EventType/Status/CallType`.

use super::fields::{direction, first_text, local_time, text, uint};
use super::{key, non_empty, Parsed};
use crate::domain::CallInfo;
use chrono_tz::Tz;
use serde_json::Value;

pub(super) fn canonical_type(name: &str) -> Option<&'static str> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "answered" | "in-progress" => "call.answered",
        "ringing" => "call.ringing",
        "call-attempt" => "call.started",
        "terminal" | "completed" | "busy" | "failed" | "no-answer" | "canceled"
        | "client-hangup" | "incomplete" => "call.ended",
        _ => return None,
    })
}

pub(super) fn normalize(payload: &Value, tz: Tz) -> Parsed {
    let get = |k: &str| text(payload.get(k));
    let Some(name) = first_text(payload, &["EventType", "Status", "CallType"]) else {
        return Parsed::untyped(None);
    };
    let event_type =
        canonical_type(&name).map_or_else(|| super::namespaced("exotel", &name), str::to_owned);
    let time = |k: &str| local_time(payload.get(k), tz);
    let call = CallInfo {
        id: get("CallSid"),
        direction: get("Direction").as_deref().and_then(direction),
        from: first_text(payload, &["From", "CallFrom"]),
        to: first_text(payload, &["To", "CallTo"]),
        agent: get("DialWhomNumber"),
        started_at: time("StartTime"),
        ended_at: time("EndTime"),
        talk_duration_secs: uint(payload.get("ConversationDuration"))
            .or_else(|| uint(payload.get("DialCallDuration"))),
        recording_url: get("RecordingUrl"),
        status: first_text(payload, &["Status", "CallType"]),
        ..CallInfo::default()
    };
    let occurred_at =
        time("DateUpdated")
            .or_else(|| time("CurrentTime"))
            .or(match event_type.as_str() {
                "call.ended" => call.ended_at,
                "call.started" => call.started_at,
                _ => None,
            });
    let dedup_key = call
        .id
        .as_ref()
        .map(|sid| key(&["exotel", sid, &name.to_ascii_lowercase()]));
    Parsed {
        occurred_at,
        call: non_empty(call),
        dedup_key,
        ..Parsed::decoded(event_type, Some(name))
    }
}
