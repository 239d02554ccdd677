//! Every provider fixture (events/providers/, built from the provider documents) parses to
//! the expected envelope fields: types, call ids, directions, numbers, times with zones.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use serde_json::Value;
use switchboard_core::domain::source::{GenericMapping, Provider};
use switchboard_core::domain::Source;
use switchboard_core::providers::{self, Incoming, Parsed};

use crate::common::{call, fixture, id_of, parse_fixture, parsing_source as source, rfc};

fn mapping(path: &str) -> GenericMapping {
    serde_json::from_slice(&fixture(path)).unwrap()
}

/// Parses `body` posted as JSON (or, for a `.query` fixture, sent as a GET).
fn post(src: &Source, ct: &str, query: Option<&str>, body: &[u8]) -> Parsed {
    providers::parse(
        src,
        &Incoming {
            method: "POST",
            content_type: Some(ct),
            query,
            body,
        },
    )
}

fn json(src: &Source, query: Option<&str>, path: &str) -> Parsed {
    post(src, "application/json", query, &fixture(path))
}

fn form(src: &Source, path: &str) -> Parsed {
    post(
        src,
        "application/x-www-form-urlencoded",
        None,
        &fixture(path),
    )
}

fn get(src: &Source, path: &str) -> Parsed {
    assert!(path.ends_with(".query"), "{path} is not a query fixture");
    parse_fixture(src, path)
}

// ---------------------------------------------------------------------------------------
// The manifest: every fixture, its request shape and its type; the API Gateway events.

#[test]
fn every_manifest_fixture_parses_to_its_type() {
    let manifest: Value = serde_json::from_slice(&fixture("manifest.json")).unwrap();
    let entries = manifest["fixtures"].as_array().unwrap();
    assert!(entries.len() >= 26);
    for e in entries {
        let file = e["file"].as_str().unwrap();
        let provider: Provider = serde_json::from_value(e["provider"].clone()).unwrap();
        let src = source(
            provider,
            e["timezone"].as_str(),
            e["mapping"].as_str().map(mapping),
        );
        let bytes = fixture(file);
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let (query, body): (Option<String>, &[u8]) = if file.ends_with(".query") {
            (Some(text.trim().to_owned()), b"")
        } else {
            (e["query"].as_str().map(str::to_owned), &bytes)
        };
        let p = providers::parse(
            &src,
            &Incoming {
                method: e["method"].as_str().unwrap(),
                content_type: e["content_type"].as_str(),
                query: query.as_deref(),
                body,
            },
        );
        assert_eq!(p.event_type, e["type"].as_str().unwrap(), "{file}");
        let unparsed = e["raw_unparsed"].as_bool().unwrap_or(false);
        assert_eq!(p.unparsed, unparsed, "{file}");
        assert_eq!(p.data.is_none(), unparsed, "{file}");
        if !unparsed && p.event_type.starts_with("call.") {
            assert!(call(&p).id.is_some(), "{file}: call id");
            assert!(p.dedup_key.is_some(), "{file}: dedup key");
        }
    }
}

