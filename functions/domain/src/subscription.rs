//! Subscriptions: who wants which events, where, and in which shape.

use super::envelope::Envelope;
use super::time::Timestamp;
use crate::redact::Secret;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    #[default]
    Post,
    Put,
    Get,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Get => "GET",
        }
    }
}

/// What body a subscriber receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// The provider's body, byte for byte, with its content type.
    Raw,
    /// The canonical JSON envelope.
    #[default]
    Envelope,
    /// The subscription's template rendered over the envelope.
    Template,
}

/// How the events of one call are sequenced to a subscription.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Ordering {
    /// Every event goes as soon as it can.
    #[default]
    None,
    /// The events of one call go one at a time, in order (events without a call id are not
    /// ordered).
    Call,
}

impl Ordering {
    pub fn is_none(&self) -> bool {
        *self == Self::None
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A signing secret that still signs until `expires_at` (secret rotation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct RetiringSecret {
    pub secret: Secret,
    pub expires_at: Timestamp,
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Subscription {
    pub id: String,
    #[cfg_attr(feature = "openapi", schemars(length(min = 1), extend("example" = "https://crm.example.com/hooks")))]
    pub url: String,
    #[serde(default)]
    pub method: Method,
    pub enabled: bool,
    /// Exact types, `prefix.*` wildcards or `*`.
    #[cfg_attr(feature = "openapi", schemars(length(min = 1), inner(length(min = 1)), extend("example" = ["call.*"])))]
    pub event_types: Vec<String>,
    /// Only events from this source id, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(regex(pattern = crate::ids::SLUG_PATTERN)))]
    pub source: Option<String>,
    /// Content filter on envelope fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Value>,
    #[serde(default)]
    pub format: Format,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Content type of a rendered template body (default `application/json`; e.g.
    /// `application/x-www-form-urlencoded` for a form). Not used by GET, whose template
    /// renders the query string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(range(min = 100, max = 60_000)))]
    pub timeout_ms: Option<u64>,
    /// Delays after the first attempt, in seconds; the default schedule when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schemars(length(max = 20), inner(range(max = 86_400)))
    )]
    pub retry_schedule_secs: Option<Vec<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The signing secret: `whsec_...` in the answers to create and rotate-secret,
    /// `[redacted]` in every other.
    pub secret: Secret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret: Option<RetiringSecret>,
    /// Why the subscription was disabled automatically (e.g. the endpoint answered 410).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Start of the current run of failed attempts (endpoint health); cleared by a success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<Timestamp>,
    /// Failed attempts since the last success, counted until `delivery.failing` is
    /// emitted (endpoint health).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub consecutive_failures: u32,
    /// When `delivery.failing` was emitted for the current run of failures; the next
    /// success clears it and emits `delivery.recovered`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_reported_at: Option<Timestamp>,
    /// Consecutive failed attempts before `delivery.failing`; the deployment's
    /// `SWITCHBOARD_FAILING_AFTER` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(range(min = 1, max = 1000)))]
    pub failing_after: Option<u32>,
    /// `call`: a call's events go one at a time, in order.
    #[serde(default, skip_serializing_if = "Ordering::is_none")]
    pub ordering: Ordering,
    /// With `ordering: call`, how long each event waits after it arrives so that events
    /// arriving out of order within it go by `occurred_at`.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[cfg_attr(feature = "openapi", schemars(range(max = 10_000)))]
    pub ordering_window_ms: u32,
    /// At most this many deliveries per second, across every dispatcher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(range(min = 1, max = 10_000)))]
    pub rate_limit_per_second: Option<u32>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Optimistic-concurrency version: 1 on create, +1 on every write (0 when stored
    /// before versions existed). Read-only in the admin API.
    #[serde(default)]
    pub version: u64,
}

/// Debug without credentials: the signing secrets print as `[redacted]`, extra headers by
/// name only, the URL without credential-like query values.
impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("url", &crate::redact::redact_url(&self.url))
            .field("method", &self.method)
            .field("enabled", &self.enabled)
            .field("event_types", &self.event_types)
            .field("source", &self.source)
            .field("filter", &self.filter)
            .field("format", &self.format)
            .field("template_len", &self.template.as_ref().map(String::len))
            .field("content_type", &self.content_type)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("timeout_ms", &self.timeout_ms)
            .field("retry_schedule_secs", &self.retry_schedule_secs)
            .field("secret", &self.secret)
            .field("previous_secret", &self.previous_secret)
            .field("disabled_reason", &self.disabled_reason)
            .field("failing_since", &self.failing_since)
            .field("consecutive_failures", &self.consecutive_failures)
            .field("failing_reported_at", &self.failing_reported_at)
            .field("failing_after", &self.failing_after)
            .field("ordering", &self.ordering)
            .field("ordering_window_ms", &self.ordering_window_ms)
            .field("rate_limit_per_second", &self.rate_limit_per_second)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("version", &self.version)
            .finish()
    }
}

/// The source of Switchboard's own operational events.
pub const OPERATIONAL_SOURCE: &str = "switchboard";
/// Emitted when a subscription is disabled (410 Gone, or failing for too long).
pub const SUBSCRIPTION_DISABLED: &str = "subscription.disabled";
/// Emitted when a delivery has used up its retry schedule.
pub const DELIVERY_EXHAUSTED: &str = "delivery.exhausted";
/// Emitted once when a subscription's attempts have failed `failing_after` times in a row.
pub const DELIVERY_FAILING: &str = "delivery.failing";
/// Emitted on the first success after `delivery.failing`.
pub const DELIVERY_RECOVERED: &str = "delivery.recovered";

impl Subscription {
    /// A new enabled subscription with no target yet and every option at its default: what
    /// a create input's `apply_to` fills in.
    pub fn blank(id: impl Into<String>, secret: Secret, at: Timestamp) -> Self {
        Self {
            id: id.into(),
            url: String::new(),
            method: Method::default(),
            enabled: true,
            event_types: Vec::new(),
            source: None,
            filter: None,
            format: Format::Envelope,
            template: None,
            content_type: None,
            headers: BTreeMap::new(),
            timeout_ms: None,
            retry_schedule_secs: None,
            description: None,
            secret,
            previous_secret: None,
            disabled_reason: None,
            failing_since: None,
            consecutive_failures: 0,
            failing_reported_at: None,
            failing_after: None,
            ordering: Ordering::None,
            ordering_window_ms: 0,
            rate_limit_per_second: None,
            created_at: at,
            updated_at: at,
            version: 1,
        }
    }

    /// Whether this subscription wants the event by enabled flag, source and type (the
    /// content filter is [`Subscription::wants_content`]). Operational events (source
    /// `switchboard`) go only to subscriptions that name them: `*` does not include them,
    /// `subscription.*` or `delivery.exhausted` do.
    pub fn wants(&self, envelope: &Envelope) -> bool {
        let operational = envelope.source == OPERATIONAL_SOURCE;
        self.enabled
            && self.source.as_deref().is_none_or(|s| s == envelope.source)
            && self.event_types.iter().any(|pattern| {
                !(operational && pattern == "*") && type_matches(pattern, &envelope.event_type)
            })
    }

    /// Whether the content filter (if any) passes for the envelope as JSON. A stored filter
    /// that no longer compiles matches nothing (filters are validated on create/update).
    pub fn wants_content(&self, envelope_json: &Value) -> bool {
        let Some(raw) = &self.filter else {
            return true;
        };
        match crate::filter::Filter::parse(raw) {
            Ok(f) => f.matches(envelope_json),
            Err(e) => {
                tracing::warn!(subscription_id = %self.id, error = %e, "stored filter is invalid; skipping");
                false
            }
        }
    }

    /// [`Self::wants`] and [`Self::wants_content`] together.
    pub fn matches(&self, envelope: &Envelope) -> bool {
        if !self.wants(envelope) {
            return false;
        }
        if self.filter.is_none() {
            return true;
        }
        match serde_json::to_value(envelope) {
            Ok(v) => self.wants_content(&v),
            Err(_) => false,
        }
    }

    pub fn timeout(&self, default: std::time::Duration) -> std::time::Duration {
        self.timeout_ms
            .map(std::time::Duration::from_millis)
            .unwrap_or(default)
    }

    /// The subscription as the admin API lists it: the signing secrets and credential-like
    /// header values (`Authorization`, `X-Api-Key`, ...) hidden.
    pub fn redacted(&self) -> Self {
        Self {
            headers: self
                .headers
                .iter()
                .map(|(k, v)| {
                    let shown = if crate::redact::is_sensitive_name(k) {
                        "[redacted]".to_owned()
                    } else {
                        v.clone()
                    };
                    (k.clone(), shown)
                })
                .collect(),
            secret: Secret::new("[redacted]"),
            previous_secret: self.previous_secret.as_ref().map(|p| RetiringSecret {
                secret: Secret::new("[redacted]"),
                expires_at: p.expires_at,
            }),
            ..self.clone()
        }
    }
}

/// `*` matches everything, `call.*` matches `call.ended` (and `call.x.y`), else exact.
pub fn type_matches(pattern: &str, event_type: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_suffix(".*") {
        Some(prefix) => event_type
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.')),
        None => pattern == event_type,
    }
}

/// Body of `POST /admin/subscriptions` and `PATCH /admin/subscriptions/{id}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SubscriptionInput {
    #[cfg_attr(feature = "openapi", schemars(length(min = 1), extend("example" = "https://crm.example.com/hooks")))]
    pub url: Option<String>,
    pub method: Option<Method>,
    pub enabled: Option<bool>,
    #[cfg_attr(feature = "openapi", schemars(length(min = 1), inner(length(min = 1)), extend("example" = ["call.*"])))]
    pub event_types: Option<Vec<String>>,
    #[cfg_attr(feature = "openapi", schemars(regex(pattern = crate::ids::SLUG_PATTERN)))]
    pub source: Option<String>,
    pub filter: Option<Value>,
    pub format: Option<Format>,
    pub template: Option<String>,
    pub content_type: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    #[cfg_attr(feature = "openapi", schemars(range(min = 100, max = 60_000)))]
    pub timeout_ms: Option<u64>,
    #[cfg_attr(
        feature = "openapi",
        schemars(length(max = 20), inner(range(max = 86_400)))
    )]
    pub retry_schedule_secs: Option<Vec<u64>>,
    pub description: Option<String>,
    pub ordering: Option<Ordering>,
    #[cfg_attr(feature = "openapi", schemars(range(max = 10_000)))]
    pub ordering_window_ms: Option<u32>,
    /// `null` removes the limit (PATCH); absent keeps it.
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(
        feature = "openapi",
        schemars(with = "Option<u32>", range(min = 1, max = 10_000))
    )]
    pub rate_limit_per_second: Option<Option<u32>>,
    /// `null` goes back to the deployment's default (PATCH); absent keeps it.
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(
        feature = "openapi",
        schemars(with = "Option<u32>", range(min = 1, max = 1000))
    )]
    pub failing_after: Option<Option<u32>>,
}

