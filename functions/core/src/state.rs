//! The composition root: [`Ports`] built over each adapter family (memory, SQLite, AWS),
//! and the SDK configuration the AWS adapters use.

use crate::config::{AwsResources, Settings};
use std::sync::Arc;
use switchboard_adapters_aws::{
    DynamoConfigStore, DynamoDedupStore, DynamoDeliveryStore, DynamoEventStore, DynamoFlowStore,
    SqsDeadLetterQueue, SqsQueue,
};
use switchboard_adapters_memory::{
    MemoryConfigStore, MemoryDedupStore, MemoryDeliveryStore, MemoryEventStore, MemoryFlowStore,
    MemoryLimits, MemoryQueue,
};

pub use switchboard_engine::state::Ports;

/// How [`Ports`] are put together for each adapter family. A trait because `Ports` belongs
/// to the engine, which knows no adapter: bring it into scope (`use ...::state::Compose`)
/// and call `Ports::in_memory(..)`, `Ports::aws(..)` or `Ports::sqlite(..)`.
pub trait Compose: Sized {
    /// Everything in memory, around the given queue (whose consumer side the caller drives).
    fn in_memory(queue: Arc<MemoryQueue>) -> Self;
    /// Everything in memory, keeping at most `limits` events and attempts (oldest dropped
    /// first): `serve --memory`.
    fn in_memory_bounded(queue: Arc<MemoryQueue>, limits: MemoryLimits) -> Self;
    /// SQS and DynamoDB, from one SDK configuration (built once at cold start).
    fn aws(sdk: &aws_config::SdkConfig, names: &AwsResources) -> Self;
    /// Every port on one SQLite store, around the given queue (whose consumer side the
    /// caller drives).
    #[cfg(feature = "sqlite")]
    fn sqlite(queue: Arc<switchboard_adapters_sqlite::SqliteQueue>) -> Self;
}

impl Compose for Ports {
    /// Everything in memory, around the given queue (whose consumer side the caller drives).
    fn in_memory(queue: Arc<MemoryQueue>) -> Self {
        Self::in_memory_bounded(queue, MemoryLimits::UNBOUNDED)
    }

    fn in_memory_bounded(queue: Arc<MemoryQueue>, limits: MemoryLimits) -> Self {
        let events = Arc::new(MemoryEventStore::with_limit(limits.events));
        let deliveries = Arc::new(MemoryDeliveryStore::with_limit(limits.attempts));
        Self {
            queue: queue.clone(),
            dead_letters: queue,
            sources: Arc::new(MemoryConfigStore::default()),
            subscriptions: Arc::new(MemoryConfigStore::default()),
            events: events.clone(),
            deliveries: deliveries.clone(),
            dedup: Arc::new(MemoryDedupStore::default()),
            event_queries: events,
            delivery_queries: deliveries,
            metrics: switchboard_engine::state::no_metrics(),
            flow: Arc::new(MemoryFlowStore::default()),
        }
    }

    /// SQS and DynamoDB, from one SDK configuration (built once at cold start).
    fn aws(sdk: &aws_config::SdkConfig, names: &AwsResources) -> Self {
        aws_ports(
            aws_sdk_dynamodb::Client::new(sdk),
            aws_sdk_sqs::Client::new(sdk),
            names,
        )
    }

    #[cfg(feature = "sqlite")]
    fn sqlite(queue: Arc<switchboard_adapters_sqlite::SqliteQueue>) -> Self {
        switchboard_adapters_sqlite::ports(queue)
    }
}

/// The AWS ports with every DynamoDB and SQS request recorded in `log` (the cost model's
/// measurement, `switchboard-bench cost`).
pub fn metered_aws_ports(
    sdk: &aws_config::SdkConfig,
    names: &AwsResources,
    log: &switchboard_adapters_aws::metering::RequestLog,
) -> Ports {
    let ddb = aws_sdk_dynamodb::config::Builder::from(sdk)
        .interceptor(log.clone())
        .build();
    let sqs = aws_sdk_sqs::config::Builder::from(sdk)
        .interceptor(log.clone())
        .build();
    aws_ports(
        aws_sdk_dynamodb::Client::from_conf(ddb),
        aws_sdk_sqs::Client::from_conf(sqs),
        names,
    )
}

fn aws_ports(
    ddb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    names: &AwsResources,
) -> Ports {
    let events = Arc::new(DynamoEventStore::new(ddb.clone(), &names.events_table));
    let deliveries = Arc::new(DynamoDeliveryStore::new(
        ddb.clone(),
        &names.deliveries_table,
        &names.events_table,
    ));
    Ports {
        queue: Arc::new(SqsQueue::new(sqs.clone(), &names.queue_url)),
        dead_letters: Arc::new(SqsDeadLetterQueue::new(
            sqs,
            names.dead_letter_queue_url.clone(),
            &names.queue_url,
        )),
        sources: Arc::new(DynamoConfigStore::new(ddb.clone(), &names.sources_table)),
        subscriptions: Arc::new(DynamoConfigStore::new(
            ddb.clone(),
            &names.subscriptions_table,
        )),
        events: events.clone(),
        deliveries: deliveries.clone(),
        dedup: Arc::new(DynamoDedupStore::new(ddb.clone(), &names.dedup_table)),
        event_queries: events,
        delivery_queries: deliveries,
        metrics: switchboard_engine::state::no_metrics(),
        flow: Arc::new(DynamoFlowStore::new(ddb, &names.flow_table)),
    }
}