#[test]
fn apigw_events_carry_the_fixtures_unchanged() {
    let manifest: Value = serde_json::from_slice(&fixture("manifest.json")).unwrap();
    for e in manifest["fixtures"].as_array().unwrap() {
        let file = e["file"].as_str().unwrap();
        let name = file.replace('/', "-");
        let name = if name.ends_with(".json") {
            name
        } else {
            format!("{name}.json")
        };
        let ev: Value = serde_json::from_slice(&fixture(&format!("apigw/{name}")))
            .unwrap_or_else(|e| panic!("apigw/{name} ({e}); run events/providers/apigw.py"));
        let text = String::from_utf8(fixture(file).to_vec()).unwrap();
        let stale = format!("apigw/{name} is stale; run events/providers/apigw.py");
        if file.ends_with(".query") {
            assert_eq!(ev["rawQueryString"], text.trim(), "{stale}");
            assert!(ev.get("body").is_none(), "{stale}");
        } else {
            assert_eq!(ev["body"], text, "{stale}");
            assert_eq!(
                ev["rawQueryString"],
                e["query"].as_str().unwrap_or(""),
                "{stale}"
            );
        }
        assert_eq!(
            ev["requestContext"]["http"]["method"], e["method"],
            "{stale}"
        );
        assert_eq!(
            ev["headers"]["content-type"].as_str(),
            e["content_type"].as_str(),
            "{stale}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Hipcall, current format

#[test]
fn hipcall_call_init() {
    let p = json(
        &source(Provider::Hipcall, None, None),
        None,
        "hipcall/call_init.json",
    );
    assert_eq!(p.event_type, "call.started");
    assert_eq!(p.provider_event.as_deref(), Some("call_init"));
    let c = call(&p);
    assert_eq!(id_of(c), "2483a75a-56a2-41f1-991b-92b1667e324a");
    assert_eq!(c.direction.as_deref(), Some("outbound"));
    assert_eq!(c.from.as_deref(), Some("+902582440032"));
    assert_eq!(c.to.as_deref(), Some("+4440333"));
    assert_eq!(c.agent, None);
    assert_eq!(rfc(c.started_at), "2024-11-17T10:41:00+00:00");
    assert_eq!(c.ended_at, None);
    assert_eq!(c.status, None);
    assert_eq!(rfc(p.occurred_at), "2024-11-17T10:41:00+00:00");
    assert_eq!(
        p.dedup_key.as_deref(),
        Some("hipcall:2483a75a-56a2-41f1-991b-92b1667e324a:call_init")
    );
    assert_eq!(
        p.data.as_ref().unwrap().to_value()["data"]["number_id"],
        328
    );
}

#[test]
fn hipcall_call_hangup() {
    let p = json(
        &source(Provider::Hipcall, None, None),
        None,
        "hipcall/call_hangup.json",
    );
    assert_eq!(p.event_type, "call.ended");
    let c = call(&p);
    assert_eq!(id_of(c), "2483a75a-56a2-41f1-991b-92b1667e324a");
    assert_eq!(c.agent.as_deref(), Some("1121"));
    assert_eq!(c.duration_secs, Some(0));
    assert_eq!(c.hangup_by.as_deref(), Some("user"));
    assert_eq!(c.status.as_deref(), Some("completed"));
    assert_eq!(rfc(c.started_at), "2024-11-17T10:41:00+00:00");
    assert_eq!(rfc(c.ended_at), "2024-11-17T10:41:06+00:00");
    assert_eq!(p.occurred_at, c.ended_at);
    assert_eq!(
        p.dedup_key.as_deref(),
        Some("hipcall:2483a75a-56a2-41f1-991b-92b1667e324a:call_hangup")
    );
}

#[test]
fn hipcall_task_and_deal_use_their_record_ids() {
    let src = source(Provider::Hipcall, None, None);
    let task = json(&src, None, "hipcall/task_create.json");
    assert_eq!(task.event_type, "task.created");
    assert!(task.call.is_none());
    assert_eq!(task.occurred_at, None);
    assert_eq!(task.dedup_key.as_deref(), Some("hipcall:36714:task_create"));
    let deal = json(&src, None, "hipcall/deal_create.json");
    assert_eq!(deal.event_type, "deal.created");
    assert_eq!(deal.dedup_key.as_deref(), Some("hipcall:4082:deal_create"));
    assert_eq!(
        deal.data.as_ref().unwrap().to_value()["data"]["name"],
        "Yeni anlaşma"
    );
}

#[test]
fn hipcall_contact_and_company_events_and_unknown_names() {
    let src = source(Provider::Hipcall, None, None);
    for (event, ty) in [
        ("contact_create", "contact.created"),
        ("contact_update", "contact.updated"),
        ("company_create", "company.created"),
        ("company_update", "company.updated"),
        ("note_create", "hipcall.note_create"),
    ] {
        let body = format!(r#"{{"event":"{event}","data":{{"id":7}}}}"#);
        let p = post(&src, "application/json", None, body.as_bytes());
        assert_eq!(p.event_type, ty);
        assert_eq!(p.dedup_key, Some(format!("hipcall:7:{event}")));
    }
    // Valid JSON that is not Hipcall-shaped is kept as data, typed unknown (or by ?event=).
    let p = post(&src, "application/json", None, br#"{"hello":1}"#);
    assert_eq!((p.event_type.as_str(), p.unparsed), ("unknown", false));
    assert_eq!(p.dedup_key, None);
    let p = post(
        &src,
        "application/json",
        Some("event=call_hangup"),
        b"[1,2]",
    );
    assert_eq!(p.event_type, "call.ended");
}

// ---------------------------------------------------------------------------------------
// Hipcall, legacy format, detected per request on the same source

#[test]
fn hipcall_legacy_call_init() {
    let p = json(
        &source(Provider::Hipcall, None, None),
        None,
        "hipcall/legacy/call_init.json",
    );
    assert_eq!(p.event_type, "call.started");
    assert_eq!(p.provider_event.as_deref(), Some("call::init"));
    let c = call(&p);
    assert_eq!(id_of(c), "34c0308c-3f95-405d-ac45-af60d6876afd");
    // direction 0: inbound, so the contact called the account's number.
    assert_eq!(c.direction.as_deref(), Some("inbound"));
    assert_eq!(c.from.as_deref(), Some("905438856301"));
    assert_eq!(c.to.as_deref(), Some("+908508850000"));
    assert_eq!(c.agent, None, "user_id 0 is no user");
    assert_eq!(c.status.as_deref(), Some("init"));
    // Microsecond timestamps.
    assert_eq!(rfc(c.started_at), "2023-04-04T09:59:51+00:00");
    assert_eq!(rfc(p.occurred_at), "2023-04-04T09:59:51+00:00");
    assert_eq!(
        p.dedup_key.as_deref(),
        Some("hipcall:34c0308c-3f95-405d-ac45-af60d6876afd:call::init")
    );
}

#[test]
fn hipcall_legacy_call_hangup() {
    let p = json(
        &source(Provider::Hipcall, None, None),
        None,
        "hipcall/legacy/call_hangup.json",
    );
    assert_eq!(p.event_type, "call.ended");
    let c = call(&p);
    assert_eq!(c.direction.as_deref(), Some("inbound"));
    assert_eq!(c.from.as_deref(), Some("905438856300"));
    assert_eq!(rfc(c.started_at), "2023-04-04T09:59:51+00:00");
    assert_eq!(rfc(c.ended_at), "2023-04-04T09:59:59+00:00");
    assert_eq!(c.duration_secs, Some(8));
    assert_eq!(c.status.as_deref(), Some("hangup"));
    assert_eq!(p.occurred_at, c.ended_at);
}

#[test]
fn hipcall_legacy_numeric_direction_one_is_outbound() {
    let body = br#"{"event":"call::init","data":{"uuid":"u","direction":1,
        "contact_number":"905438856301","number":{"number":"+908508850000"},"user_id":3}}"#;
    let p = post(
        &source(Provider::Hipcall, None, None),
        "application/json",
        None,
        body,
    );
    let c = call(&p);
    assert_eq!(c.direction.as_deref(), Some("outbound"));
    assert_eq!(c.from.as_deref(), Some("+908508850000"));
    assert_eq!(c.to.as_deref(), Some("905438856301"));
    assert_eq!(c.agent.as_deref(), Some("3"));
    // Microseconds survive.
    let body = br#"{"event":"call::hangup","data":{"uuid":"u","direction":"1",
        "startstamp":"2023-04-04T09:59:51.123456Z","timestamp":"2023-04-04T09:59:59.654321Z"}}"#;
    let p = post(
        &source(Provider::Hipcall, None, None),
        "application/json",
        None,
        body,
    );
    let micros = |t: Option<switchboard_core::domain::time::Timestamp>| {
        t.unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    };
    assert_eq!(micros(call(&p).started_at), "2023-04-04T09:59:51.123456Z");
    assert_eq!(micros(call(&p).ended_at), "2023-04-04T09:59:59.654321Z");
    assert_eq!(call(&p).duration_secs, Some(8));
    assert_eq!(
        call(&p).direction.as_deref(),
        Some("outbound"),
        "\"1\" as a string too"
    );
    // An undocumented value leaves direction (and so from/to) unset, never guessed.
    let body = br#"{"event":"call::init","data":{"uuid":"u","direction":7,"contact_number":"1"}}"#;
    let p = post(
        &source(Provider::Hipcall, None, None),
        "application/json",
        None,
        body,
    );
    assert_eq!(
        (call(&p).direction.as_deref(), call(&p).from.as_deref()),
        (None, None)
    );
}

#[test]
fn hipcall_legacy_records() {
    let src = source(Provider::Hipcall, None, None);
    let created = json(&src, None, "hipcall/legacy/contact_create.json");
    assert_eq!(created.event_type, "contact.created");
    assert_eq!(
        created.provider_event.as_deref(),
        Some("contact_center::contact_create")
    );
    assert!(created.call.is_none());
    assert_eq!(rfc(created.occurred_at), "2023-04-04T10:03:13+00:00");
    let updated = json(&src, None, "hipcall/legacy/contact_update.json");
    assert_eq!(updated.event_type, "contact.updated");
    assert_eq!(rfc(updated.occurred_at), "2023-04-04T10:05:41+00:00");
    assert_eq!(
        updated.dedup_key.as_deref(),
        Some("hipcall:18582:contact_center::contact_update:2023-04-04T10:05:41.000000Z")
    );
    let company = json(&src, None, "hipcall/legacy/company_create.json");
    assert_eq!(company.event_type, "company.created");
    let company = json(&src, None, "hipcall/legacy/company_update.json");
    assert_eq!(company.event_type, "company.updated");
    assert_eq!(rfc(company.occurred_at), "2023-04-04T10:07:54+00:00");
    let task = json(&src, None, "hipcall/legacy/task_create.json");
    assert_eq!(task.event_type, "task.created");
    assert_eq!(task.provider_event.as_deref(), Some("task::create"));
    assert_eq!(rfc(task.occurred_at), "2023-04-04T10:01:30+00:00");
}

#[test]
fn hipcall_two_edits_of_one_contact_are_two_events_but_a_resend_is_one() {
    let src = source(Provider::Hipcall, None, None);
    let first = json(&src, None, "hipcall/legacy/contact_update.json");
    let again = json(&src, None, "hipcall/legacy/contact_update.json");
    assert_eq!(first.dedup_key, again.dedup_key);
    let mut later: Value =
        serde_json::from_slice(&fixture("hipcall/legacy/contact_update.json")).unwrap();
    later["data"]["updated_at"] = "2023-04-04T11:00:00.000000Z".into();
    let later = post(&src, "application/json", None, later.to_string().as_bytes());
    assert_ne!(first.dedup_key, later.dedup_key);
}

// ---------------------------------------------------------------------------------------
// VoIPappz

fn voipappz(tz: Option<&str>) -> Source {
    source(Provider::Voipappz, tz, None)
}

#[test]
fn voipappz_reporting_fills_the_call_block() {
    let p = json(
        &voipappz(None),
        Some("event=Call:Reporting"),
        "voipappz/call_reporting.json",
    );
    assert_eq!(p.event_type, "call.report");
    assert_eq!(p.provider_event.as_deref(), Some("Call:Reporting"));
    let c = call(&p);
    assert_eq!(id_of(c), "bfd7e62a-5a55-4286-9453-b4b4cfc5cca8");
    assert_eq!(c.direction.as_deref(), Some("outbound"));
    // Outgoing: from the DID (no caller id given), to the destination.
    assert_eq!(c.from.as_deref(), Some("972722791142"));
    assert_eq!(c.to.as_deref(), Some("039000000"));
    assert_eq!(c.agent, None, "user_name is empty");
    assert_eq!(
        c.started_at
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "2024-12-02T21:04:40.701Z"
    );
    // answer_at is a zone-less time of day: UTC unless the source names a zone.
    assert_eq!(rfc(c.answered_at), "2024-12-02T23:34:00+00:00");
    assert_eq!(c.duration_secs, Some(60));
    assert_eq!(c.ring_duration_secs, Some(30));
    assert_eq!(
        c.talk_duration_secs,
        Some(341),
        "from billing_duration_time"
    );
    assert_eq!(c.status.as_deref(), Some("answer"));
    assert_eq!(
        c.recording_url.as_deref(),
        Some("https://cloud.voipappz.io/recordings/bfd7e62a-5a55-4286-9453-b4b4cfc5cca8")
    );
    assert_eq!(
        p.dedup_key.as_deref(),
        Some("voipappz:bfd7e62a-5a55-4286-9453-b4b4cfc5cca8:call.report")
    );
}

#[test]
fn voipappz_answer_time_in_the_source_zone() {
    // The sample's created_at 21:04:40Z is 23:04:40 in Israel, where its start_at says the
    // call started; its answer_at 23:34:00 is then 21:34:00Z.
    let p = json(
        &voipappz(Some("Asia/Jerusalem")),
        Some("event=Call:Answer"),
        "voipappz/call_answer.json",
    );
    assert_eq!(p.event_type, "call.answered");
    let c = call(&p);
    assert_eq!(rfc(c.answered_at), "2024-12-02T21:34:00+00:00");
    assert_eq!(p.occurred_at, c.answered_at);
}

#[test]
fn voipappz_every_event_by_url() {
    let src = voipappz(None);
    let mut keys = std::collections::HashSet::new();
    for (file, event, ty) in [
        ("call_ringing", "Call:Ringing", "call.ringing"),
        ("call_answer", "Call:Answer", "call.answered"),
        ("call_hangup", "Call:Hangup", "call.ended"),
        ("call_reporting", "Call:Reporting", "call.report"),
        ("ivr_start", "Ivr:Start", "ivr.started"),
        ("ivr_end", "Ivr:End", "ivr.ended"),
    ] {
        let q = format!("event={event}");
        let p = json(&src, Some(&q), &format!("voipappz/{file}.json"));
        assert_eq!(p.event_type, ty, "{file}");
        assert_eq!(p.provider_event.as_deref(), Some(event));
        assert!(
            keys.insert(p.dedup_key.clone().unwrap()),
            "{file}: distinct key"
        );
    }
    let ivr = json(&src, Some("event=Ivr:Start"), "voipappz/ivr_start.json");
    let c = call(&ivr);
    assert_eq!(c.direction.as_deref(), Some("inbound"));
    assert_eq!(c.from.as_deref(), Some("972501234567"));
    assert_eq!(c.to.as_deref(), Some("972722791142"));
    assert_eq!(rfc(ivr.occurred_at), "2024-12-02T21:04:40.701+00:00");
    assert_eq!(
        ivr.dedup_key.as_deref(),
        Some("voipappz:bfd7e62a-5a55-4286-9453-b4b4cfc5cca8:ivr.started:MainMenu")
    );
}

#[test]
fn voipappz_get_query_string() {
    let p = get(&voipappz(None), "voipappz/call_hangup_get.query");
    assert_eq!(p.event_type, "call.ended");
    assert!(!p.unparsed);
    let c = call(&p);
    assert_eq!(id_of(c), "bfd7e62a-5a55-4286-9453-b4b4cfc5cca8");
    assert_eq!(c.duration_secs, Some(60), "numbers arrive as strings");
    assert_eq!(c.to.as_deref(), Some("039000000"), "leading zero kept");
    assert_eq!(p.data.as_ref().unwrap().to_value()["queue_name"], "Que1");
    // Same event, same key, whichever way it came.
    let posted = json(
        &voipappz(None),
        Some("event=Call:Hangup"),
        "voipappz/call_hangup.json",
    );
    assert_eq!(p.dedup_key, posted.dedup_key);
}

#[test]
fn voipappz_event_named_in_the_body() {
    let body = br#"{"event":"Call:Ringing","uuid":"u-1","direction":"incoming",
        "contact_number":"972501234567","did_number":"972722791142"}"#;
    let p = post(&voipappz(None), "application/json", None, body);
    assert_eq!(p.event_type, "call.ringing");
    let c = call(&p);
    assert_eq!(c.direction.as_deref(), Some("inbound"));
    assert_eq!(c.from.as_deref(), Some("972501234567"));
    // A body that names no event and a URL that names none: unknown, data kept.
    let p = post(
        &voipappz(None),
        "application/json",
        None,
        br#"{"uuid":"u-1"}"#,
    );
    assert_eq!((p.event_type.as_str(), p.unparsed), ("unknown", false));
    assert_eq!(p.dedup_key, None);
}

