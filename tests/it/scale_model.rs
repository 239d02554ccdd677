//! The scale model (docs/scale-model.md) held against the tables `infra/template.yaml`
//! creates: every table and index partition key must be one the model lists, with a
//! cardinality that keeps its busiest partition under DynamoDB's per-partition write rate at
//! the goals (10,000 deliveries/s per deployment, 1,000 events/s per source). A new index on
//! a low-cardinality key (a status, a day, a source) is not in the model and fails here.
//! Reads the stack `scripts/deploy-test-stack` deployed (`SWITCHBOARD_STACK_RESOURCES`).

use aws_sdk_dynamodb::types::{KeyType, ProjectionType};
use std::collections::BTreeMap;
use switchboard_core::adapters::aws::shards;

/// DynamoDB's write rate per partition, in write units per second.
const PARTITION_WRU_PER_S: f64 = 1000.0;
/// Goals: deliveries per second for a deployment, events per second for one source.
const DELIVERIES_PER_S: f64 = 10_000.0;
const SOURCE_EVENTS_PER_S: f64 = 1_000.0;

/// How many items share one value of a partition key, at the goal rates.
enum Cardinality {
    /// One item per value (an id): a partition takes one write at a time.
    PerItem,
    /// The writes of one call (tens of events, each fanned out): bounded by a call.
    PerCall,
    /// A busy value written at `rate` items/s, spread over `shards` partitions.
    Sharded { shards: u32, rate: f64 },
}

/// The model: (table logical id, index or "" for the table) → partition key and cardinality.
fn model() -> BTreeMap<(&'static str, &'static str), (&'static str, Cardinality)> {
    use Cardinality::*;
    BTreeMap::from([
        (("SourcesTable", ""), ("id", PerItem)),
        (("SubscriptionsTable", ""), ("id", PerItem)),
        (("DedupTable", ""), ("key", PerItem)),
        // Lanes are keyed per subscription and call; a subscription's rate item is written
        // once per block of reserved slots (up to 0.1 s of its rate), a few writes a second at
        // any rate, far under a partition's limit.
        (("FlowTable", ""), ("pk", PerCall)),
        (("EventsTable", ""), ("id", PerItem)),
        (
            ("EventsTable", "by_source_shard"),
            (
                "source_shard",
                Sharded {
                    shards: shards::SOURCE_SHARDS,
                    rate: SOURCE_EVENTS_PER_S,
                },
            ),
        ),
        (("EventsTable", "by_call"), ("call_id", PerCall)),
        (("DeliveriesTable", ""), ("event_id", PerItem)),
        (
            // One subscription may take every delivery of the deployment.
            ("DeliveriesTable", "by_subscription_shard"),
            (
                "subscription_shard",
                Sharded {
                    shards: shards::SUBSCRIPTION_SHARDS,
                    rate: DELIVERIES_PER_S,
                },
            ),
        ),
        (
            // A subscriber down fails every delivery: the sparse index takes them all.
            ("DeliveriesTable", "failures"),
            (
                "failed_shard",
                Sharded {
                    shards: shards::FAILURE_SHARDS,
                    rate: DELIVERIES_PER_S,
                },
            ),
        ),
        (
            ("DeliveriesTable", "recent_shard"),
            (
                "recent_shard",
                Sharded {
                    shards: shards::RECENT_SHARDS,
                    rate: DELIVERIES_PER_S,
                },
            ),
        ),
    ])
}

/// The rate (items/s) at which the busiest partition of a key saturates, with index items
/// of `wru` write units each.
fn saturation(c: &Cardinality, wru: f64) -> f64 {
    match c {
        Cardinality::PerItem | Cardinality::PerCall => f64::INFINITY,
        Cardinality::Sharded { shards, .. } => f64::from(*shards) * PARTITION_WRU_PER_S / wru,
    }
}

#[test]
fn sharded_keys_meet_the_goals_in_the_model_itself() {
    for ((table, index), (key, c)) in model() {
        if let Cardinality::Sharded { rate, .. } = c {
            // Index items are kept under 1 KB (keys only, or an attempt's doc): 1 WRU.
            let at = saturation(&c, 1.0);
            assert!(
                at >= rate,
                "{table}.{index} ({key}): busiest partition saturates at {at} items/s, goal {rate}"
            );
        }
    }
}

#[tokio::test]
async fn template_tables_and_indexes_hold_to_the_scale_model() {
    let path = std::env::var("SWITCHBOARD_STACK_RESOURCES").unwrap_or_default();
    assert!(
        !path.is_empty(),
        "SWITCHBOARD_STACK_RESOURCES is not set; run ./scripts/test"
    );
    let stack: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let resources = stack["resources"].as_object().unwrap();
    let sdk = crate::support::aws::sdk().await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let model = model();
    let mut seen = Vec::new();
    for (logical, name) in resources {
        if !logical.ends_with("Table") {
            continue;
        }
        let table = ddb
            .describe_table()
            .table_name(name.as_str().unwrap())
            .send()
            .await
            .unwrap()
            .table
            .unwrap();
        let hash = |schema: &[aws_sdk_dynamodb::types::KeySchemaElement]| {
            schema
                .iter()
                .find(|k| k.key_type == KeyType::Hash)
                .map(|k| k.attribute_name.clone())
                .unwrap()
        };
        let mut keys = vec![("", hash(table.key_schema()), None)];
        for g in table.global_secondary_indexes() {
            let projection = g.projection().and_then(|p| p.projection_type()).cloned();
            keys.push((g.index_name().unwrap(), hash(g.key_schema()), projection));
        }
        for (index, key, projection) in keys {
            let Some((want, c)) = model.get(&(logical.as_str(), index)) else {
                panic!(
                    "{logical}.{index} (partition key {key}) is not in the scale model \
                     (docs/scale-model.md, tests/it/scale_model.rs): add it there with its \
                     cardinality and busiest-partition rate"
                );
            };
            assert_eq!(&key, want, "{logical}.{index}: partition key");
            if let Cardinality::Sharded { rate, .. } = c {
                // A projection of ALL pays an index write per KB of the whole item.
                assert_ne!(
                    projection,
                    Some(ProjectionType::All),
                    "{logical}.{index}: a sharded index projecting ALL is not in the model"
                );
                assert!(
                    saturation(c, 1.0) >= *rate,
                    "{logical}.{index}: under the goal"
                );
            }
            seen.push((logical.clone(), index.to_owned()));
        }
    }
    for (table, index) in model.keys() {
        assert!(
            seen.iter().any(|(t, i)| t == table && i == index),
            "the model lists {table}.{index}, the template has no such table or index"
        );
    }
}
