//! Write sharding: an index whose natural partition key is busy (a source, a subscription,
//! a day, a failure status) is keyed by `{value}#{n}` instead, `n` a stable hash of the
//! item's id modulo a shard count, so no single partition takes more than 1/n of the
//! writes. A listing reads every shard in parallel and merges them (`sharded_query`).
//! Changing a count re-keys new items only: a listing would miss old items in shards that
//! no longer exist, so a count only grows with a new index (docs/scale-model.md).

/// Shards of the events index `by_source_shard` (per source).
pub const SOURCE_SHARDS: u32 = 8;
/// Shards of the deliveries index `by_subscription_shard` (per subscription).
pub const SUBSCRIPTION_SHARDS: u32 = 16;
/// Shards of the deliveries index `recent_shard` (per day).
pub const RECENT_SHARDS: u32 = 16;
/// Shards of the sparse deliveries index `failures` (per status other than succeeded).
pub const FAILURE_SHARDS: u32 = 16;

/// FNV-1a: stable across builds and platforms (std's hasher is not).
fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// The shard key of the item `id` under `value`.
pub fn shard_key(value: &str, id: &str, shards: u32) -> String {
    format!("{value}#{}", fnv1a(id) % shards.max(1))
}

/// Every shard key of `value`.
pub fn all_shards(value: &str, shards: u32) -> Vec<String> {
    (0..shards.max(1)).map(|n| format!("{value}#{n}")).collect()
}

/// A sort key that orders like (`at`, then the ids), unique per item: a merged listing
/// resumes strictly before it.
pub(super) fn ordered_key(at: &str, ids: &[&str]) -> String {
    let mut key = at.to_owned();
    for id in ids {
        key.push('#');
        key.push_str(id);
    }
    key
}

/// The inclusive upper bound of keys made by [`ordered_key`] at or before `at` (`$` sorts
/// just after `#`).
pub(super) fn upper_bound(at: &str) -> String {
    format!("{at}$")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_spread() {
        assert_eq!(shard_key("src", "evt_1", 8), shard_key("src", "evt_1", 8));
        let used: std::collections::BTreeSet<String> = (0..200)
            .map(|i| shard_key("src", &format!("evt_{i}"), 8))
            .collect();
        assert_eq!(used.len(), 8);
        assert_eq!(all_shards("src", 8).len(), 8);
    }

    #[test]
    fn ordered_keys_sort_by_time_then_ids_under_the_bound() {
        let a = ordered_key("2024-11-17T10:00:00.000000Z", &["evt_a", "sub#000001"]);
        let b = ordered_key("2024-11-17T10:00:00.000000Z", &["evt_b", "sub#000001"]);
        let c = ordered_key("2024-11-17T10:00:00.000001Z", &["evt_a", "sub#000001"]);
        assert!(a < b && b < c);
        assert!(b < upper_bound("2024-11-17T10:00:00.000000Z"));
        assert!(c > upper_bound("2024-11-17T10:00:00.000000Z"));
    }
}