#[test]
fn voipappz_invalid_template_body_is_kept_raw_and_typed_from_the_url() {
    let body = fixture("voipappz/template_sample.txt");
    assert!(
        serde_json::from_slice::<Value>(&body).is_err(),
        "the sample is invalid JSON"
    );
    for (event, ty) in [
        ("Call:Ringing", "call.ringing"),
        ("Call:Answer", "call.answered"),
        ("Call:Hangup", "call.ended"),
        ("Call:Reporting", "call.report"),
        ("Ivr:Start", "ivr.started"),
        ("Ivr:End", "ivr.ended"),
    ] {
        let q = format!("event={event}");
        let p = post(&voipappz(None), "application/json", Some(&q), &body);
        assert_eq!(p.event_type, ty);
        assert_eq!(p.provider_event.as_deref(), Some(event));
        assert!(p.unparsed);
        assert_eq!((p.data, p.call, p.dedup_key), (None, None, None));
    }
    let p = post(&voipappz(None), "application/json", None, &body);
    assert_eq!((p.event_type.as_str(), p.unparsed), ("unknown", true));
}

// ---------------------------------------------------------------------------------------
// CallerDesk

fn callerdesk(tz: Option<&str>) -> Source {
    source(Provider::Callerdesk, tz, None)
}

#[test]
fn callerdesk_call_report_in_the_source_zone() {
    let p = json(
        &callerdesk(Some("Asia/Kolkata")),
        None,
        "callerdesk/call_report.json",
    );
    assert_eq!(p.event_type, "call.report");
    assert_eq!(p.provider_event.as_deref(), Some("Call Report"));
    let c = call(&p);
    assert_eq!(id_of(c), "1672649960.960xxxx");
    assert_eq!(c.direction.as_deref(), Some("inbound"), "Direction IVR");
    assert_eq!(c.from.as_deref(), Some("99xxxxx"));
    assert_eq!(c.to.as_deref(), Some("0120xxxx"));
    assert_eq!(c.agent.as_deref(), Some("Ashish"));
    assert_eq!(c.status.as_deref(), Some("ANSWER"));
    // 2023-01-02 14:32:36 in Kolkata (UTC+05:30).
    assert_eq!(rfc(c.started_at), "2023-01-02T09:02:36+00:00");
    assert_eq!(rfc(c.answered_at), "2023-01-02T09:02:54+00:00");
    assert_eq!(rfc(c.ended_at), "2023-01-02T09:03:34+00:00");
    assert_eq!(p.occurred_at, c.ended_at);
    assert_eq!(c.duration_secs, Some(18));
    assert_eq!(c.talk_duration_secs, Some(40));
    assert_eq!(c.ring_duration_secs, Some(9), "LegB start to pick-up");
    assert_eq!(
        c.recording_url.as_deref(),
        Some("https://example.com/recordings/1672649960.960xxxx.mp3")
    );
    assert_eq!(
        p.dedup_key.as_deref(),
        Some("callerdesk:1672649960.960xxxx:report:ANSWER")
    );
}

