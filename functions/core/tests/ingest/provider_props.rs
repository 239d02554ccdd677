//! Property tests for every provider parser: arbitrary bytes, content types, methods and
//! query strings never panic, and every request is either normalized (data kept, a
//! type-like type) or kept raw (flagged, no data, no call, no dedup key).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use crate::common::cases;
use proptest::prelude::*;
use serde_json::{Map, Value};
use switchboard_core::domain::source::{is_type_like, GenericMapping, Provider};
use switchboard_core::domain::{Source, Verification};
use switchboard_core::providers::{self, Incoming, Parsed};

const PROVIDERS: [Provider; 10] = Provider::ALL;

/// Field names the parsers look at, so generated payloads reach their deeper branches.
const KEYS: &[&str] = &[
    "event",
    "type",
    "data",
    "uuid",
    "id",
    "direction",
    "started_at",
    "ended_at",
    "answered_at",
    "updated_at",
    "created_at",
    "call_flow",
    "timestamp",
    "startstamp",
    "state",
    "number",
    "contact_number",
    "user_id",
    "missing_call",
    "call_duration",
    "answer_at",
    "start_at",
    "duration",
    "duration_time",
    "billing_duration_time",
    "ivr_name",
    "cause",
    "CallSid",
    "Status",
    "StartTime",
    "EndTime",
    "LegB_Start_time",
    "LegB_Picked_time",
    "Direction",
    "CallDuration",
    "SourceNumber",
    "CallStatus",
    "Timestamp",
    "call",
    "ts",
    "SequenceNumber",
    "RecordingSid",
    "RecordingStatus",
    "RecordingUrl",
    "Event",
    "CallUUID",
    "AnswerTime",
    "RecordUrl",
    "RecordingID",
    "HangupSource",
    "event_type",
    "occurred_at",
    "payload",
    "call_session_id",
    "start_time",
    "end_time",
    "recording_urls",
    "mp3",
    "status",
    "conversation_uuid",
    "recording_url",
    "recording_uuid",
    "resource",
    "raw_digits",
    "user",
    "missed_call_reason",
    "EventType",
    "CallType",
    "DateUpdated",
    "ConversationDuration",
];

const EVENTS: &[&str] = &[
    "call_init",
    "call_hangup",
    "call::init",
    "call::hangup",
    "task::create",
    "contact_center::contact_update",
    "Call:Ringing",
    "Call:Hangup",
    "Ivr:Start",
    "Call Report",
    "Live Call",
    "completed",
    "call.ended",
    "::",
    "in-progress",
    "StartApp",
    "Hangup",
    "Ring",
    "call.initiated",
    "call.hangup",
    "call.recording.saved",
    "answered",
    "call.created",
    "terminal",
    "call-attempt",
    "",
];

const TEXTS: &[&str] = &[
    "2024-11-17T10:41:00Z",
    "2023-04-04T09:59:51.000000Z",
    "2023-01-02  14:32:44",
    "2024-03-31 02:30:00",
    "23:34:00",
    "00:06:57",
    "99:99:99",
    "0000-00-00 00:00:00",
    "Tue, 10 Aug 2010 03:50:06 +0000",
    "IVR",
    "WEBOBD",
    "outgoing",
    "inbound",
    "ANSWER",
    "BUSY",
    "1731840066",
    "-1",
    "1e400",
    "",
    " ",
    "\u{0}",
    "ç🙂",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(TEXTS).prop_map(Value::from),
        prop::sample::select(EVENTS).prop_map(Value::from),
        ".{0,24}".prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![prop::sample::select(KEYS).prop_map(str::to_owned), ".{0,8}"],
                    inner
                ),
                0..8
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(
            (prop::sample::select(KEYS), prop::sample::select(TEXTS)),
            0..6
        )
        .prop_map(|kv| {
            kv.iter()
                .map(|(k, v)| format!("{k}={}", v.replace(' ', "+")))
                .collect::<Vec<_>>()
                .join("&")
                .into_bytes()
        }),
    ]
}

fn content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        prop::sample::select(
            &[
                "application/json",
                "application/json; charset=utf-8",
                "application/x-www-form-urlencoded",
                "text/plain",
                "multipart/form-data; boundary=x",
                "application/vnd.api+json",
                "",
            ][..]
        )
        .prop_map(|s| Some(s.to_owned())),
        ".{0,30}".prop_map(Some),
    ]
}

fn query() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        prop::sample::select(EVENTS).prop_map(|e| Some(format!("event={e}"))),
        "[ -~]{0,60}".prop_map(Some),
        prop::collection::vec(
            (prop::sample::select(KEYS), prop::sample::select(TEXTS)),
            0..5
        )
        .prop_map(|kv| {
            Some(
                kv.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("&"),
            )
        }),
    ]
}

