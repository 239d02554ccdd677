//! Fan-out, signing, retries, failure kinds, redelivery and endpoint health, against real
//! HTTP sinks on 127.0.0.1.

use crate::common::*;
use crate::sink::{Reply, Sink};
use std::sync::atomic::Ordering;
use std::time::Duration;
use switchboard_core::delivery::signing;
use switchboard_core::domain::attempt::{AttemptStatus, ErrorKind};
use switchboard_core::domain::{QueueMessage, Trigger};

fn next_at(m: &QueueMessage) -> (u32, switchboard_core::domain::time::Timestamp) {
    match m {
        QueueMessage::Deliver {
            attempt,
            not_before: Some(at),
            trigger: Trigger::Retry,
            ..
        } => (*attempt, *at),
        other => panic!("expected a scheduled retry, got {other:?}"),
    }
}

#[tokio::test]
async fn delivers_signed_envelope_once_and_records_it() {
    // Given a subscription with a credential header
    let sink = Sink::ok().await;
    let h = Harness::new();
    let mut sub = subscription(&sink.url("/hook?api_key=s3cr3t&team=crm"), &["call.*"]);
    sub.headers
        .insert("Authorization".into(), "Bearer crm-token".into());
    sub.headers.insert("X-Team".into(), "crm".into());
    h.add(&sub).await;
    let ev = event("call.ended");

    // When the event is dispatched, and the same message is redelivered by SQS
    assert!(h.publish(&ev).await.is_empty());
    assert!(h.publish(&ev).await.is_empty());

    // Then the subscriber got it once, signed
    let reqs = sink.received();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("authorization"), Some("Bearer crm-token"));
    let id = r.header("webhook-id").unwrap();
    assert_eq!(id, format!("{}_{}", ev.envelope.id, sub.id));
    let ts: i64 = r.header("webhook-timestamp").unwrap().parse().unwrap();
    assert!(signing::verify(
        sub.secret.expose(),
        id,
        ts,
        &r.body,
        r.header("webhook-signature").unwrap()
    ));
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["id"], ev.envelope.id.as_str());
    assert_eq!(body["type"], "call.ended");

    // And one succeeded attempt is recorded, with no secret in it
    let attempts = h.attempts(&ev.envelope.id).await;
    assert_eq!(attempts.len(), 1);
    let a = &attempts[0];
    assert_eq!(a.status, AttemptStatus::Succeeded);
    assert_eq!(a.http_status, Some(200));
    assert_eq!(a.trigger, Trigger::Initial);
    let recorded = serde_json::to_string(a).unwrap();
    for secret in ["crm-token", "s3cr3t", sub.secret.expose()] {
        assert!(
            !recorded.contains(secret),
            "{secret} leaked into {recorded}"
        );
    }
    assert_eq!(a.request_headers["authorization"], "[redacted]");
    assert_eq!(a.request_headers["webhook-signature"], "[redacted]");
    assert_eq!(a.request_headers["x-team"], "crm");
    // The webhook headers that are not credentials are recorded as sent.
    assert_eq!(a.request_headers["content-type"], "application/json");
    assert!(a.request_headers["webhook-id"].starts_with(&ev.envelope.id));
    assert!(a.request_headers["webhook-timestamp"]
        .parse::<i64>()
        .is_ok());
    assert!(a.url.contains("team=crm"));
    assert!(h.queue.take().is_empty(), "nothing to retry");
}

#[tokio::test]
async fn filters_pick_subscriptions() {
    let sink = Sink::ok().await;
    let h = Harness::new();
    let all = subscription(&sink.url("/all"), &["*"]);
    let calls = subscription(&sink.url("/calls"), &["call.*"]);
    let other_type = subscription(&sink.url("/contacts"), &["contact.*"]);
    let mut other_source = subscription(&sink.url("/other-source"), &["*"]);
    other_source.source = Some("callerdesk".into());
    let mut content = subscription(&sink.url("/que1"), &["call.ended"]);
    content.filter = Some(
        serde_json::json!({"data.data.queue_name": {"in": ["Que1"]}, "call.direction": "inbound", "call.recording_url": {"exists": false}}),
    );
    let mut content_no = subscription(&sink.url("/que2"), &["call.ended"]);
    content_no.filter = Some(serde_json::json!({"data.data.queue_name": "Que2"}));
    let mut disabled = subscription(&sink.url("/disabled"), &["*"]);
    disabled.enabled = false;
    for s in [
        &all,
        &calls,
        &other_type,
        &other_source,
        &content,
        &content_no,
        &disabled,
    ] {
        h.add(s).await;
    }
    assert!(h.publish(&event("call.ended")).await.is_empty());
    let mut paths: Vec<String> = sink
        .received()
        .iter()
        .map(|r| r.path().to_owned())
        .collect();
    paths.sort();
    assert_eq!(paths, ["/all", "/calls", "/que1"]);
}

