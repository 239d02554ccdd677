//! `switchboard console`: the page served locally and its `/admin` calls forwarded with the
//! user's credentials — the token in front of `serve` (the browser sends none), SigV4 in
//! front of a deployed stack (checked by signing the same request with the AWS SDK's
//! signer) — and nothing else forwarded, nor anything from another site.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use crate::process::{self, Started};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use switchboard_cli::serve::{self};
use switchboard_test_support::{KillOnDrop, ADMIN_TOKEN};

struct Console {
    _child: KillOnDrop,
    url: String,
}

/// `switchboard console --listen 127.0.0.1:0 <args>` with only `env` from the caller.
fn console(args: &[&str], env: &[(&str, &str)]) -> Console {
    let mut cmd = process::isolated();
    cmd.envs(env.iter().copied())
        .args(["console", "--listen", "127.0.0.1:0"])
        .args(args)
        .stderr(Stdio::inherit());
    let Started { child, lines, url } = process::start(&mut cmd, "Switchboard console on ");
    std::thread::spawn(move || for _ in lines {});
    Console {
        _child: KillOnDrop(child),
        url,
    }
}

/// A call through the console: what, method, path, extra headers, body, and the status the
/// page gets.
type Call<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a [(&'a str, &'a str)],
    &'a str,
    u16,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_front_of_serve_forwards_admin_calls_with_the_token() {
    let config = switchboard_test_support::serve::config();
    let running = serve::start(config).await.unwrap();
    let endpoint = format!("http://{}", running.addr);
    let c = console(&["--endpoint", &endpoint, "--token", ADMIN_TOKEN], &[]);
    let http = reqwest::Client::new();

    // The page loads from the console
    let page = http.get(format!("{}/", c.url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Switchboard console"));

    const SOURCE: &str =
        r#"{"id":"hipcall-main","provider":"hipcall","verification":{"type":"none"}}"#;
    let own = [
        ("origin", c.url.as_str()),
        ("content-type", "application/json"),
    ];
    #[rustfmt::skip]
    let cases: [Call; 7] = [
        // An admin call with no token succeeds: the console adds it
        ("no token", "GET", "/admin/subscriptions", &[], "", 200),
        // A write from the page itself (its own Origin) goes through too
        ("the page's own write", "POST", "/admin/sources", &own, SOURCE, 201),
        ("dead letters", "GET", "/admin/dead-letters", &[], "", 200),
        // The API's errors come back as they are
        ("an API error", "GET", "/admin/sources/nope", &[], "", 404),
        // Another site's page, another host name, anything but /admin: refused, not forwarded
        ("another site's page", "POST", "/admin/sources", &[("origin", "http://evil.example")], "{}", 403),
        ("another host name", "GET", "/admin/sources", &[("host", "evil.example")], "", 403),
        ("not /admin", "POST", "/hooks/hipcall-main", &[], "{}", 404),
    ];
    for (what, method, path, headers, body, want) in cases {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = http.request(method, format!("{}{path}", c.url));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if !body.is_empty() {
            req = req.body(body.to_owned());
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), want, "{what}");
        if what == "no token" {
            let page: serde_json::Value = r.json().await.unwrap();
            assert_eq!(page["items"], serde_json::json!([]));
        }
    }
    let sources = running.ports.sources.list().await.unwrap();
    assert_eq!(sources.len(), 1, "only the page's own write arrived");
    drop(c);
    running.stop().await;
}

#[test]
fn a_non_loopback_listen_address_needs_allow_remote() {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "console",
            "--endpoint",
            "http://127.0.0.1:9",
            "--token",
            "t",
            "--listen",
            "0.0.0.0:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-remote"));
}

/// One request as the upstream saw it.
struct Seen {
    request_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> String {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }
}

/// Accepts one request, answers 201 with a small JSON body.
fn upstream_once(listener: TcpListener) -> std::thread::JoinHandle<Seen> {
    std::thread::spawn(move || {
        let (head, body) = process::serve_one(&listener, "201 Created", r#"{"id":"hipcall-main"}"#);
        let headers = head[1..]
            .iter()
            .map(|line| {
                let (k, v) = line.split_once(':').unwrap();
                (k.trim().to_ascii_lowercase(), v.trim().to_owned())
            })
            .collect();
        Seen {
            request_line: head[0].clone(),
            headers,
            body,
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_signs_forwarded_calls_with_sigv4_as_the_aws_sdk_signer_does() {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    // Given an upstream that records what it receives, and the console in front of it with
    // AWS credentials and no token
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = format!("http://{}", listener.local_addr().unwrap());
    let seen = upstream_once(listener);
    let (key, secret, session, region) = (
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "session-token-example",
        "eu-central-1",
    );
    let c = console(
        &["--endpoint", &upstream],
        &[
            ("AWS_ACCESS_KEY_ID", key),
            ("AWS_SECRET_ACCESS_KEY", secret),
            ("AWS_SESSION_TOKEN", session),
            ("AWS_REGION", region),
        ],
    );

    // When the page posts a redrive through it
    let body = r#"{"ids":["m-1","m-2"]}"#;
    let r = reqwest::Client::new()
        .post(format!("{}/admin/dead-letters/redrive?x=1", c.url))
        .header("content-type", "application/json")
        .header("authorization", "Bearer from-the-browser")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let seen = seen.join().unwrap();

    // Then the upstream got that request, the body unchanged, the browser's header gone,
    // and a signature equal to the AWS SDK signer's over the same request and time
    assert_eq!(
        seen.request_line,
        "POST /admin/dead-letters/redrive?x=1 HTTP/1.1"
    );
    assert_eq!(seen.body, body.as_bytes());
    assert_eq!(seen.header("x-amz-security-token"), session);
    let amz_date = seen.header("x-amz-date");
    let time = chrono::NaiveDateTime::parse_from_str(&amz_date, "%Y%m%dT%H%M%SZ")
        .unwrap()
        .and_utc();
    let identity: aws_smithy_runtime_api::client::identity::Identity =
        aws_credential_types::Credentials::new(key, secret, Some(session.into()), None, "test")
            .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("execute-api")
        .time(time.into())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let url = format!("{upstream}/admin/dead-letters/redrive?x=1");
    let unsigned = [
        ("accept", "application/json"),
        ("content-type", "application/json"),
    ];
    let signable = SignableRequest::new(
        "POST",
        &url,
        unsigned.into_iter(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let expected = instructions
        .headers()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.to_owned())
        .unwrap();
    assert_eq!(seen.header("authorization"), expected);
    assert!(expected.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"));
    assert!(expected.contains("/eu-central-1/execute-api/aws4_request"));
}
