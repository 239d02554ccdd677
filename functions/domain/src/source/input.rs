//! The create and update input of a source, and how it applies to one.

use super::{parse_timezone, GenericMapping, Provider, Source, Verification};
use serde::{Deserialize, Deserializer};

/// The largest body a source may accept: Lambda's synchronous payload limit.
pub const MAX_BODY_LIMIT: usize = 6 * 1024 * 1024;

/// Body of `POST /admin/sources` (all fields) and `PATCH` (any subset but `id`).
/// `timezone` and `mapping` are validated while deserialising, so a bad one is a 400.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SourceInput {
    #[cfg_attr(feature = "openapi", schemars(regex(pattern = crate::ids::SLUG_PATTERN)))]
    pub id: Option<String>,
    pub provider: Option<Provider>,
    pub verification: Option<Verification>,
    #[serde(default, deserialize_with = "valid_timezone")]
    #[cfg_attr(feature = "openapi", schemars(with = "Option<String>"))]
    pub timezone: Option<String>,
    #[cfg_attr(feature = "openapi", schemars(range(min = 1, max = 6_291_456)))]
    pub body_limit_bytes: Option<usize>,
    pub ip_allow: Option<Vec<String>>,
    #[cfg_attr(feature = "openapi", schemars(with = "Option<serde_json::Value>"))]
    pub mapping: Option<GenericMapping>,
    pub description: Option<String>,
}

fn valid_timezone<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let name = Option::<String>::deserialize(d)?;
    if let Some(n) = &name {
        parse_timezone(n).map_err(serde::de::Error::custom)?;
    }
    Ok(name)
}

/// Why a source is refused; [`SourceError::code`] is the API's error code and the display
/// text its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("body_limit_bytes must be between 1 and 6291456 (Lambda's payload limit)")]
    BodyLimit,
    /// A field, or fields that depend on each other, refused by [`Source::validate`].
    #[error("{0}")]
    Invalid(String),
}

impl SourceError {
    /// The snake_case code of the API's error body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BodyLimit => "invalid_body_limit",
            Self::Invalid(_) => "invalid_source",
        }
    }
}

impl SourceInput {
    /// The source with the fields this input gives replaced, validated.
    pub fn apply_to(self, mut s: Source) -> Result<Source, SourceError> {
        if let Some(p) = self.provider {
            s.provider = p;
        }
        if let Some(v) = self.verification {
            s.verification = v;
        }
        if let Some(tz) = self.timezone {
            s.timezone = Some(tz);
        }
        if let Some(limit) = self.body_limit_bytes {
            if limit == 0 || limit > MAX_BODY_LIMIT {
                return Err(SourceError::BodyLimit);
            }
            s.body_limit_bytes = Some(limit);
        }
        if let Some(rules) = self.ip_allow {
            s.ip_allow = rules;
        }
        if let Some(m) = self.mapping {
            s.mapping = Some(m);
        }
        if let Some(d) = self.description {
            s.description = Some(d);
        }
        s.validate().map_err(SourceError::Invalid)?;
        Ok(s)
    }
}
