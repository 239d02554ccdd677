//! The serve a `bench local` run measures: embedded in this process, or (the default) in a
//! process of its own, so that its peak RSS is serve's alone and not serve's plus the load
//! generator's. The child is this binary again (`switchboard-bench serve-child`), so both
//! run the same build of serve; it talks to the parent in JSON lines over stdin/stdout.

use crate::load;
use crate::local::{configure, rebuilt_sample, recorded, SOURCE_ID};
use crate::sink::Sample;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use switchboard_cli::serve::{self, ServeConfig, Store};
use switchboard_core::redact::Secret;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// How serve runs for one measured run.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeOpts {
    /// `durable` (SQLite in a fresh temporary directory, removed afterwards) or `memory`.
    #[arg(long)]
    pub store: String,
    /// Subscriptions to the sink, each wanting every call event.
    #[arg(long)]
    pub subscriptions: usize,
    /// The sink's address.
    #[arg(long)]
    pub sink: SocketAddr,
    /// serve's queue pollers.
    #[arg(long)]
    pub workers: usize,
    /// serve's concurrent deliveries per batch.
    #[arg(long)]
    pub delivery_concurrency: usize,
}

/// What serve tells about a run once the load is over.
pub struct ServeReport {
    /// Succeeded attempts on record for the run's events.
    pub recorded: usize,
    /// A delivery as serve sends it, rebuilt from a stored event (for the baselines).
    pub sample: Option<Sample>,
    /// serve's own peak RSS in KiB; `None` when it shares this process.
    pub peak_rss_kib: Option<u64>,
    /// Messages still queued when serve stopped.
    pub left: usize,
    /// The durable store's size on disk after the run.
    pub data_bytes: Option<u64>,
}

/// serve running for one measured run.
pub enum ServeSide {
    Embedded(Embedded),
    Child(ChildServe),
}

impl ServeSide {
    pub async fn start(opts: &ServeOpts, separate: bool) -> Result<Self, String> {
        if separate {
            ChildServe::start(opts).await.map(Self::Child)
        } else {
            Embedded::start(opts).await.map(Self::Embedded)
        }
    }

    /// The URL the load posts to.
    pub fn url(&self) -> &str {
        match self {
            Self::Embedded(e) => &e.url,
            Self::Child(c) => &c.url,
        }
    }

    /// CPU time serve's process has used so far (user + system, its threads that ended
    /// included); `None` when serve shares this process or /proc cannot tell.
    pub fn cpu_time(&self) -> Option<Duration> {
        match self {
            Self::Embedded(_) => None,
            Self::Child(c) => process_cpu_time(c.child.id()?),
        }
    }

    /// A delivery as serve sends it for one of its accepted events (the wrk baseline's body
    /// and headers, before the measured load).
    pub async fn sample(&mut self, event_id: &str) -> Result<Option<Sample>, String> {
        match self {
            Self::Embedded(e) => Ok(rebuilt_sample(&e.running.ports, event_id).await),
            Self::Child(c) => c.sample(event_id).await,
        }
    }

    /// Waits for the attempts on record, then stops serve.
    pub async fn finish(
        self,
        event_ids: &[String],
        expected: usize,
    ) -> Result<ServeReport, String> {
        match self {
            Self::Embedded(e) => Ok(e.finish(event_ids, expected, false).await),
            Self::Child(c) => c.finish(event_ids, expected).await,
        }
    }
}

/// serve in this process.
pub struct Embedded {
    running: serve::Running,
    data_dir: Option<PathBuf>,
    url: String,
}

impl Embedded {
    pub async fn start(opts: &ServeOpts) -> Result<Self, String> {
        let (config, data_dir) = serve_config(opts, &load::run_id())?;
        let running = serve::start(config)
            .await
            .map_err(|e| format!("cannot start serve: {e}"))?;
        let path = configure(&running.ports, SOURCE_ID, opts.sink, opts.subscriptions).await?;
        let url = format!("http://{}{path}", running.addr);
        Ok(Self {
            running,
            data_dir,
            url,
        })
    }

