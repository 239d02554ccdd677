//! The events queue's dead-letter queue on SQS. Listing receives messages (hidden for a
//! moment so one listing sees each once) and makes them visible again at once; redrive
//! receives, sends each body to the events queue, and deletes it from the dead-letter
//! queue only after that send succeeded. SQS's StartMessageMoveTask would move everything
//! without a choice of ids, and the emulator the tests run on does not implement it.

use super::unavailable;
use crate::error::{StoreError, StoreResult};
use crate::ports::{DeadLetter, DeadLetterQueue, Page, PageRequest, RedriveSelection};
use async_trait::async_trait;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};

/// How long a message received by a listing or a redrive stays hidden: long enough for the
/// whole call, short enough that a crashed call leaves nothing hidden for long.
const HOLD_SECS: i32 = 30;
/// Receives per call: bounds a listing or redrive of a queue that keeps filling.
const MAX_RECEIVES: usize = 200;

#[derive(Clone, Debug)]
pub struct SqsDeadLetterQueue {
    client: aws_sdk_sqs::Client,
    /// `None` where the function was given no dead-letter queue (only admin needs one).
    dlq_url: Option<String>,
    queue_url: String,
}

impl SqsDeadLetterQueue {
    pub fn new(
        client: aws_sdk_sqs::Client,
        dlq_url: Option<String>,
        queue_url: impl Into<String>,
    ) -> Self {
        Self {
            client,
            dlq_url,
            queue_url: queue_url.into(),
        }
    }

    fn dlq(&self) -> StoreResult<&str> {
        self.dlq_url.as_deref().ok_or_else(|| {
            StoreError::Unavailable(
                "no dead-letter queue configured (SWITCHBOARD_DEAD_LETTER_QUEUE_URL)".into(),
            )
        })
    }

    async fn receive(&self, dlq: &str, max: usize) -> StoreResult<Vec<Message>> {
        let out = self
            .client
            .receive_message()
            .queue_url(dlq)
            .max_number_of_messages(i32::try_from(max.clamp(1, 10)).unwrap_or(10))
            .visibility_timeout(HOLD_SECS)
            .wait_time_seconds(0)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.messages.unwrap_or_default())
    }

    /// Makes held messages visible again; a failure only delays them by [`HOLD_SECS`].
    async fn release(&self, dlq: &str, held: &[Message]) {
        for m in held {
            let Some(receipt) = m.receipt_handle() else {
                continue;
            };
            if let Err(e) = self
                .client
                .change_message_visibility()
                .queue_url(dlq)
                .receipt_handle(receipt)
                .visibility_timeout(0)
                .send()
                .await
            {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "dead letter stays hidden until its hold ends");
            }
        }
    }

    /// Sends `m` to the events queue, then deletes it from the dead-letter queue.
    async fn move_back(&self, dlq: &str, m: &Message) -> StoreResult<()> {
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(m.body().unwrap_or_default())
            .send()
            .await
            .map_err(unavailable)?;
        if let Some(receipt) = m.receipt_handle() {
            // Sent already: a failed delete leaves a copy here (delivered at least once).
            self.client
                .delete_message()
                .queue_url(dlq)
                .receipt_handle(receipt)
                .send()
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }
}

fn dead_letter(m: &Message) -> Option<DeadLetter> {
    let attr = |name: MessageSystemAttributeName| {
        m.attributes()
            .and_then(|a| a.get(&name))
            .map(String::as_str)
    };
    // When the message was first received, approximately: on a dead letter, close to when
    // it started failing (SQS records no time of the move).
    let first_receive = attr(MessageSystemAttributeName::ApproximateFirstReceiveTimestamp)
        .and_then(|ms| ms.parse::<i64>().ok())
        .and_then(chrono::DateTime::from_timestamp_millis);
    Some(DeadLetter {
        message_id: m.message_id()?.to_owned(),
        body: m.body().unwrap_or_default().to_owned(),
        receive_count: attr(MessageSystemAttributeName::ApproximateReceiveCount)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
        dead_at: first_receive,
    })
}

#[async_trait]
impl DeadLetterQueue for SqsDeadLetterQueue {
    async fn list(&self, page: &PageRequest) -> StoreResult<Page<DeadLetter>> {
        let dlq = self.dlq()?;
        let limit = page.limit.max(1);
        let mut held: Vec<Message> = Vec::new();
        let mut result = Ok(());
        for _ in 0..MAX_RECEIVES {
            if held.len() >= limit {
                break;
            }
            match self.receive(dlq, limit - held.len()).await {
                Ok(batch) if batch.is_empty() => break,
                Ok(batch) => held.extend(batch),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.release(dlq, &held).await;
        result?;
        Ok(Page {
            items: held.iter().filter_map(dead_letter).collect(),
            next_cursor: None,
        })
    }

    async fn redrive(&self, selection: &RedriveSelection) -> StoreResult<Vec<String>> {
        let dlq = self.dlq()?;
        let (wanted, limit) = match selection {
            RedriveSelection::Ids(ids) => (Some(ids.as_slice()), ids.len()),
            RedriveSelection::Oldest(n) => (None, *n),
        };
        let mut moved: Vec<String> = Vec::new();
        // Received but not chosen: released at the end, so no receive sees them twice.
        let mut skipped: Vec<Message> = Vec::new();
        let mut outcome = Ok(());
        'receiving: for _ in 0..MAX_RECEIVES {
            if moved.len() >= limit {
                break;
            }
            let batch = match self.receive(dlq, 10).await {
                Ok(b) if b.is_empty() => break,
                Ok(b) => b,
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            };
            let mut rest = batch.into_iter();
            while let Some(m) = rest.next() {
                let id = m.message_id().unwrap_or_default().to_owned();
                let chosen = moved.len() < limit && wanted.is_none_or(|w| w.contains(&id));
                if !chosen {
                    skipped.push(m);
                    continue;
                }
                if let Err(e) = self.move_back(dlq, &m).await {
                    skipped.push(m);
                    skipped.extend(rest);
                    outcome = Err(e);
                    break 'receiving;
                }
                moved.push(id);
            }
        }
        self.release(dlq, &skipped).await;
        outcome?;
        Ok(moved)
    }
}
