//! What every Switchboard test shares, so that tests in any crate speak of the same things:
//! one HTTP sink on 127.0.0.1:0 with the failure modes subscribers have, one admin token,
//! the provider fixtures under `events/`, and a polling helper.

// Test support: a panic is how a broken fixture reports itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[cfg(feature = "records")]
pub mod records;
#[cfg(feature = "serve")]
pub mod serve;
pub mod sink;

/// A clap binary's `--help` output (the run must succeed): the text, and the command names
/// it lists under `Commands:`.
pub fn help_commands(out: &std::process::Output) -> (String, Vec<String>) {
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let commands = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    (help, commands)
}

/// What a binary refusing its arguments said: it must exit with status 2 (clap's usage
/// error); its stderr.
pub fn usage_error(out: &std::process::Output) -> String {
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A child process killed and reaped when dropped, so that a failing test leaves none
/// running.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The admin bearer token of every test `serve` and in-process app.
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// The repository's `events/` directory (provider fixtures, Lambda events).
pub const EVENTS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events");

/// The Hipcall call-end fixture, as the provider sends it.
pub const HIPCALL_CALL_HANGUP: &str =
    include_str!("../../../events/providers/hipcall/call_hangup.json");

/// The call id in [`HIPCALL_CALL_HANGUP`].
pub const HIPCALL_CALL_ID: &str = "2483a75a-56a2-41f1-991b-92b1667e324a";

/// [`HIPCALL_CALL_HANGUP`] for another call: the same webhook with `call_id` instead of
/// the fixture's (a distinct event to the provider dedup, not a retry).
pub fn hipcall_call_hangup(call_id: &str) -> String {
    HIPCALL_CALL_HANGUP.replace(HIPCALL_CALL_ID, call_id)
}

/// A provider fixture, `path` under `events/providers/` (e.g. `hipcall/call_hangup.json`).
pub fn fixture(path: &str) -> bytes::Bytes {
    let full = format!("{EVENTS_DIR}/providers/{path}");
    bytes::Bytes::from(std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}")))
}

/// Polls `check` every 20 ms until it returns true or `secs` pass.
pub async fn eventually<F, Fut>(secs: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    false
}