#[tokio::test]
async fn retries_on_the_schedule_until_the_sink_recovers() {
    // Given a sink that fails three times, then succeeds
    let sink = Sink::replying(|_, n| {
        if n < 3 {
            Reply::Status(500)
        } else {
            Reply::Status(200)
        }
    })
    .await;
    let h = Harness::new();
    let sub = subscription(&sink.url("/flaky"), &["call.*"]);
    h.add(&sub).await;
    let ev = event("call.ended");

    // When the event and then each scheduled retry are dispatched (the test plays the clock)
    assert!(h.publish(&ev).await.is_empty());
    let expected = [(2u32, 5.0f64), (3, 300.0), (4, 1800.0)];
    for (attempt, base) in expected {
        let sent = delivers(&h.queue.take());
        assert_eq!(sent.len(), 1, "one retry scheduled");
        let (msg, delay) = &sent[0];
        let (n, at) = next_at(msg);
        assert_eq!(n, attempt);
        // ±20 % jitter around the schedule, counted from the end of the failed attempt
        let last = h.attempts(&ev.envelope.id).await.pop().unwrap();
        let wait = (at - last.attempted_at).num_milliseconds() as f64 / 1000.0;
        assert!(
            wait >= base * 0.8 - 0.01 && wait <= base * 1.2 + 1.0,
            "attempt {n}: {wait}s vs {base}s"
        );
        assert!(*delay <= Duration::from_secs(900), "SQS delay is capped");
        assert_eq!(last.status, AttemptStatus::Retrying);
        assert_eq!(last.next_attempt_at, Some(at));
        // An early copy of the message waits again instead of delivering
        let early = h.dispatch(vec![msg.clone()]).await;
        assert!(early.is_empty());
        let requeued = delivers(&h.queue.take());
        assert_eq!(requeued.len(), 1, "not yet due: re-queued");
        assert_eq!(sink.count_at("/flaky") as u32, attempt - 1);
        assert!(h.run_due(msg).await.is_empty());
    }

    // Then the fourth attempt succeeded and nothing more is scheduled
    assert!(delivers(&h.queue.take()).is_empty());
    let attempts = h.attempts(&ev.envelope.id).await;
    let statuses: Vec<_> = attempts
        .iter()
        .map(|a| (a.attempt, a.status, a.trigger))
        .collect();
    assert_eq!(
        statuses,
        [
            (1, AttemptStatus::Retrying, Trigger::Initial),
            (2, AttemptStatus::Retrying, Trigger::Retry),
            (3, AttemptStatus::Retrying, Trigger::Retry),
            (4, AttemptStatus::Succeeded, Trigger::Retry),
        ]
    );
    assert_eq!(attempts[0].error_kind, Some(ErrorKind::Status));
    assert_eq!(sink.count_at("/flaky"), 4);
    // A late duplicate of an old retry is skipped
    assert!(h
        .run_due(&deliver_now(&ev.envelope.id, &sub.id, 3, Trigger::Retry))
        .await
        .is_empty());
    assert_eq!(sink.count_at("/flaky"), 4);
}