fn mapping() -> impl Strategy<Value = Option<GenericMapping>> {
    let twilio = include_str!("../../../../events/providers/generic/twilio.mapping.json");
    let exotel = include_str!("../../../../events/providers/generic/exotel.mapping.json");
    let constant = r#"{"event":{"value":"call.report"},"call_id":"call.id",
        "occurred_at":{"field":"ts","format":"unix_ms"},"dedup_fields":["id","data.uuid"],
        "call":{"started_at":{"field":"StartTime","format":"%d/%m/%Y %H:%M"},
                "ended_at":{"field":"EndTime"},"duration_secs":"duration"}}"#;
    prop_oneof![
        Just(None),
        prop::sample::select(vec![twilio, exotel, constant])
            .prop_map(|m| Some(serde_json::from_str(m).unwrap())),
    ]
}

fn source(provider: Provider, tz: Option<&str>, mapping: Option<GenericMapping>) -> Source {
    let t = "2024-01-01T00:00:00Z".parse().unwrap();
    Source {
        timezone: tz.map(str::to_owned),
        mapping: mapping.filter(|_| provider == Provider::Generic),
        ..Source::blank("prop", provider, Verification::None, t)
    }
}

fn check(p: &Parsed) -> Result<(), TestCaseError> {
    prop_assert!(
        is_type_like(&p.event_type),
        "type {:?} is not type-like",
        p.event_type
    );
    prop_assert_eq!(p.unparsed, p.data.is_none(), "normalized xor kept raw");
    if p.unparsed {
        prop_assert!(p.call.is_none() && p.dedup_key.is_none());
    }
    if let Some(k) = &p.dedup_key {
        prop_assert!(!k.is_empty() && k.len() <= 200, "key length {}", k.len());
    }
    if let Some(c) = &p.call {
        if let Some(d) = &c.direction {
            prop_assert!(d == "inbound" || d == "outbound", "direction {d:?}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(512), ..ProptestConfig::default() })]

    #[test]
    fn any_request_is_normalized_or_kept_raw(
        provider in prop::sample::select(&PROVIDERS[..]),
        tz in prop::option::of(prop::sample::select(&["UTC", "Asia/Kolkata", "Europe/Berlin", "Asia/Jerusalem", "Not/AZone"][..])),
        mapping in mapping(),
        method in prop::sample::select(&["POST", "GET", "PUT"][..]),
        ct in content_type(),
        query in query(),
        body in body(),
    ) {
        let src = source(provider, tz, mapping);
        let incoming = Incoming {
            method,
            content_type: ct.as_deref(),
            query: query.as_deref(),
            body: &body,
        };
        let p = providers::parse(&src, &incoming);
        check(&p)?;
        // Deterministic: a provider retry parses the same, so it gets the same key.
        prop_assert_eq!(&p, &providers::parse(&src, &incoming));
    }

    #[test]
    fn any_json_object_is_normalized(
        provider in prop::sample::select(&PROVIDERS[..]),
        mapping in mapping(),
        value in json_value(),
        query in query(),
    ) {
        let src = source(provider, None, mapping);
        let body = value.to_string();
        let p = providers::parse(&src, &Incoming {
            method: "POST",
            content_type: Some("application/json"),
            query: query.as_deref(),
            body: body.as_bytes(),
        });
        check(&p)?;
        prop_assert!(!p.unparsed, "valid JSON is never kept raw");
        // (Compared with a re-parse: serde_json's float parsing may move the last digit.)
        let reparsed: Value = serde_json::from_str(&body).unwrap();
        prop_assert_eq!(p.data.as_ref().map(|d| d.to_value()), Some(reparsed));
        // The payload is the body's own text, not the value written out again.
        prop_assert_eq!(p.data.as_ref().map(|d| d.text()), Some(body.as_str()));
    }

    #[test]
    fn any_form_or_query_is_normalized(
        provider in prop::sample::select(&PROVIDERS[..]),
        pairs in prop::collection::vec((prop::sample::select(KEYS), ".{0,20}"), 0..8),
        as_get in any::<bool>(),
    ) {
        let src = source(provider, Some("Asia/Kolkata"), None);
        let encoded: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        let p = if as_get {
            providers::parse(&src, &Incoming { method: "GET", content_type: None, query: Some(&encoded), body: b"" })
        } else {
            providers::parse(&src, &Incoming {
                method: "POST",
                content_type: Some("application/x-www-form-urlencoded"),
                query: None,
                body: encoded.as_bytes(),
            })
        };
        check(&p)?;
        prop_assert!(!p.unparsed);
    }
}
