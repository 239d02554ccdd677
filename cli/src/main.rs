//! `switchboard`: run everything on one machine (`serve`), or operate a deployment.

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::process::ExitCode;
use switchboard_cli::serve::{self, ServeConfig, Store};
use switchboard_cli::stop_signal::StopSignal;
use switchboard_cli::{discovery, ops};
use switchboard_core::adapters::memory::MemoryLimits;
use switchboard_core::adapters::sqlite::SyncMode;
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
    /// The console page on a local port, its admin calls signed for you (--stack, --endpoint).
    Console(switchboard_cli::console::ConsoleArgs),
    #[command(flatten)]
    Ops(Box<ops::OpsCommand>),
    /// Moved to its own binary (`switchboard-upgrade-history`); says so and exits 2.
    #[command(hide = true, disable_help_flag = true)]
    UpgradeHistory {
        #[arg(num_args = 0.., allow_hyphen_values = true, trailing_var_arg = true)]
        args: Vec<String>,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SWITCHBOARD_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Bearer token for the admin API; a random one is generated when absent.
    #[arg(long, env = "SWITCHBOARD_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Directory of the durable store (created when missing) [default: $XDG_DATA_HOME/switchboard,
    /// else ~/.local/share/switchboard].
    #[arg(long, env = "SWITCHBOARD_DATA_DIR")]
    data_dir: Option<std::path::PathBuf>,
    /// Keep everything in memory instead of the data directory: nothing survives a restart.
    #[arg(long)]
    memory: bool,
    /// With --memory: events kept; past it the oldest are dropped first (retention applies too).
    #[arg(long, env = "SWITCHBOARD_MEMORY_MAX_EVENTS", default_value_t = MemoryLimits::default().events)]
    memory_max_events: usize,
    /// With --memory: delivery attempts kept; past it the oldest are dropped first.
    #[arg(long, env = "SWITCHBOARD_MEMORY_MAX_ATTEMPTS", default_value_t = MemoryLimits::default().attempts)]
    memory_max_attempts: usize,
    /// How hard the durable store syncs a commit: `normal` survives a crash of the process
    /// (kill -9), `full` also a power loss (one fsync per group of commits).
    #[arg(long, env = "SWITCHBOARD_SYNC", default_value = "normal", value_parser = parse_sync)]
    sync: SyncMode,
    /// Concurrent deliveries per batch.
    #[arg(long, env = "SWITCHBOARD_DELIVERY_CONCURRENCY", default_value_t = 32)]
    delivery_concurrency: usize,
    /// The public base URL providers call when serve sits behind a tunnel or proxy
    /// (`https://abc.ngrok.app`): Twilio and Plivo sign the URL they called
    /// [default: http:// and the request's Host].
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL", value_parser = parse_public_url)]
    public_url: Option<String>,
    /// Failed attempts in a row after which a subscription's `delivery.failing` is emitted,
    /// for subscriptions that set no `failing_after` of their own (1-1000).
    #[arg(long, env = "SWITCHBOARD_FAILING_AFTER", default_value_t = switchboard_core::config::DEFAULT_FAILING_AFTER,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    failing_after: u32,
}

fn parse_public_url(s: &str) -> Result<String, String> {
    switchboard_core::config::public_base_url(s)
}

fn parse_sync(s: &str) -> Result<SyncMode, String> {
    SyncMode::parse(s).ok_or_else(|| format!("{s:?} is not one of: normal, full"))
}

