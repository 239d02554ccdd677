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

pub fn error_response(err: &ApiError) -> Response<Bytes> {
    let body = serde_json::json!({"error": {"code": err.code, "message": err.message}});
    build(err.status, Bytes::from(body.to_string()))
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
