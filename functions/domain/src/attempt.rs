//! Delivery attempts: one record per HTTP request made to a subscriber.

use super::time::{rfc3339, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
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
    /// Not sent yet: held by the subscription's call ordering (behind `held_behind`, or
    /// in its ordering window). Not an attempt; recorded as attempt 0.
    Held,
    /// Not sent yet: waiting for the subscription's rate limit (or a 429's
    /// `Retry-After`). Not an attempt; recorded as attempt 0.
    Waiting,
}

impl AttemptStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Retrying => "retrying",
            Self::Exhausted => "exhausted",
            Self::Failed => "failed",
            Self::Held => "held",
            Self::Waiting => "waiting",
        }
    }

    /// Whether the pair is done: no attempt will follow unless an operator replays it.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Exhausted | Self::Failed)
    }

    /// Whether the record is a wait (attempt 0), not an HTTP request.
    pub fn is_wait(self) -> bool {
        matches!(self, Self::Held | Self::Waiting)
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "succeeded" => Some(Self::Succeeded),
            "retrying" => Some(Self::Retrying),
            "exhausted" => Some(Self::Exhausted),
            "failed" => Some(Self::Failed),
            "held" => Some(Self::Held),
            "waiting" => Some(Self::Waiting),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Attempt {
    pub event_id: String,
    pub subscription_id: String,
    /// 1 for the first attempt of a pair, counting up across retries and replays; 0 for
    /// the pair's latest wait (`held` or `waiting`), which is not an attempt.
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
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "rfc3339::option"
    )]
    pub next_attempt_at: Option<Timestamp>,
    /// For `held`: the event of the same call this one waits behind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_behind: Option<String>,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub attempted_at: Timestamp,
    pub source: String,
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    /// Fields cut to keep the record within the store's item size (see [`Attempt::fit`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub truncated: Vec<String>,
}

/// Room for everything in a record's JSON besides its texts: field names, punctuation,
/// numbers, statuses and times (about 450 bytes for every field present; see
/// `json_len_bound`).
const FIELDS_ROOM_BYTES: usize = 1024;

/// Longest response excerpt kept in an attempt record.
pub const RESPONSE_EXCERPT_BYTES: usize = 4096;

/// Longest kept by [`Attempt::fit`]: the URL, each request header name and value, the
/// error, and the call id, event type and source. Together they stay far below
/// [`super::limits::MAX_RECORD_DOC_BYTES`] whatever the subscription or the event holds.
const URL_KEPT_BYTES: usize = 16 * 1024;
const HEADER_NAME_KEPT_BYTES: usize = 256;
const HEADER_VALUE_KEPT_BYTES: usize = 1024;
const ERROR_KEPT_BYTES: usize = 4096;
const LABEL_KEPT_BYTES: usize = 1024;

impl Attempt {
    /// Cuts the fields that can grow without bound (a templated GET URL can be 1 MiB)
    /// when the record would not fit in `max_bytes` of JSON, naming each cut field in
    /// `truncated`. The record is kept either way: a record too large to store would fail
    /// its message forever. Records that fit are left as they are.
    pub fn fit(&mut self, max_bytes: usize) {
        // Most records are far under the limit: the bound says so without serialising
        // (this runs for every attempt).
        if self.json_len_bound() <= max_bytes || self.json_len() <= max_bytes {
            return;
        }
        let mut cut: Vec<&str> = Vec::new();
        if truncate_str(&mut self.url, URL_KEPT_BYTES) {
            cut.push("url");
        }
        let headers = std::mem::take(&mut self.request_headers);
        let mut headers_cut = false;
        for (mut name, mut value) in headers {
            headers_cut |= truncate_str(&mut name, HEADER_NAME_KEPT_BYTES);
            headers_cut |= truncate_str(&mut value, HEADER_VALUE_KEPT_BYTES);
            self.request_headers.insert(name, value);
        }
        if headers_cut {
            cut.push("request_headers");
        }
        if let Some(e) = self.response_excerpt.as_mut() {
            if truncate_str(e, RESPONSE_EXCERPT_BYTES) {
                cut.push("response_excerpt");
            }
        }
        if let Some(e) = self.error.as_mut() {
            if truncate_str(e, ERROR_KEPT_BYTES) {
                cut.push("error");
            }
        }
        if let Some(c) = self.call_id.as_mut() {
            if truncate_str(c, LABEL_KEPT_BYTES) {
                cut.push("call_id");
            }
        }
        if truncate_str(&mut self.event_type, LABEL_KEPT_BYTES) {
            cut.push("event_type");
        }
        if truncate_str(&mut self.source, LABEL_KEPT_BYTES) {
            cut.push("source");
        }
        for field in cut {
            if !self.truncated.iter().any(|t| t == field) {
                self.truncated.push(field.to_owned());
            }
        }
    }

    /// What is kept of a record the store refused even after [`Attempt::fit`]: the pair,
    /// the outcome and `why`, without the request and response details.
    pub fn stripped(&self, why: &str) -> Attempt {
        let mut a = self.clone();
        truncate_str(&mut a.url, LABEL_KEPT_BYTES);
        a.request_headers.clear();
        a.response_excerpt = None;
        a.error = Some(why.to_owned());
        a.call_id = None;
        truncate_str(&mut a.event_type, LABEL_KEPT_BYTES);
        truncate_str(&mut a.source, LABEL_KEPT_BYTES);
        a.truncated = [
            "url",
            "request_headers",
            "response_excerpt",
            "error",
            "call_id",
        ]
        .map(str::to_owned)
        .to_vec();
        a
    }

