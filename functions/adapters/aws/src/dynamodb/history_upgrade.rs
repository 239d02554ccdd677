//! Copies the history of the first data model's tables (`{stack}-events` and
//! `{stack}-deliveries`: the whole record as JSON in `doc`, indexes keyed by source, status
//! and day) into the current tables, in the current layout, so the listings of a stack
//! upgraded in place show what happened before the upgrade.
//!
//! - Resumable: the tables are scanned page by page and the scan's cursor is part of the
//!   [`Progress`] the caller keeps (a file) after every page.
//! - Idempotent: every copy is a conditional write that never replaces an item, so a
//!   re-run (or a page copied again after a crash) writes nothing twice, and a record the
//!   running stack already wrote to the new tables (a retry's newer attempt) wins.
//! - Rate-limited: at most `max_writes_per_second` copies, so the copy cannot take the
//!   write capacity the live traffic needs.
//!
//! Items keep their expiry; those already expired (DynamoDB's TTL deletes lag by up to
//! days) are not copied.

use super::codec::{conditional, from_doc, Item};
use super::deliveries::attempt_item;
use super::events::event_item;
use crate::domain::time::{epoch_secs, now};
use crate::domain::{Attempt, StoredEvent};
use crate::error::{StoreError, StoreResult};
use crate::unavailable;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The tables a copy reads and writes.
#[derive(Debug, Clone)]
pub struct UpgradeTables {
    pub old_events: String,
    pub old_deliveries: String,
    pub events: String,
    pub deliveries: String,
}

/// How a copy runs.
#[derive(Debug, Clone, Copy)]
pub struct UpgradeLimits {
    /// Most items copied per second (each copy is one write of one item and its indexes).
    pub max_writes_per_second: f64,
    /// Items read per scan page (one progress save per page).
    pub page_size: i32,
}

/// Where a copy is: per table, the scan's cursor and counts. Saved by the caller after
/// every page; a copy resumed from it goes on after the last page saved.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub events: TableProgress,
    pub deliveries: TableProgress,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableProgress {
    /// The scan's last evaluated key (every key attribute of these tables is a string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<BTreeMap<String, String>>,
    pub done: bool,
    /// Items read from the old table.
    pub scanned: u64,
    /// Items written to the new table.
    pub copied: u64,
    /// Items the new table already had (copied before, or written by the running stack).
    pub present: u64,
    /// Items past their expiry, left out.
    pub expired: u64,
}

impl Progress {
    pub fn done(&self) -> bool {
        self.events.done && self.deliveries.done
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Events,
    Deliveries,
}

/// Copies the old tables' history, calling `save` with the progress after every page.
pub struct HistoryUpgrade {
    client: Client,
    tables: UpgradeTables,
    limits: UpgradeLimits,
}

impl HistoryUpgrade {
    pub fn new(client: Client, tables: UpgradeTables, limits: UpgradeLimits) -> Self {
        Self {
            client,
            tables,
            limits,
        }
    }

    /// Runs the copy from `progress` to the end (events first, then deliveries), saving
    /// the progress after every page; stops at the first error (the saved progress resumes
    /// it).
    pub async fn run(
        &self,
        progress: &mut Progress,
        save: &mut (dyn FnMut(&Progress) -> std::io::Result<()> + Send),
    ) -> StoreResult<()> {
        let mut pacer = Pacer::new(self.limits.max_writes_per_second);
        for kind in [Kind::Events, Kind::Deliveries] {
            while !table(progress, kind).done {
                self.page(kind, table_mut(progress, kind), &mut pacer)
                    .await?;
                save(progress).map_err(|e| {
                    StoreError::Unavailable(format!("the progress could not be saved: {e}"))
                })?;
            }
        }
        Ok(())
    }

