//! The `switchboard` command's library: `serve` (everything on one machine), the ops
//! commands over the admin API, and the pieces the integration tests and the benchmarks
//! (`tools/bench`) start in-process.

pub mod console;
pub mod discovery;
pub mod http_server;
pub mod metrics;
pub mod ops;
pub mod serve;
pub mod stop_signal;

/// Logs to stderr at the level `SWITCHBOARD_LOG` names (default `warn`), for the
/// `switchboard` and `switchboard-bench` binaries alike.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
}
