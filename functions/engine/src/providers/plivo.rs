//! Plivo Voice: the answer, ring and hangup URLs' requests, form POSTs (or GET) of `Event`
//! (`StartApp`, `Ring`, `Hangup`), `CallUUID`, `CallStatus`, `Direction`, `From`, `To`,
//! and on hangup `StartTime`, `AnswerTime`, `EndTime` (zone-less, read in the source's
//! zone; Plivo sends UTC), `Duration`, `BillDuration`, `HangupCause`, `HangupSource`; the
//! recording callback carries `RecordUrl` and `RecordingID`.
//!
//! `Ring` → `call.ringing`; `StartApp` → `call.answered` when `CallStatus` is
//! `in-progress`, `call.ringing` when it is `ringing`, else `call.started`; `Hangup` →
//! `call.ended`; a recording → `call.recording`. Retries: `CallUUID + Event + CallStatus`
//! (recordings: `RecordingID`).

use super::fields::{form_parties, local_time, text, uint};
use super::{key, non_empty, Parsed};
use crate::domain::CallInfo;
use chrono_tz::Tz;
use serde_json::Value;

/// Canonical type of an `Event` name (without the call's status).
pub(super) fn canonical_type(event: &str) -> Option<&'static str> {
    Some(match event.trim().to_ascii_lowercase().as_str() {
        "startapp" => "call.started",
        "ring" => "call.ringing",
        "hangup" => "call.ended",
        "record" | "recording" => "call.recording",
        _ => return None,
    })
}

pub(super) fn normalize(payload: &Value, tz: Tz) -> Parsed {
    let get = |k: &str| text(payload.get(k));
    let time = |k: &str| local_time(payload.get(k), tz);
    let uuid = get("CallUUID");
    let status = get("CallStatus");
    let recording = get("RecordUrl").or_else(|| get("RecordingUrl"));
    let event = get("Event").or_else(|| recording.as_ref().map(|_| "Record".to_owned()));
    let Some(event) = event else {
        return Parsed::untyped(None);
    };
    let event_type = match (event.to_ascii_lowercase().as_str(), status.as_deref()) {
        ("startapp", Some("in-progress")) => "call.answered".to_owned(),
        ("startapp", Some("ringing")) => "call.ringing".to_owned(),
        (_, _) => {
            canonical_type(&event).map_or_else(|| super::namespaced("plivo", &event), str::to_owned)
        }
    };
    let call = CallInfo {
        started_at: time("StartTime"),
        answered_at: time("AnswerTime"),
        ended_at: time("EndTime"),
        duration_secs: uint(payload.get("Duration")),
        talk_duration_secs: uint(payload.get("BillDuration")),
        recording_url: recording,
        status: status.clone().or_else(|| get("HangupCauseName")),
        hangup_by: get("HangupSource"),
        ..form_parties(payload, uuid.clone())
    };
    let occurred_at = match event_type.as_str() {
        "call.ended" => call.ended_at,
        "call.answered" => call.answered_at,
        _ => None,
    };
    let dedup_key = match (event_type.as_str(), get("RecordingID"), &uuid) {
        ("call.recording", Some(rec), _) => Some(key(&["plivo", "recording", &rec])),
        (_, _, Some(u)) => Some(key(&[
            "plivo",
            u,
            &event.to_ascii_lowercase(),
            &status.clone().unwrap_or_default(),
        ])),
        _ => None,
    };
    Parsed {
        occurred_at,
        call: non_empty(call),
        dedup_key,
        ..Parsed::decoded(event_type, Some(event))
    }
}
