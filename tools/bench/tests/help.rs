//! The `switchboard-bench` binary: its commands, flag errors, and a cost model run (offline).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::process::Command;
use switchboard_test_support::{help_commands, usage_error};

fn bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard-bench"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn help_lists_the_benchmarks() {
    let (help, commands) = help_commands(&bench(&["--help"]));
    assert_eq!(
        commands,
        ["local", "flow", "emulator", "lambda", "cost", "help"],
        "{help}"
    );
}

#[test]
fn bad_flags_exit_2_with_a_message() {
    let stderr = usage_error(&bench(&["local", "--events", "many"]));
    assert!(stderr.contains("--events"), "{stderr}");
}

#[test]
fn cost_model_needs_a_stack_to_measure() {
    // The figures come from a recorded run on the emulator (scripts/cost-model), never from
    // assumed counts: without a stack there is nothing to measure.
    let stderr = usage_error(&bench(&["cost", "--subscribers", "5"]));
    assert!(stderr.contains("--stack"), "{stderr}");
}
