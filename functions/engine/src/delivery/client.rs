//! The pooled HTTP client that makes one delivery attempt.

use super::guard::{find_refusal, GuardedResolver, Lookup, Policy, SystemLookup};
use super::render::{render_with, EnvelopeJson};
use super::signing::signature_header;
use super::targets::{Target, Targets};
use crate::domain::attempt::{ErrorKind, RESPONSE_EXCERPT_BYTES};
use crate::domain::time::{now, Timestamp};
use crate::domain::{StoredEvent, Subscription};
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

/// One `reqwest` client for the life of the process: pooled connections, rustls, no
/// redirects (a 3xx is a failure: following it could leave the vetted host), no retries of
/// its own, no proxies, and the SSRF guard as its only DNS resolver.
#[derive(Clone)]
pub struct DeliveryClient {
    http: reqwest::Client,
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
    pub fn new(default_timeout: Duration, policy: Policy) -> Result<Self, reqwest::Error> {
        Self::with_options(ClientOptions::new(default_timeout, policy))
    }

    pub fn with_options(options: ClientOptions) -> Result<Self, reqwest::Error> {
        let policy = Arc::new(options.policy);
        let resolver = GuardedResolver::new(options.lookup, policy.clone());
        crate::tls::install_default_provider();
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // One request per attempt: retries are dispatch's, on the subscription's schedule
            // and on record. No retries inside the client also means no copy of every
            // request kept for one (a tenth of the client's work in the profile).
            .retry(reqwest::retry::never().max_retries_per_request(0))
            .no_proxy()
            .dns_resolver(Arc::new(resolver))
            .user_agent(USER_AGENT)
            .pool_max_idle_per_host(options.max_idle_per_host)
            .pool_idle_timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true);
        if let Some(addr) = options.local_address {
            builder = builder.local_address(addr);
        }
        Ok(Self {
            http: builder.build()?,
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
        let url = target.url.clone();
        // IP literals never reach the resolver: check them here, before any connection.
        if let Err(refused) = self.policy.check_url(&url) {
            outcome.error_kind = Some(ErrorKind::Refused);
            outcome.error = Some(refused.to_string());
            return outcome;
        }

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
        headers.push(("webhook-id".into(), msg_id));
        headers.push(("webhook-timestamp".into(), timestamp.to_string()));
        headers.push(("webhook-signature".into(), signature));
        if let Some(ct) = &rendered.content_type {
            headers.push(("content-type".into(), ct.clone()));
        }
        outcome.request_headers = headers
            .iter()
            .map(|(k, v)| {
                let shown = if is_sensitive_name(k) {
                    REDACTED.to_owned()
                } else {
                    v.clone()
                };
                (k.clone(), shown)
            })
            .collect();

        let method = match sub.method {
            crate::domain::Method::Post => reqwest::Method::POST,
            crate::domain::Method::Put => reqwest::Method::PUT,
            crate::domain::Method::Get => reqwest::Method::GET,
        };
        let mut request = self
            .http
            .request(method, url)
            .timeout(self.timeout_for(sub));
        for (k, v) in &headers {
            request = request.header(k.as_str(), v.as_str());
        }
        if !rendered.body.is_empty() {
            request = request.body(rendered.body.clone());
        }

        match request.send().await {
            Ok(mut response) => {
                // Last line of defence: the peer we actually reached.
                if let Some(peer) = response.remote_addr() {
                    if let Err(refused) = self.policy.check_ip(peer.ip()) {
                        tracing::error!(%refused, "connected to a refused address; discarding the response");
                        outcome.error_kind = Some(ErrorKind::Refused);
                        outcome.error = Some(refused.to_string());
                        outcome.duration = started.elapsed();
                        return outcome;
                    }
                }
                outcome.http_status = Some(response.status().as_u16());
                outcome.retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let mut excerpt = Vec::new();
                loop {
                    match response.chunk().await {
                        Ok(Some(chunk)) => {
                            let room = RESPONSE_EXCERPT_BYTES - excerpt.len();
                            excerpt.extend_from_slice(&chunk[..chunk.len().min(room)]);
                            if excerpt.len() >= RESPONSE_EXCERPT_BYTES {
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            // The status is what counts; a body cut short is noted only.
                            tracing::debug!(error = %e, "response body ended early");
                            break;
                        }
                    }
                }
                if !excerpt.is_empty() {
                    outcome.response_excerpt = Some(String::from_utf8_lossy(&excerpt).into_owned());
                }
                if !outcome.succeeded() {
                    outcome.error_kind = Some(ErrorKind::Status);
                    outcome.error = Some(if response.status().is_redirection() {
                        format!(
                            "subscriber answered HTTP {}; redirects are not followed",
                            response.status()
                        )
                    } else {
                        format!("subscriber answered HTTP {}", response.status())
                    });
                }
            }
            Err(e) => {
                if let Some(refused) = find_refusal(&e) {
                    outcome.error_kind = Some(ErrorKind::Refused);
                    outcome.error = Some(refused.to_string());
                } else {
                    let (kind, message) = classify(&e);
                    outcome.error_kind = Some(kind);
                    outcome.error = Some(message);
                }
            }
        }
        outcome.duration = started.elapsed();
        outcome
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

/// Sorts a transport error into the attempt record's kinds, with a message free of secrets
/// (URLs are stripped: a subscriber URL may carry a token in its query).
fn classify(err: &reqwest::Error) -> (ErrorKind, String) {
    let chain = error_chain(err);
    let lower = chain.to_ascii_lowercase();
    let kind = if err.is_timeout() {
        ErrorKind::Timeout
    } else if lower.contains("dns") || lower.contains("resolve") {
        ErrorKind::Dns
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
    {
        ErrorKind::Tls
    } else if err.is_connect() || lower.contains("reset") || lower.contains("closed") {
        ErrorKind::Connect
    } else {
        ErrorKind::Request
    };
    (kind, chain)
}

fn error_chain(err: &reqwest::Error) -> String {
    let text = err.to_string();
    let mut parts = vec![match err.url() {
        Some(url) => text.replace(url.as_str(), "<url>"),
        None => text,
    }];
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.dedup();
    parts.join(": ")
}
