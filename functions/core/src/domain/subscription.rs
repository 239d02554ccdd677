//! Subscriptions: who wants which events, where, and in which shape.

use super::envelope::Envelope;
use super::time::Timestamp;
use crate::redact::Secret;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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

/// A signing secret that still signs until `expires_at` (secret rotation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetiringSecret {
    pub secret: Secret,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub url: String,
    #[serde(default)]
    pub method: Method,
    pub enabled: bool,
    /// Exact types, `prefix.*` wildcards or `*`.
    pub event_types: Vec<String>,
    /// Only events from this source id, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Content filter on envelope fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Value>,
    #[serde(default)]
    pub format: Format,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Delays after the first attempt, in seconds; the default schedule when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_schedule_secs: Option<Vec<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub secret: Secret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret: Option<RetiringSecret>,
    /// Why the subscription was disabled automatically (e.g. the endpoint answered 410).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Subscription {
    /// Whether this subscription wants the event (enabled, source, type).
    pub fn wants(&self, envelope: &Envelope) -> bool {
        self.enabled
            && self.source.as_deref().is_none_or(|s| s == envelope.source)
            && self
                .event_types
                .iter()
                .any(|pattern| type_matches(pattern, &envelope.event_type))
    }

    pub fn timeout(&self, default: std::time::Duration) -> std::time::Duration {
        self.timeout_ms
            .map(std::time::Duration::from_millis)
            .unwrap_or(default)
    }

    /// The subscription as the admin API lists it: the signing secret hidden.
    pub fn redacted(&self) -> Self {
        Self {
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
#[serde(deny_unknown_fields)]
pub struct SubscriptionInput {
    pub url: Option<String>,
    pub method: Option<Method>,
    pub enabled: Option<bool>,
    pub event_types: Option<Vec<String>>,
    pub source: Option<String>,
    pub filter: Option<Value>,
    pub format: Option<Format>,
    pub template: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    pub timeout_ms: Option<u64>,
    pub retry_schedule_secs: Option<Vec<u64>>,
    pub description: Option<String>,
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
}