    /// `own_process`: serve is alone in this process, so its peak RSS is serve's.
    async fn finish(self, event_ids: &[String], expected: usize, own_process: bool) -> ServeReport {
        let ports = &self.running.ports;
        let recorded = recorded(ports, event_ids, expected, Duration::from_secs(30)).await;
        // Any accepted event still held (the memory store keeps the newest few thousand).
        let mut sample = None;
        for id in event_ids.iter().take(256) {
            sample = rebuilt_sample(ports, id).await;
            if sample.is_some() {
                break;
            }
        }
        let peak_rss_kib = own_process
            .then(load::memory_kib)
            .flatten()
            .map(|(hwm, _)| hwm);
        let left = self.running.stop().await;
        let data_bytes = self.data_dir.as_ref().map(|dir| {
            let size = std::fs::read_dir(dir)
                .map(|d| {
                    d.flatten()
                        .filter_map(|e| e.metadata().ok())
                        .map(|m| m.len())
                        .sum()
                })
                .unwrap_or_default();
            if let Err(e) = std::fs::remove_dir_all(dir) {
                eprintln!("warning: cannot remove {}: {e}", dir.display());
            }
            size
        });
        ServeReport {
            recorded,
            sample,
            peak_rss_kib,
            left,
            data_bytes,
        }
    }
}

/// serve's configuration; for the durable store, also the fresh data directory.
pub fn serve_config(opts: &ServeOpts, run: &str) -> Result<(ServeConfig, Option<PathBuf>), String> {
    let addr: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut config = ServeConfig::new(addr, Secret::new(load::run_id()));
    config.workers = opts.workers.max(1);
    config.settings.delivery_concurrency = opts.delivery_concurrency.clamp(1, 1024);
    match opts.store.as_str() {
        "memory" => {
            config.store = Store::Memory;
            Ok((config, None))
        }
        "durable" => {
            let dir = std::env::temp_dir().join(format!("switchboard-bench-{run}"));
            config.store = Store::durable(&dir);
            Ok((config, Some(dir)))
        }
        other => Err(format!("--store takes memory and durable, not {other:?}")),
    }
}

/// `utime + stime` of process `pid` (Linux's /proc, in clock ticks of 1/100 s: USER_HZ is
/// 100 on every architecture Linux exposes it on).
fn process_cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: the fields after it follow its ')'.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// serve in a child process (`switchboard-bench serve-child`).
pub struct ChildServe {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    url: String,
}

impl ChildServe {
    async fn start(opts: &ServeOpts) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
        let mut child = tokio::process::Command::new(exe)
            .arg("serve-child")
            .args(["--store", &opts.store])
            .args(["--subscriptions", &opts.subscriptions.to_string()])
            .args(["--sink", &opts.sink.to_string()])
            .args(["--workers", &opts.workers.to_string()])
            .args([
                "--delivery-concurrency",
                &opts.delivery_concurrency.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start serve's process: {e}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("serve's process has no pipes".into());
        };
        let mut stdout = BufReader::new(stdout).lines();
        let ready = next_json(&mut stdout).await?;
        let url = ready["url"]
            .as_str()
            .ok_or("serve's process did not say its URL")?
            .to_owned();
        Ok(Self {
            child,
            stdin,
            stdout,
            url,
        })
    }

    /// Sends one request line to serve's process and reads its answer.
    async fn ask(&mut self, ask: serde_json::Value) -> Result<serde_json::Value, String> {
        let line = format!("{ask}\n");
        self.stdin
            .write_all(line.as_bytes())
            .await
            .map_err(|e| format!("cannot write to serve's process: {e}"))?;
        next_json(&mut self.stdout).await
    }

