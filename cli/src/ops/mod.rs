//! `switchboard <noun> <verb>`: the ops commands, over the admin API. Each noun is a module
//! with its own `run`; answers are read into the domain types of `switchboard-core`.
//!
//! Output: a table or key/value view by default, the API's JSON with `--json`.
//! Exit codes: 0 success; 1 the API answered an error (4xx/5xx; its message on stderr);
//! 2 usage or connection problems (bad flags, no endpoint, no credentials, unreachable).

pub mod body;
pub mod calls;
pub mod client;
pub mod deliveries;
pub mod events;
pub mod listing;
pub mod output;
pub mod progress;
pub mod replay;
pub mod sources;
pub mod subscriptions;
pub mod time;

use clap::{Args, Subcommand};
use client::{CliResult, Client};

/// Options every ops command takes (before or after the noun). No `Debug`: it holds the token.
#[derive(Args, Clone)]
pub struct Global {
    /// Admin API base URL: `serve`'s URL, or the deployed stack's API URL.
    #[arg(long, global = true, env = "SWITCHBOARD_ENDPOINT")]
    pub endpoint: Option<String>,
    /// Admin token (`serve`). Without one, requests are signed with AWS SigV4.
    #[arg(long, global = true, env = "SWITCHBOARD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print the API's JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum OpsCommand {
    /// Provider sources: where webhooks come from and how they are verified.
    #[command(subcommand)]
    Sources(sources::SourcesCmd),
    /// Subscriptions: where events are delivered.
    #[command(subcommand)]
    Subscriptions(subscriptions::SubscriptionsCmd),
    /// Accepted events.
    #[command(subcommand)]
    Events(events::EventsCmd),
    /// Delivery attempts.
    #[command(subcommand)]
    Deliveries(deliveries::DeliveriesCmd),
    /// A call's timeline: its events and each subscriber's outcome.
    #[command(subcommand)]
    Calls(calls::CallsCmd),
    /// Send events to subscribers again.
    Replay(replay::ReplayArgs),
}

/// Runs one ops command; returns the exit code.
pub async fn run(global: Global, command: OpsCommand) -> u8 {
    match execute(&global, command).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

async fn execute(g: &Global, command: OpsCommand) -> CliResult<()> {
    let client = Client::new(g.endpoint.clone(), g.token.clone()).await?;
    match command {
        OpsCommand::Sources(c) => sources::run(g, &client, c).await,
        OpsCommand::Subscriptions(c) => subscriptions::run(g, &client, c).await,
        OpsCommand::Events(c) => events::run(g, &client, c).await,
        OpsCommand::Deliveries(c) => deliveries::run(g, &client, c).await,
        OpsCommand::Calls(c) => calls::run(g, &client, c).await,
        OpsCommand::Replay(a) => replay::run(g, &client, a).await,
    }
}
