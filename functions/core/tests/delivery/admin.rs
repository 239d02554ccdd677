//! Admin routes owned by the delivery engine: subscription validation (templates, filters,
//! SSRF), rotate-secret, replay; and template deliveries end to end (JSON, form, GET query).

use crate::common::*;
use crate::sink::{Reply, Sink};
use bytes::Bytes;
use serde_json::{json, Value};
use switchboard_core::api::{AdminAuth, App, Surface};
use switchboard_core::delivery::signing;
use switchboard_core::domain::attempt::AttemptStatus;
use switchboard_core::domain::{QueueMessage, Trigger};
use switchboard_core::redact::Secret;

fn app(h: &Harness, allow: &[&str]) -> App {
    let mut settings = settings();
    settings.allow_private_targets = allow.iter().map(|s| s.to_string()).collect();
    App {
        ports: h.ports.clone(),
        settings,
        admin_auth: AdminAuth::Bearer(Secret::new("t0ken")),
        surface: Surface::All,
    }
}

async fn call(app: &App, method: &str, path: &str, body: Value) -> (u16, Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", "Bearer t0ken")
        .header("content-type", "application/json")
        .body(Bytes::from(body.to_string()))
        .unwrap();
    let resp = app.handle(req).await;
    let status = resp.status().as_u16();
    let v = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
    (status, v)
}

async fn create(app: &App, body: Value) -> (u16, Value) {
    call(app, "POST", "/admin/subscriptions", body).await
}

