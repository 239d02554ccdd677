//! What makes a subscription valid, and how a create or update input applies to one.
//!
//! Checks that need infrastructure stay with their callers: whether the target address is
//! allowed (DNS, the deployment's SSRF policy) and whether a body template compiles and
//! renders (the template engine).

use crate::filter::{Filter, FilterError};
use crate::ids::is_valid_slug;
use crate::subscription::{Format, Method, Ordering, Subscription, SubscriptionInput};

/// Longest `ordering_window_ms`.
pub const MAX_ORDERING_WINDOW_MS: u32 = 10_000;
/// Highest `rate_limit_per_second`.
pub const MAX_RATE_LIMIT_PER_SECOND: u32 = 10_000;
/// The values `failing_after` (and `SWITCHBOARD_FAILING_AFTER`) take.
pub const FAILING_AFTER_RANGE: std::ops::RangeInclusive<u32> = 1..=1000;

/// Why a subscription is refused; [`SubscriptionError::code`] is the API's error code and
/// the display text its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionError {
    #[error("url is not a valid URL: {0}")]
    UnparsableUrl(url::ParseError),
    #[error("url must be an http or https URL with a host")]
    UrlScheme,
    #[error("url must not have a #fragment")]
    UrlFragment,
    #[error("event_types must list 1 to 50 types, e.g. [\"call.*\"] or [\"*\"]")]
    EventTypeCount,
    #[error("event type {0:?} is not valid: use an exact type (call.ended), a prefix wildcard (call.*) or *")]
    EventType(String),
    #[error("format template needs a template (the body, or the query string for GET)")]
    TemplateMissing,
    #[error("template is only used with format template")]
    TemplateUnused,
    #[error("a GET subscription carries no body: use format raw (the provider's query string) or template (a query string you write)")]
    EnvelopeOverGet,
    #[error("content_type applies only to template bodies (POST or PUT)")]
    ContentTypeUnused,
    #[error("content_type must be a media type such as application/json")]
    ContentType,
    #[error(transparent)]
    Filter(#[from] FilterError),
    #[error("headers takes at most 20 entries")]
    TooManyHeaders,
    #[error("header {0:?} is not a valid HTTP header name and value")]
    Header(String),
    #[error("header {0:?} is set by Switchboard and cannot be overridden")]
    ReservedHeader(String),
    #[error("timeout_ms must be between 100 and 60000")]
    Timeout,
    #[error("failing_after must be between 1 and 1000 attempts")]
    FailingAfter,
    #[error("retry_schedule_secs takes at most 20 delays of at most 86400 seconds")]
    RetrySchedule,
    #[error("source must be a source id")]
    Source,
    #[error("description takes at most 1000 characters")]
    Description,
    #[error("ordering_window_ms must be between 0 and 10000, and needs ordering \"call\"")]
    OrderingWindow,
    #[error("rate_limit_per_second must be between 1 and 10000")]
    RateLimit,
}

impl SubscriptionError {
    /// The snake_case code of the API's error body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnparsableUrl(_) | Self::UrlScheme | Self::UrlFragment => "invalid_url",
            Self::EventTypeCount | Self::EventType(_) => "invalid_event_types",
            Self::TemplateMissing | Self::TemplateUnused => "invalid_template",
            Self::EnvelopeOverGet => "invalid_format",
            Self::ContentTypeUnused | Self::ContentType => "invalid_content_type",
            Self::Filter(_) => "invalid_filter",
            Self::TooManyHeaders | Self::Header(_) | Self::ReservedHeader(_) => "invalid_headers",
            Self::Timeout => "invalid_timeout",
            Self::FailingAfter => "invalid_failing_after",
            Self::RetrySchedule => "invalid_retry_schedule",
            Self::Source => "invalid_source",
            Self::Description => "invalid_description",
            Self::OrderingWindow => "invalid_ordering",
            Self::RateLimit => "invalid_rate_limit",
        }
    }
}

impl SubscriptionInput {
    /// The subscription with the fields this input gives replaced, validated.
    pub fn apply_to(self, mut s: Subscription) -> Result<Subscription, SubscriptionError> {
        if let Some(url) = self.url {
            s.url = url;
        }
        if let Some(m) = self.method {
            s.method = m;
        }
        if let Some(e) = self.enabled {
            s.enabled = e;
        }
        if let Some(types) = self.event_types {
            s.event_types = types;
        }
        if let Some(src) = self.source {
            s.source = Some(src);
        }
        if let Some(f) = self.filter {
            s.filter = Some(f);
        }
        if let Some(f) = self.format {
            s.format = f;
        }
        if let Some(t) = self.template {
            s.template = Some(t);
        }
        if let Some(ct) = self.content_type {
            s.content_type = Some(ct);
        }
        if let Some(h) = self.headers {
            s.headers = h;
        }
        if let Some(t) = self.timeout_ms {
            s.timeout_ms = Some(t);
        }
        if let Some(r) = self.retry_schedule_secs {
            s.retry_schedule_secs = Some(r);
        }
        if let Some(d) = self.description {
            s.description = Some(d);
        }
        if let Some(o) = self.ordering {
            s.ordering = o;
            if o == Ordering::None && self.ordering_window_ms.is_none() {
                // Turning ordering off takes its window with it.
                s.ordering_window_ms = 0;
            }
        }
        if let Some(w) = self.ordering_window_ms {
            s.ordering_window_ms = w;
        }
        if let Some(r) = self.rate_limit_per_second {
            s.rate_limit_per_second = r;
        }
        if let Some(f) = self.failing_after {
            s.failing_after = f;
        }
        s.validate()?;
        Ok(s)
    }
}

