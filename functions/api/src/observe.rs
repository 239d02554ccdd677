//! Observability routes: `GET /metrics` (serve's Prometheus exposition) and the per-call
//! timeline `GET /admin/calls/{id}`.

use super::response::json as json_response;
use super::timeline::{CallTimeline, DeliveryOutcome, TimelineEvent};
use super::App;
use crate::domain::{Attempt, Envelope};
use crate::error::ApiError;
use crate::ports::{each_delivery, DeliveryQuery, EventQuery, PageRequest, TimeRange};
use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};

use std::collections::BTreeMap;

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

/// `GET /admin/calls/{id}`: every event of a call in `occurred_at` order (then arrival),
/// each with every subscription's outcome: the latest attempt's status, how many attempts,
/// the last HTTP status or error. One answer for the question ops ask most.
pub(super) async fn call_timeline(app: &App, raw_id: &str) -> Result<Response<Bytes>, ApiError> {
    let call_id = percent_decoded(raw_id);
    let mut events = Vec::new();
    let query = EventQuery::Call {
        call_id: call_id.clone(),
        range: TimeRange::default(),
    };
    let mut page = PageRequest {
        limit: 1000,
        cursor: None,
    };
    loop {
        let read = app.ports.event_queries.query_events(&query, &page).await?;
        events.extend(read.items);
        match read.next_cursor {
            Some(c) if events.len() < MAX_EVENTS => page.cursor = Some(c),
            _ => break,
        }
    }
    if events.is_empty() {
        return Err(ApiError::not_found(format!(
            "no events recorded for call {call_id:?}"
        )));
    }
    events.sort_by(|a, b| {
        let at = |e: &Envelope| e.occurred_at.unwrap_or(e.received_at);
        at(a).cmp(&at(b)).then(a.received_at.cmp(&b.received_at))
    });
    let mut out = Vec::with_capacity(events.len());
    for e in &events {
        let deliveries = outcomes(app, &e.id).await?;
        out.push(TimelineEvent::new(e, deliveries));
    }
    Ok(json_response(
        StatusCode::OK,
        &CallTimeline {
            call_id,
            events: out,
        },
    ))
}

/// Most events one timeline shows (a call has a handful; this bounds a pathological one).
const MAX_EVENTS: usize = 1000;

/// Per subscription, the outcome of an event's attempts so far.
async fn outcomes(app: &App, event_id: &str) -> Result<Vec<DeliveryOutcome>, ApiError> {
    let query = DeliveryQuery::Event {
        event_id: event_id.to_owned(),
        subscription_id: None,
    };
    let mut latest: BTreeMap<String, (u32, Attempt)> = BTreeMap::new();
    let queries = app.ports.delivery_queries.as_ref();
    each_delivery(queries, &query, PageRequest::default(), |a| {
        let entry = latest
            .entry(a.subscription_id.clone())
            .or_insert((0, a.clone()));
        entry.0 += 1;
        if a.attempt >= entry.1.attempt {
            entry.1 = a;
        }
    })
    .await?;
    Ok(latest
        .into_values()
        .map(|(attempts, a)| DeliveryOutcome::new(attempts, a))
        .collect())
}

/// A path segment as given (`%2F` → `/`); invalid escapes are kept as they are.
fn percent_decoded(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::percent_decoded;

    #[test]
    fn path_segments_are_percent_decoded() {
        assert_eq!(percent_decoded("CA%2F1%20x"), "CA/1 x");
        assert_eq!(percent_decoded("plain-id"), "plain-id");
        assert_eq!(percent_decoded("bad%zzend%"), "bad%zzend%");
        assert_eq!(percent_decoded("%4"), "%4");
    }
}
