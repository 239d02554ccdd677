//! Metrics: what happened, in domain words, told to a [`Metrics`] sink. The handlers make
//! one call per outcome; the sinks decide the encoding: CloudWatch Embedded Metric Format
//! lines for the Lambdas ([`emf`]), Prometheus text for `serve` (in the CLI, so the
//! exposition crate stays out of the Lambda packages).

pub mod emf;

use crate::domain::attempt::AttemptStatus;
use crate::domain::Attempt;
use async_trait::async_trait;
use std::borrow::Cow;
use std::time::Duration;

/// How ingest answered a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    /// Queued (202).
    Accepted,
    /// A provider retry of a queued event (200).
    Duplicate,
    /// Refused with this HTTP status (401, 404, 413, 503, ...).
    Rejected(u16),
}

impl EventOutcome {
    /// The `outcome` label/dimension: `accepted`, `duplicate`, `rejected_<status>`.
    pub fn label(self) -> Cow<'static, str> {
        match self {
            Self::Accepted => Cow::Borrowed("accepted"),
            Self::Duplicate => Cow::Borrowed("duplicate"),
            Self::Rejected(status) => Cow::Owned(format!("rejected_{status}")),
        }
    }
}

/// The source label of a webhook whose source does not exist: the path segment is the
/// caller's to choose, so it never becomes a label (unbounded series, billed per series).
pub const UNKNOWN_SOURCE: &str = "unknown";

/// Why flow control put a delivery back on the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldReason {
    /// In its call's ordering window (events of the call may still arrive out of order).
    OrderingWindow,
    /// Behind an earlier event of its call that is not done.
    Ordering,
    /// Waiting for the subscription's rate limit (or a 429's `Retry-After`).
    RateLimit,
}

impl HoldReason {
    /// The `reason` label/dimension.
    pub fn label(self) -> &'static str {
        match self {
            Self::OrderingWindow => "ordering_window",
            Self::Ordering => "ordering",
            Self::RateLimit => "rate_limit",
        }
    }
}

/// A delivery deferred by flow control: why, and for how long (until its next look).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    pub reason: HoldReason,
    pub wait: Duration,
}

/// One thing worth counting.
#[derive(Debug, Clone, Copy)]
pub enum Observation<'a> {
    /// A webhook answered; `event_id` and `unparsed` only when it was accepted.
    Event {
        source: &'a str,
        outcome: EventOutcome,
        event_id: Option<&'a str>,
        /// The body could not be parsed (kept raw, `raw_unparsed: true`).
        unparsed: bool,
    },
    /// A delivery attempt recorded; `lag` (received → delivered) when it succeeded, `trace`
    /// (the root id of the ingest request's trace) when its message carried one, `hold`
    /// when it is a deferral (a held or waiting record, not an attempt).
    Delivery {
        attempt: &'a Attempt,
        lag: Option<Duration>,
        trace: Option<&'a str>,
        hold: Option<Hold>,
    },
    /// A subscription turned off by dispatch (410, or failing for too long).
    SubscriptionDisabled { subscription: &'a str },
}

impl Observation<'_> {
    /// Whether a delivery attempt failed (retrying, exhausted or failed): its average over
    /// attempts is the failure ratio. A delivery held by ordering or waiting for the rate
    /// limit has not been attempted: it is neither.
    pub fn failed(status: AttemptStatus) -> bool {
        matches!(
            status,
            AttemptStatus::Retrying | AttemptStatus::Exhausted | AttemptStatus::Failed
        )
    }
}

/// A metrics sink. `observe` must not block nor fail: metrics never hold up a webhook or
/// a delivery.
#[async_trait]
pub trait Metrics: Send + Sync {
    fn observe(&self, observation: &Observation<'_>);
    /// The sink's current state as Prometheus text, for sinks that are scraped
    /// (`GET /metrics` under `serve`); `None` for sinks that push (EMF lines).
    async fn exposition(&self) -> Option<String> {
        None
    }
}

/// A sink that drops everything (tests, tools, and what is not wired to a sink).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoMetrics;

impl Metrics for NoMetrics {
    fn observe(&self, _: &Observation<'_>) {}
}
