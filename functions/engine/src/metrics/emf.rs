//! CloudWatch Embedded Metric Format: one JSON log line per observation, which CloudWatch
//! Logs turns into metrics of namespace [`NAMESPACE`] (no `PutMetricData` call, nothing
//! added to a webhook's or a delivery's latency). The ids that would make too many metrics
//! as dimensions (event id, call id, attempt) are plain properties of the line: searchable
//! in Logs Insights, not billed as metrics.
//!
//! Dimensions, chosen for cost (each distinct combination is a billed custom metric). Every
//! set starts with `Stack` (the CloudFormation stack name), so two stacks in one account
//! (staging, production) never add up in one series; it multiplies nothing within a stack.
//! - `Events` by `Source` × `Outcome`: sources are few (one per provider account), outcomes
//!   a handful; an unknown source is `unknown`, never the caller's path segment;
//! - `UnparsedBodies` by `Source`;
//! - `Deliveries` by `Subscription` × `Outcome` (which subscriber fails, and how; the
//!   dashboard's totals and the exhausted alarm add the subscriptions up with a Metrics
//!   Insights `SUM`; retries scheduled are its `retrying` outcome);
//! - `DeliveryFailed` (1 failed, 0 succeeded: its average is the failure ratio) and
//!   `DeliveryDuration` by `Subscription`;
//! - `DeliveriesHeld` (deferred by call ordering or a rate limit) by `Subscription` ×
//!   `Reason`, and `HoldWait` (how long until the deferred delivery's next look) by `Reason`;
//! - `DeliveryLag`, `SubscriptionsDisabled` by `Stack` alone (the subscription id is in the
//!   line for Logs Insights).
//!
//! Every line is log ingestion billed per byte, the delivery line most of all (one per
//! attempt): its properties have short names (`event`, `call`, `attempt`, `http`, `trace`),
//! whole numbers are written without a fraction, and no `Unit` is written (CloudWatch sums,
//! averages and percentiles a unit-less metric the same; [`MetricSpec::unit`] says what the
//! values are: counts, or milliseconds for durations).

use super::{Metrics, Observation};
use crate::domain::time::{now, Timestamp};
use serde_json::{json, Map, Value};
use std::io::Write;

pub const NAMESPACE: &str = "Switchboard";

pub const COUNT: &str = "Count";

/// A metric the code emits: its name, the unit of its values (documentation: the lines
/// leave it out) and the dimension sets it is published under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricSpec {
    pub name: &'static str,
    pub unit: &'static str,
    pub dimensions: &'static [&'static [&'static str]],
}

pub const EVENTS: MetricSpec = MetricSpec {
    name: "Events",
    unit: COUNT,
    dimensions: &[&["Stack", "Source", "Outcome"]],
};
pub const UNPARSED_BODIES: MetricSpec = MetricSpec {
    name: "UnparsedBodies",
    unit: COUNT,
    dimensions: &[&["Stack", "Source"]],
};
pub const DELIVERIES: MetricSpec = MetricSpec {
    name: "Deliveries",
    unit: COUNT,
    dimensions: &[&["Stack", "Subscription", "Outcome"]],
};
pub const DELIVERY_FAILED: MetricSpec = MetricSpec {
    name: "DeliveryFailed",
    unit: COUNT,
    dimensions: &[&["Stack", "Subscription"]],
};
pub const DELIVERY_DURATION: MetricSpec = MetricSpec {
    name: "DeliveryDuration",
    unit: "Milliseconds",
    dimensions: &[&["Stack", "Subscription"]],
};
pub const DELIVERY_LAG: MetricSpec = MetricSpec {
    name: "DeliveryLag",
    unit: "Milliseconds",
    dimensions: &[&["Stack"]],
};
pub const DELIVERIES_HELD: MetricSpec = MetricSpec {
    name: "DeliveriesHeld",
    unit: COUNT,
    dimensions: &[&["Stack", "Subscription", "Reason"]],
};
pub const HOLD_WAIT: MetricSpec = MetricSpec {
    name: "HoldWait",
    unit: "Milliseconds",
    dimensions: &[&["Stack", "Reason"]],
};
pub const SUBSCRIPTIONS_DISABLED: MetricSpec = MetricSpec {
    name: "SubscriptionsDisabled",
    unit: COUNT,
    dimensions: &[&["Stack"]],
};

