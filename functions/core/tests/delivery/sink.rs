//! A small HTTP/1.1 sink on 127.0.0.1:0 that captures requests and answers as a test says:
//! any status (with headers and body), hang past the client's timeout, reset the connection,
//! or answer slowly. Keep-alive is supported so the client's pool is exercised.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone)]
pub struct Captured {
    pub method: String,
    /// Path and query as sent.
    pub target: String,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub peer: SocketAddr,
}

impl Captured {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Say nothing for this long, then close.
    Hang(Duration),
    /// Close with a TCP reset, without answering.
    Reset,
    /// Wait, then answer with the status.
    Slow(Duration, u16),
}

type Behaviour = dyn Fn(&Captured, usize) -> Reply + Send + Sync;

pub struct Sink {
    pub addr: SocketAddr,
    captured: Arc<Mutex<Vec<Captured>>>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Sink {
    /// Answers 200 to everything.
    pub async fn ok() -> Self {
        Self::start(|_, _| Reply::Status(200)).await
    }

    /// `behaviour(request, n)` decides the reply; `n` counts requests to the same path
    /// (0 for the first).
    pub async fn start(
        behaviour: impl Fn(&Captured, usize) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let captured: Arc<Mutex<Vec<Captured>>> = Arc::default();
        let in_flight: Arc<AtomicUsize> = Arc::default();
        let max_in_flight: Arc<AtomicUsize> = Arc::default();
        let behaviour: Arc<Behaviour> = Arc::new(behaviour);
        let task = {
            let captured = captured.clone();
            let in_flight = in_flight.clone();
            let max_in_flight = max_in_flight.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((stream, peer)) = listener.accept().await else {
                        return;
                    };
                    let captured = captured.clone();
                    let behaviour = behaviour.clone();
                    let in_flight = in_flight.clone();
                    let max_in_flight = max_in_flight.clone();
                    tokio::spawn(async move {
                        let _ = serve(stream, peer, captured, behaviour, in_flight, max_in_flight)
                            .await;
                    });
                }
            })
        };
        Self {
            addr,
            captured,
            in_flight,
            max_in_flight,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn requests(&self) -> Vec<Captured> {
        self.captured.lock().unwrap().clone()
    }

    pub fn count(&self, path: &str) -> usize {
        self.requests().iter().filter(|r| r.path() == path).count()
    }

    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    #[allow(dead_code)]
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
}

async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    captured: Arc<Mutex<Vec<Captured>>>,
    behaviour: Arc<Behaviour>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
) -> std::io::Result<()> {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        // Read a request head.
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i;
            }
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default();
        let mut parts = request_line.split(' ');
        let method = parts.next().unwrap_or_default().to_owned();
        let target = parts.next().unwrap_or_default().to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let body_start = head_end + 4;
        while buf.len() < body_start + len {
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = buf[body_start..body_start + len].to_vec();
        buf.drain(..body_start + len);
        let request = Captured {
            method,
            target,
            headers,
            body,
            peer,
        };
        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        max_in_flight.fetch_max(now, Ordering::SeqCst);
        let nth = {
            let mut all = captured.lock().unwrap();
            let n = all.iter().filter(|r| r.path() == request.path()).count();
            all.push(request.clone());
            n
        };
        let reply = behaviour(&request, nth);
        let result = respond(&mut stream, reply).await;
        in_flight.fetch_sub(1, Ordering::SeqCst);
        if !result? {
            return Ok(());
        }
    }
}

/// Writes the reply; returns whether the connection stays open.
async fn respond(stream: &mut TcpStream, reply: Reply) -> std::io::Result<bool> {
    let (status, headers, body) = match reply {
        Reply::Status(s) => (s, vec![], String::new()),
        Reply::Full {
            status,
            headers,
            body,
        } => (status, headers, body),
        Reply::Hang(d) => {
            tokio::time::sleep(d).await;
            return Ok(false);
        }
        Reply::Reset => {
            stream.set_zero_linger()?;
            return Ok(false);
        }
        Reply::Slow(d, s) => {
            tokio::time::sleep(d).await;
            (s, vec![], String::new())
        }
    };
    let mut out = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&body);
    stream.write_all(out.as_bytes()).await?;
    Ok(true)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
