//! Provider parsers: a provider's request in, the canonical fields out.
//!
//! Every request yields something to deliver. The body is first decoded into a JSON value
//! (a JSON body, a form body, or the query string of a body-less request, see [`decode`]);
//! the source's provider then reads that value, and the envelope's `data` is its JSON text
//! (a JSON body's own text, not the value written out again). A body that cannot be decoded is kept
//! raw, flagged `raw_unparsed`, and typed from the URL's `?event=` when it names one, read
//! through the provider's own event names (`?event=Call:Hangup` is `call.ended` for
//! VoIPappz).

mod aircall;
mod callerdesk;
mod exotel;
mod fields;
mod generic;
mod hipcall;
mod plivo;
mod telnyx;
mod twilio;
mod voipappz;
mod vonage;

use crate::domain::envelope::Envelope;
use crate::domain::source::{is_type_like, GenericMapping, Provider};
use crate::domain::time::Timestamp;
use crate::domain::{CallInfo, Payload, Source};
use serde_json::{Map, Value};
use sha2::Digest as _;

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
            .filter(|v| !v.trim().is_empty())
    }
}

/// What a parser made of a request.
///
/// Invariant: either the payload was decoded (`data` is `Some`, `unparsed` is false) or it
/// was kept raw (`data` is `None`, `unparsed` is true, and there is neither `call` nor
/// `dedup_key`).
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub event_type: String,
    pub provider_event: Option<String>,
    pub occurred_at: Option<Timestamp>,
    pub call: Option<CallInfo>,
    pub data: Option<Payload>,
    /// Identifies the provider's retries of the same event; `None` is never deduplicated.
    pub dedup_key: Option<String>,
    pub unparsed: bool,
}

impl Parsed {
    /// A body nothing understood: typed from `?event=` when the URL names one (a canonical
    /// type such as `call.ended` is taken as it is; other names become `unknown`).
    pub fn unparsed(incoming: &Incoming<'_>) -> Self {
        let provider_event = incoming.query_param("event");
        let event_type = provider_event
            .as_deref()
            .filter(|e| is_type_like(e))
            .unwrap_or(UNKNOWN)
            .to_owned();
        Self {
            event_type,
            provider_event,
            occurred_at: None,
            call: None,
            data: None,
            dedup_key: None,
            unparsed: true,
        }
    }

    /// The envelope of event `id` from `source`, received at `received_at`, with what was
    /// parsed (the dedup key is the caller's: it is kept beside the envelope, not in it).
    pub fn into_envelope(self, id: String, source: String, received_at: Timestamp) -> Envelope {
        Envelope {
            id,
            event_type: self.event_type,
            provider_event: self.provider_event,
            source,
            occurred_at: self.occurred_at,
            received_at,
            call: self.call,
            data: self.data,
            raw_unparsed: self.unparsed,
        }
    }

    /// A decoded payload of a known type, before its call, time and dedup key are read:
    /// normalizers fill those in with `..Parsed::decoded(..)`, and [`parse`] its `data`.
    fn decoded(event_type: String, provider_event: Option<String>) -> Self {
        Self {
            event_type,
            provider_event,
            occurred_at: None,
            call: None,
            data: None,
            dedup_key: None,
            unparsed: false,
        }
    }

    /// A decoded payload whose event nothing names or recognises.
    fn untyped(provider_event: Option<String>) -> Self {
        Self::decoded(UNKNOWN.into(), provider_event)
    }
}

/// The type of an event nothing names.
pub const UNKNOWN: &str = "unknown";

/// Dedup keys longer than this are replaced by a digest (DynamoDB keys are bounded, and a
/// provider field can be any length).
const MAX_KEY_LEN: usize = 200;

/// Parses a request for a source; always yields something to deliver.
pub fn parse(source: &Source, incoming: &Incoming<'_>) -> Parsed {
    let Some(Decoded { value, text }) = decode(incoming) else {
        let mut parsed = Parsed::unparsed(incoming);
        if let Some(t) = parsed
            .provider_event
            .as_deref()
            .and_then(|e| canonical_type(source.provider, source.mapping.as_ref(), e))
        {
            parsed.event_type = t;
        }
        return parsed;
    };
    let tz = source.zone();
    let payload = &value;
    let mut parsed = match source.provider {
        Provider::Hipcall => hipcall::normalize(payload, incoming),
        Provider::Voipappz => voipappz::normalize(payload, incoming, tz),
        Provider::Callerdesk => callerdesk::normalize(payload, incoming, tz),
        Provider::Generic => generic::normalize(payload, incoming, source.mapping.as_ref(), tz),
        Provider::Twilio => twilio::normalize(payload),
        Provider::Plivo => plivo::normalize(payload, tz),
        Provider::Telnyx => telnyx::normalize(payload),
        Provider::Vonage => vonage::normalize(payload),
        Provider::Aircall => aircall::normalize(payload),
        Provider::Exotel => exotel::normalize(payload, tz),
    };
    parsed.data = Some(text);
    parsed.dedup_key = parsed.dedup_key.map(bounded_key);
    parsed
}

