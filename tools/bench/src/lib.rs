//! `switchboard-bench`: measurements reported beside a baseline measured in the same run,
//! against the project's performance targets (listed with every figure in
//! `docs/performance.md`). Nothing here asserts a time; `docs/performance.md` has the figures
//! and the commands that reproduce them.
//!
//! - `local`: `serve` embedded, a loopback sink, N events × M subscriptions at concurrency C,
//!   then a bare pooled HTTP client (and `wrk`, when installed) against the same sink.
//! - `flow`: the `local` load with plain, ordered and rate-limited subscriptions in one run.
//! - `emulator`: the same load through the SQS and DynamoDB adapters against the emulator.
//! - `lambda`: the Lambda bootstraps under a Runtime API stub: start-up and dispatch memory.
//! - `cost`: dollars per million events × S subscribers, beside SNS and EventBridge, from a
//!   recorded run of the AWS adapters on the emulator.

pub mod capacity;
pub mod cost;
pub mod cost_metrics;
pub mod emulator;
pub mod flow;
pub mod lambda;
pub mod load;
pub mod local;
pub mod nginx;
pub mod poster;
pub mod serve_side;
pub mod sink;

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Embedded serve + loopback sink: throughput, latency, peak RSS, and the same-run baseline.
    Local(local::LocalArgs),
    /// The local load with plain, ordered and rate-limited subscriptions, in one run.
    Flow(flow::FlowArgs),
    /// The same load through the AWS adapters against the emulator (emulator-bound figures).
    Emulator(emulator::EmulatorArgs),
    /// Lambda bootstraps under a local Runtime API stub: start-up time and dispatch memory.
    Lambda(lambda::LambdaArgs),
    /// Dollars per million events × S subscribers, beside SNS→HTTP and EventBridge.
    Cost(cost::CostArgs),
    /// serve in a process of its own for `local` (started by it; not run by hand).
    #[command(hide = true)]
    ServeChild(serve_side::ServeOpts),
}

/// Runs one bench command; `Err` is a message for stderr.
pub async fn run(command: BenchCommand) -> Result<(), String> {
    match command {
        BenchCommand::Local(a) => local::run(a).await,
        BenchCommand::Flow(a) => flow::run(a).await,
        BenchCommand::Emulator(a) => emulator::run(a).await,
        BenchCommand::Lambda(a) => lambda::run(a).await,
        BenchCommand::Cost(a) => cost::run(a).await,
        BenchCommand::ServeChild(a) => serve_side::run_child(a).await,
    }
}
