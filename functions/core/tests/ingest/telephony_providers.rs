//! The telephony providers beyond the seeds — Twilio, Plivo, Telnyx, Vonage, Aircall,
//! Exotel — parse their documented payloads (events/providers/<name>/) into the canonical
//! type, `call` block and dedup key.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use switchboard_core::domain::source::Provider;
use switchboard_core::providers::{self, Incoming, Parsed};

use crate::common::{call, id_of, parse_fixture, parsing_source, rfc};

fn parse(provider: Provider, tz: Option<&str>, path: &str) -> Parsed {
    parse_fixture(&parsing_source(provider, tz, None), path)
}

#[test]
fn twilio_status_callbacks() {
    let types: Vec<String> = [
        "incoming_call",
        "call_initiated",
        "call_ringing",
        "call_in_progress",
        "call_completed",
    ]
    .iter()
    .map(|f| parse(Provider::Twilio, None, &format!("twilio/{f}.form")).event_type)
    .collect();
    assert_eq!(
        types,
        [
            "call.ringing",
            "call.started",
            "call.ringing",
            "call.answered",
            "call.ended"
        ]
    );
    let p = parse(Provider::Twilio, None, "twilio/call_completed.form");
    let c = call(&p);
    assert_eq!(id_of(c), "CA0123456789abcdef0123456789abcdef");
    assert_eq!(c.direction.as_deref(), Some("outbound"));
    assert_eq!(c.from.as_deref(), Some("+14155550199"));
    assert_eq!(c.to.as_deref(), Some("+14155550100"));
    assert_eq!(c.duration_secs, Some(42));
    assert_eq!(c.status.as_deref(), Some("completed"));
    assert_eq!(rfc(c.ended_at), "2010-08-10T03:50:06+00:00");
    assert_eq!(rfc(p.occurred_at), "2010-08-10T03:50:06+00:00");
    assert!(c
        .recording_url
        .as_deref()
        .unwrap()
        .contains("/Recordings/RE0123"));
    assert_eq!(
        p.dedup_key.as_deref(),
        Some("twilio:CA0123456789abcdef0123456789abcdef:completed:3")
    );
    let inbound = parse(Provider::Twilio, None, "twilio/incoming_call.form");
    assert_eq!(call(&inbound).direction.as_deref(), Some("inbound"));
    let started = parse(Provider::Twilio, None, "twilio/call_initiated.form");
    assert_eq!(rfc(call(&started).started_at), "2010-08-10T03:49:20+00:00");
}

#[test]
fn twilio_recording_callback() {
    let p = parse(Provider::Twilio, None, "twilio/recording_completed.form");
    assert_eq!(p.event_type, "call.recording");
    assert_eq!(p.provider_event.as_deref(), Some("recording-completed"));
    let c = call(&p);
    assert_eq!(id_of(c), "CA0123456789abcdef0123456789abcdef");
    assert!(c.recording_url.is_some());
    assert_eq!(
        p.dedup_key.as_deref(),
        Some("twilio:RE0123456789abcdef0123456789abcdef:completed")
    );
}

#[test]
fn plivo_answer_ring_hangup_record() {
    let answer = parse(Provider::Plivo, None, "plivo/answer_start_app.form");
    assert_eq!(answer.event_type, "call.answered");
    assert_eq!(answer.provider_event.as_deref(), Some("StartApp"));
    assert_eq!(call(&answer).direction.as_deref(), Some("inbound"));
    let ring = parse(Provider::Plivo, None, "plivo/ring.form");
    assert_eq!(ring.event_type, "call.ringing");
    let p = parse(Provider::Plivo, None, "plivo/hangup.form");
    assert_eq!(p.event_type, "call.ended");
    let c = call(&p);
    assert_eq!(id_of(c), "bb9fac1f-7b8f-11ec-8f2f-0b5b2d1a7a22");
    assert_eq!(c.direction.as_deref(), Some("outbound"));
    assert_eq!(c.from.as_deref(), Some("14155550100"));
    assert_eq!(c.to.as_deref(), Some("14155550123"));
    assert_eq!(rfc(c.started_at), "2022-01-21T10:20:10+00:00");
    assert_eq!(rfc(c.answered_at), "2022-01-21T10:20:15+00:00");
    assert_eq!(rfc(c.ended_at), "2022-01-21T10:20:57+00:00");
    assert_eq!(c.duration_secs, Some(42));
    assert_eq!(c.talk_duration_secs, Some(60));
    assert_eq!(c.hangup_by.as_deref(), Some("Callee"));
    assert_eq!(c.status.as_deref(), Some("completed"));
    assert_eq!(rfc(p.occurred_at), "2022-01-21T10:20:57+00:00");
    assert_eq!(
        p.dedup_key.as_deref(),
        Some("plivo:bb9fac1f-7b8f-11ec-8f2f-0b5b2d1a7a22:hangup:completed")
    );
    let rec = parse(Provider::Plivo, None, "plivo/record.form");
    assert_eq!(rec.event_type, "call.recording");
    assert_eq!(
        rec.dedup_key.as_deref(),
        Some("plivo:recording:c2186400-1b8a-11ec-9f49-2f4d6e8c1b7d")
    );
    assert!(call(&rec)
        .recording_url
        .as_deref()
        .unwrap()
        .ends_with(".mp3"));
}

