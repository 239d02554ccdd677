//! Providers through the ingest handler: what is stored and queued, and provider retries
//! recognised across two ingest calls (in memory; `ingest_emulator.rs` repeats the dedup
//! check over SQS and DynamoDB).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::{fixture, req, source, Harness};
use switchboard_core::domain::source::Provider;
use switchboard_core::domain::Verification;

/// The events' canonical types, in queue order.
fn types(events: &[switchboard_core::domain::StoredEvent]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e.envelope.event_type.as_str())
        .collect()
}

fn open(id: &str, provider: Provider) -> switchboard_core::domain::Source {
    source(id, provider, Verification::None)
}

#[tokio::test]
async fn hipcall_retry_is_answered_with_the_original_id_and_queued_once() {
    let h = Harness::new(vec![open("hip", Provider::Hipcall)]).await;
    let post = |f: &str| req("POST", "/hooks/hip").json().body(fixture(f));

    let (s, first) = h.send(post("hipcall/call_hangup.json")).await;
    assert_eq!(s, 202);
    let (s, again) = h.send(post("hipcall/call_hangup.json")).await;
    assert_eq!(s, 200);
    assert_eq!(
        again,
        serde_json::json!({"id": first["id"], "duplicate": true})
    );
    // Another event of the same call is not a retry.
    let (s, init) = h.send(post("hipcall/call_init.json")).await;
    assert_eq!(s, 202);
    assert_ne!(init["id"], first["id"]);
    // The legacy blog post shows task::create twice: the provider's retry.
    assert_eq!(h.send(post("hipcall/legacy/task_create.json")).await.0, 202);
    assert_eq!(h.send(post("hipcall/legacy/task_create.json")).await.0, 200);

    let events = h.drain().await;
    assert_eq!(
        types(&events),
        ["call.ended", "call.started", "task.created"]
    );
    let hangup = &events[0];
    assert_eq!(hangup.envelope.id, first["id"].as_str().unwrap());
    assert_eq!(
        hangup.dedup_key.as_deref(),
        Some("hip:hipcall:2483a75a-56a2-41f1-991b-92b1667e324a:call_hangup")
    );
    assert_eq!(
        hangup.envelope.call_id(),
        Some("2483a75a-56a2-41f1-991b-92b1667e324a")
    );
    assert_eq!(
        hangup.raw.body,
        fixture("hipcall/call_hangup.json"),
        "raw bytes kept"
    );
}

#[tokio::test]
async fn callerdesk_live_call_and_report_are_different_events() {
    let mut cd = open("cd", Provider::Callerdesk);
    cd.timezone = Some("Asia/Kolkata".into());
    let h = Harness::new(vec![cd]).await;
    let json = |f: &str| req("POST", "/hooks/cd").json().body(fixture(f));
    let form = |f: &str| {
        req("POST", "/hooks/cd")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(fixture(f))
    };

    assert_eq!(
        h.send(form("callerdesk/live_call_ringing.form")).await.0,
        202
    );
    assert_eq!(
        h.send(json("callerdesk/live_call_answered.json")).await.0,
        202
    );
    let (s, report) = h.send(json("callerdesk/call_report.json")).await;
    assert_eq!(s, 202);
    // The same report re-sent form-encoded is still the same event.
    let (s, again) = h.send(form("callerdesk/call_report.form")).await;
    assert_eq!((s, &again["id"]), (200, &report["id"]));

    let events = h.drain().await;
    assert_eq!(
        types(&events),
        ["call.ringing", "call.answered", "call.report"]
    );
    let env = serde_json::to_value(&events[2].envelope).unwrap();
    assert_eq!(env["call"]["started_at"], "2023-01-02T09:02:36Z");
    assert_eq!(env["call"]["direction"], "inbound");
    assert_eq!(env["provider_event"], "Call Report");
}

#[tokio::test]
async fn unparseable_bodies_are_accepted_every_time_and_kept_raw() {
    let h = Harness::new(vec![open("vz", Provider::Voipappz)]).await;
    let body = fixture("voipappz/template_sample.txt");
    let post = || {
        req("POST", "/hooks/vz?event=Call:Hangup")
            .json()
            .body(body.clone())
    };
    let (s1, a) = h.send(post()).await;
    let (s2, b) = h.send(post()).await;
    assert_eq!((s1, s2), (202, 202), "no provider key: never deduplicated");
    assert_ne!(a["id"], b["id"]);
    let events = h.drain().await;
    assert_eq!(events.len(), 2);
    let e = &events[0];
    assert_eq!(e.envelope.event_type, "call.ended");
    assert!(e.envelope.raw_unparsed);
    assert_eq!(e.envelope.data, None);
    assert_eq!(e.dedup_key, None);
    assert_eq!(e.raw.body, body);
    assert_eq!(e.raw.query.as_deref(), Some("event=Call:Hangup"));
    let wire = serde_json::to_value(&e.envelope).unwrap();
    assert_eq!(wire["raw_unparsed"], true);
    assert_eq!(wire["provider_event"], "Call:Hangup");
}

#[tokio::test]
async fn voipappz_get_and_dedup_scope_is_the_source() {
    let h = Harness::new(vec![
        open("vz1", Provider::Voipappz),
        open("vz2", Provider::Voipappz),
    ])
    .await;
    let q = String::from_utf8(fixture("voipappz/call_hangup_get.query").to_vec()).unwrap();
    let get = |src: &str| req("GET", &format!("/hooks/{src}?{}", q.trim())).body("");
    assert_eq!(h.send(get("vz1")).await.0, 202);
    assert_eq!(h.send(get("vz1")).await.0, 200);
    assert_eq!(h.send(get("vz2")).await.0, 202, "another account's event");
    let events = h.drain().await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].envelope.event_type, "call.ended");
    assert_eq!(events[0].raw.method, "GET");
    assert_eq!(
        events[0].envelope.call_id(),
        Some("bfd7e62a-5a55-4286-9453-b4b4cfc5cca8")
    );
}

#[tokio::test]
async fn generic_source_configured_through_the_admin_api() {
    let h = Harness::new(vec![]).await;
    let mapping = String::from_utf8(fixture("generic/twilio.mapping.json").to_vec()).unwrap();
    let create = format!(
        r#"{{"id":"twilio","provider":"generic","verification":{{"type":"none"}},"mapping":{mapping}}}"#
    );
    let (s, b) = h
        .send(
            req("POST", "/admin/sources")
                .json()
                .header("authorization", &format!("Bearer {}", common::ADMIN_TOKEN))
                .body(create),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["mapping"]["call_id"], "CallSid");
    let post = || {
        req("POST", "/hooks/twilio")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(fixture("generic/twilio_call_completed.form"))
    };
    assert_eq!(h.send(post()).await.0, 202);
    assert_eq!(h.send(post()).await.0, 200);
    let events = h.drain().await;
    let env = serde_json::to_value(&events[0].envelope).unwrap();
    assert_eq!(env["type"], "call.ended");
    assert_eq!(env["occurred_at"], "2010-08-10T03:50:06Z");
    assert_eq!(env["call"]["id"], "CA0123456789abcdef0123456789abcdef");
    assert_eq!(env["data"]["CallStatus"], "completed");
}
