//! Drift: the pipeline against the tables and queues `infra/template.yaml` itself creates.
//!
//! `scripts/deploy-test-stack` (run by `./scripts/test`) translates the SAM template,
//! deploys its data plane into the emulator's CloudFormation and writes, per function,
//! the environment the template gives it; `SWITCHBOARD_STACK_RESOURCES` names that file.
//! Every name here comes from the stack, none from the test: if the template's
//! variables, keys or indexes drift from what the code reads, writes and queries,
//! these tests fail. Without the file they fail too; they never skip.

use crate::support;
use crate::support::aws::{self, run_dispatch_once};
use aws_sdk_dynamodb::types::{AttributeValue, KeyType};
use aws_sdk_sqs::types::QueueAttributeName;
use std::collections::{BTreeMap, BTreeSet};
use switchboard_core::adapters::aws::{shards, SqsQueue};
use switchboard_core::api::{AdminAuth, App, Surface};
use switchboard_core::config::{AwsResources, Settings};
use switchboard_core::delivery::guard::AddressClass;
use switchboard_core::dispatch::Dispatcher;
use switchboard_core::domain::limits::MAX_QUEUE_MESSAGE_BYTES;
use switchboard_core::state::{Compose, Ports};

const STACK_FILE: &str = "SWITCHBOARD_STACK_RESOURCES";

/// What `scripts/deploy-test-stack` wrote.
#[derive(serde::Deserialize)]
struct Stack {
    stack_name: String,
    /// Logical function id → its environment, as the stack resolved it.
    functions: BTreeMap<String, BTreeMap<String, String>>,
    /// Logical id of each table and queue → its physical name (a queue's URL).
    resources: BTreeMap<String, String>,
    /// The template's `Parameters`, as declared.
    parameters: BTreeMap<String, serde_json::Value>,
}

impl Stack {
    fn load() -> Self {
        let path = std::env::var(STACK_FILE).unwrap_or_default();
        assert!(
            !path.is_empty(),
            "{STACK_FILE} is not set: the drift test needs the resources deployed from \
             infra/template.yaml; run ./scripts/test (it runs scripts/deploy-test-stack and sets it)"
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{STACK_FILE}={path}: cannot read it ({e}); run ./scripts/test")
        });
        serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!("{STACK_FILE}={path}: not what deploy-test-stack writes: {e}")
        })
    }

    /// A function's environment, as the deployed function would see it.
    fn env(&self, function: &str) -> &BTreeMap<String, String> {
        self.functions.get(function).unwrap_or_else(|| {
            panic!(
                "stack {}: no function {function} in the template (has {:?})",
                self.stack_name,
                self.functions.keys().collect::<Vec<_>>()
            )
        })
    }

    /// The resource names the code reads at cold start (`entry.rs`), from the function's
    /// environment alone.
    fn resources(&self, function: &str) -> AwsResources {
        let env = self.env(function);
        AwsResources::from_lookup(|k| env.get(k).cloned())
            .unwrap_or_else(|e| panic!("the template's {function} would fail its cold start: {e}"))
    }

    fn settings(&self, function: &str) -> Settings {
        let env = self.env(function);
        Settings::from_lookup(|k| env.get(k).cloned())
            .unwrap_or_else(|e| panic!("the template's {function} would fail its cold start: {e}"))
    }
}

/// The app a function's cold start builds (`entry::ingest_app`/`admin_app`), over the
/// stack's resources. Admin is behind IAM in the stack, so no token is checked here.
async fn function_app(stack: &Stack, function: &str, surface: Surface) -> App {
    let sdk = aws::sdk().await;
    let mut settings = stack.settings(function);
    // The stack refuses private subscriber addresses; the test's sink is on loopback.
    settings.allow_private_targets = vec!["loopback".into()];
    App {
        ports: Ports::aws(&sdk, &stack.resources(function)),
        settings,
        admin_auth: AdminAuth::Iam,
        surface,
    }
}

#[test]
fn every_function_gets_every_variable_its_cold_start_reads() {
    let stack = Stack::load();
    for function in ["IngestFunction", "DispatchFunction", "AdminFunction"] {
        stack.resources(function);
        stack.settings(function);
    }
}

