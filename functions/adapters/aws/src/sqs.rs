//! The events queue on SQS.

use super::unavailable;
use crate::domain::TraceHeader;
use crate::error::{StoreError, StoreResult};
use crate::ports::{EventQueue, Outgoing, QueueConsumer, ReceivedMessage, MAX_QUEUE_DELAY};
use async_trait::async_trait;
use aws_sdk_sqs::types::{
    MessageSystemAttributeName, MessageSystemAttributeNameForSends, MessageSystemAttributeValue,
};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

/// The events queue's largest message body: the template's `MaximumMessageSize`.
pub const MAX_MESSAGE_BYTES: usize = crate::domain::limits::MAX_QUEUE_MESSAGE_BYTES;

#[async_trait]
impl EventQueue for SqsQueue {
    fn max_message_bytes(&self) -> Option<usize> {
        Some(MAX_MESSAGE_BYTES)
    }

    /// The trace travels as the `AWSTraceHeader` system attribute (what X-Ray reads too).
    async fn send_traced(&self, out: Outgoing<'_>) -> StoreResult<()> {
        let body = out.body()?;
        let delay_secs = out.delay.min(MAX_QUEUE_DELAY).as_secs();
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(i32::try_from(delay_secs).unwrap_or(900));
        if let Some(trace) = out.trace {
            let value = MessageSystemAttributeValue::builder()
                .data_type("String")
                .string_value(trace.header())
                .build()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            request = request.message_system_attributes(
                MessageSystemAttributeNameForSends::AwsTraceHeader,
                value,
            );
        }
        request.send().await.map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl QueueConsumer for SqsQueue {
    async fn receive(&self, max: usize, wait: Duration) -> StoreResult<Vec<ReceivedMessage>> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(i32::try_from(max.clamp(1, 10)).unwrap_or(10))
            .wait_time_seconds(i32::try_from(wait.as_secs().min(20)).unwrap_or(20))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::AwsTraceHeader)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let attribute = |name| m.attributes.as_ref().and_then(|a| a.get(&name));
                let receive_count = attribute(MessageSystemAttributeName::ApproximateReceiveCount)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                let trace = attribute(MessageSystemAttributeName::AwsTraceHeader)
                    .and_then(|v| TraceHeader::from_xray(v));
                Some(ReceivedMessage {
                    message_id: m.message_id?,
                    receipt: m.receipt_handle?,
                    body: m.body.unwrap_or_default(),
                    receive_count,
                    sent: None,
                    trace,
                    event_stored: None,
                    envelope_json: None,
                })
            })
            .collect())
    }

    async fn delete(&self, receipt: &str) -> StoreResult<()> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