#[test]
fn callerdesk_default_zone_is_utc() {
    let p = json(&callerdesk(None), None, "callerdesk/call_report.json");
    assert_eq!(rfc(call(&p).started_at), "2023-01-02T14:32:36+00:00");
}

#[test]
fn callerdesk_form_and_json_reports_agree() {
    let src = callerdesk(Some("Asia/Kolkata"));
    let from_json = json(&src, None, "callerdesk/call_report.json");
    let from_form = form(&src, "callerdesk/call_report.form");
    assert_eq!(from_form.event_type, "call.report");
    assert_eq!(
        from_form.call, from_json.call,
        "double-spaced StartTime too"
    );
    assert_eq!(from_form.dedup_key, from_json.dedup_key);
}

#[test]
fn callerdesk_outbound_report_by_get() {
    let p = get(
        &callerdesk(Some("Asia/Kolkata")),
        "callerdesk/call_report_outbound.query",
    );
    assert_eq!(p.event_type, "call.report");
    let c = call(&p);
    assert_eq!(id_of(c), "1586420216.7173x");
    assert_eq!(c.direction.as_deref(), Some("outbound"), "WEBOBD");
    assert_eq!(c.status.as_deref(), Some("NOANSWER"));
    assert_eq!(c.answered_at, None);
    assert_eq!(c.recording_url, None, "empty values are absent");
    assert_eq!(
        c.agent.as_deref(),
        Some("928xxxxx"),
        "no receiver_name: the dialled agent"
    );
    assert_eq!(p.data.as_ref().unwrap().to_value()["campid"], "11387004");
}