/// Every setting the docs (README, docs/, infra/README.md) name for a deployed stack is set
/// from a template parameter in the environment of each function that reads it, with a
/// value its cold start accepts.
#[test]
fn every_documented_setting_is_set_by_the_template() {
    use switchboard_core::api::source_cache::{SourceCache, SOURCE_CACHE_SECS};
    use switchboard_core::config::{
        ALLOW_PRIVATE_TARGETS, AWS_ATTEMPT_TIMEOUT_MS, AWS_OPERATION_TIMEOUT_MS,
        DEADLINE_MARGIN_MS, DELIVERY_CONCURRENCY, DISABLE_AFTER_HOURS, FAILING_AFTER,
        INGEST_SEND_WINDOW_MS, RETENTION_DAYS,
    };
    let stack = Stack::load();
    let read_by = [
        ("IngestFunction", SOURCE_CACHE_SECS),
        ("IngestFunction", INGEST_SEND_WINDOW_MS),
        ("DispatchFunction", DEADLINE_MARGIN_MS),
        ("DispatchFunction", RETENTION_DAYS),
        ("DispatchFunction", DELIVERY_CONCURRENCY),
        ("DispatchFunction", ALLOW_PRIVATE_TARGETS),
        ("DispatchFunction", DISABLE_AFTER_HOURS),
        ("DispatchFunction", FAILING_AFTER),
        ("AdminFunction", RETENTION_DAYS),
        ("AdminFunction", ALLOW_PRIVATE_TARGETS),
    ];
    let timeouts = [AWS_OPERATION_TIMEOUT_MS, AWS_ATTEMPT_TIMEOUT_MS];
    let every_function = ["IngestFunction", "DispatchFunction", "AdminFunction"];
    let read_by = read_by.into_iter().chain(
        every_function
            .into_iter()
            .flat_map(|f| timeouts.into_iter().map(move |v| (f, v))),
    );
    for (function, variable) in read_by {
        assert!(
            stack.env(function).contains_key(variable),
            "{function} does not get {variable} from the template"
        );
    }
    let ingest = stack.env("IngestFunction");
    SourceCache::ttl_from_lookup(|k| ingest.get(k).cloned()).unwrap();
    let dispatch = stack.settings("DispatchFunction");
    assert_eq!(dispatch.disable_after, Settings::default().disable_after);
    assert_eq!(dispatch.failing_after, Settings::default().failing_after);
    assert_eq!(
        dispatch.deadline_margin,
        Settings::default().deadline_margin
    );
    assert_eq!(
        dispatch.aws_operation_timeout,
        Settings::default().aws_operation_timeout
    );
    let ingest = stack.settings("IngestFunction");
    assert_eq!(
        ingest.ingest_send_window,
        Settings::default().ingest_send_window
    );
}

/// The queues take the messages the code sends: its size limit is the queues' own
/// `MaximumMessageSize` (the dead-letter queue's too, or it could not take them).
#[tokio::test]
async fn the_queues_take_the_message_size_the_code_assumes() {
    let stack = Stack::load();
    let sdk = aws::sdk().await;
    for queue in ["EventsQueue", "DeadLetterQueue"] {
        let url = stack
            .resources
            .get(queue)
            .unwrap_or_else(|| panic!("the stack has no {queue}"));
        let attrs =
            aws::queue_attributes(&sdk, url, &[QueueAttributeName::MaximumMessageSize]).await;
        assert_eq!(
            attrs.get(&QueueAttributeName::MaximumMessageSize),
            Some(&MAX_QUEUE_MESSAGE_BYTES.to_string()),
            "{queue}: the template's MaximumMessageSize must be the code's MAX_QUEUE_MESSAGE_BYTES"
        );
    }
}

/// `AllowPrivateTargets` lists exactly what the code accepts: every listed value passes the
/// cold start's check, and every address class the guard knows can be listed.
#[test]
fn allow_private_targets_lists_exactly_the_classes_the_code_accepts() {
    let stack = Stack::load();
    let param = &stack.parameters["AllowPrivateTargets"];
    assert_eq!(param["Type"], "CommaDelimitedList");
    let allowed: Vec<&str> = param["AllowedValues"]
        .as_array()
        .expect("AllowPrivateTargets has AllowedValues")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for value in &allowed {
        Settings::from_lookup(|k| {
            (k == "SWITCHBOARD_ALLOW_PRIVATE_TARGETS").then(|| (*value).to_owned())
        })
        .unwrap_or_else(|e| panic!("AllowedValues has {value:?}, which fails the cold start: {e}"));
    }
    for class in AddressClass::ALL {
        assert!(
            allowed.contains(&class.name()),
            "{} is missing",
            class.name()
        );
    }
    assert!(allowed.contains(&"none"));
    // The whole list, joined as the template passes it, is accepted too.
    let joined = allowed.join(",");
    Settings::from_lookup(|k| (k == "SWITCHBOARD_ALLOW_PRIVATE_TARGETS").then(|| joined.clone()))
        .unwrap();
}

