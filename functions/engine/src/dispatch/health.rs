//! Endpoint health: failure runs, auto-disable, and the operational events they emit.

use super::*;

/// One attempt's health inputs, as [`Dispatcher::health`] hands them on.
#[derive(Clone, Copy)]
struct Attempted<'a> {
    sub: &'a Subscription,
    outcome: &'a Outcome,
    event: &'a StoredEvent,
    subscriptions: &'a [Subscription],
}

impl Dispatcher {
    /// Endpoint health: tracks the run of failures on the subscription (its start and, until
    /// `delivery.failing` is emitted, its length) and returns a verdict to disable it (410,
    /// or failing for longer than allowed). Every write is decided on a fresh read (the
    /// batch's copy may be stale) and made under optimistic concurrency, so it never undoes
    /// a concurrent edit, and the one write that crosses the threshold (or ends a reported
    /// run) is the one that emits `delivery.failing` (`delivery.recovered`), once across
    /// every dispatcher (see [`Self::disable`] for the verdict).
    pub(super) async fn health(
        &self,
        sub: &Subscription,
        outcome: &Outcome,
        event: &StoredEvent,
        subscriptions: &[Subscription],
    ) -> Result<Option<Verdict>, StoreError> {
        let attempted = Attempted {
            sub,
            outcome,
            event,
            subscriptions,
        };
        if outcome.http_status == Some(410) {
            return Ok(Some(Verdict::Gone));
        }
        if outcome.succeeded() {
            let run = sub.failing_since.is_some()
                || sub.consecutive_failures > 0
                || sub.failing_reported_at.is_some();
            if run {
                self.end_failure_run(attempted).await?;
            }
            return Ok(None);
        }
        let at = outcome.attempted_at;
        if let Some(since) = sub.failing_since {
            if at - since >= self.disable_after() {
                return Ok(Some(Verdict::FailingSince(since)));
            }
        }
        if sub.failing_since.is_none() || sub.failing_reported_at.is_none() {
            self.count_failure(attempted).await?;
        }
        Ok(None)
    }

    /// Counts a failed attempt on a fresh read: starts the run, and emits `delivery.failing`
    /// when this failure is the subscription's `failing_after`-th in a row. A conflict that
    /// persists loses this one count (the writers that won counted theirs) rather than fail
    /// the message, which would send the attempt again.
    async fn count_failure(&self, attempted: Attempted<'_>) -> Result<(), StoreError> {
        let Attempted { sub, outcome, .. } = attempted;
        let at = outcome.attempted_at;
        let default_after = self.settings.failing_after;
        let mut crossed = false;
        let counted = self.update_fresh(&sub.id, |s| {
            crossed = false;
            let mut changed = false;
            if s.failing_since.is_none() {
                s.failing_since = Some(at);
                changed = true;
            }
            if s.failing_reported_at.is_none() {
                s.consecutive_failures = s.consecutive_failures.saturating_add(1);
                if s.consecutive_failures >= s.failing_after.unwrap_or(default_after) {
                    s.failing_reported_at = Some(now());
                    crossed = true;
                }
                changed = true;
            }
            changed
        });
        let written = match counted.await {
            Err(StoreError::Stale) => {
                tracing::warn!("failure not counted: the subscription kept changing concurrently");
                return Ok(());
            }
            other => other?,
        };
        let Some(s) = written.filter(|_| crossed) else {
            return Ok(());
        };
        tracing::warn!(
            consecutive_failures = s.consecutive_failures,
            "subscription failing"
        );
        let data = serde_json::json!({
            "subscription_id": s.id,
            "url": redact_url(&s.url),
            "consecutive_failures": s.consecutive_failures,
            "failing_since": s.failing_since,
            "event_id": attempted.event.envelope.id,
            "http_status": outcome.http_status,
            "error": outcome.error,
        });
        self.emit(attempted.subscriptions, DELIVERY_FAILING, data, Some(&s.id))
            .await
    }

    /// Ends the run of failures on a success; emits `delivery.recovered` when the run had
    /// been reported.
    async fn end_failure_run(&self, attempted: Attempted<'_>) -> Result<(), StoreError> {
        let Attempted {
            sub,
            outcome,
            event,
            subscriptions,
        } = attempted;
        let mut ended = (None, None, 0);
        let written = self
            .update_fresh(&sub.id, |s| {
                ended = (
                    s.failing_since.take(),
                    s.failing_reported_at.take(),
                    std::mem::take(&mut s.consecutive_failures),
                );
                ended != (None, None, 0)
            })
            .await?;
        let (Some(s), (since, Some(reported_at), _)) = (written, ended) else {
            return Ok(());
        };
        tracing::info!("subscription recovered");
        let data = serde_json::json!({
            "subscription_id": s.id,
            "url": redact_url(&s.url),
            "failing_since": since,
            "failing_reported_at": reported_at,
            "recovered_at": outcome.attempted_at,
            "event_id": event.envelope.id,
        });
        self.emit(subscriptions, DELIVERY_RECOVERED, data, None)
            .await
    }