#[tokio::test]
async fn default_schedule_spans_more_than_a_day() {
    let sink = Sink::replying(|_, _| Reply::Status(500)).await;
    let h = Harness::new();
    let sub = subscription(&sink.url("/down"), &["*"]);
    h.add(&sub).await;
    let ev = event("call.ended");
    h.publish(&ev).await;
    let mut total = 0.0;
    loop {
        let sent = delivers(&h.queue.take());
        let Some((msg, _)) = sent.first() else { break };
        let (_, at) = next_at(msg);
        let last = h.attempts(&ev.envelope.id).await.pop().unwrap();
        total += (at - last.attempted_at).num_milliseconds() as f64 / 1000.0;
        h.run_due(msg).await;
    }
    let attempts = h.attempts(&ev.envelope.id).await;
    assert_eq!(attempts.len(), 8, "immediately + 7 retries");
    assert_eq!(attempts.last().unwrap().status, AttemptStatus::Exhausted);
    let base: f64 = [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
        .iter()
        .sum();
    assert!(total >= base * 0.8 && total <= base * 1.2 + 8.0, "{total}");
    assert!(total > 0.8 * 99_305.0);
}

#[tokio::test]
async fn override_schedule_exhausts_and_emits_delivery_exhausted() {
    let sink = Sink::replying(|r, _| {
        if r.path() == "/ops" {
            Reply::Status(204)
        } else {
            Reply::Status(502)
        }
    })
    .await;
    let h = Harness::new();
    let mut sub = subscription(&sink.url("/down"), &["call.*"]);
    sub.retry_schedule_secs = Some(vec![1, 2]);
    let ops = subscription(&sink.url("/ops"), &["delivery.*"]);
    let everything = subscription(&sink.url("/everything"), &["*"]);
    for s in [&sub, &ops, &everything] {
        h.add(s).await;
    }
    let ev = event("call.ended");
    h.publish(&ev).await;
    for base in [1.0, 2.0] {
        let sent = delivers(&h.queue.take());
        let (msg, delay) = &sent
            .iter()
            .find(|(m, _)| m.event_id() == ev.envelope.id)
            .unwrap();
        let (_, at) = next_at(msg);
        let last = h.attempts(&ev.envelope.id).await;
        let last = last.iter().rfind(|a| a.subscription_id == sub.id).unwrap();
        let wait = (at - last.attempted_at).num_milliseconds() as f64 / 1000.0;
        assert!(wait >= base * 0.8 - 0.01 && wait <= base * 1.2 + 1.0);
        assert!(*delay <= Duration::from_secs(3));
        h.run_due(msg).await;
    }
    let sent = h.queue.take();
    assert!(delivers(&sent).is_empty());
    let attempts: Vec<_> = h
        .attempts(&ev.envelope.id)
        .await
        .into_iter()
        .filter(|a| a.subscription_id == sub.id)
        .collect();
    assert_eq!(attempts.len(), 3);
    assert_eq!(attempts[2].status, AttemptStatus::Exhausted);
    assert_eq!(attempts[2].next_attempt_at, None);

    // The operational event goes to the subscription that asked for delivery.*, not to `*`
    let ops_events = operational(&sent);
    assert_eq!(ops_events.len(), 1);
    let oe = &ops_events[0];
    assert_eq!(oe.envelope.event_type, "delivery.exhausted");
    let data = oe.envelope.data.as_ref().unwrap().to_value();
    assert_eq!(data["subscription_id"], sub.id.as_str());
    assert_eq!(data["event_id"], ev.envelope.id.as_str());
    assert_eq!(data["attempts"], 3);
    h.publish(oe).await;
    assert_eq!(sink.count_at("/ops"), 1);
    assert_eq!(
        sink.count_at("/everything"),
        1,
        "only the original call event"
    );
    let got: serde_json::Value = serde_json::from_slice(
        &sink
            .received()
            .iter()
            .find(|r| r.path() == "/ops")
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(got["type"], "delivery.exhausted");
    assert_eq!(got["source"], "switchboard");
}

#[tokio::test]
async fn retry_after_is_honoured_and_bounded() {
    let sink = Sink::replying(|r, _| {
        let retry_after = match r.path() {
            "/429" => "120".to_owned(),
            "/503" => (chrono::Utc::now() + chrono::Duration::seconds(600))
                .to_rfc2822()
                .replace("+0000", "GMT"),
            "/huge" => "99999999".to_owned(),
            _ => "1".to_owned(),
        };
        let status = if r.path() == "/huge" || r.path() == "/503" {
            503
        } else {
            429
        };
        Reply::Full {
            status,
            headers: vec![("retry-after".into(), retry_after)],
            body: "slow down".into(),
        }
    })
    .await;
    let h = Harness::new();
    let cases = [
        ("/429", 120.0, 125.0),
        ("/503", 590.0, 605.0),
        ("/huge", 6.0 * 3600.0, 6.0 * 3600.0 + 2.0),
        ("/small", 4.0, 7.0),
    ];
    let mut subs = Vec::new();
    for (path, _, _) in cases {
        let s = subscription(&sink.url(path), &["*"]);
        h.add(&s).await;
        subs.push(s);
    }
    let ev = event("call.ended");
    h.publish(&ev).await;
    let sent = delivers(&h.queue.take());
    let attempts = h.attempts(&ev.envelope.id).await;
    for ((path, lo, hi), sub) in cases.iter().zip(&subs) {
        let (msg, delay) = sent
            .iter()
            .find(|(m, _)| matches!(m, QueueMessage::Deliver { subscription_id, .. } if *subscription_id == sub.id))
            .unwrap();
        let (_, at) = next_at(msg);
        let a = attempts
            .iter()
            .find(|a| a.subscription_id == sub.id)
            .unwrap();
        let wait = (at - a.attempted_at).num_milliseconds() as f64 / 1000.0;
        assert!(
            wait >= *lo && wait <= *hi,
            "{path}: waited {wait}s, want {lo}..{hi}"
        );
        assert!(*delay <= Duration::from_secs(900));
        assert_eq!(a.status, AttemptStatus::Retrying);
        assert_eq!(a.response_excerpt.as_deref(), Some("slow down"));
    }
}

#[tokio::test]
async fn gone_disables_the_subscription_and_tells_ops() {
    let sink = Sink::replying(|r, _| {
        if r.path() == "/gone" {
            Reply::Status(410)
        } else {
            Reply::Status(200)
        }
    })
    .await;
    let h = Harness::new();
    let sub = subscription(&sink.url("/gone"), &["*"]);
    let ops = subscription(&sink.url("/ops"), &["subscription.disabled"]);
    h.add(&sub).await;
    h.add(&ops).await;
    let a = h.publish_call_end().await;
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].status, AttemptStatus::Failed);
    assert_eq!(a[0].http_status, Some(410));
    let s = h.sub(&sub.id).await;
    assert!(!s.enabled);
    assert!(s.disabled_reason.unwrap().contains("410"));
    let sent = h.queue.take();
    assert!(delivers(&sent).is_empty(), "no retry after 410");
    let ops_events = operational(&sent);
    assert_eq!(ops_events.len(), 1);
    assert_eq!(ops_events[0].envelope.event_type, "subscription.disabled");
    assert_eq!(
        ops_events[0].envelope.data.as_ref().unwrap().to_value()["subscription_id"],
        sub.id.as_str()
    );
    // Later events skip it
    h.publish(&event("call.ended")).await;
    assert_eq!(sink.count_at("/gone"), 1);
}

