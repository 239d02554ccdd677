//! Dispatch: takes queue messages, delivers events to the subscriptions that want them,
//! records every attempt and schedules retries.
//!
//! Guarantees, per (event, subscription) pair:
//! - at least once: a message is acknowledged only after every attempt it caused is
//!   recorded and every retry it needs is queued; any store or queue failure fails the
//!   message (partial batch response) so SQS redelivers it;
//! - never re-sent after success on purpose: a redelivered message skips pairs that
//!   already have an attempt at or beyond its own, a retry skips pairs that succeeded
//!   since their last replay (checked in the delivery records);
//! - one success on record: the store never replaces a `succeeded` attempt, so a
//!   concurrent duplicate that lost only logs its outcome;
//! - subscription writes (health record, auto-disable) are versioned read-change-writes
//!   that never undo a concurrent operator change.
//!
//! After each attempt: 2xx succeeds; 410 fails the pair and disables the subscription; a
//! refused target (SSRF guard) or an unrenderable template fails the pair without retry;
//! anything else (3xx included: redirects are not followed) retries on the schedule, no
//! sooner than a 429/503 `Retry-After` asks, until the schedule is used up (`exhausted`).
//! A subscription whose attempts keep failing for `Settings::disable_after` is disabled.
//! Operational events (`subscription.disabled`, `delivery.exhausted`, `delivery.failing` after
//! `failing_after` failed attempts in a row, `delivery.recovered` on the next success) are
//! queued as events of source `switchboard` for the subscriptions that name them.
//!
//! Under Lambda a batch has a deadline: an attempt that could not finish before it (its
//! timeout plus `Settings::deadline_margin`) is not started, and its message fails (see
//! [`slots`]); the pairs already delivered are skipped when SQS hands the message out again.

pub mod flow;
pub mod lambda;
pub mod poller;
pub mod replay;
pub mod slots;

mod attempt;
use attempt::{Ticket, Try};
mod decide;
mod health;
mod record;
mod traced;

pub use decide::decide;
use decide::pause_until;
pub use health::operational_event;
use health::Verdict;
use record::{attempt_record, Pair};

use crate::config::Settings;
use crate::delivery::client::{redact_url, ClientOptions};
use crate::delivery::guard::{Policy, UnknownClass};
use crate::delivery::render::EnvelopeJson;
use crate::delivery::retry::jitter;
use crate::delivery::{DeliveryClient, Outcome};
use crate::domain::attempt::AttemptStatus;
use crate::domain::ids::event_id;
use crate::domain::limits::MAX_RECORD_DOC_BYTES;
use crate::domain::subscription::{
    DELIVERY_EXHAUSTED, DELIVERY_FAILING, DELIVERY_RECOVERED, OPERATIONAL_SOURCE,
    SUBSCRIPTION_DISABLED,
};
use crate::domain::time::{now, Timestamp};
use crate::domain::{
    Attempt, Envelope, QueueMessage, RawRequest, StoredEvent, Subscription, TraceHeader, Trigger,
};
use crate::error::StoreError;
use crate::metrics::{Hold, Observation};
use crate::ports::versioned::{self, Modified};
use crate::ports::{DeliveryQuery, PageRequest, ReceivedMessage, Stored, MAX_QUEUE_DELAY};
use crate::state::Ports;
use futures::StreamExt;
use slots::{Slots, TooLate};
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;
use tracing::Instrument;

/// One message of a batch, whatever carried it (SQS event, poller).
#[derive(Debug, Clone)]
pub struct BatchRecord {
    pub message_id: String,
    pub body: String,
    /// The trace context the message was sent with (SQS's `AWSTraceHeader`).
    pub trace: Option<TraceHeader>,
}

impl From<&crate::ports::ReceivedMessage> for BatchRecord {
    fn from(m: &crate::ports::ReceivedMessage) -> Self {
        Self {
            message_id: m.message_id.clone(),
            body: m.body.clone(),
            trace: m.trace.clone(),
        }
    }
}

/// A message of a batch being handled: its JSON body, or the message itself when an
/// in-process queue kept it as sent.
struct Incoming {
    message_id: String,
    message: Body,
    trace: Option<TraceHeader>,
    /// What the queue says of the event it stored with the message (see
    /// [`ReceivedMessage::event_stored`]).
    event_stored: Option<Stored>,
    /// The event's envelope already serialised by the queue (see
    /// [`ReceivedMessage::envelope_json`]).
    envelope_json: Option<bytes::Bytes>,
}

