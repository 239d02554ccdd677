//! `switchboard-bench local`: `serve` embedded in this process, a loopback sink, the load,
//! then the baseline against the same sink in the same run.

use crate::load::{self, Spec};
use crate::serve_side::{ServeOpts, ServeSide};
use crate::sink::{Sample, Sink};
use std::net::SocketAddr;
use std::time::Duration;
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
    /// Events to push per run [default: 20,000 with one subscription, 10,000 with more].
    #[arg(long)]
    pub events: Option<usize>,
    /// Subscriptions every event fans out to, one run per value (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "3,1")]
    pub subscriptions: Vec<usize>,
    /// Ingest requests in flight [default: 32 with one subscription, 64 with more]. The
    /// baselines use 64 connections.
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Where serve keeps its data, one run per value: `durable` (the on-disk SQLite store,
    /// in a fresh temporary directory removed afterwards) and/or `memory`.
    #[arg(long, value_delimiter = ',', default_value = "durable,memory")]
    pub store: Vec<String>,
    /// Offer events at this many per second instead of as fast as serve accepts them (open
    /// loop, `--concurrency` still caps those in flight): below the rate delivery sustains,
    /// the backlog at the last 202 and the end-to-end latency stay small.
    #[arg(long)]
    pub events_per_sec: Option<f64>,
    /// serve's queue pollers.
    #[arg(long, default_value_t = 8)]
    pub workers: usize,
    /// serve's concurrent deliveries per batch.
    #[arg(long, default_value_t = 32)]
    pub delivery_concurrency: usize,
    /// Give up waiting for deliveries after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
    /// Events of a warm-up round before each measured one (connections, allocator).
    #[arg(long, default_value_t = 500)]
    pub warmup: usize,
    /// Seconds of each `wrk` sample against the sink when `wrk` is installed (0: skip): one
    /// before and one after each measured run (its ratio is to their mean: the machine's
    /// speed drifts between runs), and one at the end.
    #[arg(long, default_value_t = 3)]
    pub wrk_secs: u64,
    /// The sink: `nginx` (when installed; else the built-in one) or `builtin`.
    #[arg(long, default_value = "nginx")]
    pub sink: String,
    /// Run serve inside this process instead of a process of its own (its peak RSS is then
    /// serve's and the load generator's together).
    #[arg(long)]
    pub in_process: bool,
}

impl LocalArgs {
    /// The measured load of a run with `subscriptions`: the defaults of `--events` and
    /// `--concurrency` depend on the fan-out.
    pub(crate) fn spec(&self, subscriptions: usize) -> Spec {
        let one = subscriptions <= 1;
        Spec {
            events: self.events.unwrap_or(if one { 20_000 } else { 10_000 }),
            subscriptions,
            concurrency: self.concurrency.unwrap_or(if one { 32 } else { 64 }),
            timeout: Duration::from_secs(self.timeout_secs),
            rate: self.events_per_sec,
        }
    }
}

/// Connections of the baselines (wrk, bare client): what saturates the sink here.
const BASELINE_CONNECTIONS: usize = 64;

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

/// How serve runs for one measured run of `args`.
pub(crate) fn serve_opts(
    args: &LocalArgs,
    store: &str,
    subscriptions: usize,
    sink: SocketAddr,
) -> ServeOpts {
    ServeOpts {
        store: store.to_owned(),
        subscriptions,
        sink,
        workers: args.workers,
        delivery_concurrency: args.delivery_concurrency,
    }
}

/// One run's figures for the summary.
struct RunFigures {
    label: String,
    deliveries_per_sec: f64,
    /// wrk's requests/s just before and just after the run (those it could measure).
    wrk_beside: Vec<f64>,
    /// serve's own peak RSS (when it ran in a process of its own).
    peak_rss_kib: Option<u64>,
    ok: bool,
}

/// A delivery as serve sends it, for the baselines when the sink (nginx) keeps no bodies:
/// the envelope of an accepted event, signed the same way.
pub(crate) async fn rebuilt_sample(ports: &Ports, event_id: &str) -> Option<Sample> {
    let event = ports.events.get(event_id).await.ok()??;
    let body = bytes::Bytes::from(serde_json::to_vec(&event.envelope).ok()?);
    let msg_id = format!(
        "{event_id}_{}",
        switchboard_core::domain::ids::subscription_id()
    );
    let timestamp = now().timestamp();
    let secret = switchboard_core::delivery::signing::generate_secret();
    let signature = switchboard_core::delivery::signing::sign(&secret, &msg_id, timestamp, &body);
    Some(Sample {
        path: "/s0".into(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("webhook-id".into(), msg_id),
            ("webhook-timestamp".into(), timestamp.to_string()),
            ("webhook-signature".into(), signature),
        ],
        body,
    })
}

