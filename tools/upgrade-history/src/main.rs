//! `switchboard-upgrade-history`: the one-off history copy of an upgraded stack, kept out
//! of the `switchboard` binary (infra/README.md, Copying the history).

use clap::Parser;
use std::process::ExitCode;
use switchboard_upgrade_history::UpgradeHistoryArgs;
use tracing_subscriber::EnvFilter;

/// Copy a deployed stack's history from the first data model's tables into the current
/// ones, with the shell's AWS credentials (resumable, idempotent, rate-limited).
#[derive(Parser)]
#[command(name = "switchboard-upgrade-history", version)]
struct Cli {
    #[command(flatten)]
    args: UpgradeHistoryArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    // The SDK's own warnings (retries, credentials), as `switchboard` logs them.
    let filter = EnvFilter::try_from_env("SWITCHBOARD_LOG").unwrap_or_else(|_| "warn".into());
    let log = tracing_subscriber::fmt().with_env_filter(filter);
    log.with_writer(std::io::stderr).init();
    let cli = Cli::parse();
    let sdk = switchboard_core::state::load_sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    ExitCode::from(switchboard_upgrade_history::run(client, &cli.args).await)
}
