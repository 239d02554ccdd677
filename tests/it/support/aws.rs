//! Resources on the emulator: random queue and table names per test, so tests run in
//! parallel. The key schemas mirror infra/template.yaml.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use aws_sdk_sqs::types::QueueAttributeName;
use std::time::Duration;
use switchboard_core::adapters::aws::SqsQueue;
use switchboard_core::config::AwsResources;
use switchboard_core::dispatch::Dispatcher;

/// The emulator's SDK configuration. A missing emulator is a failure, never a skip.
pub async fn sdk() -> aws_config::SdkConfig {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    assert!(
        endpoint.starts_with("http://127.0.0.1") || endpoint.starts_with("http://localhost"),
        "AWS_ENDPOINT_URL must point at the local emulator (got {endpoint:?}); run ./scripts/test, which starts it"
    );
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// Environment lookups for service config that find nothing, so an SDK config can point at
/// another endpoint than `AWS_ENDPOINT_URL` (which otherwise wins over `endpoint_url`).
#[derive(Debug)]
struct NoEnvironment;

impl aws_types::service_config::LoadServiceConfig for NoEnvironment {
    fn load_config(&self, _: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        None
    }
}

/// The emulator's SDK configuration, pointed at another emulator on `endpoint`.
pub async fn sdk_at(endpoint: &str) -> aws_config::SdkConfig {
    sdk()
        .await
        .to_builder()
        .endpoint_url(endpoint)
        .service_config(NoEnvironment)
        .build()
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase())
}

pub struct Gsi {
    pub name: &'static str,
    pub hash: &'static str,
    pub range: &'static str,
    /// `None`: keys only; else the non-key attributes projected (as the template says).
    pub include: Option<&'static [&'static str]>,
}

/// One element of a key schema.
fn key(attribute: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(attribute)
        .key_type(key_type)
        .build()
        .unwrap()
}

pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    hash: &str,
    range: Option<&str>,
    gsis: &[Gsi],
) {
    let mut attrs: Vec<&str> = vec![hash];
    attrs.extend(range);
    for g in gsis {
        attrs.push(g.hash);
        attrs.push(g.range);
    }
    attrs.sort();
    attrs.dedup();
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(hash, KeyType::Hash));
    if let Some(r) = range {
        req = req.key_schema(key(r, KeyType::Range));
    }
    for a in attrs {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(a)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        );
    }
    for g in gsis {
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(g.name)
                .key_schema(key(g.hash, KeyType::Hash))
                .key_schema(key(g.range, KeyType::Range))
                .projection(match g.include {
                    None => Projection::builder()
                        .projection_type(ProjectionType::KeysOnly)
                        .build(),
                    Some(attrs) => Projection::builder()
                        .projection_type(ProjectionType::Include)
                        .set_non_key_attributes(Some(
                            attrs.iter().map(|a| (*a).to_owned()).collect(),
                        ))
                        .build(),
                })
                .build()
                .unwrap(),
        );
    }
    req.send().await.unwrap();
    wait_active(client, name).await;
}

/// Waits until a new table is ACTIVE: like DynamoDB, a stricter emulator (dynalite) keeps
/// it CREATING for a moment after CreateTable and refuses writes meanwhile.
pub async fn wait_active(client: &aws_sdk_dynamodb::Client, name: &str) {
    for _ in 0..600 {
        let out = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .unwrap();
        let status = out.table.and_then(|t| t.table_status);
        if status == Some(aws_sdk_dynamodb::types::TableStatus::Active) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("table {name} did not become ACTIVE within 30 s");
}

/// A fresh queue (visibility `visibility_secs`) and the six tables.
/// A fresh stack on the emulator and an app over it: the SDK configuration, the resources'
/// names, the AWS ports over them and the app (a tuple: each test binds it in one line).
pub struct Stack(
    pub aws_config::SdkConfig,
    pub AwsResources,
    pub switchboard_core::state::Ports,
    pub switchboard_core::api::App,
);

/// [`resources`] with queue visibility `visibility_secs`, the AWS ports over them and an
/// admin-and-ingest app on those ports.
pub async fn stack(visibility_secs: u32) -> Stack {
    use switchboard_core::state::Compose;
    let sdk = sdk().await;
    let names = resources(&sdk, visibility_secs).await;
    let ports = switchboard_core::state::Ports::aws(&sdk, &names);
    let app = super::app(ports.clone());
    Stack(sdk, names, ports, app)
}

pub async fn resources(sdk: &aws_config::SdkConfig, visibility_secs: u32) -> AwsResources {
    let queue_url = create_queue(sdk, &unique("events"), visibility_secs, None).await;
    let names = AwsResources {
        queue_url,
        sources_table: unique("sources"),
        subscriptions_table: unique("subscriptions"),
        events_table: unique("events"),
        deliveries_table: unique("deliveries"),
        dedup_table: unique("dedup"),
        flow_table: unique("flow"),
        dead_letter_queue_url: None,
    };
    create_tables(sdk, &names).await;
    names
}

/// Creates a queue; with `redrive = Some((dlq arn, max receives))` it dead-letters there.
pub async fn create_queue(
    sdk: &aws_config::SdkConfig,
    name: &str,
    visibility_secs: u32,
    redrive: Option<(&str, u32)>,
) -> String {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut req = sqs.create_queue().queue_name(name).attributes(
        QueueAttributeName::VisibilityTimeout,
        visibility_secs.to_string(),
    );
    if let Some((dlq_arn, max)) = redrive {
        req = req.attributes(
            QueueAttributeName::RedrivePolicy,
            serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max.to_string()})
                .to_string(),
        );
    }
    req.send().await.unwrap().queue_url.unwrap()
}

