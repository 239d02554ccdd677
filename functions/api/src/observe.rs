//! Observability routes: `GET /metrics` (serve's Prometheus exposition).

use super::App;
use crate::error::ApiError;
use bytes::Bytes;
use http::{header, HeaderValue, Request, Response};

/// The content type of `prometheus-client`'s text encoding (OpenMetrics 1.0).
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `GET /metrics`: outside `/admin` (where Prometheus scrapes by convention) but behind the
/// admin token all the same, which Prometheus sends as its `authorization` bearer.
pub(super) async fn metrics(app: &App, req: &Request<Bytes>) -> Result<Response<Bytes>, ApiError> {
    if !app.admin_authorized(req) {
        return Err(ApiError::unauthorized());
    }
    let Some(text) = app.ports.metrics.exposition().await else {
        return Err(ApiError::not_found(
            "metrics are published to CloudWatch (namespace Switchboard) here, not served",
        ));
    };
    let mut response = Response::new(Bytes::from(text));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(OPENMETRICS));
    Ok(response)
}