/// The SDK configuration of a Lambda function, built from what Lambda provides and nothing
/// else: the region (`AWS_REGION`) and the execution role's credentials (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) from the environment, `AWS_ENDPOINT_URL`
/// when set (the emulator), the HTTPS client of [`crate::tls`], the operation and attempt
/// timeouts of `settings`, and the SDK's defaults for retries and sleeping. Not calling
/// [`aws_config::ConfigLoader::load`] keeps the default provider chains (profile files, SSO,
/// STS, IMDS, ECS) out of the Lambda packages: about 0.1 MiB of each zip and some file reads
/// at cold start (docs/performance.md).
pub fn lambda_sdk_config(settings: &Settings) -> aws_config::SdkConfig {
    lambda_sdk_config_from(|k| std::env::var(k).ok(), settings)
}

/// [`lambda_sdk_config`] over any environment lookup (credentials still come from the
/// process environment, read when a request is signed).
pub fn lambda_sdk_config_from(
    get: impl Fn(&str) -> Option<String>,
    settings: &Settings,
) -> aws_config::SdkConfig {
    use aws_config::environment::EnvironmentVariableCredentialsProvider;
    use aws_credential_types::provider::SharedCredentialsProvider;
    let nonempty = |k: &str| get(k).filter(|v| !v.trim().is_empty());
    let region = nonempty("AWS_REGION")
        .or_else(|| nonempty("AWS_DEFAULT_REGION"))
        .map(aws_config::Region::new);
    let mut builder = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(region)
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .http_client(crate::tls::sdk_http_client())
        .timeout_config(sdk_timeouts(settings));
    if let Some(url) = nonempty("AWS_ENDPOINT_URL") {
        builder = builder.endpoint_url(url);
    }
    builder.build()
}

/// Every SDK call of a function ends within its operation timeout, so that a slow AWS answer
/// becomes an error the handler deals with (ingest answers 503 and frees its claim) before the
/// function's own timeout kills the invocation with the work half done. The SDK's default
/// connect timeout (3.1 s) is bounded by the attempt timeout.
fn sdk_timeouts(settings: &Settings) -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .operation_timeout(settings.aws_operation_timeout)
        .operation_attempt_timeout(settings.aws_attempt_timeout)
        .connect_timeout(settings.aws_attempt_timeout)
        .build()
}

/// Loads the SDK configuration the usual way (environment, profile, instance role), with
/// the HTTPS client of [`crate::tls`]. `AWS_ENDPOINT_URL` points every client at an emulator.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(crate::tls::sdk_http_client())
        .load()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_sdk_config_reads_region_and_endpoint_only() {
        let env = |k: &str| match k {
            "AWS_REGION" => Some("eu-west-1".to_owned()),
            "AWS_ENDPOINT_URL" => Some("http://127.0.0.1:4566".to_owned()),
            _ => None,
        };
        let settings = Settings::default();
        let sdk = lambda_sdk_config_from(env, &settings);
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(sdk.endpoint_url(), Some("http://127.0.0.1:4566"));
        assert!(sdk.credentials_provider().is_some());
        assert!(sdk.http_client().is_some());

        let sdk = lambda_sdk_config_from(
            |k| (k == "AWS_DEFAULT_REGION").then(|| "us-east-1".into()),
            &settings,
        );
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("us-east-1"));
        assert_eq!(sdk.endpoint_url(), None);
    }

    #[test]
    fn lambda_sdk_config_bounds_every_call_by_the_settings_timeouts() {
        let settings = Settings {
            aws_attempt_timeout: std::time::Duration::from_millis(700),
            aws_operation_timeout: std::time::Duration::from_millis(1_900),
            ..Settings::default()
        };
        let sdk = lambda_sdk_config_from(|_| None, &settings);
        let Some(timeouts) = sdk.timeout_config() else {
            panic!("no timeout configuration");
        };
        assert_eq!(
            timeouts.operation_timeout(),
            Some(std::time::Duration::from_millis(1_900))
        );
        assert_eq!(
            timeouts.operation_attempt_timeout(),
            Some(std::time::Duration::from_millis(700))
        );
        assert_eq!(
            timeouts.connect_timeout(),
            Some(std::time::Duration::from_millis(700))
        );
        // The defaults leave room for ingest's three calls inside its 10 s function timeout.
        let d = Settings::default();
        assert!(
            d.aws_operation_timeout * 2 + d.ingest_send_window < std::time::Duration::from_secs(10)
        );
    }
}