/// One measured run: a fresh serve with `store`, `subscriptions` subscriptions to the sink.
async fn run_one(
    args: &LocalArgs,
    sink: &Sink,
    store: &str,
    subscriptions: usize,
) -> Result<(RunFigures, Option<Sample>), String> {
    let run = load::run_id();
    let opts = serve_opts(args, store, subscriptions, sink.addr);
    let mut serve = ServeSide::start(&opts, !args.in_process).await?;
    let url = serve.url().to_owned();
    let spec = args.spec(subscriptions);
    println!(
        "\n== store {store}, {} events × {subscriptions} subscription(s) at concurrency {} ({} pollers × {} deliveries in flight)",
        spec.events, spec.concurrency, args.workers, args.delivery_concurrency,
    );
    sink.reset();
    let mut wrk_beside = Vec::new();
    if args.warmup > 0 {
        let warm = Spec {
            events: args.warmup,
            rate: None,
            ..spec
        };
        let warmed = load::drive(
            &url,
            load::bodies(&format!("{run}w"), args.warmup),
            warm,
            sink,
        )
        .await?;
        // wrk just before the load, serve idle, with a delivery of the warm-up as its body.
        if let (true, Some(id)) = (args.wrk_secs > 0, warmed.event_ids.first()) {
            if let Some(sample) = serve.sample(id).await? {
                wrk_beside.extend(wrk_sample(sink, &sample, args.wrk_secs, "before the run"));
            }
        }
        sink.reset();
    }
    let cpu_before = serve.cpu_time();
    let outcome = load::drive(&url, load::bodies(&run, spec.events), spec, sink).await?;
    let cpu = cpu_before
        .zip(serve.cpu_time())
        .map(|(before, after)| after.saturating_sub(before));
    let expected = outcome.accepted * subscriptions;
    // Every accepted event's attempts, read back from serve's delivery store.
    let report = serve.finish(&outcome.event_ids, expected).await?;
    let recorded = report.recorded;
    let sample = sink.sample().or(report.sample);
    load::print_outcome("switchboard serve", &spec, &outcome);
    let ok = recorded == expected && outcome.distinct_pairs == expected && outcome.rejected == 0;
    println!(
        "  recorded attempts    {recorded} succeeded of {expected} expected{}",
        if ok {
            " — nothing lost"
        } else {
            " — MISSING OR FAILED DELIVERIES"
        }
    );
    if let Some(cpu) = cpu.filter(|_| outcome.delivered > 0) {
        println!(
            "  serve's CPU time     {:.2} s over the run: {:.0} µs per delivery (user + system, its whole process)",
            cpu.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / outcome.delivered as f64
        );
    }
    if let Some(kib) = report.peak_rss_kib {
        println!(
            "  serve's peak RSS     {:.1} MiB (VmHWM of serve's own process)",
            kib as f64 / 1024.0
        );
    }
    if report.left > 0 {
        println!(
            "  note: {} message(s) were still queued when serve stopped",
            report.left
        );
    }
    if let Some(size) = report.data_bytes {
        println!(
            "  data directory       {:.1} MiB on disk after the run",
            size as f64 / 1_048_576.0
        );
    }
    // wrk just after the load, serve stopped.
    if let (true, Some(sample)) = (args.wrk_secs > 0, &sample) {
        wrk_beside.extend(wrk_sample(sink, sample, args.wrk_secs, "after the run"));
    }
    let figures = RunFigures {
        label: format!("{store}, {subscriptions} sub"),
        deliveries_per_sec: outcome.deliveries_per_sec(),
        wrk_beside,
        peak_rss_kib: report.peak_rss_kib,
        ok,
    };
    Ok((figures, sample))
}

/// One wrk sample against the sink, printed as part of a run.
fn wrk_sample(sink: &Sink, sample: &Sample, secs: u64, when: &str) -> Option<f64> {
    sink.reset();
    // wrk blocks: off the runtime's worker (serve shares it with --in-process).
    let rate = tokio::task::block_in_place(|| load::wrk(sink, sample, BASELINE_CONNECTIONS, secs));
    if let Some(rate) = rate {
        println!("  wrk {when:<16} {rate:.0} requests/s ({secs} s, same sink and body)");
    }
    rate
}