/// Messages in the queue: visible, in flight and delayed.
/// A whole table's first page (a test may scan; the service's queries never do).
pub async fn scan(
    sdk: &aws_config::SdkConfig,
    table: &str,
) -> aws_sdk_dynamodb::operation::scan::ScanOutput {
    let client = aws_sdk_dynamodb::Client::new(sdk);
    client.scan().table_name(table).send().await.unwrap()
}

/// The queue's attributes of those `names` it has.
pub async fn queue_attributes(
    sdk: &aws_config::SdkConfig,
    queue_url: &str,
    names: &[QueueAttributeName],
) -> std::collections::HashMap<QueueAttributeName, String> {
    aws_sdk_sqs::Client::new(sdk)
        .get_queue_attributes()
        .queue_url(queue_url)
        .set_attribute_names(Some(names.to_vec()))
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default()
}

pub async fn queue_depth(sdk: &aws_config::SdkConfig, queue_url: &str) -> usize {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let names = [
        A::ApproximateNumberOfMessages,
        A::ApproximateNumberOfMessagesNotVisible,
        A::ApproximateNumberOfMessagesDelayed,
    ];
    let attrs = queue_attributes(sdk, queue_url, &names).await;
    assert!(!attrs.is_empty(), "no attributes for {queue_url}");
    attrs.values().map(|v| v.parse::<usize>().unwrap()).sum()
}

pub async fn queue_arn(sdk: &aws_config::SdkConfig, queue_url: &str) -> String {
    queue_attributes(sdk, queue_url, &[QueueAttributeName::QueueArn]).await
        [&QueueAttributeName::QueueArn]
        .clone()
}

/// A fresh events queue that moves a message to a fresh dead-letter queue after
/// `max_receives` receipts (the template's redrive policy); returns both URLs.
/// [`resources`] whose events queue dead-letters after `max_receives` receipts (its
/// visibility timeout `visibility_secs`); the dead-letter queue is in the resources.
pub async fn resources_with_dlq(
    sdk: &aws_config::SdkConfig,
    visibility_secs: u32,
    max_receives: u32,
) -> AwsResources {
    let mut names = resources(sdk, visibility_secs).await;
    let (queue_url, dlq_url) = queue_with_dlq(sdk, visibility_secs, max_receives).await;
    names.queue_url = queue_url;
    names.dead_letter_queue_url = Some(dlq_url);
    names
}

pub async fn queue_with_dlq(
    sdk: &aws_config::SdkConfig,
    visibility_secs: u32,
    max_receives: u32,
) -> (String, String) {
    let dlq = create_queue(sdk, &unique("dlq"), 30, None).await;
    let arn = queue_arn(sdk, &dlq).await;
    let queue = create_queue(
        sdk,
        &unique("events"),
        visibility_secs,
        Some((&arn, max_receives)),
    )
    .await;
    (queue, dlq)
}

/// Creates the queue (named by the last segment of its URL) and the six tables again, as
/// after an emulator restart that lost them.
pub async fn recreate(sdk: &aws_config::SdkConfig, names: &AwsResources, visibility_secs: u32) {
    let name = names.queue_url.rsplit('/').next().unwrap();
    let url = create_queue(sdk, name, visibility_secs, None).await;
    assert_eq!(
        url, names.queue_url,
        "the emulator names queues by port and name"
    );
    create_tables(sdk, names).await;
}

/// The six tables of `names`, with the template's keys and indexes.
pub async fn create_tables(sdk: &aws_config::SdkConfig, names: &AwsResources) {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    create_table(&ddb, &names.sources_table, "id", None, &[]).await;
    create_table(&ddb, &names.subscriptions_table, "id", None, &[]).await;
    create_table(
        &ddb,
        &names.events_table,
        "id",
        None,
        &[
            Gsi {
                name: "by_source_shard",
                hash: "source_shard",
                range: "received_key",
                include: None,
            },
            Gsi {
                name: "by_call",
                hash: "call_id",
                range: "received_at",
                include: None,
            },
        ],
    )
    .await;
    let attempt = Some(&["doc", "status"][..]);
    create_table(
        &ddb,
        &names.deliveries_table,
        "event_id",
        Some("sk"),
        &[
            Gsi {
                name: "by_subscription_shard",
                hash: "subscription_shard",
                range: "attempted_key",
                include: attempt,
            },
            Gsi {
                name: "failures",
                hash: "failed_shard",
                range: "attempted_key",
                include: attempt,
            },
            Gsi {
                name: "recent_shard",
                hash: "recent_shard",
                range: "attempted_key",
                include: attempt,
            },
        ],
    )
    .await;
    create_table(&ddb, &names.dedup_table, "key", None, &[]).await;
    create_table(&ddb, &names.flow_table, "pk", Some("sk"), &[]).await;
}

/// Receives what SQS holds and hands it to the dispatcher as the Lambda event source
/// mapping would, deleting what the partial batch response does not name.
pub async fn run_dispatch_once(dispatcher: &Dispatcher, consumer: &SqsQueue) -> usize {
    super::lambda::dispatch_round(dispatcher, consumer, Duration::from_secs(2))
        .await
        .received
}

/// Dispatch rounds until one handles a message (at most `rounds`); how many it handled.
pub async fn dispatch_until_handled(
    dispatcher: &Dispatcher,
    consumer: &SqsQueue,
    rounds: usize,
) -> usize {
    for _ in 0..rounds {
        let handled = run_dispatch_once(dispatcher, consumer).await;
        if handled > 0 {
            return handled;
        }
    }
    0
}
