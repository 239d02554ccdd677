//! Settings read from the environment once, at cold start, and validated with messages that
//! name the variable. The Lambda template sets every variable; `serve` needs none of them.

use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is not set; the stack template sets it")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Names of the AWS resources, as the template passes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsResources {
    pub queue_url: String,
    pub sources_table: String,
    pub subscriptions_table: String,
    pub events_table: String,
    pub deliveries_table: String,
    pub dedup_table: String,
    /// Call lanes and rate schedules (dispatch only).
    pub flow_table: String,
    /// The events queue's dead-letter queue: only the admin function reads it.
    pub dead_letter_queue_url: Option<String>,
}

pub const QUEUE_URL: &str = "SWITCHBOARD_QUEUE_URL";
pub const SOURCES_TABLE: &str = "SWITCHBOARD_SOURCES_TABLE";
pub const SUBSCRIPTIONS_TABLE: &str = "SWITCHBOARD_SUBSCRIPTIONS_TABLE";
pub const EVENTS_TABLE: &str = "SWITCHBOARD_EVENTS_TABLE";
pub const DELIVERIES_TABLE: &str = "SWITCHBOARD_DELIVERIES_TABLE";
pub const DEDUP_TABLE: &str = "SWITCHBOARD_DEDUP_TABLE";
pub const FLOW_TABLE: &str = "SWITCHBOARD_FLOW_TABLE";
pub const DEAD_LETTER_QUEUE_URL: &str = "SWITCHBOARD_DEAD_LETTER_QUEUE_URL";
pub const RETENTION_DAYS: &str = "SWITCHBOARD_RETENTION_DAYS";
pub const DELIVERY_CONCURRENCY: &str = "SWITCHBOARD_DELIVERY_CONCURRENCY";
pub const ALLOW_PRIVATE_TARGETS: &str = "SWITCHBOARD_ALLOW_PRIVATE_TARGETS";
pub const DISABLE_AFTER_HOURS: &str = "SWITCHBOARD_DISABLE_AFTER_HOURS";
pub const FAILING_AFTER: &str = "SWITCHBOARD_FAILING_AFTER";
pub const PUBLIC_URL: &str = "SWITCHBOARD_PUBLIC_URL";
pub const AWS_ATTEMPT_TIMEOUT_MS: &str = "SWITCHBOARD_AWS_ATTEMPT_TIMEOUT_MS";
pub const AWS_OPERATION_TIMEOUT_MS: &str = "SWITCHBOARD_AWS_OPERATION_TIMEOUT_MS";
pub const INGEST_SEND_WINDOW_MS: &str = "SWITCHBOARD_INGEST_SEND_WINDOW_MS";
pub const DEADLINE_MARGIN_MS: &str = "SWITCHBOARD_DEADLINE_MARGIN_MS";

impl AwsResources {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let req = |name: &'static str| {
            get(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or(ConfigError::Missing(name))
        };
        Ok(Self {
            queue_url: req(QUEUE_URL)?,
            sources_table: req(SOURCES_TABLE)?,
            subscriptions_table: req(SUBSCRIPTIONS_TABLE)?,
            events_table: req(EVENTS_TABLE)?,
            deliveries_table: req(DELIVERIES_TABLE)?,
            dedup_table: req(DEDUP_TABLE)?,
            flow_table: req(FLOW_TABLE)?,
            dead_letter_queue_url: get(DEAD_LETTER_QUEUE_URL).filter(|v| !v.trim().is_empty()),
        })
    }
}

/// `delivery.failing` after this many consecutive failed attempts, by default: a blip
/// (one or two timeouts) passes unreported, a subscriber that is down is reported within
/// its first events' retries.
pub const DEFAULT_FAILING_AFTER: u32 = 5;
pub use crate::domain::subscription_rules::FAILING_AFTER_RANGE;

