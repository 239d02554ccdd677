//! The set of ports a handler works with, built once at start-up.

use crate::adapters::aws::{
    DynamoConfigStore, DynamoDedupStore, DynamoDeliveryStore, DynamoEventStore, SqsQueue,
};
use crate::adapters::memory::{
    MemoryConfigStore, MemoryDedupStore, MemoryDeliveryStore, MemoryEventStore, MemoryQueue,
};
use crate::config::AwsResources;
use crate::ports::{
    DedupStore, DeliveryQueries, DeliveryStore, EventQueries, EventQueue, EventStore, SourceStore,
    SubscriptionStore,
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
}

impl Ports {
    /// Everything in memory, around the given queue (whose consumer side the caller drives).
    pub fn in_memory(queue: Arc<MemoryQueue>) -> Self {
        let events = Arc::new(MemoryEventStore::default());
        let deliveries = Arc::new(MemoryDeliveryStore::default());
        Self {
            queue,
            sources: Arc::new(MemoryConfigStore::default()),
            subscriptions: Arc::new(MemoryConfigStore::default()),
            events: events.clone(),
            deliveries: deliveries.clone(),
            dedup: Arc::new(MemoryDedupStore::default()),
            event_queries: events,
            delivery_queries: deliveries,
        }
    }

    /// SQS and DynamoDB, from one SDK configuration (built once at cold start).
    pub fn aws(sdk: &aws_config::SdkConfig, names: &AwsResources) -> Self {
        let ddb = aws_sdk_dynamodb::Client::new(sdk);
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let events = Arc::new(DynamoEventStore::new(ddb.clone(), &names.events_table));
        let deliveries = Arc::new(DynamoDeliveryStore::new(
            ddb.clone(),
            &names.deliveries_table,
        ));
        Self {
            queue: Arc::new(SqsQueue::new(sqs, &names.queue_url)),
            sources: Arc::new(DynamoConfigStore::new(ddb.clone(), &names.sources_table)),
            subscriptions: Arc::new(DynamoConfigStore::new(
                ddb.clone(),
                &names.subscriptions_table,
            )),
            events: events.clone(),
            deliveries: deliveries.clone(),
            dedup: Arc::new(DynamoDedupStore::new(ddb, &names.dedup_table)),
            event_queries: events,
            delivery_queries: deliveries,
        }
    }
}

/// Loads the SDK configuration the usual way (environment, profile, instance role), with
/// the HTTPS client of [`crate::tls`]. `AWS_ENDPOINT_URL` points every client at an emulator.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(crate::tls::sdk_http_client())
        .load()
        .await
}
