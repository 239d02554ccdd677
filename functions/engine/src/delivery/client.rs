//! The pooled HTTP client that makes one delivery attempt.

use super::guard::{Lookup, Policy, SystemLookup};
use super::render::{render_with, EnvelopeJson};
use super::signing::signature_header;
use super::targets::{Target, Targets};
use super::transport::{Failure, SetupError, Transport, TransportOptions};
use crate::domain::attempt::ErrorKind;
use crate::domain::time::{now, Timestamp};
use crate::domain::{StoredEvent, Subscription};
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http_body_util::Full;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const USER_AGENT: &str = concat!("Switchboard/", env!("CARGO_PKG_VERSION"));

pub use crate::redact::{is_sensitive_name, redact_url, REDACTED};

/// What one attempt produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub url: String,
    pub method: String,
    pub request_headers: BTreeMap<String, String>,
    pub http_status: Option<u16>,
    pub retry_after: Option<String>,
    pub duration: Duration,
    pub response_excerpt: Option<String>,
    pub error_kind: Option<ErrorKind>,
    pub error: Option<String>,
    pub attempted_at: Timestamp,
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.http_status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// How the delivery client is built.
#[derive(Clone)]
pub struct ClientOptions {
    /// Per-request timeout when a subscription sets none.
    pub default_timeout: Duration,
    /// Which address classes subscribers may resolve to.
    pub policy: Policy,
    /// Where names are looked up (the system resolver; a table in tests).
    pub lookup: Arc<dyn Lookup>,
    /// Source address for outgoing connections (tests bind to 127.0.0.1 so that nothing can
    /// leave the machine even if the guard were broken).
    pub local_address: Option<IpAddr>,
    /// Idle pooled connections kept per host.
    pub max_idle_per_host: usize,
}

impl ClientOptions {
    pub fn new(default_timeout: Duration, policy: Policy) -> Self {
        Self {
            default_timeout,
            policy,
            lookup: Arc::new(SystemLookup),
            local_address: None,
            max_idle_per_host: 256,
        }
    }
}

/// One client for the life of the process: pooled HTTP/1.1 connections, rustls, no
/// redirects (a 3xx is a failure: following it could leave the vetted host), no retries of
/// its own, no proxies, and the SSRF guard as its only DNS resolver.
#[derive(Clone)]
pub struct DeliveryClient {
    transport: Arc<Transport>,
    default_timeout: Duration,
    policy: Arc<Policy>,
    targets: Targets,
}

impl std::fmt::Debug for DeliveryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryClient")
            .field("default_timeout", &self.default_timeout)
            .field("policy", &self.policy)
            .finish()
    }
}

impl DeliveryClient {
    /// The longest one attempt to `sub` can take (its own timeout, else the default).
    pub fn timeout_for(&self, sub: &crate::domain::Subscription) -> Duration {
        sub.timeout(self.default_timeout)
    }

    /// A client using the system resolver.
    pub fn new(default_timeout: Duration, policy: Policy) -> Result<Self, SetupError> {
        Self::with_options(ClientOptions::new(default_timeout, policy))
    }

