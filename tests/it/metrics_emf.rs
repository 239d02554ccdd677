//! The Lambdas' metrics: EMF lines from a run with succeeding and failing subscribers,
//! checked against the Embedded Metric Format specification's structure and against what
//! the sinks received; and the drift between the template's dashboard and alarms and the
//! metrics the code emits.

use crate::metrics::{call_body, subscribers, EVENTS};
use crate::support::{self, create_source, create_subscription, eventually};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_core::adapters::memory::MemoryQueue;
use switchboard_core::dispatch::{poller, Dispatcher};
use switchboard_core::domain::Attempt;
use switchboard_core::metrics::emf::{self, EmfMetrics};
use switchboard_core::metrics::{EventOutcome, Hold, HoldReason, Observation};
use switchboard_core::state::{Compose as _, Ports};

const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The units a MetricDefinition may name (CloudWatch's StandardUnit).
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

fn only_members(object: &Value, allowed: &[&str], what: &str) {
    for key in object
        .as_object()
        .unwrap_or_else(|| panic!("{what} is not an object"))
        .keys()
    {
        assert!(
            allowed.contains(&key.as_str()),
            "{what} has a member the spec does not define: {key}"
        );
    }
}

/// Checks one log line against the EMF specification's document structure: a JSON object
/// whose `_aws` metadata holds an integer millisecond `Timestamp` and `CloudWatchMetrics`
/// directives; each directive a `Namespace` (1-1024 characters), `Dimensions` (sets of at
/// most 30 keys, each a string member of the root) and `Metrics` (at most 100 definitions,
/// each a `Name` that is a numeric root member, at most 100 values, and an optional known
/// `Unit` and `StorageResolution` 1 or 60).
fn check_emf(line: &str) -> Value {
    let doc: Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    let root = doc
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {line}"));
    let meta = &root["_aws"];
    only_members(
        meta,
        &["Timestamp", "CloudWatchMetrics", "LogGroupName"],
        "_aws",
    );
    let ts = meta["Timestamp"]
        .as_i64()
        .expect("Timestamp: integer milliseconds");
    let now = chrono::Utc::now().timestamp_millis();
    assert!(
        (now - ts).abs() < 600_000,
        "Timestamp {ts} is not epoch milliseconds of now"
    );
    let directives = meta["CloudWatchMetrics"]
        .as_array()
        .expect("CloudWatchMetrics array");
    assert!(!directives.is_empty());
    for d in directives {
        only_members(
            d,
            &["Namespace", "Dimensions", "Metrics"],
            "MetricDirective",
        );
        let ns = d["Namespace"].as_str().expect("Namespace string");
        assert!((1..=1024).contains(&ns.len()) && !ns.trim().is_empty());
        for set in d["Dimensions"].as_array().expect("Dimensions array") {
            let keys = set.as_array().expect("DimensionSet array");
            assert!(keys.len() <= 30);
            for k in keys {
                let k = k.as_str().expect("dimension key string");
                let v = root
                    .get(k)
                    .unwrap_or_else(|| panic!("dimension {k} is not on the root"));
                let v = v
                    .as_str()
                    .unwrap_or_else(|| panic!("dimension {k} is not a string"));
                assert!((1..=1024).contains(&v.len()), "dimension {k} value length");
            }
        }
        let metrics = d["Metrics"].as_array().expect("Metrics array");
        assert!(!metrics.is_empty() && metrics.len() <= 100);
        for m in metrics {
            only_members(
                m,
                &["Name", "Unit", "StorageResolution"],
                "MetricDefinition",
            );
            let name = m["Name"].as_str().expect("Name string");
            assert!((1..=1024).contains(&name.len()));
            match &root
                .get(name)
                .unwrap_or_else(|| panic!("metric {name} is not on the root"))
            {
                Value::Number(_) => {}
                Value::Array(values) => {
                    assert!(values.len() <= 100 && values.iter().all(Value::is_number))
                }
                other => panic!("metric {name} is not numeric: {other}"),
            }
            if let Some(unit) = m.get("Unit") {
                assert!(UNITS.contains(&unit.as_str().unwrap()), "unit {unit}");
            }
            if let Some(r) = m.get("StorageResolution") {
                assert!(r == 1 || r == 60);
            }
        }
    }
    doc
}

#[tokio::test]
async fn emf_lines_follow_the_specification_and_count_what_the_sinks_saw() {
    // Given the in-memory pipeline reporting EMF lines, and three subscribers (ok, failing, gone)
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(60), 5));
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let kept = lines.clone();
    let emf = EmfMetrics::with_sink("stack-a", move |l| kept.lock().unwrap().push(l.to_owned()));
    let ports = Ports::in_memory(queue.clone()).with_metrics(Arc::new(emf));
    let app = Arc::new(support::app(ports.clone()));
    let dispatcher = Arc::new(Dispatcher::from_settings(ports, support::settings()).unwrap());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let polling = tokio::spawn(poller::run(dispatcher, queue.clone(), stopped));
    create_source(&app, "hipcall-main", "hipcall").await;
    let subs = subscribers(|body| {
        let app = app.clone();
        Box::pin(async move {
            create_subscription(&app, body).await["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
    })
    .await;

    // When calls arrive (one twice) and someone posts to a source that does not exist
    for i in 0..EVENTS {
        let (status, _) = support::post_json(&app, "/hooks/hipcall-main", call_body(i)).await;
        assert_eq!(status, 202);
    }
    let (status, _) = support::post_json(&app, "/hooks/hipcall-main", call_body(0)).await;
    assert_eq!(status, 200);
    let (status, _) = support::post_json(&app, "/hooks/nobody-x", call_body(1)).await;
    assert_eq!(status, 404);

    // Then every line is a valid EMF document, and they count what the sinks received
    let deliveries = |lines: &[String], sub: &str, outcome: &str| {
        lines
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|d| {
                d["Subscription"] == sub && d["Outcome"] == outcome && d["Deliveries"] == 1.0
            })
            .count()
    };
    let (ok, failing, gone) = (&subs[0], &subs[1], &subs[2]);
    let settled = eventually(20, || async {
        let l = lines.lock().unwrap().clone();
        deliveries(&l, &ok.1, "succeeded") == ok.0.count()
            && ok.0.count() == EVENTS
            && deliveries(&l, &failing.1, "exhausted") == EVENTS
            && deliveries(&l, &gone.1, "failed") == gone.0.count()
            && queue.is_empty()
    })
    .await;
    stop.send(true).unwrap();
    polling.await.unwrap();
    let lines = lines.lock().unwrap().clone();
    assert!(settled, "{lines:#?}");
    let docs: Vec<Value> = lines.iter().map(|l| check_emf(l)).collect();
    assert_eq!(deliveries(&lines, &failing.1, "retrying"), EVENTS);
    assert_eq!(failing.0.count(), 2 * EVENTS);
    let count = |pred: &dyn Fn(&Value) -> bool| docs.iter().filter(|d| pred(d)).count();
    assert_eq!(
        count(&|d| d["Events"] == 1.0
            && d["Outcome"] == "accepted"
            && d["Source"] == "hipcall-main"),
        EVENTS
    );
    assert_eq!(count(&|d| d["Outcome"] == "duplicate"), 1);
    assert_eq!(
        count(&|d| d["Outcome"] == "rejected_404" && d["Source"] == "unknown"),
        1
    );
    assert_eq!(
        count(&|d| d["SubscriptionsDisabled"] == 1.0 && d["subscription"] == gone.1.as_str()),
        1
    );
    assert_eq!(count(&|d| d.get("DeliveryLag").is_some()), ok.0.count());
    // every line names its stack; the ids that are no dimensions ride along as properties,
    // the trace id of the ingest request included
    assert!(docs.iter().all(|d| d["Stack"] == "stack-a"));
    assert!(docs
        .iter()
        .filter(|d| d.get("Deliveries").is_some())
        .all(|d| {
            d["event"].is_string()
                && d["attempt"].is_u64()
                && d["call"].is_string()
                && d["trace"].as_str().is_some_and(|t| t.starts_with("1-"))
        }));
    // counts are whole numbers, and no unit is written (bytes are billed)
    let delivery = docs.iter().find(|d| d.get("Deliveries").is_some()).unwrap();
    assert!(delivery["Deliveries"].is_u64(), "{delivery}");
    assert!(!delivery.to_string().contains("Unit"));
}

/// The template as CloudFormation JSON (intrinsics as `{"Fn::Sub": ...}`), through the
/// linter's own YAML loader.
fn template() -> Value {
    let python = PathBuf::from(WORKSPACE).join(".venv/bin/python");
    let out = std::process::Command::new(python)
        .args(["-c", "import json,sys; from cfnlint.decode import cfn_yaml; print(json.dumps(cfn_yaml.load(sys.argv[1]), default=str))"])
        .arg(PathBuf::from(WORKSPACE).join("infra/template.yaml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

type Reference = (String, BTreeSet<String>);

fn sub_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(o) => match &o["Fn::Sub"] {
            Value::String(s) => s.clone(),
            Value::Array(a) => a[0].as_str().unwrap().to_owned(),
            other => panic!("{other}"),
        },
        other => panic!("{other}"),
    }
}

/// `{Switchboard,Stack,Source} MetricName="Events"` (a SEARCH) → (Events, {Stack, Source}).
fn search_reference(expr: &str) -> Option<Reference> {
    let schema = expr.split_once('{')?.1.split_once('}')?.0;
    let mut parts = schema.split(',').map(str::trim);
    if parts.next()? != emf::NAMESPACE {
        return None;
    }
    let dims = parts.map(str::to_owned).collect();
    let name = expr.split_once("MetricName=\"")?.1.split_once('"')?.0;
    Some((name.to_owned(), dims))
}

/// `SELECT AVG(DeliveryFailed) FROM SCHEMA(Switchboard, Stack, Subscription)` (Metrics Insights).
fn insights_reference(expr: &str) -> Option<Reference> {
    let name = expr
        .split_once("SELECT")?
        .1
        .split_once('(')?
        .1
        .split_once(')')?
        .0
        .trim();
    let schema = expr.split_once("SCHEMA(")?.1.split_once(')')?.0;
    let mut parts = schema.split(',').map(str::trim);
    if parts.next()? != emf::NAMESPACE {
        return None;
    }
    Some((name.to_owned(), parts.map(str::to_owned).collect()))
}

/// Every Switchboard metric (and its dimensions) the template's alarms and dashboard read.
fn template_references(template: &Value) -> Vec<Reference> {
    let mut refs = Vec::new();
    for (name, r) in template["Resources"].as_object().unwrap() {
        let p = &r["Properties"];
        match r["Type"].as_str().unwrap() {
            "AWS::CloudWatch::Alarm" => {
                if p["Namespace"] == emf::NAMESPACE {
                    let dims = p["Dimensions"].as_array().unwrap().iter();
                    let dims = dims
                        .map(|d| d["Name"].as_str().unwrap().to_owned())
                        .collect();
                    refs.push((p["MetricName"].as_str().unwrap().to_owned(), dims));
                }
                for m in p["Metrics"].as_array().into_iter().flatten() {
                    if let Some(e) = m.get("Expression") {
                        let text = sub_text(e);
                        let found = insights_reference(&text).or_else(|| search_reference(&text));
                        refs.push(found.unwrap_or_else(|| panic!("{name}: cannot read {text}")));
                    }
                }
            }
            "AWS::CloudWatch::Dashboard" => {
                let mut body = sub_text(&p["DashboardBody"]);
                while let Some(start) = body.find("${") {
                    let end = start + body[start..].find('}').unwrap();
                    body.replace_range(start..=end, "X");
                }
                let body: Value = serde_json::from_str(&body).unwrap();
                for w in body["widgets"].as_array().unwrap() {
                    for line in w["properties"]["metrics"].as_array().into_iter().flatten() {
                        let line = line.as_array().unwrap();
                        if let Some(e) = line[0].get("expression") {
                            let e = e.as_str().unwrap();
                            refs.extend(insights_reference(e).or_else(|| search_reference(e)));
                        } else if line[0] == emf::NAMESPACE {
                            let dims = line[2..].iter().step_by(2).filter_map(Value::as_str);
                            let dims = dims.map(str::to_owned).collect();
                            refs.push((line[1].as_str().unwrap().to_owned(), dims));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    refs
}

/// What the code emits: every (metric, dimension set) of the EMF documents of every kind
/// of observation.
fn emitted() -> BTreeSet<Reference> {
    let attempt = |status: &str| -> Attempt {
        serde_json::from_value(json!({
            "event_id": "evt_1", "subscription_id": "sub_1", "attempt": 1, "status": status,
            "trigger": "initial", "url": "https://crm.example/x", "method": "POST",
            "request_headers": {}, "duration_ms": 12, "attempted_at": "2026-11-21T06:09:54Z",
            "source": "hipcall-main", "event_type": "call.ended", "call_id": "c1"
        }))
        .unwrap()
    };
    let (ok, retrying, held) = (attempt("succeeded"), attempt("retrying"), attempt("held"));
    let observations = [
        Observation::Event {
            source: "s",
            outcome: EventOutcome::Accepted,
            event_id: Some("evt_1"),
            unparsed: true,
        },
        Observation::Delivery {
            attempt: &ok,
            lag: Some(Duration::from_millis(5)),
            trace: Some("1-5759e988-bd862e3fe1be46a994272793"),
            hold: None,
        },
        Observation::Delivery {
            attempt: &retrying,
            lag: None,
            trace: None,
            hold: None,
        },
        Observation::Delivery {
            attempt: &held,
            lag: None,
            trace: None,
            hold: Some(Hold {
                reason: HoldReason::Ordering,
                wait: Duration::from_millis(250),
            }),
        },
        Observation::SubscriptionDisabled {
            subscription: "sub_1",
        },
    ];
    let mut out = BTreeSet::new();
    for o in &observations {
        let doc = emf::document(o, "stack-a", chrono::Utc::now());
        for d in doc["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            for set in d["Dimensions"].as_array().unwrap() {
                let dims: BTreeSet<String> = set
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|k| k.as_str().unwrap().to_owned())
                    .collect();
                for m in d["Metrics"].as_array().unwrap() {
                    out.insert((m["Name"].as_str().unwrap().to_owned(), dims.clone()));
                }
            }
        }
    }
    out
}

#[test]
fn every_metric_the_dashboard_and_alarms_read_is_emitted_with_those_dimensions() {
    let refs = template_references(&template());
    let emitted = emitted();
    // the dashboard and the three alarms read at least these many series
    assert!(refs.len() >= 12, "{refs:?}");
    for r in &refs {
        assert!(
            emitted.contains(r),
            "the template reads {r:?}, which the code does not emit; it emits {emitted:?}"
        );
    }
    // and the catalogue documents exactly what is emitted
    let catalogue: BTreeSet<Reference> = emf::CATALOGUE
        .iter()
        .flat_map(|m| {
            m.dimensions.iter().map(|d| {
                (
                    m.name.to_owned(),
                    d.iter().map(|k| (*k).to_owned()).collect(),
                )
            })
        })
        .collect();
    assert_eq!(catalogue, emitted);
}
