//! Replay: queue new attempts for pairs an operator names. Each replay is one `Deliver`
//! message with trigger `manual` and attempt number latest + 1, so it is recorded as a new
//! attempt of the pair and a duplicate replay message is skipped like any redelivery.
//!
//! - `{"event_id"}`: the event to every subscription that matches it now;
//! - `{"event_id", "subscription_id"}`: one delivery;
//! - `{"subscription_id", "since"[, "until", "cursor", "limit"]}`: every delivery of the
//!   subscription whose latest attempt failed or was exhausted, one page at a time (the
//!   answer's `next_cursor` continues; `scanned`/`queued`/`skipped` report progress).

use crate::domain::attempt::AttemptStatus;
use crate::domain::time::Timestamp;
use crate::domain::{QueueMessage, Subscription, Trigger};
use crate::error::StoreError;
use crate::ports::queries::{DeliveryQuery, TimeRange};
use crate::ports::PageRequest;
use crate::state::Ports;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// Body of `POST /admin/replay`.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    #[cfg_attr(feature = "openapi", schemars(length(min = 1)))]
    pub event_id: Option<String>,
    #[cfg_attr(feature = "openapi", schemars(length(min = 1)))]
    pub subscription_id: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub cursor: Option<String>,
    #[cfg_attr(feature = "openapi", schemars(range(min = 1, max = 500)))]
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Replayed {
    pub event_id: String,
    pub subscription_id: String,
    pub attempt: u32,
}

