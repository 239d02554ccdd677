//! The SQS event as Lambda delivers it, and the partial batch response it expects.

use super::{BatchRecord, Dispatcher};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

impl Dispatcher {
    /// Handles a Lambda SQS event; failed messages are reported as batch item failures
    /// (the event source mapping has `ReportBatchItemFailures`).
    pub async fn handle_sqs_event(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut failures = Vec::new();
        let mut records = Vec::with_capacity(event.records.len());
        for m in event.records {
            match (m.message_id, m.body) {
                (Some(message_id), Some(body)) => records.push(BatchRecord { message_id, body }),
                (Some(message_id), None) => {
                    tracing::warn!(%message_id, "SQS record without a body");
                    failures.push(message_id);
                }
                (None, _) => tracing::error!("SQS record without a message id; cannot report it"),
            }
        }
        failures.extend(self.handle_batch(records).await);
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