#[tokio::test]
async fn timeout_reset_and_redirect_are_failures_with_their_kind() {
    let sink = Sink::replying(|r, _| match r.path() {
        "/hang" => Reply::Hang(Duration::from_secs(3)),
        "/reset" => Reply::Reset,
        "/redirect" => Reply::Full {
            status: 302,
            headers: vec![("location".into(), "/elsewhere".into())],
            body: String::new(),
        },
        "/slow" => Reply::Slow(Duration::from_millis(300), 200),
        _ => Reply::Status(200),
    })
    .await;
    let h = Harness::new();
    let mut hang = subscription(&sink.url("/hang"), &["*"]);
    hang.timeout_ms = Some(300);
    let reset = subscription(&sink.url("/reset"), &["*"]);
    let redirect = subscription(&sink.url("/redirect"), &["*"]);
    let mut slow = subscription(&sink.url("/slow"), &["*"]);
    slow.timeout_ms = Some(2000);
    for s in [&hang, &reset, &redirect, &slow] {
        h.add(s).await;
    }
    let ev = event("call.ended");
    let started = std::time::Instant::now();
    assert!(h.publish(&ev).await.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "timeout honoured"
    );
    let attempts = h.attempts(&ev.envelope.id).await;
    let of = |id: &str| {
        attempts
            .iter()
            .find(|a| a.subscription_id == id)
            .unwrap()
            .clone()
    };
    let a = of(&hang.id);
    assert_eq!(
        (a.status, a.error_kind),
        (AttemptStatus::Retrying, Some(ErrorKind::Timeout))
    );
    let a = of(&reset.id);
    assert_eq!(a.status, AttemptStatus::Retrying);
    assert_eq!(a.error_kind, Some(ErrorKind::Connect), "{:?}", a.error);
    let a = of(&redirect.id);
    assert_eq!(
        (a.status, a.http_status, a.error_kind),
        (AttemptStatus::Retrying, Some(302), Some(ErrorKind::Status))
    );
    assert!(a.error.unwrap().contains("redirects are not followed"));
    assert_eq!(sink.count_at("/elsewhere"), 0);
    let a = of(&slow.id);
    assert_eq!(a.status, AttemptStatus::Succeeded);
    assert!(a.duration_ms >= 300);
    assert_eq!(delivers(&h.queue.take()).len(), 3);
}

