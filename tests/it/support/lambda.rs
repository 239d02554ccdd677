//! The Lambda event source mapping, played by a test: receive from SQS, hand the batch to
//! the dispatcher as an `SqsEvent`, delete what the partial batch response does not name.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use std::time::Duration;
use switchboard_core::adapters::aws::SqsQueue;
use switchboard_core::dispatch::Dispatcher;
use switchboard_core::error::StoreResult;
use switchboard_core::ports::QueueConsumer;

/// What one round did.
#[derive(Debug, Default, Clone)]
pub struct Round {
    pub received: usize,
    pub failed: usize,
    /// SQS message ids received this round.
    pub message_ids: Vec<String>,
    /// When the receive returned.
    pub received_at: Option<std::time::Instant>,
}

/// One receive (up to 10 messages, waiting up to `wait`) and one dispatcher invocation.
pub async fn dispatch_round(dispatcher: &Dispatcher, consumer: &SqsQueue, wait: Duration) -> Round {
    try_dispatch_round(dispatcher, consumer, wait)
        .await
        .unwrap()
}

/// Like [`dispatch_round`], but an SQS failure (receive or delete) is returned, as the
/// event source mapping would see it, instead of failing the test.
pub async fn try_dispatch_round(
    dispatcher: &Dispatcher,
    consumer: &SqsQueue,
    wait: Duration,
) -> StoreResult<Round> {
    try_dispatch_round_before(dispatcher, consumer, wait, None).await
}

/// Like [`try_dispatch_round`], with the invocation's deadline (the runtime's context
/// deadline) when given.
pub async fn try_dispatch_round_before(
    dispatcher: &Dispatcher,
    consumer: &SqsQueue,
    wait: Duration,
    deadline: Option<std::time::SystemTime>,
) -> StoreResult<Round> {
    let received = consumer.receive(10, wait).await?;
    let received_at = Some(std::time::Instant::now());
    if received.is_empty() {
        return Ok(Round::default());
    }
    let mut event = SqsEvent::default();
    event.records = received
        .iter()
        .map(|m| {
            let mut msg = SqsMessage::default();
            msg.message_id = Some(m.message_id.clone());
            msg.receipt_handle = Some(m.receipt.clone());
            msg.body = Some(m.body.clone());
            // The mapping hands the message's system attributes over, its trace header too.
            if let Some(trace) = &m.trace {
                msg.attributes
                    .insert("AWSTraceHeader".into(), trace.header().to_owned());
            }
            msg
        })
        .collect();
    let response = match deadline {
        Some(at) => dispatcher.handle_invocation(event, at).await,
        None => dispatcher.handle_sqs_event(event).await,
    };
    let failed: Vec<String> = response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    for m in received.iter().filter(|m| !failed.contains(&m.message_id)) {
        consumer.delete(&m.receipt).await?;
    }
    Ok(Round {
        received: received.len(),
        failed: failed.len(),
        message_ids: received.into_iter().map(|m| m.message_id).collect(),
        received_at,
    })
}
