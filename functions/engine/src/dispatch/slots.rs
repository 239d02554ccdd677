//! A batch's delivery slots: at most `delivery_concurrency` attempts in flight and, when the
//! invocation has a deadline (Lambda's), no attempt started that could not finish before it.
//! An attempt not started is not an attempt: nothing is recorded or scheduled for it, and
//! its message fails so that SQS hands it out again.

use std::time::Duration;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

/// Why an attempt was not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not started: it could not finish before the invocation's deadline")]
pub struct TooLate;

pub struct Slots {
    permits: Semaphore,
    deadline: Option<Instant>,
    /// Kept free before the deadline for what follows an attempt (recording it, queueing
    /// its retry) and for answering the runtime.
    margin: Duration,
}

impl Slots {
    pub fn new(concurrency: usize, deadline: Option<Instant>, margin: Duration) -> Self {
        Self {
            permits: Semaphore::new(concurrency.max(1)),
            deadline,
            margin,
        }
    }

    /// Whether work that takes `needs` (plus the margin) still fits before the deadline.
    pub fn fits(&self, needs: Duration) -> bool {
        self.deadline
            .is_none_or(|d| Instant::now() + needs + self.margin <= d)
    }

    /// Fails when nothing can be started any more: a message is then not begun at all.
    pub fn check_open(&self) -> Result<(), TooLate> {
        if self.fits(Duration::ZERO) {
            Ok(())
        } else {
            Err(TooLate)
        }
    }

    /// A slot for an attempt that takes at most `timeout`; waits for a free one, then
    /// refuses if the attempt could no longer finish in time.
    pub async fn start(&self, timeout: Duration) -> Result<Option<SemaphorePermit<'_>>, TooLate> {
        // The semaphore is never closed, so `acquire` only fails in theory; go on without.
        let permit = self.permits.acquire().await.ok();
        if self.fits(timeout) {
            Ok(permit)
        } else {
            Err(TooLate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn without_a_deadline_everything_starts() {
        let slots = Slots::new(1, None, Duration::from_secs(5));
        assert!(slots.check_open().is_ok());
        assert!(slots.start(Duration::from_secs(3600)).await.is_ok());
    }

    #[tokio::test]
    async fn an_attempt_that_would_end_past_the_deadline_is_refused() {
        let deadline = Instant::now() + Duration::from_secs(60);
        let slots = Slots::new(2, Some(deadline), Duration::from_secs(5));
        assert!(slots.start(Duration::from_secs(30)).await.is_ok());
        assert_eq!(
            slots.start(Duration::from_secs(56)).await.err(),
            Some(TooLate)
        );
        assert!(slots.check_open().is_ok());
        let past = Slots::new(2, Some(Instant::now()), Duration::ZERO);
        assert_eq!(past.check_open(), Err(TooLate));
    }
}