impl Subscription {
    /// Every rule a stored subscription keeps (the template's own syntax excepted).
    pub fn validate(&self) -> Result<(), SubscriptionError> {
        let url = url::Url::parse(&self.url).map_err(SubscriptionError::UnparsableUrl)?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(SubscriptionError::UrlScheme);
        }
        if url.fragment().is_some() {
            return Err(SubscriptionError::UrlFragment);
        }
        if self.event_types.is_empty() || self.event_types.len() > 50 {
            return Err(SubscriptionError::EventTypeCount);
        }
        if let Some(t) = self.event_types.iter().find(|t| !valid_event_type(t)) {
            return Err(SubscriptionError::EventType(t.clone()));
        }
        match self.format {
            Format::Template if self.template.is_none() => {
                return Err(SubscriptionError::TemplateMissing)
            }
            Format::Envelope if self.method == Method::Get => {
                return Err(SubscriptionError::EnvelopeOverGet)
            }
            Format::Raw | Format::Envelope if self.template.is_some() => {
                return Err(SubscriptionError::TemplateUnused)
            }
            _ => {}
        }
        if let Some(ct) = &self.content_type {
            if self.format != Format::Template || self.method == Method::Get {
                return Err(SubscriptionError::ContentTypeUnused);
            }
            if ct.len() > 200 || !valid_header_value(ct) || !ct.contains('/') {
                return Err(SubscriptionError::ContentType);
            }
        }
        if let Some(f) = &self.filter {
            Filter::parse(f)?;
        }
        self.validate_headers()?;
        if self
            .timeout_ms
            .is_some_and(|t| !(100..=60_000).contains(&t))
        {
            return Err(SubscriptionError::Timeout);
        }
        if let Some(r) = &self.retry_schedule_secs {
            if r.len() > 20 || r.iter().any(|d| *d > 86_400) {
                return Err(SubscriptionError::RetrySchedule);
            }
        }
        if self
            .failing_after
            .is_some_and(|n| !FAILING_AFTER_RANGE.contains(&n))
        {
            return Err(SubscriptionError::FailingAfter);
        }
        if self
            .source
            .as_deref()
            .is_some_and(|src| !is_valid_slug(src))
        {
            return Err(SubscriptionError::Source);
        }
        if self.description.as_ref().is_some_and(|d| d.len() > 1000) {
            return Err(SubscriptionError::Description);
        }
        if self.ordering_window_ms > MAX_ORDERING_WINDOW_MS
            || (self.ordering_window_ms > 0 && self.ordering != Ordering::Call)
        {
            return Err(SubscriptionError::OrderingWindow);
        }
        if self
            .rate_limit_per_second
            .is_some_and(|r| !(1..=MAX_RATE_LIMIT_PER_SECOND).contains(&r))
        {
            return Err(SubscriptionError::RateLimit);
        }
        Ok(())
    }

    fn validate_headers(&self) -> Result<(), SubscriptionError> {
        if self.headers.len() > 20 {
            return Err(SubscriptionError::TooManyHeaders);
        }
        for (name, value) in &self.headers {
            if !valid_header_name(name) || !valid_header_value(value) || value.len() > 4096 {
                return Err(SubscriptionError::Header(name.clone()));
            }
            let lower = name.to_ascii_lowercase();
            if lower.starts_with("webhook-")
                || matches!(
                    lower.as_str(),
                    "host" | "content-length" | "transfer-encoding" | "connection" | "content-type"
                )
            {
                return Err(SubscriptionError::ReservedHeader(name.clone()));
            }
        }
        Ok(())
    }
}

/// `*`, `prefix.*` or an exact type: dot-separated segments of letters, digits, `_`, `-`, `:`.
fn valid_event_type(t: &str) -> bool {
    let body = t.strip_suffix(".*").unwrap_or(t);
    t == "*"
        || (!body.is_empty()
            && body.len() <= 100
            && body.split('.').all(|seg| {
                !seg.is_empty()
                    && seg
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b':')
            }))
}