#[tokio::test]
async fn crash_mid_batch_resends_only_the_missing_pairs() {
    // Given five subscriptions, and a delivery table that fails the third write
    let sink = Sink::ok().await;
    let h = Harness::new();
    let subs: Vec<_> = (0..5)
        .map(|i| subscription(&sink.url(&format!("/s{i}")), &["call.*"]))
        .collect();
    for s in &subs {
        h.add(s).await;
    }
    h.store.fail_at.store(3, Ordering::SeqCst);
    let ev = event("call.ended");

    // When the message is handled, it fails (so SQS will redeliver it)
    let failed = h.publish(&ev).await;
    assert_eq!(failed.len(), 1, "a failed record fails the message");
    assert_eq!(h.attempts(&ev.envelope.id).await.len(), 4);
    assert_eq!(sink.received().len(), 5);

    // Then the redelivery sends only to the pair whose record is missing
    assert!(h.publish(&ev).await.is_empty());
    let counts: Vec<usize> = (0..5).map(|i| sink.count_at(&format!("/s{i}"))).collect();
    assert_eq!(counts.iter().sum::<usize>(), 6, "{counts:?}");
    assert_eq!(counts.iter().filter(|c| **c == 2).count(), 1, "{counts:?}");
    let attempts = h.attempts(&ev.envelope.id).await;
    assert_eq!(attempts.len(), 5);
    assert!(attempts
        .iter()
        .all(|a| a.status == AttemptStatus::Succeeded && a.attempt == 1));

    // And a third redelivery sends nothing
    assert!(h.publish(&ev).await.is_empty());
    assert_eq!(sink.received().len(), 6);
}

#[tokio::test]
async fn failing_to_queue_a_retry_fails_the_message() {
    let sink = Sink::replying(|_, _| Reply::Status(500)).await;
    let h = Harness::new();
    let sub = subscription(&sink.url("/x"), &["*"]);
    h.add(&sub).await;
    let ev = event("call.ended");
    h.queue.failing.store(true, Ordering::SeqCst);
    assert_eq!(h.publish(&ev).await.len(), 1);
    assert!(
        h.attempts(&ev.envelope.id).await.is_empty(),
        "not recorded without its retry"
    );
    h.queue.failing.store(false, Ordering::SeqCst);
    assert!(h.publish(&ev).await.is_empty());
    assert_eq!(delivers(&h.queue.take()).len(), 1);
    assert_eq!(h.attempts(&ev.envelope.id).await.len(), 1);
}

#[tokio::test]
async fn concurrency_is_bounded_over_one_client() {
    let sink = Sink::replying(|_, _| Reply::Slow(Duration::from_millis(100), 200)).await;
    let mut settings = settings();
    settings.delivery_concurrency = 4;
    let h = Harness::with(settings, loopback_policy(), Default::default());
    for i in 0..12 {
        h.add(&subscription(&sink.url(&format!("/c{i}")), &["*"]))
            .await;
    }
    let events: Vec<_> = (0..3).map(|_| event("call.ended")).collect();
    let started = std::time::Instant::now();
    let failed = h
        .dispatch(
            events
                .iter()
                .map(|e| QueueMessage::Event {
                    event: std::sync::Arc::new(e.clone()),
                })
                .collect(),
        )
        .await;
    assert!(failed.is_empty());
    assert_eq!(sink.received().len(), 36);
    assert!(
        sink.max_in_flight() <= 4,
        "max in flight {}",
        sink.max_in_flight()
    );
    assert!(sink.max_in_flight() >= 2, "deliveries overlap");
    assert!(started.elapsed() >= Duration::from_millis(36 / 4 * 100 - 50));
}

