//! `switchboard-bench emulator`: the same load through the AWS adapters (SQS, DynamoDB)
//! against the local emulator at `AWS_ENDPOINT_URL`, on the template's tables and queue
//! (`scripts/deploy-test-stack` output). Ingest is the Lambda's handler mounted on a local
//! HTTP server; dispatch is pollers receiving from the emulator's SQS as the event source
//! mapping would. The figures are bound by the emulator's speed, not ours.

use crate::load::{self, Spec};
use crate::local::{configure, recorded};
use crate::sink::Sink;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use switchboard_cli::http_server;
use switchboard_core::adapters::aws::metering::RequestLog;
use switchboard_core::adapters::aws::SqsQueue;
use switchboard_core::api::{AdminAuth, App, Surface};
use switchboard_core::config::{AwsResources, Settings};
use switchboard_core::dispatch::{poller, Dispatcher};
use switchboard_core::state::{load_sdk_config, metered_aws_ports, Compose, Ports};
use tokio::net::TcpListener;
use tokio::sync::watch;

#[derive(clap::Args, Debug, Clone)]
pub struct EmulatorArgs {
    /// The stack description `scripts/deploy-test-stack --out` wrote (table and queue names).
    #[arg(long)]
    pub stack: PathBuf,
    #[arg(long, default_value_t = 300)]
    pub events: usize,
    #[arg(long, default_value_t = 3)]
    pub subscriptions: usize,
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Queue pollers (the event source mapping's concurrent batches).
    #[arg(long, default_value_t = 4)]
    pub workers: usize,
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
}

pub fn stack_env(path: &PathBuf) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let stack: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    stack
        .get("env")
        .and_then(|e| e.as_object())
        .cloned()
        .ok_or_else(|| format!("{}: no \"env\" object", path.display()))
}

pub async fn run(args: EmulatorArgs) -> Result<(), String> {
    exercise(args, None).await.map(|_| ())
}

/// Runs the load; with `log`, every DynamoDB and SQS request of ingest and dispatch (not of
/// the setup or the final check) is recorded there. Returns the events accepted.
pub async fn exercise(args: EmulatorArgs, log: Option<&RequestLog>) -> Result<usize, String> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    if !(endpoint.starts_with("http://127.0.0.1") || endpoint.starts_with("http://localhost")) {
        return Err(format!(
            "AWS_ENDPOINT_URL must point at the local emulator (got {endpoint:?}); scripts/bench-emulator sets it"
        ));
    }
    let env = stack_env(&args.stack)?;
    let lookup = |k: &str| env.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let names = AwsResources::from_lookup(lookup).map_err(|e| e.to_string())?;
    let settings = Settings {
        allow_private_targets: vec!["loopback".into()],
        ..Settings::default()
    };
    let sdk = load_sdk_config().await;
    let plain = Ports::aws(&sdk, &names);
    let (ports, sqs) = match log {
        Some(log) => (
            metered_aws_ports(&sdk, &names, log),
            aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(&sdk)
                    .interceptor(log.clone())
                    .build(),
            ),
        ),
        None => (plain.clone(), aws_sdk_sqs::Client::new(&sdk)),
    };
    let consumer = Arc::new(SqsQueue::new(sqs, &names.queue_url));
    let dispatcher = Arc::new(
        Dispatcher::from_settings(ports.clone(), settings.clone()).map_err(|e| e.to_string())?,
    );
    let sink = Sink::start()
        .await
        .map_err(|e| format!("cannot start the sink: {e}"))?;
    let run = load::run_id();
    let source_id = format!("bench-{run}");
    let path = configure(&plain, &source_id, sink.addr, args.subscriptions).await?;

    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot listen: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let app = Arc::new(App {
        ports: ports.clone(),
        settings,
        admin_auth: AdminAuth::Iam,
        surface: Surface::Ingest,
    });
    let (stop, stop_rx) = watch::channel(false);
    let server = tokio::spawn(http_server::run(app, listener, stop_rx.clone()));
    let pollers: Vec<_> = (0..args.workers.max(1))
        .map(|_| {
            tokio::spawn(poller::run(
                dispatcher.clone(),
                consumer.clone(),
                stop_rx.clone(),
            ))
        })
        .collect();

    let spec = Spec {
        events: args.events,
        subscriptions: args.subscriptions,
        concurrency: args.concurrency,
        timeout: Duration::from_secs(args.timeout_secs),
        rate: None,
    };
    println!(
        "switchboard-bench emulator: ingest handler + SQS + DynamoDB adapters against the emulator at {endpoint}, \
         {} pollers, {} events × {} subscriptions at concurrency {}",
        args.workers, args.events, args.subscriptions, args.concurrency
    );
    let url = format!("http://{addr}{path}");
    let outcome = load::drive(&url, load::bodies(&run, args.events), spec, &sink).await?;
    let expected = outcome.accepted * args.subscriptions;
    let recorded = recorded(
        &plain,
        &outcome.event_ids,
        expected,
        Duration::from_secs(60),
    )
    .await;
    load::print_outcome(
        "AWS adapters against the emulator (EMULATOR-BOUND: these are the emulator's speeds, not Switchboard's or AWS's)",
        &spec,
        &outcome,
    );
    println!(
        "  recorded attempts    {recorded} succeeded of {expected} expected (DynamoDB deliveries table){}",
        if recorded == expected && outcome.distinct_pairs == expected {
            " — nothing lost"
        } else {
            " — MISSING OR FAILED DELIVERIES"
        }
    );
    let _ = stop.send(true);
    let _ = server.await;
    for p in pollers {
        let _ = p.await;
    }
    sink.stop();
    if recorded != expected || outcome.distinct_pairs != expected || outcome.rejected > 0 {
        return Err("not every (event, subscription) pair was delivered and recorded".into());
    }
    Ok(outcome.accepted)
}
