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
//! - `Deliveries` by `Subscription` × `Outcome` (which subscriber fails, and how) and by
//!   `Outcome` alone (the totals the dashboard and the exhausted alarm read);
//! - `DeliveryFailed` (1 failed, 0 succeeded: its average is the failure ratio) and
//!   `DeliveryDuration` by `Subscription`;
//! - `DeliveryLag`, `RetriesScheduled`, `SubscriptionsDisabled` by `Stack` alone (the
//!   subscription id is in the line for Logs Insights).

use super::{Metrics, Observation};
use crate::domain::attempt::AttemptStatus;
use crate::domain::time::{now, Timestamp};
use serde_json::{json, Map, Value};
use std::io::Write;

pub const NAMESPACE: &str = "Switchboard";

/// A metric the code emits: its name, unit and the dimension sets it is published under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricSpec {
    pub name: &'static str,
    pub unit: &'static str,
    pub dimensions: &'static [&'static [&'static str]],
}

pub const EVENTS: MetricSpec = MetricSpec {
    name: "Events",
    unit: "Count",
    dimensions: &[&["Stack", "Source", "Outcome"]],
};
pub const UNPARSED_BODIES: MetricSpec = MetricSpec {
    name: "UnparsedBodies",
    unit: "Count",
    dimensions: &[&["Stack", "Source"]],
};
pub const DELIVERIES: MetricSpec = MetricSpec {
    name: "Deliveries",
    unit: "Count",
    dimensions: &[&["Stack", "Subscription", "Outcome"], &["Stack", "Outcome"]],
};
pub const DELIVERY_FAILED: MetricSpec = MetricSpec {
    name: "DeliveryFailed",
    unit: "Count",
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
pub const RETRIES_SCHEDULED: MetricSpec = MetricSpec {
    name: "RetriesScheduled",
    unit: "Count",
    dimensions: &[&["Stack"]],
};
pub const SUBSCRIPTIONS_DISABLED: MetricSpec = MetricSpec {
    name: "SubscriptionsDisabled",
    unit: "Count",
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
    RETRIES_SCHEDULED,
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
            doc.metric(EVENTS, 1.0);
            if unparsed {
                doc.metric(UNPARSED_BODIES, 1.0);
            }
            if let Some(id) = event_id {
                doc.property("event_id", id);
            }
        }
        Observation::Delivery { attempt, lag } => {
            doc.dimension("Subscription", &attempt.subscription_id);
            doc.dimension("Outcome", attempt.status.as_str());
            doc.metric(DELIVERIES, 1.0);
            let failed = Observation::failed(attempt.status);
            doc.metric(DELIVERY_FAILED, if failed { 1.0 } else { 0.0 });
            doc.metric(DELIVERY_DURATION, attempt.duration_ms as f64);
            if let Some(lag) = lag {
                doc.metric(DELIVERY_LAG, lag.as_millis() as f64);
            }
            if attempt.status == AttemptStatus::Retrying {
                doc.metric(RETRIES_SCHEDULED, 1.0);
            }
            doc.property("event_id", attempt.event_id.as_str());
            doc.property("attempt", attempt.attempt);
            if let Some(call) = &attempt.call_id {
                doc.property("call_id", call.as_str());
            }
            if let Some(status) = attempt.http_status {
                doc.property("http_status", status);
            }
        }
        Observation::SubscriptionDisabled { subscription } => {
            doc.metric(SUBSCRIPTIONS_DISABLED, 1.0);
            doc.property("subscription_id", subscription);
        }
    }
    doc.finish(at)
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

    fn metric(&mut self, spec: MetricSpec, value: f64) {
        self.root.insert(spec.name.to_owned(), json!(value));
        let definition = json!({"Name": spec.name, "Unit": spec.unit});
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
