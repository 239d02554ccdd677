//! `switchboard --help` lists what users run: `serve` and the ops nouns. The benchmarks
//! (`switchboard-bench`) and the history copy (`switchboard-upgrade-history`) are separate binaries.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::process::Command;
use switchboard_test_support::{help_commands, usage_error};

fn switchboard(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env_remove("SWITCHBOARD_ENDPOINT")
        .env_remove("SWITCHBOARD_TOKEN")
        .output()
        .unwrap()
}

#[test]
fn help_lists_serve_and_the_ops_nouns_only() {
    let (help, commands) = help_commands(&switchboard(&["--help"]));
    assert_eq!(
        commands,
        [
            "serve",
            "console",
            "sources",
            "subscriptions",
            "events",
            "deliveries",
            "calls",
            "replay",
            "dead-letters",
            "help"
        ],
        "{help}"
    );
}

#[test]
fn bench_is_not_a_switchboard_command() {
    let stderr = usage_error(&switchboard(&["bench", "cost"]));
    assert!(stderr.contains("unrecognized subcommand"), "{stderr}");
}

#[test]
fn upgrade_history_says_where_it_moved() {
    let stderr = usage_error(&switchboard(&["upgrade-history", "--stack-name", "s"]));
    assert!(
        stderr.contains("cargo run -p switchboard-upgrade-history -- --stack-name s"),
        "{stderr}"
    );
}
