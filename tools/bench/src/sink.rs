//! The loopback subscriber deliveries go to: nginx when installed ([`crate::nginx`]), else a
//! built-in one built to be cheap. Either answers 204 at once, and for deliveries (requests
//! carrying `webhook-id`) records when each arrived and for which event, so the load run can
//! tell end-to-end latency and that every (event, subscription) pair arrived.

use crate::nginx::Nginx;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

/// One delivery as the sink saw it.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// The `webhook-id` header: `<event id>_<subscription id>`.
    pub webhook_id: String,
    pub at: Instant,
}

/// A request the sink received, kept so the baseline can send the very same thing.
#[derive(Debug, Clone)]
pub struct Sample {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

#[derive(Default)]
struct State {
    arrivals: Mutex<Vec<Arrival>>,
    sample: Mutex<Option<Sample>>,
    requests: AtomicUsize,
    /// `requests` reaching this wakes `wait_for`.
    target: AtomicUsize,
    reached: Notify,
}

#[derive(Clone)]
pub struct Sink {
    pub addr: SocketAddr,
    state: Arc<State>,
    stop: watch::Sender<bool>,
    /// When set, deliveries go to nginx and are counted from its log.
    nginx: Option<Arc<Nginx>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn answer(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Empty<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    // Read the whole body as a real subscriber does (the signature covers it).
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let at = Instant::now();
    if let Some(id) = parts
        .headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
    {
        lock(&state.arrivals).push(Arrival {
            webhook_id: id.to_owned(),
            at,
        });
        let mut sample = lock(&state.sample);
        if sample.is_none() {
            *sample = Some(Sample {
                path: parts.uri.path().to_owned(),
                headers: parts
                    .headers
                    .iter()
                    .filter(|(k, _)| k.as_str().starts_with("webhook-") || *k == "content-type")
                    .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                    .collect(),
                body,
            });
        }
    }
    let n = state.requests.fetch_add(1, Ordering::AcqRel) + 1;
    if n >= state.target.load(Ordering::Acquire) {
        state.reached.notify_waiters();
    }
    let mut resp = Response::new(Empty::new());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    Ok(resp)
}

impl Sink {
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            target: AtomicUsize::new(usize::MAX),
            ..State::default()
        });
        let (stop, mut stop_rx) = watch::channel(false);
        let s = state.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = stop_rx.changed() => return,
                };
                let Ok((stream, _)) = accepted else { continue };
                // Best effort: a socket that refuses NODELAY still works, only slower.
                let _ = stream.set_nodelay(true);
                let s = s.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| answer(s.clone(), req));
                    let _ = http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            state,
            stop,
            nginx: None,
        })
    }

    /// nginx when it is installed, else the built-in sink.
    pub async fn nginx_or_builtin() -> Result<Self, String> {
        let builtin = Self::start()
            .await
            .map_err(|e| format!("cannot start the sink: {e}"))?;
        Ok(match Nginx::start()? {
            Some(n) => Self {
                addr: n.addr,
                nginx: Some(Arc::new(n)),
                ..builtin
            },
            None => builtin,
        })
    }

    /// What answers the deliveries.
    pub fn describe(&self) -> &'static str {
        if self.nginx.is_some() {
            "nginx (1 process, access log of webhook ids)"
        } else {
            "built-in hyper sink (nginx not installed)"
        }
    }

    /// Requests received since the last reset (deliveries and anything else).
    pub fn requests(&self) -> usize {
        if let Some(n) = &self.nginx {
            return n.requests();
        }
        self.state.requests.load(Ordering::Acquire)
    }

    /// Forgets what was received.
    pub fn reset(&self) {
        if let Some(n) = &self.nginx {
            n.reset();
        }
        lock(&self.state.arrivals).clear();
        *lock(&self.state.sample) = None;
        self.state.requests.store(0, Ordering::Release);
    }

    pub fn take_arrivals(&self) -> Vec<Arrival> {
        if let Some(n) = &self.nginx {
            return n.arrivals();
        }
        std::mem::take(&mut *lock(&self.state.arrivals))
    }

    pub fn sample(&self) -> Option<Sample> {
        lock(&self.state.sample).clone()
    }

    /// Waits until at least `n` requests arrived, or `deadline` passes; returns the count.
    pub async fn wait_for(&self, n: usize, deadline: tokio::time::Instant) -> usize {
        if let Some(nginx) = &self.nginx {
            return nginx.wait_for(n, deadline).await;
        }
        self.state.target.store(n, Ordering::Release);
        loop {
            let notified = self.state.reached.notified();
            let now = self.requests();
            if now >= n || tokio::time::Instant::now() >= deadline {
                return now;
            }
            // Re-check at least every 100 ms: a notification can race the registration.
            let _ = tokio::time::timeout_at(
                deadline.min(tokio::time::Instant::now() + std::time::Duration::from_millis(100)),
                notified,
            )
            .await;
        }
    }

    pub fn stop(&self) {
        if let Some(n) = &self.nginx {
            n.stop();
        }
        let _ = self.stop.send(true);
    }
}
