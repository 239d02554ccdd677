//! The request body a subscription receives, by its format.
//!
//! | format   | POST / PUT body                              | GET                          |
//! |----------|----------------------------------------------|------------------------------|
//! | raw      | provider's body, provider's content type     | provider's query string      |
//! | envelope | canonical JSON envelope                      | (rejected at create)         |
//! | template | rendered template, `content_type` (JSON)     | rendered template as query   |

use super::template;
use crate::domain::subscription::{Format, Method};
use crate::domain::{StoredEvent, Subscription};
use bytes::Bytes;

/// Content type of a template body when the subscription names none.
pub const DEFAULT_TEMPLATE_CONTENT_TYPE: &str = "application/json";

/// What to send: body (none for GET), its content type, and a query string to append.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub body: Bytes,
    pub content_type: Option<String>,
    pub query: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum RenderError {
    #[error("template error: {0}")]
    Template(String),
    #[error("could not serialise the envelope: {0}")]
    Serialise(String),
}

/// An event's envelope as JSON, serialised at most once however many subscriptions of the
/// event want the envelope format (the fan-out shares one).
#[derive(Debug, Default)]
pub struct EnvelopeJson(std::sync::OnceLock<Result<Bytes, RenderError>>);

impl EnvelopeJson {
    /// The envelope's JSON as serialised already (by the queue that stored the event), so
    /// that it is not serialised again.
    pub fn serialised_as(json: Bytes) -> Self {
        Self(std::sync::OnceLock::from(Ok(json)))
    }

    /// The envelope's JSON (`serde_json::to_vec(&event.envelope)`), serialised on first use.
    pub fn serialised(&self, event: &StoredEvent) -> Result<Bytes, RenderError> {
        self.get(event)
    }

    fn get(&self, event: &StoredEvent) -> Result<Bytes, RenderError> {
        self.0
            .get_or_init(|| {
                serde_json::to_vec(&event.envelope)
                    .map(Bytes::from)
                    .map_err(|e| RenderError::Serialise(e.to_string()))
            })
            .clone()
    }
}

pub fn render(sub: &Subscription, event: &StoredEvent) -> Result<Rendered, RenderError> {
    render_with(sub, event, &EnvelopeJson::default())
}

/// [`render`], taking the envelope's JSON from `envelope` (filled on first use).
pub fn render_with(
    sub: &Subscription,
    event: &StoredEvent,
    envelope: &EnvelopeJson,
) -> Result<Rendered, RenderError> {
    let rendered = match sub.format {
        Format::Raw => Rendered {
            body: event.raw.body.clone(),
            content_type: event.raw.content_type.clone(),
            query: event.raw.query.clone().filter(|q| !q.is_empty()),
        },
        Format::Envelope => Rendered {
            body: envelope.get(event)?,
            content_type: Some("application/json".into()),
            query: None,
        },
        Format::Template => {
            let source = sub
                .template
                .as_deref()
                .ok_or_else(|| RenderError::Template("the subscription has no template".into()))?;
            let envelope = serde_json::to_value(&event.envelope)
                .map_err(|e| RenderError::Serialise(e.to_string()))?;
            let out = template::render(source, template::context(&envelope, &event.raw.body))
                .map_err(|e| RenderError::Template(e.0))?;
            match sub.method {
                Method::Get => Rendered {
                    body: Bytes::new(),
                    content_type: None,
                    query: Some(query_string(&out)).filter(|q| !q.is_empty()),
                },
                Method::Post | Method::Put => Rendered {
                    body: Bytes::from(out),
                    content_type: Some(
                        sub.content_type
                            .clone()
                            .unwrap_or_else(|| DEFAULT_TEMPLATE_CONTENT_TYPE.to_owned()),
                    ),
                    query: None,
                },
            }
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

/// A rendered query string, tidied: surrounding whitespace, line breaks and a leading `?`
/// (templates are often written one parameter per line) are dropped.
fn query_string(out: &str) -> String {
    out.split(['\n', '\r'])
        .map(str::trim)
        .collect::<String>()
        .trim_start_matches('?')
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_lines_join() {
        assert_eq!(query_string("?a=1\n  &b=2\r\n"), "a=1&b=2");
    }

    fn event() -> StoredEvent {
        let received = chrono::DateTime::from_timestamp_millis(1_800_000_000_000);
        crate::test_events::stored_event("evt_1", received.unwrap_or_default(), None)
    }

    #[test]
    fn an_envelope_serialised_already_is_taken_as_it_is() {
        let event = event();
        let fresh = EnvelopeJson::default().serialised(&event).unwrap();
        assert_eq!(fresh, serde_json::to_vec(&event.envelope).unwrap());
        let given = Bytes::from_static(b"{\"as\":\"stored\"}");
        let kept = EnvelopeJson::serialised_as(given.clone());
        assert_eq!(kept.serialised(&event).unwrap(), given);
    }
}
