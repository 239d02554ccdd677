//! Hot paths, no network: ingest handler work per provider (verify + parse + normalize +
//! serialize, through `App::handle` with in-memory ports and a queue that only serialises),
//! body rendering per format, Standard Webhooks signing, dispatch's message decoding, and the
//! DynamoDB adapters' item mapping (with the SDK's serialisation and SigV4 signing, over an
//! HTTP client that answers from memory).
//!
//!     cargo bench -p switchboard-core --bench hot_paths
//!
//! Percentiles of single ingest calls (the p99 target) come from the `ingest_latency` bench.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::dynamo;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use switchboard_adapters_aws::{DynamoConfigStore, DynamoDeliveryStore, DynamoEventStore};
use switchboard_core::delivery::{render, signing};
use switchboard_core::domain::attempt::{AttemptStatus, Trigger};
use switchboard_core::domain::ids::event_id;
use switchboard_core::domain::subscription::{Format, Method};
use switchboard_core::domain::time::now;
use switchboard_core::domain::{Attempt, QueueMessage, RawRequest, StoredEvent, Subscription};
use switchboard_core::ports::{ConfigStore, DeliveryStore, EventStore};
use switchboard_core::providers::{self, Incoming};
use switchboard_core::redact::Secret;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn bench_ingest(c: &mut Criterion) {
    let rt = runtime();
    let (sources, cases) = common::ingest_cases();
    let app = rt.block_on(common::ingest_app(&sources));
    // A wrong answer would measure an error path: check every case once.
    for case in &cases {
        let status = rt.block_on(app.handle(case.request())).status();
        assert_eq!(status, http::StatusCode::ACCEPTED, "{}", case.name);
    }
    let mut g = c.benchmark_group("ingest");
    for (provider, mine) in common::cases_per_provider(&cases) {
        g.throughput(Throughput::Elements(1));
        // One request per iteration, cycling through the provider's fixtures.
        let mut i = 0usize;
        g.bench_function(common::provider_name(provider), |b| {
            b.iter_batched(
                || {
                    i += 1;
                    mine[i % mine.len()].request()
                },
                |req| rt.block_on(app.handle(req)),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

/// A stored event from the Hipcall hangup fixture, parsed the way ingest does it.
fn sample_event() -> StoredEvent {
    let (sources, cases) = common::ingest_cases();
    let case = cases
        .iter()
        .find(|c| c.name == "hipcall/call_hangup.json")
        .unwrap();
    let source = sources.iter().find(|s| s.id == "hipcall").unwrap();
    let parsed = providers::parse(
        source,
        &Incoming {
            method: "POST",
            content_type: Some("application/json"),
            query: None,
            body: &case.body,
        },
    );
    StoredEvent {
        envelope: parsed.into_envelope(event_id(), "hipcall".into(), now()),
        raw: RawRequest {
            method: "POST".into(),
            content_type: Some("application/json".into()),
            query: None,
            body: case.body.clone(),
        },
        dedup_key: Some("hipcall:bench".into()),
    }
}

pub const TEMPLATE: &str = r#"{"event": "{{ type }}", "call_id": "{{ call.id }}", "from": "{{ call.from }}", "to": "{{ call.to }}", "agent": "{{ call.agent }}", "duration": {{ call.duration_secs | default(0) }}, "recording": "{{ call.recording_url }}"}"#;

fn subscription(format: Format) -> Subscription {
    let secret = Secret::new(signing::generate_secret());
    Subscription {
        url: "https://example.com/hook".into(),
        method: Method::Post,
        event_types: vec!["call.*".into()],
        format,
        template: (format == Format::Template).then(|| TEMPLATE.to_owned()),
        ..Subscription::blank("sub_01JDX0000000000000000BENCH", secret, now())
    }
}

fn bench_render_and_sign(c: &mut Criterion) {
    let event = sample_event();
    let mut g = c.benchmark_group("render");
    for (name, format) in [
        ("raw", Format::Raw),
        ("envelope", Format::Envelope),
        ("template", Format::Template),
    ] {
        let sub = subscription(format);
        let out = render::render(&sub, &event).unwrap();
        assert!(!out.body.is_empty(), "{name}");
        g.bench_function(name, |b| {
            b.iter(|| render::render(black_box(&sub), black_box(&event)))
        });
    }
    g.finish();

    let body = render::render(&subscription(Format::Envelope), &event)
        .unwrap()
        .body;
    let secret = signing::generate_secret();
    let previous = signing::generate_secret();
    let msg_id = format!("{}_sub_01JDX0000000000000000BENCH", event.envelope.id);
    let mut g = c.benchmark_group("sign");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("one_secret", |b| {
        b.iter(|| signing::signature_header([secret.as_str()], &msg_id, 1_700_000_000, &body))
    });
    g.bench_function("two_secrets_rotation", |b| {
        b.iter(|| {
            signing::signature_header(
                [secret.as_str(), previous.as_str()],
                &msg_id,
                1_700_000_000,
                &body,
            )
        })
    });
    g.finish();

    let message = QueueMessage::Event {
        event: std::sync::Arc::new(event.clone()),
    }
    .to_json()
    .unwrap();
    let mut g = c.benchmark_group("queue_message");
    g.throughput(Throughput::Bytes(message.len() as u64));
    g.bench_function("encode", |b| {
        let m = QueueMessage::Event {
            event: std::sync::Arc::new(event.clone()),
        };
        b.iter(|| black_box(&m).to_json().unwrap())
    });
    g.bench_function("decode", |b| {
        b.iter(|| QueueMessage::from_json(black_box(&message)).unwrap())
    });
    g.finish();
}

fn attempt(event: &StoredEvent) -> Attempt {
    Attempt {
        event_id: event.envelope.id.clone(),
        subscription_id: "sub_01JDX0000000000000000BENCH".into(),
        attempt: 1,
        status: AttemptStatus::Succeeded,
        trigger: Trigger::Initial,
        url: "https://example.com/hook".into(),
        method: "POST".into(),
        request_headers: [
            ("content-type", "application/json"),
            ("webhook-id", "evt_x_sub_y"),
            ("webhook-timestamp", "1700000000"),
            ("webhook-signature", "[redacted]"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
        http_status: Some(204),
        duration_ms: 12,
        response_excerpt: Some(String::new()),
        error_kind: None,
        error: None,
        next_attempt_at: None,
        held_behind: None,
        attempted_at: now(),
        source: event.envelope.source.clone(),
        event_type: event.envelope.event_type.clone(),
        call_id: event.envelope.call_id().map(str::to_owned),
        truncated: Vec::new(),
    }
}

fn bench_dynamodb(c: &mut Criterion) {
    let rt = runtime();
    let event = sample_event();
    let doc = serde_json::to_string(&event).unwrap();
    let subs: Vec<serde_json::Value> = (0..20)
        .map(|i| {
            let mut s = subscription(Format::Envelope);
            s.id = format!("sub_{i:026}");
            dynamo::item(&s.id, &serde_json::to_string(&s).unwrap())
        })
        .collect();
    let canned = dynamo::Canned {
        get_item: serde_json::json!({"Item": dynamo::item(&event.envelope.id, &doc)}).to_string(),
        scan: serde_json::json!({"Items": subs, "Count": 20, "ScannedCount": 20}).to_string(),
    };
    let client = dynamo::client(canned);
    let events = DynamoEventStore::new(client.clone(), "events");
    let deliveries = DynamoDeliveryStore::new(client.clone(), "deliveries", "events");
    let subscriptions: DynamoConfigStore<Subscription> =
        DynamoConfigStore::new(client, "subscriptions");
    let expires = now() + chrono::Duration::days(30);
    let att = attempt(&event);
    assert_eq!(
        rt.block_on(subscriptions.list()).unwrap().len(),
        20,
        "canned scan"
    );
    assert!(rt
        .block_on(events.get(&event.envelope.id))
        .unwrap()
        .is_some());

    let mut g = c.benchmark_group("dynamodb");
    g.bench_function("event_doc_serialize", |b| {
        b.iter(|| serde_json::to_string(black_box(&event)).unwrap())
    });
    g.bench_function("put_event", |b| {
        b.iter(|| rt.block_on(events.put(&event, expires)).unwrap())
    });
    g.bench_function("get_event", |b| {
        b.iter(|| rt.block_on(events.get(&event.envelope.id)).unwrap())
    });
    g.bench_function("record_attempt", |b| {
        b.iter(|| rt.block_on(deliveries.record(&att, expires)).unwrap())
    });
    g.bench_function("list_20_subscriptions", |b| {
        b.iter(|| rt.block_on(subscriptions.list()).unwrap())
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = bench_ingest, bench_render_and_sign, bench_dynamodb
}
criterion_main!(benches);