/// Behaviour settings shared by every entry point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// How long events and attempts are kept (DynamoDB TTL).
    pub retention: Duration,
    /// Concurrent deliveries per dispatch batch.
    pub delivery_concurrency: usize,
    /// Default per-request timeout when a subscription sets none.
    pub default_timeout: Duration,
    /// How long a provider's retry of the same event is recognised.
    pub dedup_window: Duration,
    /// Subscriber address classes allowed despite the SSRF guard (`loopback`, `private`, ...).
    pub allow_private_targets: Vec<String>,
    /// A subscription whose attempts keep failing for this long is disabled (endpoint health).
    pub disable_after: Duration,
    /// Consecutive failed attempts to a subscription before `delivery.failing` is emitted,
    /// for subscriptions that set no `failing_after` of their own.
    pub failing_after: u32,
    /// The public base URL providers call (`https://hooks.example.com`), for the schemes
    /// that sign the URL (Twilio, Plivo) when a proxy, tunnel or custom domain stands in
    /// front; `None`: the URL the request itself shows.
    pub public_url: Option<String>,
    /// Longest single HTTP attempt of an AWS SDK call (the SDK retries within the operation
    /// timeout). Set on the Lambda functions' SDK configuration.
    pub aws_attempt_timeout: Duration,
    /// Longest AWS SDK call, retries included.
    pub aws_operation_timeout: Duration,
    /// Ingest queues an event within this long of claiming its provider key, or gives up
    /// (503); a pending claim older than this is stale and the provider's retry takes it over.
    pub ingest_send_window: Duration,
    /// Dispatch starts no attempt that would end less than this before the invocation's
    /// deadline: the time kept for recording it, queueing its retry and answering.
    pub deadline_margin: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(30 * 86_400),
            delivery_concurrency: 32,
            default_timeout: Duration::from_secs(15),
            dedup_window: Duration::from_secs(25 * 3600),
            allow_private_targets: Vec::new(),
            disable_after: Duration::from_secs(5 * 86_400),
            failing_after: DEFAULT_FAILING_AFTER,
            public_url: None,
            // Ingest's worst case stays under its 10 s function timeout: a source read on a
            // cache miss (2 s) + claim and send (4 s window) + confirm (2 s).
            aws_attempt_timeout: Duration::from_millis(1_000),
            aws_operation_timeout: Duration::from_millis(2_000),
            ingest_send_window: Duration::from_millis(4_000),
            deadline_margin: Duration::from_millis(5_000),
        }
    }
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut s = Self::default();
        if let Some(v) = get(RETENTION_DAYS) {
            let days: u64 = v.trim().parse().map_err(|_| ConfigError::Invalid {
                name: RETENTION_DAYS,
                reason: format!("expected a whole number of days, got {v:?}"),
            })?;
            if days == 0 {
                return Err(ConfigError::Invalid {
                    name: RETENTION_DAYS,
                    reason: "must be at least 1".into(),
                });
            }
            s.retention = Duration::from_secs(days * 86_400);
        }
        if let Some(v) = get(DELIVERY_CONCURRENCY) {
            s.delivery_concurrency = number_in(DELIVERY_CONCURRENCY, &v, 1..=1024, "")?;
        }
        if let Some(v) = get(ALLOW_PRIVATE_TARGETS) {
            s.allow_private_targets = v
                .split(',')
                .map(|c| c.trim().to_ascii_lowercase())
                .filter(|c| !c.is_empty() && c != "none")
                .collect();
            crate::delivery::guard::Policy::from_names(&s.allow_private_targets).map_err(|e| {
                ConfigError::Invalid {
                    name: ALLOW_PRIVATE_TARGETS,
                    reason: e.to_string(),
                }
            })?;
        }
        if let Some(v) = get(DISABLE_AFTER_HOURS) {
            let hours: u64 = number_in(DISABLE_AFTER_HOURS, &v, 1..=24 * 365, " hours")?;
            s.disable_after = Duration::from_secs(hours * 3600);
        }
        if let Some(v) = get(FAILING_AFTER) {
            s.failing_after = number_in(FAILING_AFTER, &v, FAILING_AFTER_RANGE, " attempts")?;
        }
        if let Some(v) = get(PUBLIC_URL).filter(|v| !v.trim().is_empty()) {
            s.public_url = Some(public_base_url(&v).map_err(|reason| ConfigError::Invalid {
                name: PUBLIC_URL,
                reason,
            })?);
        }
        let millis = |name: &'static str, range: std::ops::RangeInclusive<u64>| {
            get(name)
                .map(|v| number_in(name, &v, range, " milliseconds").map(Duration::from_millis))
                .transpose()
        };
        if let Some(d) = millis(AWS_ATTEMPT_TIMEOUT_MS, 100..=60_000)? {
            s.aws_attempt_timeout = d;
        }
        if let Some(d) = millis(AWS_OPERATION_TIMEOUT_MS, 100..=60_000)? {
            s.aws_operation_timeout = d;
        }
        if s.aws_attempt_timeout > s.aws_operation_timeout {
            return Err(ConfigError::Invalid {
                name: AWS_ATTEMPT_TIMEOUT_MS,
                reason: format!("must not exceed {AWS_OPERATION_TIMEOUT_MS}"),
            });
        }
        if let Some(d) = millis(INGEST_SEND_WINDOW_MS, 500..=60_000)? {
            s.ingest_send_window = d;
        }
        if let Some(d) = millis(DEADLINE_MARGIN_MS, 0..=60_000)? {
            s.deadline_margin = d;
        }
        Ok(s)
    }
}

