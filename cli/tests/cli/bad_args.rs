//! Bad arguments to the real `switchboard` binary: every one ends with exit code 1 (the API
//! refused it) or 2 (usage or connection), a message on stderr, no panic, and never the
//! token in what it prints.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use crate::process::{self, Out};
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use switchboard_cli::serve;
use switchboard_test_support::ADMIN_TOKEN;

async fn run(args: Vec<OsString>) -> Out {
    let run = move || process::output(process::isolated().args(args));
    tokio::task::spawn_blocking(run).await.unwrap()
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

const MISSING_TEMPLATE: &str =
    "--event-type * --format template --template-file /nonexistent/template.j2";
const INCLUDE_TEMPLATE: [&str; 6] = [
    "--event-type",
    "*",
    "--format",
    "template",
    "--template",
    "{% include '/etc/passwd' %}",
];
const TRAVERSAL_ID: &str = "sources create --id ../../etc --provider hipcall --verification none";
const SSRF: &str = "subscriptions create --url http://169.254.169.254/latest --event-type *";
const PUBLIC_URL_QUERY: &str = "https://hooks.example.com/?a=1";

/// Exit 1 or 2 (or exactly `want`), a message, no panic, no token echoed.
fn assert_refused(label: &str, out: &Out, want: Option<i32>) {
    let detail = format!(
        "{label}: exit {}\nstdout: {}\nstderr: {}",
        out.code,
        out.stdout.chars().take(500).collect::<String>(),
        out.stderr.chars().take(500).collect::<String>()
    );
    match want {
        Some(code) => assert_eq!(out.code, code, "{detail}"),
        None => assert!(out.code == 1 || out.code == 2, "{detail}"),
    }
    assert!(!out.stderr.trim().is_empty(), "{detail}");
    assert!(!out.stderr.contains("panicked"), "{detail}");
    assert!(
        !out.stderr.contains(ADMIN_TOKEN) && !out.stdout.contains(ADMIN_TOKEN),
        "{detail}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_exit_1_or_2_with_a_message_and_no_panic() {
    let running = serve::start(switchboard_test_support::serve::config())
        .await
        .unwrap();
    let endpoint = format!("http://{}", running.addr);
    // `--endpoint`, `--token`, then `words` split at spaces, then `tail` as they are.
    let with = |words: &str, tail: &[&str]| {
        let mut all = vec!["--endpoint", endpoint.as_str(), "--token", ADMIN_TOKEN];
        all.extend(words.split_whitespace());
        all.extend_from_slice(tail);
        os(&all)
    };
    let long = "x".repeat(100_000);
    let nested = "[".repeat(100_000);
    let source = "sources create --id s1 --provider hipcall --verification";
    let other_source = "sources create --id s1 --provider";
    let sub = "subscriptions create --url http://127.0.0.1:9/x";
    let addr = running.addr.to_string();
    let token = ["--token", ADMIN_TOKEN];
    let endpoint_of =
        |url: &str| os(&[&["--endpoint", url][..], &token, &["sources", "list"]].concat());
    let listen_in_use = os(&["serve", "--listen", &addr, "--admin-token", ADMIN_TOKEN]);
    let newline_token = os(&[
        "--endpoint",
        &endpoint,
        "--token",
        "a\nb",
        "sources",
        "list",
    ]);
    let serve = |args: &[&str]| os(&[&["serve"], args].concat());
    // (what, arguments, exit code: None for 1 or 2)
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<OsString>, Option<i32>)> = vec![
        ("no command", os(&[]), Some(2)),
        ("unknown command", with("frobnicate", &[]), Some(2)),
        ("verification not JSON", with(source, &["{"]), Some(2)),
        ("body not an object", with(source, &["none", "--body", "[1,2]"]), None),
        ("deeply nested body", with(source, &["none", "--body", &nested]), None),
        ("unknown provider", with(other_source, &["nope", "--verification", "none"]), Some(1)),
        ("traversal-looking id", with(TRAVERSAL_ID, &[]), Some(1)),
        ("traversal-looking show", with("sources show ../../admin/sources", &[]), Some(1)),
        ("encoded traversal", with("events show ..%2F..%2Fetc%2Fpasswd", &[]), Some(1)),
        ("query in an id", with("subscriptions show x?token=1&a=b", &[]), Some(1)),
        ("huge id", with("events show", &[&long]), None),
        ("bad since", with("deliveries list --since", &["the day before"]), Some(2)),
        ("bad status", with("deliveries list --status meh", &[]), None),
        ("limit zero", with("deliveries list --limit 0", &[]), None),
        ("limit huge", with("deliveries list --limit 99999999999", &[]), Some(2)),
        ("bad cursor", with("deliveries list --cursor %%%", &[]), None),
        ("header without =", with(sub, &["--event-type", "*", "--header", "novalue"]), None),
        ("retry schedule not numbers", with(sub, &["--retry-schedule", "5,soon"]), Some(2)),
        ("missing template file", with(&format!("{sub} {MISSING_TEMPLATE}"), &[]), None),
        ("template reading a file", with(sub, &INCLUDE_TEMPLATE), Some(1)),
        ("SSRF target", with(SSRF, &[]), Some(1)),
        ("replay nothing", with("replay", &[]), Some(2)),
        ("endpoint not a URL", endpoint_of("http://[::1"), Some(2)),
        ("endpoint file URL", endpoint_of("file:///etc/passwd"), Some(2)),
        ("token with a newline", newline_token, Some(2)),
        ("serve bad listen", serve(&["--listen", "not-an-address"]), Some(2)),
        ("serve listen in use", listen_in_use, Some(2)),
        ("serve concurrency negative", serve(&["--delivery-concurrency", "-1"]), Some(2)),
        ("serve concurrency huge", serve(&["--delivery-concurrency", &"9".repeat(24)]), Some(2)),
        ("serve public URL without a scheme", serve(&["--public-url", "hooks.example.com"]), Some(2)),
        ("serve public URL with a query", serve(&["--public-url", PUBLIC_URL_QUERY]), Some(2)),
    ];
    for (label, args, want) in cases {
        let out = run(args).await;
        assert_refused(label, &out, want);
    }

    // Arguments that are not UTF-8 at all
    let mut args = with("sources show", &[]);
    args.push(OsString::from_vec(b"\xff\xfe-id".to_vec()));
    assert_refused("non-UTF-8 id", &run(args).await, Some(2));
    let out = run(vec![
        OsString::from("--endpoint"),
        OsString::from_vec(b"http://127.0.0.1:1/\xff".to_vec()),
        OsString::from("sources"),
        OsString::from("list"),
    ])
    .await;
    assert_refused("non-UTF-8 endpoint", &out, Some(2));

    // And serve is untouched by all of it
    let out = run(with("sources list --json", &[])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(running.stop().await, 0);
}
