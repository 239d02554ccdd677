//! The HTTP/1.1 transport of deliveries: hyper's connection API with a pool of our own.
//!
//! A general-purpose client (redirect and retry layers, proxy lookup, URL re-parsing,
//! header maps copied per request) spent more CPU per delivery than the rest of an
//! attempt together; a delivery needs none of it: one request, no redirects, no proxy,
//! no retries inside the client (retries are dispatch's, on record), and connections only
//! to the addresses the SSRF guard let through.

mod connect;
mod pool;

use super::guard::{GuardedResolver, Lookup, Policy, ResolveError};
use crate::domain::attempt::{ErrorKind, RESPONSE_EXCERPT_BYTES};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Body;
use hyper::client::conn::http1::SendRequest;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Where a connection goes: the pool's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub tls: bool,
    /// As the URL spells it (IPv6 literals in brackets).
    pub host: Arc<str>,
    pub port: u16,
}

impl Origin {
    /// `None` unless the scheme is http or https and there is a host.
    pub fn of(url: &url::Url) -> Option<Self> {
        let tls = match url.scheme() {
            "http" => false,
            "https" => true,
            _ => return None,
        };
        let host = url.host_str().filter(|h| !h.is_empty())?;
        Some(Self {
            tls,
            host: host.into(),
            port: url.port_or_known_default()?,
        })
    }

    /// The host without IPv6 brackets: what TLS names and addresses are made of.
    pub fn bare_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }
}

/// An open HTTP/1.1 connection (its peer was checked by the guard at connect).
pub(crate) struct Connection {
    pub(crate) sender: SendRequest<Full<Bytes>>,
}

/// What a subscriber answered: enough for the attempt record.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    /// The first [`RESPONSE_EXCERPT_BYTES`] of the body.
    pub excerpt: Vec<u8>,
}

/// Why no answer came, sorted into the attempt record's kinds. Messages carry no URL (a
/// subscriber URL may hold a token in its query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Refused(super::guard::Refused),
    Dns(String),
    Connect(String),
    Timeout(String),
    Tls(String),
    Request(String),
}

impl Failure {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Refused(_) => ErrorKind::Refused,
            Self::Dns(_) => ErrorKind::Dns,
            Self::Connect(_) => ErrorKind::Connect,
            Self::Timeout(_) => ErrorKind::Timeout,
            Self::Tls(_) => ErrorKind::Tls,
            Self::Request(_) => ErrorKind::Request,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Self::Refused(r) => r.to_string(),
            Self::Dns(m)
            | Self::Connect(m)
            | Self::Timeout(m)
            | Self::Tls(m)
            | Self::Request(m) => m.clone(),
        }
    }

    /// A failure on a connection that had been set up: the peer went away, or answered
    /// something that is not HTTP.
    fn exchange(err: &hyper::Error) -> Self {
        let message = error_chain(err);
        let io = std::error::Error::source(err)
            .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some());
        if err.is_canceled() || err.is_closed() || err.is_incomplete_message() || io {
            Self::Connect(message)
        } else {
            Self::Request(message)
        }
    }
}

impl From<ResolveError> for Failure {
    fn from(e: ResolveError) -> Self {
        match e {
            ResolveError::Refused(r) => Self::Refused(r),
            lookup @ ResolveError::Lookup(_) => Self::Dns(lookup.to_string()),
        }
    }
}

