//! A queue poller for where no Lambda event source mapping exists: `switchboard serve`,
//! and the tests. It behaves like the mapping: batches of up to 10, delete on success,
//! leave failures to reappear after the visibility timeout.

use super::Dispatcher;
use crate::ports::QueueConsumer;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Polls until `shutdown` turns true, then finishes the batch in hand and returns.
pub async fn run(
    dispatcher: Arc<Dispatcher>,
    consumer: Arc<dyn QueueConsumer>,
    mut shutdown: watch::Receiver<bool>,
) {
    // Receipts of the last batch's handled messages, deleted while the next batch is
    // received: on a store that commits (SQLite) both writes then share one transaction
    // instead of the poller waiting for two in turn.
    let mut done: Vec<String> = Vec::new();
    loop {
        if *shutdown.borrow() {
            acknowledge(consumer.as_ref(), &done).await;
            return;
        }
        let receive = async {
            tokio::select! {
                r = consumer.receive_kept(10, Duration::from_secs(1)) => Some(r),
                _ = shutdown.changed() => None,
            }
        };
        let ((), received) = tokio::join!(acknowledge(consumer.as_ref(), &done), receive);
        done.clear();
        let messages = match received {
            None => return,
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "receive failed; backing off");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let receipts: Vec<(String, String)> = messages
            .iter()
            .map(|m| (m.message_id.clone(), m.receipt.clone()))
            .collect();
        let failed = dispatcher.handle_received(messages).await;
        done = receipts
            .into_iter()
            .filter(|(id, _)| !failed.contains(id))
            .map(|(_, receipt)| receipt)
            .collect();
    }
}

/// Deletes the handled messages together (one write for the batch on SQLite).
async fn acknowledge(consumer: &dyn QueueConsumer, receipts: &[String]) {
    if receipts.is_empty() {
        return;
    }
    for result in consumer.delete_many(receipts).await {
        if let Err(e) = result {
            tracing::warn!(error = %e, "delete failed; the message will be seen again");
        }
    }
}
