//! Twilio Programmable Voice: the voice URL's request and the status callbacks, form POSTs
//! (or GET query strings) of `CallSid`, `CallStatus`, `Direction`, `From`, `To`,
//! `Timestamp` (RFC 2822), `CallDuration`, `SequenceNumber`, and the recording status
//! callback (`RecordingSid`, `RecordingUrl`, `RecordingStatus`).
//!
//! `CallStatus`: `queued` / `initiated` → `call.started`, `ringing` → `call.ringing`,
//! `in-progress` / `answered` → `call.answered`, `completed`, `busy`, `failed`,
//! `no-answer`, `canceled` → `call.ended`; a recording callback → `call.recording`.
//! Retries are recognised by `CallSid + CallStatus + SequenceNumber` (recordings:
//! `RecordingSid + RecordingStatus`).

use super::fields::{form_parties, text, uint};
use super::{key, non_empty, Parsed};
use crate::domain::time::Timestamp;
use crate::domain::CallInfo;
use serde_json::Value;

/// Canonical type of a `CallStatus` value.
pub(super) fn canonical_type(status: &str) -> Option<&'static str> {
    Some(match status.trim().to_ascii_lowercase().as_str() {
        "queued" | "initiated" => "call.started",
        "ringing" => "call.ringing",
        "in-progress" | "answered" => "call.answered",
        "completed" | "busy" | "failed" | "no-answer" | "canceled" => "call.ended",
        _ => return None,
    })
}

pub(super) fn normalize(payload: &Value) -> Parsed {
    let get = |k: &str| text(payload.get(k));
    let call_sid = get("CallSid");
    let occurred_at = get("Timestamp").as_deref().and_then(rfc2822);
    if let Some(rec) = get("RecordingSid").filter(|_| get("RecordingStatus").is_some()) {
        let status = get("RecordingStatus").unwrap_or_default();
        let call = CallInfo {
            id: call_sid,
            recording_url: get("RecordingUrl"),
            status: Some(status.clone()),
            ..CallInfo::default()
        };
        return Parsed {
            occurred_at,
            call: non_empty(call),
            dedup_key: Some(key(&["twilio", &rec, &status])),
            ..Parsed::decoded("call.recording".into(), Some(format!("recording-{status}")))
        };
    }
    let Some(status) = get("CallStatus") else {
        return Parsed::untyped(None);
    };
    let event_type =
        canonical_type(&status).map_or_else(|| super::namespaced("twilio", &status), str::to_owned);
    let at = |t: &str| (event_type == t).then_some(occurred_at).flatten();
    let call = CallInfo {
        started_at: at("call.started"),
        answered_at: at("call.answered"),
        ended_at: at("call.ended"),
        duration_secs: uint(payload.get("CallDuration")),
        recording_url: get("RecordingUrl"),
        status: Some(status.clone()),
        ..form_parties(payload, call_sid.clone())
    };
    let dedup_key = call_sid.map(|sid| {
        let seq = get("SequenceNumber").unwrap_or_default();
        key(&["twilio", &sid, &status.to_ascii_lowercase(), &seq])
    });
    Parsed {
        occurred_at,
        call: non_empty(call),
        dedup_key,
        ..Parsed::decoded(event_type, Some(status))
    }
}

pub(super) fn rfc2822(s: &str) -> Option<Timestamp> {
    chrono::DateTime::parse_from_rfc2822(s.trim())
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}
