//! `serve`'s metrics sink: the engine's observations as Prometheus series, scraped at
//! `GET /metrics` (admin token). The same meanings as the Lambdas' CloudWatch metrics
//! (`switchboard_core::metrics::emf`), encoded by `prometheus-client` (OpenMetrics text).

use crate::serve::LocalQueue;
use async_trait::async_trait;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Metric, Registry, Unit};
use switchboard_core::metrics::{Metrics, Observation};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceOutcome {
    source: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SubscriptionOutcome {
    subscription: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SubscriptionReason {
    subscription: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SubscriptionLabel {
    subscription: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// 5 ms to about 20 min: a quick subscriber to a delivery held up by retries.
fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 18))
}

/// One [`seconds_histogram`] per label set.
fn seconds_histograms<L: Clone + std::hash::Hash + Eq>() -> HistogramFamily<L> {
    Family::new_with_constructor(seconds_histogram)
}

/// Each series' help text, by name (without the `switchboard_` prefix).
const HELP: &[(&str, &str)] = &[
    ("events", "Webhooks answered, by source and outcome (accepted, duplicate, rejected_<status>)"),
    ("unparsed_bodies", "Webhooks accepted whose body could not be parsed (kept raw)"),
    ("deliveries", "Delivery attempts on record, by subscription and outcome (succeeded, retrying, exhausted, failed)"),
    ("delivery_duration", "Time of one delivery attempt's HTTP request, by subscription"),
    ("delivery_lag", "From the webhook's arrival to its successful delivery"),
    ("retries_scheduled", "Failed attempts with another attempt scheduled"),
    ("subscriptions_disabled", "Subscriptions disabled by dispatch (410 Gone, or failing for too long)"),
    ("deliveries_held", "Deliveries put back on the queue by flow control, by subscription and reason (ordering_window, ordering, rate_limit)"),
    ("hold_wait", "How long a deferred delivery waits until its next look, by reason"),
    ("queue_depth", "Messages in the local queue (new events, retries and replays, delayed ones included)"),
];

/// The registry, each series added with its help text from [`HELP`].
struct Series(Registry);

impl Series {
    fn help(name: &str) -> &'static str {
        let help = HELP.iter().find(|(n, _)| *n == name);
        debug_assert!(help.is_some(), "no help text for the series {name}");
        help.map_or("", |(_, h)| h)
    }

    fn add<M: Metric + Clone>(&mut self, name: &str, metric: M) -> M {
        self.0.register(name, Self::help(name), metric.clone());
        metric
    }

    fn seconds<M: Metric + Clone>(&mut self, name: &str, metric: M) -> M {
        (self.0).register_with_unit(name, Self::help(name), Unit::Seconds, metric.clone());
        metric
    }
}

pub struct PrometheusMetrics {
    registry: Registry,
    events: Family<SourceOutcome, Counter>,
    unparsed: Family<SourceLabel, Counter>,
    deliveries: Family<SubscriptionOutcome, Counter>,
    duration: HistogramFamily<SubscriptionLabel>,
    lag: Histogram,
    retries: Family<SubscriptionLabel, Counter>,
    disabled: Family<SubscriptionLabel, Counter>,
    held: Family<SubscriptionReason, Counter>,
    hold_wait: HistogramFamily<ReasonLabel>,
    queue_depth: Gauge,
    queue: LocalQueue,
}

impl PrometheusMetrics {
    /// Series for one `serve`, whose queue depth is read from `queue` at each scrape.
    pub fn new(queue: LocalQueue) -> Self {
        let mut r = Series(Registry::with_prefix("switchboard"));
        let events = r.add("events", Family::default());
        let unparsed = r.add("unparsed_bodies", Family::default());
        let deliveries = r.add("deliveries", Family::default());
        let duration = r.seconds("delivery_duration", seconds_histograms());
        let lag = r.seconds("delivery_lag", seconds_histogram());
        let retries = r.add("retries_scheduled", Family::default());
        let disabled = r.add("subscriptions_disabled", Family::default());
        let held = r.add("deliveries_held", Family::default());
        let hold_wait = r.seconds("hold_wait", seconds_histograms());
        let queue_depth = r.add("queue_depth", Gauge::default());
        let registry = r.0;
        Self {
            registry,
            events,
            unparsed,
            deliveries,
            duration,
            lag,
            retries,
            disabled,
            held,
            hold_wait,
            queue_depth,
            queue,
        }
    }
}