/// Keys and global secondary indexes the DynamoDB adapter writes and queries
/// (functions/adapters/aws/src/dynamodb.rs): hash, range, and per index its name,
/// hash and range. Each index's attributes are written as top-level strings.
type Schema = (
    &'static str,
    Option<&'static str>,
    &'static [(&'static str, &'static str, &'static str)],
);

fn schemas(names: &AwsResources) -> [(&str, Schema); 6] {
    [
        (&names.sources_table, ("id", None, &[])),
        (&names.subscriptions_table, ("id", None, &[])),
        (
            &names.events_table,
            (
                "id",
                None,
                &[
                    ("by_source_shard", "source_shard", "received_key"),
                    ("by_call", "call_id", "received_at"),
                ],
            ),
        ),
        (
            &names.deliveries_table,
            (
                "event_id",
                Some("sk"),
                &[
                    (
                        "by_subscription_shard",
                        "subscription_shard",
                        "attempted_key",
                    ),
                    ("failures", "failed_shard", "attempted_key"),
                    ("recent_shard", "recent_shard", "attempted_key"),
                ],
            ),
        ),
        (&names.dedup_table, ("key", None, &[])),
        (&names.flow_table, ("pk", Some("sk"), &[])),
    ]
}

fn key_names(schema: &[aws_sdk_dynamodb::types::KeySchemaElement]) -> (String, Option<String>) {
    let find = |t: KeyType| {
        schema
            .iter()
            .find(|k| k.key_type == t)
            .map(|k| k.attribute_name.clone())
    };
    (
        find(KeyType::Hash).unwrap_or_default(),
        find(KeyType::Range),
    )
}

#[tokio::test]
async fn stack_tables_have_the_keys_and_indexes_the_code_uses() {
    let stack = Stack::load();
    let names = stack.resources("AdminFunction");
    let ddb = aws_sdk_dynamodb::Client::new(&aws::sdk().await);
    for (table, (hash, range, indexes)) in schemas(&names) {
        let described = ddb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .unwrap_or_else(|e| panic!("stack {}: no table {table}: {e:?}", stack.stack_name))
            .table
            .unwrap();
        let (got_hash, got_range) = key_names(described.key_schema());
        assert_eq!(
            (got_hash.as_str(), got_range.as_deref()),
            (hash, range),
            "{table}: key schema"
        );
        let got: BTreeMap<String, (String, Option<String>)> = described
            .global_secondary_indexes()
            .iter()
            .map(|i| {
                (
                    i.index_name().unwrap_or_default().to_owned(),
                    key_names(i.key_schema()),
                )
            })
            .collect();
        for (index, ihash, irange) in indexes {
            let found = got.get(*index).unwrap_or_else(|| {
                panic!(
                    "{table}: the code queries index {index}, the stack's table has {:?}",
                    got.keys().collect::<BTreeSet<_>>()
                )
            });
            assert_eq!(
                (found.0.as_str(), found.1.as_deref()),
                (*ihash, Some(*irange)),
                "{table}: index {index} key schema"
            );
        }
    }
}

