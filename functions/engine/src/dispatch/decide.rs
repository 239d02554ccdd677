//! What an attempt's outcome means: its status, when to retry, whether to pause.

use crate::delivery::retry::{next_delay, parse_retry_after, DEFAULT_SCHEDULE_SECS};
use crate::delivery::Outcome;
use crate::domain::attempt::{AttemptStatus, ErrorKind};
use crate::domain::time::Timestamp;
use crate::domain::Subscription;

/// Until when a 429 with `Retry-After` asks the sender to pause.
pub(super) fn pause_until(outcome: &Outcome) -> Option<Timestamp> {
    if outcome.http_status != Some(429) {
        return None;
    }
    let asked = parse_retry_after(outcome.retry_after.as_deref()?, outcome.attempted_at)?;
    Some(outcome.attempted_at + chrono::Duration::from_std(asked).ok()?)
}

/// The retry decision for attempt `n`, with the jitter factor given (so it can be tested):
/// `(status, next attempt time)`.
pub fn decide(
    sub: &Subscription,
    n: u32,
    outcome: &Outcome,
    jitter: f64,
) -> (AttemptStatus, Option<Timestamp>) {
    if outcome.succeeded() {
        return (AttemptStatus::Succeeded, None);
    }
    if outcome.http_status == Some(410)
        || matches!(
            outcome.error_kind,
            Some(ErrorKind::Refused | ErrorKind::Request)
        )
    {
        return (AttemptStatus::Failed, None);
    }
    let schedule = sub
        .retry_schedule_secs
        .as_deref()
        .unwrap_or(&DEFAULT_SCHEDULE_SECS);
    let Some(mut delay) = next_delay(schedule, n, jitter) else {
        return (AttemptStatus::Exhausted, None);
    };
    if matches!(outcome.http_status, Some(429 | 503)) {
        if let Some(asked) = outcome
            .retry_after
            .as_deref()
            .and_then(|v| parse_retry_after(v, outcome.attempted_at))
        {
            // Never sooner than the subscriber asked (bounded by MAX_RETRY_AFTER), never
            // sooner than the schedule either: a burst of 503s must not use it up.
            delay = delay.max(asked);
        }
    }
    // Counted from the end of the failed attempt.
    let ended =
        outcome.attempted_at + chrono::Duration::from_std(outcome.duration).unwrap_or_default();
    let at = ended + chrono::Duration::from_std(delay).unwrap_or_default();
    (AttemptStatus::Retrying, Some(at))
}
