//! The subscriber every test delivers to: a real HTTP/1.1 server (hyper, keep-alive, so the
//! client's pool is exercised) on 127.0.0.1:0 that records each request and answers as the
//! test says: a status, a full response, slowly, not at all (hang), or with a TCP reset.

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// One request as the sink received it.
#[derive(Debug, Clone)]
pub struct Captured {
    pub method: String,
    /// Path and query as sent.
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub peer: SocketAddr,
    /// When the request arrived.
    pub at: std::time::Instant,
}

impl Captured {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn path(&self) -> &str {
        self.path_and_query.split('?').next().unwrap_or("")
    }
    pub fn query(&self) -> Option<&str> {
        self.path_and_query.split_once('?').map(|(_, q)| q)
    }
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// How the sink answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Say nothing for this long, then close.
    Hang(Duration),
    /// Close with a TCP reset, without answering.
    Reset,
    /// Wait, then answer with the status.
    Slow(Duration, u16),
}

impl Reply {
    /// 429 Too Many Requests, asking to come back after `secs` seconds.
    pub fn too_many_requests(secs: u32) -> Self {
        Reply::Full {
            status: 429,
            headers: vec![("retry-after".into(), secs.to_string())],
            body: String::new(),
        }
    }
}

type Behaviour = dyn Fn(&Captured, usize) -> Reply + Send + Sync;

struct Inner {
    captured: Mutex<Vec<Captured>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// The answer of `Sink::start` sinks, changeable while they run.
    status: AtomicU16,
    delay_ms: AtomicU64,
    behaviour: Option<Box<Behaviour>>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.task.get_mut().ok().and_then(Option::take) {
            task.abort();
        }
    }
}

/// A running sink; clones share it, and it stops accepting when the last one is dropped.
#[derive(Clone)]
pub struct Sink {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

impl Sink {
    /// Answers 200 to everything (see `set_status`, `set_delay`).
    pub async fn start() -> Self {
        Self::launch(None).await
    }

    /// Answers 200 to everything.
    pub async fn ok() -> Self {
        Self::start().await
    }

    /// `behaviour(request, n)` decides each reply; `n` counts earlier requests to the same
    /// path (0 for the first).
    pub async fn replying(
        behaviour: impl Fn(&Captured, usize) -> Reply + Send + Sync + 'static,
    ) -> Self {
        Self::launch(Some(Box::new(behaviour))).await
    }

    async fn launch(behaviour: Option<Box<Behaviour>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Inner {
            captured: Mutex::default(),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            status: AtomicU16::new(200),
            delay_ms: AtomicU64::new(0),
            behaviour,
            task: Mutex::default(),
        });
        // The accept loop holds a weak reference: dropping the last `Sink` ends it.
        let weak = Arc::downgrade(&inner);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    return;
                };
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                tokio::spawn(serve_connection(inner, stream, peer));
            }
        });
        *inner.task.lock().unwrap() = Some(task);
        Self { addr, inner }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The status `start`/`ok` sinks answer from now on.
    pub fn set_status(&self, status: u16) {
        self.inner.status.store(status, Ordering::SeqCst);
    }

    /// `start`/`ok` sinks answer only after `delay` (each request is recorded on arrival).
    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.inner.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Captured> {
        self.inner.captured.lock().unwrap().clone()
    }

    /// How many requests arrived.
    pub fn count(&self) -> usize {
        self.inner.captured.lock().unwrap().len()
    }

    /// How many requests arrived for `path`.
    pub fn count_at(&self, path: &str) -> usize {
        let all = self.inner.captured.lock().unwrap();
        all.iter().filter(|r| r.path() == path).count()
    }

    /// The most requests it was answering at once.
    pub fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::SeqCst)
    }
}

impl Inner {
    fn reply(&self, request: &Captured, nth: usize) -> Reply {
        match &self.behaviour {
            Some(behaviour) => behaviour(request, nth),
            None => {
                let status = self.status.load(Ordering::SeqCst);
                match self.delay_ms.load(Ordering::SeqCst) {
                    0 => Reply::Status(status),
                    ms => Reply::Slow(Duration::from_millis(ms), status),
                }
            }
        }
    }

    /// Records the request; returns how many earlier ones went to its path.
    fn record(&self, request: &Captured) -> usize {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let mut all = self.captured.lock().unwrap();
        let nth = all.iter().filter(|r| r.path() == request.path()).count();
        all.push(request.clone());
        nth
    }
}

/// Why the sink dropped a connection instead of answering.
#[derive(Debug)]
struct NoAnswer;

impl std::fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the sink closes without answering")
    }
}

impl std::error::Error for NoAnswer {}

async fn serve_connection(inner: Arc<Inner>, stream: TcpStream, peer: SocketAddr) {
    let reset = Arc::new(AtomicBool::new(false));
    let io = Resettable {
        stream,
        reset: reset.clone(),
    };
    let service = service_fn(move |req: Request<Incoming>| {
        let inner = inner.clone();
        let reset = reset.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let request = Captured {
                method: parts.method.to_string(),
                path_and_query: parts
                    .uri
                    .path_and_query()
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
                headers: parts.headers,
                body,
                peer,
                at: std::time::Instant::now(),
            };
            let nth = inner.record(&request);
            let reply = inner.reply(&request, nth);
            let answer = respond(reply, &reset).await;
            inner.in_flight.fetch_sub(1, Ordering::SeqCst);
            answer
        }
    });
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}

/// The response for a reply; `Err` closes the connection unanswered (reset when `reset` is
/// set by the reply).
async fn respond(reply: Reply, reset: &AtomicBool) -> Result<Response<Full<Bytes>>, NoAnswer> {
    let (status, headers, body) = match reply {
        Reply::Status(s) => (s, vec![], String::new()),
        Reply::Full {
            status,
            headers,
            body,
        } => (status, headers, body),
        Reply::Hang(d) => {
            tokio::time::sleep(d).await;
            return Err(NoAnswer);
        }
        Reply::Reset => {
            reset.store(true, Ordering::SeqCst);
            return Err(NoAnswer);
        }
        Reply::Slow(d, s) => {
            tokio::time::sleep(d).await;
            (s, vec![], String::new())
        }
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
    for (k, v) in headers {
        response.headers_mut().append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_str(&v).unwrap(),
        );
    }
    Ok(response)
}

/// The connection's socket, closed with a TCP reset (zero linger) when `reset` is set by the
/// time hyper drops it.
struct Resettable {
    stream: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for Resettable {
    fn drop(&mut self) {
        if self.reset.load(Ordering::SeqCst) {
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for Resettable {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Resettable {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.reset.load(Ordering::SeqCst) {
            // A graceful shutdown would send FIN before the reset.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
