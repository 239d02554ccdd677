//! The request body a subscription receives, by its format.

use crate::domain::subscription::{Format, Method};
use crate::domain::{StoredEvent, Subscription};
use bytes::Bytes;

/// What to send: body (none for GET), its content type, and a query string to append.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub body: Bytes,
    pub content_type: Option<String>,
    pub query: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RenderError {
    #[error("template format is not available for this subscription: {0}")]
    Template(String),
    #[error("could not serialise the envelope: {0}")]
    Serialise(String),
}

pub fn render(sub: &Subscription, event: &StoredEvent) -> Result<Rendered, RenderError> {
    let rendered = match sub.format {
        Format::Raw => Rendered {
            body: event.raw.body.clone(),
            content_type: event.raw.content_type.clone(),
            query: event.raw.query.clone().filter(|q| !q.is_empty()),
        },
        Format::Envelope => Rendered {
            body: serde_json::to_vec(&event.envelope)
                .map(Bytes::from)
                .map_err(|e| RenderError::Serialise(e.to_string()))?,
            content_type: Some("application/json".into()),
            query: None,
        },
        Format::Template => {
            return Err(RenderError::Template(
                "templates are rendered by the template engine, not configured here".into(),
            ))
        }
    };
    Ok(match sub.method {
        // GET carries no body: a raw GET forwards the provider's query string.
        Method::Get => Rendered {
            body: Bytes::new(),
            content_type: None,
            query: rendered.query,
        },
        Method::Post | Method::Put => Rendered {
            query: None,
            ..rendered
        },
    })
}
