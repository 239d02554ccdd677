//! Capacity units from a request log, per DynamoDB's documented rules: a write costs 1 write
//! unit per KB of the item (rounded up) and again, at the projected size, in every global
//! secondary index the item lands in (it has all of that index's key attributes); a write
//! refused by its condition still costs the item's size; a read costs 1 read unit per 4 KB
//! returned (rounded up, per request), half when eventually consistent (every index read).
//! SQS bills each 64 KB chunk of a request as one request.

use aws_sdk_dynamodb::types::{KeyType, ProjectionType};
use aws_sdk_dynamodb::Client;
use std::collections::{BTreeMap, HashMap};
use switchboard_core::adapters::aws::metering::{item_size, Item, Request};

/// What a global secondary index stores of an item.
#[derive(Debug, Clone)]
pub enum Projection {
    All,
    /// The table's and the index's key attributes, plus these.
    Include(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct Index {
    pub name: String,
    pub keys: Vec<String>,
    pub projection: Projection,
}

/// A table as DescribeTable reports it, under the short name the report uses.
#[derive(Debug, Clone)]
pub struct Table {
    pub label: String,
    pub keys: Vec<String>,
    pub indexes: Vec<Index>,
}

/// Reads the key schema and indexes of `tables` (label, table name).
pub async fn describe(
    client: &Client,
    tables: &[(&str, String)],
) -> Result<HashMap<String, Table>, String> {
    let mut out = HashMap::new();
    for (label, name) in tables {
        let d = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| format!("DescribeTable {name}: {e}"))?;
        let t = d
            .table
            .ok_or_else(|| format!("DescribeTable {name}: no table"))?;
        let keys = |schema: &[aws_sdk_dynamodb::types::KeySchemaElement]| {
            schema
                .iter()
                .filter(|k| matches!(k.key_type, KeyType::Hash | KeyType::Range))
                .map(|k| k.attribute_name.clone())
                .collect::<Vec<_>>()
        };
        let indexes = t
            .global_secondary_indexes()
            .iter()
            .map(|g| {
                let p = g.projection();
                let projection = match p.and_then(|p| p.projection_type()) {
                    Some(ProjectionType::All) | None => Projection::All,
                    Some(_) => Projection::Include(
                        p.map(|p| p.non_key_attributes().to_vec())
                            .unwrap_or_default(),
                    ),
                };
                Index {
                    name: g.index_name().unwrap_or_default().to_owned(),
                    keys: keys(g.key_schema()),
                    projection,
                }
            })
            .collect();
        out.insert(
            name.clone(),
            Table {
                label: (*label).to_owned(),
                keys: keys(t.key_schema()),
                indexes,
            },
        );
    }
    Ok(out)
}

/// Write units of an item of `bytes`.
pub fn wru(bytes: usize) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}

/// Read units of `bytes` read in one request.
pub fn rru(bytes: usize, consistent: bool) -> f64 {
    let units = bytes.div_ceil(4096).max(1) as f64;
    if consistent {
        units
    } else {
        units / 2.0
    }
}

/// The size of what `index` stores of `item`, or `None` when the item is not in it.
pub fn projected_size(table: &Table, index: &Index, item: &Item) -> Option<usize> {
    if !index.keys.iter().all(|k| item.contains_key(k)) {
        return None;
    }
    Some(match &index.projection {
        Projection::All => item_size(item),
        Projection::Include(extra) => item_size(item.iter().filter(|(k, _)| {
            table.keys.contains(k) || index.keys.contains(k) || extra.contains(k)
        })),
    })
}

/// One line of the breakdown: requests and units summed over the run.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub requests: f64,
    pub units: f64,
    pub bytes: usize,
}