/// Every metric of the namespace (the drift test checks the template against it).
pub const CATALOGUE: &[MetricSpec] = &[
    EVENTS,
    UNPARSED_BODIES,
    DELIVERIES,
    DELIVERY_FAILED,
    DELIVERY_DURATION,
    DELIVERY_LAG,
    DELIVERIES_HELD,
    HOLD_WAIT,
    SUBSCRIPTIONS_DISABLED,
];

/// The EMF document of one observation of stack `stack`, as of `at`.
pub fn document(observation: &Observation<'_>, stack: &str, at: Timestamp) -> Value {
    let mut doc = Document::default();
    doc.dimension("Stack", stack);
    match *observation {
        Observation::Event {
            source,
            outcome,
            event_id,
            unparsed,
        } => {
            doc.dimension("Source", source);
            doc.dimension("Outcome", &outcome.label());
            doc.metric(EVENTS, 1);
            if unparsed {
                doc.metric(UNPARSED_BODIES, 1);
            }
            if let Some(id) = event_id {
                doc.property("event", id);
            }
        }
        Observation::Delivery {
            attempt,
            lag,
            trace,
            hold,
        } => {
            doc.dimension("Subscription", &attempt.subscription_id);
            doc.dimension("Outcome", attempt.status.as_str());
            doc.metric(DELIVERIES, 1);
            if let Some(hold) = hold {
                doc.dimension("Reason", hold.reason.label());
                doc.metric(DELIVERIES_HELD, 1);
                doc.metric(HOLD_WAIT, millis(hold.wait));
            } else {
                let failed = Observation::failed(attempt.status);
                doc.metric(DELIVERY_FAILED, u64::from(failed));
                doc.metric(DELIVERY_DURATION, attempt.duration_ms);
            }
            if let Some(lag) = lag {
                doc.metric(DELIVERY_LAG, millis(lag));
            }
            doc.property("event", attempt.event_id.as_str());
            doc.property("attempt", attempt.attempt);
            if let Some(call) = &attempt.call_id {
                doc.property("call", call.as_str());
            }
            if let Some(status) = attempt.http_status {
                doc.property("http", status);
            }
            if let Some(trace) = trace {
                doc.property("trace", trace);
            }
        }
        Observation::SubscriptionDisabled { subscription } => {
            doc.metric(SUBSCRIPTIONS_DISABLED, 1);
            doc.property("subscription", subscription);
        }
    }
    doc.finish(at)
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Collects the root members and one directive per dimension-set group.
#[derive(Default)]
struct Document {
    root: Map<String, Value>,
    /// (dimension sets, metrics published under them), in first-use order.
    directives: Vec<(&'static [&'static [&'static str]], Vec<Value>)>,
}

impl Document {
    fn dimension(&mut self, key: &str, value: &str) {
        self.root.insert(key.to_owned(), json!(value));
    }

    fn property(&mut self, key: &str, value: impl Into<Value>) {
        self.root.insert(key.to_owned(), value.into());
    }

    /// A whole-number value (counts, milliseconds), written without a fraction.
    fn metric(&mut self, spec: MetricSpec, value: u64) {
        self.root.insert(spec.name.to_owned(), json!(value));
        let definition = json!({ "Name": spec.name });
        match self
            .directives
            .iter_mut()
            .find(|(dims, _)| *dims == spec.dimensions)
        {
            Some((_, metrics)) => metrics.push(definition),
            None => self.directives.push((spec.dimensions, vec![definition])),
        }
    }

    fn finish(mut self, at: Timestamp) -> Value {
        let directives: Vec<Value> = self
            .directives
            .into_iter()
            .map(|(dims, metrics)| {
                json!({"Namespace": NAMESPACE, "Dimensions": dims, "Metrics": metrics})
            })
            .collect();
        self.root.insert(
            "_aws".to_owned(),
            json!({"Timestamp": at.timestamp_millis(), "CloudWatchMetrics": directives}),
        );
        Value::Object(self.root)
    }
}

type Sink = Box<dyn Fn(&str) + Send + Sync>;

/// EMF lines written to a sink: standard output under Lambda (its log stream).
pub struct EmfMetrics {
    stack: String,
    sink: Sink,
}

impl EmfMetrics {
    /// One line per observation on standard output, written whole (one locked write), so
    /// it never interleaves with a log line.
    pub fn stdout(stack: &str) -> Self {
        Self::with_sink(stack, |line| {
            let mut out = std::io::stdout().lock();
            // A closed stdout loses a metric, never a webhook.
            let _ = out.write_all(format!("{line}\n").as_bytes());
            let _ = out.flush();
        })
    }

    pub fn with_sink(stack: &str, sink: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Self {
            stack: stack.to_owned(),
            sink: Box::new(sink),
        }
    }
}

impl Metrics for EmfMetrics {
    fn observe(&self, observation: &Observation<'_>) {
        (self.sink)(&document(observation, &self.stack, now()).to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Attempt;
    use crate::metrics::{Hold, HoldReason};
    use std::time::Duration;

    fn attempt(status: &str) -> Attempt {
        serde_json::from_value(json!({
            "event_id": "evt_01M7YBKGPTFE13PYRDH12WDY7R",
            "subscription_id": "sub_01M7YBKGPTFE13PYRDH12WDY7R", "attempt": 1,
            "status": status, "trigger": "initial", "url": "https://crm.example.com/hook",
            "method": "POST", "request_headers": {}, "http_status": 200, "duration_ms": 120,
            "attempted_at": "2026-11-21T06:09:54Z", "source": "hipcall-main",
            "event_type": "call.ended", "call_id": "2483a75a-56a2-41f1-991b-92b1667e324a"
        }))
        .unwrap()
    }

    fn line(o: &Observation<'_>) -> String {
        let at = "2026-11-21T06:09:55Z".parse().unwrap();
        document(o, "switchboard-prod", at).to_string()
    }

    /// The delivery line, one per attempt, is most of the metrics' log bill: 790 B before
    /// its names were shortened and its duplicates dropped (without a trace id).
    #[test]
    fn the_delivery_line_stays_small() {
        let a = attempt("succeeded");
        let ok = Observation::Delivery {
            attempt: &a,
            lag: Some(Duration::from_millis(900)),
            trace: Some("1-5759e988-bd862e3fe1be46a994272793"),
            hold: None,
        };
        let text = line(&ok);
        println!("{} B: {text}", text.len() + 1);
        assert!(text.len() < 730, "{} B: {text}", text.len());
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["Deliveries"], 1);
        assert_eq!(doc["DeliveryFailed"], 0);
        assert_eq!(doc["DeliveryLag"], 900);
        assert_eq!(doc["trace"], "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(doc["event"], "evt_01M7YBKGPTFE13PYRDH12WDY7R");
        assert!(!text.contains("Unit"), "no unit is written");
    }

    /// A deferral is no attempt: it counts as held, with its wait, and neither in the
    /// failure ratio nor in the attempts' durations.
    #[test]
    fn a_hold_is_counted_by_reason_and_not_as_an_attempt() {
        let a = attempt("held");
        let held = Observation::Delivery {
            attempt: &a,
            lag: None,
            trace: None,
            hold: Some(Hold {
                reason: HoldReason::OrderingWindow,
                wait: Duration::from_millis(1500),
            }),
        };
        let doc: Value = serde_json::from_str(&line(&held)).unwrap();
        assert_eq!(doc["DeliveriesHeld"], 1);
        assert_eq!(doc["HoldWait"], 1500);
        assert_eq!(doc["Reason"], "ordering_window");
        assert!(doc.get("DeliveryFailed").is_none() && doc.get("DeliveryDuration").is_none());
        assert!(doc.get("trace").is_none());
    }
}
