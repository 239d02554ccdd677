//! `switchboard <noun> <verb>`: the ops commands, over the admin API. Each noun is a module
//! with its own `run`; answers are read into the domain types of `switchboard-core`.
//!
//! Output: a table or key/value view by default, the API's JSON with `--json`.
//! Exit codes: 0 success; 1 the API answered an error (4xx/5xx; its message on stderr);
//! 2 usage or connection problems (bad flags, no endpoint, no credentials, unreachable).

pub mod body;
pub mod calls;
pub mod client;
pub mod collection;
pub mod dead_letters;
pub mod deliveries;
pub mod events;
pub mod listing;
pub mod output;
pub mod progress;
pub mod replay;
pub mod sources;
pub mod stack;
pub mod subscriptions;
pub mod target;
pub mod time;

use clap::{Args, Subcommand};
use client::{CliResult, Client};

/// Options every ops command takes (before or after the noun). No `Debug`: it holds the token.
#[derive(Args, Clone)]
pub struct Global {
    /// Admin API base URL: `serve`'s URL, or the deployed stack's API URL [default: the
    /// running serve's (found in its data or runtime directory), else http://127.0.0.1:8080].
    #[arg(long, global = true, env = "SWITCHBOARD_ENDPOINT")]
    pub endpoint: Option<String>,
    /// Admin token (`serve`) [default: the running serve's]. Without one, requests are
    /// signed with AWS SigV4.
    #[arg(long, global = true, env = "SWITCHBOARD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A deployed stack's name: its API URL is read from the stack's outputs
    /// (CloudFormation DescribeStacks, with your AWS credentials and region).
    #[arg(long, global = true, env = "SWITCHBOARD_STACK")]
    pub stack: Option<String>,
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
    /// Queue messages that failed too often: list, show, send back.
    #[command(subcommand)]
    DeadLetters(dead_letters::DeadLettersCmd),
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
    let (client, announced_in) = client_and_origin(g).await?;
    let result = match command {
        OpsCommand::Sources(c) => sources::run(g, &client, c).await,
        OpsCommand::Subscriptions(c) => subscriptions::run(g, &client, c).await,
        OpsCommand::Events(c) => events::run(g, &client, c).await,
        OpsCommand::Deliveries(c) => deliveries::run(g, &client, c).await,
        OpsCommand::Calls(c) => calls::run(g, &client, c).await,
        OpsCommand::Replay(a) => replay::run(g, &client, a).await,
        OpsCommand::DeadLetters(c) => dead_letters::run(g, &client, c).await,
    };
    match (result, announced_in) {
        // A serve killed with kill -9 leaves its file behind.
        (Err(client::CliError::Connection(m)), Some(path)) => {
            Err(client::CliError::Connection(format!(
                "{m} (the endpoint is from {}: is that serve still running?)",
                path.display()
            )))
        }
        (result, _) => result,
    }
}

/// The client for the target these options name (see [`target`]).
pub async fn client_for(g: &Global) -> CliResult<Client> {
    Ok(client_and_origin(g).await?.0)
}

/// [`client_for`], and the discovery file its endpoint came from, if it did.
async fn client_and_origin(g: &Global) -> CliResult<(Client, Option<std::path::PathBuf>)> {
    let t = target::resolve(g).await?;
    // Found, not given: a local serve wants its token; an explicit URL may mean SigV4.
    let implicit = g.endpoint.is_none() && g.stack.is_none();
    if implicit && t.token.is_none() && target::is_local(&t.endpoint) {
        return Err(client::CliError::Usage(format!(
            "no token for {}: no running serve announced itself (switchboard serve writes {} in \
             its data directory); start serve, or pass --token / set SWITCHBOARD_TOKEN",
            t.endpoint,
            crate::discovery::FILE
        )));
    }
    let client = Client::new(Some(t.endpoint), t.token).await?;
    Ok((client, t.announced_in))
}
