//! The binary's own argument checks (the copy itself runs on the emulator in
//! tests/it/history_upgrade.rs).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::process::Command;

#[test]
fn refuses_a_rate_that_is_not_positive() {
    for rate in ["0", "inf", "fast"] {
        let out = Command::new(env!("CARGO_BIN_EXE_switchboard-upgrade-history"))
            .args(["--stack-name", "s", "--max-writes-per-second", rate])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{rate}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("not a positive number"),
            "{rate}"
        );
    }
}
