//! How the CLI finds a running `serve` with no setup: `serve` writes its URL and admin token
//! to `serve.json` (owner-only) in its data directory, or for `--memory` in a runtime
//! directory of the user's; it rewrites the file on every start and removes it on a clean
//! stop. The CLI reads the same places when it is given no endpoint.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use switchboard_core::redact::Secret;

/// The file's name, in the data or runtime directory.
pub const FILE: &str = "serve.json";

/// The endpoint `serve` listens on by default, and so the CLI's default.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:8080";

/// What `serve` tells the CLI. No `Debug`: it holds the token.
#[derive(Clone, Serialize, Deserialize)]
pub struct Found {
    pub url: String,
    pub token: String,
    pub pid: u32,
}

impl Found {
    pub fn token(&self) -> Secret {
        Secret::new(self.token.clone())
    }
}

/// Where a `--memory` serve writes its file: `$XDG_RUNTIME_DIR/switchboard` when set (a
/// per-user directory the system keeps private), else `switchboard-<uid>` in the temporary
/// directory.
pub fn runtime_dir_from(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> PathBuf {
    match env("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
    {
        Some(dir) => dir.join("switchboard"),
        None => std::env::temp_dir().join(format!("switchboard-{}", user_key())),
    }
}

pub fn runtime_dir() -> PathBuf {
    runtime_dir_from(|k| std::env::var_os(k))
}

#[cfg(unix)]
fn user_key() -> String {
    current_uid().map_or_else(|_| "user".into(), |u| u.to_string())
}

/// This process's user id, without `unsafe`: the owner of `/proc/self` on Linux, else of a
/// file the process creates.
#[cfg(unix)]
fn current_uid() -> std::io::Result<u32> {
    use std::os::unix::fs::MetadataExt;
    if let Ok(meta) = std::fs::metadata("/proc/self") {
        return Ok(meta.uid());
    }
    let probe = std::env::temp_dir().join(format!(".switchboard-uid-{}", std::process::id()));
    let meta = std::fs::File::create(&probe).and_then(|f| f.metadata());
    let _ = std::fs::remove_file(&probe);
    Ok(meta?.uid())
}

#[cfg(not(unix))]
fn user_key() -> String {
    std::env::var("USERNAME").unwrap_or_else(|_| "user".into())
}

/// The places the CLI looks: the durable data directory and the runtime one.
pub fn candidates(data_dir: Option<PathBuf>, runtime: PathBuf) -> Vec<PathBuf> {
    data_dir
        .into_iter()
        .chain(std::iter::once(runtime))
        .map(|d| d.join(FILE))
        .collect()
}

/// The most recently written readable discovery file among `paths` (a `serve` killed with
/// `kill -9` leaves its file behind; the newest is the one most likely running).
pub fn read_newest(paths: &[PathBuf]) -> Option<(PathBuf, Found)> {
    paths
        .iter()
        .filter_map(|p| {
            let modified = std::fs::metadata(p).and_then(|m| m.modified()).ok()?;
            let text = std::fs::read_to_string(p).ok()?;
            let found: Found = serde_json::from_str(&text).ok()?;
            Some((modified, p.clone(), found))
        })
        .max_by_key(|(modified, _, _)| *modified)
        .map(|(_, p, f)| (p, f))
}

/// The URL a client on this machine uses for a listener on `addr` (a wildcard address is
/// reached over loopback).
pub fn url_of(addr: std::net::SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!("http://{}", std::net::SocketAddr::new(ip, addr.port()))
}

/// Writes the file for a `serve` listening on `addr`; a failure is reported, not fatal
/// (the banner still shows the URL and token).
pub fn announce(dir: &Path, addr: std::net::SocketAddr, token: &str) -> Option<PathBuf> {
    let found = Found {
        url: url_of(addr),
        token: token.to_owned(),
        pid: std::process::id(),
    };
    match write(dir, &found) {
        Ok(path) => Some(path),
        Err(e) => {
            eprintln!(
                "note: cannot write {} for the CLI to find this serve: {e}",
                dir.join(FILE).display()
            );
            None
        }
    }
}

/// Writes the file in `dir` (created owner-only when missing), replacing an old one
/// atomically. Refuses a directory that another user owns or that others may write to:
/// the token must not be readable, nor the file swappable, by anyone else.
pub fn write(dir: &Path, found: &Found) -> std::io::Result<PathBuf> {
    create_private_dir(dir)?;
    check_private(dir)?;
    let path = dir.join(FILE);
    let tmp = dir.join(format!(".{FILE}.{}", std::process::id()));
    let body = serde_json::to_vec_pretty(found).map_err(std::io::Error::other)?;
    {
        let mut f = open_private(&tmp)?;
        f.write_all(&body)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// Removes the file if it is still ours (a later serve on the same directory may have
/// replaced it).
pub fn remove(path: &Path) {
    let ours = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<Found>(&t).ok())
        .is_some_and(|f| f.pid == std::process::id());
    if ours {
        if let Err(e) = std::fs::remove_file(path) {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove the discovery file");
        }
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn check_private(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(dir)?;
    let uid = current_uid()?;
    if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o022 != 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "{} is not a directory of this user that only this user may write to",
                dir.display()
            ),
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sb-disc-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_owner_only_rewritten_and_removed_only_by_its_writer() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp("write");
        let found = Found {
            url: "http://127.0.0.1:9".into(),
            token: "t1".into(),
            pid: std::process::id(),
        };
        let path = write(&dir, &found).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = Found {
            token: "t2".into(),
            ..found.clone()
        };
        write(&dir, &again).unwrap();
        let (_, read) = read_newest(&candidates(Some(dir.clone()), temp("none"))).unwrap();
        assert_eq!(read.token, "t2");
        // Another process's file stays
        let other = Found { pid: 1, ..found };
        write(&dir, &other).unwrap();
        remove(&path);
        assert!(path.exists());
        write(&dir, &again).unwrap();
        remove(&path);
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_others_may_write_to_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp("open");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let found = Found {
            url: "u".into(),
            token: "t".into(),
            pid: 0,
        };
        assert!(write(&dir, &found).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_runtime_directory_is_xdg_runtime_dir_or_a_per_user_temp_dir() {
        let xdg = runtime_dir_from(|k| (k == "XDG_RUNTIME_DIR").then(|| "/run/user/7".into()));
        assert_eq!(xdg, PathBuf::from("/run/user/7/switchboard"));
        let tmp = runtime_dir_from(|_| None);
        assert!(tmp.starts_with(std::env::temp_dir()));
        assert!(tmp
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("switchboard-")));
    }
}
