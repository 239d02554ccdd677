//! Resources on the emulator: random queue and table names per test, so tests run in
//! parallel. The key schemas mirror infra/template.yaml.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use aws_sdk_sqs::types::QueueAttributeName;
use std::time::Duration;
use switchboard_core::adapters::aws::SqsQueue;
use switchboard_core::config::AwsResources;
use switchboard_core::dispatch::Dispatcher;
use switchboard_core::ports::QueueConsumer;

/// The emulator's SDK configuration. A missing emulator is a failure, never a skip.
pub async fn sdk() -> aws_config::SdkConfig {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    assert!(
        endpoint.starts_with("http://127.0.0.1") || endpoint.starts_with("http://localhost"),
        "AWS_ENDPOINT_URL must point at the local emulator (got {endpoint:?}); run ./scripts/test, which starts it"
    );
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase())
}

struct Gsi {
    name: &'static str,
    hash: &'static str,
    range: &'static str,
}

async fn create_table(
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
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(hash)
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        );
    if let Some(r) = range {
        req = req.key_schema(
            KeySchemaElement::builder()
                .attribute_name(r)
                .key_type(KeyType::Range)
                .build()
                .unwrap(),
        );
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
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name(g.hash)
                        .key_type(KeyType::Hash)
                        .build()
                        .unwrap(),
                )
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name(g.range)
                        .key_type(KeyType::Range)
                        .build()
                        .unwrap(),
                )
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .unwrap(),
        );
    }
    req.send().await.unwrap();
}

/// A fresh queue (visibility `visibility_secs`) and the five tables.
pub async fn resources(sdk: &aws_config::SdkConfig, visibility_secs: u32) -> AwsResources {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let queue_url = sqs
        .create_queue()
        .queue_name(unique("events"))
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_secs.to_string(),
        )
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let names = AwsResources {
        queue_url,
        sources_table: unique("sources"),
        subscriptions_table: unique("subscriptions"),
        events_table: unique("events"),
        deliveries_table: unique("deliveries"),
        dedup_table: unique("dedup"),
    };
    create_table(&ddb, &names.sources_table, "id", None, &[]).await;
    create_table(&ddb, &names.subscriptions_table, "id", None, &[]).await;
    create_table(
        &ddb,
        &names.events_table,
        "id",
        None,
        &[
            Gsi {
                name: "by_source",
                hash: "source",
                range: "received_at",
            },
            Gsi {
                name: "by_call",
                hash: "call_id",
                range: "received_at",
            },
        ],
    )
    .await;
    create_table(
        &ddb,
        &names.deliveries_table,
        "event_id",
        Some("sk"),
        &[
            Gsi {
                name: "by_subscription",
                hash: "subscription_id",
                range: "attempted_at",
            },
            Gsi {
                name: "by_call",
                hash: "call_id",
                range: "attempted_at",
            },
            Gsi {
                name: "by_status",
                hash: "status",
                range: "attempted_at",
            },
            Gsi {
                name: "recent",
                hash: "day",
                range: "attempted_at",
            },
        ],
    )
    .await;
    create_table(&ddb, &names.dedup_table, "key", None, &[]).await;
    names
}

/// Receives what SQS holds and hands it to the dispatcher as the Lambda event source
/// mapping would, deleting what the partial batch response does not name.
pub async fn run_dispatch_once(dispatcher: &Dispatcher, consumer: &SqsQueue) -> usize {
    let received = consumer.receive(10, Duration::from_secs(2)).await.unwrap();
    let mut event = SqsEvent::default();
    event.records = received
        .iter()
        .map(|m| {
            let mut msg = SqsMessage::default();
            msg.message_id = Some(m.message_id.clone());
            msg.receipt_handle = Some(m.receipt.clone());
            msg.body = Some(m.body.clone());
            msg
        })
        .collect();
    let response = dispatcher.handle_sqs_event(event).await;
    let failed: Vec<String> = response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    for m in received.iter().filter(|m| !failed.contains(&m.message_id)) {
        consumer.delete(&m.receipt).await.unwrap();
    }
    received.len()
}
