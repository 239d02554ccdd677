//! Endpoint health: failure runs, auto-disable, and the operational events they emit.

use super::*;

impl Dispatcher {
    /// Endpoint health: tracks the start of a run of failures on the subscription and
    /// returns a verdict to disable it (410, or failing for longer than allowed). Every
    /// write is decided on a fresh read (the batch's copy may be stale) and made under
    /// optimistic concurrency, so it never undoes a concurrent edit (see [`Self::disable`]
    /// for the verdict).
    pub(super) async fn health(
        &self,
        sub: &Subscription,
        outcome: &Outcome,
    ) -> Result<Option<Verdict>, StoreError> {
        if outcome.http_status == Some(410) {
            return Ok(Some(Verdict::Gone));
        }
        if outcome.succeeded() {
            if sub.failing_since.is_some() {
                self.update_fresh(&sub.id, |s| s.failing_since.take().is_some())
                    .await?;
            }
            return Ok(None);
        }
        let at = outcome.attempted_at;
        match sub.failing_since {
            Some(since) if at - since >= self.disable_after() => {
                return Ok(Some(Verdict::FailingSince(since)));
            }
            Some(_) => {}
            None => {
                self.update_fresh(&sub.id, |s| {
                    if s.failing_since.is_none() {
                        s.failing_since = Some(at);
                        true
                    } else {
                        false
                    }
                })
                .await?;
            }
        }
        Ok(None)
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
        self.ports
            .queue
            .send(
                &QueueMessage::Event {
                    event: Box::new(event),
                },
                Duration::ZERO,
            )
            .await
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
            data: Some(data),
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
