//! The `switchboard` binary's tests, one binary: argument errors, help, the ops commands
//! against a running `serve`, and `serve` as a process (signals, crashes, restarts).

// Tests may panic on unexpected values: that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bad_args;
mod crash;
mod help;
mod ops_cli;
mod serve_binary;
