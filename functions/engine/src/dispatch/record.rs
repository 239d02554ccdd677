//! Delivery records: writing attempts and reading what a pair has on record.

use super::*;
use crate::ports::each_delivery;

impl Dispatcher {
    /// Records an attempt. A concurrent duplicate (the queue handing the message out twice,
    /// a replay racing a retry) may already have recorded a success under the same key:
    /// then this outcome is only logged, not recorded, and the message is done (the success
    /// stands; nothing is re-sent).
    /// Each attempt on record is counted once (`event` gives the delivery lag).
    pub(super) async fn record(
        &self,
        attempt: Attempt,
        event: &StoredEvent,
    ) -> Result<(), DispatchError> {
        self.record_hold(attempt, event, None).await
    }

    /// [`Self::record`] of a deferral, counted as a hold of its own as well.
    pub(super) async fn record_hold(
        &self,
        attempt: Attempt,
        event: &StoredEvent,
        hold: Option<Hold>,
    ) -> Result<(), DispatchError> {
        // Shared with the store: the memory store keeps it as it is, without a copy.
        let attempt = &std::sync::Arc::new(attempt);
        let expires = attempt.attempted_at
            + chrono::Duration::from_std(self.settings.retention).unwrap_or_default();
        if self.write(attempt, expires).await? {
            let lag = (attempt.status == AttemptStatus::Succeeded).then(|| {
                let delivered = attempt.attempted_at
                    + chrono::Duration::milliseconds(
                        i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX),
                    );
                (delivered - event.envelope.received_at)
                    .to_std()
                    .unwrap_or_default()
            });
            let trace = traced::current();
            self.ports.metrics.observe(&Observation::Delivery {
                attempt,
                lag,
                trace: trace.as_ref().map(TraceHeader::root),
                hold,
            });
        }
        Ok(())
    }

    /// Writes the attempt; `false` when a concurrent success kept its place (not ours).
    async fn write(
        &self,
        attempt: &std::sync::Arc<Attempt>,
        expires: Timestamp,
    ) -> Result<bool, DispatchError> {
        match self.ports.deliveries.record_shared(attempt, expires).await {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict) => {
                tracing::warn!(
                    event_id = %attempt.event_id,
                    subscription_id = %attempt.subscription_id,
                    attempt = attempt.attempt,
                    status = attempt.status.as_str(),
                    http_status = ?attempt.http_status,
                    "a concurrent delivery already recorded this attempt as succeeded; keeping it"
                );
                Ok(false)
            }
            // Refused as invalid: writing it again would fail again, so keep what can be kept.
            Err(StoreError::Rejected(cause)) => {
                tracing::error!(%cause, "the store refused the attempt record; keeping a stripped one");
                let kept = attempt.stripped("the store refused the full attempt record");
                self.ports.deliveries.record(&kept, expires).await?;
                Ok(true)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The pair's newest attempt number and whether any of its attempts succeeded (one
    /// consistent read of the event's records for that subscription).
    pub(super) async fn pair_history(&self, pair: Pair<'_>) -> Result<PairHistory, StoreError> {
        let query = DeliveryQuery::Event {
            event_id: pair.event_id.to_owned(),
            subscription_id: Some(pair.subscription_id.to_owned()),
        };
        let mut history = PairHistory::default();
        let queries = self.ports.delivery_queries.as_ref();
        each_delivery(queries, &query, PageRequest::default(), |a| {
            if a.status.is_wait() {
                // A wait is not an attempt.
                return;
            }
            if history.latest.is_none_or(|n| a.attempt >= n) {
                history.latest_status = Some(a.status);
            }
            let newest = |seen: Option<u32>| Some(seen.map_or(a.attempt, |n| n.max(a.attempt)));
            history.latest = newest(history.latest);
            if a.status == AttemptStatus::Succeeded {
                history.last_success = newest(history.last_success);
            }
            if a.trigger == Trigger::Manual {
                history.last_manual = newest(history.last_manual);
            }
        })
        .await?;
        Ok(history)
    }

    pub(super) fn record_without_request(
        &self,
        event: &StoredEvent,
        sub: &Subscription,
        n: u32,
        trigger: Trigger,
        why: &str,
    ) -> Attempt {
        let outcome = Outcome {
            url: redact_url(&sub.url),
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

/// What the records say about one pair: its newest attempt number, its newest success and
/// its newest operator replay.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct PairHistory {
    pub(super) latest: Option<u32>,
    /// The status of the newest attempt.
    pub(super) latest_status: Option<AttemptStatus>,
    pub(super) last_success: Option<u32>,
    pub(super) last_manual: Option<u32>,
}

impl PairHistory {
    /// Whether the pair succeeded since the operator last replayed it (a replay starts a
    /// new delivery whose retries must go on even if an earlier delivery succeeded).
    pub(super) fn succeeded(&self) -> bool {
        self.last_success
            .is_some_and(|s| self.last_manual.is_none_or(|m| s >= m))
    }
}

#[derive(Clone, Copy)]
pub(super) struct Pair<'a> {
    pub(super) event_id: &'a str,
    pub(super) subscription_id: &'a str,
}

pub(super) fn attempt_record(
    event: &StoredEvent,
    sub: &Subscription,
    n: u32,
    trigger: Trigger,
    status: AttemptStatus,
    next_attempt_at: Option<Timestamp>,
    outcome: Outcome,
) -> Attempt {
    let mut attempt = Attempt {
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
        held_behind: None,
        attempted_at: outcome.attempted_at,
        source: event.envelope.source.clone(),
        event_type: event.envelope.event_type.clone(),
        call_id: event.envelope.call_id().map(str::to_owned),
        truncated: Vec::new(),
    };
    // Every store keeps the same, storable shape (DynamoDB's item size is the bound).
    attempt.fit(MAX_RECORD_DOC_BYTES);
    attempt
}
