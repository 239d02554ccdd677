//! Ops listings under `/admin`: events by source or call, delivery attempts by event,
//! subscription, call, status or most recent; and the OpenAPI document.
//!
//! Filters are validated strictly (unknown, repeated or empty parameters, bad times,
//! unknown statuses and conflicting filters are 400s naming the problem), so a typo never
//! silently widens a query.

use super::response::json;
use super::App;
use crate::domain::attempt::AttemptStatus;
use crate::domain::time::Timestamp;
use crate::error::ApiError;
use crate::ports::{DeliveryQuery, EventQuery, PageRequest, TimeRange};
use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};

/// Default and largest page sizes.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

/// The query string of a listing, checked against the parameters it accepts.
pub(super) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    pub(super) fn parse(req: &Request<Bytes>, allowed: &[&str]) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> =
            form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        for (i, (k, v)) in pairs.iter().enumerate() {
            if !allowed.contains(&k.as_str()) {
                return Err(ApiError::bad_request(
                    "invalid_filter",
                    format!(
                        "unknown parameter {k:?}; this listing accepts {}",
                        allowed.join(", ")
                    ),
                ));
            }
            if pairs[..i].iter().any(|(seen, _)| seen == k) {
                return Err(ApiError::bad_request(
                    "invalid_filter",
                    format!("parameter {k:?} is given more than once"),
                ));
            }
            if v.trim().is_empty() {
                return Err(ApiError::bad_request(
                    "invalid_filter",
                    format!("parameter {k:?} is empty"),
                ));
            }
        }
        Ok(Self { pairs })
    }

    fn get(&self, name: &str) -> Option<String> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
    }

    fn time(&self, name: &str) -> Result<Option<Timestamp>, ApiError> {
        self.get(name)
            .map(|v| {
                chrono::DateTime::parse_from_rfc3339(&v)
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .map_err(|_| {
                        ApiError::bad_request(
                            "invalid_time",
                            format!(
                                "{name} must be an RFC 3339 time such as 2024-11-17T10:41:00Z, got {v:?}"
                            ),
                        )
                    })
            })
            .transpose()
    }

    fn range(&self) -> Result<TimeRange, ApiError> {
        let range = TimeRange {
            since: self.time("since")?,
            until: self.time("until")?,
        };
        if range.is_empty() {
            return Err(ApiError::bad_request(
                "invalid_time_range",
                "since must be earlier than until",
            ));
        }
        Ok(range)
    }

    pub(super) fn page(&self) -> Result<PageRequest, ApiError> {
        let limit = match self.get("limit") {
            Some(l) => l
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_limit",
                        format!("limit must be a whole number from 1 to {MAX_LIMIT}, got {l:?}"),
                    )
                })?,
            None => DEFAULT_LIMIT,
        };
        Ok(PageRequest {
            limit,
            cursor: self.get("cursor"),
        })
    }

    fn status(&self) -> Result<Option<AttemptStatus>, ApiError> {
        self.get("status")
            .map(|s| {
                AttemptStatus::parse(&s).ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_status",
                        format!(
                            "unknown status {s:?}; use succeeded, retrying, exhausted, failed, held or waiting"
                        ),
                    )
                })
            })
            .transpose()
    }

    fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }
}

fn conflict(message: &str) -> ApiError {
    ApiError::bad_request("conflicting_filters", message)
}

pub(super) fn page_json<T: serde::Serialize>(page: crate::ports::Page<T>) -> Response<Bytes> {
    json(
        StatusCode::OK,
        &serde_json::json!({"items": page.items, "next_cursor": page.next_cursor}),
    )
}

/// `GET /admin/events?source=|call_id=&since=&until=&cursor=&limit=`
pub(super) async fn list_events(
    app: &App,
    req: &Request<Bytes>,
) -> Result<Response<Bytes>, ApiError> {
    let p = Params::parse(
        req,
        &["source", "call_id", "since", "until", "cursor", "limit"],
    )?;
    let range = p.range()?;
    let query =
        match (p.get("source"), p.get("call_id")) {
            (Some(source), None) => EventQuery::Source { source, range },
            (None, Some(call_id)) => EventQuery::Call { call_id, range },
            (Some(_), Some(_)) => return Err(conflict(
                "give source or call_id, not both (a call's events may come from several sources)",
            )),
            (None, None) => {
                return Err(ApiError::bad_request(
                    "missing_filter",
                    "give source or call_id; GET /admin/events/{id} shows one event",
                ))
            }
        };
    let page = app
        .ports
        .event_queries
        .query_events(&query, &p.page()?)
        .await?;
    Ok(page_json(page))
}

/// `GET /admin/deliveries?event_id=|subscription_id=|call_id=|status=&since=&until=&cursor=&limit=`
pub(super) async fn list_deliveries(
    app: &App,
    req: &Request<Bytes>,
) -> Result<Response<Bytes>, ApiError> {
    let p = Params::parse(
        req,
        &[
            "event_id",
            "subscription_id",
            "call_id",
            "status",
            "since",
            "until",
            "cursor",
            "limit",
        ],
    )?;
    let query = delivery_query(&p)?;
    let page = app
        .ports
        .delivery_queries
        .query_deliveries(&query, &p.page()?)
        .await?;
    Ok(page_json(page))
}

fn delivery_query(p: &Params) -> Result<DeliveryQuery, ApiError> {
    let range = p.range()?;
    let status = p.status()?;
    if let Some(event_id) = p.get("event_id") {
        if p.has("call_id") || p.has("status") || p.has("since") || p.has("until") {
            return Err(conflict(
                "event_id lists every attempt of one event; combine it only with subscription_id",
            ));
        }
        return Ok(DeliveryQuery::Event {
            event_id,
            subscription_id: p.get("subscription_id"),
        });
    }
    match (p.get("subscription_id"), p.get("call_id")) {
        (Some(_), Some(_)) => Err(conflict(
            "give subscription_id or call_id, not both (add status to narrow either)",
        )),
        (Some(subscription_id), None) => Ok(DeliveryQuery::Subscription {
            subscription_id,
            status,
            range,
        }),
        (None, Some(call_id)) => Ok(DeliveryQuery::Call {
            call_id,
            status,
            range,
        }),
        (None, None) => Ok(match status {
            Some(status) => DeliveryQuery::Status { status, range },
            None => DeliveryQuery::Recent { range },
        }),
    }
}

/// `GET /admin/events/{id}`: the envelope and the raw request.
pub(super) async fn get_event(app: &App, id: &str) -> Result<Response<Bytes>, ApiError> {
    let e = app
        .ports
        .events
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no event with id {id:?}")))?;
    Ok(json(StatusCode::OK, &e))
}

/// The OpenAPI document as committed: generated from the route table and the types by
/// `api::openapi` (the `openapi` feature, which the functions leave out) and kept identical
/// to it by a test.
const OPENAPI_DOCUMENT: &str = include_str!("../../../docs/openapi.json");

/// `GET /admin/openapi.json`
pub(super) fn openapi() -> Response<Bytes> {
    let mut r = Response::new(Bytes::from_static(OPENAPI_DOCUMENT.as_bytes()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
