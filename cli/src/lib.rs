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
pub mod upgrade_history;
