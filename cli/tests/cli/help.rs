//! `switchboard --help` lists what users run: `serve` and the ops nouns. The benchmarks
//! (`switchboard-bench`) and the history copy (`switchboard-upgrade-history`) are separate binaries.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::process::Command;

fn switchboard(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env_remove("SWITCHBOARD_ENDPOINT")
        .env_remove("SWITCHBOARD_TOKEN")
        .output()
        .unwrap()
}

/// The names under `Commands:` in a clap help text.
fn commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

#[test]
fn help_lists_serve_and_the_ops_nouns_only() {
    let out = switchboard(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        commands(&help),
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
    let out = switchboard(&["bench", "cost"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognized subcommand"));
}

#[test]
fn upgrade_history_says_where_it_moved() {
    let out = switchboard(&["upgrade-history", "--stack-name", "s"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cargo run -p switchboard-upgrade-history -- --stack-name s"),
        "{stderr}"
    );
}
