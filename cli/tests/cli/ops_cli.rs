//! The real `switchboard` binary against `serve` (in-process, on a free port): tables,
//! `--json`, exit codes (0 ok, 1 API error, 2 usage/connection), and SigV4 signing.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use crate::process::{self, Out};
use serde_json::json;
use std::net::TcpListener;
use switchboard_cli::serve::{self, Running};
use switchboard_core::domain::attempt::AttemptStatus;
use switchboard_core::domain::envelope::{CallInfo, Envelope, RawRequest, StoredEvent};
use switchboard_core::domain::time::now;
use switchboard_core::domain::Attempt;
use switchboard_test_support::ADMIN_TOKEN;

/// Runs the binary with a clean environment (no SWITCHBOARD_*/AWS_* from the caller).
async fn sb_env(args: &[&str], env: &[(&str, &str)]) -> Out {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let mut cmd = process::isolated();
        // A home of the test's own: no discovery file of a serve the user runs
        let home = isolated_home();
        cmd.env("HOME", &home)
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_RUNTIME_DIR", home.join("run"));
        process::output(cmd.envs(env).args(args))
    })
    .await
    .unwrap()
}

fn isolated_home() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("sb-ops-cli-{}", std::process::id()))
}

/// Runs `switchboard --endpoint <serve> --token T <args>`.
async fn sb(running: &Running, args: &[&str]) -> Out {
    let endpoint = format!("http://{}", running.addr);
    let mut all = vec!["--endpoint", endpoint.as_str(), "--token", ADMIN_TOKEN];
    all.extend_from_slice(args);
    sb_env(&all, &[]).await
}

/// [`sb`] with the arguments of `line`, split at spaces.
async fn sb_line(running: &Running, line: &str) -> Out {
    sb(running, &line.split_whitespace().collect::<Vec<_>>()).await
}

fn ok(out: &Out) {
    assert_eq!(
        out.code, 0,
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        out.code, out.stdout, out.stderr
    );
}

async fn start() -> Running {
    let config = switchboard_test_support::serve::config();
    serve::start(config).await.unwrap()
}

fn attempt(event: &str, sub: &str, n: u32, status: AttemptStatus, minutes_ago: i64) -> Attempt {
    Attempt {
        http_status: Some(503),
        duration_ms: 41,
        response_excerpt: Some("busy".into()),
        attempted_at: now() - chrono::Duration::minutes(minutes_ago),
        call_id: Some("call-42".into()),
        ..switchboard_test_support::records::attempt(event, sub, n, status)
    }
}

