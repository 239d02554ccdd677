//! The canonical envelope subscribers receive, and the raw request it came from.

use super::payload::Payload;
use super::time::{rfc3339, Timestamp};
use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// The normalized event: what subscribers get in `envelope` format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Envelope {
    /// Sortable unique id; the same id ingest answered with.
    pub id: String,
    /// Canonical dotted type, e.g. `call.ended`; `unknown` when nothing names it.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The provider's own event name, e.g. `call_hangup`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_event: Option<String>,
    /// The source id the webhook arrived on.
    pub source: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "rfc3339::option"
    )]
    pub occurred_at: Option<Timestamp>,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub received_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<CallInfo>,
    /// The provider payload, a JSON body as the provider sent it; absent when it could not be
    /// parsed. A payload that is JSON `null` stays present through the queue and the stores
    /// (present means parsed).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    #[cfg_attr(feature = "openapi", schemars(with = "Option<serde_json::Value>"))]
    pub data: Option<Payload>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub raw_unparsed: bool,
}

impl Envelope {
    pub fn call_id(&self) -> Option<&str> {
        self.call.as_ref().and_then(|c| c.id.as_deref())
    }
}

/// Whatever the provider tells about a call; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct CallInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `inbound` or `outbound` when the provider says which.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "rfc3339::option"
    )]
    pub started_at: Option<Timestamp>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "rfc3339::option"
    )]
    pub answered_at: Option<Timestamp>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "rfc3339::option"
    )]
    pub ended_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub talk_duration_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ring_duration_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_url: Option<String>,
    /// Outcome or state as the provider names it (`answer`, `busy`, `ANSWER`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Who or what ended the call, when the provider says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hangup_by: Option<String>,
}

/// The request exactly as the provider sent it (minus credentials), so nothing is lost.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct RawRequest {
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Query string without the verification token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(with = "base64_bytes")]
    #[cfg_attr(feature = "openapi", schemars(with = "String", extend("format" = "byte")))]
    pub body: Bytes,
}

impl std::fmt::Debug for RawRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawRequest")
            .field("method", &self.method)
            .field("content_type", &self.content_type)
            .field("query_len", &self.query.as_ref().map(String::len))
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// An accepted event as queued and stored: the envelope, the raw request and the
/// provider key used to recognise the provider's retries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct StoredEvent {
    pub envelope: Envelope,
    pub raw: RawRequest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_key: Option<String>,
}

/// A field that is present decodes to `Some`, even when its value is `null`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Payload>, D::Error> {
    Payload::deserialize(d).map(Some)
}

mod base64_bytes {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        let raw = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map(Bytes::from)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn a_null_payload_stays_a_parsed_payload() {
        let json =
            r#"{"id":"evt_1","type":"unknown","source":"s","received_at":"2024-11-17T10:41:00Z"}"#;
        let absent: Envelope = serde_json::from_str(json).unwrap();
        assert_eq!(absent.data, None);
        let with_null = json.replace("}", r#","data":null}"#);
        let null: Envelope = serde_json::from_str(&with_null).unwrap();
        assert_eq!(null.data, Some(Payload::from(Value::Null)));
        assert_eq!(serde_json::to_string(&null).unwrap(), with_null);
    }

    #[test]
    fn raw_body_round_trips_any_bytes() {
        let raw = RawRequest {
            method: "POST".into(),
            content_type: Some("application/json".into()),
            query: None,
            body: Bytes::from_static(b"\xff\x00{not json"),
        };
        let json = serde_json::to_string(&raw).unwrap();
        let back: RawRequest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, raw);
    }

    #[test]
    fn unparsed_flag_only_serialised_when_set() {
        let env = Envelope {
            id: "evt_1".into(),
            event_type: "unknown".into(),
            provider_event: None,
            source: "s".into(),
            occurred_at: None,
            received_at: "2024-11-17T10:41:00Z".parse().unwrap(),
            call: None,
            data: None,
            raw_unparsed: false,
        };
        let v = serde_json::to_value(&env).unwrap();
        assert!(v.get("raw_unparsed").is_none());
        assert_eq!(v["type"], "unknown");
        let v = serde_json::to_value(Envelope {
            raw_unparsed: true,
            ..env
        })
        .unwrap();
        assert_eq!(v["raw_unparsed"], true);
    }
}
