//! CallerDesk (cloud telephony): flat key/value payloads, as JSON, a form-encoded POST or a
//! GET query string, of two kinds:
//!
//! - "Call Report", after the call (`EndTime`, `CallDuration`, `TalkDuration`, `coins`,
//!   `CallRecordingUrl`, `LegA_Picked_time`, ...): `call.report`;
//! - "Live Call", during the call (fewer fields): `call.answered` when its `Status` says the
//!   call was picked up (`ANSWER`, `CONNECTED`, ...), `call.ended` when it names an end
//!   (`BUSY`, `CANCEL`, `NOANSWER`, ...), else `call.ringing`.
//!
//! The kind is the URL's `?event=` when it names one (`Call Report`, `report`, `Live Call`,
//! `live`), else a report when any report-only field is present. Times are
//! `yyyy-mm-dd hh:mm:ss` without a zone, read in the source's zone (default UTC).
//! `Direction` `IVR` is inbound and `WEBOBD` outbound. Keys match case-insensitively.
//!
//! Retries are recognised by CallSid + kind + Status: a Live Call and the later Call Report
//! of one call are different events, and so are two Live Calls with different statuses.

use super::fields::{direction, fold, local_time, text, uint};
use super::{key, non_empty, Incoming, Parsed};
use crate::domain::time::Timestamp;
use crate::domain::CallInfo;
use chrono_tz::Tz;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Report,
    Live,
}

impl Kind {
    /// The type when nothing else is known (a Live Call without a status is ringing).
    pub(super) fn default_type(self) -> &'static str {
        match self {
            Kind::Report => "call.report",
            Kind::Live => "call.ringing",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Report => "report",
            Kind::Live => "live",
        }
    }

    fn provider_event(self) -> &'static str {
        match self {
            Kind::Report => "Call Report",
            Kind::Live => "Live Call",
        }
    }
}

/// `Call Report` / `call_report` / `report` and `Live Call` / `live_call` / `live`.
pub(super) fn kind_from_name(name: &str) -> Option<Kind> {
    match fold(name).as_str() {
        "callreport" | "report" => Some(Kind::Report),
        "livecall" | "live" => Some(Kind::Live),
        _ => None,
    }
}

/// Fields only a Call Report carries.
const REPORT_FIELDS: [&str; 11] = [
    "EndTime",
    "CallDuration",
    "TalkDuration",
    "coins",
    "CallRecordingUrl",
    "LegA_Picked_time",
    "LegB_Start_time",
    "LegB_Picked_time",
    "error_code",
    "receiver_name",
    "campid",
];

/// Fields every CallerDesk payload has some of.
const CORE_FIELDS: [&str; 5] = [
    "CallSid",
    "SourceNumber",
    "DestinationNumber",
    "Status",
    "StartTime",
];

/// A key, exactly or ignoring ASCII case.
fn field<'v>(p: &'v Value, name: &str) -> Option<&'v Value> {
    if let Some(v) = p.get(name) {
        return Some(v);
    }
    p.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn has(p: &Value, name: &str) -> bool {
    text(field(p, name)).is_some()
}

pub(super) fn normalize(payload: &Value, incoming: &Incoming<'_>, tz: Tz) -> Parsed {
    let named = incoming.query_param("event");
    let named_kind = named.as_deref().and_then(kind_from_name);
    if !CORE_FIELDS.iter().any(|f| has(payload, f)) {
        let mut p = Parsed::untyped(named);
        if let Some(k) = named_kind {
            p.event_type = k.default_type().into();
        }
        return p;
    }
    let kind = named_kind.unwrap_or_else(|| {
        if REPORT_FIELDS.iter().any(|f| has(payload, f)) {
            Kind::Report
        } else {
            Kind::Live
        }
    });
    let status = text(field(payload, "Status"));
    let event_type = match kind {
        Kind::Report => "call.report",
        Kind::Live => live_type(status.as_deref()),
    };
    let call = call_info(payload, tz);
    let occurred_at = match (kind, event_type) {
        (Kind::Report, _) => call.ended_at.or(call.started_at),
        (Kind::Live, "call.ringing") => call.started_at,
        _ => None,
    };
    let dedup_key = call.id.as_ref().map(|sid| match &status {
        Some(s) => key(&["callerdesk", sid, kind.name(), &s.to_ascii_uppercase()]),
        None => key(&["callerdesk", sid, kind.name()]),
    });
    Parsed {
        occurred_at,
        call: non_empty(call),
        dedup_key,
        ..Parsed::decoded(
            event_type.to_owned(),
            Some(kind.provider_event().to_owned()),
        )
    }
}

/// A Live Call's type from its Status.
fn live_type(status: Option<&str>) -> &'static str {
    match status.map(fold).as_deref() {
        Some("answer" | "answered" | "connected" | "picked" | "oncall" | "inprogress") => {
            "call.answered"
        }
        Some(
            "busy" | "cancel" | "cancelled" | "canceled" | "noanswer" | "notanswered" | "failed"
            | "completed" | "hangup" | "abandon" | "abandoned" | "missed" | "congestion"
            | "rejected" | "agentengaged" | "agentbusy",
        ) => "call.ended",
        _ => "call.ringing",
    }
}

fn call_info(p: &Value, tz: Tz) -> CallInfo {
    let time = |name: &str| local_time(field(p, name), tz);
    let leg_b_start = time("LegB_Start_time");
    let leg_b_picked = time("LegB_Picked_time");
    CallInfo {
        id: text(field(p, "CallSid")),
        direction: text(field(p, "Direction")).and_then(|d| {
            match d.to_ascii_uppercase().as_str() {
                "IVR" => Some("inbound".into()),
                "WEBOBD" => Some("outbound".into()),
                _ => direction(&d),
            }
        }),
        from: text(field(p, "SourceNumber")),
        to: text(field(p, "DestinationNumber")),
        agent: text(field(p, "receiver_name")).or_else(|| text(field(p, "DialWhomNumber"))),
        started_at: time("StartTime"),
        answered_at: leg_b_picked,
        ended_at: time("EndTime"),
        duration_secs: uint(field(p, "CallDuration")),
        talk_duration_secs: uint(field(p, "TalkDuration")),
        ring_duration_secs: ring_secs(leg_b_start, leg_b_picked),
        recording_url: text(field(p, "CallRecordingUrl")),
        status: text(field(p, "Status")),
        hangup_by: None,
    }
}

/// How long the agent's leg rang before it was picked up.
fn ring_secs(start: Option<Timestamp>, picked: Option<Timestamp>) -> Option<u64> {
    let secs = (picked? - start?).num_seconds();
    u64::try_from(secs).ok()
}
