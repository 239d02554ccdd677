//! `switchboard-bench flow`: what ordering and rate limiting cost against a plain
//! subscription, in one run: the `local` load three times (each on a fresh embedded serve
//! and the same loopback sink), with every subscription plain, then `ordering: call`, then
//! rate-limited, and the deliveries/s of each beside the plain one.
//!
//! Each event is its own call (the load's bodies have distinct call ids), so ordering costs
//! its lane bookkeeping and never holds one event behind another; the rate limit is set
//! above what the machine delivers, so it costs its slot reservations, not waiting.

use crate::load::{self, Spec};
use crate::local::{self, LocalArgs};
use crate::serve_side;
use crate::sink::Sink;
use std::time::Duration;
use switchboard_cli::serve;
use switchboard_core::domain::subscription::Ordering;
use switchboard_core::state::Ports;

#[derive(clap::Args, Debug, Clone)]
pub struct FlowArgs {
    #[command(flatten)]
    pub load: LocalArgs,
    /// The rate limit of the rate-limited round, per subscription (1-10000).
    #[arg(long, default_value_t = 10_000)]
    pub rate: u32,
}

#[derive(Debug, Clone, Copy)]
enum Variant {
    Plain,
    Ordered,
    RateLimited(u32),
}

impl Variant {
    fn name(self) -> String {
        match self {
            Self::Plain => "plain".into(),
            Self::Ordered => "ordering: call".into(),
            Self::RateLimited(r) => format!("rate_limit_per_second: {r}"),
        }
    }
}

/// Sets the variant's flow fields on every subscription.
async fn apply(ports: &Ports, variant: Variant) -> Result<(), String> {
    let subs = ports
        .subscriptions
        .list()
        .await
        .map_err(|e| format!("cannot list the bench subscriptions: {e}"))?;
    for mut sub in subs {
        match variant {
            Variant::Plain => continue,
            Variant::Ordered => sub.ordering = Ordering::Call,
            Variant::RateLimited(r) => sub.rate_limit_per_second = Some(r),
        }
        sub.validate().map_err(|e| e.to_string())?;
        ports
            .subscriptions
            .update(&sub)
            .await
            .map_err(|e| format!("cannot update a bench subscription: {e}"))?;
    }
    Ok(())
}

/// The flow comparison runs on one shape: the first `--store` and `--subscriptions` given.
fn shape(args: &LocalArgs) -> (&str, usize) {
    let store = args.store.first().map_or("durable", String::as_str);
    (store, args.subscriptions.first().copied().unwrap_or(3))
}

/// One round: a fresh serve, the variant's subscriptions, warm-up, the measured load;
/// deliveries/s, or an error when a pair was not delivered and recorded.
async fn round(args: &LocalArgs, variant: Variant, sink: &Sink) -> Result<f64, String> {
    let run = load::run_id();
    let (store, subscriptions) = shape(args);
    let opts = local::serve_opts(args, store, subscriptions, sink.addr);
    let (config, data_dir) = serve_side::serve_config(&opts, &run)?;
    let running = serve::start(config)
        .await
        .map_err(|e| format!("cannot start serve: {e}"))?;
    let path = local::configure(&running.ports, local::SOURCE_ID, sink.addr, subscriptions).await?;
    apply(&running.ports, variant).await?;
    let url = format!("http://{}{path}", running.addr);
    let spec = args.spec(subscriptions);
    if args.warmup > 0 {
        let warm = Spec {
            events: args.warmup,
            rate: None,
            ..spec
        };
        let bodies = load::bodies(&format!("{run}w"), args.warmup);
        load::drive(&url, bodies, warm, sink).await?;
    }
    sink.reset();
    let outcome = load::drive(&url, load::bodies(&run, spec.events), spec, sink).await?;
    let expected = outcome.accepted * subscriptions;
    let recorded = local::recorded(
        &running.ports,
        &outcome.event_ids,
        expected,
        Duration::from_secs(30),
    )
    .await;
    load::print_outcome(&format!("serve, {}", variant.name()), &spec, &outcome);
    running.stop().await;
    if let Some(dir) = data_dir {
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            eprintln!("warning: cannot remove {}: {e}", dir.display());
        }
    }
    sink.reset();
    if recorded != expected || outcome.distinct_pairs != expected || outcome.rejected > 0 {
        return Err(format!(
            "{}: {recorded} of {expected} pairs delivered and recorded",
            variant.name()
        ));
    }
    Ok(outcome.deliveries_per_sec())
}

pub async fn run(args: FlowArgs) -> Result<(), String> {
    let sink = Sink::start()
        .await
        .map_err(|e| format!("cannot start the sink: {e}"))?;
    let load = &args.load;
    println!(
        "switchboard-bench flow: serve embedded (store {}), {} events × {} subscriptions at concurrency {}, \
         plain vs ordering vs rate-limited, same run, same sink",
        shape(load).0,
        load.events.map_or("default".to_owned(), |n| n.to_string()),
        shape(load).1,
        load.concurrency.map_or("default".to_owned(), |n| n.to_string())
    );
    let variants = [
        Variant::Plain,
        Variant::Ordered,
        Variant::RateLimited(args.rate),
    ];
    let mut rates = Vec::new();
    for v in variants {
        rates.push((v, round(load, v, &sink).await?));
    }
    sink.stop();
    let plain = rates.first().map_or(1.0, |(_, r)| r.max(1e-9));
    println!("deliveries/s, and ÷ plain:");
    for (v, r) in &rates {
        println!("  {:<30} {r:>8.0}   {:.2}", v.name(), r / plain);
    }
    Ok(())
}