enum Body {
    Json(String),
    Sent(std::sync::Arc<QueueMessage>),
}

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The body is not a queue message: it goes to the DLQ after the configured receives.
    #[error("undecodable queue message: {0}")]
    Decode(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Deadline(#[from] TooLate),
}

/// Why a dispatcher could not be built at cold start.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Policy(#[from] UnknownClass),
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] crate::delivery::transport::SetupError),
}

pub struct Dispatcher {
    ports: Ports,
    client: DeliveryClient,
    settings: Settings,
    /// Rate slots reserved and not yet spent (see [`flow`]).
    rate: flow::RateBlocks,
}

impl Dispatcher {
    pub fn new(ports: Ports, client: DeliveryClient, settings: Settings) -> Self {
        Self {
            ports,
            client,
            settings,
            rate: flow::RateBlocks::default(),
        }
    }

    /// The usual wiring: one pooled client with the system resolver and the SSRF policy of
    /// `settings.allow_private_targets`.
    pub fn from_settings(ports: Ports, settings: Settings) -> Result<Self, InitError> {
        let policy = Policy::from_names(&settings.allow_private_targets)?;
        let client =
            DeliveryClient::with_options(ClientOptions::new(settings.default_timeout, policy))?;
        Ok(Self::new(ports, client, settings))
    }

