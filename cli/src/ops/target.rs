//! Which admin API a command talks to, and with what credentials: `--endpoint`/`--token`
//! (or their environment variables) when given; else the `serve` that announced itself in
//! its discovery file (`crate::discovery`); else `http://127.0.0.1:8080`.

use super::client::{CliError, CliResult};
use super::Global;
use crate::discovery;
use std::path::PathBuf;

/// Where to send admin requests. No `Debug`: it holds the token.
pub struct Target {
    pub endpoint: String,
    /// `None`: sign with SigV4.
    pub token: Option<String>,
    /// The discovery file the endpoint came from, if it did.
    pub announced_in: Option<PathBuf>,
}

/// The target of a command with these options.
pub async fn resolve(g: &Global) -> CliResult<Target> {
    if let Some(stack) = g.stack.as_deref().filter(|s| !s.trim().is_empty()) {
        if g.endpoint.is_some() {
            return Err(CliError::Usage(
                "give --stack or --endpoint, not both (SWITCHBOARD_STACK / SWITCHBOARD_ENDPOINT)"
                    .into(),
            ));
        }
        let endpoint = super::stack::api_endpoint(stack.trim()).await?;
        return Ok(Target {
            endpoint,
            token: g.token.clone(),
            announced_in: None,
        });
    }
    Ok(resolve_local(g, &discovery_paths()))
}

/// The discovery files a CLI on this machine reads: `SWITCHBOARD_DATA_DIR` (or the default
/// data directory) and the runtime directory of a `--memory` serve.
pub fn discovery_paths() -> Vec<PathBuf> {
    let data_dir = std::env::var_os("SWITCHBOARD_DATA_DIR")
        .map(PathBuf::from)
        .filter(|p| !p.as_os_str().is_empty())
        .or_else(crate::serve::default_data_dir);
    discovery::candidates(data_dir, discovery::runtime_dir())
}

/// Without `--stack`: flags and environment first, then the discovery file.
pub fn resolve_local(g: &Global, paths: &[PathBuf]) -> Target {
    let (path, found) = discovery::read_newest(paths).unzip();
    let given = g.endpoint.clone().filter(|e| !e.trim().is_empty());
    let announced_in = path.filter(|_| given.is_none());
    let endpoint = given
        .or_else(|| found.as_ref().map(|f| f.url.clone()))
        .unwrap_or_else(|| discovery::DEFAULT_ENDPOINT.to_owned());
    let token = g
        .token
        .clone()
        .filter(|t| !t.trim().is_empty())
        .or_else(|| {
            // The announced token goes only to the serve that announced it.
            found
                .filter(|f| same_endpoint(&f.url, &endpoint))
                .map(|f| f.token)
        });
    Target {
        endpoint,
        token,
        announced_in,
    }
}

fn same_endpoint(a: &str, b: &str) -> bool {
    a.trim().trim_end_matches('/') == b.trim().trim_end_matches('/')
}

/// Whether `endpoint` is plain HTTP on this machine: a `serve`, which wants a token, never
/// SigV4.
pub fn is_local(endpoint: &str) -> bool {
    reqwest::Url::parse(endpoint.trim()).is_ok_and(|u| {
        u.scheme() == "http"
            && u.host_str().is_some_and(|h| {
                h == "localhost"
                    || h.trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::{write, Found};

    fn global(endpoint: Option<&str>, token: Option<&str>) -> Global {
        Global {
            endpoint: endpoint.map(Into::into),
            token: token.map(Into::into),
            stack: None,
            json: false,
        }
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_the_default() {
        let dir = std::env::temp_dir().join(format!("sb-target-{}", std::process::id()));
        let paths = discovery::candidates(Some(dir.clone()), dir.join("nothing-here"));
        let none = resolve_local(&global(None, None), &paths);
        assert_eq!(none.endpoint, "http://127.0.0.1:8080");
        assert!(none.token.is_none());

        let found = Found {
            url: "http://127.0.0.1:9999".into(),
            token: "from-file".into(),
            pid: 1,
        };
        write(&dir, &found).unwrap();
        let t = resolve_local(&global(None, None), &paths);
        assert_eq!(
            (t.endpoint.as_str(), t.token.as_deref()),
            ("http://127.0.0.1:9999", Some("from-file"))
        );
        let t = resolve_local(&global(Some("http://127.0.0.1:9999/"), None), &paths);
        assert_eq!(t.token.as_deref(), Some("from-file"));
        let t = resolve_local(&global(None, Some("flag")), &paths);
        assert_eq!(t.token.as_deref(), Some("flag"));
        // Never the file's token to another endpoint
        let t = resolve_local(&global(Some("https://api.example"), None), &paths);
        assert_eq!(
            (t.endpoint.as_str(), t.token.as_deref()),
            ("https://api.example", None)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn local_endpoints_are_plain_http_on_loopback() {
        assert!(is_local("http://127.0.0.1:8080"));
        assert!(is_local("http://localhost:1"));
        assert!(is_local("http://[::1]:1"));
        assert!(!is_local("https://127.0.0.1:8080"));
        assert!(!is_local("http://10.0.0.1"));
        assert!(!is_local("https://x.execute-api.us-east-1.amazonaws.com"));
    }
}
