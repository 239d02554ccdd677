//! Property tests ("fuzzing" with proptest: cargo-fuzz needs a nightly toolchain) for every
//! decoder of stored or queued data: the queue message, the stored event and its envelope,
//! attempt records, configuration records, and pagination cursors. Arbitrary and mutated
//! input never panics; everything encoded decodes to itself.
//!
//! CI runs 256 cases per property; `PROPTEST_CASES=100000 cargo test -p switchboard-core
//! --release --test fuzz_decoders` runs a long one.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use crate::common::cases;
use proptest::prelude::*;
use serde_json::{Map, Value};
use switchboard_core::domain::attempt::AttemptStatus;
use switchboard_core::domain::envelope::{CallInfo, Envelope, RawRequest, StoredEvent};
use switchboard_core::domain::time::Timestamp;
use switchboard_core::domain::{Attempt, QueueMessage, Source, Subscription, Trigger};
use switchboard_core::ports::{DeliveryQuery, EventQuery, TimeRange};

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,16}",
        Just(String::new()),
        Just("../../etc/passwd".to_owned()),
        Just("\u{0}\u{202e}🙂".to_owned()),
        "[a-z_0-9]{1,12}",
    ]
}

fn json_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((text(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
    .boxed()
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    // Any second from 1970 to 9999, with nanoseconds.
    (0i64..253_402_300_799, 0u32..1_000_000_000)
        .prop_map(|(s, n)| chrono::DateTime::from_timestamp(s, n).unwrap())
}

fn call() -> impl Strategy<Value = Option<CallInfo>> {
    prop::option::of(
        (
            prop::option::of(text()),
            prop::option::of(text()),
            prop::option::of(timestamp()),
            prop::option::of(any::<u64>()),
        )
            .prop_map(|(id, from, started_at, duration_secs)| CallInfo {
                id,
                from,
                started_at,
                duration_secs,
                ..CallInfo::default()
            }),
    )
}

// Strategies are boxed and split in small tuples: deeply nested strategy types need more
// stack than a test thread has in debug builds.
fn envelope() -> BoxedStrategy<Envelope> {
    let names = (text(), text(), prop::option::of(text()), text());
    let times = (prop::option::of(timestamp()), timestamp());
    let rest = (call(), prop::option::of(json_value()), any::<bool>());
    (names, times, rest)
        .prop_map(
            |(
                (id, event_type, provider_event, source),
                (occurred_at, received_at),
                (call, data, raw_unparsed),
            )| {
                Envelope {
                    id,
                    event_type,
                    provider_event,
                    source,
                    occurred_at,
                    received_at,
                    call,
                    data: data.map(Into::into),
                    raw_unparsed,
                }
            },
        )
        .boxed()
}

fn raw_request() -> BoxedStrategy<RawRequest> {
    (
        text(),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::collection::vec(any::<u8>(), 0..512),
    )
        .prop_map(|(method, content_type, query, body)| RawRequest {
            method,
            content_type,
            query,
            body: body.into(),
        })
        .boxed()
}

fn stored_event() -> BoxedStrategy<StoredEvent> {
    (envelope(), raw_request(), prop::option::of(text()))
        .prop_map(|(envelope, raw, dedup_key)| StoredEvent {
            envelope,
            raw,
            dedup_key,
        })
        .boxed()
}

fn message() -> BoxedStrategy<QueueMessage> {
    prop_oneof![
        stored_event().prop_map(|e| QueueMessage::Event {
            event: std::sync::Arc::new(e)
        }),
        (
            text(),
            text(),
            any::<u32>(),
            prop::option::of(timestamp()),
            prop::sample::select(&[Trigger::Initial, Trigger::Retry, Trigger::Manual][..])
        )
            .prop_map(
                |(event_id, subscription_id, attempt, not_before, trigger)| {
                    QueueMessage::Deliver {
                        event_id,
                        subscription_id,
                        attempt,
                        not_before,
                        trigger,
                        rate_slot: None,
                    }
                }
            ),
    ]
    .boxed()
}

/// A byte-level mutation of valid input: flip, delete, insert, truncate or duplicate.
fn mutate(s: &str, ops: &[(u8, usize, u8)]) -> Vec<u8> {
    let mut b = s.as_bytes().to_vec();
    for &(op, at, byte) in ops {
        if b.is_empty() {
            b.push(byte);
            continue;
        }
        let i = at % b.len();
        match op % 5 {
            0 => b[i] ^= byte | 1,
            1 => {
                b.remove(i);
            }
            2 => b.insert(i, byte),
            3 => b.truncate(i),
            _ => {
                let tail = b[i..].to_vec();
                b.extend_from_slice(&tail[..tail.len().min(64)]);
            }
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), ..ProptestConfig::default() })]

    #[test]
    fn queue_messages_round_trip(m in message()) {
        let json = m.to_json().unwrap();
        let back = QueueMessage::from_json(&json).unwrap();
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(back.event_id(), m.event_id());
    }

    #[test]
    fn mutated_queue_messages_never_panic(m in message(), ops in prop::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..6)) {
        let bytes = mutate(&m.to_json().unwrap(), &ops);
        let text = String::from_utf8_lossy(&bytes);

        if let Ok(decoded) = QueueMessage::from_json(&text) {
            // Whatever decodes re-encodes to something that decodes to the same message.
            let again = QueueMessage::from_json(&decoded.to_json().unwrap()).unwrap();

            prop_assert_eq!(again, decoded);
        }
    }

    #[test]
    fn arbitrary_text_is_not_a_queue_message_or_decodes_cleanly(s in ".{0,256}") {
        let _ = QueueMessage::from_json(&s);
    }

    #[test]
    fn arbitrary_json_never_panics_any_decoder(v in json_value()) {
        let _ = serde_json::from_value::<QueueMessage>(v.clone());
        let _ = serde_json::from_value::<StoredEvent>(v.clone());
        let _ = serde_json::from_value::<Envelope>(v.clone());
        let _ = serde_json::from_value::<Attempt>(v.clone());
        let _ = serde_json::from_value::<Source>(v.clone());
        let _ = serde_json::from_value::<Subscription>(v.clone());
        // Wrapped as the envelope of a message, so the decoders reach the inner fields.
        let wrapped = serde_json::json!({"kind": "event", "event": {"envelope": v, "raw": {"method": "POST", "body": ""}}});
        let _ = QueueMessage::from_json(&wrapped.to_string());
    }

    #[test]
    fn stored_events_round_trip_through_their_stored_form(e in stored_event()) {
        let stored = serde_json::to_string(&e).unwrap();
        let back: StoredEvent = serde_json::from_str(&stored).unwrap();
        prop_assert_eq!(&back, &e);
        // Debug never prints the raw body or query (they may carry provider data).
        let debug = format!("{:?}", e.raw);
        prop_assert!(debug.len() < 200 + e.raw.method.len() * 4 + e.raw.content_type.as_ref().map_or(0, |c| c.len() * 4));
    }

    #[test]
    fn attempt_records_round_trip(
        event_id in text(), subscription_id in text(), attempt in any::<u32>(),
        status in prop::sample::select(&[AttemptStatus::Succeeded, AttemptStatus::Retrying, AttemptStatus::Exhausted, AttemptStatus::Failed][..]),
        at in timestamp(), next in prop::option::of(timestamp()), excerpt in prop::option::of(text()),
        http_status in prop::option::of(any::<u16>()), duration_ms in any::<u64>(),
    ) {
        let a = Attempt {
            event_id, subscription_id, attempt, status, trigger: Trigger::Retry,
            url: "http://127.0.0.1/x".into(), method: "POST".into(), request_headers: Default::default(),
            http_status, duration_ms, response_excerpt: excerpt, error_kind: None, error: None,
            next_attempt_at: next, held_behind: None, attempted_at: at, source: "s".into(), event_type: "t".into(), call_id: None, truncated: Vec::new(),
        };
        let back: Attempt = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        prop_assert_eq!(back, a);
    }

    #[test]
    fn cursors_from_anywhere_are_refused_or_accepted_never_panic(raw in prop_oneof![".{0,64}", "[A-Za-z0-9_=-]{0,96}"], id in text()) {
        let now = chrono::Utc::now();
        let queries = [
            DeliveryQuery::Event { event_id: id.clone(), subscription_id: None },
            DeliveryQuery::Subscription { subscription_id: id.clone(), status: None, range: TimeRange::default() },
            DeliveryQuery::Recent { range: TimeRange::default() },
        ];
        for q in &queries {
            let _ = q.decode_cursor(&raw, now);
        }
        let _ = EventQuery::Source { source: id.clone(), range: TimeRange::default() }.decode_cursor(&raw);
    }
}
