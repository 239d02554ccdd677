//! The SQS event as Lambda delivers it, and the partial batch response it expects.

use super::{BatchRecord, Dispatcher};
use crate::domain::TraceHeader;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use std::time::SystemTime;
use tokio::time::Instant;

impl Dispatcher {
    /// Handles a Lambda SQS event with no deadline; failed messages are reported as batch
    /// item failures (the event source mapping has `ReportBatchItemFailures`).
    pub async fn handle_sqs_event(&self, event: SqsEvent) -> SqsBatchResponse {
        self.handle_sqs_event_before(event, None).await
    }

    /// Handles one invocation, due by `deadline` (`lambda_runtime::Context::deadline`): the
    /// messages whose deliveries could not all be made in time are batch item failures, for
    /// SQS to hand out again.
    pub async fn handle_invocation(
        &self,
        event: SqsEvent,
        deadline: SystemTime,
    ) -> SqsBatchResponse {
        self.handle_sqs_event_before(event, instant_of(deadline))
            .await
    }

    async fn handle_sqs_event_before(
        &self,
        event: SqsEvent,
        deadline: Option<Instant>,
    ) -> SqsBatchResponse {
        let mut failures = Vec::new();
        let mut records = Vec::with_capacity(event.records.len());
        for m in event.records {
            // The trace ingest sent the event with (`AWSTraceHeader` system attribute).
            let trace = m
                .attributes
                .get("AWSTraceHeader")
                .and_then(|h| TraceHeader::from_xray(h));
            match (m.message_id, m.body) {
                (Some(message_id), Some(body)) => records.push(BatchRecord {
                    message_id,
                    body,
                    trace,
                }),
                (Some(message_id), None) => {
                    tracing::warn!(%message_id, "SQS record without a body");
                    failures.push(message_id);
                }
                (None, _) => tracing::error!("SQS record without a message id; cannot report it"),
            }
        }
        failures.extend(self.handle_batch_before(records, deadline).await);
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = failures
            .into_iter()
            .map(|id| {
                let mut f = BatchItemFailure::default();
                f.item_identifier = id;
                f
            })
            .collect();
        response
    }
}

/// The runtime's wall-clock deadline on the monotonic clock. A context without one (zero, as
/// some local runners send) means no deadline, and so does one already past when the
/// invocation starts: Lambda never starts an invocation after its deadline, but local
/// runners (`cargo lambda watch`) send such values, and honouring them would leave every
/// message to a redelivery.
fn instant_of(deadline: SystemTime) -> Option<Instant> {
    let Ok(left) = deadline.duration_since(SystemTime::now()) else {
        if deadline > SystemTime::UNIX_EPOCH {
            tracing::warn!("the invocation's deadline had passed when it started; ignoring it");
        }
        return None;
    };
    Some(Instant::now() + left)
}
