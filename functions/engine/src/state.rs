//! The set of ports a handler works with, built once at start-up by the composition root
//! (`switchboard-core`'s `state`), which knows the adapters.

use crate::metrics::{Metrics, NoMetrics};
use crate::ports::{
    DeadLetterQueue, DedupStore, DeliveryQueries, DeliveryStore, EventQueries, EventQueue,
    EventStore, FlowStore, SourceStore, SubscriptionStore,
};
use std::sync::Arc;

#[derive(Clone)]
pub struct Ports {
    pub queue: Arc<dyn EventQueue>,
    pub sources: Arc<SourceStore>,
    pub subscriptions: Arc<SubscriptionStore>,
    pub events: Arc<dyn EventStore>,
    pub deliveries: Arc<dyn DeliveryStore>,
    pub dedup: Arc<dyn DedupStore>,
    /// Ops listings over the events store (the same data as `events`).
    pub event_queries: Arc<dyn EventQueries>,
    /// Ops listings over the deliveries store (the same data as `deliveries`).
    pub delivery_queries: Arc<dyn DeliveryQueries>,
    /// Call lanes and rate slots (ordering and rate limits), shared by every dispatcher.
    pub flow: Arc<dyn FlowStore>,
    /// Where the events queue puts what it gives up on.
    pub dead_letters: Arc<dyn DeadLetterQueue>,
    /// Where ingest and dispatch report what happened (no-op unless wired: EMF lines under
    /// Lambda, Prometheus under `serve`).
    pub metrics: Arc<dyn Metrics>,
}

impl Ports {
    /// These ports reporting to `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<dyn Metrics>) -> Self {
        self.metrics = metrics;
        self
    }
}

/// The sink of ports built without one.
pub fn no_metrics() -> Arc<dyn Metrics> {
    Arc::new(NoMetrics)
}