/// What a replay call did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    /// Delivery records (bulk) or subscriptions (one event) looked at.
    pub scanned: usize,
    /// New attempts queued.
    pub queued: usize,
    /// Looked at but not replayed (succeeded since, superseded by a later attempt, ...).
    pub skipped: usize,
    /// Present when a bulk replay has more pages: call again with it as `cursor`.
    pub next_cursor: Option<String>,
    pub deliveries: Vec<Replayed>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{0}")]
    Invalid(String),
    #[error("no {kind} with id {id:?}")]
    NotFound { kind: &'static str, id: String },
    #[error("subscription {0:?} is disabled; enable it before replaying to it")]
    Disabled(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub const DEFAULT_PAGE: usize = 100;
pub const MAX_PAGE: usize = 500;

pub async fn replay(ports: &Ports, req: ReplayRequest) -> Result<ReplayReport, ReplayError> {
    match (&req.event_id, &req.subscription_id, req.since) {
        (Some(_), _, Some(_)) => Err(ReplayError::Invalid(
            "give either event_id (with an optional subscription_id) or subscription_id with since"
                .into(),
        )),
        (Some(event_id), None, None) => replay_event(ports, event_id).await,
        (Some(event_id), Some(sub_id), None) => replay_pair(ports, event_id, sub_id).await,
        (None, Some(sub_id), Some(since)) => replay_since(ports, sub_id, since, &req).await,
        (None, Some(_), None) => Err(ReplayError::Invalid(
            "a bulk replay needs since (an RFC 3339 time)".into(),
        )),
        (None, None, _) => Err(ReplayError::Invalid(
            "give event_id, event_id and subscription_id, or subscription_id and since".into(),
        )),
    }
}

async fn latest(
    ports: &Ports,
    event_id: &str,
) -> Result<HashMap<String, (u32, AttemptStatus)>, StoreError> {
    Ok(ports
        .deliveries
        .latest_by_subscription(event_id)
        .await?
        .into_iter()
        .map(|(s, n, st)| (s, (n, st)))
        .collect())
}

async fn enqueue(
    ports: &Ports,
    event_id: &str,
    sub_id: &str,
    attempt: u32,
) -> Result<Replayed, StoreError> {
    let message = QueueMessage::Deliver {
        event_id: event_id.to_owned(),
        subscription_id: sub_id.to_owned(),
        attempt,
        not_before: None,
        trigger: Trigger::Manual,
        rate_slot: None,
    };
    ports.queue.send(&message, Duration::ZERO).await?;
    Ok(Replayed {
        event_id: event_id.to_owned(),
        subscription_id: sub_id.to_owned(),
        attempt,
    })
}

/// The record looked up, or the error naming what was not found.
fn found<T>(record: Option<T>, kind: &'static str, id: &str) -> Result<T, ReplayError> {
    record.ok_or_else(|| ReplayError::NotFound {
        kind,
        id: id.to_owned(),
    })
}

async fn enabled_subscription(ports: &Ports, sub_id: &str) -> Result<Subscription, ReplayError> {
    let sub = found(
        ports.subscriptions.get(sub_id).await?,
        "subscription",
        sub_id,
    )?;
    if !sub.enabled {
        return Err(ReplayError::Disabled(sub_id.to_owned()));
    }
    Ok(sub)
}

async fn replay_event(ports: &Ports, event_id: &str) -> Result<ReplayReport, ReplayError> {
    let event = found(ports.events.get(event_id).await?, "event", event_id)?;
    let subs = ports.subscriptions.list().await?;
    let latest = latest(ports, event_id).await?;
    let mut report = ReplayReport::default();
    for sub in subs.iter().filter(|s| s.matches(&event.envelope)) {
        report.scanned += 1;
        let n = latest.get(&sub.id).map_or(0, |(n, _)| *n) + 1;
        report
            .deliveries
            .push(enqueue(ports, event_id, &sub.id, n).await?);
        report.queued += 1;
    }
    Ok(report)
}

async fn replay_pair(
    ports: &Ports,
    event_id: &str,
    sub_id: &str,
) -> Result<ReplayReport, ReplayError> {
    if ports.events.get(event_id).await?.is_none() {
        return Err(ReplayError::NotFound {
            kind: "event",
            id: event_id.to_owned(),
        });
    }
    enabled_subscription(ports, sub_id).await?;
    let latest = latest(ports, event_id).await?;
    let n = latest.get(sub_id).map_or(0, |(n, _)| *n) + 1;
    let replayed = enqueue(ports, event_id, sub_id, n).await?;
    Ok(ReplayReport {
        scanned: 1,
        queued: 1,
        skipped: 0,
        next_cursor: None,
        deliveries: vec![replayed],
    })
}

async fn replay_since(
    ports: &Ports,
    sub_id: &str,
    since: Timestamp,
    req: &ReplayRequest,
) -> Result<ReplayReport, ReplayError> {
    if req.until.is_some_and(|u| u <= since) {
        return Err(ReplayError::Invalid("until must be after since".into()));
    }
    let limit = req.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ReplayError::Invalid(format!(
            "limit must be 1..={MAX_PAGE}"
        )));
    }
    enabled_subscription(ports, sub_id).await?;
    let query = DeliveryQuery::Subscription {
        subscription_id: sub_id.to_owned(),
        status: None,
        range: TimeRange {
            since: Some(since),
            until: req.until,
        },
    };
    let page = ports
        .delivery_queries
        .query_deliveries(
            &query,
            &PageRequest {
                limit,
                cursor: req.cursor.clone(),
            },
        )
        .await
        .map_err(|e| match e {
            StoreError::Corrupt(_) | StoreError::InvalidCursor => {
                ReplayError::Invalid("cursor is not valid".into())
            }
            other => other.into(),
        })?;
    let mut report = ReplayReport {
        next_cursor: page.next_cursor,
        ..Default::default()
    };
    let mut seen = BTreeSet::new();
    for a in page.items {
        report.scanned += 1;
        let failed = matches!(a.status, AttemptStatus::Failed | AttemptStatus::Exhausted);
        if !failed || seen.contains(&a.event_id) {
            report.skipped += 1;
            continue;
        }
        // Replay only when this failure is still the pair's latest word.
        let latest = latest(ports, &a.event_id).await?;
        match latest.get(sub_id) {
            Some((n, status)) if *n == a.attempt && *status == a.status => {
                seen.insert(a.event_id.clone());
                report
                    .deliveries
                    .push(enqueue(ports, &a.event_id, sub_id, n + 1).await?);
                report.queued += 1;
            }
            _ => report.skipped += 1,
        }
    }
    Ok(report)
}