#[tokio::test]
async fn the_pipeline_runs_on_the_stack_the_template_creates() {
    let stack = Stack::load();
    let sdk = aws::sdk().await;
    // Given the three functions as their cold starts would build them in that stack,
    let ingest = function_app(&stack, "IngestFunction", Surface::Ingest).await;
    let admin = function_app(&stack, "AdminFunction", Surface::Admin).await;
    let dispatch_names = stack.resources("DispatchFunction");
    let mut dispatch_settings = stack.settings("DispatchFunction");
    // (the stack refuses private subscriber addresses; the test's sink is on loopback)
    dispatch_settings.allow_private_targets = vec!["loopback".into()];
    let dispatcher =
        Dispatcher::from_settings(Ports::aws(&sdk, &dispatch_names), dispatch_settings).unwrap();
    // and a Hipcall source and a CRM subscribed to call.ended, created through admin
    let source = format!("hipcall-{}", ulid::Ulid::new().to_string().to_lowercase());
    support::create_source(&admin, &source, "hipcall").await;
    let (crm, sub_id) = support::crm_for_call_ends(&admin, &source).await;

    // When Hipcall posts call_hangup to ingest
    let (status, accepted) = support::post_json(
        &ingest,
        &format!("/hooks/{source}"),
        support::HIPCALL_CALL_HANGUP,
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let event_id = accepted["id"].as_str().unwrap().to_owned();

    // Then the stack's queue holds it and dispatch, fed as the event source mapping
    // would feed it, delivers it to the CRM
    let consumer = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &dispatch_names.queue_url);
    let mut handled = 0;
    for _ in 0..5 {
        handled += run_dispatch_once(&dispatcher, &consumer).await;
        if crm.count() > 0 {
            break;
        }
    }
    assert!(
        handled >= 1,
        "nothing arrived on {}",
        dispatch_names.queue_url
    );
    let got = crm.received();
    assert_eq!(got.len(), 1);
    let body: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["id"], event_id.as_str());
    assert_eq!(body["type"], "call.ended");

    // And admin lists the attempt back from the stack's deliveries table
    let (status, deliveries) =
        support::get(&admin, &format!("/admin/deliveries?event_id={event_id}")).await;
    assert_eq!(status, 200, "{deliveries}");
    let items = deliveries["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{deliveries}");
    assert_eq!(items[0]["status"], "succeeded");
    assert_eq!(items[0]["subscription_id"], sub_id.as_str());
    let (status, stored) = support::get(&admin, &format!("/admin/events/{event_id}")).await;
    assert_eq!(status, 200, "{stored}");

    // And the call's attempts, found through the call's events (no index of their own)
    let call_id = "2483a75a-56a2-41f1-991b-92b1667e324a";
    let (status, by_call) =
        support::get(&admin, &format!("/admin/deliveries?call_id={call_id}")).await;
    assert_eq!(status, 200, "{by_call}");
    assert_eq!(by_call["items"], deliveries["items"], "{by_call}");

    // And every index the code's records are written for finds them by the attributes
    // the adapters write (a renamed index or index key fails the query)
    let names = stack.resources("AdminFunction");
    let day = &items[0]["attempted_at"].as_str().unwrap()[..10];
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let events = &names.events_table;
    let deliveries = &names.deliveries_table;
    // Sharded indexes are keyed "{value}#{n}": every shard is read, as the adapter does.
    let every = |value: &str, n| shards::all_shards(value, n);
    for (table, index, attr, values, id_attr) in [
        (
            events,
            "by_source_shard",
            "source_shard",
            every(&source, shards::SOURCE_SHARDS),
            "id",
        ),
        (events, "by_call", "call_id", vec![call_id.to_owned()], "id"),
        (
            deliveries,
            "by_subscription_shard",
            "subscription_shard",
            every(&sub_id, shards::SUBSCRIPTION_SHARDS),
            "event_id",
        ),
        (
            deliveries,
            "recent_shard",
            "recent_shard",
            every(day, shards::RECENT_SHARDS),
            "event_id",
        ),
    ] {
        let mut ids = Vec::new();
        for value in &values {
            ids.extend(query_index(&ddb, table, index, attr, value, id_attr).await);
        }
        assert!(
            ids.contains(&event_id),
            "{table}: index {index} by {attr} in {values:?} does not find event {event_id} (found {ids:?})"
        );
    }
    // A success stays out of the sparse failures index.
    for value in every("succeeded", shards::FAILURE_SHARDS) {
        let ids = query_index(
            &ddb,
            deliveries,
            "failures",
            "failed_shard",
            &value,
            "event_id",
        )
        .await;
        assert!(
            ids.is_empty(),
            "a success entered the failures index: {ids:?}"
        );
    }
}

/// The `id_attr` values of the items an index holds under `attr = value`.
async fn query_index(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    index: &str,
    attr: &str,
    value: &str,
    id_attr: &str,
) -> Vec<String> {
    let out = ddb
        .query()
        .table_name(table)
        .index_name(index)
        .key_condition_expression("#k = :v")
        .expression_attribute_names("#k", attr)
        .expression_attribute_values(":v", AttributeValue::S(value.to_owned()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{table}: query on index {index} by {attr} failed: {e:?}"));
    out.items
        .unwrap_or_default()
        .iter()
        .filter_map(|item| item.get(id_attr)?.as_s().ok().cloned())
        .collect()
}
