//! `switchboard bench lambda`: the built `bootstrap` binaries under a minimal Lambda Runtime
//! API stub on 127.0.0.1: time from exec to the first `GET /runtime/invocation/next`
//! (repeated, interleaved with a hello-world baseline measured the same way), and the
//! dispatch function's peak memory handling one SQS batch of 10 events × 20 subscribers
//! (stores on the emulator, subscribers on a loopback sink).

use super::load::{self, Dist};
use super::local::configure;
use super::sink::Sink;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use switchboard_core::config::AwsResources;
use switchboard_core::domain::source::Provider;
use switchboard_core::domain::time::now;
use switchboard_core::domain::{Envelope, QueueMessage, RawRequest, Source, StoredEvent};
use switchboard_core::providers::{self, Incoming as ProviderRequest};
use switchboard_core::state::{load_sdk_config, Compose, Ports};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// A binary to start: label, path, extra environment.
type Measured = (String, PathBuf, Vec<(String, String)>);

const NEXT: &str = "/2018-06-01/runtime/invocation/next";

#[derive(clap::Args, Debug, Clone)]
pub struct LambdaArgs {
    /// Directory holding `<function>/bootstrap` (extracted from the zips).
    #[arg(long)]
    pub bootstrap_dir: PathBuf,
    /// A hello-world binary that polls the Runtime API once (scripts/bench-lambda builds it).
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Start-ups measured per binary.
    #[arg(long, default_value_t = 30)]
    pub runs: usize,
    /// Also measure every function with this extra variable (`KEY=VALUE`), e.g.
    /// `SSL_CERT_FILE=...` to read one CA bundle instead of a directory of certificates.
    #[arg(long)]
    pub also_with_env: Option<String>,
    /// Stack description from scripts/deploy-test-stack: enables the dispatch memory run
    /// (with AWS_ENDPOINT_URL pointing at the emulator).
    #[arg(long)]
    pub stack: Option<PathBuf>,
    /// Dispatch memory runs.
    #[arg(long, default_value_t = 3)]
    pub rss_runs: usize,
    #[arg(long, default_value_t = 10)]
    pub batch_events: usize,
    #[arg(long, default_value_t = 20)]
    pub batch_subscribers: usize,
}

enum Seen {
    Poll(Instant),
    Response(Instant, Bytes),
    Error(Bytes),
}

