//! The `switchboard` command's library: `serve` (everything on one machine) and the
//! pieces the integration tests start in-process.

pub mod bench;
pub mod http_server;
pub mod ops;
pub mod serve;
