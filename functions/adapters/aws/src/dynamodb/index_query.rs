//! One key-or-index query (never a scan), read page by page: the listing path of the event
//! and delivery tables.

use super::codec::{s, storable_key, Item, MAX_INDEXED_KEY_BYTES};
use crate::error::StoreResult;
use crate::unavailable;
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;

pub(super) struct IndexQuery<'a> {
    pub client: &'a Client,
    pub table: &'a str,
    pub index: Option<&'static str>,
    /// Hash attribute name and value.
    pub hash: (&'static str, String),
    /// Range attribute name and the key condition on it, if any.
    pub range: Option<(&'static str, RangeCondition)>,
    /// Only attempts of this status (a filter on top of the key condition).
    pub status: Option<&'static str>,
    pub newest_first: bool,
}

pub(super) enum RangeCondition {
    Between(Option<String>, Option<String>),
    BeginsWith(String),
}

/// Most queries one page may take (filters can make DynamoDB pages sparse).
const MAX_ROUNDS: usize = 20;

/// What one page read returned: the items, and where to resume when more may follow.
pub(super) struct PageRead {
    pub items: Vec<Item>,
    /// Resume after this key: the last item kept when the page was cut, else DynamoDB's
    /// LastEvaluatedKey when a read stopped early.
    pub resume: Option<Item>,
}

impl PageRead {
    fn done(items: Vec<Item>, resume: Option<Item>) -> Self {
        Self { items, resume }
    }
}

/// The key condition, its names and values, for a hash key and an optional range condition.
fn key_condition(
    hash: &(&'static str, String),
    range: Option<&(&'static str, RangeCondition)>,
) -> (String, Item, HashMap<String, String>) {
    let mut names = HashMap::from([("#h".to_owned(), hash.0.to_owned())]);
    let mut values = HashMap::from([(":h".to_owned(), s(&hash.1))]);
    let mut condition = "#h = :h".to_owned();
    if let Some((name, range)) = range {
        let clause = match range {
            RangeCondition::Between(Some(a), Some(b)) => {
                values.insert(":a".into(), s(a));
                values.insert(":b".into(), s(b));
                Some("#r BETWEEN :a AND :b")
            }
            RangeCondition::Between(Some(a), None) => {
                values.insert(":a".into(), s(a));
                Some("#r >= :a")
            }
            RangeCondition::Between(None, Some(b)) => {
                values.insert(":b".into(), s(b));
                Some("#r <= :b")
            }
            RangeCondition::Between(None, None) => None,
            RangeCondition::BeginsWith(p) => {
                values.insert(":p".into(), s(p));
                Some("begins_with(#r, :p)")
            }
        };
        if let Some(clause) = clause {
            names.insert("#r".into(), (*name).to_owned());
            condition = format!("{condition} AND {clause}");
        }
    }
    (condition, values, names)
}

impl IndexQuery<'_> {
    /// Up to `limit` items after `start`, in as many rounds as a filter needs (bounded).
    pub async fn read(&self, start: Option<Item>, limit: usize) -> StoreResult<PageRead> {
        let unindexed = self.index.is_some() && self.hash.1.len() > MAX_INDEXED_KEY_BYTES;
        if unindexed || !storable_key(&self.hash.1) {
            // Nothing is indexed under a key that long (and DynamoDB would refuse the query).
            return Ok(PageRead::done(Vec::new(), None));
        }
        let (condition, mut values, mut names) = key_condition(&self.hash, self.range.as_ref());
        let filter = self.status.map(|st| {
            names.insert("#st".into(), "status".into());
            values.insert(":st".into(), s(st));
            "#st = :st".to_owned()
        });
        let limit = limit.max(1);
        let mut items: Vec<Item> = Vec::new();
        let mut start = start;
        for _ in 0..MAX_ROUNDS {
            let want = limit - items.len();
            // One more than needed tells whether more follow without an empty extra page.
            let ask = if filter.is_some() {
                (want + 1).max(100)
            } else {
                want + 1
            };
            let out = self
                .client
                .query()
                .table_name(self.table)
                .set_index_name(self.index.map(str::to_owned))
                .key_condition_expression(&condition)
                .set_filter_expression(filter.clone())
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(!self.newest_first)
                .set_consistent_read(self.index.is_none().then_some(true))
                .set_exclusive_start_key(start.take())
                .limit(i32::try_from(ask.min(1000)).unwrap_or(1000))
                .send()
                .await
                .map_err(unavailable)?;
            items.extend(out.items.unwrap_or_default());
            if items.len() > limit {
                items.truncate(limit);
                let resume = items.last().cloned();
                return Ok(PageRead::done(items, resume));
            }
            match out.last_evaluated_key.filter(|k| !k.is_empty()) {
                Some(k) if items.len() < limit => start = Some(k),
                resume => return Ok(PageRead::done(items, resume)),
            }
        }
        Ok(PageRead::done(items, start))
    }
}