#[async_trait]
impl Metrics for PrometheusMetrics {
    fn observe(&self, observation: &Observation<'_>) {
        match *observation {
            Observation::Event {
                source,
                outcome,
                unparsed,
                ..
            } => {
                self.events
                    .get_or_create(&SourceOutcome {
                        source: source.to_owned(),
                        outcome: outcome.label().into_owned(),
                    })
                    .inc();
                if unparsed {
                    self.unparsed
                        .get_or_create(&SourceLabel {
                            source: source.to_owned(),
                        })
                        .inc();
                }
            }
            Observation::Delivery {
                attempt, lag, hold, ..
            } => {
                let subscription = SubscriptionLabel {
                    subscription: attempt.subscription_id.clone(),
                };
                self.deliveries
                    .get_or_create(&SubscriptionOutcome {
                        subscription: attempt.subscription_id.clone(),
                        outcome: attempt.status.as_str().to_owned(),
                    })
                    .inc();
                if let Some(hold) = hold {
                    let reason = hold.reason.label().to_owned();
                    self.held
                        .get_or_create(&SubscriptionReason {
                            subscription: attempt.subscription_id.clone(),
                            reason: reason.clone(),
                        })
                        .inc();
                    self.hold_wait
                        .get_or_create(&ReasonLabel { reason })
                        .observe(hold.wait.as_secs_f64());
                } else {
                    self.duration
                        .get_or_create(&subscription)
                        .observe(attempt.duration_ms as f64 / 1000.0);
                }
                if let Some(lag) = lag {
                    self.lag.observe(lag.as_secs_f64());
                }
                if attempt.status == switchboard_core::domain::attempt::AttemptStatus::Retrying {
                    self.retries.get_or_create(&subscription).inc();
                }
            }
            Observation::SubscriptionDisabled { subscription } => {
                self.disabled
                    .get_or_create(&SubscriptionLabel {
                        subscription: subscription.to_owned(),
                    })
                    .inc();
            }
        }
    }

    async fn exposition(&self) -> Option<String> {
        let depth = i64::try_from(self.queue.len().await).unwrap_or(i64::MAX);
        self.queue_depth.set(depth);
        let mut text = String::new();
        match prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            Ok(()) => Some(text),
            Err(e) => {
                tracing::error!(error = %e, "cannot encode the metrics");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;
    use switchboard_core::adapters::memory::MemoryQueue;

    #[test]
    fn every_series_is_registered_with_its_help_text() {
        let queue = Arc::new(MemoryQueue::new(Duration::from_secs(30), 5));
        let m = PrometheusMetrics::new(LocalQueue::Memory(queue));
        // A family shows once it has a label set.
        let (s, o, r) = (String::new, || "x".to_owned(), || "r".to_owned());
        let sub = || SubscriptionLabel { subscription: s() };
        m.events
            .get_or_create(&SourceOutcome {
                source: s(),
                outcome: o(),
            })
            .inc();
        m.unparsed.get_or_create(&SourceLabel { source: s() }).inc();
        let deliveries = SubscriptionOutcome {
            subscription: s(),
            outcome: o(),
        };
        m.deliveries.get_or_create(&deliveries).inc();
        m.duration.get_or_create(&sub()).observe(0.1);
        m.retries.get_or_create(&sub()).inc();
        m.disabled.get_or_create(&sub()).inc();
        m.held
            .get_or_create(&SubscriptionReason {
                subscription: s(),
                reason: r(),
            })
            .inc();
        m.hold_wait
            .get_or_create(&ReasonLabel { reason: r() })
            .observe(0.1);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &m.registry).unwrap();
        for (name, help) in HELP {
            let found = text.lines().any(|l| {
                let rest = l
                    .strip_prefix("# HELP switchboard_")
                    .and_then(|l| l.strip_prefix(name));
                let rest = rest.map(|l| l.strip_prefix("_seconds").unwrap_or(l));
                rest == Some(&format!(" {help}.")[..])
            });
            assert!(found, "{name}: {text}");
        }
        assert_eq!(text.matches("# HELP").count(), HELP.len(), "{text}");
    }
}
