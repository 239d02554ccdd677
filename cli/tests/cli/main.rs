//! The `switchboard` binary's tests, one binary: argument errors, help, the ops commands
//! against a running `serve` (found with no setup, or a stack by name), the console proxy,
//! and `serve` as a process (signals, crashes, restarts).

// Tests may panic on unexpected values: that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bad_args;
mod console;
mod crash;
mod discovery;
mod help;
mod ops_cli;
mod process;
mod serve_binary;
mod stack;
