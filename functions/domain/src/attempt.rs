//! Delivery attempts: one record per HTTP request made to a subscriber.

use super::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptStatus {
    /// The subscriber answered 2xx.
    Succeeded,
    /// Failed; another attempt is scheduled.
    Retrying,
    /// Failed; the schedule is used up.
    Exhausted,
    /// Failed and not retried by rule (410, refused target, disabled subscription).
    Failed,
}

impl AttemptStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Retrying => "retrying",
            Self::Exhausted => "exhausted",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "succeeded" => Some(Self::Succeeded),
            "retrying" => Some(Self::Retrying),
            "exhausted" => Some(Self::Exhausted),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Timeout,
    Connect,
    Tls,
    Dns,
    Status,
    /// The target address is not allowed (SSRF guard).
    Refused,
    /// The request could not be built (bad template output, bad header).
    Request,
}

/// Why the attempt was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// First delivery of a new event.
    #[default]
    Initial,
    /// A scheduled retry.
    Retry,
    /// An operator's replay.
    Manual,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub event_id: String,
    pub subscription_id: String,
    /// 1 for the first attempt of a pair, counting up across retries and replays.
    pub attempt: u32,
    pub status: AttemptStatus,
    pub trigger: Trigger,
    pub url: String,
    pub method: String,
    /// Request headers as sent, with signatures and secrets redacted.
    pub request_headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    pub duration_ms: u64,
    /// The first 4 KiB of the response body (lossy UTF-8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_excerpt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<Timestamp>,
    pub attempted_at: Timestamp,
    pub source: String,
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
}

/// Longest response excerpt kept in an attempt record.
pub const RESPONSE_EXCERPT_BYTES: usize = 4096;