/// Where the data lives, for the start-up banner.
fn describe_store(data: Option<&serve::DataInfo>) -> String {
    match data {
        None => "in memory (--memory): lost when serve stops".to_owned(),
        Some(d) => {
            let mut line = format!("{} (durable, sync {})", d.path.display(), d.sync.as_str());
            if d.queued > 0 {
                line.push_str(&format!(
                    "; resumed {} queued message(s), {} of them in flight when the last run stopped",
                    d.queued, d.in_flight
                ));
            }
            line
        }
    }
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
    config.settings.public_url = args.public_url;
    config.settings.failing_after = args.failing_after;
    let config_public_url = config.settings.public_url.clone();
    let mut discovery_dir = discovery::runtime_dir();
    config.store = if args.memory {
        if args.data_dir.is_some() {
            eprintln!("note: --memory given; the data directory is not used");
        }
        config.memory_limits = MemoryLimits {
            events: args.memory_max_events.max(1),
            attempts: args.memory_max_attempts.max(1),
        };
        Store::Memory
    } else {
        let Some(dir) = args.data_dir.or_else(serve::default_data_dir) else {
            eprintln!("error: no data directory: pass --data-dir (or set SWITCHBOARD_DATA_DIR or HOME), or --memory");
            return ExitCode::from(2);
        };
        discovery_dir = dir.clone();
        Store::Durable {
            dir,
            sync: args.sync,
        }
    };
    let mut stop_signal = match StopSignal::install() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot install the Ctrl-C/SIGTERM handlers: {e}");
            return ExitCode::from(2);
        }
    };
    let running = match serve::start(config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    println!("Switchboard listening on http://{}", running.addr);
    match &config_public_url {
        Some(base) => println!("  provider webhooks: {base}/hooks/<source-id> (public URL)"),
        None => println!(
            "  provider webhooks: http://{}/hooks/<source-id>",
            running.addr
        ),
    }
    println!("  admin API:         http://{}/admin", running.addr);
    println!("  admin token:       {token}");
    println!(
        "  data:              {}",
        describe_store(running.data.as_ref())
    );
    let announced = discovery::announce(&discovery_dir, running.addr, &token);
    if let Some(path) = &announced {
        println!("  CLI finds it via:  {}", path.display());
    }
    println!("Press Ctrl-C to drain and stop.");
    stop_signal.wait().await;
    eprintln!("stopping: draining the queue...");
    if let Some(path) = &announced {
        discovery::remove(path);
    }
    let kept = running.data.as_ref().map(|d| d.path.clone());
    let left = running.stop().await;
    if left > 0 {
        match kept {
            Some(path) => eprintln!(
                "stopped; {left} queued message(s) (scheduled retries) kept in {}; they resume on the next start",
                path.display()
            ),
            None => eprintln!("stopped; {left} queued message(s) (scheduled retries) were dropped with the in-memory queue"),
        }
    } else {
        eprintln!("stopped; queue empty");
    }
    ExitCode::SUCCESS
}

async fn run_console(global: ops::Global, args: switchboard_cli::console::ConsoleArgs) -> ExitCode {
    use switchboard_cli::console;
    let started = async {
        let client = ops::client_for(&global).await?;
        let listener = console::bind(&args).await?;
        Ok::<_, ops::client::CliError>((client, listener))
    };
    let mut stop_signal = match StopSignal::install() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot install the Ctrl-C/SIGTERM handlers: {e}");
            return ExitCode::from(2);
        }
    };
    let (client, listener) = match started.await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(e.exit_code());
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("Switchboard console on {}", discovery::url_of(addr)),
        Err(e) => eprintln!("note: cannot read the listening address: {e}"),
    }
    println!("  forwarding /admin to {}", client.endpoint());
    println!("Press Ctrl-C to stop.");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(console::serve(client, listener, args.allow_remote, stopped));
    stop_signal.wait().await;
    let _ = stop.send(true);
    match server.await {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
        Err(e) => {
            eprintln!("error: the console stopped abnormally: {e}");
            ExitCode::from(2)
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    switchboard_cli::init_logging();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => run_serve(args).await,
        Command::Console(args) => run_console(cli.global, args).await,
        Command::Ops(command) => ExitCode::from(ops::run(cli.global, *command).await),
        Command::UpgradeHistory { args } => {
            eprintln!(
                "error: `switchboard upgrade-history` moved to its own binary: \
                 cargo run -p switchboard-upgrade-history -- {}",
                args.join(" ")
            );
            ExitCode::from(2)
        }
    }
}