/// Tells a field given as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(type_matches("*", "call.ended"));
        assert!(type_matches("call.*", "call.ended"));
        assert!(!type_matches("call.*", "callx.ended"));
        assert!(!type_matches("call.*", "call"));
        assert!(type_matches("call.ended", "call.ended"));
        assert!(!type_matches("call.ended", "call.started"));
    }

    fn sub(types: &[&str]) -> Subscription {
        let t: Timestamp = "2024-11-17T10:41:00Z".parse().unwrap();
        Subscription {
            url: "https://example.com/".into(),
            event_types: types.iter().map(|s| s.to_string()).collect(),
            ..Subscription::blank("sub_1", Secret::new("whsec_x"), t)
        }
    }

    fn envelope(source: &str, event_type: &str) -> Envelope {
        Envelope {
            id: "evt_1".into(),
            event_type: event_type.into(),
            provider_event: None,
            source: source.into(),
            occurred_at: None,
            received_at: "2024-11-17T10:41:00Z".parse().unwrap(),
            call: None,
            data: Some(serde_json::json!({"queue": "Que1"}).into()),
            raw_unparsed: false,
        }
    }

    #[test]
    fn operational_events_only_when_named() {
        let ops = envelope(OPERATIONAL_SOURCE, SUBSCRIPTION_DISABLED);
        assert!(!sub(&["*"]).wants(&ops));
        assert!(sub(&["subscription.*"]).wants(&ops));
        assert!(sub(&["subscription.disabled"]).wants(&ops));
        assert!(sub(&["*"]).wants(&envelope("hipcall", "call.ended")));
    }

    #[test]
    fn content_filter_and_source() {
        let mut s = sub(&["call.*"]);
        s.filter = Some(serde_json::json!({"data.queue": {"in": ["Que1"]}}));
        assert!(s.matches(&envelope("hipcall", "call.ended")));
        s.filter = Some(serde_json::json!({"data.queue": "Que2"}));
        assert!(!s.matches(&envelope("hipcall", "call.ended")));
        s.filter = None;
        s.source = Some("other".into());
        assert!(!s.matches(&envelope("hipcall", "call.ended")));
    }

    #[test]
    fn a_record_stored_before_versions_reads_as_version_0() {
        let mut json = serde_json::to_value(sub(&["*"])).unwrap();
        assert_eq!(json["version"], 1);
        json.as_object_mut().unwrap().remove("version");
        let old: Subscription = serde_json::from_value(json).unwrap();
        assert_eq!(old.version, 0);
    }

    #[test]
    fn debug_and_redacted_hide_credentials() {
        let mut s = sub(&["*"]);
        s.url = "https://crm.example.com/hook?api_key=k3y&team=a".into();
        s.headers
            .insert("Authorization".into(), "Bearer t0k".into());
        s.headers.insert("X-Team".into(), "sales".into());
        let debug = format!("{s:?}");
        for leaked in ["k3y", "t0k", "whsec_x", "sales"] {
            assert!(!debug.contains(leaked), "{leaked} in {debug}");
        }
        let shown = serde_json::to_string(&s.redacted()).unwrap();
        assert!(!shown.contains("t0k") && !shown.contains("whsec_x"));
        assert!(shown.contains("sales"));
    }
}
