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
use prometheus_client::registry::{Registry, Unit};
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
        let mut registry = Registry::with_prefix("switchboard");
        let events = Family::<SourceOutcome, Counter>::default();
        registry.register(
            "events",
            "Webhooks answered, by source and outcome (accepted, duplicate, rejected_<status>)",
            events.clone(),
        );
        let unparsed = Family::<SourceLabel, Counter>::default();
        registry.register(
            "unparsed_bodies",
            "Webhooks accepted whose body could not be parsed (kept raw)",
            unparsed.clone(),
        );
        let deliveries = Family::<SubscriptionOutcome, Counter>::default();
        registry.register(
            "deliveries",
            "Delivery attempts on record, by subscription and outcome (succeeded, retrying, exhausted, failed)",
            deliveries.clone(),
        );
        let duration: HistogramFamily<SubscriptionLabel> =
            Family::new_with_constructor(seconds_histogram);
        registry.register_with_unit(
            "delivery_duration",
            "Time of one delivery attempt's HTTP request, by subscription",
            Unit::Seconds,
            duration.clone(),
        );
        let lag = seconds_histogram();
        registry.register_with_unit(
            "delivery_lag",
            "From the webhook's arrival to its successful delivery",
            Unit::Seconds,
            lag.clone(),
        );
        let retries = Family::<SubscriptionLabel, Counter>::default();
        registry.register(
            "retries_scheduled",
            "Failed attempts with another attempt scheduled",
            retries.clone(),
        );
        let disabled = Family::<SubscriptionLabel, Counter>::default();
        registry.register(
            "subscriptions_disabled",
            "Subscriptions disabled by dispatch (410 Gone, or failing for too long)",
            disabled.clone(),
        );
        let held = Family::<SubscriptionReason, Counter>::default();
        registry.register(
            "deliveries_held",
            "Deliveries put back on the queue by flow control, by subscription and reason (ordering_window, ordering, rate_limit)",
            held.clone(),
        );
        let hold_wait: HistogramFamily<ReasonLabel> =
            Family::new_with_constructor(seconds_histogram);
        registry.register_with_unit(
            "hold_wait",
            "How long a deferred delivery waits until its next look, by reason",
            Unit::Seconds,
            hold_wait.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Messages in the local queue (new events, retries and replays, delayed ones included)",
            queue_depth.clone(),
        );
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
