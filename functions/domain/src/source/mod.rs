//! Sources: one per provider account, each with its own URL and verification.

use super::time::Timestamp;
use crate::redact::Secret;
use serde::{Deserialize, Serialize};

mod input;
mod mapping;
pub use input::{SourceError, SourceInput};
pub use mapping::{is_type_like, CallMapping, EventMapping, GenericMapping, TimeField, TimeFormat};

/// Default body limit per source: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Hipcall,
    Voipappz,
    Callerdesk,
    Generic,
    Twilio,
    Plivo,
    Telnyx,
    Vonage,
    Aircall,
    Exotel,
}

impl Provider {
    /// Every provider, in declaration order (the benchmarks and property tests cover each).
    pub const ALL: [Provider; 10] = [
        Provider::Hipcall,
        Provider::Voipappz,
        Provider::Callerdesk,
        Provider::Generic,
        Provider::Twilio,
        Provider::Plivo,
        Provider::Telnyx,
        Provider::Vonage,
        Provider::Aircall,
        Provider::Exotel,
    ];
}

/// How a source proves a request came from its provider. `none` must be chosen explicitly.
/// The admin API answers with secrets as `[redacted]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
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
    /// Twilio's `X-Twilio-Signature`: HMAC-SHA1 of the called URL and the POST parameters.
    Twilio {
        auth_token: Secret,
        /// The URL configured at the provider, when it differs from what the request shows
        /// (a proxy or tunnel in front); the request's query string is appended to it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        public_url: Option<String>,
    },
    /// Plivo's `X-Plivo-Signature-V3`: HMAC-SHA256 of the URL, the parameters and a nonce.
    Plivo {
        auth_token: Secret,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        public_url: Option<String>,
    },
    /// Telnyx's Ed25519 signature over `{timestamp}|{body}`, with a replay window.
    Telnyx {
        /// The account's public key, base64 (Mission Control → Keys & Credentials).
        public_key: String,
        #[serde(default, skip_serializing_if = "ReplayWindow::is_default")]
        tolerance_secs: ReplayWindow,
    },
    /// Vonage's signed webhooks: `Authorization: Bearer <JWT>`, HS256 with the signature
    /// secret, whose `payload_hash` claim is the SHA-256 of the body.
    Vonage {
        signature_secret: Secret,
        #[serde(default, skip_serializing_if = "ReplayWindow::is_default")]
        tolerance_secs: ReplayWindow,
    },
    /// A shared token inside the JSON (or form) body, e.g. Aircall's `token`.
    BodyToken {
        #[serde(default = "default_body_token_field")]
        field: String,
        token: Secret,
    },
}

/// Default replay window of the timestamped schemes (Telnyx, Vonage), in seconds.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

/// How far a timestamped signature (Telnyx, Vonage) may be from now, in seconds: 1 to
/// 86400, [`DEFAULT_TOLERANCE_SECS`] when the source does not say (and then not written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReplayWindow(pub u64);

impl Default for ReplayWindow {
    fn default() -> Self {
        Self(DEFAULT_TOLERANCE_SECS)
    }
}

impl ReplayWindow {
    pub fn secs(self) -> u64 {
        self.0
    }

    fn is_default(&self) -> bool {
        *self == Self::default()
    }

    fn validate(self) -> Result<(), String> {
        if (1..=86_400).contains(&self.0) {
            Ok(())
        } else {
            Err("tolerance_secs must be between 1 and 86400".into())
        }
    }
}

/// Written out where it is used, as the plain integer it is on the wire.
#[cfg(feature = "openapi")]
impl schemars::JsonSchema for ReplayWindow {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ReplayWindow".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "integer",
            "format": "uint64",
            "minimum": 1,
            "maximum": 86_400
        })
    }
}

fn default_body_token_field() -> String {
    "token".into()
}

impl Verification {
    /// Checks what serde cannot: keys that must decode, URLs that must be absolute.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Verification::Twilio { public_url, .. } | Verification::Plivo { public_url, .. } => {
                match public_url {
                    Some(u) if !is_absolute_http_url(u) => Err(format!(
                        "public_url must be an absolute http(s) URL without a query, got {u:?}"
                    )),
                    _ => Ok(()),
                }
            }
            Verification::Telnyx {
                public_key,
                tolerance_secs,
            } => {
                if !ed25519_key_is_valid(public_key) {
                    return Err(
                        "public_key must be the base64 of a 32-byte Ed25519 public key".into(),
                    );
                }
                tolerance_secs.validate()
            }
            Verification::Vonage { tolerance_secs, .. } => tolerance_secs.validate(),
            Verification::BodyToken { field, .. }
                if field.trim().is_empty() || field.len() > 256 =>
            {
                Err("field must name the body field holding the token (1-256 characters)".into())
            }
            _ => Ok(()),
        }
    }
}

/// Whether a public key is the base64 (standard, padding optional) of 32 bytes.
pub fn ed25519_key_is_valid(key: &str) -> bool {
    decode_ed25519_key(key).is_some()
}