    async fn sample(&mut self, event_id: &str) -> Result<Option<Sample>, String> {
        let r = self.ask(serde_json::json!({"sample_of": event_id})).await?;
        Ok(sample_from_json(&r["sample"]))
    }

    async fn finish(
        mut self,
        event_ids: &[String],
        expected: usize,
    ) -> Result<ServeReport, String> {
        let r = self
            .ask(serde_json::json!({"expected": expected, "event_ids": event_ids}))
            .await?;
        let status = self
            .child
            .wait()
            .await
            .map_err(|e| format!("serve's process: {e}"))?;
        if !status.success() {
            return Err(format!("serve's process ended with {status}"));
        }
        let count = |k: &str| r[k].as_u64();
        Ok(ServeReport {
            recorded: count("recorded").unwrap_or_default() as usize,
            sample: sample_from_json(&r["sample"]),
            peak_rss_kib: count("peak_rss_kib"),
            left: count("left").unwrap_or_default() as usize,
            data_bytes: count("data_bytes"),
        })
    }
}

async fn next_json(lines: &mut Lines<BufReader<ChildStdout>>) -> Result<serde_json::Value, String> {
    let line = lines
        .next_line()
        .await
        .map_err(|e| format!("cannot read serve's process: {e}"))?
        .ok_or("serve's process ended early (its errors are above)")?;
    serde_json::from_str(&line).map_err(|e| format!("serve's process said {line:?}: {e}"))
}

fn sample_to_json(s: &Sample) -> serde_json::Value {
    serde_json::json!({
        "path": s.path,
        "headers": s.headers,
        "body": String::from_utf8_lossy(&s.body),
    })
}

fn sample_from_json(v: &serde_json::Value) -> Option<Sample> {
    let headers = v["headers"]
        .as_array()?
        .iter()
        .filter_map(|h| Some((h[0].as_str()?.to_owned(), h[1].as_str()?.to_owned())))
        .collect();
    Some(Sample {
        path: v["path"].as_str()?.to_owned(),
        headers,
        body: bytes::Bytes::from(v["body"].as_str()?.to_owned()),
    })
}

/// `switchboard-bench serve-child`: serve for a parent `bench local`, then its report.
pub async fn run_child(opts: ServeOpts) -> Result<(), String> {
    let serve = Embedded::start(&opts).await?;
    println!("{}", serde_json::json!({"url": serve.url}));
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    // Samples asked for, then the finish (the request without `sample_of`).
    let ask = loop {
        let line = stdin
            .next_line()
            .await
            .map_err(|e| format!("cannot read the parent: {e}"))?
            .ok_or("the parent went away")?;
        let ask: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| format!("the parent said {line:?}: {e}"))?;
        let Some(id) = ask["sample_of"].as_str() else {
            break ask;
        };
        let sample = rebuilt_sample(&serve.running.ports, id).await;
        let answer = serde_json::json!({"sample": sample.as_ref().map(sample_to_json)});
        println!("{answer}");
    };
    let ids: Vec<String> = ask["event_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let expected = ask["expected"].as_u64().unwrap_or_default() as usize;
    let r = serve.finish(&ids, expected, true).await;
    let report = serde_json::json!({
        "recorded": r.recorded,
        "sample": r.sample.as_ref().map(sample_to_json),
        "peak_rss_kib": r.peak_rss_kib,
        "left": r.left,
        "data_bytes": r.data_bytes,
    });
    println!("{report}");
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_process_cpu_time_is_read_and_grows_with_work() {
        let pid = std::process::id();
        let before = process_cpu_time(pid).unwrap();
        // Busy until the next clock tick is counted (bounded, however loaded the machine)
        let started = std::time::Instant::now();
        let mut x = 0u64;
        let mut after = before;
        while after == before && started.elapsed() < Duration::from_secs(30) {
            for _ in 0..1_000_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
            after = process_cpu_time(pid).unwrap();
        }
        assert!(after > before, "{before:?} → {after:?}");
    }
}
