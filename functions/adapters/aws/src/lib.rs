//! AWS adapters: the events queue on SQS, the stores on DynamoDB, through the official SDK.

// The engine's modules under the paths these adapters were written against.
pub(crate) use switchboard_engine::{domain, error, ports};

mod dynamodb;
pub mod metering;
mod sqs;
mod sqs_dead_letters;

pub use dynamodb::shards;
pub use dynamodb::{
    DynamoConfigStore, DynamoDedupStore, DynamoDeliveryStore, DynamoEventStore, DynamoFlowStore,
};
/// Copying the first data model's history into the current tables (`switchboard-upgrade-history`).
pub mod history_upgrade {
    pub use crate::dynamodb::{
        HistoryUpgrade, Progress, TableProgress, UpgradeLimits, UpgradeTables,
    };
}
pub use sqs::SqsQueue;
pub use sqs_dead_letters::SqsDeadLetterQueue;

use crate::error::StoreError;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};

/// Error codes by which a service refuses the request itself: retrying cannot help.
const REJECTED_CODES: &[&str] = &["ValidationException"];

/// An SDK failure the adapters do not treat specially: a refusal of the request itself
/// (DynamoDB's ValidationException: key over 2 KiB, item over 400 KB) is `Rejected`, the
/// caller's error; anything else is transient from the caller's view, `Unavailable`: the
/// message is retried (dispatch) or the provider is told to retry (ingest, 503).
pub(crate) fn unavailable<E: std::error::Error + ProvideErrorMetadata>(err: E) -> StoreError {
    let rejected = err.code().is_some_and(|c| REJECTED_CODES.contains(&c));
    let text = DisplayErrorContext(err).to_string();
    if rejected {
        StoreError::Rejected(text)
    } else {
        StoreError::Unavailable(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::error::SdkError;
    use aws_sdk_dynamodb::operation::get_item::GetItemError;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn service_error(code: &str, status: u16) -> SdkError<GetItemError, Response> {
        let meta = ErrorMetadata::builder()
            .code(code)
            .message("One or more parameter values were invalid")
            .build();
        let status = StatusCode::try_from(status).unwrap();
        SdkError::service_error(
            GetItemError::generic(meta),
            Response::new(status, SdkBody::empty()),
        )
    }

    #[test]
    fn a_validation_error_is_the_callers_not_an_outage() {
        let err = unavailable(service_error("ValidationException", 400));
        assert!(matches!(err, StoreError::Rejected(ref m) if m.contains("ValidationException")));
        for code in [
            "ProvisionedThroughputExceededException",
            "InternalServerError",
        ] {
            let err = unavailable(service_error(code, 500));
            assert!(matches!(err, StoreError::Unavailable(_)), "{code}: {err:?}");
        }
    }
}