/// An HTTP field name: one or more token characters (RFC 9110 section 5.6.2).
fn valid_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// An HTTP field value as the HTTP stack sends it: no control characters but tab.
fn valid_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| (b >= 0x20 && b != 0x7f) || b == b'\t')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::Secret;

    fn base() -> Subscription {
        let t = "2024-11-17T10:41:00Z".parse().unwrap();
        Subscription {
            url: "https://crm.example.com/hooks".into(),
            event_types: vec!["call.*".into()],
            ..Subscription::blank("sub_1", Secret::new("whsec_x"), t)
        }
    }

    fn refused(input: serde_json::Value) -> &'static str {
        let input: SubscriptionInput = serde_json::from_value(input).unwrap();
        input.apply_to(base()).unwrap_err().code()
    }

    #[test]
    fn a_plain_subscription_is_valid_and_inputs_apply() {
        let input: SubscriptionInput =
            serde_json::from_value(serde_json::json!({"event_types": ["*"], "timeout_ms": 500}))
                .unwrap();
        let s = input.apply_to(base()).unwrap();
        assert_eq!(s.event_types, ["*"]);
        assert_eq!(s.timeout_ms, Some(500));
        assert_eq!(s.url, "https://crm.example.com/hooks");
    }

    #[test]
    fn each_rule_has_its_code() {
        use serde_json::json;
        assert_eq!(refused(json!({"url": "not a url"})), "invalid_url");
        assert_eq!(refused(json!({"url": "ftp://x.example"})), "invalid_url");
        assert_eq!(
            refused(json!({"url": "https://x.example/#f"})),
            "invalid_url"
        );
        assert_eq!(refused(json!({"event_types": []})), "invalid_event_types");
        assert_eq!(
            refused(json!({"event_types": ["call..x"]})),
            "invalid_event_types"
        );
        assert_eq!(refused(json!({"format": "template"})), "invalid_template");
        assert_eq!(refused(json!({"template": "{{ id }}"})), "invalid_template");
        assert_eq!(refused(json!({"method": "GET"})), "invalid_format");
        assert_eq!(
            refused(json!({"content_type": "text/plain"})),
            "invalid_content_type"
        );
        assert_eq!(
            refused(json!({"filter": {"a": {"nope": 1}}})),
            "invalid_filter"
        );
        assert_eq!(
            refused(json!({"headers": {"Bad Name": "x"}})),
            "invalid_headers"
        );
        assert_eq!(
            refused(json!({"headers": {"X-A": "a\nb"}})),
            "invalid_headers"
        );
        assert_eq!(
            refused(json!({"headers": {"Webhook-Id": "x"}})),
            "invalid_headers"
        );
        assert_eq!(refused(json!({"timeout_ms": 99})), "invalid_timeout");
        assert_eq!(
            refused(json!({"retry_schedule_secs": [86401]})),
            "invalid_retry_schedule"
        );
        assert_eq!(refused(json!({"source": "a/b"})), "invalid_source");
        assert_eq!(
            refused(json!({"description": "d".repeat(1001)})),
            "invalid_description"
        );
    }

    #[test]
    fn flow_fields_apply_validate_and_clear() {
        use serde_json::json;
        let apply = |s: Subscription, v: serde_json::Value| {
            serde_json::from_value::<SubscriptionInput>(v)
                .unwrap()
                .apply_to(s)
        };
        let s = apply(
            base(),
            json!({"ordering": "call", "ordering_window_ms": 10000, "rate_limit_per_second": 20}),
        )
        .unwrap();
        assert_eq!(
            (s.ordering, s.ordering_window_ms, s.rate_limit_per_second),
            (Ordering::Call, 10_000, Some(20))
        );
        // PATCH: absent keeps, null removes the limit, ordering none drops the window.
        let kept = apply(s.clone(), json!({"description": "x"})).unwrap();
        assert_eq!(kept.rate_limit_per_second, Some(20));
        let cleared = apply(
            s,
            json!({"rate_limit_per_second": null, "ordering": "none"}),
        )
        .unwrap();
        assert_eq!(cleared.rate_limit_per_second, None);
        assert_eq!(cleared.ordering_window_ms, 0);
        assert_eq!(
            refused(json!({"ordering_window_ms": 5})),
            "invalid_ordering"
        );
        assert_eq!(
            refused(json!({"ordering": "call", "ordering_window_ms": 10001})),
            "invalid_ordering"
        );
        assert_eq!(
            refused(json!({"rate_limit_per_second": 0})),
            "invalid_rate_limit"
        );
        assert_eq!(
            refused(json!({"rate_limit_per_second": 10001})),
            "invalid_rate_limit"
        );
        assert!(serde_json::from_value::<SubscriptionInput>(json!({"ordering": "event"})).is_err());
    }

    #[test]
    fn template_subscriptions_take_a_content_type() {
        let input: SubscriptionInput = serde_json::from_value(serde_json::json!({
            "format": "template", "template": "a={{ id }}",
            "content_type": "application/x-www-form-urlencoded"
        }))
        .unwrap();
        assert!(input.apply_to(base()).is_ok());
    }
}
