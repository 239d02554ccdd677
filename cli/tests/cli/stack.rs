//! `--stack NAME` / `SWITCHBOARD_STACK`: the API URL from the stack's `ApiEndpoint` output
//! (CloudFormation DescribeStacks with the user's credentials and region), on the emulator's
//! CloudFormation. The stack's output points at a `serve` here, so the call can be answered.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::process::Command;
use switchboard_cli::serve::{self};
use switchboard_test_support::ADMIN_TOKEN;

fn emulator() -> String {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    assert!(
        endpoint.starts_with("http://127.0.0.1") || endpoint.starts_with("http://localhost"),
        "AWS_ENDPOINT_URL must point at the local emulator (got {endpoint:?}); run ./scripts/test, which starts it"
    );
    endpoint
}

/// The binary with the emulator's endpoint and test credentials, nothing else of ours.
fn switchboard(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    for (k, _) in std::env::vars() {
        if k.starts_with("SWITCHBOARD_") || k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_ENDPOINT_URL", emulator())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(args).output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stack_name_resolves_to_its_api_endpoint_output() {
    emulator();
    let config = switchboard_test_support::serve::config();
    let running = serve::start(config).await.unwrap();
    let api = format!("http://{}", running.addr);
    // Given a stack whose ApiEndpoint output is that URL
    let name = format!("sb-stack-{}", std::process::id());
    let template = serde_json::json!({
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": format!("{name}-q")}}},
        "Outputs": {
            "ProviderBaseUrl": {"Value": format!("{api}/hooks/")},
            "ApiEndpoint": {"Value": format!("{api}/")}
        }
    });
    let sdk = switchboard_core::state::load_sdk_config().await;
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    cfn.create_stack()
        .stack_name(&name)
        .template_body(template.to_string())
        .send()
        .await
        .unwrap();

    // When the CLI is given the stack's name, by flag or environment
    let by_flag = switchboard(
        &["--stack", &name, "--token", ADMIN_TOKEN, "sources", "list"],
        &[],
    );
    let by_env = switchboard(
        &["subscriptions", "list", "--json"],
        &[
            ("SWITCHBOARD_STACK", &name),
            ("SWITCHBOARD_TOKEN", ADMIN_TOKEN),
        ],
    );

    // Then it calls the URL of the output
    for out in [&by_flag, &by_env] {
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let listed: serde_json::Value = serde_json::from_slice(&by_env.stdout).unwrap();
    assert_eq!(listed["items"], serde_json::json!([]));

    // A stack that does not exist, or both --stack and --endpoint: usage errors
    let out = switchboard(&["--stack", "no-such-stack", "sources", "list"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-stack"));
    let out = switchboard(
        &["--stack", &name, "--endpoint", &api, "sources", "list"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    cfn.delete_stack().stack_name(&name).send().await.unwrap();
    running.stop().await;
}