/// The breakdown, keyed by what was paid for: `(kind, description)` where kind is
/// `write`, `read` or `sqs`.
#[derive(Debug, Default)]
pub struct Breakdown {
    pub lines: BTreeMap<(&'static str, String), Tally>,
    /// Bytes of the event messages sent (the largest; the alternatives publish the same).
    pub largest_message: usize,
}

impl Breakdown {
    fn add(&mut self, kind: &'static str, what: String, requests: f64, units: f64, bytes: usize) {
        let t = self.lines.entry((kind, what)).or_default();
        t.requests += requests;
        t.units += units;
        t.bytes += bytes;
    }
}

/// Prices every request of `log`; `stored` gives the item as stored after the run for
/// updates and deletes (whose input carries only the key).
pub fn breakdown(
    log: &[Request],
    tables: &HashMap<String, Table>,
    stored: &dyn Fn(&str, &Item) -> Option<Item>,
) -> Breakdown {
    let mut b = Breakdown::default();
    for r in log {
        let table = r.table.as_deref().and_then(|t| tables.get(t));
        let label = table.map_or("?", |t| t.label.as_str());
        match r.operation {
            "PutItem" | "UpdateItem" | "DeleteItem" => {
                let Some(key) = &r.item else { continue };
                let item = match r.operation {
                    "PutItem" => key.clone(),
                    _ => r
                        .table
                        .as_deref()
                        .and_then(|t| stored(t, key))
                        .unwrap_or_else(|| key.clone()),
                };
                let size = item_size(&item);
                let refused = if r.succeeded {
                    ""
                } else {
                    ", condition refused"
                };
                b.add(
                    "write",
                    format!("{label}: {} item{refused}", r.operation),
                    1.0,
                    wru(size),
                    size,
                );
                let Some(table) = table.filter(|_| r.succeeded && r.operation != "DeleteItem")
                else {
                    continue;
                };
                for index in &table.indexes {
                    if let Some(p) = projected_size(table, index, &item) {
                        b.add(
                            "write",
                            format!("{label}: index {} write", index.name),
                            1.0,
                            wru(p),
                            p,
                        );
                    }
                }
            }
            "GetItem" | "Query" | "Scan" => {
                let bytes: usize = r.returned.iter().sum();
                let on = r
                    .index
                    .as_deref()
                    .map_or(String::new(), |i| format!(" on index {i}"));
                let consistency = if r.consistent {
                    "consistent"
                } else {
                    "eventual"
                };
                b.add(
                    "read",
                    format!("{label}: {}{on} ({consistency})", r.operation),
                    1.0,
                    rru(bytes, r.consistent),
                    bytes,
                );
            }
            "SendMessage" => {
                let bytes: usize = r.message_bytes.iter().sum();
                b.largest_message = b.largest_message.max(bytes);
                let chunks = bytes.div_ceil(64 * 1024).max(1) as f64;
                b.add("sqs", "SendMessage".into(), 1.0, chunks, bytes);
            }
            // Empty polls are left out: Lambda's event source mapping polls on its own
            // schedule, not per event.
            "ReceiveMessage" if r.message_bytes.is_empty() => {}
            op => b.add("sqs", op.to_owned(), 1.0, 1.0, 0),
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;

    fn item(pairs: &[(&str, &str)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), AttributeValue::S((*v).to_owned())))
            .collect()
    }

    #[test]
    fn index_writes_are_paid_at_the_projected_size_where_the_item_lands() {
        let big = "x".repeat(3000);
        let table = Table {
            label: "t".into(),
            keys: vec!["id".into()],
            indexes: vec![
                Index {
                    name: "all".into(),
                    keys: vec!["a".into()],
                    projection: Projection::All,
                },
                Index {
                    name: "keys".into(),
                    keys: vec!["a".into()],
                    projection: Projection::Include(Vec::new()),
                },
                Index {
                    name: "sparse".into(),
                    keys: vec!["b".into()],
                    projection: Projection::All,
                },
            ],
        };
        let it = item(&[("id", "1"), ("a", "k"), ("doc", &big)]);
        let tables = HashMap::from([("T".to_owned(), table)]);
        let log = vec![Request {
            operation: "PutItem",
            table: Some("T".into()),
            item: Some(it),
            succeeded: true,
            ..Request::default()
        }];
        let b = breakdown(&log, &tables, &|_, _| None);
        let units = |what: &str| b.lines.get(&("write", what.to_owned())).map(|t| t.units);
        assert_eq!(units("t: PutItem item"), Some(3.0));
        assert_eq!(units("t: index all write"), Some(3.0));
        assert_eq!(units("t: index keys write"), Some(1.0));
        assert_eq!(units("t: index sparse write"), None);
    }

    #[test]
    fn reads_round_up_to_4_kb_and_halve_when_eventual() {
        assert_eq!(rru(1, true), 1.0);
        assert_eq!(rru(4097, true), 2.0);
        assert_eq!(rru(100, false), 0.5);
    }
}