/// The mean of a run's wrk samples, if any.
fn mean(rates: &[f64]) -> Option<f64> {
    (!rates.is_empty()).then(|| rates.iter().sum::<f64>() / rates.len() as f64)
}

fn print_memory(after: &str) {
    match load::memory_kib() {
        Some((hwm, rss)) => println!(
            "peak RSS (VmHWM) after {after}: {:.1} MiB for the whole process (serve + load generator); RSS now {:.1} MiB",
            hwm as f64 / 1024.0,
            rss as f64 / 1024.0
        ),
        None => println!("peak RSS unavailable (no /proc/self/status)"),
    }
}

pub async fn run(args: LocalArgs) -> Result<(), String> {
    let sink = match args.sink.as_str() {
        "nginx" => Sink::nginx_or_builtin().await?,
        "builtin" => Sink::start()
            .await
            .map_err(|e| format!("cannot start the sink: {e}"))?,
        other => return Err(format!("--sink must be nginx or builtin, not {other:?}")),
    };
    println!(
        "switchboard-bench local: serve embedded, sink {} on {}; {} worker threads",
        sink.describe(),
        sink.addr,
        tokio_threads(),
    );
    // Durable runs first, so the peak RSS printed after them is theirs alone.
    let mut stores = args.store.clone();
    stores.sort_by_key(|s| s != "durable");
    let mut figures = Vec::new();
    let mut sample = None;
    let mut last_store = None;
    for store in &stores {
        if args.in_process && last_store.is_some_and(|l: &str| l != store.as_str()) {
            print_memory(&format!("the {} runs", last_store.unwrap_or_default()));
        }
        for &subs in &args.subscriptions {
            let (f, s) = run_one(&args, &sink, store, subs.max(1)).await?;
            figures.push(f);
            sample = sample.or(s);
        }
        last_store = Some(store.as_str());
    }
    if args.in_process {
        print_memory("every run");
    }

    let Some(sample) = sample else {
        return Err("the sink received no delivery to use as the baseline's body".into());
    };
    sink.reset();
    let total = 60_000;
    let bare = load::baseline(&sink, &sample, total, BASELINE_CONNECTIONS).await?;
    println!(
        "\nbaselines, same sink, same {}-byte body and webhook headers, {BASELINE_CONNECTIONS} connections:",
        sample.body.len(),
    );
    println!("  bare pooled reqwest client  {bare:.0} requests/s ({total} requests)");
    let mut wrk = None;
    if args.wrk_secs > 0 {
        sink.reset();
        wrk = load::wrk(&sink, &sample, BASELINE_CONNECTIONS, args.wrk_secs);
        match wrk {
            Some(rate) => println!(
                "  wrk (1 thread, {} s)          {rate:.0} requests/s",
                args.wrk_secs
            ),
            None => println!("  wrk                  not installed (apt-get install wrk), skipped"),
        }
    }
    sink.stop();
    println!("\nsummary (deliveries/s ÷ the baselines' requests/s, same run; \"beside\": the mean of wrk just before and just after that run):");
    println!("  | run | deliveries/s | wrk beside | ÷ wrk beside | ÷ wrk at the end | ÷ bare client | × a conventional server (~{CONVENTIONAL_DELIVERIES_PER_SEC:.0}/s) | serve's peak RSS |");
    for f in &figures {
        let ratio = |base: f64| f.deliveries_per_sec / base.max(1e-9);
        let beside = mean(&f.wrk_beside);
        println!(
            "  | {} | {:.0} | {} | {} | {} | {:.3} | {:.1}× | {} |{}",
            f.label,
            f.deliveries_per_sec,
            beside.map_or("-".into(), |w| format!("{w:.0}")),
            beside.map_or("-".into(), |w| format!("{:.3}", ratio(w))),
            wrk.map_or("-".into(), |w| format!("{:.3}", ratio(w))),
            ratio(bare),
            f.deliveries_per_sec / CONVENTIONAL_DELIVERIES_PER_SEC,
            f.peak_rss_kib
                .map_or("-".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0)),
            if f.ok { "" } else { " NOT ALL DELIVERED" }
        );
    }
    if figures.iter().any(|f| !f.ok) {
        return Err("not every (event, subscription) pair was delivered and recorded".into());
    }
    Ok(())
}

fn tokio_threads() -> usize {
    tokio::runtime::Handle::current().metrics().num_workers()
}