#[tokio::test]
async fn continuous_failure_disables_after_the_configured_time() {
    let sink = Sink::replying(|r, _| {
        if r.path() == "/ops" {
            Reply::Status(200)
        } else {
            Reply::Status(500)
        }
    })
    .await;
    let mut settings = settings();
    settings.disable_after = Duration::from_secs(3600);
    let h = Harness::with(settings, loopback_policy(), Default::default());
    let sub = subscription(&sink.url("/sick"), &["call.*"]);
    let ops = subscription(&sink.url("/ops"), &["subscription.*"]);
    h.add(&sub).await;
    h.add(&ops).await;

    // The first failure starts the clock
    h.publish(&event("call.ended")).await;
    let since = h
        .sub(&sub.id)
        .await
        .failing_since
        .expect("failing_since set");
    h.queue.take();

    // When the run has lasted longer than allowed (moved back two hours instead of waiting)
    let mut s = h.sub(&sub.id).await;
    s.failing_since = Some(since - chrono::Duration::hours(2));
    h.ports.subscriptions.update(&s).await.unwrap();
    let ev = event("call.ended");
    h.publish(&ev).await;
    let s = h.sub(&sub.id).await;
    assert!(!s.enabled);
    assert!(s
        .disabled_reason
        .as_deref()
        .unwrap()
        .contains("every attempt failed since"));
    let a = h.attempts(&ev.envelope.id).await;
    assert_eq!(a[0].status, AttemptStatus::Failed);
    let sent = h.queue.take();
    assert!(delivers(&sent).is_empty());
    let oe = operational(&sent);
    assert_eq!(oe.len(), 1);
    assert_eq!(oe[0].envelope.event_type, "subscription.disabled");
}

#[tokio::test]
async fn a_success_clears_the_failure_run() {
    let sink = Sink::replying(|_, n| {
        if n == 0 {
            Reply::Status(500)
        } else {
            Reply::Status(200)
        }
    })
    .await;
    let h = Harness::new();
    let sub = subscription(&sink.url("/x"), &["*"]);
    h.add(&sub).await;
    let ev = event("call.ended");
    h.publish(&ev).await;
    assert!(h.sub(&sub.id).await.failing_since.is_some());
    let sent = delivers(&h.queue.take());
    // The batch's copy of the subscription is read per batch: the retry sees the run
    h.run_due(&sent[0].0).await;
    assert!(h.sub(&sub.id).await.failing_since.is_none());
}

#[tokio::test]
async fn disabled_subscription_retry_is_recorded_as_failed() {
    let sink = Sink::replying(|_, _| Reply::Status(500)).await;
    let h = Harness::new();
    let sub = subscription(&sink.url("/x"), &["*"]);
    h.add(&sub).await;
    let ev = event("call.ended");
    h.publish(&ev).await;
    let retry = delivers(&h.queue.take()).remove(0).0;
    let mut s = h.sub(&sub.id).await;
    s.enabled = false;
    h.ports.subscriptions.update(&s).await.unwrap();
    h.run_due(&retry).await;
    let a = h.attempts(&ev.envelope.id).await;
    assert_eq!(a.len(), 2);
    assert_eq!(a[1].status, AttemptStatus::Failed);
    assert_eq!(a[1].error.as_deref(), Some("subscription is disabled"));
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test]
async fn an_attempt_record_the_store_refuses_is_kept_stripped_and_not_retried() {
    // Given a store that refuses the full attempt record as invalid (not as an outage)
    let sink = Sink::replying(|_, _| Reply::Status(200)).await;
    let h = Harness::new();
    let sub = subscription(&sink.url("/x"), &["*"]);
    h.add(&sub).await;
    h.store.reject_full_records.store(true, Ordering::SeqCst);
    let ev = event("call.ended");

    // When the event is dispatched, the message succeeds: a refusal is not "retry later"
    assert!(h.publish(&ev).await.is_empty());
    assert_eq!(sink.received().len(), 1);

    // Then a stripped record of the attempt is kept, saying why, with its outcome
    let attempts = h.attempts(&ev.envelope.id).await;
    assert_eq!(attempts.len(), 1);
    let a = &attempts[0];
    assert_eq!(a.status, AttemptStatus::Succeeded);
    assert_eq!(a.http_status, Some(200));
    assert!(a.request_headers.is_empty());
    assert!(a.truncated.contains(&"request_headers".to_owned()));
    assert_eq!(
        a.error.as_deref(),
        Some("the store refused the full attempt record")
    );
}