    pub fn ports(&self) -> &Ports {
        &self.ports
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Handles a batch with no deadline; returns the ids of the messages that failed and
    /// must be retried.
    pub async fn handle_batch(&self, records: Vec<BatchRecord>) -> Vec<String> {
        self.handle_batch_before(records, None).await
    }

    /// Handles messages a queue consumer received (the poller of `serve`), taking each
    /// message as it was sent when the queue kept it; returns the ids of the failed ones.
    pub async fn handle_received(&self, messages: Vec<ReceivedMessage>) -> Vec<String> {
        let incoming = messages
            .into_iter()
            .map(|m| Incoming {
                message_id: m.message_id,
                message: match m.sent {
                    Some(sent) => Body::Sent(sent),
                    None => Body::Json(m.body),
                },
                trace: m.trace,
                event_stored: m.event_stored,
                envelope_json: m.envelope_json,
            })
            .collect();
        self.handle_incoming(incoming, None).await
    }

    /// Handles a batch that must be done by `deadline`: attempts that could not finish in
    /// time are not started and their messages are among the failed ones returned.
    pub async fn handle_batch_before(
        &self,
        records: Vec<BatchRecord>,
        deadline: Option<Instant>,
    ) -> Vec<String> {
        let incoming = records
            .into_iter()
            .map(|r| Incoming {
                message_id: r.message_id,
                message: Body::Json(r.body),
                trace: r.trace,
                event_stored: None,
                envelope_json: None,
            })
            .collect();
        self.handle_incoming(incoming, deadline).await
    }

    async fn handle_incoming(
        &self,
        records: Vec<Incoming>,
        deadline: Option<Instant>,
    ) -> Vec<String> {
        // Subscriptions are read once per batch, not per message.
        let subscriptions = match self.ports.subscriptions.list().await {
            Ok(subs) => subs,
            Err(e) => {
                tracing::error!(error = %e, "cannot list subscriptions; failing the batch");
                return records.into_iter().map(|r| r.message_id).collect();
            }
        };
        let permits = Slots::new(
            self.settings.delivery_concurrency,
            deadline,
            self.settings.deadline_margin,
        );
        let permits = &permits;
        let subscriptions = &subscriptions;
        futures::stream::iter(records)
            .map(|record| async move {
                let trace_id = record.trace.as_ref().map(TraceHeader::root);
                let span = tracing::info_span!("message", message_id = %record.message_id, trace_id);
                let work = self.handle_message(&record, subscriptions, permits);
                let result = traced::within(record.trace.clone(), work.instrument(span)).await;
                match result {
                    Ok(()) => None,
                    Err(DispatchError::Store(StoreError::Rejected(cause))) => {
                        // A request the store refuses would be refused on every receipt: a
                        // retry would only loop until the dead-letter queue.
                        tracing::error!(message_id = %record.message_id, %cause, "message refused by the store; not retried");
                        None
                    }
                    Err(DispatchError::Deadline(_)) => {
                        tracing::info!(message_id = %record.message_id, "deadline near: deliveries left for the redelivery");
                        Some(record.message_id)
                    }
                    Err(e) => {
                        tracing::warn!(message_id = %record.message_id, error = %e, "message failed; it will be retried");
                        Some(record.message_id)
                    }
                }
            })
            .buffer_unordered(self.settings.delivery_concurrency.max(1))
            .filter_map(|failed| async move { failed })
            .collect()
            .await
    }

    async fn handle_message(
        &self,
        record: &Incoming,
        subscriptions: &[Subscription],
        permits: &Slots,
    ) -> Result<(), DispatchError> {
        let decoded;
        let message = match &record.message {
            Body::Sent(sent) => sent.as_ref(),
            Body::Json(json) => {
                decoded = QueueMessage::from_json(json)
                    .map_err(|e| DispatchError::Decode(e.to_string()))?;
                &decoded
            }
        };
        permits.check_open()?;
        match message {
            QueueMessage::Event { event } => {
                let envelope = match &record.envelope_json {
                    Some(json) => EnvelopeJson::serialised_as(json.clone()),
                    None => EnvelopeJson::default(),
                };
                self.fan_out(
                    event,
                    record.event_stored,
                    &envelope,
                    subscriptions,
                    permits,
                )
                .await
            }
            QueueMessage::Deliver {
                event_id,
                subscription_id,
                attempt,
                not_before,
                trigger,
                rate_slot,
            } => {
                if let Some(at) = not_before {
                    let wait = (*at - now()).to_std().unwrap_or(Duration::ZERO);
                    if wait > Duration::from_secs(1) {
                        // Further away than SQS can delay: wait another round.
                        self.send(message, wait.min(MAX_QUEUE_DELAY)).await?;
                        return Ok(());
                    }
                }
                let pair = Pair {
                    event_id,
                    subscription_id,
                };
                let ticket = Ticket {
                    attempt: *attempt,
                    trigger: *trigger,
                    rate_slot: *rate_slot,
                };
                // Boxed: a retry's future (read the event, the history, then deliver) is
                // the largest of a message's; inline, it sized every message's future.
                Box::pin(self.deliver_one(pair, ticket, subscriptions, permits)).await
            }
        }
    }

    /// A new event: store it (unless the queue stored it with the message), then deliver
    /// to every subscription that wants it and has no attempt yet (a redelivered message
    /// skips pairs already handled).
    /// `envelope`: the event's envelope JSON, serialised once for the store and every
    /// subscription of the event (or by the queue already).
    async fn fan_out(
        &self,
        event: &std::sync::Arc<StoredEvent>,
        stored_by_queue: Option<Stored>,
        envelope: &EnvelopeJson,
        subscriptions: &[Subscription],
        permits: &Slots,
    ) -> Result<(), DispatchError> {
        let expires =
            now() + chrono::Duration::from_std(self.settings.retention).unwrap_or_default();
        let put = match stored_by_queue {
            Some(stored) => Ok(stored),
            None => match envelope.serialised(event) {
                Ok(json) => {
                    self.ports
                        .events
                        .put_serialised(event, &json, expires)
                        .await
                }
                Err(_) => self
                    .ports
                    .events
                    .put(event, expires)
                    .await
                    .map(|()| Stored::Unknown),
            },
        };
        let (stored, new) = match put {
            Ok(put) => (true, put == Stored::New),
            Err(StoreError::Rejected(cause)) => {
                tracing::error!(event_id = %event.envelope.id, %cause, "the store refused the event; recording failed attempts");
                (false, false)
            }
            Err(e) => return Err(e.into()),
        };
        let mut targets: Vec<&Subscription> = subscriptions
            .iter()
            .filter(|s| s.wants(&event.envelope))
            .collect();
        if targets.iter().any(|s| s.filter.is_some()) {
            let json = serde_json::to_value(&event.envelope)
                .map_err(|e| DispatchError::Decode(e.to_string()))?;
            targets.retain(|s| s.wants_content(&json));
        }
        if targets.is_empty() {
            return Ok(());
        }
        // An event stored for the first time has no attempts yet: no read needed (a
        // redelivered or redriven message finds its event stored and reads them).
        let done: HashMap<String, u32> = if new {
            HashMap::new()
        } else {
            self.ports
                .deliveries
                .latest_by_subscription(&event.envelope.id)
                .await?
                .into_iter()
                .map(|(sub, n, _)| (sub, n))
                .collect()
        };
        let pending = targets.into_iter().filter(|s| !done.contains_key(&s.id));
        if !stored {
            // Retries and replays read the stored event: without it, fail each pair on record
            // (visible to ops, not retried) rather than retry a write that cannot succeed.
            for sub in pending {
                let why = "the event could not be stored (over the store's limits)";
                let record = self.record_without_request(event, sub, 1, Trigger::Initial, why);
                self.record(record, event).await?;
            }
            return Ok(());
        }
        let results = futures::future::join_all(pending.map(|sub| {
            self.gated(
                event,
                sub,
                Ticket::initial(),
                envelope,
                subscriptions,
                permits,
            )
        }))
        .await;
        results.into_iter().collect::<Result<Vec<()>, _>>()?;
        Ok(())
    }

    /// A retry or replay of one pair.
    async fn deliver_one(
        &self,
        pair: Pair<'_>,
        ticket: Ticket,
        subscriptions: &[Subscription],
        permits: &Slots,
    ) -> Result<(), DispatchError> {
        let Ticket {
            attempt, trigger, ..
        } = ticket;
        let Pair {
            event_id,
            subscription_id,
        } = pair;
        let Some(event) = self.ports.events.get(event_id).await? else {
            tracing::warn!(%event_id, "event no longer stored (retention?); dropping delivery");
            return Ok(());
        };
        let Some(sub) = self.ports.subscriptions.get(subscription_id).await? else {
            tracing::warn!(%subscription_id, "subscription deleted; dropping delivery");
            return Ok(());
        };
        let history = self.pair_history(pair).await?;
        let handled = history.latest.is_some_and(|n| n >= attempt);
        // A success since the last replay, not only in the newest record: a duplicate that
        // lost to a concurrent success may have recorded a later failure.
        let succeeded = history.succeeded() && trigger != Trigger::Manual;
        if handled || succeeded || !sub.enabled {
            return self
                .not_sent(&event, &sub, ticket, history, handled || succeeded)
                .instrument(delivery_span(&event, &sub.id, attempt))
                .await;
        }
        let envelope = EnvelopeJson::default();
        self.gated(&event, &sub, ticket, &envelope, subscriptions, permits)
            .await
    }

    /// An attempt once flow control lets it start (or its deferral), then the lane's
    /// hand-over.
    async fn gated(
        &self,
        event: &StoredEvent,
        sub: &Subscription,
        ticket: Ticket,
        envelope: &EnvelopeJson,
        subscriptions: &[Subscription],
        permits: &Slots,
    ) -> Result<(), DispatchError> {
        let Ticket {
            attempt: n,
            trigger,
            rate_slot,
        } = ticket;
        let this = Try {
            n,
            trigger,
            envelope,
        };
        async {
            if sub.ordering.is_none() && sub.rate_limit_per_second.is_none() {
                self.attempt(event, sub, this, subscriptions, permits)
                    .await?;
                return Ok(());
            }
            match self
                .admit(event, sub, n, trigger, rate_slot, permits)
                .await?
            {
                flow::Gate::Deferred => Ok(()),
                flow::Gate::Go => {
                    let status = self
                        .attempt(event, sub, this, subscriptions, permits)
                        .await?;
                    self.after_attempt(event, sub, status).await
                }
            }
        }
        .instrument(delivery_span(event, &sub.id, n))
        .await
    }
}

/// The span of one delivery: every log line about it names the event, subscription, call
/// and attempt (and, from the message's span, the trace).
fn delivery_span(event: &StoredEvent, subscription_id: &str, attempt: u32) -> tracing::Span {
    let call_id = event.envelope.call_id().unwrap_or_default();
    tracing::info_span!("delivery", event_id = %event.envelope.id, %subscription_id, %call_id, attempt)
}