#[test]
fn telnyx_call_control_events() {
    let p = parse(Provider::Telnyx, None, "telnyx/call_hangup.json");
    assert_eq!(p.event_type, "call.ended");
    assert_eq!(p.provider_event.as_deref(), Some("call.hangup"));
    let c = call(&p);
    assert_eq!(id_of(c), "428c31b6-abf3-3bc1-b7f4-5013ef9657c1");
    assert_eq!(c.from.as_deref(), Some("+35319605860"));
    assert_eq!(c.to.as_deref(), Some("+13129457420"));
    assert_eq!(rfc(c.started_at), "2018-02-02T22:20:27.521992+00:00");
    assert_eq!(rfc(c.ended_at), "2018-02-02T22:25:27.521992+00:00");
    assert_eq!(c.duration_secs, Some(300));
    assert_eq!(c.status.as_deref(), Some("normal_clearing"));
    assert_eq!(c.hangup_by.as_deref(), Some("caller"));
    assert_eq!(
        p.dedup_key.as_deref(),
        Some("telnyx:2f1d7c3a-9e6b-4f2e-a1c4-3b5d7e9f0a22")
    );
    let init = parse(Provider::Telnyx, None, "telnyx/call_initiated.json");
    assert_eq!(init.event_type, "call.started");
    assert_eq!(call(&init).direction.as_deref(), Some("inbound"));
    let answered = parse(Provider::Telnyx, None, "telnyx/call_answered.json");
    assert_eq!(
        rfc(call(&answered).answered_at),
        "2018-02-02T22:20:31.104020+00:00"
    );
    let rec = parse(Provider::Telnyx, None, "telnyx/call_recording_saved.json");
    assert_eq!(rec.event_type, "call.recording");
    assert!(call(&rec)
        .recording_url
        .as_deref()
        .unwrap()
        .contains(".mp3"));
    // One call, one id across its events.
    assert_eq!(call(&rec).id, c.id);
}

#[test]
fn vonage_voice_events() {
    let types: Vec<String> = [
        "call_started",
        "call_ringing",
        "call_answered",
        "call_completed",
    ]
    .iter()
    .map(|f| parse(Provider::Vonage, None, &format!("vonage/{f}.json")).event_type)
    .collect();
    assert_eq!(
        types,
        [
            "call.started",
            "call.ringing",
            "call.answered",
            "call.ended"
        ]
    );
    let p = parse(Provider::Vonage, None, "vonage/call_completed.json");
    let c = call(&p);
    assert_eq!(id_of(c), "aaaaaaaa-bbbb-cccc-dddd-0123456789ab");
    assert_eq!(c.direction.as_deref(), Some("outbound"));
    assert_eq!(c.from.as_deref(), Some("447700900000"));
    assert_eq!(c.duration_secs, Some(60));
    assert_eq!(rfc(c.started_at), "2020-01-01T12:00:05+00:00");
    assert_eq!(rfc(c.ended_at), "2020-01-01T12:01:05+00:00");
    assert_eq!(
        p.dedup_key.as_deref(),
        Some("vonage:aaaaaaaa-bbbb-cccc-dddd-0123456789ab:completed")
    );
    let rec = parse(Provider::Vonage, None, "vonage/recording.json");
    assert_eq!(rec.event_type, "call.recording");
    assert_eq!(
        call(&rec).id.as_deref(),
        Some("CON-aaaaaaaa-bbbb-cccc-dddd-0123456789ab")
    );
    assert_eq!(
        rec.dedup_key.as_deref(),
        Some("vonage:recording:cccccccc-bbbb-aaaa-dddd-0123456789ab")
    );
}

