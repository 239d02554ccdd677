//! `switchboard-bench local`: `serve` embedded in this process, a loopback sink, the load,
//! then the baseline against the same sink in the same run.

use crate::load::{self, Spec};
use crate::sink::Sink;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use switchboard_cli::serve::{self, ServeConfig, Store};
use switchboard_core::domain::attempt::AttemptStatus;
use switchboard_core::domain::source::{Provider, TokenLocation};
use switchboard_core::domain::time::now;
use switchboard_core::domain::{Source, Subscription, Verification};
use switchboard_core::redact::Secret;
use switchboard_core::state::Ports;

/// The reference the throughput target is set against: a conventional self-hosted webhook
/// server (Postgres + Redis) on these machines, about 700 deliveries/s; the target is at least
/// ten times that. Not measured by this command.
pub const CONVENTIONAL_DELIVERIES_PER_SEC: f64 = 700.0;

#[derive(clap::Args, Debug, Clone)]
pub struct LocalArgs {
    /// Events to push.
    #[arg(long, default_value_t = 10_000)]
    pub events: usize,
    /// Subscriptions every event fans out to.
    #[arg(long, default_value_t = 3)]
    pub subscriptions: usize,
    /// Ingest requests in flight (and the baseline's requests in flight).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Where serve keeps its data: `memory`, or `durable` (the on-disk SQLite store, in a
    /// fresh temporary directory removed afterwards).
    #[arg(long, default_value = "memory")]
    pub store: String,
    /// serve's queue pollers.
    #[arg(long, default_value_t = 8)]
    pub workers: usize,
    /// serve's concurrent deliveries per batch.
    #[arg(long, default_value_t = 32)]
    pub delivery_concurrency: usize,
    /// Give up waiting for deliveries after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
    /// Events of a warm-up round before the measured one (connections, allocator).
    #[arg(long, default_value_t = 500)]
    pub warmup: usize,
    /// Seconds of `wrk` against the sink when `wrk` is installed (0: skip).
    #[arg(long, default_value_t = 5)]
    pub wrk_secs: u64,
}

pub const SOURCE_ID: &str = "bench-hipcall";
const SOURCE_TOKEN: &str = "bench-path-token";

/// The source the load posts to (Hipcall, token in the path) and `count` subscriptions to the
/// sink, each wanting every call event in the envelope format.
pub async fn configure(
    ports: &Ports,
    source_id: &str,
    sink: SocketAddr,
    count: usize,
) -> Result<String, String> {
    let t = now();
    let source = Source {
        id: source_id.into(),
        provider: Provider::Hipcall,
        verification: Verification::Token {
            token: Secret::new(SOURCE_TOKEN),
            location: TokenLocation::Path,
            name: None,
        },
        timezone: None,
        body_limit_bytes: None,
        ip_allow: vec![],
        mapping: None,
        description: Some("switchboard bench".into()),
        created_at: t,
        updated_at: t,
    };
    ports
        .sources
        .create(&source)
        .await
        .map_err(|e| format!("cannot create the bench source: {e}"))?;
    for i in 0..count {
        let sub = Subscription {
            url: format!("http://{sink}/s{i}"),
            event_types: vec!["call.*".into()],
            source: Some(source_id.into()),
            description: Some("switchboard bench".into()),
            ..Subscription::blank(
                switchboard_core::domain::ids::subscription_id(),
                Secret::new(switchboard_core::delivery::signing::generate_secret()),
                t,
            )
        };
        ports
            .subscriptions
            .create(&sub)
            .await
            .map_err(|e| format!("cannot create a bench subscription: {e}"))?;
    }
    Ok(format!("/hooks/{source_id}/{SOURCE_TOKEN}"))
}

