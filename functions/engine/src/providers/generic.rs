//! `generic`: any JSON, form or query payload, normalized by the declarative
//! [`GenericMapping`] in the source's configuration, so a new provider needs no code.
//!
//! The event type comes from the mapping's event field (through its value map; an unmapped
//! value is used as the type when it looks like one), else its constant `value`, else the
//! URL's `?event=`, else `unknown`. Without a mapping the `event` or `type` field names it.
//! Retries are recognised by the mapping's `dedup_fields`, or else by call id + event.

use super::fields::{
    first_text, from_epoch, from_epoch_millis, get, localize, number, rfc3339, text, uint,
};
use super::{key, non_empty, Incoming, Parsed, UNKNOWN};
use crate::domain::source::{is_type_like, GenericMapping, TimeField, TimeFormat};
use crate::domain::time::Timestamp;
use crate::domain::CallInfo;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use serde_json::Value;

/// The type a provider value stands for: the mapping's, else the value when it is type-like.
pub(super) fn canonical_type(mapping: Option<&GenericMapping>, name: &str) -> Option<String> {
    if let Some(t) = mapping.and_then(|m| m.event.map.get(name)) {
        return Some(t.clone());
    }
    is_type_like(name).then(|| name.to_owned())
}

pub(super) fn normalize(
    payload: &Value,
    incoming: &Incoming<'_>,
    mapping: Option<&GenericMapping>,
    tz: Tz,
) -> Parsed {
    let default = GenericMapping::default();
    let m = mapping.unwrap_or(&default);
    let (provider_event, event_type) = event(payload, incoming, m);
    let call = call_info(payload, m, tz);
    let occurred_at = m
        .occurred_at
        .as_ref()
        .and_then(|f| read_time(payload, f, tz));
    let dedup_key = if m.dedup_fields.is_empty() {
        let event = provider_event
            .clone()
            .or_else(|| (event_type != UNKNOWN).then(|| event_type.clone()));
        match (&call.id, event) {
            (Some(id), Some(e)) => Some(key(&["generic", id, &e])),
            _ => None,
        }
    } else {
        m.dedup_fields
            .iter()
            .map(|f| text(get(payload, f)))
            .collect::<Option<Vec<String>>>()
            .map(|values| {
                let mut parts = vec!["generic"];
                parts.extend(values.iter().map(String::as_str));
                key(&parts)
            })
    };
    Parsed {
        occurred_at,
        call: non_empty(call),
        dedup_key,
        ..Parsed::decoded(event_type, provider_event)
    }
}

fn event(payload: &Value, incoming: &Incoming<'_>, m: &GenericMapping) -> (Option<String>, String) {
    let named = match (&m.event.field, &m.event.value) {
        (Some(f), _) => text(get(payload, f)),
        (None, None) => first_text(payload, &["event", "type"]),
        (None, Some(_)) => None,
    };
    if let Some(v) = named {
        let t = canonical_type(Some(m), &v)
            .or_else(|| m.event.value.clone())
            .unwrap_or_else(|| UNKNOWN.into());
        return (Some(v), t);
    }
    if let Some(c) = &m.event.value {
        return (None, c.clone());
    }
    match incoming.query_param("event") {
        Some(q) => {
            let t = canonical_type(Some(m), &q).unwrap_or_else(|| UNKNOWN.into());
            (Some(q), t)
        }
        None => (None, UNKNOWN.into()),
    }
}

fn call_info(p: &Value, m: &GenericMapping, tz: Tz) -> CallInfo {
    let c = &m.call;
    let txt = |path: &Option<String>| path.as_deref().and_then(|f| text(get(p, f)));
    let num = |path: &Option<String>| path.as_deref().and_then(|f| uint(get(p, f)));
    let time = |f: &Option<TimeField>| f.as_ref().and_then(|f| read_time(p, f, tz));
    let [from, to, agent, recording_url, status, hangup_by] = [
        &c.from,
        &c.to,
        &c.agent,
        &c.recording_url,
        &c.status,
        &c.hangup_by,
    ]
    .map(txt);
    let [started_at, answered_at, ended_at] =
        [&c.started_at, &c.answered_at, &c.ended_at].map(time);
    let [duration_secs, talk_duration_secs, ring_duration_secs] = [
        &c.duration_secs,
        &c.talk_duration_secs,
        &c.ring_duration_secs,
    ]
    .map(num);
    let direction = txt(&c.direction)
        .and_then(|d| (c.direction_map.get(&d).cloned()).or_else(|| super::fields::direction(&d)));
    CallInfo {
        id: txt(&m.call_id),
        direction,
        from,
        to,
        agent,
        started_at,
        answered_at,
        ended_at,
        duration_secs,
        talk_duration_secs,
        ring_duration_secs,
        recording_url,
        status,
        hangup_by,
    }
}

fn read_time(p: &Value, f: &TimeField, tz: Tz) -> Option<Timestamp> {
    let v = get(p, &f.field);
    match &f.format {
        TimeFormat::Auto => super::fields::local_time(v, tz).or_else(|| {
            // Numbers: milliseconds from 1973 on when that large, else seconds from 1973 on
            // (smaller numbers are durations or counters, not times).
            let n = number(v)?;
            if n >= 1e11 {
                from_epoch_millis(n)
            } else if n >= 1e8 {
                from_epoch(n)
            } else {
                None
            }
        }),
        TimeFormat::Rfc3339 => rfc3339(v),
        TimeFormat::Rfc2822 => DateTime::parse_from_rfc2822(&text(v)?)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        TimeFormat::UnixSeconds => from_epoch(number(v)?),
        TimeFormat::UnixMillis => from_epoch_millis(number(v)?),
        TimeFormat::Pattern(pattern) => {
            let s = text(v)?;
            if let Ok(t) = DateTime::parse_from_str(&s, pattern) {
                return Some(t.with_timezone(&Utc));
            }
            if let Ok(n) = NaiveDateTime::parse_from_str(&s, pattern) {
                return localize(n, tz);
            }
            let day = NaiveDate::parse_from_str(&s, pattern).ok()?;
            localize(day.and_hms_opt(0, 0, 0)?, tz)
        }
    }
}