#[test]
fn callerdesk_live_calls_by_status() {
    let src = callerdesk(Some("Asia/Kolkata"));
    let answered = json(&src, None, "callerdesk/live_call_answered.json");
    assert_eq!(answered.event_type, "call.answered");
    assert_eq!(answered.provider_event.as_deref(), Some("Live Call"));
    assert_eq!(rfc(call(&answered).started_at), "2023-01-02T09:02:36+00:00");
    assert_eq!(call(&answered).ended_at, None);
    let ringing = form(&src, "callerdesk/live_call_ringing.form");
    assert_eq!(ringing.event_type, "call.ringing");
    assert_eq!(rfc(ringing.occurred_at), "2023-01-02T09:02:36+00:00");
    let busy = post(
        &src,
        "application/x-www-form-urlencoded",
        None,
        b"CallSid=1.2&Status=BUSY&SourceNumber=99",
    );
    assert_eq!(busy.event_type, "call.ended");
    // One call: live ringing, live answered and the report are three events.
    let report = json(&src, None, "callerdesk/call_report.json");
    let keys = [&ringing, &answered, &report].map(|p| p.dedup_key.clone().unwrap());
    assert_eq!(keys[1], "callerdesk:1672649960.960xxxx:live:ANSWER");
    assert_eq!(keys[0], "callerdesk:1672649960.960xxxx:live:RINGING");
    assert!(keys[0] != keys[1] && keys[1] != keys[2]);
}