async fn seed(running: &Running) {
    let expires = now() + chrono::Duration::days(1);
    let event = StoredEvent {
        envelope: Envelope {
            id: "evt_cli_1".into(),
            event_type: "call.ended".into(),
            provider_event: Some("call_hangup".into()),
            source: "hipcall-main".into(),
            occurred_at: None,
            received_at: now() - chrono::Duration::minutes(10),
            call: Some(CallInfo {
                id: Some("call-42".into()),
                ..Default::default()
            }),
            data: Some(json!({"uuid": "call-42"}).into()),
            raw_unparsed: false,
        },
        raw: RawRequest {
            method: "POST".into(),
            content_type: Some("application/json".into()),
            query: None,
            body: bytes::Bytes::from_static(b"{\"uuid\":\"call-42\"}"),
        },
        dedup_key: None,
    };
    running.ports.events.put(&event, expires).await.unwrap();
    use AttemptStatus::*;
    for a in [
        attempt("evt_cli_1", "sub_crm", 1, Retrying, 9),
        attempt("evt_cli_1", "sub_crm", 2, Exhausted, 8),
        attempt("evt_cli_2", "sub_crm", 1, Succeeded, 7),
        attempt("evt_cli_3", "sub_crm", 1, Failed, 6),
    ] {
        running.ports.deliveries.record(&a, expires).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_commands_tables_json_and_exit_codes() {
    let running = start().await;
    let out = sb_line(&running, "sources create --id hipcall-main --provider hipcall --verification none --timezone Europe/Istanbul")
    .await;
    ok(&out);
    assert_eq!(out.stdout.trim(), "created source hipcall-main");
    // The same again: the API's 409, exit 1, its message on stderr
    let out = sb_line(
        &running,
        "sources create --id hipcall-main --provider hipcall --verification none",
    )
    .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("conflict") && out.stderr.contains("409"),
        "{}",
        out.stderr
    );

    let out = sb(&running, &["sources", "list"]).await;
    ok(&out);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("PROVIDER"),
        "{}",
        out.stdout
    );
    assert!(lines[1].starts_with("hipcall-main") && lines[1].contains("none"));
    let out = sb(&running, &["sources", "list", "--json"]).await;
    ok(&out);
    assert_eq!(out.json()["items"][0]["id"], "hipcall-main");

    let out = sb_line(
        &running,
        "--json sources update hipcall-main --description main",
    )
    .await;
    ok(&out);
    assert_eq!(out.json()["description"], "main");
    let out = sb(&running, &["sources", "show", "hipcall-main"]).await;
    ok(&out);
    assert!(out.stdout.contains("timezone") && out.stdout.contains("Europe/Istanbul"));
    let out = sb(&running, &["sources", "show", "nope"]).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.starts_with("error: no source with id"),
        "{}",
        out.stderr
    );
    let out = sb(&running, &["sources", "delete", "hipcall-main"]).await;
    ok(&out);
    let out = sb(&running, &["sources", "delete", "hipcall-main"]).await;
    assert_eq!(out.code, 1);
    // Usage errors exit 2 before anything is sent
    let out = sb_line(
        &running,
        "sources create --id x --provider hipcall --verification {oops",
    )
    .await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--verification is not valid JSON"));
    let out = sb(&running, &["sources", "update", "x"]).await;
    assert_eq!(out.code, 2);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_commands() {
    let running = start().await;
    let out = sb_line(&running, "subscriptions create --url http://127.0.0.1:9/crm --event-type call.ended,call.answered --method put --header x-tenant=acme --retry-schedule 5,300")
    .await;
    ok(&out);
    let first = out.stdout.lines().next().unwrap();
    let id = first
        .strip_prefix("created subscription ")
        .unwrap()
        .to_owned();
    assert!(out.stdout.contains("signing secret (shown once): whsec_"));

    let out = sb_line(
        &running,
        "subscriptions create --json --url http://127.0.0.1:9/b --event-type * --disabled",
    )
    .await;
    ok(&out);
    let created = out.json();
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(created["enabled"], false);

    let out = sb(&running, &["subscriptions", "list"]).await;
    ok(&out);
    let header = out.stdout.lines().next().unwrap();
    for col in ["ID", "CREATED", "STATUS", "METHOD", "URL", "EVENTS"] {
        assert!(header.contains(col), "{header}");
    }
    let row = out.stdout.lines().find(|l| l.starts_with(&id)).unwrap();
    assert!(
        row.contains("enabled") && row.contains("PUT") && row.contains("http://127.0.0.1:9/crm")
    );
    assert!(row.contains("call.ended,call.answered"));
    assert!(!out.stdout.contains("whsec_"), "secrets are never listed");

    let out = sb(&running, &["subscriptions", "update", &id, "--disable"]).await;
    ok(&out);
    assert_eq!(
        out.stdout.trim(),
        format!("updated subscription {id} (disabled)")
    );
    let out = sb(&running, &["subscriptions", "show", &id, "--json"]).await;
    ok(&out);
    let shown = out.json();
    assert_eq!(shown["enabled"], false);
    assert_eq!(shown["headers"]["x-tenant"], "acme");
    assert_eq!(shown["retry_schedule_secs"], json!([5, 300]));
    // API validation errors are exit 1 with the API's message
    let out = sb(
        &running,
        &["subscriptions", "update", &id, "--timeout-ms", "5"],
    )
    .await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("timeout_ms must be between"),
        "{}",
        out.stderr
    );
    let out = sb(&running, &["subscriptions", "rotate-secret", "sub_missing"]).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    let out = sb(&running, &["subscriptions", "delete", &id]).await;
    ok(&out);
    let out = sb(&running, &["subscriptions", "show", &id]).await;
    assert_eq!(out.code, 1);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_and_deliveries_of_a_call() {
    let running = start().await;
    seed(&running).await;
    // "Did the CRM get call 42?"
    let out = sb(&running, &["deliveries", "list", "--call", "call-42"]).await;
    ok(&out);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("ATTEMPTED") && lines[0].contains("STATUS"));
    assert_eq!(lines.len(), 5, "{}", out.stdout);
    assert!(lines[1].contains("evt_cli_3") && lines[1].contains("failed"));
    assert!(
        lines[4].contains("evt_cli_1") && lines[4].contains("retrying") && lines[4].contains("503")
    );
    let out = sb_line(
        &running,
        "deliveries list --call call-42 --status exhausted --json",
    )
    .await;
    ok(&out);
    let page = out.json();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["attempt"], 2);
    assert!(page["next_cursor"].is_null());
    // Paging: one page with a hint, or everything with --all
    let out = sb_line(&running, "deliveries list --subscription sub_crm --limit 1").await;
    ok(&out);
    assert_eq!(out.stdout.lines().count(), 2);
    assert!(out.stderr.contains("more: add --cursor"));
    let out = sb_line(
        &running,
        "deliveries list --subscription sub_crm --limit 1 --all --json",
    )
    .await;
    ok(&out);
    assert_eq!(out.json()["items"].as_array().unwrap().len(), 4);
    let out = sb(&running, &["deliveries", "list", "--since", "1h"]).await;
    ok(&out);
    assert_eq!(out.stdout.lines().count(), 5);
    let out = sb(
        &running,
        &["deliveries", "list", "--event", "evt_cli_1", "--json"],
    )
    .await;
    ok(&out);
    assert_eq!(out.json()["items"].as_array().unwrap().len(), 2);
    // Bad filters: the API's 400 (exit 1), or the command line's own checks (exit 2)
    let out = sb(&running, &["deliveries", "list", "--status", "lost"]).await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("invalid_status"), "{}", out.stderr);
    let out = sb(
        &running,
        &["deliveries", "list", "--event", "e", "--call", "c"],
    )
    .await;
    assert_eq!(out.code, 2);
    let out = sb(&running, &["deliveries", "list", "--since", "last tuesday"]).await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--since"));

    let out = sb(&running, &["events", "list", "--call", "call-42"]).await;
    ok(&out);
    assert!(out.stdout.lines().nth(1).unwrap().contains("evt_cli_1"));
    let out = sb(&running, &["events", "show", "evt_cli_1"]).await;
    ok(&out);
    assert!(
        out.stdout.contains("call.ended")
            && out.stdout.contains("raw body:\n{\"uuid\":\"call-42\"}")
    );
    let out = sb(&running, &["events", "show", "evt_cli_1", "--raw"]).await;
    ok(&out);
    assert_eq!(out.stdout, "{\"uuid\":\"call-42\"}");
    let out = sb(&running, &["events", "show", "evt_cli_1", "--json"]).await;
    ok(&out);
    assert_eq!(out.json()["envelope"]["call"]["id"], "call-42");
    let out = sb(&running, &["events", "show", "evt_nope"]).await;
    assert_eq!(out.code, 1);
    let out = sb(&running, &["events", "list"]).await;
    assert_eq!(out.code, 2, "clap requires --source or --call");

    // Bulk replay plan: the events whose latest attempt failed or was exhausted
    let out = sb_line(
        &running,
        "replay --subscription sub_crm --since 1h --dry-run --json",
    )
    .await;
    ok(&out);
    assert_eq!(out.json()["events"], json!(["evt_cli_1", "evt_cli_3"]));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_and_connection_errors_exit_2_api_errors_exit_1() {
    let running = start().await;
    let endpoint = format!("http://{}", running.addr);
    // No endpoint: the one a serve announced (here one that has gone away), and a
    // connection error naming it
    let data = isolated_home().join("data/switchboard");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("serve.json"),
        r#"{"url": "http://127.0.0.1:1", "token": "old", "pid": 1}"#,
    )
    .unwrap();
    let out = sb_env(&["sources", "list", "--token", ADMIN_TOKEN], &[]).await;
    std::fs::remove_file(data.join("serve.json")).unwrap();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("http://127.0.0.1:1"), "{}", out.stderr);
    assert!(out.stderr.contains("still running"), "{}", out.stderr);
    // Endpoint and token from the environment
    let out = sb_env(
        &["sources", "list", "--json"],
        &[
            ("SWITCHBOARD_ENDPOINT", &endpoint),
            ("SWITCHBOARD_TOKEN", ADMIN_TOKEN),
        ],
    )
    .await;
    ok(&out);
    // Wrong token: the API's 401
    let out = sb_env(
        &[
            "--endpoint",
            &endpoint,
            "--token",
            "wrong",
            "sources",
            "list",
        ],
        &[],
    )
    .await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("unauthorized"), "{}", out.stderr);
    // Nothing listening
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let out = sb_env(
        &[
            "--endpoint",
            &format!("http://{closed}"),
            "--token",
            "t",
            "sources",
            "list",
        ],
        &[],
    )
    .await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("cannot reach"), "{}", out.stderr);
    // Unknown command or flag
    assert_eq!(sb_env(&["sources", "frobnicate"], &[]).await.code, 2);
    assert_eq!(
        sb_env(&["deliveries", "list", "--colour"], &[]).await.code,
        2
    );
    // Not a URL
    let out = sb_env(
        &["--endpoint", "localhost", "--token", "t", "sources", "list"],
        &[],
    )
    .await;
    assert_eq!(out.code, 2);
    running.stop().await;
}