/// Succeeded attempts recorded for the given events, waiting up to `timeout` for the last
/// records (an attempt is recorded after its response, so after the sink saw it).
pub async fn recorded(
    ports: &Ports,
    event_ids: &[String],
    want: usize,
    timeout: Duration,
) -> usize {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let mut ok = 0;
        for id in event_ids {
            if let Ok(latest) = ports.deliveries.latest_by_subscription(id).await {
                ok += latest
                    .iter()
                    .filter(|(_, _, s)| *s == AttemptStatus::Succeeded)
                    .count();
            }
        }
        if ok >= want || tokio::time::Instant::now() >= deadline {
            return ok;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// serve's configuration for the run; for the durable store, also the fresh data directory
/// (removed at the end).
pub(crate) fn serve_config(
    args: &LocalArgs,
    run: &str,
) -> Result<(ServeConfig, Option<PathBuf>), String> {
    let addr: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut config = ServeConfig::new(addr, Secret::new(load::run_id()));
    config.workers = args.workers.max(1);
    config.settings.delivery_concurrency = args.delivery_concurrency.clamp(1, 1024);
    match args.store.as_str() {
        "memory" => {
            config.store = Store::Memory;
            Ok((config, None))
        }
        "durable" => {
            let dir = std::env::temp_dir().join(format!("switchboard-bench-{run}"));
            config.store = Store::durable(&dir);
            Ok((config, Some(dir)))
        }
        other => Err(format!("--store must be memory or durable, not {other:?}")),
    }
}

pub async fn run(args: LocalArgs) -> Result<(), String> {
    let run = load::run_id();
    let (config, data_dir) = serve_config(&args, &run)?;
    let sink = Sink::start()
        .await
        .map_err(|e| format!("cannot start the sink: {e}"))?;
    let running = serve::start(config)
        .await
        .map_err(|e| format!("cannot start serve: {e}"))?;
    let path = configure(&running.ports, SOURCE_ID, sink.addr, args.subscriptions).await?;
    let url = format!("http://{}{path}", running.addr);
    let spec = Spec {
        events: args.events,
        subscriptions: args.subscriptions,
        concurrency: args.concurrency,
        timeout: Duration::from_secs(args.timeout_secs),
    };
    println!(
        "switchboard-bench local: serve embedded (store {}, {} pollers × {} deliveries in flight), \
         {} events × {} subscriptions at concurrency {}, loopback sink; {} worker threads",
        args.store,
        args.workers,
        args.delivery_concurrency,
        args.events,
        args.subscriptions,
        args.concurrency,
        tokio_threads(),
    );
    if args.warmup > 0 {
        let warm = Spec {
            events: args.warmup,
            ..spec
        };
        load::drive(
            &url,
            load::bodies(&format!("{run}w"), args.warmup),
            warm,
            &sink,
        )
        .await?;
        sink.reset();
    }
    let outcome = load::drive(&url, load::bodies(&run, args.events), spec, &sink).await?;
    let memory = load::memory_kib();
    let sample = sink.sample();
    let expected = outcome.accepted * args.subscriptions;
    // Every accepted event's attempts, read back from serve's delivery store.
    let event_ids = outcome.event_ids.clone();
    let recorded = recorded(
        &running.ports,
        &event_ids,
        expected,
        Duration::from_secs(30),
    )
    .await;
    load::print_outcome("switchboard serve (embedded)", &spec, &outcome);
    println!(
        "  recorded attempts    {recorded} succeeded of {expected} expected{}",
        if recorded == expected && outcome.distinct_pairs == expected && outcome.rejected == 0 {
            " — nothing lost"
        } else {
            " — MISSING OR FAILED DELIVERIES"
        }
    );
    match memory {
        Some((hwm, rss)) => println!(
            "  peak RSS (VmHWM)     {:.1} MiB for the whole process (serve + load generator + sink); RSS now {:.1} MiB",
            hwm as f64 / 1024.0,
            rss as f64 / 1024.0
        ),
        None => println!("  peak RSS             unavailable (no /proc/self/status)"),
    }
    let left = running.stop().await;
    if left > 0 {
        println!("  note: {left} message(s) were still queued when serve stopped");
    }
    if let Some(dir) = &data_dir {
        let size: u64 = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or_default();
        println!(
            "  data directory       {:.1} MiB on disk after the run",
            size as f64 / 1_048_576.0
        );
        if let Err(e) = std::fs::remove_dir_all(dir) {
            eprintln!("warning: cannot remove {}: {e}", dir.display());
        }
    }

    let Some(sample) = sample else {
        return Err("the sink received no delivery to use as the baseline's body".into());
    };
    sink.reset();
    let total = expected.max(1);
    let bare = load::baseline(&sink, &sample, total, args.concurrency).await?;
    let ours = outcome.deliveries_per_sec();
    println!(
        "baseline: bare pooled reqwest client, same {}-byte body and webhook headers, same sink, concurrency {}",
        sample.body.len(),
        args.concurrency
    );
    println!("  requests/s           {bare:.0} ({total} requests)");
    println!(
        "  ratio                switchboard deliveries/s ÷ bare client requests/s = {:.2} (target ≥ 0.50)",
        ours / bare.max(1e-9)
    );
    println!(
        "  vs conventional      {:.1}× the ~{CONVENTIONAL_DELIVERIES_PER_SEC:.0} deliveries/s of a conventional webhook server (not measured here; target ≥ 10×)",
        ours / CONVENTIONAL_DELIVERIES_PER_SEC
    );
    if args.wrk_secs > 0 {
        sink.reset();
        match load::wrk(&sink, &sample, args.concurrency, args.wrk_secs) {
            Some(rate) => println!(
                "  wrk (1 thread, {} connections, {} s) {rate:.0} requests/s; switchboard ÷ wrk = {:.2}",
                args.concurrency,
                args.wrk_secs,
                ours / rate.max(1e-9)
            ),
            None => println!("  wrk                  not installed (apt-get install wrk), skipped"),
        }
    }
    sink.stop();
    if recorded != expected || outcome.distinct_pairs != expected || outcome.rejected > 0 {
        return Err("not every (event, subscription) pair was delivered and recorded".into());
    }
    Ok(())
}

fn tokio_threads() -> usize {
    tokio::runtime::Handle::current().metrics().num_workers()
}
