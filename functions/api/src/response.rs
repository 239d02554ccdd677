//! JSON responses and the error shape `{"error": {"code", "message"}}`.

use crate::error::ApiError;
use bytes::Bytes;
use http::{header, Response, StatusCode};
use serde::Serialize;

pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response<Bytes> {
    match serde_json::to_vec(body) {
        Ok(bytes) => build(status, Bytes::from(bytes)),
        Err(e) => {
            tracing::error!(error = %e, "response serialisation failed");
            error_response(&ApiError::internal())
        }
    }
}

/// The body of every error answer.
#[derive(Serialize)]
#[cfg_attr(
    feature = "openapi",
    derive(schemars::JsonSchema),
    schemars(rename = "Error")
)]
pub struct ErrorBody<'a> {
    pub error: ErrorDetail<'a>,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ErrorDetail<'a> {
    /// Stable, snake_case: what clients branch on.
    #[cfg_attr(feature = "openapi", schemars(extend("example" = "invalid_filter")))]
    pub code: &'a str,
    /// A human sentence.
    pub message: &'a str,
}

pub fn error_response(err: &ApiError) -> Response<Bytes> {
    let body = ErrorBody {
        error: ErrorDetail {
            code: err.code,
            message: &err.message,
        },
    };
    let text = serde_json::to_string(&body).unwrap_or_default();
    let mut response = build(err.status, Bytes::from(text));
    if let Some(allow) = err.allow {
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static(allow));
    }
    response
}

/// What a handler returns, turned into the answer: a response as it is, an error as
/// `{"error": {"code", "message"}}` with its status.
pub trait IntoResponse {
    fn into_response(self) -> Response<Bytes>;
}

impl IntoResponse for Response<Bytes> {
    fn into_response(self) -> Response<Bytes> {
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response<Bytes> {
        error_response(&self)
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response<Bytes> {
        match self {
            Ok(r) => r.into_response(),
            Err(e) => e.into_response(),
        }
    }
}

pub fn empty(status: StatusCode) -> Response<Bytes> {
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = status;
    r
}

fn build(status: StatusCode, body: Bytes) -> Response<Bytes> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}
