//! Provider-retry dedup across two ingest calls over the real adapters: the dedup claim in
//! DynamoDB, the event on SQS, against the emulator `./scripts/test` starts and names in
//! `AWS_ENDPOINT_URL`. Without one the test fails: it is never skipped. Table and queue
//! names are random per run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableStatus,
};
use common::{fixture, req, source, Harness};
use std::sync::Arc;
use std::time::Duration;
use switchboard_adapters_aws::{DynamoDedupStore, SqsQueue};
use switchboard_core::adapters::memory::MemoryQueue;
use switchboard_core::domain::source::Provider;
use switchboard_core::domain::{QueueMessage, Verification};
use switchboard_core::ports::QueueConsumer;
use switchboard_core::state::{Compose, Ports};

const ENDPOINT: &str = "AWS_ENDPOINT_URL";

async fn sdk(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(switchboard_core::tls::sdk_http_client())
        .endpoint_url(endpoint)
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "emulator",
        ))
        .load()
        .await
}

#[tokio::test]
async fn provider_retries_are_deduplicated_over_sqs_and_dynamodb() {
    let endpoint = std::env::var(ENDPOINT).unwrap_or_else(|_| {
        panic!("{ENDPOINT} is not set: run ./scripts/test, which starts the emulator")
    });
    let sdk = sdk(&endpoint).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let run = ulid::Ulid::new().to_string().to_lowercase();
    let table = format!("dedup-{run}");
    ddb.create_table()
        .table_name(&table)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("key")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("key")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    // Like DynamoDB, a stricter emulator keeps a new table CREATING for a moment.
    let mut active = false;
    for _ in 0..600 {
        let out = ddb
            .describe_table()
            .table_name(&table)
            .send()
            .await
            .unwrap();
        if out.table.and_then(|t| t.table_status) == Some(TableStatus::Active) {
            active = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(active, "table {table} did not become ACTIVE within 30 s");
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("events-{run}"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let sqs_queue = Arc::new(SqsQueue::new(sqs.clone(), &queue_url));
    let mut ports = Ports::in_memory(Arc::new(MemoryQueue::new(Duration::from_secs(1), 1)));
    ports.queue = sqs_queue.clone();
    ports.dedup = Arc::new(DynamoDedupStore::new(ddb.clone(), &table));
    for s in [
        source("hip", Provider::Hipcall, Verification::None),
        source("cd", Provider::Callerdesk, Verification::None),
    ] {
        ports.sources.create(&s).await.unwrap();
    }
    // The memory queue is unused here; the harness only needs one to hold.
    let h = Harness::with_ports(ports, Arc::new(MemoryQueue::new(Duration::from_secs(1), 1)));

    let hangup = || {
        req("POST", "/hooks/hip")
            .json()
            .body(fixture("hipcall/call_hangup.json"))
    };
    let (s, first) = h.send(hangup()).await;
    assert_eq!(s, 202, "{first}");
    let (s, again) = h.send(hangup()).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["duplicate"], true);
    // A Live Call and the Call Report of one call: two events.
    let cd = |f: &str| req("POST", "/hooks/cd").json().body(fixture(f));
    assert_eq!(
        h.send(cd("callerdesk/live_call_answered.json")).await.0,
        202
    );
    assert_eq!(h.send(cd("callerdesk/call_report.json")).await.0, 202);
    assert_eq!(h.send(cd("callerdesk/call_report.json")).await.0, 200);

    let mut ids = Vec::new();
    for _ in 0..5 {
        for m in sqs_queue.receive(10, Duration::from_secs(1)).await.unwrap() {
            sqs_queue.delete(&m.receipt).await.unwrap();
            ids.push(
                QueueMessage::from_json(&m.body)
                    .unwrap()
                    .event_id()
                    .to_owned(),
            );
        }
        if ids.len() >= 3 {
            break;
        }
    }
    ids.sort();
    assert_eq!(ids.len(), 3, "each event once on SQS: {ids:?}");
    assert!(ids.contains(&first["id"].as_str().unwrap().to_owned()));
    // The claim is in DynamoDB under source:provider-key.
    let item = ddb
        .get_item()
        .table_name(&table)
        .key(
            "key",
            aws_sdk_dynamodb::types::AttributeValue::S(
                "hip:hipcall:2483a75a-56a2-41f1-991b-92b1667e324a:call_hangup".into(),
            ),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        item["event_id"],
        aws_sdk_dynamodb::types::AttributeValue::S(first["id"].as_str().unwrap().into())
    );
    // ... confirmed once the event was queued
    assert_eq!(
        item["queued"],
        aws_sdk_dynamodb::types::AttributeValue::Bool(true)
    );

    ddb.delete_table().table_name(&table).send().await.unwrap();
    sqs.delete_queue()
        .queue_url(&queue_url)
        .send()
        .await
        .unwrap();
}
