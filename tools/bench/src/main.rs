//! `switchboard-bench`: Switchboard's benchmarks (docs/performance.md), kept out of the
//! `switchboard` binary users run.

use clap::Parser;
use std::process::ExitCode;
use switchboard_bench::BenchCommand;

// The allocator `switchboard serve` ships with: `bench local` embeds serve and measures it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "switchboard-bench",
    version,
    about = "Benchmarks: throughput, latency, memory, start-up and cost (docs/performance.md)"
)]
struct Cli {
    #[command(subcommand)]
    command: BenchCommand,
}

#[tokio::main]
async fn main() -> ExitCode {
    switchboard_cli::init_logging();
    let cli = Cli::parse();
    match switchboard_bench::run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    /// Flattened argument groups (`flow` takes `local`'s) cannot clash on a flag name: clap
    /// would only refuse it when the command runs.
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
