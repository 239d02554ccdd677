//! The real `switchboard serve` binary: prints its URL and token, relays, stops on Ctrl-C.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use crate::process::{self, Started};
use std::process::{Command, Stdio};
use std::time::Duration;
use switchboard_test_support::serve::AdminApi;

/// The binary serving on a free port, with `args` added, over the data directory
/// `switchboard-{name}-{pid}` (returned); started once its banner is out.
fn serve(name: &str, args: &[&str]) -> (std::path::PathBuf, Started) {
    let data_dir = std::env::temp_dir().join(format!("switchboard-{name}-{}", std::process::id()));
    let started = process::start(
        Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .arg("--data-dir")
            .arg(&data_dir)
            .stderr(Stdio::piped()),
        process::SERVE_BANNER,
    );
    (data_dir, started)
}

#[test]
fn serve_binary_prints_url_and_token_and_stops_on_sigint() {
    let (
        data_dir,
        Started {
            mut child,
            mut lines,
            url,
        },
    ) = serve("bin", &["--admin-token", "bin-test-token"]);
    let rest: Vec<String> = lines.by_ref().take(4).map(|l| l.unwrap()).collect();
    assert!(rest
        .iter()
        .any(|l| l.contains("admin token:") && l.contains("bin-test-token")));
    // The data lives in the directory given, and the banner says where
    let db = data_dir.join("switchboard.db");
    assert!(
        rest.iter()
            .any(|l| l.contains("data:") && l.contains(&db.display().to_string())),
        "{rest:?}"
    );
    assert!(db.exists());

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let http = reqwest::Client::new();
        // Without the token, with it, and a webhook for a source that does not exist
        let sources = format!("{url}/admin/sources");
        assert_eq!(http.get(&sources).send().await.unwrap().status(), 401);
        let api = AdminApi::new(&http, &url, "bin-test-token");
        assert_eq!(api.call("GET", "/admin/sources", None).await.0, 200);
        let hook = http.post(format!("{url}/hooks/missing")).body("{}");
        let r = hook.send().await.unwrap();
        assert_eq!(r.status(), 404);
        let json: serde_json::Value = r.json().await.unwrap();
        assert_eq!(json["error"]["code"], "unknown_source");
    });

    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(exit) = child.try_wait().unwrap() {
            assert!(exit.success(), "serve exited with {exit}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "serve did not stop on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// A stop signal that arrives the moment the first banner line is out still drains and
/// exits 0: the handlers are in place before serve says it is listening. SIGTERM is what
/// a container runtime or service manager sends.
#[test]
fn serve_binary_drains_on_sigterm_sent_right_after_the_banner() {
    let (
        data_dir,
        Started {
            mut child,
            mut lines,
            ..
        },
    ) = serve("term", &[]);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Drain stdout so a full pipe cannot block the banner
    for _ in lines.by_ref() {}
    let exit = child.wait().unwrap();
    assert!(exit.success(), "serve exited with {exit}");
    let _ = std::fs::remove_dir_all(&data_dir);
}
