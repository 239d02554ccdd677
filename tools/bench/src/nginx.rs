//! nginx as the sink (when installed): a conventional, fast HTTP server answering 204 on
//! 127.0.0.1, the same one `wrk` and the bare client are pointed at. Deliveries are counted
//! from its access log, one line per request: `<msec> <webhook-id>`.

use crate::sink::Arrival;
use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub struct Nginx {
    pub addr: SocketAddr,
    dir: PathBuf,
    child: Mutex<Option<Child>>,
    /// Where the current round's lines start in the access log.
    offset: Mutex<u64>,
    /// One instant and the wall-clock time it was, to place the log's times on `Instant`.
    anchor: (Instant, SystemTime),
    /// How far into the current round's lines [`Nginx::requests`] has counted.
    counted: Mutex<Counted>,
}

/// Log bytes read (whole lines) and deliveries among them.
#[derive(Default)]
struct Counted {
    bytes: u64,
    deliveries: usize,
}

/// A delivery's log line (`<msec> <webhook-id>`) as its time and webhook id; `None` for
/// a request without the header (nginx logs `-`) or a line that is not one.
fn delivery(line: &str) -> Option<(&str, &str)> {
    line.split_once(' ').filter(|(_, id)| *id != "-")
}

/// How often nginx writes its log buffer out (and how stale a count can be).
const FLUSH: &str = "50ms";

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Nginx {
    /// Starts `nginx` with a configuration of its own in a temporary directory; `None` when
    /// nginx is not installed (the caller falls back to the built-in sink).
    pub fn start() -> Result<Option<Self>, String> {
        let binary = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let Some(binary) = binary else {
            return Ok(None);
        };
        let port = free_port().map_err(|e| format!("no free port for nginx: {e}"))?;
        let dir = std::env::temp_dir().join(format!(
            "switchboard-bench-nginx-{}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {dir:?}: {e}"))?;
        let d = dir.display();
        // One process (no master: killing it stops it all), like wrk's one thread: the machine
        // has two cores for everything.
        let conf = format!(
            "master_process off;\ndaemon off;\nerror_log {d}/error.log warn;\npid {d}/nginx.pid;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  log_format sink '$msec $http_webhook_id';\n  access_log off;\n\
             client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fcgi;\n\
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
             keepalive_requests 1000000;\n  keepalive_timeout 120s;\n  client_body_buffer_size 64k;\n\
             server {{\n    listen 127.0.0.1:{port} reuseport backlog=4096;\n\
             location / {{\n      access_log {d}/access.log sink buffer=256k flush={FLUSH};\n      return 204;\n    }}\n  }}\n}}\n"
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).map_err(|e| format!("cannot write nginx.conf: {e}"))?;
        std::fs::write(dir.join("access.log"), b"").map_err(|e| format!("{e}"))?;
        let child = Command::new(binary)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start nginx: {e}"))?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(addr).is_err() {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
                return Err(format!("nginx did not start listening on {addr}: {log}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Some(Self {
            addr,
            dir,
            child: Mutex::new(Some(child)),
            offset: Mutex::new(0),
            anchor: (Instant::now(), SystemTime::now()),
            counted: Mutex::new(Counted::default()),
        }))
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("access.log")
    }

    /// The log's text from byte `at` on, up to its last whole line: nginx may be part-way
    /// through writing the one after.
    fn lines_from(&self, at: u64) -> String {
        let mut bytes = Vec::new();
        if let Ok(mut f) = std::fs::File::open(self.log_path()) {
            if f.seek(SeekFrom::Start(at)).is_ok() {
                let _ = f.read_to_end(&mut bytes);
            }
        }
        bytes.truncate(bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1));
        String::from_utf8(bytes).unwrap_or_default()
    }

    /// Deliveries (requests with a `webhook-id`) logged this round. Reads only the lines
    /// written since the last call: reading the round's whole log again every 50 ms took
    /// a third of the bench's CPU in a profile of a run, on the two cores serve runs on.
    pub fn requests(&self) -> usize {
        let offset = *crate::sink::lock(&self.offset);
        let mut counted = crate::sink::lock(&self.counted);
        let fresh = self.lines_from(offset + counted.bytes);
        counted.deliveries += fresh.lines().filter_map(delivery).count();
        counted.bytes += fresh.len() as u64;
        counted.deliveries
    }

    /// Starts a new round once nginx has written out what it buffered.
    pub fn reset(&self) {
        std::thread::sleep(Duration::from_millis(120));
        let len = std::fs::metadata(self.log_path()).map_or(0, |m| m.len());
        *crate::sink::lock(&self.offset) = len;
        *crate::sink::lock(&self.counted) = Counted::default();
    }

    /// The round's deliveries, their times placed on this process's clock.
    pub fn arrivals(&self) -> Vec<Arrival> {
        let (at0, wall0) = self.anchor;
        let wall0 = wall0
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let offset = *crate::sink::lock(&self.offset);
        self.lines_from(offset)
            .lines()
            .filter_map(|l| {
                let (msec, id) = delivery(l)?;
                let secs: f64 = msec.parse().ok()?;
                let delta = secs - wall0;
                let at = if delta >= 0.0 {
                    at0 + Duration::from_secs_f64(delta)
                } else {
                    at0.checked_sub(Duration::from_secs_f64(-delta))?
                };
                Some(Arrival {
                    webhook_id: id.to_owned(),
                    at,
                })
            })
            .collect()
    }

    /// Waits until at least `n` deliveries are logged, or `deadline` passes.
    pub async fn wait_for(&self, n: usize, deadline: tokio::time::Instant) -> usize {
        loop {
            let now = self.requests();
            if now >= n || tokio::time::Instant::now() >= deadline {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn stop(&self) {
        if let Some(mut child) = crate::sink::lock(&self.child).take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lines_with_a_webhook_id_are_deliveries() {
        assert!(delivery("1764500000.123 evt_01_sub_1").is_some());
        assert!(delivery("1764500000.123 -").is_none());
        assert!(delivery("1764500000.123").is_none());
        assert!(delivery("").is_none());
    }
}