/// The canonical type a provider's own event name stands for, if it is one it documents.
pub fn canonical_type(
    provider: Provider,
    mapping: Option<&GenericMapping>,
    name: &str,
) -> Option<String> {
    match provider {
        Provider::Hipcall => hipcall::canonical_type(name),
        Provider::Voipappz => voipappz::canonical_type(name).map(str::to_owned),
        Provider::Callerdesk => callerdesk::kind_from_name(name).map(|k| k.default_type().into()),
        Provider::Generic => generic::canonical_type(mapping, name),
        Provider::Twilio => twilio::canonical_type(name).map(str::to_owned),
        Provider::Plivo => plivo::canonical_type(name).map(str::to_owned),
        Provider::Telnyx => telnyx::canonical_type(name).map(str::to_owned),
        Provider::Vonage => vonage::canonical_type(name).map(str::to_owned),
        Provider::Aircall => aircall::canonical_type(name).map(str::to_owned),
        Provider::Exotel => exotel::canonical_type(name).map(str::to_owned),
    }
}

/// A request's payload: the value the providers read, and its JSON text for the envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub value: Value,
    /// A JSON body's own text (compacted only when it spans lines); for a form or a query
    /// string, `value` written out.
    pub text: Payload,
}

impl Decoded {
    fn of_value(value: Value) -> Self {
        let text = Payload::from_value(&value);
        Self { value, text }
    }
}

/// The request's payload, or `None` when the body cannot be read:
///
/// - an empty (or blank) body: the query string's parameters (GET webhooks), possibly `{}`;
/// - `application/x-www-form-urlencoded`: the form's fields (UTF-8 only);
/// - a JSON content type (`application/json`, `*/*+json`, `text/json`): JSON only;
/// - `multipart/*`: not decoded (kept raw);
/// - anything else or no content type: JSON when it parses, else a form when the body is a
///   single line of `key=value` pairs, else nothing.
///
/// Form and query values are strings; a repeated key keeps its last value.
pub fn decode(incoming: &Incoming<'_>) -> Option<Decoded> {
    let body = incoming.body;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Some(Decoded::of_value(pairs(
            incoming.query.unwrap_or("").as_bytes(),
        )));
    }
    let ct = incoming
        .content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if ct == "application/x-www-form-urlencoded" {
        return std::str::from_utf8(body)
            .ok()
            .map(|s| Decoded::of_value(pairs(s.as_bytes())));
    }
    if ct.ends_with("/json") || ct.ends_with("+json") {
        return json(body);
    }
    if ct.starts_with("multipart/") {
        return None;
    }
    if let Some(v) = json(body) {
        return Some(v);
    }
    let text = std::str::from_utf8(body).ok()?.trim();
    let looks_like_form = text.contains('=')
        && !text.starts_with(['{', '['])
        && !text.chars().any(char::is_whitespace);
    looks_like_form.then(|| Decoded::of_value(pairs(text.as_bytes())))
}

/// Deepest JSON payload decoded. The queue message and the stored event wrap the payload in
/// a few more levels, and serde_json refuses documents nested deeper than 128 levels: a
/// payload close to that limit would be accepted here, then never decode from the queue
/// (dead-lettered, so lost). Deeper payloads are kept raw instead, like any unparsable body.
pub const MAX_JSON_DEPTH: usize = 64;

/// The body as JSON, if it parses and is at most [`MAX_JSON_DEPTH`] levels deep.
fn json(body: &[u8]) -> Option<Decoded> {
    let (text, value) = Payload::read_json_body(body)?;
    (depth(&value) <= MAX_JSON_DEPTH).then_some(Decoded { value, text })
}

/// Nesting depth of a JSON value (a scalar is 0, `[]` and `{}` are 1), without recursion.
/// Only containers go on the stack, and no iterator is boxed: this runs for every JSON body.
fn depth(value: &Value) -> usize {
    fn nested(v: &Value) -> bool {
        matches!(v, Value::Array(_) | Value::Object(_))
    }
    let mut deepest = 0;
    let mut stack = vec![(value, 1usize)];
    while let Some((v, d)) = stack.pop() {
        match v {
            Value::Array(items) => {
                deepest = deepest.max(d);
                stack.extend(items.iter().filter(|c| nested(c)).map(|c| (c, d + 1)));
            }
            Value::Object(map) => {
                deepest = deepest.max(d);
                stack.extend(map.values().filter(|c| nested(c)).map(|c| (c, d + 1)));
            }
            _ => {}
        }
    }
    deepest
}

fn pairs(bytes: &[u8]) -> Value {
    let map: Map<String, Value> = form_urlencoded::parse(bytes)
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    Value::Object(map)
}