    /// One scan page of the old table, copied.
    async fn page(
        &self,
        kind: Kind,
        progress: &mut TableProgress,
        pacer: &mut Pacer,
    ) -> StoreResult<()> {
        let (from, to) = match kind {
            Kind::Events => (&self.tables.old_events, &self.tables.events),
            Kind::Deliveries => (&self.tables.old_deliveries, &self.tables.deliveries),
        };
        let start = progress.cursor.as_ref().map(|c| {
            c.iter()
                .map(|(k, v)| (k.clone(), AttributeValue::S(v.clone())))
                .collect::<Item>()
        });
        let out = self
            .client
            .scan()
            .table_name(from)
            .consistent_read(true)
            .limit(self.limits.page_size.max(1))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(unavailable)?;
        let now_secs = epoch_secs(&now());
        for old in out.items.unwrap_or_default() {
            progress.scanned += 1;
            let expires = expiry(&old);
            if expires.is_some_and(|at| at <= now_secs) {
                progress.expired += 1;
                continue;
            }
            let (item, key) = match kind {
                Kind::Events => (new_event_item(&old)?, "id"),
                Kind::Deliveries => (new_attempt_item(&old)?, "sk"),
            };
            pacer.wait().await;
            let written = conditional(
                self.client
                    .put_item()
                    .table_name(to)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(#k)")
                    .expression_attribute_names("#k", key)
                    .send()
                    .await,
            )?;
            if written {
                progress.copied += 1;
            } else {
                progress.present += 1;
            }
        }
        match out.last_evaluated_key.filter(|k| !k.is_empty()) {
            Some(key) => {
                let cursor = key
                    .iter()
                    .map(|(k, v)| match v {
                        AttributeValue::S(s) => Ok((k.clone(), s.clone())),
                        _ => Err(StoreError::Corrupt(format!("scan key {k} is not a string"))),
                    })
                    .collect::<StoreResult<_>>()?;
                progress.cursor = Some(cursor);
            }
            None => {
                progress.cursor = None;
                progress.done = true;
            }
        }
        Ok(())
    }
}

fn table(p: &Progress, kind: Kind) -> &TableProgress {
    match kind {
        Kind::Events => &p.events,
        Kind::Deliveries => &p.deliveries,
    }
}

fn table_mut(p: &mut Progress, kind: Kind) -> &mut TableProgress {
    match kind {
        Kind::Events => &mut p.events,
        Kind::Deliveries => &mut p.deliveries,
    }
}

/// The item's TTL (epoch seconds), if it has one.
fn expiry(item: &Item) -> Option<i64> {
    item.get("expires_at")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
}

/// The new layout's item for an old event item, with the old item's expiry.
fn new_event_item(old: &Item) -> StoreResult<Item> {
    let event: StoredEvent = from_doc(old)?;
    let mut item = event_item(&event, now())?;
    keep_expiry(old, &mut item);
    Ok(item)
}

/// The new layout's item for an old attempt item, with the old item's expiry.
fn new_attempt_item(old: &Item) -> StoreResult<Item> {
    let attempt: Attempt = from_doc(old)?;
    let mut item = attempt_item(&attempt, now())?;
    keep_expiry(old, &mut item);
    Ok(item)
}

fn keep_expiry(old: &Item, new: &mut Item) {
    match old.get("expires_at") {
        Some(at) => new.insert("expires_at".to_owned(), at.clone()),
        None => new.remove("expires_at"),
    };
}

/// Spaces writes `1 / rate` seconds apart on average (bursts of up to a second's worth
/// after a pause are not caught up: the schedule restarts from now).
struct Pacer {
    interval: Option<Duration>,
    next: Instant,
}

impl Pacer {
    fn new(per_second: f64) -> Self {
        let interval = (per_second.is_finite() && per_second > 0.0)
            .then(|| Duration::from_secs_f64(1.0 / per_second));
        Self {
            interval,
            next: Instant::now(),
        }
    }

    async fn wait(&mut self) {
        let Some(interval) = self.interval else {
            return;
        };
        let now = Instant::now();
        if self.next > now {
            tokio::time::sleep(self.next - now).await;
        } else {
            self.next = now;
        }
        self.next += interval;
    }
}
