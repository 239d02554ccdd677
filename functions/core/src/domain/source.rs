//! Sources: one per provider account, each with its own URL and verification.

use super::time::Timestamp;
use crate::redact::Secret;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Default body limit per source (DESIGN: 1 MiB).
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Hipcall,
    Voipappz,
    Callerdesk,
    Generic,
}

/// How a source proves a request came from its provider. `none` must be chosen explicitly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Verification {
    None,
    /// A shared token in the `/hooks/{source}/{token}` path segment, a query parameter or a header.
    Token {
        token: Secret,
        #[serde(default)]
        location: TokenLocation,
        /// Query parameter or header name (defaults: `token`, `x-switchboard-token`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// HMAC over the raw body, sent in a header.
    Hmac {
        secret: Secret,
        header: String,
        #[serde(default)]
        algorithm: HmacAlgorithm,
        #[serde(default)]
        encoding: SignatureEncoding,
        /// Text before the signature in the header, e.g. `sha256=`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix: Option<String>,
    },
    /// HTTP basic authentication.
    Basic {
        username: String,
        password: Secret,
    },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenLocation {
    #[default]
    Path,
    Query,
    Header,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HmacAlgorithm {
    Sha1,
    #[default]
    Sha256,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureEncoding {
    #[default]
    Hex,
    Base64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub id: String,
    pub provider: Provider,
    pub verification: Verification,
    /// IANA zone for providers that send zone-less local times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_limit_bytes: Option<usize>,
    /// Client addresses (IPs or CIDRs) allowed to post; empty allows all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_allow: Vec<String>,
    /// Declarative field mapping for `generic` sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Source {
    pub fn body_limit(&self) -> usize {
        self.body_limit_bytes.unwrap_or(DEFAULT_BODY_LIMIT)
    }

    /// The source as the admin API shows it: secrets replaced by `[redacted]`.
    pub fn redacted(&self) -> Self {
        let hidden = || Secret::new("[redacted]");
        let verification = match &self.verification {
            Verification::None => Verification::None,
            Verification::Token { location, name, .. } => Verification::Token {
                token: hidden(),
                location: *location,
                name: name.clone(),
            },
            Verification::Hmac {
                header,
                algorithm,
                encoding,
                prefix,
                ..
            } => Verification::Hmac {
                secret: hidden(),
                header: header.clone(),
                algorithm: *algorithm,
                encoding: *encoding,
                prefix: prefix.clone(),
            },
            Verification::Basic { username, .. } => Verification::Basic {
                username: username.clone(),
                password: hidden(),
            },
        };
        Self {
            verification,
            ..self.clone()
        }
    }
}

/// Body of `POST /admin/sources` (all fields) and `PATCH` (any subset but `id`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceInput {
    pub id: Option<String>,
    pub provider: Option<Provider>,
    pub verification: Option<Verification>,
    pub timezone: Option<String>,
    pub body_limit_bytes: Option<usize>,
    pub ip_allow: Option<Vec<String>>,
    pub mapping: Option<Value>,
    pub description: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_none_is_explicit_json() {
        let v: Verification = serde_json::from_str(r#"{"type":"none"}"#).unwrap();
        assert_eq!(v, Verification::None);
        assert!(serde_json::from_str::<Verification>("{}").is_err());
    }

    #[test]
    fn redacted_hides_every_secret() {
        let s = Source {
            id: "a".into(),
            provider: Provider::Hipcall,
            verification: Verification::Basic {
                username: "u".into(),
                password: Secret::new("hunter2"),
            },
            timezone: None,
            body_limit_bytes: None,
            ip_allow: vec![],
            mapping: None,
            description: None,
            created_at: "2024-11-17T10:41:00Z".parse().unwrap(),
            updated_at: "2024-11-17T10:41:00Z".parse().unwrap(),
        };
        let json = serde_json::to_string(&s.redacted()).unwrap();
        assert!(!json.contains("hunter2"));
        assert!(json.contains("[redacted]"));
    }
}