#[tokio::test]
async fn template_errors_are_rejected_at_create_with_a_clear_message() {
    let h = Harness::new();
    let app = app(&h, &["loopback"]);
    let base =
        json!({"url": "http://127.0.0.1:9/x", "event_types": ["call.*"], "format": "template"});
    let with = |extra: Value| {
        let mut b = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let cases = [
        (with(json!({})), "needs a template"),
        (
            with(json!({"template": "{\"a\": \"{{ call.id \"}"})),
            "syntax error",
        ),
        (
            with(json!({"template": "{\"a\": \"{{ call.id|shout }}\"}"})),
            "unknown filter",
        ),
        (
            with(json!({"template": "{\"a\": \"{{ call.id ~ call.id }}\"}"})),
            "~ operator",
        ),
        (with(json!({"template": "{% include 'x' %}"})), "template"),
        (
            with(
                json!({"template": "{\"direction\":\"{{ call.direction }}\", // Direction Of Call\n\"uuid\": \"{{ call.id }}\"}"}),
            ),
            "not valid JSON",
        ),
    ];
    for (body, needle) in cases {
        let (status, v) = create(&app, body.clone()).await;
        assert_eq!(status, 400, "{body}: {v}");
        let code = v["error"]["code"].as_str().unwrap();
        assert_eq!(code, "invalid_template", "{v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{msg:?} should mention {needle:?}");
    }
    // A syntax error names its line
    let (_, v) = create(
        &app,
        with(json!({"template": "{\n\"a\": 1,\n\"b\": \"{% if %}\"\n}"})),
    )
    .await;
    assert!(
        v["error"]["message"].as_str().unwrap().contains("line 3"),
        "{v}"
    );
    // Form bodies need not be JSON
    let (status, v) = create(
        &app,
        with(json!({"template": "a={{ call.id|urlencode }}", "content_type": "application/x-www-form-urlencoded"})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
}

#[tokio::test]
async fn other_validation() {
    let h = Harness::new();
    let app = app(&h, &["loopback"]);
    let cases = [
        (
            json!({"url": "http://127.0.0.1:9/", "event_types": ["call*"]}),
            "invalid_event_types",
        ),
        (
            json!({"url": "http://127.0.0.1:9/", "event_types": ["*"], "filter": {"call.id": {"like": 1}}}),
            "invalid_filter",
        ),
        (
            json!({"url": "http://127.0.0.1:9/", "event_types": ["*"], "headers": {"webhook-signature": "x"}}),
            "invalid_headers",
        ),
        (
            json!({"url": "http://127.0.0.1:9/", "event_types": ["*"], "headers": {"bad header": "x"}}),
            "invalid_headers",
        ),
        (
            json!({"url": "http://127.0.0.1:9/", "event_types": ["*"], "method": "GET"}),
            "invalid_format",
        ),
        (
            json!({"url": "http://127.0.0.1:9/", "event_types": ["*"], "content_type": "text/plain"}),
            "invalid_content_type",
        ),
        (
            json!({"url": "ftp://127.0.0.1:9/", "event_types": ["*"]}),
            "invalid_url",
        ),
    ];
    for (body, code) in cases {
        let (status, v) = create(&app, body.clone()).await;
        assert_eq!(
            (status, v["error"]["code"].as_str().unwrap()),
            (400, code),
            "{body}: {v}"
        );
    }
}

#[tokio::test]
async fn private_targets_are_refused_at_create_unless_allowed() {
    let h = Harness::new();
    let strict = app(&h, &[]);
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/hook",
        "http://[::1]:8080/",
        "http://[::ffff:192.168.0.1]/",
        "http://2130706433/",
        "http://localhost:8080/hook",
    ] {
        let (status, v) = create(&strict, json!({"url": url, "event_types": ["*"]})).await;
        assert_eq!(status, 400, "{url}: {v}");
        assert_eq!(v["error"]["code"], "target_not_allowed", "{url}");
    }
    let serve_like = app(&h, &["loopback"]);
    let (status, v) = create(
        &serve_like,
        json!({"url": "http://localhost:8080/hook", "event_types": ["*"]}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    // Changing the URL of an existing subscription is checked too
    let id = v["id"].as_str().unwrap();
    let (status, v) = call(
        &serve_like,
        "PATCH",
        &format!("/admin/subscriptions/{id}"),
        json!({"url": "http://10.1.1.1/"}),
    )
    .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (400, Some("target_not_allowed"))
    );
}

#[tokio::test]
async fn templates_deliver_json_form_and_get_query() {
    let sink = Sink::ok().await;
    let h = Harness::new();
    let app = app(&h, &["loopback"]);
    let json_tpl = "{\"uuid\": \"{{ call.id }}\", \"direction\": {{ call.direction|tojson }}, \"queue\": \"{{ data.data.queue_name }}\", \"rec\": \"{{ call.recording_url }}\", \"duration\": {{ call.duration_secs|default(0) }}}";
    let (s1, v1) = create(&app, json!({"url": sink.url("/json"), "event_types": ["call.*"], "format": "template", "template": json_tpl})).await;
    assert_eq!(s1, 201, "{v1}");
    let (s2, v2) = create(&app, json!({"url": sink.url("/form"), "method": "PUT", "event_types": ["call.*"], "format": "template",
        "template": "uuid={{ call.id|urlencode }}&from={{ call.from|urlencode }}", "content_type": "application/x-www-form-urlencoded"})).await;
    assert_eq!(s2, 201, "{v2}");
    let (s3, v3) = create(&app, json!({"url": sink.url("/get?static=1"), "method": "GET", "event_types": ["call.*"], "format": "template",
        "template": "uuid={{ call.id|urlencode }}\n&event={{ type|urlencode }}"})).await;
    assert_eq!(s3, 201, "{v3}");
    let (s4, v4) = create(&app, json!({"url": sink.url("/raw-get"), "method": "GET", "event_types": ["call.*"], "format": "raw"})).await;
    assert_eq!(s4, 201, "{v4}");
    let (s5, v5) = create(
        &app,
        json!({"url": sink.url("/raw"), "event_types": ["call.*"], "format": "raw"}),
    )
    .await;
    assert_eq!(s5, 201, "{v5}");

    let ev = event("call.ended");
    assert!(h.publish(&ev).await.is_empty());
    let reqs = sink.received();
    let by = |p: &str| reqs.iter().find(|r| r.path() == p).unwrap().clone();
    let call_id = ev.envelope.call_id().unwrap();

    let r = by("/json");
    assert_eq!(r.method, "POST");
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        body,
        json!({"uuid": call_id, "direction": "inbound", "queue": "Que1", "rec": "", "duration": 417})
    );
    let secret = v1["secret"].as_str().unwrap();
    assert!(signing::verify(
        secret,
        r.header("webhook-id").unwrap(),
        r.header("webhook-timestamp").unwrap().parse().unwrap(),
        &r.body,
        r.header("webhook-signature").unwrap()
    ));

    let r = by("/form");
    assert_eq!(r.method, "PUT");
    assert_eq!(
        r.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(r.body_str(), format!("uuid={call_id}&from=%2B905551112233"));

    let r = by("/get");
    assert_eq!(r.method, "GET");
    assert!(r.body.is_empty());
    assert_eq!(
        r.query(),
        Some(format!("static=1&uuid={call_id}&event=call.ended").as_str())
    );

    let r = by("/raw-get");
    assert_eq!(r.query(), Some("event=call_hangup&x=1"));
    let r = by("/raw");
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(r.body, ev.raw.body.to_vec());
}

#[tokio::test]
async fn rotated_secret_signs_with_both_for_a_day() {
    let sink = Sink::ok().await;
    let h = Harness::new();
    let app = app(&h, &["loopback"]);
    let (_, v) = create(&app, json!({"url": sink.url("/r"), "event_types": ["*"]})).await;
    let id = v["id"].as_str().unwrap().to_owned();
    let old = v["secret"].as_str().unwrap().to_owned();
    let (status, rotated) = call(
        &app,
        "POST",
        &format!("/admin/subscriptions/{id}/rotate-secret"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(old, new);
    assert!(new.starts_with("whsec_"));
    let expires: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(rotated["previous_secret_expires_at"].clone()).unwrap();
    let hours = (expires - chrono::Utc::now()).num_minutes() as f64 / 60.0;
    assert!((23.9..=24.0).contains(&hours), "{hours}");
    // Shown once: GET hides both
    let (_, shown) = call(
        &app,
        "GET",
        &format!("/admin/subscriptions/{id}"),
        json!({}),
    )
    .await;
    assert!(!shown.to_string().contains(&new) && !shown.to_string().contains(&old));

    h.publish(&event("call.ended")).await;
    let r = &sink.received()[0];
    let sig = r.header("webhook-signature").unwrap();
    assert_eq!(sig.split(' ').count(), 2);
    let (mid, ts) = (
        r.header("webhook-id").unwrap(),
        r.header("webhook-timestamp").unwrap().parse().unwrap(),
    );
    assert!(signing::verify(&new, mid, ts, &r.body, sig));
    assert!(signing::verify(&old, mid, ts, &r.body, sig));

    // After the day, only the new secret signs
    let mut sub = h.sub(&id).await;
    sub.previous_secret.as_mut().unwrap().expires_at =
        chrono::Utc::now() - chrono::Duration::seconds(1);
    h.ports.subscriptions.update(&sub).await.unwrap();
    h.publish(&event("call.ended")).await;
    let r = &sink.received()[1];
    let sig = r.header("webhook-signature").unwrap();
    assert_eq!(sig.split(' ').count(), 1);
    let (mid, ts) = (
        r.header("webhook-id").unwrap(),
        r.header("webhook-timestamp").unwrap().parse().unwrap(),
    );
    assert!(signing::verify(&new, mid, ts, &r.body, sig));
    assert!(!signing::verify(&old, mid, ts, &r.body, sig));
    let (status, _) = call(
        &app,
        "POST",
        "/admin/subscriptions/sub_nope/rotate-secret",
        json!({}),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn replay_one_delivery_one_event_and_in_bulk() {
    let sink = Sink::replying(|r, _| {
        if r.path() == "/bad" {
            Reply::Status(500)
        } else {
            Reply::Status(200)
        }
    })
    .await;
    let h = Harness::new();
    let app = app(&h, &["loopback"]);
    let mut good = subscription(&sink.url("/good"), &["call.*"]);
    good.retry_schedule_secs = Some(vec![]);
    let mut bad = subscription(&sink.url("/bad"), &["call.*"]);
    bad.retry_schedule_secs = Some(vec![]);
    h.add(&good).await;
    h.add(&bad).await;
    let events: Vec<_> = (0..5).map(|_| event("call.ended")).collect();
    let since = chrono::Utc::now() - chrono::Duration::seconds(1);
    for e in &events {
        h.publish(e).await;
    }
    h.queue.take();

    // One delivery: a manual attempt 2 of a succeeded pair is sent again
    let (status, v) = call(
        &app,
        "POST",
        "/admin/replay",
        json!({"event_id": events[0].envelope.id, "subscription_id": good.id}),
    )
    .await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["queued"], 1);
    let sent = h.queue.take();
    assert_eq!(sent.len(), 1);
    match &sent[0].0 {
        QueueMessage::Deliver {
            attempt,
            trigger,
            not_before,
            ..
        } => {
            assert_eq!(
                (*attempt, *trigger, *not_before),
                (2, Trigger::Manual, None)
            );
        }
        other => panic!("{other:?}"),
    }
    h.dispatch(vec![sent[0].0.clone()]).await;
    h.dispatch(vec![sent[0].0.clone()]).await; // a duplicate replay message is skipped
    assert_eq!(sink.count_at("/good"), 6);
    let a = h.attempts(&events[0].envelope.id).await;
    let replayed = a
        .iter()
        .find(|a| a.subscription_id == good.id && a.attempt == 2)
        .unwrap();
    assert_eq!(
        (replayed.trigger, replayed.status),
        (Trigger::Manual, AttemptStatus::Succeeded)
    );

    // One event: to every matching subscription
    let (status, v) = call(
        &app,
        "POST",
        "/admin/replay",
        json!({"event_id": events[1].envelope.id}),
    )
    .await;
    assert_eq!((status, v["queued"].as_u64()), (202, Some(2)), "{v}");
    h.queue.take();

    // Bulk: every exhausted delivery of `bad` since a time, two per page
    let mut cursor = Value::Null;
    let mut queued = 0;
    let mut pages = 0;
    loop {
        // The first page has no cursor: the field is omitted (explicit nulls are refused).
        let mut body = json!({"subscription_id": bad.id, "since": since, "limit": 2});
        if !cursor.is_null() {
            body["cursor"] = cursor.clone();
        }
        let (status, v) = call(&app, "POST", "/admin/replay", body).await;
        assert_eq!(status, 202, "{v}");
        queued += v["queued"].as_u64().unwrap();
        pages += 1;
        cursor = v["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(queued, 5);
    assert_eq!(pages, 3);
    let sent = h.queue.take();
    assert_eq!(sent.len(), 5);
    assert!(sent.iter().all(|(m, _)| matches!(
        m,
        QueueMessage::Deliver {
            attempt: 2,
            trigger: Trigger::Manual,
            ..
        }
    )));
    // Dispatch them: still failing, recorded as attempt 2 (failed again); a second bulk
    // replay picks up the new latest attempts
    h.dispatch(sent.into_iter().map(|(m, _)| m).collect()).await;
    let (_, v) = call(
        &app,
        "POST",
        "/admin/replay",
        json!({"subscription_id": bad.id, "since": since, "limit": 100}),
    )
    .await;
    assert_eq!(v["queued"], 5, "{v}");
    assert_eq!(
        v["skipped"], 5,
        "superseded attempt 1 records are skipped: {v}"
    );

    // Errors
    let (status, _) = call(
        &app,
        "POST",
        "/admin/replay",
        json!({"event_id": "evt_nope"}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, v) = call(
        &app,
        "POST",
        "/admin/replay",
        json!({"subscription_id": bad.id}),
    )
    .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (400, Some("invalid_body"))
    );
    let (status, _) = call(&app, "POST", "/admin/replay", json!({"bogus": 1})).await;
    assert_eq!(status, 400);
    let mut off = h.sub(&bad.id).await;
    off.enabled = false;
    h.ports.subscriptions.update(&off).await.unwrap();
    let (status, v) = call(
        &app,
        "POST",
        "/admin/replay",
        json!({"event_id": events[0].envelope.id, "subscription_id": bad.id}),
    )
    .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("subscription_disabled"))
    );
}
