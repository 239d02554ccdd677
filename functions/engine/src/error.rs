//! Errors shared by the ports and handlers, and their mapping to the HTTP error shape.

use http::StatusCode;

/// Failure of a port (queue or store). `Unavailable` is transient (retry later), the rest are not.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("item already exists")]
    Conflict,
    #[error("item not found")]
    NotFound,
    /// A conditional write lost: the record changed since it was read (optimistic
    /// concurrency), and re-applying the change kept losing.
    #[error("item changed concurrently")]
    Stale,
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    /// The backend refused the request itself (DynamoDB's ValidationException: a key over
    /// 2 KiB, an item over 400 KB). Retrying cannot succeed, so it is never "retry later".
    #[error("refused by the backend: {0}")]
    Rejected(String),
    #[error("stored item is corrupt: {0}")]
    Corrupt(String),
    /// A pagination cursor that this query did not hand out.
    #[error("invalid cursor")]
    InvalidCursor,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// An error answered over HTTP as `{"error": {"code", "message"}}` (it renders itself:
/// `api::response::IntoResponse`). The message is for the caller; causes that may carry
/// backend details or secrets are logged where the error is made, never put in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// The `Allow` header of a 405 answer.
    pub allow: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            allow: None,
        }
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or invalid credentials",
        )
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }
    /// `405`, naming the methods the path accepts (`allow`, e.g. `"GET, POST"`).
    pub fn method_not_allowed(message: impl Into<String>, allow: &'static str) -> Self {
        Self {
            allow: Some(allow),
            ..Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                message,
            )
        }
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server logs",
        )
    }
    /// `500`, logging the cause (which the answer never carries).
    pub fn internal_because(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::internal()
    }
}

impl From<switchboard_domain::SubscriptionError> for ApiError {
    fn from(err: switchboard_domain::SubscriptionError) -> Self {
        Self::bad_request(err.code(), err.to_string())
    }
}

impl From<switchboard_domain::source::SourceError> for ApiError {
    fn from(err: switchboard_domain::source::SourceError) -> Self {
        Self::bad_request(err.code(), err.to_string())
    }
}

impl From<StoreError> for ApiError {
    /// The cause is logged by the caller; the body never carries backend details.
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict => Self::conflict("conflict", "already exists"),
            StoreError::NotFound => Self::not_found("not found"),
            StoreError::Stale => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                "the item kept changing while this request was applied; retry",
            ),
            StoreError::Unavailable(cause) => {
                tracing::error!(%cause, "store unavailable");
                Self::unavailable("a backing store is unavailable; retry later")
            }
            StoreError::Rejected(cause) => {
                tracing::warn!(%cause, "request refused by the store");
                Self::bad_request(
                    "invalid_request",
                    "the request exceeds a limit of the store (an id over 2 KiB or a record \
                     over 400 KB)",
                )
            }
            StoreError::InvalidCursor => Self::bad_request(
                "invalid_cursor",
                "cursor is not valid for this query; pass the next_cursor of the previous page",
            ),
            StoreError::Corrupt(cause) => {
                tracing::error!(%cause, "corrupt stored item");
                Self::internal()
            }
        }
    }
}
