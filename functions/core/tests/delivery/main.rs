//! The delivery engine's integration tests: one binary, real HTTP sinks on 127.0.0.1, the
//! in-memory ports, and a stub resolver (no DNS query or connection leaves the machine).

mod common;
mod dispatch;
mod sink;
mod ssrf;
