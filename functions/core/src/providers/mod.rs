//! Provider parsers: a provider's request in, the canonical fields out.
//!
//! Parsing never fails the request: a body that no parser understands is kept raw, flagged
//! `raw_unparsed`, and typed from the URL's `?event=` when it names one.

mod fallback;
mod hipcall;

use crate::domain::source::Provider;
use crate::domain::time::Timestamp;
use crate::domain::{CallInfo, Source};
use serde_json::Value;

/// The parts of a provider request the parsers read.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    pub method: &'a str,
    pub content_type: Option<&'a str>,
    /// The query string, verification token already removed.
    pub query: Option<&'a str>,
    pub body: &'a [u8],
}

impl Incoming<'_> {
    /// The value of a query parameter, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let q = self.query?;
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// What a parser made of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub event_type: String,
    pub provider_event: Option<String>,
    pub occurred_at: Option<Timestamp>,
    pub call: Option<CallInfo>,
    pub data: Option<Value>,
    /// Identifies the provider's retries of the same event; `None` is never deduplicated.
    pub dedup_key: Option<String>,
    pub unparsed: bool,
}

impl Parsed {
    /// A body nothing understood: typed from `?event=` when the URL names one.
    pub fn unparsed(incoming: &Incoming<'_>) -> Self {
        let provider_event = incoming.query_param("event");
        Self {
            event_type: "unknown".into(),
            provider_event,
            occurred_at: None,
            call: None,
            data: None,
            dedup_key: None,
            unparsed: true,
        }
    }
}

/// Parses a request for a source; always yields something to deliver.
pub fn parse(source: &Source, incoming: &Incoming<'_>) -> Parsed {
    let parsed = match source.provider {
        Provider::Hipcall => hipcall::parse(incoming),
        Provider::Voipappz | Provider::Callerdesk | Provider::Generic => fallback::parse(incoming),
    };
    parsed.unwrap_or_else(|| Parsed::unparsed(incoming))
}

/// Parses a JSON body, bounded in nesting depth (serde_json stops at 128 levels).
pub(crate) fn json_body(body: &[u8]) -> Option<Value> {
    serde_json::from_slice(body).ok()
}

/// A JSON value as a plain string: strings as they are, numbers and booleans printed.
pub(crate) fn as_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An RFC 3339 timestamp from a JSON string.
pub(crate) fn as_time(v: Option<&Value>) -> Option<Timestamp> {
    let s = v?.as_str()?;
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}