/// The Runtime API: `GET next` hands out the queued invocation (if any) or holds the poll;
/// `POST .../response` and `.../error` are reported.
struct Stub {
    addr: SocketAddr,
    invocation: Arc<Mutex<Option<(String, Bytes)>>>,
    seen: mpsc::UnboundedReceiver<Seen>,
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
    async fn start() -> Result<Self, String> {
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

    fn queue(&self, id: &str, payload: Bytes) {
        *self
            .invocation
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((id.to_owned(), payload));
    }

    fn drain(&mut self) {
        while self.seen.try_recv().is_ok() {}
    }
}

/// The environment a deployed function has, with dummy values where no emulator is used.
fn function_env(stub: SocketAddr, name: &str, names: &[(String, String)]) -> Vec<(String, String)> {
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
    for (k, dummy) in [
        (
            "SWITCHBOARD_QUEUE_URL",
            "https://sqs.us-east-1.amazonaws.com/123456789012/bench",
        ),
        ("SWITCHBOARD_SOURCES_TABLE", "bench-sources"),
        ("SWITCHBOARD_SUBSCRIPTIONS_TABLE", "bench-subscriptions"),
        ("SWITCHBOARD_EVENTS_TABLE", "bench-events"),
        ("SWITCHBOARD_DELIVERIES_TABLE", "bench-deliveries"),
        ("SWITCHBOARD_DEDUP_TABLE", "bench-dedup"),
    ] {
        let v = names
            .iter()
            .find(|(n, _)| n == k)
            .map_or(dummy.to_owned(), |(_, v)| v.clone());
        env.push((k.into(), v));
    }
    env
}

fn spawn(binary: &Path, env: &[(String, String)]) -> std::io::Result<tokio::process::Child> {
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
async fn start_up(
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

/// One stored event like ingest makes from the Hipcall hangup fixture, with a unique call id.
pub(super) fn stored_event(body: Bytes) -> StoredEvent {
    let t = now();
    let source = Source {
        id: "bench".into(),
        provider: Provider::Hipcall,
        verification: switchboard_core::domain::Verification::None,
        timezone: None,
        body_limit_bytes: None,
        ip_allow: vec![],
        mapping: None,
        description: None,
        created_at: t,
        updated_at: t,
    };
    let parsed = providers::parse(
        &source,
        &ProviderRequest {
            method: "POST",
            content_type: Some("application/json"),
            query: None,
            body: &body,
        },
    );
    StoredEvent {
        envelope: Envelope {
            id: switchboard_core::domain::ids::event_id(),
            event_type: parsed.event_type,
            provider_event: parsed.provider_event,
            source: String::new(),
            occurred_at: parsed.occurred_at,
            received_at: t,
            call: parsed.call,
            data: parsed.data,
            raw_unparsed: parsed.unparsed,
        },
        raw: RawRequest {
            method: "POST".into(),
            content_type: Some("application/json".into()),
            query: None,
            body,
        },
        dedup_key: None,
    }
}

/// An SQS event as Lambda's event source mapping sends it.
fn sqs_event(source_id: &str, bodies: Vec<Bytes>, queue_arn: &str) -> Result<Bytes, String> {
    let mut records = Vec::new();
    for (i, body) in bodies.into_iter().enumerate() {
        let mut event = stored_event(body);
        event.envelope.source = source_id.to_owned();
        let message = QueueMessage::Event {
            event: Box::new(event),
        }
        .to_json()
        .map_err(|e| e.to_string())?;
        records.push(serde_json::json!({
            "messageId": format!("bench-{i}"),
            "receiptHandle": format!("receipt-{i}"),
            "body": message,
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": "1700000000000",
                "SenderId": "AIDAEXAMPLE",
                "ApproximateFirstReceiveTimestamp": "1700000000001"
            },
            "messageAttributes": {},
            "md5OfBody": "00000000000000000000000000000000",
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": "us-east-1"
        }));
    }
    serde_json::to_vec(&serde_json::json!({ "Records": records }))
        .map(Bytes::from)
        .map_err(|e| e.to_string())
}

fn proc_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

struct BatchRun {
    hwm_kib: u64,
    duration: Duration,
    delivered: usize,
    failures: String,
}

async fn dispatch_batch(
    stub: &mut Stub,
    binary: &Path,
    env: &[(String, String)],
    payload: Bytes,
    sink: &Sink,
    expected: usize,
) -> Result<BatchRun, String> {
    stub.drain();
    sink.reset();
    stub.queue("bench-invocation", payload);
    let mut child =
        spawn(binary, env).map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    let pid = child.id().unwrap_or_default();
    let mut served = None;
    let result = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            match stub.seen.recv().await {
                Some(Seen::Poll(at)) => {
                    // The first poll takes the batch; the second means the batch is done.
                    if served.is_none() {
                        served = Some(at);
                    }
                }
                Some(Seen::Response(at, body)) => return Ok((at, body)),
                Some(Seen::Error(body)) => {
                    return Err(format!(
                        "the function reported an error: {}",
                        String::from_utf8_lossy(&body)
                    ))
                }
                None => return Err("the stub stopped".to_owned()),
            }
        }
    })
    .await;
    // The process now waits in its next poll: its high-water mark covers the whole batch.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let hwm = proc_kib(pid, "VmHWM:");
    let _ = child.kill().await;
    let (at, body) = result.map_err(|_| "the batch did not finish within 120 s".to_owned())??;
    let delivered = sink.requests();
    let response: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let failures = response
        .get("batchItemFailures")
        .map(|f| f.to_string())
        .unwrap_or_else(|| "?".into());
    if delivered < expected {
        eprintln!("warning: the sink received {delivered} of {expected} deliveries");
    }
    Ok(BatchRun {
        hwm_kib: hwm.ok_or("cannot read the function's /proc status")?,
        duration: served.map_or(Duration::ZERO, |s| at.saturating_duration_since(s)),
        delivered,
        failures,
    })
}

