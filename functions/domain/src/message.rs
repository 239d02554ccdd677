//! What travels on the events queue.

use super::envelope::StoredEvent;
use super::time::Timestamp;
use super::Trigger;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Written internally tagged (`"kind"`), read through [`WireMessage`]: serde buffers an
/// internally tagged enum before reading it, and a buffered payload cannot be read as text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", try_from = "WireMessage")]
pub enum QueueMessage {
    /// A newly accepted event: store it, then fan it out to every matching subscription.
    Event { event: std::sync::Arc<StoredEvent> },
    /// One delivery of a stored event to one subscription: a scheduled retry or a replay.
    Deliver {
        event_id: String,
        subscription_id: String,
        attempt: u32,
        /// Not before this time; earlier receipts are re-queued (SQS delays cap at 15 min).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        not_before: Option<Timestamp>,
        trigger: Trigger,
        /// The rate-limit slot this delivery already holds (it waited for it on the
        /// queue): it goes then without taking another.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rate_slot: Option<Timestamp>,
    },
}

impl QueueMessage {
    /// The message body: JSON in which every character SQS cannot carry is escaped (see
    /// [`escape_for_sqs`]); [`QueueMessage::from_json`] reads it back unchanged.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self).map(escape_for_sqs)
    }

    pub fn from_json(body: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(body)
    }

    /// The event id this message is about.
    pub fn event_id(&self) -> &str {
        match self {
            Self::Event { event } => &event.envelope.id,
            Self::Deliver { event_id, .. } => event_id,
        }
    }
}

/// A queue message's fields, of either kind, read as they come (no buffering).
#[derive(Deserialize)]
struct WireMessage {
    kind: Kind,
    event: Option<std::sync::Arc<StoredEvent>>,
    event_id: Option<String>,
    subscription_id: Option<String>,
    attempt: Option<u32>,
    not_before: Option<Timestamp>,
    trigger: Option<Trigger>,
    rate_slot: Option<Timestamp>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Event,
    Deliver,
}

impl TryFrom<WireMessage> for QueueMessage {
    type Error = String;

    fn try_from(w: WireMessage) -> Result<Self, String> {
        fn required<T>(field: Option<T>, name: &str) -> Result<T, String> {
            field.ok_or_else(|| format!("missing field `{name}`"))
        }
        Ok(match w.kind {
            Kind::Event => Self::Event {
                event: required(w.event, "event")?,
            },
            Kind::Deliver => Self::Deliver {
                event_id: required(w.event_id, "event_id")?,
                subscription_id: required(w.subscription_id, "subscription_id")?,
                attempt: required(w.attempt, "attempt")?,
                not_before: w.not_before,
                trigger: required(w.trigger, "trigger")?,
                rate_slot: w.rate_slot,
            },
        })
    }
}

/// Whether SQS accepts `c` in a message body: #x9 | #xA | #xD | #x20-#xD7FF |
/// #xE000-#xFFFD | #x10000-#x10FFFF (surrogates cannot occur in a Rust string).
pub fn sqs_allows(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && !matches!(c, '\u{FFFE}' | '\u{FFFF}'))
}

