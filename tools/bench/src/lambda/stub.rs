//! A minimal Lambda Runtime API on 127.0.0.1 and the functions started against it: `GET next`
//! hands out the queued invocation (if any) or holds the poll; responses and errors are
//! reported to the harness.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use switchboard_core::config;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

pub(super) const NEXT: &str = "/2018-06-01/runtime/invocation/next";

pub(super) enum Seen {
    Poll(Instant),
    Response(Instant, Bytes),
    Error(Bytes),
}

/// The Runtime API: `GET next` hands out the queued invocation (if any) or holds the poll;
/// `POST .../response` and `.../error` are reported.
pub(super) struct Stub {
    pub(super) addr: SocketAddr,
    invocation: Arc<Mutex<Option<(String, Bytes)>>>,
    pub(super) seen: mpsc::UnboundedReceiver<Seen>,
}

async fn stub_answer(
    invocation: Arc<Mutex<Option<(String, Bytes)>>>,
    seen: mpsc::UnboundedSender<Seen>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let at = Instant::now();
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    if method == http::Method::GET && path == NEXT {
        let _ = seen.send(Seen::Poll(at));
        let next = invocation
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some((id, payload)) = next else {
            // Nothing to run: hold the poll as Lambda does (the harness kills the process).
            tokio::time::sleep(Duration::from_secs(120)).await;
            return Ok(Response::new(Full::new(Bytes::new())));
        };
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() + 60_000)
            .unwrap_or_default();
        let resp = Response::builder()
            .header("lambda-runtime-aws-request-id", id)
            .header("lambda-runtime-deadline-ms", deadline.to_string())
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:bench",
            )
            .header(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000",
            )
            .header("content-type", "application/json")
            .body(Full::new(payload));
        return Ok(resp.unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))));
    }
    if path.ends_with("/response") {
        let _ = seen.send(Seen::Response(at, body));
    } else if path.ends_with("/error") {
        let _ = seen.send(Seen::Error(body));
    }
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::ACCEPTED;
    Ok(resp)
}

impl Stub {
    pub(super) async fn start() -> Result<Self, String> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("cannot start the Runtime API stub: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let invocation: Arc<Mutex<Option<(String, Bytes)>>> = Arc::default();
        let (tx, seen) = mpsc::unbounded_channel();
        let inv = invocation.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let (inv, tx) = (inv.clone(), tx.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| stub_answer(inv.clone(), tx.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            invocation,
            seen,
        })
    }

    pub(super) fn queue(&self, id: &str, payload: Bytes) {
        *self
            .invocation
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((id.to_owned(), payload));
    }

    pub(super) fn drain(&mut self) {
        while self.seen.try_recv().is_ok() {}
    }
}

/// The environment a deployed function has, with dummy values where no emulator is used.
pub(super) fn function_env(
    stub: SocketAddr,
    name: &str,
    names: &[(String, String)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("AWS_LAMBDA_FUNCTION_NAME", name),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_SESSION_TOKEN", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    env.push(("AWS_LAMBDA_RUNTIME_API".into(), stub.to_string()));
    // Every resource the functions read at cold start (the names from the library, so a new
    // one cannot leave the functions exiting before their first poll).
    for (k, dummy) in [
        (
            config::QUEUE_URL,
            "https://sqs.us-east-1.amazonaws.com/123456789012/bench",
        ),
        (config::SOURCES_TABLE, "bench-sources"),
        (config::SUBSCRIPTIONS_TABLE, "bench-subscriptions"),
        (config::EVENTS_TABLE, "bench-events"),
        (config::DELIVERIES_TABLE, "bench-deliveries"),
        (config::DEDUP_TABLE, "bench-dedup"),
        (config::FLOW_TABLE, "bench-flow"),
    ] {
        let v = names
            .iter()
            .find(|(n, _)| n == k)
            .map_or(dummy.to_owned(), |(_, v)| v.clone());
        env.push((k.into(), v));
    }
    env
}

pub(super) fn spawn(
    binary: &Path,
    env: &[(String, String)],
) -> std::io::Result<tokio::process::Child> {
    tokio::process::Command::new(binary)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
}

/// Exec → first poll, one run.
pub(super) async fn start_up(
    stub: &mut Stub,
    binary: &Path,
    env: &[(String, String)],
) -> Result<Duration, String> {
    stub.drain();
    let t0 = Instant::now();
    let mut child =
        spawn(binary, env).map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    let polled = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stub.seen.recv().await {
                Some(Seen::Poll(at)) => return Some(at),
                Some(_) => continue,
                None => return None,
            }
        }
    })
    .await;
    let _ = child.kill().await;
    match polled {
        Ok(Some(at)) => Ok(at - t0),
        _ => Err(format!(
            "{} did not poll the Runtime API within 10 s (exit status {:?})",
            binary.display(),
            child.try_wait().ok().flatten()
        )),
    }
}