#[test]
fn aircall_call_events() {
    let created = parse(Provider::Aircall, None, "aircall/call_created.json");
    assert_eq!(created.event_type, "call.started");
    let p = parse(Provider::Aircall, None, "aircall/call_ended.json");
    assert_eq!(p.event_type, "call.ended");
    let c = call(&p);
    assert_eq!(id_of(c), "812");
    assert_eq!(c.direction.as_deref(), Some("inbound"));
    assert_eq!(c.from.as_deref(), Some("+1 800-123-4567"));
    assert_eq!(c.to.as_deref(), Some("+1 888-123-4567"));
    assert_eq!(c.agent.as_deref(), Some("madelaine.dupont@aircall.io"));
    assert_eq!(rfc(c.started_at), "2020-03-23T21:16:39+00:00");
    assert_eq!(rfc(c.answered_at), "2020-03-23T21:16:51+00:00");
    assert_eq!(rfc(c.ended_at), "2020-03-23T21:19:59+00:00");
    assert_eq!(c.duration_secs, Some(200));
    assert!(c.recording_url.is_some());
    assert_eq!(c.status.as_deref(), Some("done"));
    assert_eq!(
        p.dedup_key.as_deref(),
        Some("aircall:call.ended:812:1585001200")
    );
    assert_eq!(rfc(p.occurred_at), "2020-03-23T22:06:40+00:00");
}

#[test]
fn exotel_status_callback_and_passthru() {
    let p = parse(
        Provider::Exotel,
        Some("Asia/Kolkata"),
        "exotel/status_callback.form",
    );
    assert_eq!(p.event_type, "call.ended");
    assert_eq!(p.provider_event.as_deref(), Some("terminal"));
    let c = call(&p);
    assert_eq!(id_of(c), "b6cfaf5f5cef3ca0fc937749ef960e25");
    assert_eq!(c.direction.as_deref(), Some("outbound"));
    assert_eq!(rfc(c.started_at), "2024-05-06T04:45:04+00:00");
    assert_eq!(rfc(c.ended_at), "2024-05-06T04:47:30+00:00");
    assert_eq!(c.talk_duration_secs, Some(131));
    assert_eq!(c.status.as_deref(), Some("completed"));
    assert_eq!(rfc(p.occurred_at), "2024-05-06T04:47:31+00:00");
    assert_eq!(
        p.dedup_key.as_deref(),
        Some("exotel:b6cfaf5f5cef3ca0fc937749ef960e25:terminal")
    );
    let g = parse(
        Provider::Exotel,
        Some("Asia/Kolkata"),
        "exotel/passthru.query",
    );
    assert_eq!(g.event_type, "call.ended");
    let c = call(&g);
    assert_eq!(c.direction.as_deref(), Some("inbound"));
    assert_eq!(c.agent.as_deref(), Some("09123456780"));
    assert_eq!(c.talk_duration_secs, Some(95));
}

#[test]
fn unknown_events_are_namespaced_and_empty_bodies_untyped() {
    let form = |provider, body: &[u8]| {
        providers::parse(
            &parsing_source(provider, None, None),
            &Incoming {
                method: "POST",
                content_type: Some("application/json"),
                query: None,
                body,
            },
        )
    };
    assert_eq!(
        form(
            Provider::Telnyx,
            br#"{"data":{"event_type":"call.bridged","id":"e1"}}"#
        )
        .event_type,
        "telnyx.call_bridged"
    );
    assert_eq!(
        form(
            Provider::Aircall,
            br#"{"event":"call.tagged","data":{"id":1}}"#
        )
        .event_type,
        "aircall.call_tagged"
    );
    assert_eq!(
        form(Provider::Vonage, br#"{"status":"human","uuid":"u"}"#).event_type,
        "vonage.human"
    );
    // The telephony providers: every one from Twilio on.
    for p in Provider::ALL
        .into_iter()
        .skip_while(|p| *p != Provider::Twilio)
    {
        let parsed = form(p, b"{}");
        assert_eq!(parsed.event_type, "unknown", "{p:?}");
        assert!(parsed.dedup_key.is_none());
    }
}
