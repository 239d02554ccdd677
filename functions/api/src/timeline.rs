//! The body of `GET /admin/calls/{id}`: a call's events, each with every subscription's
//! outcome so far.

use crate::domain::attempt::{AttemptStatus, ErrorKind};
use crate::domain::time::Timestamp;
use crate::domain::{Attempt, Envelope};
use serde::Serialize;

/// A call's timeline. Absent values are `null` (every field is always present).
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct CallTimeline {
    pub call_id: String,
    /// In `occurred_at` order, then arrival.
    pub events: Vec<TimelineEvent>,
}

/// One event of the call.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct TimelineEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub occurred_at: Option<Timestamp>,
    pub received_at: Timestamp,
    pub source: String,
    pub provider_event: Option<String>,
    pub raw_unparsed: bool,
    /// One per subscription the event went to.
    pub deliveries: Vec<DeliveryOutcome>,
}

impl TimelineEvent {
    pub fn new(e: &Envelope, deliveries: Vec<DeliveryOutcome>) -> Self {
        Self {
            id: e.id.clone(),
            event_type: e.event_type.clone(),
            occurred_at: e.occurred_at,
            received_at: e.received_at,
            source: e.source.clone(),
            provider_event: e.provider_event.clone(),
            raw_unparsed: e.raw_unparsed,
            deliveries,
        }
    }
}

/// An event's outcome at one subscription: its latest attempt.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct DeliveryOutcome {
    pub subscription_id: String,
    pub status: AttemptStatus,
    /// Attempts on record for this subscription.
    #[cfg_attr(feature = "openapi", schemars(range(min = 1)))]
    pub attempts: u32,
    /// The latest attempt's number.
    pub last_attempt: u32,
    pub last_attempted_at: Timestamp,
    pub http_status: Option<u16>,
    pub error_kind: Option<ErrorKind>,
    pub error: Option<String>,
    pub next_attempt_at: Option<Timestamp>,
}

impl DeliveryOutcome {
    /// `latest` is the pair's latest attempt, `attempts` how many are on record.
    pub fn new(attempts: u32, latest: Attempt) -> Self {
        Self {
            subscription_id: latest.subscription_id,
            status: latest.status,
            attempts,
            last_attempt: latest.attempt,
            last_attempted_at: latest.attempted_at,
            http_status: latest.http_status,
            error_kind: latest.error_kind,
            error: latest.error,
            next_attempt_at: latest.next_attempt_at,
        }
    }
}
