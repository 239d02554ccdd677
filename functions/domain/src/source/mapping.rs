//! The declarative field mapping of `generic` sources, validated while deserialising.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How a `generic` source turns any JSON, form or query payload into the envelope.
///
/// Field paths are a key of the payload (`CallSid`) or a dotted path into it
/// (`data.user.id`, `legs.0.id`); an exact key wins over a path.
///
/// ```json
/// {"event": {"field": "CallStatus", "map": {"completed": "call.ended"}},
///  "call_id": "CallSid",
///  "occurred_at": {"field": "Timestamp", "format": "rfc2822"},
///  "call": {"from": "From", "to": "To", "direction": "Direction"}}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawMapping")]
pub struct GenericMapping {
    #[serde(default)]
    pub event: EventMapping,
    /// Field holding the call id (fills `call.id` and the default dedup key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    /// Fields whose values, together, identify one event across provider retries. When
    /// empty, the call id and the provider's event name are used (if there is a call id).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dedup_fields: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<TimeField>,
    #[serde(default)]
    pub call: CallMapping,
}

/// Where the event's type comes from: a field (with an optional value map), a constant, or
/// both (the constant when the field is absent). Neither: the `event` or `type` field.
/// Without any of those, the URL's `?event=` names it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventMapping {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// A constant canonical type, e.g. `call.report`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Provider value → canonical type. A value not in the map is used as the type when it
    /// looks like one (`call.ended`), else the type is `unknown`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub map: BTreeMap<String, String>,
}

/// A timestamp field and how to read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeField {
    pub field: String,
    #[serde(default)]
    pub format: TimeFormat,
}

/// `auto` (RFC 3339, a zone-less `YYYY-MM-DD hh:mm:ss` in the source's zone, or a number of
/// Unix seconds), `rfc3339`, `rfc2822`, `unix`, `unix_ms`, or a chrono `strftime` pattern
/// (`%d/%m/%Y %H:%M`): with `%z` it carries its zone, without it the source's zone applies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum TimeFormat {
    #[default]
    Auto,
    Rfc3339,
    Rfc2822,
    UnixSeconds,
    UnixMillis,
    Pattern(String),
}

impl TryFrom<String> for TimeFormat {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Ok(match s.as_str() {
            "auto" => Self::Auto,
            "rfc3339" => Self::Rfc3339,
            "rfc2822" => Self::Rfc2822,
            "unix" => Self::UnixSeconds,
            "unix_ms" => Self::UnixMillis,
            p if p.contains('%') => {
                chrono::format::StrftimeItems::new(p)
                    .parse()
                    .map_err(|_| format!("invalid time format pattern {p:?}"))?;
                Self::Pattern(s)
            }
            other => {
                return Err(format!(
                    "unknown time format {other:?}: use auto, rfc3339, rfc2822, unix, unix_ms \
                     or a strftime pattern such as \"%Y-%m-%d %H:%M:%S\""
                ))
            }
        })
    }
}

impl From<TimeFormat> for String {
    fn from(f: TimeFormat) -> String {
        match f {
            TimeFormat::Auto => "auto".into(),
            TimeFormat::Rfc3339 => "rfc3339".into(),
            TimeFormat::Rfc2822 => "rfc2822".into(),
            TimeFormat::UnixSeconds => "unix".into(),
            TimeFormat::UnixMillis => "unix_ms".into(),
            TimeFormat::Pattern(p) => p,
        }
    }
}

/// Fields of the envelope's `call` block; each names a payload field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallMapping {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// Provider direction value → `inbound` / `outbound` (values starting with `in` or
    /// `out` are recognised without it).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub direction_map: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hangup_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<TimeField>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<TimeField>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<TimeField>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub talk_duration_secs: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ring_duration_secs: Option<String>,
}

impl CallMapping {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// Longest field path a mapping may name.
const MAX_PATH: usize = 256;

/// Whether a string can be a canonical event type: lowercase ASCII words joined by dots,
/// `_` or `-` inside words, at most 64 characters (`call.ended`, `hipcall.note_create`).
pub fn is_type_like(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.split('.').all(|w| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        })
}

/// The wire form of [`GenericMapping`], validated into it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMapping {
    #[serde(default)]
    event: EventMapping,
    #[serde(default)]
    call_id: Option<String>,
    #[serde(default)]
    dedup_fields: Vec<String>,
    #[serde(default)]
    occurred_at: Option<TimeField>,
    #[serde(default)]
    call: CallMapping,
}

impl TryFrom<RawMapping> for GenericMapping {
    type Error = String;
    fn try_from(r: RawMapping) -> Result<Self, String> {
        let m = GenericMapping {
            event: r.event,
            call_id: r.call_id,
            dedup_fields: r.dedup_fields,
            occurred_at: r.occurred_at,
            call: r.call,
        };
        m.validate()?;
        Ok(m)
    }
}

impl GenericMapping {
    /// Every path is non-empty and bounded; every type the mapping produces is type-like.
    pub fn validate(&self) -> Result<(), String> {
        let c = &self.call;
        let times = [
            &self.occurred_at,
            &c.started_at,
            &c.answered_at,
            &c.ended_at,
        ];
        let paths = [
            &self.event.field,
            &self.call_id,
            &c.direction,
            &c.from,
            &c.to,
            &c.agent,
            &c.status,
            &c.recording_url,
            &c.hangup_by,
            &c.duration_secs,
            &c.talk_duration_secs,
            &c.ring_duration_secs,
        ]
        .into_iter()
        .flatten()
        .chain(self.dedup_fields.iter())
        .chain(times.into_iter().flatten().map(|t| &t.field));
        for p in paths {
            if p.trim().is_empty() || p.len() > MAX_PATH {
                return Err(format!(
                    "field paths must be 1-{MAX_PATH} characters, got {p:?}"
                ));
            }
        }
        let types = self.event.value.iter().chain(self.event.map.values());
        for t in types {
            if !is_type_like(t) {
                return Err(format!(
                    "event type {t:?} must be lowercase dotted words such as \"call.ended\""
                ));
            }
        }
        for d in c.direction_map.values() {
            if d != "inbound" && d != "outbound" {
                return Err(format!(
                    "direction_map values must be \"inbound\" or \"outbound\", got {d:?}"
                ));
            }
        }
        Ok(())
    }
}
