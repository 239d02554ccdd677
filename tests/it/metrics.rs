//! Metrics: serve's `/metrics` read by the Prometheus client library's parser, and the
//! Lambdas' EMF lines checked against the Embedded Metric Format's structure, in runs with
//! succeeding and failing subscribers whose sinks count what they really received.

use crate::support::{eventually, sink::Sink, ADMIN_TOKEN};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use switchboard_cli::serve;
use switchboard_test_support::serve::AdminApi;

const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
pub(crate) const EVENTS: usize = 8;

/// `/metrics` parsed by `prometheus_client`'s OpenMetrics parser: (name, labels) → value.
type Samples = BTreeMap<(String, BTreeMap<String, String>), f64>;

fn parse_exposition(text: &str) -> Samples {
    use std::io::Write;
    let python = PathBuf::from(WORKSPACE).join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: ./scripts/test installs prometheus-client there",
        python.display()
    );
    let mut child = std::process::Command::new(&python)
        .arg(PathBuf::from(WORKSPACE).join("scripts/parse_metrics.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    samples
        .into_iter()
        .map(|s| {
            let labels = s["labels"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            let key = (s["name"].as_str().unwrap().to_owned(), labels);
            (key, s["value"].as_f64().unwrap())
        })
        .collect()
}

fn get(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    let labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    samples
        .get(&(name.to_owned(), labels))
        .copied()
        .unwrap_or(0.0)
}

/// The sum of a sample over every label set.
fn total(samples: &Samples, name: &str) -> f64 {
    samples
        .iter()
        .filter(|((n, _), _)| n == name)
        .map(|(_, v)| v)
        .sum()
}

pub(crate) fn call_body(i: usize) -> String {
    crate::support::hipcall_call_hangup(&format!("2483a75a-56a2-41f1-991b-{i:012}"))
}

/// Three subscribers: one answers 200, one 500 (one retry after 1 s, then exhausted), one
/// 410 (its subscription is disabled). Returns their sinks and subscription ids.
pub(crate) async fn subscribers(
    create: impl Fn(Value) -> std::pin::Pin<Box<dyn std::future::Future<Output = String> + Send>>,
) -> Vec<(Sink, String)> {
    let mut subs = Vec::new();
    for (status, schedule) in [(200, json!(null)), (500, json!([1])), (410, json!(null))] {
        let sink = Sink::start().await;
        sink.set_status(status);
        let id = create(json!({"url": sink.url("/hook"), "event_types": ["call.*"],
                               "retry_schedule_secs": schedule}))
        .await;
        subs.push((sink, id));
    }
    subs
}

#[tokio::test]
async fn metrics_endpoint_counts_what_the_sinks_saw_read_by_a_prometheus_parser() {
    // Given serve with a source and three subscribers (ok, failing, gone)
    let running = serve::start(switchboard_test_support::serve::config())
        .await
        .unwrap();
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    AdminApi::new(&http, &base, ADMIN_TOKEN)
        .create_source("hipcall-main", "hipcall")
        .await;
    let subs = subscribers(|body| {
        let (http, base) = (http.clone(), base.clone());
        Box::pin(async move {
            let api = AdminApi::new(&http, &base, ADMIN_TOKEN);
            let created = api.create_subscription(body).await;
            created["id"].as_str().unwrap().to_owned()
        })
    })
    .await;

    // When the provider sends calls, one retry of a call, one unreadable body, and someone
    // posts to a source that does not exist
    let post = |path: &str, body: String| {
        let req = http.post(format!("{base}{path}"));
        let req = req.header("content-type", "application/json").body(body);
        async move { req.send().await.unwrap().status() }
    };
    for i in 0..EVENTS {
        assert_eq!(
            post("/hooks/hipcall-main", call_body(i)).await,
            202,
            "call {i}"
        );
    }
    assert_eq!(
        post("/hooks/hipcall-main", call_body(0)).await,
        200,
        "retry"
    );
    let unreadable = "{not json".to_owned();
    assert_eq!(
        post("/hooks/hipcall-main", unreadable).await,
        202,
        "unreadable"
    );
    assert_eq!(
        post("/hooks/nobody-x", call_body(99)).await,
        404,
        "no such source"
    );

    // Then, once every attempt is on record, the counters equal what the sinks received
    let scrape = || async {
        let r = http
            .get(format!("{base}/metrics"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"));
        parse_exposition(&r.text().await.unwrap())
    };
    let deliveries = "switchboard_deliveries_total";
    let settled = eventually(20, || async {
        let m = scrape().await;
        let (ok, failing, gone) = (&subs[0], &subs[1], &subs[2]);
        ok.0.count() == EVENTS
            && failing.0.count() == 2 * EVENTS
            && get(
                &m,
                deliveries,
                &[("subscription", &failing.1), ("outcome", "exhausted")],
            ) == EVENTS as f64
            && total(&m, deliveries) as usize == ok.0.count() + failing.0.count() + gone.0.count()
            && get(&m, "switchboard_queue_depth", &[]) == 0.0
    })
    .await;
    let m = scrape().await;
    assert!(settled, "{m:#?}");
    let (ok, failing, gone) = (&subs[0], &subs[1], &subs[2]);
    let sub = |s: &(Sink, String), outcome| {
        get(
            &m,
            deliveries,
            &[("subscription", &s.1), ("outcome", outcome)],
        )
    };
    assert_eq!(sub(ok, "succeeded") as usize, ok.0.count());
    assert_eq!(sub(failing, "retrying") as usize, EVENTS);
    assert_eq!(sub(failing, "exhausted") as usize, EVENTS);
    assert_eq!(sub(gone, "failed") as usize, gone.0.count());
    assert!(gone.0.count() >= 1);
    let events = |source, outcome| {
        get(
            &m,
            "switchboard_events_total",
            &[("source", source), ("outcome", outcome)],
        )
    };
    assert_eq!(events("hipcall-main", "accepted") as usize, EVENTS + 1);
    assert_eq!(events("hipcall-main", "duplicate"), 1.0);
    assert_eq!(events("unknown", "rejected_404"), 1.0);
    assert_eq!(
        get(
            &m,
            "switchboard_unparsed_bodies_total",
            &[("source", "hipcall-main")]
        ),
        1.0
    );
    assert_eq!(
        get(
            &m,
            "switchboard_retries_scheduled_total",
            &[("subscription", &failing.1)]
        ) as usize,
        EVENTS
    );
    assert_eq!(
        get(
            &m,
            "switchboard_subscriptions_disabled_total",
            &[("subscription", &gone.1)]
        ),
        1.0
    );
    // Histograms: one duration per attempt, one lag per success
    assert_eq!(
        total(&m, "switchboard_delivery_duration_seconds_count"),
        total(&m, deliveries)
    );
    assert_eq!(
        get(&m, "switchboard_delivery_lag_seconds_count", &[]) as usize,
        ok.0.count()
    );

    // And the exposition needs the admin token
    let r = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .get(format!("{base}/metrics"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    running.stop().await;
}

/// Deliveries held by flow control are counted on their own, by subscription and reason,
/// with their waits: here every event of a subscription with a call-ordering window is held
/// until its window ends, then delivered.
#[tokio::test]
async fn held_deliveries_are_counted_by_reason_with_their_waits() {
    let h = switchboard_test_support::serve::ServeHarness::start().await;
    h.create_source("hipcall-main", "hipcall").await;
    let crm = Sink::start().await;
    let sub = h
        .create_subscription(json!({"url": crm.url("/crm"), "event_types": ["call.*"],
                                    "ordering": "call", "ordering_window_ms": 300}))
        .await;
    let sub_id = sub["id"].as_str().unwrap();
    let calls = 3;
    for i in 0..calls {
        assert_eq!(h.post_hook("hipcall-main", call_body(i)).await.0, 202);
    }
    assert!(eventually(20, || async { crm.count() == calls }).await);
    let scrape = || async {
        let r = h
            .http
            .get(h.url("/metrics"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        parse_exposition(&r.text().await.unwrap())
    };
    let held_on_record = "switchboard_deliveries_total";
    let settled = eventually(20, || async {
        let m = scrape().await;
        get(
            &m,
            held_on_record,
            &[("subscription", sub_id), ("outcome", "succeeded")],
        ) == calls as f64
    })
    .await;
    let m = scrape().await;
    assert!(settled, "{m:#?}");
    let held = |reason| {
        get(
            &m,
            "switchboard_deliveries_held_total",
            &[("subscription", sub_id), ("reason", reason)],
        )
    };
    // each event waited out its window at least once; no rate limit, so no such wait
    assert!(held("ordering_window") >= calls as f64, "{m:#?}");
    assert_eq!(held("rate_limit"), 0.0);
    // every hold is a `held` record, and has its wait observed
    let holds = total(&m, "switchboard_deliveries_held_total");
    assert_eq!(
        get(
            &m,
            held_on_record,
            &[("subscription", sub_id), ("outcome", "held")]
        ),
        holds
    );
    assert_eq!(total(&m, "switchboard_hold_wait_seconds_count"), holds);
    assert!(total(&m, "switchboard_hold_wait_seconds_sum") > 0.0);
    h.running.stop().await;
}