    pub fn with_options(options: ClientOptions) -> Result<Self, SetupError> {
        let policy = Arc::new(options.policy);
        let transport = Transport::new(TransportOptions {
            policy: policy.clone(),
            lookup: options.lookup,
            local_address: options.local_address,
            max_idle_per_origin: options.max_idle_per_host,
            idle_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
        })?;
        Ok(Self {
            transport: Arc::new(transport),
            default_timeout: options.default_timeout,
            policy,
            targets: Targets::default(),
        })
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The `webhook-id`: stable per (event, subscription), so receivers can deduplicate.
    pub fn message_id(event_id: &str, subscription_id: &str) -> String {
        format!("{event_id}_{subscription_id}")
    }

    /// Makes one attempt. Never fails: every failure is described in the outcome.
    pub async fn deliver(&self, sub: &Subscription, event: &StoredEvent) -> Outcome {
        self.deliver_with(sub, event, &EnvelopeJson::default())
            .await
    }

    /// [`Self::deliver`], sharing the event's serialised envelope with its other attempts.
    pub async fn deliver_with(
        &self,
        sub: &Subscription,
        event: &StoredEvent,
        envelope: &EnvelopeJson,
    ) -> Outcome {
        let attempted_at = now();
        let started = Instant::now();
        let mut outcome = Outcome {
            // Filled in below, once the URL is parsed (or from the subscription's on failure).
            url: String::new(),
            method: sub.method.as_str().to_owned(),
            request_headers: BTreeMap::new(),
            http_status: None,
            retry_after: None,
            duration: Duration::ZERO,
            response_excerpt: None,
            error_kind: None,
            error: None,
            attempted_at,
        };
        let rendered = match render_with(sub, event, envelope) {
            Ok(r) => r,
            Err(e) => {
                outcome.url = redact_url(&sub.url);
                outcome.error_kind = Some(ErrorKind::Request);
                outcome.error = Some(e.to_string());
                return outcome;
            }
        };
        // The subscription's own URL is parsed once per client; one with a rendered query
        // is new each time.
        let with_query = match &rendered.query {
            Some(q) if sub.url.contains('?') => Some(format!("{}&{q}", sub.url)),
            Some(q) => Some(format!("{}?{q}", sub.url)),
            None => None,
        };
        let target = match &with_query {
            Some(url) => Target::parse(url).map(Arc::new),
            None => self.targets.get(&sub.url),
        };
        let target = match target {
            Ok(t) => t,
            Err(e) => {
                outcome.url = redact_url(with_query.as_deref().unwrap_or(&sub.url));
                outcome.error_kind = Some(ErrorKind::Request);
                outcome.error = Some(e);
                return outcome;
            }
        };
        outcome.url = target.redacted.clone();
        // IP literals never reach the resolver: check them here, before any connection.
        if let Err(refused) = self.policy.check_url(&target.url) {
            outcome.error_kind = Some(ErrorKind::Refused);
            outcome.error = Some(refused.to_string());
            return outcome;
        }
        let Some(origin) = &target.origin else {
            outcome.error_kind = Some(ErrorKind::Request);
            outcome.error = Some("the url names no host to connect to".to_owned());
            return outcome;
        };

        let msg_id = Self::message_id(&event.envelope.id, &sub.id);
        let timestamp = attempted_at.timestamp();
        let mut secrets = vec![sub.secret.expose()];
        if let Some(prev) = &sub.previous_secret {
            if prev.expires_at > attempted_at {
                secrets.push(prev.secret.expose());
            }
        }
        let signature = signature_header(secrets, &msg_id, timestamp, &rendered.body);

        let mut headers: Vec<(String, String)> = sub
            .headers
            .iter()
            .filter(|(k, _)| !is_reserved_header(k))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        let custom = headers.len();
        headers.push(("webhook-id".into(), msg_id));
        headers.push(("webhook-timestamp".into(), timestamp.to_string()));
        headers.push(("webhook-signature".into(), signature));
        if let Some(ct) = &rendered.content_type {
            headers.push(("content-type".into(), ct.clone()));
        }
        // A subscription's own headers are scanned for credential names; of the headers
        // added here only the signature is one (no name scan per delivery).
        let (own, added) = headers.split_at(custom);
        let recorded = |(k, v): &(String, String), sensitive: bool| {
            let shown = if sensitive { REDACTED } else { v.as_str() };
            (k.clone(), shown.to_owned())
        };
        outcome.request_headers = own
            .iter()
            .map(|h| recorded(h, is_sensitive_name(&h.0)))
            .chain(
                added
                    .iter()
                    .map(|h| recorded(h, h.0 == "webhook-signature")),
            )
            .collect();

        let request = match build_request(&target, sub.method, &headers, rendered.body.clone()) {
            Ok(r) => r,
            Err(e) => {
                outcome.error_kind = Some(ErrorKind::Request);
                outcome.error = Some(e);
                return outcome;
            }
        };
        let timeout = self.timeout_for(sub);
        let answer = match tokio::time::timeout(timeout, self.transport.send(origin, request)).await
        {
            Ok(answer) => answer,
            Err(_) => Err(Failure::Timeout(format!(
                "no answer within {} ms",
                timeout.as_millis()
            ))),
        };
        match answer {
            Ok(answer) => {
                outcome.http_status = Some(answer.status);
                outcome.retry_after = answer.retry_after;
                if !answer.excerpt.is_empty() {
                    outcome.response_excerpt =
                        Some(String::from_utf8_lossy(&answer.excerpt).into_owned());
                }
                if !outcome.succeeded() {
                    outcome.error_kind = Some(ErrorKind::Status);
                    outcome.error = Some(status_error(answer.status));
                }
            }
            Err(failure) => {
                outcome.error_kind = Some(failure.kind());
                outcome.error = Some(failure.message());
            }
        }
        outcome.duration = started.elapsed();
        outcome
    }
}

/// The request as it goes on the wire: origin-form target, `Host`, the URL's credentials,
/// and what a subscriber expects of any client (`User-Agent`, `Accept`) unless the
/// subscription's headers say otherwise.
fn build_request(
    target: &Target,
    method: crate::domain::Method,
    headers: &[(String, String)],
    body: Bytes,
) -> Result<http::Request<Full<Bytes>>, String> {
    let method = match method {
        crate::domain::Method::Post => http::Method::POST,
        crate::domain::Method::Put => http::Method::PUT,
        crate::domain::Method::Get => http::Method::GET,
    };
    let mut request = http::Request::new(Full::new(body));
    *request.method_mut() = method;
    *request.uri_mut() = http::Uri::from(target.path_and_query.clone());
    let host = target
        .host_header
        .clone()
        .ok_or("the url names no host to connect to")?;
    let map = request.headers_mut();
    map.insert(http::header::HOST, host);
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("header name {name:?} is not valid in HTTP"))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("the value of header {name} is not valid in HTTP"))?;
        map.append(name, value);
    }
    let defaults = [
        (
            http::header::USER_AGENT,
            Some(HeaderValue::from_static(USER_AGENT)),
        ),
        (http::header::ACCEPT, Some(HeaderValue::from_static("*/*"))),
        (http::header::AUTHORIZATION, target.authorization.clone()),
    ];
    for (name, value) in defaults {
        if let (false, Some(value)) = (map.contains_key(&name), value) {
            map.insert(name, value);
        }
    }
    Ok(request)
}

