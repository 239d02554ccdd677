//! A queue poller for where no Lambda event source mapping exists: `switchboard serve`,
//! and the tests. It behaves like the mapping: batches of up to 10, delete on success,
//! leave failures to reappear after the visibility timeout.

use super::{BatchRecord, Dispatcher};
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
    loop {
        if *shutdown.borrow() {
            return;
        }
        let received = tokio::select! {
            r = consumer.receive(10, Duration::from_secs(1)) => r,
            _ = shutdown.changed() => return,
        };
        let messages = match received {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "receive failed; backing off");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let records = messages.iter().map(BatchRecord::from).collect();
        let failed = dispatcher.handle_batch(records).await;
        // Deleted together: one write for the batch on a store that commits (SQLite).
        let done: Vec<String> = messages
            .iter()
            .filter(|m| !failed.contains(&m.message_id))
            .map(|m| m.receipt.clone())
            .collect();
        for result in consumer.delete_many(&done).await {
            if let Err(e) = result {
                tracing::warn!(error = %e, "delete failed; the message will be seen again");
            }
        }
    }
}
