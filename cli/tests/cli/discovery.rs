//! The CLI finds a running `serve` with no flags and no environment: a real `serve`
//! process announces its URL and token in its data directory (or, `--memory`, its runtime
//! directory), and `switchboard <noun> <verb>` alone uses them.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use crate::process::{self, Started};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A home of its own: data, runtime and config directories under one temporary directory.
struct Home(PathBuf);

impl Home {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sb-discovery-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["home", "data", "run"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let private = std::fs::Permissions::from_mode(0o700);
            std::fs::set_permissions(dir.join("run"), private).unwrap();
        }
        Self(dir)
    }

    /// The binary with this home and nothing of the caller's SWITCHBOARD_* or AWS_*.
    fn command(&self) -> Command {
        let mut cmd = process::isolated();
        cmd.env("HOME", self.0.join("home"))
            .env("XDG_DATA_HOME", self.0.join("data"))
            .env("XDG_RUNTIME_DIR", self.0.join("run"));
        cmd
    }

    fn cli(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    /// `serve` on a free port (the file, not the default port, is what the CLI must find).
    fn serve(&self, extra: &[&str]) -> (Child, String) {
        let Started {
            child,
            mut lines,
            url,
        } = process::start(
            self.command()
                .args(["serve", "--listen", "127.0.0.1:0"])
                .args(extra)
                .stderr(Stdio::null()),
            process::SERVE_BANNER,
        );
        // Read the banner up to its last line: the file is written before it
        for line in lines.by_ref() {
            if line.unwrap().starts_with("Press Ctrl-C") {
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        (child, url)
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn stop(mut child: Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "serve did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ok(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_cli_finds_a_durable_serve_with_no_flags_or_environment() {
    let home = Home::new("durable");
    // Given no serve: the default endpoint, and a message that says what is missing
    let out = home.cli(&["subscriptions", "list"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("http://127.0.0.1:8080") && err.contains("serve"),
        "{err}"
    );

    // When serve runs on a port of its own choosing, with its data in this home
    let (serve, url) = home.serve(&[]);
    let file = home.0.join("data/switchboard/serve.json");
    let announced: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(announced["url"], url.as_str());
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600);

    // Then plain commands reach it with its token
    let created = ok(&home.cli(&[
        "sources",
        "create",
        "--id",
        "hipcall-main",
        "--provider",
        "hipcall",
        "--verification",
        r#"{"type":"none"}"#,
    ]));
    assert!(created.contains("hipcall-main"), "{created}");
    let listed = ok(&home.cli(&["sources", "list"]));
    assert!(listed.contains("hipcall-main"), "{listed}");
    ok(&home.cli(&["deliveries", "list"]));
    ok(&home.cli(&["dead-letters", "list"]));
    // A flag still wins: a wrong token is refused by this serve
    let out = home.cli(&["--token", "wrong", "sources", "list"]);
    assert_eq!(out.status.code(), Some(1));

    // And a clean stop removes the file
    stop(serve);
    assert!(!file.exists());
}

#[test]
fn the_cli_finds_a_memory_serve_through_the_runtime_directory() {
    let home = Home::new("memory");
    let (serve, url) = home.serve(&["--memory"]);
    let file = home.0.join("run/switchboard/serve.json");
    assert!(std::fs::read_to_string(&file).unwrap().contains(&url));
    assert!(!home.0.join("data/switchboard/serve.json").exists());
    ok(&home.cli(&["subscriptions", "list"]));
    stop(serve);
    assert!(!file.exists());
}