#[test]
fn callerdesk_kind_from_the_url() {
    let src = callerdesk(None);
    let body = fixture("callerdesk/call_report.json");
    let p = post(&src, "application/json", Some("event=Live%20Call"), &body);
    assert_eq!(p.event_type, "call.answered");
    // Unparseable: typed by the kind the URL names.
    let p = post(
        &src,
        "application/json",
        Some("event=Call%20Report"),
        b"{oops",
    );
    assert_eq!((p.event_type.as_str(), p.unparsed), ("call.report", true));
    // Parsed but not CallerDesk-shaped: unknown, data kept.
    let p = post(&src, "application/json", None, br#"{"foo":"bar"}"#);
    assert_eq!(
        (p.event_type.as_str(), p.unparsed, p.call),
        ("unknown", false, None)
    );
}

// ---------------------------------------------------------------------------------------
// Generic: other real providers configured by mapping only

#[test]
fn generic_twilio_status_callback() {
    let src = source(
        Provider::Generic,
        None,
        Some(mapping("generic/twilio.mapping.json")),
    );
    let p = form(&src, "generic/twilio_call_completed.form");
    assert_eq!(p.event_type, "call.ended");
    assert_eq!(p.provider_event.as_deref(), Some("completed"));
    assert_eq!(rfc(p.occurred_at), "2010-08-10T03:50:06+00:00");
    let c = call(&p);
    assert_eq!(id_of(c), "CA0123456789abcdef0123456789abcdef");
    assert_eq!(c.direction.as_deref(), Some("outbound"), "outbound-api");
    assert_eq!(c.from.as_deref(), Some("+14155550199"));
    assert_eq!(c.to.as_deref(), Some("+14155550100"));
    assert_eq!(c.duration_secs, Some(42));
    assert_eq!(c.status.as_deref(), Some("completed"));
    assert!(c
        .recording_url
        .as_deref()
        .unwrap()
        .ends_with("/Recordings/RE0123456789abcdef0123456789abcdef"));
    assert_eq!(
        p.dedup_key.as_deref(),
        Some("generic:CA0123456789abcdef0123456789abcdef:completed")
    );
    // Its ringing callback is another event of the same call.
    let ringing = post(
        &src,
        "application/x-www-form-urlencoded",
        None,
        b"CallSid=CA0123456789abcdef0123456789abcdef&CallStatus=ringing",
    );
    assert_eq!(ringing.event_type, "call.ringing");
    assert_ne!(ringing.dedup_key, p.dedup_key);
}

#[test]
fn generic_exotel_status_callback_with_zone_less_times() {
    let src = source(
        Provider::Generic,
        Some("Asia/Kolkata"),
        Some(mapping("generic/exotel.mapping.json")),
    );
    let p = form(&src, "generic/exotel_status_callback.form");
    assert_eq!(p.event_type, "call.ended");
    assert_eq!(p.provider_event.as_deref(), Some("terminal"));
    assert_eq!(rfc(p.occurred_at), "2024-05-06T04:47:31+00:00");
    let c = call(&p);
    assert_eq!(id_of(c), "b6cfaf5f5cef3ca0fc937749ef960e25");
    assert_eq!(c.direction.as_deref(), Some("outbound"));
    assert_eq!(rfc(c.started_at), "2024-05-06T04:45:04+00:00");
    assert_eq!(rfc(c.ended_at), "2024-05-06T04:47:30+00:00");
    assert_eq!(c.talk_duration_secs, Some(131));
    assert_eq!(
        p.dedup_key.as_deref(),
        Some("generic:b6cfaf5f5cef3ca0fc937749ef960e25:terminal")
    );
    assert_eq!(
        p.data.as_ref().unwrap().to_value()["Legs[1][OnCallDuration]"],
        "131"
    );
}

#[test]
fn generic_constant_type_and_defaults() {
    let constant: GenericMapping = serde_json::from_str(
        r#"{"event":{"value":"call.report"},"call_id":"call.id",
            "occurred_at":{"field":"ts","format":"unix_ms"},
            "call":{"started_at":{"field":"call.start","format":"%d/%m/%Y %H:%M"}}}"#,
    )
    .unwrap();
    let src = source(Provider::Generic, Some("Europe/Istanbul"), Some(constant));
    let p = post(
        &src,
        "application/json",
        None,
        br#"{"ts":1731840066123,"call":{"id":"c-9","start":"17/11/2024 13:41"}}"#,
    );
    assert_eq!(p.event_type, "call.report");
    assert_eq!(p.provider_event, None);
    assert_eq!(
        p.occurred_at
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "2024-11-17T10:41:06.123Z"
    );
    assert_eq!(
        rfc(call(&p).started_at),
        "2024-11-17T10:41:00+00:00",
        "Istanbul is UTC+3"
    );
    assert_eq!(p.dedup_key.as_deref(), Some("generic:c-9:call.report"));

    // No mapping: the `event` (or `type`) field, else ?event=, else unknown; no dedup key.
    let bare = source(Provider::Generic, None, None);
    let p = post(
        &bare,
        "application/json",
        None,
        br#"{"type":"contact.created"}"#,
    );
    assert_eq!(p.event_type, "contact.created");
    let p = post(
        &bare,
        "application/json",
        None,
        br#"{"event":"Some Thing"}"#,
    );
    assert_eq!(p.event_type, "unknown");
    assert_eq!(p.provider_event.as_deref(), Some("Some Thing"));
    let p = get(&bare, "voipappz/call_hangup_get.query");
    assert_eq!(
        p.event_type, "unknown",
        "Call:Hangup means nothing to a bare generic source"
    );
    assert_eq!(p.dedup_key, None);
}

#[test]
fn undecodable_bodies_are_kept_raw() {
    for provider in [
        Provider::Hipcall,
        Provider::Voipappz,
        Provider::Callerdesk,
        Provider::Generic,
    ] {
        let src = source(provider, None, None);
        for (ct, body) in [
            ("application/json", &b"{\"a\": 01}"[..]),
            ("application/x-www-form-urlencoded", &b"a=\xff\xfe"[..]),
            ("multipart/form-data; boundary=x", &b"--x\r\n"[..]),
            ("text/plain", &b"just words"[..]),
        ] {
            let p = post(&src, ct, Some("event=call.ended"), body);
            assert!(p.unparsed, "{provider:?} {ct}");
            assert_eq!(
                p.event_type, "call.ended",
                "a canonical ?event= is taken as is"
            );
            assert_eq!((p.data, p.call, p.dedup_key), (None, None, None));
        }
    }
}
