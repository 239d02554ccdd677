//! One attempt of a pair once flow control let it start (send, decide, queue the retry,
//! report health and operational events, record), and the pairs that are not sent.

use super::*;

/// Which attempt of a pair is being made, and the event's envelope shared by its pairs.
#[derive(Clone, Copy)]
pub(super) struct Try<'a> {
    pub(super) n: u32,
    pub(super) trigger: Trigger,
    pub(super) envelope: &'a EnvelopeJson,
}

/// Which attempt of a pair a message asks for, and the rate slot it already holds.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ticket {
    pub(super) attempt: u32,
    pub(super) trigger: Trigger,
    pub(super) rate_slot: Option<Timestamp>,
}

impl Ticket {
    pub(super) fn initial() -> Self {
        Self {
            attempt: 1,
            trigger: Trigger::Initial,
            rate_slot: None,
        }
    }
}

impl Dispatcher {
    /// Makes attempt `n` of a pair, queues the next one if it failed, then records it (each
    /// attempt as soon as it ends: a crash then re-sends only the pairs without a record).
    /// The retry is queued before the record is written: if recording fails the message is
    /// retried, and the duplicate retry is skipped by the attempt-number check.
    pub(super) async fn attempt(
        &self,
        event: &StoredEvent,
        sub: &Subscription,
        this: Try<'_>,
        subscriptions: &[Subscription],
        permits: &Slots,
    ) -> Result<AttemptStatus, DispatchError> {
        let Try {
            n,
            trigger,
            envelope,
        } = this;
        {
            let outcome = {
                let _permit = permits.start(self.client.timeout_for(sub)).await?;
                self.client.deliver_with(sub, event, envelope).await
            };
            // A 429's pause takes effect before anything else this attempt writes: until it
            // does, other deliveries of the subscription keep taking rate slots.
            if let Some(until) = pause_until(&outcome) {
                self.pause(sub, until).await?;
            }
            let (mut status, mut next_at) = self.decide(sub, n, &outcome);
            let mut disabled = None;
            if let Some(verdict) = self.health(sub, &outcome, event, subscriptions).await? {
                disabled = self.disable(sub, &verdict, outcome.attempted_at).await?;
                if disabled.is_some() || verdict == Verdict::Gone {
                    status = AttemptStatus::Failed;
                    next_at = None;
                }
            }
            if let Some(at) = next_at {
                let delay = (at - now()).to_std().unwrap_or(Duration::ZERO);
                let retry = QueueMessage::Deliver {
                    event_id: event.envelope.id.clone(),
                    subscription_id: sub.id.clone(),
                    attempt: n + 1,
                    not_before: Some(at),
                    trigger: Trigger::Retry,
                    rate_slot: None,
                };
                self.send(&retry, delay.min(MAX_QUEUE_DELAY)).await?;
            }
            if let Some(disabled) = disabled {
                let observed = Observation::SubscriptionDisabled {
                    subscription: &disabled.id,
                };
                self.ports.metrics.observe(&observed);
                let data = serde_json::json!({
                    "subscription_id": disabled.id,
                    "url": redact_url(&disabled.url),
                    "reason": disabled.disabled_reason,
                    "failing_since": disabled.failing_since,
                    "disabled_at": disabled.updated_at,
                });
                self.emit(subscriptions, SUBSCRIPTION_DISABLED, data, Some(&sub.id))
                    .await?;
            }
            if status == AttemptStatus::Exhausted && event.envelope.source != OPERATIONAL_SOURCE {
                let data = serde_json::json!({
                    "event_id": event.envelope.id,
                    "event_type": event.envelope.event_type,
                    "source": event.envelope.source,
                    "subscription_id": sub.id,
                    "url": outcome.url,
                    "attempts": n,
                    "http_status": outcome.http_status,
                    "error": outcome.error,
                });
                self.emit(subscriptions, DELIVERY_EXHAUSTED, data, None)
                    .await?;
            }
            let record = attempt_record(event, sub, n, trigger, status, next_at, outcome);
            tracing::info!(status = status.as_str(), http_status = ?record.http_status, duration_ms = record.duration_ms, "attempt");
            self.record(record, event).await?;
            Ok(status)
        }
    }

    /// A retry or replay that is not sent: the pair was handled already, or its
    /// subscription is disabled (recorded as failed).
    pub(super) async fn not_sent(
        &self,
        event: &StoredEvent,
        sub: &Subscription,
        ticket: Ticket,
        history: record::PairHistory,
        handled: bool,
    ) -> Result<(), DispatchError> {
        if handled {
            tracing::info!("already handled; skipping");
            if let Some(status) = history.latest_status {
                // A dispatcher that stopped after recording may not have left the lane.
                self.after_attempt(event, sub, status).await?;
            }
            return Ok(());
        }
        let why = "subscription is disabled";
        let record = self.record_without_request(event, sub, ticket.attempt, ticket.trigger, why);
        let status = record.status;
        self.record(record, event).await?;
        self.after_attempt(event, sub, status).await
    }

    /// The attempt's status and, when retrying, the time of the next attempt.
    fn decide(
        &self,
        sub: &Subscription,
        n: u32,
        outcome: &Outcome,
    ) -> (AttemptStatus, Option<Timestamp>) {
        decide(sub, n, outcome, jitter())
    }
}