/// Writes the characters SQS refuses (U+FFFE, U+FFFF, and control characters, which
/// serde_json already escapes) as JSON `\uXXXX` escapes. In JSON text they can only occur
/// inside strings, where the escape decodes to the same character, so a provider's payload
/// holding them is queued instead of refused (and retried forever) by SendMessage.
fn escape_for_sqs(json: String) -> String {
    // Fast path for nearly every body: U+FFFE and U+FFFF are the only refused characters
    // serde_json leaves as they are, and both start with the byte 0xEF in UTF-8 (a byte
    // search, where checking each character cost 3 % of serve's CPU).
    if !json.as_bytes().contains(&0xEF) || json.chars().all(sqs_allows) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 32);
    for c in json.chars() {
        if sqs_allows(c) {
            out.push(c);
        } else {
            // Every refused character is in the Basic Multilingual Plane: one escape.
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Envelope, RawRequest, StoredEvent};

    fn event_with(text: &str) -> QueueMessage {
        QueueMessage::Event {
            event: std::sync::Arc::new(StoredEvent {
                envelope: Envelope {
                    id: "evt_1".into(),
                    event_type: "call.ended".into(),
                    provider_event: Some(text.into()),
                    source: "s".into(),
                    occurred_at: None,
                    received_at: "2024-11-17T10:41:00Z".parse().unwrap(),
                    call: None,
                    data: Some(serde_json::json!({ "note": text, text: 1 }).into()),
                    raw_unparsed: false,
                },
                raw: RawRequest {
                    method: "POST".into(),
                    content_type: Some("application/json".into()),
                    query: Some(text.into()),
                    body: bytes::Bytes::from(text.as_bytes().to_vec()),
                },
                dedup_key: None,
            }),
        }
    }

    #[test]
    fn characters_sqs_refuses_are_escaped_and_read_back_unchanged() {
        let text = "a\u{FFFE}b\u{FFFF}c\u{1}\u{1F}\u{7F}\u{FFFD}\u{10FFFF}\t\u{E000}";
        let m = event_with(text);
        let body = m.to_json().unwrap();
        assert!(body.chars().all(sqs_allows), "{body:?}");
        assert!(body.contains("\\ufffe") && body.contains("\\uffff"));
        // Characters SQS takes stay as they are (no needless growth).
        assert!(body.contains('\u{FFFD}') && body.contains('\u{10FFFF}'));
        assert_eq!(QueueMessage::from_json(&body).unwrap(), m);
    }

    proptest::proptest! {
        /// Whatever text a payload holds (refused characters next to other multi-byte ones
        /// starting with 0xEF included), the body is one SQS takes and reads back unchanged.
        #[test]
        fn every_text_is_queued_as_sqs_takes_it(
            text in "[a\u{1}\u{FFFE}\u{FFFF}\u{FFFD}\u{E000}\u{F000}\u{10FFFF}ü\\\"]{0,24}"
        ) {
            let m = event_with(&text);
            let body = m.to_json().unwrap();
            proptest::prop_assert!(body.chars().all(sqs_allows), "{:?}", body);
            proptest::prop_assert_eq!(QueueMessage::from_json(&body).unwrap(), m);
        }
    }

    /// (A `Deliver` message's round trip: `deliver_round_trips`.)
    #[test]
    fn an_event_reads_back_and_a_missing_field_is_named() {
        let m = event_with("x");
        assert_eq!(QueueMessage::from_json(&m.to_json().unwrap()).unwrap(), m);
        let err = QueueMessage::from_json(r#"{"kind":"deliver","event_id":"e"}"#).unwrap_err();
        assert!(err.to_string().contains("subscription_id"), "{err}");
        assert!(QueueMessage::from_json(r#"{"kind":"other"}"#).is_err());
    }

    #[test]
    fn a_body_without_refused_characters_is_plain_json() {
        let m = event_with("plain ü");
        let body = m.to_json().unwrap();
        assert_eq!(body, serde_json::to_string(&m).unwrap());
    }

    #[test]
    fn sqs_character_set() {
        for c in [
            '\t',
            '\n',
            '\r',
            ' ',
            '\u{D7FF}',
            '\u{E000}',
            '\u{FFFD}',
            '\u{10000}',
        ] {
            assert!(sqs_allows(c), "{c:?}");
        }
        for c in ['\u{0}', '\u{8}', '\u{B}', '\u{1F}', '\u{FFFE}', '\u{FFFF}'] {
            assert!(!sqs_allows(c), "{c:?}");
        }
    }

    #[test]
    fn deliver_round_trips() {
        let m = QueueMessage::Deliver {
            event_id: "evt_1".into(),
            subscription_id: "sub_1".into(),
            attempt: 3,
            not_before: Some("2024-11-17T10:41:00Z".parse().unwrap()),
            trigger: Trigger::Retry,
            rate_slot: None,
        };
        let back = QueueMessage::from_json(&m.to_json().unwrap()).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.event_id(), "evt_1");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(QueueMessage::from_json("{\"kind\":\"nope\"}").is_err());
        assert!(QueueMessage::from_json("\u{0}").is_err());
    }
}
