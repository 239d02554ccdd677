//! The trace context of the message being handled: every message dispatch queues while
//! handling one (retries, deferrals, wake-ups, operational events) carries its trace on,
//! and its delivery metrics name it, without threading it through every call.

use super::Dispatcher;
use crate::domain::{QueueMessage, TraceHeader};
use crate::error::StoreError;
use crate::ports::Outgoing;
use std::future::Future;
use std::time::Duration;

tokio::task_local! {
    static TRACE: Option<TraceHeader>;
}

/// Runs `work` as the handling of a message sent with `trace`. Not an `async fn`: that would
/// hold `work` twice (its argument and the scope it moves into), doubling the future.
pub(super) fn within<F: Future>(
    trace: Option<TraceHeader>,
    work: F,
) -> impl Future<Output = F::Output> {
    TRACE.scope(trace, work)
}

/// The trace of the message being handled, if it came with one.
pub(super) fn current() -> Option<TraceHeader> {
    TRACE.try_with(Clone::clone).ok().flatten()
}

impl Dispatcher {
    /// Queues a message caused by the one being handled, with its trace.
    pub(super) async fn send(
        &self,
        message: &QueueMessage,
        delay: Duration,
    ) -> Result<(), StoreError> {
        let trace = current();
        let trace = trace.as_ref();
        let out = Outgoing {
            message,
            delay,
            trace,
        };
        self.ports.queue.send_traced(out).await
    }
}
