//! VoIPappz (cloud PBX): one webhook object per event — Call:Ringing, Call:Answer,
//! Call:Hangup, Call:Reporting, Ivr:Start, Ivr:End — sent by POST (a JSON body the user
//! templates) or GET (a query string).
//!
//! The event is named by the body (`event`, `event_name` or `event_type`, when the user's
//! template includes one) or else by the webhook URL's `?event=` (the URL names the type); names
//! match loosely (`Call:Hangup`, `call_hangup`, `CALL HANGUP`). A template body that is not
//! valid JSON — the documented sample is not (`//` comments, a number with a leading zero) —
//! never reaches this module: it is kept raw and typed from `?event=` by [`super::parse`].
//!
//! Template fields read into the call block: `uuid`, `direction` (`incoming`/`outgoing`),
//! `created_at` (RFC 3339, the call's start), `answer_at` (a time of day, or a full time, in
//! the source's zone), `contact_number`, `caller_id_number`, `destination`, `did_number`,
//! `user_name`/`user_fullname`/`extension_username`, `duration`/`duration_time`,
//! `ring_duration`, `billing_duration_time`/`billing_duration`, `recording_url`, `cause`.

use super::fields::{
    direction, first_text, fold, hms_secs, local_time, text, time_of_day_after, uint,
};
use super::{key, non_empty, Incoming, Parsed};
use crate::domain::CallInfo;
use chrono_tz::Tz;
use serde_json::Value;

/// Canonical type of a VoIPappz event name.
pub(super) fn canonical_type(name: &str) -> Option<&'static str> {
    Some(match fold(name).as_str() {
        "callringing" | "ringing" => "call.ringing",
        "callanswer" | "callanswered" | "answer" | "answered" => "call.answered",
        "callhangup" | "hangup" => "call.ended",
        "callreporting" | "callreport" | "reporting" => "call.report",
        "ivrstart" | "ivrstarted" => "ivr.started",
        "ivrend" | "ivrended" => "ivr.ended",
        _ => return None,
    })
}

const EVENT_FIELDS: [&str; 3] = ["event", "event_name", "event_type"];

pub(super) fn normalize(payload: &Value, incoming: &Incoming<'_>, tz: Tz) -> Parsed {
    let from_body = EVENT_FIELDS
        .iter()
        .filter_map(|k| text(payload.get(*k)))
        .find(|n| canonical_type(n).is_some());
    let from_url = incoming.query_param("event");
    let (provider_event, event_type) = match (from_body, from_url) {
        (Some(b), _) => (Some(b.clone()), canonical_type(&b)),
        (None, Some(u)) => (Some(u.clone()), canonical_type(&u)),
        (None, None) => (first_text(payload, &EVENT_FIELDS), None),
    };
    let Some(event_type) = event_type else {
        return Parsed::untyped(provider_event);
    };
    let call = call_info(payload, tz);
    let occurred_at = match event_type {
        "call.ringing" | "ivr.started" => call.started_at,
        "call.answered" => call.answered_at,
        _ => None,
    };
    // One call has one event of each kind, except IVRs, which can run more than once.
    let dedup_key = call.id.as_ref().map(|id| {
        let ivr = text(payload.get("ivr_name")).filter(|_| event_type.starts_with("ivr."));
        match ivr {
            Some(ivr) => key(&["voipappz", id, event_type, &ivr]),
            None => key(&["voipappz", id, event_type]),
        }
    });
    Parsed {
        occurred_at,
        call: non_empty(call),
        dedup_key,
        ..Parsed::decoded(event_type.to_owned(), provider_event)
    }
}

fn call_info(p: &Value, tz: Tz) -> CallInfo {
    let dir = text(p.get("direction")).and_then(|d| direction(&d));
    let contact = first_text(p, &["contact_number"]);
    let caller_id = first_text(p, &["caller_id_number"]);
    let destination = first_text(p, &["destination"]);
    let did = first_text(p, &["did_number"]);
    let (from, to) = match dir.as_deref() {
        Some("inbound") => (contact.or(caller_id), did.or(destination)),
        Some("outbound") => (caller_id.or(did), destination.or(contact)),
        _ => (caller_id.or(contact), destination.or(did)),
    };
    let started_at = local_time(p.get("created_at"), tz);
    let answered_at = local_time(p.get("answer_at"), tz)
        .or_else(|| started_at.and_then(|start| time_of_day_after(p.get("answer_at"), start, tz)));
    CallInfo {
        id: text(p.get("uuid")),
        direction: dir,
        from,
        to,
        agent: first_text(p, &["user_name", "user_fullname", "extension_username"]),
        started_at,
        answered_at,
        ended_at: None,
        duration_secs: uint(p.get("duration")).or_else(|| hms_secs(p.get("duration_time"))),
        // `billing_duration` is documented as seconds but its sample is an epoch time; the
        // `hh:mm:ss` form is the reliable one.
        talk_duration_secs: hms_secs(p.get("billing_duration_time"))
            .or_else(|| uint(p.get("billing_duration")).filter(|s| *s < 7 * 86_400)),
        ring_duration_secs: uint(p.get("ring_duration")),
        recording_url: text(p.get("recording_url")),
        status: text(p.get("cause")),
        hangup_by: None,
    }
}