/// `<provider>.<event>` for a provider event with no canonical type (`telnyx.call_bridged`),
/// or `unknown` when the name has nothing type-like in it.
pub(crate) fn namespaced(provider: &str, name: &str) -> String {
    fields::type_suffix(name).map_or_else(|| UNKNOWN.to_owned(), |s| format!("{provider}.{s}"))
}

/// A field of a decoded payload as text, by key or dotted path (`data.token`).
pub fn field_text(payload: &Value, path: &str) -> Option<String> {
    fields::text(fields::get(payload, path))
}

/// A dedup key from its parts, e.g. `hipcall:<uuid>:call_hangup`.
pub(crate) fn key(parts: &[&str]) -> String {
    parts.join(":")
}

fn bounded_key(k: String) -> String {
    if k.len() <= MAX_KEY_LEN {
        return k;
    }
    let digest = sha2::Sha256::digest(k.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Whether a call block says anything at all.
pub(crate) fn non_empty(call: CallInfo) -> Option<CallInfo> {
    (call != CallInfo::default()).then_some(call)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inc<'a>(ct: Option<&'a str>, query: Option<&'a str>, body: &'a [u8]) -> Incoming<'a> {
        Incoming {
            method: "POST",
            content_type: ct,
            query,
            body,
        }
    }

    #[test]
    fn decode_picks_the_payload() {
        let json = decode(&inc(Some("application/json"), None, br#"{"a":1}"#))
            .unwrap()
            .value;
        assert_eq!(json["a"], 1);
        let form = decode(&inc(
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            None,
            b"CallSid=1.2&Status=ANSWER&Status=BUSY",
        ))
        .unwrap()
        .value;
        assert_eq!(form["CallSid"], "1.2");
        assert_eq!(form["Status"], "BUSY");
        let get = decode(&inc(None, Some("event=Call%3AHangup&uuid=u1"), b""))
            .unwrap()
            .value;
        assert_eq!(get["event"], "Call:Hangup");
        let sniffed = decode(&inc(Some("text/plain"), None, b"a=1&b=2"))
            .unwrap()
            .value;
        assert_eq!(sniffed["b"], "2");
        assert_eq!(
            decode(&inc(None, None, b"")).unwrap().value,
            serde_json::json!({})
        );
        assert!(decode(&inc(Some("application/json"), None, b"{\"a\": 01}")).is_none());
        assert!(decode(&inc(Some("text/plain"), None, b"hello world")).is_none());
        assert!(decode(&inc(Some("multipart/form-data"), None, b"a=1")).is_none());
        assert!(decode(&inc(
            Some("application/x-www-form-urlencoded"),
            None,
            b"a=\xff"
        ))
        .is_none());
    }

    #[test]
    fn payloads_deeper_than_the_limit_are_kept_raw() {
        let nested = |d: usize| format!("{}{}", "[".repeat(d), "]".repeat(d));
        assert_eq!(depth(&serde_json::json!(1)), 0);
        assert_eq!(depth(&serde_json::json!({"a": [1, {"b": []}]})), 4);
        assert_eq!(depth(&serde_json::json!([])), 1);
        assert_eq!(depth(&serde_json::json!({})), 1);
        assert_eq!(depth(&serde_json::json!([[], [[1]], {"a": {"b": "c"}}])), 3);
        assert_eq!(
            depth(&serde_json::json!({"x": 1, "y": [[[[]]]], "z": []})),
            5
        );
        let ok = nested(MAX_JSON_DEPTH);
        assert!(decode(&inc(Some("application/json"), None, ok.as_bytes())).is_some());
        let deep = nested(MAX_JSON_DEPTH + 1);
        assert!(decode(&inc(Some("application/json"), None, deep.as_bytes())).is_none());
        assert!(decode(&inc(None, None, deep.as_bytes())).is_none());
    }

    #[test]
    fn long_keys_are_digested() {
        assert_eq!(bounded_key("k".into()), "k");
        let long = bounded_key("x".repeat(500));
        assert!(long.starts_with("sha256:") && long.len() == 71);
    }

    /// The depth as the plain recursive definition gives it.
    fn depth_by_recursion(v: &Value) -> usize {
        match v {
            Value::Array(items) => 1 + items.iter().map(depth_by_recursion).max().unwrap_or(0),
            Value::Object(map) => 1 + map.values().map(depth_by_recursion).max().unwrap_or(0),
            _ => 0,
        }
    }

    fn arb_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| serde_json::json!(n)),
            "[a-z]{0,4}".prop_map(Value::String),
        ];
        leaf.prop_recursive(8, 64, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z]{1,3}", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn depth_agrees_with_the_recursive_definition(v in arb_json()) {
            proptest::prop_assert_eq!(depth(&v), depth_by_recursion(&v));
        }
    }
}