    fn json_len(&self) -> usize {
        serde_json::to_vec(self).map_or(usize::MAX, |v| v.len())
    }

    /// An upper bound of the record's JSON size: every text escaped at worst (6 bytes per
    /// byte, `\u00XX`) plus room for the names, numbers and times of every field.
    fn json_len_bound(&self) -> usize {
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        let texts = self.event_id.len()
            + self.subscription_id.len()
            + self.url.len()
            + self.method.len()
            + self
                .request_headers
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
            + opt(&self.response_excerpt)
            + opt(&self.error)
            + opt(&self.held_behind)
            + self.source.len()
            + self.event_type.len()
            + opt(&self.call_id)
            + self.truncated.iter().map(String::len).sum::<usize>();
        let items = self.request_headers.len() + self.truncated.len();
        texts.saturating_mul(6) + items * 8 + FIELDS_ROOM_BYTES
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary; whether it cut anything.
fn truncate_str(s: &mut String, max: usize) -> bool {
    if s.len() <= max {
        return false;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::MAX_RECORD_DOC_BYTES;

    fn attempt(url: String) -> Attempt {
        Attempt {
            event_id: "evt_1".into(),
            subscription_id: "sub_1".into(),
            attempt: 1,
            status: AttemptStatus::Retrying,
            trigger: Trigger::Initial,
            url,
            method: "GET".into(),
            request_headers: BTreeMap::from([("x-big".to_owned(), "v".repeat(5000))]),
            http_status: Some(414),
            duration_ms: 3,
            response_excerpt: Some("too long".into()),
            error_kind: Some(ErrorKind::Status),
            error: None,
            next_attempt_at: None,
            held_behind: None,
            attempted_at: "2024-11-17T10:41:00Z".parse().unwrap(),
            source: "hipcall-main".into(),
            event_type: "call.ended".into(),
            call_id: Some("c".repeat(3000)),
            truncated: Vec::new(),
        }
    }

    proptest::proptest! {
        /// The shortcut `fit` takes for small records is sound: the bound is never below the
        /// record's real JSON size, whatever its texts (control characters and quotes escape
        /// to the most bytes) and however many optional fields are set.
        #[test]
        fn the_size_bound_is_never_below_the_json_size(
            text in proptest::collection::vec(proptest::prelude::any::<char>(), 0..40),
            headers in 0usize..6,
            all_fields in proptest::prelude::any::<bool>(),
        ) {
            let text: String = text.into_iter().collect();
            let mut a = attempt(format!("https://crm.example/{text}"));
            a.request_headers = (0..headers)
                .map(|i| (format!("{text}{i}"), format!("\u{1}{text}")))
                .collect();
            a.response_excerpt = Some(text.clone());
            a.call_id = Some(text.clone());
            a.event_type = text.clone();
            if all_fields {
                a.error = Some(format!("\"{text}\u{0}"));
                a.held_behind = Some(text.clone());
                a.next_attempt_at = Some(a.attempted_at);
                a.truncated = vec!["url".into(), text.clone()];
                a.attempt = u32::MAX;
                a.duration_ms = u64::MAX;
                a.http_status = Some(u16::MAX);
            } else {
                a.http_status = None;
                a.error_kind = None;
                a.response_excerpt = None;
            }
            proptest::prop_assert!(a.json_len_bound() >= a.json_len());
        }
    }

    #[test]
    fn a_record_that_fits_is_left_alone() {
        let mut a = attempt("https://crm.example/hook?x=1".into());
        let before = a.clone();
        a.fit(MAX_RECORD_DOC_BYTES);
        assert_eq!(a, before);
        assert!(serde_json::to_value(&a).unwrap().get("truncated").is_none());
    }

    #[test]
    fn a_one_mebibyte_url_is_cut_to_fit_and_flagged() {
        // 'é' is two bytes: the cut must land on a character boundary.
        let url = format!("https://crm.example/hook?q={}", "é".repeat(512 * 1024));
        let mut a = attempt(url.clone());
        a.fit(MAX_RECORD_DOC_BYTES);
        let json = serde_json::to_vec(&a).unwrap();
        assert!(json.len() <= MAX_RECORD_DOC_BYTES, "{} bytes", json.len());
        assert!(url.starts_with(&a.url));
        assert!(a.url.len() <= URL_KEPT_BYTES && a.url.len() > URL_KEPT_BYTES - 2);
        assert_eq!(a.truncated, ["url", "request_headers", "call_id"]);
        assert_eq!(a.request_headers["x-big"].len(), HEADER_VALUE_KEPT_BYTES);
        assert_eq!(a.response_excerpt.as_deref(), Some("too long"));
        let back: Attempt = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn fitting_twice_changes_nothing_more() {
        let mut a = attempt("h".repeat(MAX_RECORD_DOC_BYTES));
        a.fit(MAX_RECORD_DOC_BYTES);
        let once = a.clone();
        a.fit(1);
        assert_eq!(a, once);
    }
}