    pub(super) fn disable_after(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.disable_after).unwrap_or(chrono::Duration::MAX)
    }

    /// Applies `change` to a fresh read of a subscription, retried on concurrent writes
    /// ([`versioned::modify`]); returns the subscription when this call changed it. A
    /// conflict that persists fails the message (SQS retries it).
    pub(super) async fn update_fresh(
        &self,
        id: &str,
        change: impl FnMut(&mut Subscription) -> bool,
    ) -> Result<Option<Subscription>, StoreError> {
        let mut change = change;
        let modified =
            versioned::modify(self.ports.subscriptions.as_ref(), id, |s| Ok(change(s))).await?;
        Ok(match modified {
            Modified::Written(s) => Some(s),
            Modified::Missing | Modified::Unchanged(_) => None,
        })
    }

    /// Disables a subscription on a health verdict of an attempt made at `attempted_at`;
    /// returns it when this call disabled it. Not when it is already disabled, was changed
    /// by an operator since the attempt began, or (long failure) its failure run was reset.
    pub(super) async fn disable(
        &self,
        sub: &Subscription,
        verdict: &Verdict,
        attempted_at: Timestamp,
    ) -> Result<Option<Subscription>, StoreError> {
        let limit = self.disable_after();
        let reason = verdict.reason(self.settings.disable_after);
        let disabled = self
            .update_fresh(&sub.id, |s| {
                let still_failing = match verdict {
                    Verdict::Gone => true,
                    Verdict::FailingSince(_) => s
                        .failing_since
                        .is_some_and(|since| attempted_at - since >= limit),
                };
                if !s.enabled || s.updated_at > attempted_at || !still_failing {
                    return false;
                }
                s.enabled = false;
                s.disabled_reason = Some(reason.clone());
                s.updated_at = now();
                true
            })
            .await?;
        if disabled.is_some() {
            tracing::warn!(subscription_id = %sub.id, %reason, "subscription disabled");
        } else {
            tracing::info!(subscription_id = %sub.id, %reason, "not disabled: already disabled or changed since the attempt");
        }
        Ok(disabled)
    }

    /// Queues an operational event, if any subscription (other than `except`) wants it.
    pub(super) async fn emit(
        &self,
        subscriptions: &[Subscription],
        event_type: &str,
        data: serde_json::Value,
        except: Option<&str>,
    ) -> Result<(), StoreError> {
        let event = operational_event(event_type, data);
        let wanted = subscriptions
            .iter()
            .filter(|s| except.is_none_or(|id| s.id != id))
            .any(|s| s.matches(&event.envelope));
        if !wanted {
            return Ok(());
        }
        tracing::info!(event_id = %event.envelope.id, %event_type, "operational event");
        let message = QueueMessage::Event {
            event: std::sync::Arc::new(event),
        };
        self.send(&message, Duration::ZERO).await
    }
}

/// Why an attempt's outcome calls for disabling its subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The endpoint answered 410 Gone.
    Gone,
    /// Every attempt failed since then, for longer than allowed.
    FailingSince(Timestamp),
}

impl Verdict {
    pub(super) fn reason(&self, limit: Duration) -> String {
        match self {
            Self::Gone => "the endpoint answered 410 Gone".to_owned(),
            Self::FailingSince(since) => format!(
                "every attempt failed since {} (longer than {} hours)",
                crate::domain::time::sortable(since),
                limit.as_secs() / 3600
            ),
        }
    }
}

/// A synthetic event of source `switchboard`.
pub fn operational_event(event_type: &str, data: serde_json::Value) -> StoredEvent {
    let at = now();
    let body = serde_json::to_vec(&data).unwrap_or_default();
    StoredEvent {
        envelope: Envelope {
            id: event_id(),
            event_type: event_type.to_owned(),
            provider_event: None,
            source: OPERATIONAL_SOURCE.to_owned(),
            occurred_at: Some(at),
            received_at: at,
            call: None,
            data: Some(data.into()),
            raw_unparsed: false,
        },
        raw: RawRequest {
            method: "POST".into(),
            content_type: Some("application/json".into()),
            query: None,
            body: body.into(),
        },
        dedup_key: None,
    }
}