/// Without a token the CLI signs with SigV4 (service execute-api) using the AWS credentials
/// and region of the environment, as a deployed stack's IAM authorizer requires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_requests_are_sigv4_signed() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let answer = r#"{"items":[],"next_cursor":null}"#;
        process::serve_one(&listener, "200 OK", answer).0
    });
    let out = sb_env(
        &[
            "--endpoint",
            &format!("http://{addr}"),
            "deliveries",
            "list",
            "--status",
            "failed",
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            (
                "AWS_SECRET_ACCESS_KEY",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            ),
            ("AWS_SESSION_TOKEN", "session-token-example"),
            ("AWS_REGION", "eu-central-1"),
        ],
    )
    .await;
    ok(&out);
    let head = server.join().unwrap();
    assert!(
        head[0].starts_with("GET /admin/deliveries?status=failed "),
        "{head:?}"
    );
    let header = |name: &str| {
        head.iter()
            .find_map(|h| {
                let (k, v) = h.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
            .unwrap_or_else(|| panic!("no {name} header in {head:?}"))
    };
    let auth = header("authorization");
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
            && auth.contains("/eu-central-1/execute-api/aws4_request"),
        "{auth}"
    );
    assert!(
        auth.contains("SignedHeaders=") && auth.contains("host"),
        "{auth}"
    );
    assert!(header("x-amz-date").ends_with('Z'));
    assert_eq!(header("x-amz-security-token"), "session-token-example");

    // And with no token and no credentials at all: a usage error, nothing sent
    let out = sb_env(
        &["--endpoint", &format!("http://{addr}"), "sources", "list"],
        &[("AWS_REGION", "eu-central-1")],
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
}

/// `dead-letters list|show|redrive` against serve's dead-letter list: a body dispatch cannot
/// decode is dead-lettered after serve's receive limit, listed with why, shown whole, and
/// redriven with progress on stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_list_show_and_redrive() {
    let mut config = switchboard_test_support::serve::config();
    config.visibility = std::time::Duration::from_millis(100);
    config.max_receives = 1;
    let running = serve::start(config).await.unwrap();
    let serve::LocalQueue::Memory(queue) = &running.queue else {
        panic!("ServeConfig::new keeps the queue in memory");
    };
    queue.send_raw("not a queue message".into(), std::time::Duration::ZERO);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while queue.dead_letters().is_empty() {
        assert!(std::time::Instant::now() < deadline, "never dead-lettered");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let out = sb(&running, &["dead-letters", "list", "--json"]).await;
    ok(&out);
    let items = out.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{items:?}");
    let id = items[0]["message_id"].as_str().unwrap().to_owned();
    assert!(items[0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("not a Switchboard queue message"));
    let table = sb(&running, &["dead-letters", "list"]).await;
    ok(&table);
    assert!(
        table.stdout.starts_with("MESSAGE") && table.stdout.contains(&id),
        "{}",
        table.stdout
    );
    let shown = sb(&running, &["dead-letters", "show", &id]).await;
    ok(&shown);
    assert!(
        shown.stdout.contains("not a queue message"),
        "{}",
        shown.stdout
    );
    let missing = sb(&running, &["dead-letters", "show", "nope"]).await;
    assert_eq!(missing.code, 1);

    let redriven = sb(&running, &["dead-letters", "redrive", "--all"]).await;
    ok(&redriven);
    assert!(
        redriven.stderr.contains("redriving 1 message(s)"),
        "{}",
        redriven.stderr
    );
    assert!(
        redriven.stdout.contains("redriven 1"),
        "{}",
        redriven.stdout
    );
    // Back on the queue it fails again and returns to the dead-letter list, by its id
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while queue.dead_letters().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "never dead-lettered again"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let by_id = sb(&running, &["dead-letters", "redrive", &id, "nope"]).await;
    ok(&by_id);
    assert!(by_id.stderr.contains("nope"), "{}", by_id.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_show_prints_the_call_timeline() {
    let running = start().await;
    seed(&running).await;
    // "What happened to call 42?" in one command: its event and the CRM's outcome
    let out = sb(&running, &["calls", "show", "call-42", "--json"]).await;
    ok(&out);
    let timeline = out.json();
    assert_eq!(timeline["call_id"], "call-42");
    let events = timeline["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{timeline}");
    assert_eq!(events[0]["id"], "evt_cli_1");
    assert_eq!(events[0]["type"], "call.ended");
    let d = &events[0]["deliveries"][0];
    assert_eq!(d["subscription_id"], "sub_crm");
    assert_eq!(d["status"], "exhausted");
    assert_eq!(d["attempts"], 2);
    assert_eq!(d["http_status"], 503);
    let out = sb(&running, &["calls", "show", "call-42"]).await;
    ok(&out);
    assert!(out.stdout.starts_with("call call-42"), "{}", out.stdout);
    let row = out.stdout.lines().find(|l| l.contains("sub_crm")).unwrap();
    assert!(
        row.contains("exhausted") && row.contains("HTTP 503"),
        "{row}"
    );
    // an unknown call is the API's 404: exit code 1
    let out = sb(&running, &["calls", "show", "no-such-call"]).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    running.stop().await;
}