fn status_error(status: u16) -> String {
    let shown = http::StatusCode::from_u16(status)
        .map(|s| s.to_string())
        .unwrap_or_else(|_| status.to_string());
    if (300..400).contains(&status) {
        format!("subscriber answered HTTP {shown}; redirects are not followed")
    } else {
        format!("subscriber answered HTTP {shown}")
    }
}

/// Headers a subscription may not set: they are the signature's or the transport's.
fn is_reserved_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("webhook-")
        || matches!(
            n.as_str(),
            "host" | "content-length" | "transfer-encoding" | "connection" | "content-type"
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Method;

    fn request(url: &str, headers: &[(&str, &str)]) -> http::Request<Full<Bytes>> {
        let target = Target::parse(url).unwrap();
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        build_request(&target, Method::Post, &headers, Bytes::from_static(b"{}")).unwrap()
    }

    fn values(r: &http::Request<Full<Bytes>>, name: &str) -> Vec<String> {
        r.headers()
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn the_request_carries_host_target_and_client_defaults() {
        let r = request("http://crm.example:8080/hooks/in?x=1", &[("x-team", "a")]);
        assert_eq!(r.method(), http::Method::POST);
        assert_eq!(r.uri(), "/hooks/in?x=1");
        assert_eq!(values(&r, "host"), ["crm.example:8080"]);
        assert_eq!(values(&r, "user-agent"), [USER_AGENT]);
        assert_eq!(values(&r, "accept"), ["*/*"]);
        assert_eq!(values(&r, "x-team"), ["a"]);
        assert!(r.headers().get("authorization").is_none());
    }

    #[test]
    fn a_subscription_header_replaces_a_default_rather_than_doubling_it() {
        let r = request(
            "https://user:pw@crm.example/in",
            &[("user-agent", "crm-relay"), ("authorization", "Bearer t")],
        );
        assert_eq!(values(&r, "user-agent"), ["crm-relay"]);
        assert_eq!(values(&r, "authorization"), ["Bearer t"]);
    }

    #[test]
    fn url_credentials_become_basic_authorization_and_leave_the_request_line() {
        let r = request("https://user:pw@crm.example/in", &[]);
        assert_eq!(values(&r, "authorization"), ["Basic dXNlcjpwdw=="]);
        assert_eq!(r.uri(), "/in");
        assert_eq!(values(&r, "host"), ["crm.example"]);
    }

    #[test]
    fn a_header_that_is_not_valid_http_is_an_error_not_a_panic() {
        let target = Target::parse("http://crm.example/in").unwrap();
        let bad = [("x-bad".to_owned(), "line\nbreak".to_owned())];
        assert!(build_request(&target, Method::Post, &bad, Bytes::new()).is_err());
        let bad = [("bad name".to_owned(), "v".to_owned())];
        assert!(build_request(&target, Method::Post, &bad, Bytes::new()).is_err());
    }
}
