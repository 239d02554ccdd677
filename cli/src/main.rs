//! `switchboard`: run everything on one machine (`serve`), or operate a deployment.

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::process::ExitCode;
use switchboard_cli::ops;
use switchboard_cli::serve::{self, ServeConfig};
use switchboard_core::redact::Secret;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Webhook relay for telephony and CRM events"
)]
#[command(
    after_help = "Exit codes: 0 success; 1 the API answered an error (4xx/5xx, its message on stderr); \
2 usage or connection problems (bad flags, no endpoint or credentials, API unreachable)."
)]
struct Cli {
    #[command(flatten)]
    global: ops::Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest, admin API and delivery on one port, with no AWS at all.
    Serve(ServeArgs),
    /// Benchmarks: throughput, latency, memory, start-up and cost (docs/performance.md).
    #[command(subcommand)]
    Bench(switchboard_cli::bench::BenchCommand),
    #[command(flatten)]
    Ops(Box<ops::OpsCommand>),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SWITCHBOARD_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Bearer token for the admin API; a random one is generated when absent.
    #[arg(long, env = "SWITCHBOARD_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Directory for the on-disk store (reserved: this version keeps everything in memory).
    #[arg(long, env = "SWITCHBOARD_DATA_DIR")]
    data_dir: Option<std::path::PathBuf>,
    /// Keep everything in memory (the only store in this version).
    #[arg(long)]
    memory: bool,
    /// Concurrent deliveries per batch.
    #[arg(long, env = "SWITCHBOARD_DELIVERY_CONCURRENCY", default_value_t = 32)]
    delivery_concurrency: usize,
}

fn random_token() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..32)
        .map(|_| {
            let n: u8 = rng.gen_range(0..36);
            char::from_digit(u32::from(n), 36).unwrap_or('x')
        })
        .collect()
}

async fn run_serve(args: ServeArgs) -> ExitCode {
    let token = args.admin_token.unwrap_or_else(random_token);
    let mut config = ServeConfig::new(args.listen, Secret::new(token.clone()));
    config.settings.delivery_concurrency = args.delivery_concurrency.clamp(1, 1024);
    if args.data_dir.is_some() && !args.memory {
        eprintln!("note: --data-dir is reserved for the on-disk store; this version keeps everything in memory");
    }
    let running = match serve::start(config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    println!("Switchboard listening on http://{}", running.addr);
    println!(
        "  provider webhooks: http://{}/hooks/<source-id>",
        running.addr
    );
    println!("  admin API:         http://{}/admin", running.addr);
    println!("  admin token:       {token}");
    println!("Press Ctrl-C to drain and stop.");
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("error: cannot wait for Ctrl-C: {e}");
    }
    eprintln!("stopping: draining the queue...");
    let left = running.stop().await;
    if left > 0 {
        eprintln!("stopped; {left} queued message(s) (scheduled retries) were dropped with the in-memory queue");
    } else {
        eprintln!("stopped; queue empty");
    }
    ExitCode::SUCCESS
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => run_serve(args).await,
        Command::Bench(command) => match switchboard_cli::bench::run(command).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Ops(command) => ExitCode::from(ops::run(cli.global, *command).await),
    }
}
