//! A wrapper for secrets: usable as a string, printed as `[redacted]`.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Constant-time equality, so a comparison's duration tells nothing about the secret.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// What a hidden value is recorded as.
pub const REDACTED: &str = "[redacted]";

/// Names (headers, query parameters) whose values are credentials: recorded as `[redacted]`.
pub fn is_sensitive_name(name: &str) -> bool {
    // Case-insensitive without a lowercased copy: this runs for every header of every
    // delivery record.
    let n = name.as_bytes();
    let is = |w: &str| n.eq_ignore_ascii_case(w.as_bytes());
    let contains = |w: &str| {
        n.windows(w.len())
            .any(|part| part.eq_ignore_ascii_case(w.as_bytes()))
    };
    is("authorization")
        || is("cookie")
        || is("webhook-signature")
        || [
            "token",
            "secret",
            "key",
            "password",
            "passwd",
            "auth",
            "sig",
            "credential",
            "session",
            "api",
        ]
        .iter()
        .any(|w| contains(w))
}

/// A URL as it may be logged or recorded: user info dropped, sensitive query values hidden.
pub fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        // Not parseable: keep only what precedes the query.
        return url.split('?').next().unwrap_or_default().to_owned();
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // Cannot fail for http(s) URLs, which have a host; ignore for others.
        let _ = parsed.set_username("");
        let _ = parsed.set_password(None);
    }
    if parsed.query().is_some() {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let shown = if is_sensitive_name(&k) {
                    REDACTED.to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), shown)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("whsec_abc");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(s.expose(), "whsec_abc");
    }

    #[test]
    fn credential_names_are_sensitive_in_any_case() {
        for name in [
            "Authorization",
            "COOKIE",
            "Webhook-Signature",
            "X-Api-Key",
            "x-AUTH-token",
            "Client-Secret",
            "x-hub-signature-256",
            "session_id",
            "passwd",
        ] {
            assert!(is_sensitive_name(name), "{name}");
        }
        for name in [
            "content-type",
            "webhook-id",
            "user-agent",
            "x-request-id",
            "",
            "ke",
        ] {
            assert!(!is_sensitive_name(name), "{name}");
        }
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