pub async fn run(args: LambdaArgs) -> Result<(), String> {
    let mut stub = Stub::start().await?;
    let functions = ["ingest", "dispatch", "admin"];
    let mut binaries: Vec<Measured> = functions
        .iter()
        .map(|f| {
            (
                f.to_string(),
                args.bootstrap_dir.join(f).join("bootstrap"),
                Vec::new(),
            )
        })
        .filter(|(_, p, _)| p.is_file())
        .collect();
    if binaries.is_empty() {
        return Err(format!(
            "no <function>/bootstrap under {}; scripts/bench-lambda extracts them from the zips",
            args.bootstrap_dir.display()
        ));
    }
    if let Some(kv) = &args.also_with_env {
        let (k, v) = kv
            .split_once('=')
            .ok_or("--also-with-env takes KEY=VALUE")?;
        let variants: Vec<_> = binaries
            .iter()
            .map(|(name, path, _)| {
                (
                    format!("{name} +{k}"),
                    path.clone(),
                    vec![(k.to_owned(), v.to_owned())],
                )
            })
            .collect();
        binaries.extend(variants);
    }
    if let Some(b) = &args.baseline {
        binaries.push(("hello (baseline)".into(), b.clone(), Vec::new()));
    }
    let names: Vec<(String, String)> = match &args.stack {
        Some(p) => super::emulator::stack_env(p)?
            .into_iter()
            .filter_map(|(k, v)| Some((k, v.as_str()?.to_owned())))
            .collect(),
        None => Vec::new(),
    };
    let passthrough: Vec<(String, String)> = std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .map(|v| ("AWS_ENDPOINT_URL".to_owned(), v))
        .into_iter()
        .collect();

    println!(
        "start-up: exec → first GET {NEXT} on a local Runtime API stub, {} runs each, interleaved",
        args.runs
    );
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); binaries.len()];
    for _ in 0..args.runs.max(1) {
        for (i, (name, path, extra)) in binaries.iter().enumerate() {
            let mut env = function_env(stub.addr, name, &names);
            env.extend(extra.iter().cloned());
            times[i].push(start_up(&mut stub, path, &env).await?);
        }
    }
    let baseline_median = args
        .baseline
        .as_ref()
        .map(|_| Dist::new(times[binaries.len() - 1].clone()).pct(50.0));
    for ((name, path, _), t) in binaries.iter().zip(times) {
        let d = Dist::new(t);
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or_default();
        let ratio = baseline_median
            .map(|b| {
                format!(
                    "  median ÷ baseline {:.2}",
                    d.pct(50.0).as_secs_f64() / b.as_secs_f64().max(1e-9)
                )
            })
            .unwrap_or_default();
        println!(
            "  {name:<24} median {}  p90 {}  min {}  ({:.2} MiB binary){ratio}",
            load::ms(d.pct(50.0)),
            load::ms(d.pct(90.0)),
            load::ms(d.pct(0.0)),
            size as f64 / 1_048_576.0,
        );
    }
    println!("  target: under 20 ms (DESIGN.md)");

    let Some(stack) = &args.stack else {
        println!("dispatch memory: skipped (no --stack; scripts/bench-lambda runs it against the emulator)");
        return Ok(());
    };
    if passthrough.is_empty() {
        return Err("--stack needs AWS_ENDPOINT_URL pointing at the emulator".into());
    }
    let dispatch = args.bootstrap_dir.join("dispatch").join("bootstrap");
    let resources =
        AwsResources::from_lookup(|k| names.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
            .map_err(|e| format!("{}: {e}", stack.display()))?;
    let sdk = load_sdk_config().await;
    let ports = Ports::aws(&sdk, &resources);
    let sink = Sink::start()
        .await
        .map_err(|e| format!("cannot start the sink: {e}"))?;
    let run = load::run_id();
    let source_id = format!("bench-{run}");
    configure(&ports, &source_id, sink.addr, args.batch_subscribers).await?;
    let mut env = function_env(stub.addr, "dispatch", &names);
    env.extend(passthrough);
    env.retain(|(k, _)| k != "SWITCHBOARD_ALLOW_PRIVATE_TARGETS");
    env.push((
        "SWITCHBOARD_ALLOW_PRIVATE_TARGETS".into(),
        "loopback".into(),
    ));
    env.retain(|(k, _)| k != "AWS_LAMBDA_FUNCTION_MEMORY_SIZE");
    env.push(("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), "256".into()));
    let expected = args.batch_events * args.batch_subscribers;
    println!(
        "dispatch memory: one SQS batch of {} events × {} subscribers per run (stores on the emulator, loopback sink), {} runs",
        args.batch_events, args.batch_subscribers, args.rss_runs
    );
    let mut peaks = Vec::new();
    for r in 0..args.rss_runs.max(1) {
        let payload = sqs_event(
            &source_id,
            load::bodies(&format!("{run}r{r}"), args.batch_events),
            "arn:aws:sqs:us-east-1:123456789012:bench",
        )?;
        let b = dispatch_batch(&mut stub, &dispatch, &env, payload, &sink, expected).await?;
        println!(
            "  run {}: peak RSS (VmHWM) {:.1} MiB, batch took {} (emulator-bound), {} of {expected} deliveries, batchItemFailures {}",
            r + 1,
            b.hwm_kib as f64 / 1024.0,
            load::ms(b.duration),
            b.delivered,
            b.failures
        );
        peaks.push(b.hwm_kib);
    }
    peaks.sort_unstable();
    let max = peaks.last().copied().unwrap_or_default();
    println!(
        "  peak RSS max {:.1} MiB over {} runs (target: under 64 MB; the function is configured with 256 MB)",
        max as f64 / 1024.0,
        peaks.len()
    );
    sink.stop();
    Ok(())
}