/// Why the transport could not be set up (the TLS roots, at cold start).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up TLS for deliveries: {0}")]
pub struct SetupError(#[from] rustls::Error);

/// How the transport is built.
pub struct TransportOptions {
    pub policy: Arc<Policy>,
    pub lookup: Arc<dyn Lookup>,
    pub local_address: Option<IpAddr>,
    pub max_idle_per_origin: usize,
    pub idle_timeout: Duration,
    pub connect_timeout: Duration,
}

pub struct Transport {
    connector: connect::Connector,
    pool: pool::Pool,
}

impl Transport {
    pub fn new(options: TransportOptions) -> Result<Self, SetupError> {
        use rustls_platform_verifier::BuilderVerifierExt;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_platform_verifier()?
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            connector: connect::Connector {
                resolver: GuardedResolver::new(options.lookup, options.policy.clone()),
                policy: options.policy,
                tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
                local_address: options.local_address,
                connect_timeout: options.connect_timeout,
            },
            pool: pool::Pool::new(options.max_idle_per_origin, options.idle_timeout),
        })
    }

    /// Sends `request` (origin-form target, `Host` set) to `origin` on an idle connection or
    /// a new one. A pooled connection the subscriber closed while idle is retried on a new
    /// one only when the request provably never left (hyper hands it back).
    pub async fn send(
        &self,
        origin: &Origin,
        mut request: http::Request<Full<Bytes>>,
    ) -> Result<Answer, Failure> {
        loop {
            let (mut connection, pooled) = match self.pool.take(origin) {
                Some(c) => (c, true),
                // Boxed: a new connection (resolve, connect, TLS and HTTP handshakes) is a
                // large future, rarely awaited; inline, it made every delivery's future 5 KiB
                // that the dispatcher moves several times per attempt.
                None => (Box::pin(self.connector.connect(origin)).await?, false),
            };
            if let Err(e) = connection.sender.ready().await {
                if pooled {
                    continue;
                }
                return Err(Failure::exchange(&e));
            }
            match connection.sender.try_send_request(request).await {
                Ok(response) => return Ok(self.read(origin, connection, response).await),
                Err(mut e) => match e.take_message() {
                    Some(unsent) if pooled => request = unsent,
                    _ => return Err(Failure::exchange(e.error())),
                },
            }
        }
    }

    /// Status, `Retry-After` and the body's first bytes; the connection goes back to the
    /// pool when the body was read to its end (a connection with unread body is closed).
    async fn read(
        &self,
        origin: &Origin,
        connection: Connection,
        response: http::Response<hyper::body::Incoming>,
    ) -> Answer {
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = response.into_body();
        let mut excerpt = Vec::new();
        let mut ended = body.is_end_stream();
        while !ended && excerpt.len() < RESPONSE_EXCERPT_BYTES {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        let room = RESPONSE_EXCERPT_BYTES - excerpt.len();
                        excerpt.extend_from_slice(&data[..data.len().min(room)]);
                    }
                    ended = body.is_end_stream();
                }
                Some(Err(e)) => {
                    // The status is what counts; a body cut short is noted only.
                    tracing::debug!(error = %e, "response body ended early");
                    break;
                }
                None => ended = true,
            }
        }
        if ended {
            self.pool.put(origin, connection);
        }
        Answer {
            status,
            retry_after,
            excerpt,
        }
    }
}

