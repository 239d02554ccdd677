//! The delivery engine's integration tests: one binary, real HTTP sinks on 127.0.0.1, the
//! in-memory ports, and a stub resolver (no DNS query or connection leaves the machine).

// Tests may panic on unexpected values: that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod common;
mod concurrent_writers;
mod deadline;
mod dispatch;
mod signatures;
mod ssrf;

pub use switchboard_test_support::sink;
