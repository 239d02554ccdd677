//! A listing over a sharded index: every shard read in parallel, newest first, merged.

use super::codec::Item;
use super::index_query::{IndexQuery, RangeCondition};
use crate::error::StoreResult;
use aws_sdk_dynamodb::Client;

pub(super) struct ShardedQuery<'a> {
    pub client: &'a Client,
    pub table: &'a str,
    pub index: &'static str,
    pub hash_name: &'static str,
    /// The shard keys (partition key values) to read.
    pub shards: Vec<String>,
    /// The unique, time-ordered sort attribute (`shards::ordered_key`).
    pub sort_name: &'static str,
    /// Inclusive bounds on the sort attribute.
    pub lower: Option<String>,
    pub upper: Option<String>,
    /// Resume strictly before this sort key (the last item of the previous page).
    pub before: Option<String>,
    /// Only items of this status (a filter on the projected `status`).
    pub status: Option<&'static str>,
}

fn sort_value<'i>(item: &'i Item, name: &str) -> &'i str {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map_or("", String::as_str)
}

impl ShardedQuery<'_> {
    /// The newest `limit` items, and whether more may follow.
    pub async fn read(&self, limit: usize) -> StoreResult<(Vec<Item>, bool)> {
        let limit = limit.max(1);
        let upper = match (&self.upper, &self.before) {
            (Some(u), Some(b)) => Some(u.min(b).clone()),
            (u, b) => u.clone().or_else(|| b.clone()),
        };
        let reads = self.shards.iter().map(|shard| {
            let q = IndexQuery {
                client: self.client,
                table: self.table,
                index: Some(self.index),
                hash: (self.hash_name, shard.clone()),
                range: Some((
                    self.sort_name,
                    RangeCondition::Between(self.lower.clone(), upper.clone()),
                )),
                status: self.status,
                newest_first: true,
            };
            // One more than the page: the page is then exact and tells whether more follow.
            async move { q.read(None, limit + 1).await }
        });
        let pages = futures::future::try_join_all(reads).await?;
        let mut more = pages.iter().any(|p| p.resume.is_some());
        let mut items: Vec<Item> = pages
            .into_iter()
            .flat_map(|p| p.items)
            .filter(|i| Some(sort_value(i, self.sort_name)) != self.before.as_deref())
            .collect();
        items.sort_by(|a, b| sort_value(b, self.sort_name).cmp(sort_value(a, self.sort_name)));
        if items.len() > limit {
            items.truncate(limit);
            more = true;
        }
        Ok((items, more))
    }
}