/// An error and its sources, one line.
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.dedup();
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::guard::{AddressClass, StaticLookup};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn transport() -> Transport {
        Transport::new(TransportOptions {
            policy: Arc::new(Policy::allowing([AddressClass::Loopback])),
            lookup: Arc::new(StaticLookup::new()),
            local_address: Some(LOOPBACK),
            max_idle_per_origin: 8,
            idle_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(2),
        })
        .unwrap()
    }

    fn request(origin: &Origin) -> http::Request<Full<Bytes>> {
        let mut r = http::Request::new(Full::new(Bytes::from_static(b"{}")));
        *r.method_mut() = http::Method::POST;
        *r.uri_mut() = http::Uri::from_static("/hook");
        r.headers_mut().insert(
            http::header::HOST,
            http::HeaderValue::try_from(format!("{}:{}", origin.host, origin.port)).unwrap(),
        );
        r
    }

    /// A server on 127.0.0.1 that reads each request (headers and a 2-byte body) and answers
    /// `answer(n)` to the n-th request of a connection; `close_after` requests, it closes.
    async fn server(
        answer: fn(usize) -> Vec<u8>,
        close_after: usize,
    ) -> (Origin, Arc<AtomicUsize>) {
        let listener = TcpListener::bind((LOOPBACK, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    for n in 0..close_after {
                        loop {
                            if let Some(end) = find(&buf, b"\r\n\r\n") {
                                if buf.len() >= end + 4 + 2 {
                                    buf.drain(..end + 4 + 2);
                                    break;
                                }
                            }
                            let mut chunk = [0u8; 4096];
                            match socket.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(k) => buf.extend_from_slice(&chunk[..k]),
                            }
                        }
                        if socket.write_all(&answer(n)).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let origin = Origin {
            tls: false,
            host: "127.0.0.1".into(),
            port,
        };
        (origin, connections)
    }

    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack.windows(needle.len()).position(|w| w == needle)
    }

    fn no_content(_: usize) -> Vec<u8> {
        b"HTTP/1.1 204 No Content\r\n\r\n".to_vec()
    }

    #[tokio::test]
    async fn requests_in_turn_share_one_connection() {
        let (origin, connections) = server(no_content, usize::MAX).await;
        let t = transport();
        for _ in 0..5 {
            let answer = t.send(&origin, request(&origin)).await.unwrap();
            assert_eq!(answer.status, 204);
        }
        assert_eq!(connections.load(Ordering::SeqCst), 1);
        assert_eq!(t.pool.idle_count(&origin), 1);
    }

    #[tokio::test]
    async fn a_connection_closed_while_idle_is_replaced() {
        // The subscriber answers one request per connection, then hangs up without saying so.
        let (origin, connections) = server(no_content, 1).await;
        let t = transport();
        for _ in 0..3 {
            let answer = t.send(&origin, request(&origin)).await.unwrap();
            assert_eq!(answer.status, 204);
            // Let the kept connection notice the hang-up, as an idle one would.
            for _ in 0..200 {
                if t.pool.idle_count(&origin) == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert_eq!(t.pool.idle_count(&origin), 0, "the hang-up was noticed");
        }
        assert_eq!(connections.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_request_the_subscriber_read_before_hanging_up_is_not_sent_again() {
        // The second request is read whole, then the connection closes with no answer: the
        // request may have been acted on, so it is a failure, not a silent resend.
        fn then_hang_up(n: usize) -> Vec<u8> {
            if n == 0 {
                no_content(n)
            } else {
                Vec::new()
            }
        }
        let (origin, connections) = server(then_hang_up, 2).await;
        let t = transport();
        assert_eq!(t.send(&origin, request(&origin)).await.unwrap().status, 204);
        let failure = t.send(&origin, request(&origin)).await.unwrap_err();
        assert_eq!(failure.kind(), ErrorKind::Connect, "{failure:?}");
        assert_eq!(
            connections.load(Ordering::SeqCst),
            1,
            "no second connection"
        );
    }

    #[tokio::test]
    async fn a_body_longer_than_the_excerpt_is_cut_and_its_connection_not_kept() {
        fn long(_: usize) -> Vec<u8> {
            let body = "x".repeat(RESPONSE_EXCERPT_BYTES * 4);
            format!(
                "HTTP/1.1 500 Internal Server Error\r\nretry-after: 7\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        }
        let (origin, connections) = server(long, usize::MAX).await;
        let t = transport();
        let answer = t.send(&origin, request(&origin)).await.unwrap();
        assert_eq!(answer.status, 500);
        assert_eq!(answer.retry_after.as_deref(), Some("7"));
        assert_eq!(answer.excerpt.len(), RESPONSE_EXCERPT_BYTES);
        assert_eq!(t.pool.idle_count(&origin), 0);
        t.send(&origin, request(&origin)).await.unwrap();
        assert_eq!(connections.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_answer_that_is_not_http_fails_the_request() {
        fn garbage(_: usize) -> Vec<u8> {
            b"SMTP ready\r\n\r\n".to_vec()
        }
        let (origin, _) = server(garbage, usize::MAX).await;
        let failure = transport()
            .send(&origin, request(&origin))
            .await
            .unwrap_err();
        assert_eq!(failure.kind(), ErrorKind::Request, "{failure:?}");
    }

    #[tokio::test]
    async fn a_refused_port_is_a_connect_failure_and_a_refused_address_never_dialled() {
        let listener = TcpListener::bind((LOOPBACK, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let t = transport();
        let closed = Origin {
            tls: false,
            host: "127.0.0.1".into(),
            port,
        };
        let failure = t.send(&closed, request(&closed)).await.unwrap_err();
        assert_eq!(failure.kind(), ErrorKind::Connect, "{failure:?}");
        // 10.0.0.1 is private: refused before any socket exists.
        let private = Origin {
            tls: false,
            host: "10.0.0.1".into(),
            port: 80,
        };
        let failure = t.send(&private, request(&private)).await.unwrap_err();
        assert_eq!(failure.kind(), ErrorKind::Refused, "{failure:?}");
    }
}
