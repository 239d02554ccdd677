//! AWS adapters: the events queue on SQS, the stores on DynamoDB, through the official SDK.

// The engine's modules under the paths these adapters were written against.
pub(crate) use switchboard_engine::{domain, error, ports};

mod dynamodb;
mod sqs;

pub use dynamodb::{DynamoConfigStore, DynamoDedupStore, DynamoDeliveryStore, DynamoEventStore};
pub use sqs::SqsQueue;

use crate::error::StoreError;
use aws_sdk_dynamodb::error::DisplayErrorContext;

/// Any SDK failure the adapters do not treat specially is transient from the caller's view:
/// the message is retried (dispatch) or the provider is told to retry (ingest, 503).
pub(crate) fn unavailable<E: std::error::Error>(err: E) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(err).to_string())
}