/// `v` (trimmed) as a number within `range`, else the error naming the variable and the
/// range (in `unit`s).
fn number_in<T>(
    name: &'static str,
    v: &str,
    range: std::ops::RangeInclusive<T>,
    unit: &str,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    v.trim()
        .parse::<T>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| ConfigError::Invalid {
            name,
            reason: format!(
                "expected {}..={}{unit}, got {v:?}",
                range.start(),
                range.end()
            ),
        })
}

/// A public base URL, checked and without its trailing `/`: `http(s)://host[:port][/prefix]`.
pub fn public_base_url(v: &str) -> Result<String, String> {
    let v = v.trim();
    if crate::domain::source::is_absolute_http_url(v) {
        Ok(v.trim_end_matches('/').to_owned())
    } else {
        Err(format!(
            "expected an absolute http(s) URL without a query, such as \
             https://hooks.example.com, got {v:?}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn missing_resource_names_the_variable() {
        let err = AwsResources::from_lookup(env(&[(QUEUE_URL, "q")])).unwrap_err();
        assert_eq!(err, ConfigError::Missing(SOURCES_TABLE));
        assert!(err.to_string().contains("SWITCHBOARD_SOURCES_TABLE"));
    }

    #[test]
    fn settings_validate() {
        let s = Settings::from_lookup(env(&[
            (RETENTION_DAYS, "7"),
            (ALLOW_PRIVATE_TARGETS, "none"),
        ]))
        .unwrap();
        assert_eq!(s.retention, Duration::from_secs(7 * 86_400));
        assert!(s.allow_private_targets.is_empty());
        assert!(Settings::from_lookup(env(&[(RETENTION_DAYS, "x")])).is_err());
        assert!(Settings::from_lookup(env(&[(DELIVERY_CONCURRENCY, "0")])).is_err());
        assert!(Settings::from_lookup(env(&[(ALLOW_PRIVATE_TARGETS, "loopback,lan")])).is_err());
        let s = Settings::from_lookup(env(&[(DISABLE_AFTER_HOURS, "48")])).unwrap();
        assert_eq!(s.disable_after, Duration::from_secs(48 * 3600));
        assert_eq!(Settings::default().failing_after, 5);
        let s = Settings::from_lookup(env(&[(FAILING_AFTER, "12")])).unwrap();
        assert_eq!(s.failing_after, 12);
        for bad in ["0", "1001", "many"] {
            assert!(Settings::from_lookup(env(&[(FAILING_AFTER, bad)])).is_err());
        }
        let s = Settings::from_lookup(env(&[(PUBLIC_URL, "https://h.example.com/")])).unwrap();
        assert_eq!(s.public_url.as_deref(), Some("https://h.example.com"));
        assert!(Settings::from_lookup(env(&[(PUBLIC_URL, "h.example.com")])).is_err());
        assert!(Settings::from_lookup(env(&[(PUBLIC_URL, "ftp://h.example.com")])).is_err());
    }

    #[test]
    fn timeouts_and_windows_are_read_in_milliseconds_and_validated() {
        let s = Settings::from_lookup(env(&[
            (AWS_ATTEMPT_TIMEOUT_MS, "700"),
            (AWS_OPERATION_TIMEOUT_MS, "2500"),
            (INGEST_SEND_WINDOW_MS, "3000"),
            (DEADLINE_MARGIN_MS, "0"),
        ]))
        .unwrap();
        assert_eq!(s.aws_attempt_timeout, Duration::from_millis(700));
        assert_eq!(s.aws_operation_timeout, Duration::from_millis(2500));
        assert_eq!(s.ingest_send_window, Duration::from_millis(3000));
        assert_eq!(s.deadline_margin, Duration::ZERO);
        let err = Settings::from_lookup(env(&[(AWS_OPERATION_TIMEOUT_MS, "2s")])).unwrap_err();
        assert!(err.to_string().contains(AWS_OPERATION_TIMEOUT_MS), "{err}");
        assert!(Settings::from_lookup(env(&[(AWS_ATTEMPT_TIMEOUT_MS, "5000")])).is_err());
        assert!(Settings::from_lookup(env(&[(INGEST_SEND_WINDOW_MS, "10")])).is_err());
    }
}
