//! The `switchboard-bench` binary: its commands, flag errors, and a cost model run (offline).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::process::Command;

fn bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard-bench"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn help_lists_the_benchmarks() {
    let out = bench(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        commands,
        ["local", "flow", "emulator", "lambda", "cost", "help"],
        "{help}"
    );
}

#[test]
fn bad_flags_exit_2_with_a_message() {
    let out = bench(&["local", "--events", "many"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--events"));
}

#[test]
fn cost_model_needs_a_stack_to_measure() {
    // The figures come from a recorded run on the emulator (scripts/cost-model), never from
    // assumed counts: without a stack there is nothing to measure.
    let out = bench(&["cost", "--subscribers", "5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--stack"));
}