/// The 32 bytes of a base64 Ed25519 public key.
pub fn decode_ed25519_key(key: &str) -> Option<[u8; 32]> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    use base64::Engine as _;
    let k = key.trim();
    let bytes = STANDARD
        .decode(k)
        .or_else(|_| STANDARD_NO_PAD.decode(k))
        .ok()?;
    bytes.try_into().ok()
}

/// `http://` or `https://`, a host, no query or fragment.
pub fn is_absolute_http_url(u: &str) -> bool {
    let lower = u.get(..8).unwrap_or(u).to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return false;
    }
    let Ok(url) = url::Url::parse(u) else {
        return false;
    };
    url.host_str().is_some_and(|h| !h.is_empty())
        && url.query().is_none()
        && url.fragment().is_none()
        && !u.chars().any(char::is_whitespace)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum TokenLocation {
    #[default]
    Path,
    Query,
    Header,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum HmacAlgorithm {
    Sha1,
    #[default]
    Sha256,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum SignatureEncoding {
    #[default]
    Hex,
    Base64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Source {
    #[cfg_attr(feature = "openapi", schemars(regex(pattern = crate::ids::SLUG_PATTERN)))]
    pub id: String,
    pub provider: Provider,
    pub verification: Verification,
    /// IANA zone for providers that send zone-less local times (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(range(min = 1, max = 6_291_456)))]
    pub body_limit_bytes: Option<usize>,
    /// Client addresses (IPs or CIDRs) allowed to post; empty allows all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_allow: Vec<String>,
    /// Declarative field mapping for `generic` sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schemars(with = "Option<serde_json::Value>"))]
    pub mapping: Option<GenericMapping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Source {
    /// A new source with every option at its default: what a create input's options are
    /// applied to.
    pub fn blank(
        id: impl Into<String>,
        provider: Provider,
        verification: Verification,
        at: Timestamp,
    ) -> Self {
        Self {
            id: id.into(),
            provider,
            verification,
            timezone: None,
            body_limit_bytes: None,
            ip_allow: Vec::new(),
            mapping: None,
            description: None,
            created_at: at,
            updated_at: at,
        }
    }

    pub fn body_limit(&self) -> usize {
        self.body_limit_bytes.unwrap_or(DEFAULT_BODY_LIMIT)
    }

    /// The zone zone-less provider times are read in: the configured one, else UTC.
    /// (Input is validated by [`parse_timezone`]; a stored name this build does not know
    /// falls back to UTC rather than failing ingest.)
    pub fn zone(&self) -> chrono_tz::Tz {
        self.timezone
            .as_deref()
            .and_then(|name| parse_timezone(name).ok())
            .unwrap_or(chrono_tz::UTC)
    }

    /// Checks the fields that depend on each other; the admin API calls it before storing.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(tz) = &self.timezone {
            parse_timezone(tz)?;
        }
        for rule in &self.ip_allow {
            valid_ip_rule(rule)?;
        }
        self.verification.validate()?;
        if self.mapping.is_some() && self.provider != Provider::Generic {
            return Err("mapping is only used by sources whose provider is generic".into());
        }
        Ok(())
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
            Verification::Twilio { public_url, .. } => Verification::Twilio {
                auth_token: hidden(),
                public_url: public_url.clone(),
            },
            Verification::Plivo { public_url, .. } => Verification::Plivo {
                auth_token: hidden(),
                public_url: public_url.clone(),
            },
            // A public key is not a secret: shown so ops can check which key is configured.
            Verification::Telnyx { .. } => self.verification.clone(),
            Verification::Vonage { tolerance_secs, .. } => Verification::Vonage {
                signature_secret: hidden(),
                tolerance_secs: *tolerance_secs,
            },
            Verification::BodyToken { field, .. } => Verification::BodyToken {
                field: field.clone(),
                token: hidden(),
            },
        };
        Self {
            verification,
            ..self.clone()
        }
    }
}

/// An IANA zone name (`Europe/Istanbul`, `Asia/Kolkata`, `UTC`), exactly as the tz database
/// spells it.
pub fn parse_timezone(name: &str) -> Result<chrono_tz::Tz, String> {
    name.parse::<chrono_tz::Tz>().map_err(|_| {
        format!("unknown time zone {name:?}; use an IANA name such as \"Europe/Istanbul\"")
    })
}

/// An allow-list rule: an address (`203.0.113.7`) or a CIDR block (`203.0.113.0/24`).
pub fn valid_ip_rule(rule: &str) -> Result<(), String> {
    let bad = || format!("ip_allow rule {rule:?} is not an address or CIDR block");
    let (addr, len) = match rule.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u8>().map_err(|_| bad())?)),
        None => (rule, None),
    };
    let max = match addr.parse::<std::net::IpAddr>().map_err(|_| bad())? {
        std::net::IpAddr::V4(_) => 32,
        std::net::IpAddr::V6(_) => 128,
    };
    if len.is_some_and(|l| l > max) {
        return Err(bad());
    }
    Ok(())
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
    fn timezones_are_validated_on_input() {
        let ok: SourceInput = serde_json::from_str(r#"{"timezone":"Asia/Kolkata"}"#).unwrap();
        assert_eq!(ok.timezone.as_deref(), Some("Asia/Kolkata"));
        let err = serde_json::from_str::<SourceInput>(r#"{"timezone":"Mars/Olympus"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown time zone"), "{err}");
        assert_eq!(parse_timezone("UTC").unwrap(), chrono_tz::UTC);
        assert!(parse_timezone("+03:00").is_err());
    }

    #[test]
    fn mappings_are_validated_on_input() {
        let m: GenericMapping = serde_json::from_str(
            r#"{"event":{"field":"CallStatus","map":{"completed":"call.ended"}},
                "call_id":"CallSid",
                "occurred_at":{"field":"Timestamp","format":"rfc2822"},
                "call":{"started_at":{"field":"Start","format":"%d/%m/%Y %H:%M"}}}"#,
        )
        .unwrap();
        assert_eq!(m.event.map["completed"], "call.ended");
        assert_eq!(m.occurred_at.unwrap().format, TimeFormat::Rfc2822);
        for bad in [
            r#"{"event":{"value":"Call Ended"}}"#,
            r#"{"event":{"map":{"x":"call..ended"}}}"#,
            r#"{"call_id":""}"#,
            r#"{"occurred_at":{"field":"t","format":"iso"}}"#,
            r#"{"occurred_at":{"field":"t","format":"%Q"}}"#,
            r#"{"call":{"direction_map":{"1":"sideways"}}}"#,
            r#"{"unknown":1}"#,
        ] {
            assert!(
                serde_json::from_str::<GenericMapping>(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn source_validation() {
        let mut s: Source = serde_json::from_str(
            r#"{"id":"a","provider":"callerdesk","verification":{"type":"none"},
                "timezone":"Asia/Kolkata","ip_allow":["203.0.113.0/24","2001:db8::1"],
                "created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(s.validate(), Ok(()));
        assert_eq!(s.zone(), chrono_tz::Asia::Kolkata);
        s.ip_allow = vec!["10.0.0.0/33".into()];
        assert!(s.validate().is_err());
        s.ip_allow = vec!["example.com".into()];
        assert!(s.validate().is_err());
        s.ip_allow = vec![];
        s.mapping = Some(GenericMapping::default());
        assert!(s.validate().unwrap_err().contains("generic"));
        s.mapping = None;
        s.timezone = Some("Nowhere/Land".into());
        assert!(s.validate().is_err());
        assert_eq!(
            s.zone(),
            chrono_tz::UTC,
            "an unknown stored zone reads as UTC"
        );
    }

    #[test]
    fn type_like() {
        assert!(is_type_like("call.ended"));
        assert!(is_type_like("hipcall.note_create"));
        assert!(!is_type_like("Call.Ended"));
        assert!(!is_type_like("call."));
        assert!(!is_type_like(""));
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
        for v in [
            r#"{"type":"twilio","auth_token":"hunter2","public_url":"https://h.example.com/tw"}"#,
            r#"{"type":"plivo","auth_token":"hunter2"}"#,
            r#"{"type":"vonage","signature_secret":"hunter2"}"#,
            r#"{"type":"body_token","token":"hunter2"}"#,
        ] {
            let s = Source {
                verification: serde_json::from_str(v).unwrap(),
                ..s.clone()
            };
            let shown = serde_json::to_string(&s.redacted()).unwrap();
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(!format!("{s:?}").contains("hunter2"));
        }
    }

    #[test]
    fn provider_verifications_are_validated() {
        let ok = |v: &str| serde_json::from_str::<Verification>(v).unwrap().validate();
        let key = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
        assert_eq!(
            ok(&format!(r#"{{"type":"telnyx","public_key":"{key}"}}"#)),
            Ok(())
        );
        let v: Verification =
            serde_json::from_str(&format!(r#"{{"type":"telnyx","public_key":"{key}"}}"#)).unwrap();
        assert_eq!(
            v,
            Verification::Telnyx {
                public_key: key.into(),
                tolerance_secs: ReplayWindow(DEFAULT_TOLERANCE_SECS)
            }
        );
        assert!(ok(r#"{"type":"telnyx","public_key":"c2hvcnQ="}"#).is_err());
        assert!(ok(&format!(
            r#"{{"type":"telnyx","public_key":"{key}","tolerance_secs":0}}"#
        ))
        .is_err());
        assert!(ok(r#"{"type":"vonage","signature_secret":"s","tolerance_secs":86401}"#).is_err());
        assert!(
            ok(r#"{"type":"twilio","auth_token":"t","public_url":"h.example.com/x"}"#).is_err()
        );
        assert!(ok(
            r#"{"type":"plivo","auth_token":"t","public_url":"https://h.example.com/x?a=1"}"#
        )
        .is_err());
        assert_eq!(
            ok(r#"{"type":"plivo","auth_token":"t","public_url":"https://h.example.com/x"}"#),
            Ok(())
        );
        assert!(ok(r#"{"type":"body_token","field":" ","token":"t"}"#).is_err());
        let b: Verification = serde_json::from_str(r#"{"type":"body_token","token":"t"}"#).unwrap();
        assert!(matches!(b, Verification::BodyToken { ref field, .. } if field == "token"));
    }
}
