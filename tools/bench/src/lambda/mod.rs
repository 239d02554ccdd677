//! `switchboard-bench lambda`: the built `bootstrap` binaries under a minimal Lambda Runtime
//! API stub on 127.0.0.1: time from exec to the first `GET /runtime/invocation/next`
//! (repeated, interleaved with a hello-world baseline measured the same way), and the
//! dispatch function's peak memory handling one SQS batch of 10 events × 20 subscribers
//! (stores on the emulator, subscribers on a loopback sink).

mod batch;
mod stub;

use crate::load::{self, Dist};
use crate::local::configure;
use crate::sink::Sink;
use batch::{dispatch_batch, sqs_event};
use std::path::PathBuf;
use std::time::Duration;
use stub::{function_env, start_up, Stub, NEXT};
use switchboard_core::config::AwsResources;
use switchboard_core::state::{load_sdk_config, Compose, Ports};

/// A binary to start: label, path, extra environment.
type Measured = (String, PathBuf, Vec<(String, String)>);

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
        Some(p) => crate::emulator::stack_env(p)?
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
    println!("  target: under 20 ms from exec to the first poll");

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
