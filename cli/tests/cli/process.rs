//! The `switchboard` binary as a child process: an environment of its own, and the first
//! banner line a long-running command (`serve`, `console`) prints.

use std::io::{BufRead, BufReader, Lines, Read, Write};
use std::net::TcpListener;
use std::process::{Child, ChildStdout, Command, Stdio};

/// The binary with nothing of the caller's `SWITCHBOARD_*`, `AWS_*` or `XDG_*` variables
/// and no AWS configuration to find.
pub fn isolated() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    for (k, _) in std::env::vars() {
        if k.starts_with("SWITCHBOARD_") || k.starts_with("AWS_") || k.starts_with("XDG_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

/// What a finished command printed, and its exit code (-1 when a signal ended it).
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

/// Runs `cmd` to its end.
pub fn output(cmd: &mut Command) -> Out {
    let out = cmd.output().unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A started command: the process, the rest of its stdout, and the URL its first line
/// names.
pub struct Started {
    pub child: Child,
    pub lines: Lines<BufReader<ChildStdout>>,
    pub url: String,
}

/// Spawns `cmd` with stdout piped (stderr as the caller set it) and reads its first line,
/// which must be `banner` followed by the URL it listens on.
pub fn start(cmd: &mut Command, banner: &str) -> Started {
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .strip_prefix(banner)
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    Started { child, lines, url }
}

/// The first line of `switchboard serve`.
pub const SERVE_BANNER: &str = "Switchboard listening on ";

/// Plays the upstream of one request: accepts it, reads its head (the request line, then the
/// header lines) and its body, answers `status` (`200 OK`) with the JSON `answer`, and
/// hands back the head and the body.
pub fn serve_one(listener: &TcpListener, status: &str, answer: &str) -> (Vec<String>, Vec<u8>) {
    let (mut stream, _) = listener.accept().unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        head.push(line.trim_end().to_owned());
    }
    let len: usize = head
        .iter()
        .find_map(|h| {
            h.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
        answer.len()
    )
    .unwrap();
    (head, body)
}
