//! Dispatch: takes queue messages, delivers events to the subscriptions that want them,
//! records every attempt and schedules retries.
//!
//! Guarantees, per (event, subscription) pair:
//! - at least once: a message is acknowledged only after every attempt it caused is
//!   recorded and every retry it needs is queued; any store or queue failure fails the
//!   message (partial batch response) so SQS redelivers it;
//! - never re-sent after success on purpose: a redelivered message skips pairs that
//!   already have an attempt at or beyond its own (checked in the delivery records).

pub mod lambda;
pub mod poller;

use crate::config::Settings;
use crate::delivery::retry::{jitter, next_delay, parse_retry_after, DEFAULT_SCHEDULE_SECS};
use crate::delivery::{DeliveryClient, Outcome};
use crate::domain::attempt::AttemptStatus;
use crate::domain::time::now;
use crate::domain::{Attempt, QueueMessage, StoredEvent, Subscription, Trigger};
use crate::error::StoreError;
use crate::ports::MAX_QUEUE_DELAY;
use crate::state::Ports;
use futures::StreamExt;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::Semaphore;
use tracing::Instrument;

/// One message of a batch, whatever carried it (SQS event, poller).
#[derive(Debug, Clone)]
pub struct BatchRecord {
    pub message_id: String,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The body is not a queue message: it goes to the DLQ after the configured receives.
    #[error("undecodable queue message: {0}")]
    Decode(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Dispatcher {
    ports: Ports,
    client: DeliveryClient,
    settings: Settings,
}

impl Dispatcher {
    pub fn new(ports: Ports, client: DeliveryClient, settings: Settings) -> Self {
        Self {
            ports,
            client,
            settings,
        }
    }

    pub fn ports(&self) -> &Ports {
        &self.ports
    }

    /// Handles a batch; returns the ids of the messages that failed and must be retried.
    pub async fn handle_batch(&self, records: Vec<BatchRecord>) -> Vec<String> {
        // Subscriptions are read once per batch, not per message.
        let subscriptions = match self.ports.subscriptions.list().await {
            Ok(subs) => subs,
            Err(e) => {
                tracing::error!(error = %e, "cannot list subscriptions; failing the batch");
                return records.into_iter().map(|r| r.message_id).collect();
            }
        };
        let permits = Semaphore::new(self.settings.delivery_concurrency);
        let permits = &permits;
        let subscriptions = &subscriptions;
        futures::stream::iter(records)
            .map(|record| async move {
                let span = tracing::info_span!("message", message_id = %record.message_id);
                let result = self
                    .handle_message(&record.body, subscriptions, permits)
                    .instrument(span)
                    .await;
                match result {
                    Ok(()) => None,
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
        body: &str,
        subscriptions: &[Subscription],
        permits: &Semaphore,
    ) -> Result<(), DispatchError> {
        let message =
            QueueMessage::from_json(body).map_err(|e| DispatchError::Decode(e.to_string()))?;
        match message {
            QueueMessage::Event { event } => self.fan_out(&event, subscriptions, permits).await,
            QueueMessage::Deliver {
                event_id,
                subscription_id,
                attempt,
                not_before,
                trigger,
            } => {
                if let Some(at) = not_before {
                    let wait = (at - now()).to_std().unwrap_or(Duration::ZERO);
                    if wait > Duration::from_secs(1) {
                        // Further away than SQS can delay: wait another round.
                        let again = QueueMessage::Deliver {
                            event_id,
                            subscription_id,
                            attempt,
                            not_before,
                            trigger,
                        };
                        self.ports
                            .queue
                            .send(&again, wait.min(MAX_QUEUE_DELAY))
                            .await?;
                        return Ok(());
                    }
                }
                self.deliver_one(&event_id, &subscription_id, attempt, trigger, permits)
                    .await
            }
        }
    }

    /// A new event: store it, then deliver to every subscription that wants it and has
    /// no attempt yet (a redelivered message skips pairs already handled).
    async fn fan_out(
        &self,
        event: &StoredEvent,
        subscriptions: &[Subscription],
        permits: &Semaphore,
    ) -> Result<(), DispatchError> {
        let expires =
            now() + chrono::Duration::from_std(self.settings.retention).unwrap_or_default();
        self.ports.events.put(event, expires).await?;
        let targets: Vec<&Subscription> = subscriptions
            .iter()
            .filter(|s| s.wants(&event.envelope))
            .collect();
        if targets.is_empty() {
            return Ok(());
        }
        let done: HashMap<String, u32> = self
            .ports
            .deliveries
            .latest_by_subscription(&event.envelope.id)
            .await?
            .into_iter()
            .map(|(sub, n, _)| (sub, n))
            .collect();
        let results = futures::future::join_all(
            targets
                .into_iter()
                .filter(|s| !done.contains_key(&s.id))
                .map(|sub| self.attempt(event, sub, 1, Trigger::Initial, permits)),
        )
        .await;
        results.into_iter().collect::<Result<Vec<()>, _>>()?;
        Ok(())
    }

    /// A retry or replay of one pair.
    async fn deliver_one(
        &self,
        event_id: &str,
        subscription_id: &str,
        attempt: u32,
        trigger: Trigger,
        permits: &Semaphore,
    ) -> Result<(), DispatchError> {
        let Some(event) = self.ports.events.get(event_id).await? else {
            tracing::warn!(%event_id, "event no longer stored (retention?); dropping delivery");
            return Ok(());
        };
        let Some(sub) = self.ports.subscriptions.get(subscription_id).await? else {
            tracing::warn!(%subscription_id, "subscription deleted; dropping delivery");
            return Ok(());
        };
        let latest = self
            .ports
            .deliveries
            .latest_by_subscription(event_id)
            .await?
            .into_iter()
            .find(|(s, _, _)| s == subscription_id);
        if let Some((_, n, status)) = latest {
            let handled = n >= attempt;
            let succeeded = status == AttemptStatus::Succeeded && trigger != Trigger::Manual;
            if handled || succeeded {
                tracing::info!(%event_id, %subscription_id, attempt, "already handled; skipping");
                return Ok(());
            }
        }
        if !sub.enabled {
            let record = self.record_without_request(
                &event,
                &sub,
                attempt,
                trigger,
                "subscription is disabled",
            );
            self.record(&record).await?;
            return Ok(());
        }
        self.attempt(&event, &sub, attempt, trigger, permits).await
    }

    /// Makes attempt `n` of a pair, queues the next one if it failed, then records it.
    /// The retry is queued before the record is written: if recording fails the message is
    /// retried, and the duplicate retry is skipped by the attempt-number check.
    async fn attempt(
        &self,
        event: &StoredEvent,
        sub: &Subscription,
        n: u32,
        trigger: Trigger,
        permits: &Semaphore,
    ) -> Result<(), DispatchError> {
        let span = tracing::info_span!("delivery", event_id = %event.envelope.id, subscription_id = %sub.id, attempt = n);
        async {
            let outcome = {
                let _permit = permits.acquire().await.ok();
                self.client.deliver(sub, event).await
            };
            let (status, next_at) = self.decide(sub, n, &outcome);
            if let Some(at) = next_at {
                let delay = (at - now()).to_std().unwrap_or(Duration::ZERO);
                let retry = QueueMessage::Deliver {
                    event_id: event.envelope.id.clone(),
                    subscription_id: sub.id.clone(),
                    attempt: n + 1,
                    not_before: Some(at),
                    trigger: Trigger::Retry,
                };
                self.ports.queue.send(&retry, delay.min(MAX_QUEUE_DELAY)).await?;
            }
            if outcome.http_status == Some(410) {
                self.disable(sub, "the endpoint answered 410 Gone").await?;
            }
            let record = attempt_record(event, sub, n, trigger, status, next_at, outcome);
            tracing::info!(status = status.as_str(), http_status = ?record.http_status, duration_ms = record.duration_ms, "attempt");
            self.record(&record).await
        }
        .instrument(span)
        .await
    }

    /// The attempt's status and, when retrying, the time of the next attempt.
    fn decide(
        &self,
        sub: &Subscription,
        n: u32,
        outcome: &Outcome,
    ) -> (AttemptStatus, Option<crate::domain::time::Timestamp>) {
        if outcome.succeeded() {
            return (AttemptStatus::Succeeded, None);
        }
        if outcome.http_status == Some(410) {
            return (AttemptStatus::Failed, None);
        }
        let schedule = sub
            .retry_schedule_secs
            .as_deref()
            .unwrap_or(&DEFAULT_SCHEDULE_SECS);
        let Some(mut delay) = next_delay(schedule, n, jitter()) else {
            return (AttemptStatus::Exhausted, None);
        };
        if matches!(outcome.http_status, Some(429 | 503)) {
            if let Some(asked) = outcome
                .retry_after
                .as_deref()
                .and_then(|v| parse_retry_after(v, outcome.attempted_at))
            {
                delay = delay.max(asked);
            }
        }
        let at = now() + chrono::Duration::from_std(delay).unwrap_or_default();
        (AttemptStatus::Retrying, Some(at))
    }

    async fn disable(&self, sub: &Subscription, reason: &str) -> Result<(), StoreError> {
        let mut updated = sub.clone();
        updated.enabled = false;
        updated.disabled_reason = Some(reason.to_owned());
        updated.updated_at = now();
        match self.ports.subscriptions.update(&updated).await {
            Ok(()) | Err(StoreError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn record(&self, attempt: &Attempt) -> Result<(), DispatchError> {
        let expires = attempt.attempted_at
            + chrono::Duration::from_std(self.settings.retention).unwrap_or_default();
        self.ports.deliveries.record(attempt, expires).await?;
        Ok(())
    }

    fn record_without_request(
        &self,
        event: &StoredEvent,
        sub: &Subscription,
        n: u32,
        trigger: Trigger,
        why: &str,
    ) -> Attempt {
        let outcome = Outcome {
            url: sub.url.clone(),
            method: sub.method.as_str().to_owned(),
            request_headers: Default::default(),
            http_status: None,
            retry_after: None,
            duration: Duration::ZERO,
            response_excerpt: None,
            error_kind: None,
            error: Some(why.to_owned()),
            attempted_at: now(),
        };
        attempt_record(event, sub, n, trigger, AttemptStatus::Failed, None, outcome)
    }
}

fn attempt_record(
    event: &StoredEvent,
    sub: &Subscription,
    n: u32,
    trigger: Trigger,
    status: AttemptStatus,
    next_attempt_at: Option<crate::domain::time::Timestamp>,
    outcome: Outcome,
) -> Attempt {
    Attempt {
        event_id: event.envelope.id.clone(),
        subscription_id: sub.id.clone(),
        attempt: n,
        status,
        trigger,
        url: outcome.url,
        method: outcome.method,
        request_headers: outcome.request_headers,
        http_status: outcome.http_status,
        duration_ms: u64::try_from(outcome.duration.as_millis()).unwrap_or(u64::MAX),
        response_excerpt: outcome.response_excerpt,
        error_kind: outcome.error_kind,
        error: outcome.error,
        next_attempt_at,
        attempted_at: outcome.attempted_at,
        source: event.envelope.source.clone(),
        event_type: event.envelope.event_type.clone(),
        call_id: event.envelope.call_id().map(str::to_owned),
    }
}
