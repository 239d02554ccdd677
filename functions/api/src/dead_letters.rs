//! `/admin/dead-letters`: what the events queue gave up on, readable (the message decoded
//! where it is one of ours) and sent back to the events queue on request.

use super::admin::body;
use super::admin_ops::{page_json, Params};
use super::response::json;
use super::App;
use crate::domain::QueueMessage;
use crate::error::ApiError;
use crate::ports::{DeadLetter, Page, RedriveSelection};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};

/// Most messages one redrive call moves; the CLI calls again until none are left.
pub const MAX_REDRIVE: usize = 1000;
const DEFAULT_REDRIVE: usize = 100;

/// One dead letter as the API shows it (and the CLI reads it).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(schemars::JsonSchema),
    schemars(rename = "DeadLetter")
)]
pub struct DeadLetterView {
    pub message_id: String,
    /// `event` (a new event to fan out) or `deliver` (one delivery: a retry or a replay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(extend("enum" = ["event", "deliver"])))]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    pub receive_count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_at: Option<crate::domain::time::Timestamp>,
    /// Why it failed, when the body says: a message dispatch cannot decode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub body: String,
}

impl From<DeadLetter> for DeadLetterView {
    fn from(d: DeadLetter) -> Self {
        let mut view = Self {
            message_id: d.message_id,
            kind: None,
            event_id: None,
            event_type: None,
            subscription_id: None,
            receive_count: d.receive_count,
            dead_at: d.dead_at,
            reason: None,
            body: String::new(),
        };
        match QueueMessage::from_json(&d.body) {
            Ok(QueueMessage::Event { event }) => {
                view.kind = Some("event".into());
                view.event_id = Some(event.envelope.id.clone());
                view.event_type = Some(event.envelope.event_type.clone());
            }
            Ok(QueueMessage::Deliver {
                event_id,
                subscription_id,
                ..
            }) => {
                view.kind = Some("deliver".into());
                view.event_id = Some(event_id);
                view.subscription_id = Some(subscription_id);
            }
            Err(e) => {
                view.reason = Some(format!("not a Switchboard queue message: {e}"));
            }
        }
        view.body = d.body;
        view
    }
}

/// `GET /admin/dead-letters?limit=&cursor=`
pub(super) async fn list(app: &App, req: &Request<Bytes>) -> Result<Response<Bytes>, ApiError> {
    let p = Params::parse(req, &["cursor", "limit"])?;
    let page = app.ports.dead_letters.list(&p.page()?).await?;
    Ok(page_json(Page {
        items: page
            .items
            .into_iter()
            .map(DeadLetterView::from)
            .collect::<Vec<_>>(),
        next_cursor: page.next_cursor,
    }))
}

/// What a redrive moved (the answer of `POST /admin/dead-letters/redrive`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct RedriveReport {
    pub count: usize,
    pub redriven: Vec<String>,
}

/// `POST /admin/dead-letters/redrive`: `{"ids": [...]}` or `{"all": true, "limit": N}`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct RedriveRequest {
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schemars(length(min = 1, max = 1000), inner(length(min = 1)))
    )]
    ids: Option<Vec<String>>,
    #[serde(default)]
    all: Option<bool>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schemars(range(min = 1, max = 1000)))]
    limit: Option<usize>,
}

fn selection(r: RedriveRequest) -> Result<RedriveSelection, ApiError> {
    let invalid = |m: String| ApiError::bad_request("invalid_body", m);
    match (r.ids, r.all == Some(true)) {
        (Some(_), true) => Err(invalid("give ids or all, not both".into())),
        (None, false) => Err(invalid(
            "give ids (message ids from GET /admin/dead-letters) or \"all\": true".into(),
        )),
        (Some(ids), false) => {
            if r.limit.is_some() {
                return Err(invalid("limit goes with all, not with ids".into()));
            }
            if ids.is_empty() || ids.len() > MAX_REDRIVE || ids.iter().any(|i| i.trim().is_empty())
            {
                return Err(invalid(format!(
                    "ids must name 1 to {MAX_REDRIVE} non-empty message ids"
                )));
            }
            Ok(RedriveSelection::Ids(ids))
        }
        (None, true) => {
            let limit = r.limit.unwrap_or(DEFAULT_REDRIVE);
            if !(1..=MAX_REDRIVE).contains(&limit) {
                return Err(invalid(format!("limit must be from 1 to {MAX_REDRIVE}")));
            }
            Ok(RedriveSelection::Oldest(limit))
        }
    }
}

pub(super) async fn redrive(app: &App, req: &Request<Bytes>) -> Result<Response<Bytes>, ApiError> {
    let selection = selection(body(req)?)?;
    let moved = app.ports.dead_letters.redrive(&selection).await?;
    tracing::info!(count = moved.len(), "dead letters redriven");
    Ok(json(
        StatusCode::OK,
        &RedriveReport {
            count: moved.len(),
            redriven: moved,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: serde_json::Value) -> RedriveRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_redrive_names_ids_or_all_never_both_or_neither() {
        use serde_json::json;
        assert_eq!(
            selection(req(json!({"ids": ["a"]}))).unwrap(),
            RedriveSelection::Ids(vec!["a".into()])
        );
        assert_eq!(
            selection(req(json!({"all": true}))).unwrap(),
            RedriveSelection::Oldest(100)
        );
        assert_eq!(
            selection(req(json!({"all": true, "limit": 7}))).unwrap(),
            RedriveSelection::Oldest(7)
        );
        for bad in [
            json!({}),
            json!({"ids": []}),
            json!({"ids": [""]}),
            json!({"ids": ["a"], "all": true}),
            json!({"ids": ["a"], "limit": 3}),
            json!({"all": true, "limit": 0}),
            json!({"all": true, "limit": 1001}),
        ] {
            assert!(selection(req(bad.clone())).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_dead_letter_is_decoded_where_it_can_be() {
        let view = DeadLetterView::from(DeadLetter {
            message_id: "m1".into(),
            body: "{\"kind\":\"deliver\",\"event_id\":\"evt_1\",\"subscription_id\":\"sub_1\",\"attempt\":2,\"trigger\":\"retry\"}".into(),
            receive_count: 5,
            dead_at: None,
        });
        assert_eq!(view.kind.as_deref(), Some("deliver"));
        assert_eq!(view.event_id.as_deref(), Some("evt_1"));
        assert_eq!(view.subscription_id.as_deref(), Some("sub_1"));
        assert!(view.reason.is_none());
        let poison = DeadLetterView::from(DeadLetter {
            message_id: "m2".into(),
            body: "not json".into(),
            receive_count: 5,
            dead_at: None,
        });
        assert!(poison.event_id.is_none());
        assert!(poison
            .reason
            .is_some_and(|r| r.starts_with("not a Switchboard queue message")));
        assert_eq!(poison.body, "not json");
    }
}
